//! The installer ISO's `install/` directory: the node image compressed with
//! zstd and what it must decompress to. Read straight out of the ISO (a
//! CD drive, a USB stick or a file) with mk-bundle's reader: no mount.
//!
//! ```text
//! install/disk.raw.zst   the whole raw disk image from `mk-compose image`
//! install/image.json     {"format":1,"file":"disk.raw.zst","compression":"zstd","size":N,"sha256":"..."}
//! ```

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use mk_bundle::iso::{self, EntryKind, Extent, IsoEntry};
use serde::{Deserialize, Serialize};

use crate::write::ImageSpec;

pub const INSTALL_DIR: &str = "install";
pub const IMAGE_FILE: &str = "disk.raw.zst";
pub const INFO_FILE: &str = "image.json";
/// The ISO volume ID the installer looks for (/dev/disk/by-label/MK-INSTALL).
pub const VOLUME_LABEL: &str = "MK-INSTALL";
const MAX_INFO: u64 = 64 << 10;

/// `install/image.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallInfo {
    pub format: u32,
    pub file: String,
    pub compression: String,
    /// Bytes of the uncompressed raw image.
    pub size: u64,
    /// SHA-256 (hex) of the uncompressed raw image.
    pub sha256: String,
    /// The image version (slot.cfg's mk_version), for messages.
    pub version: String,
}

impl InstallInfo {
    pub fn spec(&self) -> ImageSpec {
        ImageSpec {
            size: self.size,
            sha256: self.sha256.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    Verify(#[from] mk_bundle::VerifyError),
    #[error("{path}: {source}")]
    Iso {
        path: PathBuf,
        #[source]
        source: iso::IsoError,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}: has no {file}: it is not an mk installer ISO (make one with mk-compose installer)"
    )]
    Missing { path: PathBuf, file: String },
    #[error("{path}: {file}: {what}")]
    Info {
        path: PathBuf,
        file: String,
        what: String,
    },
}

/// The decompressed image, streamed out of the ISO's extents.
pub struct Media {
    pub info: InstallInfo,
    pub reader: Box<dyn Read>,
}

/// Raw bytes of a file's extents in the image, in order.
struct ExtentReader {
    file: File,
    extents: Vec<Extent>,
    index: usize,
    offset: u64,
}

impl Read for ExtentReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(e) = self.extents.get(self.index) {
            if self.offset < e.len {
                let n = (e.len - self.offset).min(buf.len() as u64) as usize;
                self.file
                    .read_exact_at(&mut buf[..n], e.offset + self.offset)?;
                self.offset += n as u64;
                return Ok(n);
            }
            self.index += 1;
            self.offset = 0;
        }
        Ok(0)
    }
}

/// Checks `image.json` (pure).
pub fn parse_info(path: &Path, bytes: &[u8]) -> Result<InstallInfo, MediaError> {
    let file = format!("{INSTALL_DIR}/{INFO_FILE}");
    let bad = |what: String| MediaError::Info {
        path: path.to_path_buf(),
        file: file.clone(),
        what,
    };
    let info: InstallInfo = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if info.format != 1 {
        return Err(bad(format!("format {}, this mk-node reads 1", info.format)));
    }
    if info.compression != "zstd" || info.file != IMAGE_FILE {
        return Err(bad(format!(
            "file {:?} compressed with {:?}: expected {IMAGE_FILE:?} and \"zstd\"",
            info.file, info.compression
        )));
    }
    if info.sha256.len() != 64 || !info.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!(
            "sha256 {:?} is not 64 hex digits",
            info.sha256
        )));
    }
    Ok(InstallInfo {
        sha256: info.sha256.to_ascii_lowercase(),
        ..info
    })
}

/// Opens the installer ISO at `path` (device or file). With `trusted`,
/// the whole ISO is checked first exactly as `mk-compose verify` does.
pub fn open(path: &Path, trusted: Option<&mk_bundle::PublicKey>) -> Result<Media, MediaError> {
    if let Some(key) = trusted {
        let report = mk_bundle::verify(path, key)?;
        tracing::info!(
            "{}: signature by key {} and {} files checked ({:.0} MB/s)",
            path.display(),
            report.key_id,
            report.files,
            report.megabytes_per_second()
        );
    }
    let io_err = |source| MediaError::Io {
        path: path.to_path_buf(),
        source,
    };
    let iso_err = |source| MediaError::Iso {
        path: path.to_path_buf(),
        source,
    };
    let image = iso::open_file(File::open(path).map_err(io_err)?).map_err(iso_err)?;
    let entries = image.list().map_err(iso_err)?;
    let find = |name: &str| -> Result<&IsoEntry, MediaError> {
        let full = format!("{INSTALL_DIR}/{name}");
        entries
            .iter()
            .find(|e| e.path == full && e.kind == EntryKind::File)
            .ok_or(MediaError::Missing {
                path: path.to_path_buf(),
                file: full,
            })
    };
    let info_bytes = image
        .read_file(find(INFO_FILE)?, MAX_INFO)
        .map_err(iso_err)?;
    let info = parse_info(path, &info_bytes)?;
    let raw = ExtentReader {
        file: File::open(path).map_err(io_err)?,
        extents: find(IMAGE_FILE)?.extents.clone(),
        index: 0,
        offset: 0,
    };
    let reader = zstd::stream::read::Decoder::new(raw).map_err(io_err)?;
    Ok(Media {
        info,
        reader: Box::new(reader),
    })
}
