//! Reading a config drive, as mk-firstboot does at every boot over every
//! block device: [`probe`] finds a FAT or ISO 9660 filesystem and its
//! label from the device bytes (no mount, no blkid), [`read_files`] reads
//! [`CONFIG_NAME`] and [`SIGNATURE_NAME`] from its root.
//!
//! Devices are untrusted and may be damaged, so all work is bounded by the
//! device and by small limits (see [`fat`] and mk-bundle's ISO reader), and
//! a damaged drive is named as such: a device that carries the label but
//! cannot be read is an error with the cause, never "no config drive".

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::Path;

pub use mk_bundle::iso::ReadAt;
use mk_bundle::iso::{IsoError, IsoImage};
use thiserror::Error;

use crate::{CONFIG_NAME, LABEL, SIGNATURE_NAME};

mod fat;
#[cfg(test)]
mod tests;

/// Configs are small; a larger file on the drive is refused before it is
/// read.
pub const MAX_FILE: u64 = 16 << 20;
/// The start of a device searched for the label when no filesystem is
/// recognised: FAT boot sectors and root directories of small drives, and
/// the ISO 9660 volume descriptors, live there.
pub const LABEL_SEARCH: u64 = 1 << 20;
/// Directory and Rock Ridge bytes read from an ISO 9660 drive's root.
const MAX_ISO_ROOT: u64 = 4 << 20;
const ISO_PVD: u64 = 16 * 2048;

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("reading {what} ({len} bytes at byte {offset})")]
    Io {
        what: String,
        offset: u64,
        len: u64,
        #[source]
        source: io::Error,
    },
    #[error("truncated: the filesystem says {fs_bytes} bytes, the device has {device_bytes}")]
    Truncated { fs_bytes: u64, device_bytes: u64 },
    #[error(
        "truncated: {what} (bytes {offset}..{end}) lies past the end of the device ({device_bytes} bytes)"
    )]
    PastEnd {
        what: String,
        offset: u64,
        end: u64,
        device_bytes: u64,
    },
    #[error("FAT boot sector: {0}")]
    BootSector(String),
    #[error("cluster chain of {what} loops at cluster {cluster}")]
    Loop { what: String, cluster: u32 },
    #[error("cross-linked clusters: cluster {cluster} belongs to both {first} and {second}")]
    CrossLinked {
        cluster: u32,
        first: String,
        second: String,
    },
    #[error("{what}: {problem}")]
    Structure { what: String, problem: String },
    #[error("{name} is {size} bytes, more than the {MAX_FILE} a config drive's file may have")]
    TooLarge { name: String, size: u64 },
    #[error("{name} appears twice in the root directory")]
    Twice { name: String },
    #[error("ISO 9660: {0}")]
    Iso(String),
    #[error(
        "carries the config-drive label at byte {offset} but no readable FAT or ISO 9660 \
         filesystem: damaged or overwritten?"
    )]
    Damaged { offset: u64 },
}

impl ReadError {
    /// The device itself failed (EIO, ...), as opposed to what it holds.
    pub fn is_io(&self) -> bool {
        matches!(self, ReadError::Io { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Fat,
    Iso9660,
}

impl FsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FsKind::Fat => "FAT",
            FsKind::Iso9660 => "ISO 9660",
        }
    }
}

/// What a device holds, as far as config drives go.
#[derive(Debug)]
pub enum Probe {
    /// No FAT or ISO 9660 filesystem, and no config-drive label either (or
    /// a damaged filesystem labelled otherwise: not ours to judge).
    Nothing,
    /// A filesystem and its label, which may be any label.
    Labelled { fs: FsKind, label: String },
    /// The config-drive label, but the drive cannot be read: `fs` when its
    /// filesystem was recognised, `error` the cause.
    Broken {
        fs: Option<FsKind>,
        error: ReadError,
    },
}

/// The two files at a drive's root.
#[derive(Debug, Default)]
pub struct Files {
    pub config: Option<Vec<u8>>,
    pub signature: Option<Vec<u8>>,
}

/// A device file or image; the length comes from seeking to the end
/// because block devices report size 0 in their metadata.
pub struct Device {
    file: File,
    len: u64,
}

impl Device {
    pub fn open(path: &Path) -> io::Result<Device> {
        let mut file = File::open(path)?;
        let len = file.seek(SeekFrom::End(0))?;
        Ok(Device { file, len })
    }
}

impl ReadAt for Device {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// Reads `buf.len()` bytes of `what` at `offset`, after checking they lie
/// within the device (a truncated drive is named, not read as zeros).
pub(crate) fn read_at<R: ReadAt + ?Sized>(
    dev: &R,
    buf: &mut [u8],
    offset: u64,
    what: &str,
) -> Result<(), ReadError> {
    let len = buf.len() as u64;
    match offset.checked_add(len) {
        Some(end) if end <= dev.size() => {}
        end => {
            return Err(ReadError::PastEnd {
                what: what.to_string(),
                offset,
                end: end.unwrap_or(u64::MAX),
                device_bytes: dev.size(),
            })
        }
    }
    dev.read_exact_at(buf, offset)
        .map_err(|source| ReadError::Io {
            what: what.to_string(),
            offset,
            len,
            source,
        })
}

/// Which filesystem `dev` holds and its label. `Err` only when the device
/// cannot be read at all.
pub fn probe<R: ReadAt + ?Sized>(dev: &R) -> Result<Probe, ReadError> {
    if dev.size() >= ISO_PVD + 2048 {
        let mut pvd = [0u8; 2048];
        read_at(dev, &mut pvd, ISO_PVD, "the ISO 9660 volume descriptor")?;
        if pvd[0] == 1 && &pvd[1..6] == b"CD001" {
            let label = String::from_utf8_lossy(&pvd[40..72]).trim_end().to_string();
            return Ok(Probe::Labelled {
                fs: FsKind::Iso9660,
                label,
            });
        }
    }
    if dev.size() >= 512 {
        let mut boot = [0u8; 512];
        read_at(dev, &mut boot, 0, "the boot sector")?;
        if fat::looks_like_fat(&boot) {
            match fat::Fat::open(dev).and_then(|mut f| f.label()) {
                Ok(label) => {
                    return Ok(Probe::Labelled {
                        fs: FsKind::Fat,
                        label,
                    })
                }
                Err(e) if e.is_io() => return Err(e),
                Err(error) => {
                    if label_offset(dev)?.is_some() {
                        return Ok(Probe::Broken {
                            fs: Some(FsKind::Fat),
                            error,
                        });
                    }
                    tracing::debug!(%error, "damaged FAT filesystem without the config-drive label");
                    return Ok(Probe::Nothing);
                }
            }
        }
    }
    Ok(match label_offset(dev)? {
        Some(offset) => Probe::Broken {
            fs: None,
            error: ReadError::Damaged { offset },
        },
        None => Probe::Nothing,
    })
}

/// Where the label appears in the first [`LABEL_SEARCH`] bytes, as a label
/// field holds it: padded with spaces to FAT's 11 bytes (ISO 9660 pads to
/// 32), so the bare word in a program or a text on some other disk is not
/// taken for it. Bytes inside a partition of an MBR at sector 0 belong to
/// that partition, probed as its own device.
fn label_offset<R: ReadAt + ?Sized>(dev: &R) -> Result<Option<u64>, ReadError> {
    let len = dev.size().min(LABEL_SEARCH) as usize;
    let mut head = vec![0u8; len];
    read_at(dev, &mut head, 0, "the first MiB")?;
    let mut pattern = LABEL.as_bytes().to_vec();
    pattern.resize(11, b' ');
    let partitions = mbr_partitions(&head);
    let found = head
        .windows(pattern.len())
        .enumerate()
        .filter(|(_, w)| w.eq_ignore_ascii_case(&pattern))
        .map(|(at, _)| at as u64)
        .find(|&at| !partitions.iter().any(|p| p.contains(&at)));
    Ok(found)
}

/// The byte ranges of the partitions an MBR at sector 0 lists, but for
/// entries starting at sector 0 (mformat's entry covering its own drive).
fn mbr_partitions(head: &[u8]) -> Vec<std::ops::Range<u64>> {
    if head.len() < 512 || head[510] != 0x55 || head[511] != 0xAA {
        return Vec::new();
    }
    head[446..510]
        .chunks_exact(16)
        .filter_map(|e| {
            let start = u64::from(u32::from_le_bytes([e[8], e[9], e[10], e[11]]));
            let sectors = u64::from(u32::from_le_bytes([e[12], e[13], e[14], e[15]]));
            (start > 0 && sectors > 0).then(|| start * 512..(start + sectors) * 512)
        })
        .collect()
}

/// [`CONFIG_NAME`] and [`SIGNATURE_NAME`] from the root of the `fs`
/// filesystem on `dev` (as [`probe`] found it).
pub fn read_files<R: ReadAt + ?Sized>(dev: &R, fs: FsKind) -> Result<Files, ReadError> {
    match fs {
        FsKind::Fat => {
            let mut fat = fat::Fat::open(dev)?;
            let mut files = fat.read_root_files(&[CONFIG_NAME, SIGNATURE_NAME])?;
            let signature = files.pop().flatten();
            let config = files.pop().flatten();
            Ok(Files { config, signature })
        }
        FsKind::Iso9660 => read_iso(dev),
    }
}

fn read_iso<R: ReadAt + ?Sized>(dev: &R) -> Result<Files, ReadError> {
    // The volume space size first: an image cut inside its descriptors is
    // truncated, not "no terminator".
    let mut pvd = [0u8; 2048];
    read_at(dev, &mut pvd, ISO_PVD, "the ISO 9660 volume descriptor")?;
    let blocks = u64::from(u32::from_le_bytes([pvd[80], pvd[81], pvd[82], pvd[83]]));
    let block = u64::from(u16::from_le_bytes([pvd[128], pvd[129]]));
    if blocks * block > dev.size() {
        return Err(ReadError::Truncated {
            fs_bytes: blocks * block,
            device_bytes: dev.size(),
        });
    }
    let iso = IsoImage::open(dev).map_err(iso_error)?;
    let entries = iso.list_root(MAX_ISO_ROOT).map_err(iso_error)?;
    let read = |name: &str| -> Result<Option<Vec<u8>>, ReadError> {
        // Rock Ridge or Joliet names are exact; plain ISO 9660 names are
        // upper case (`NODE_CON.YAM`), which a drive made by `mk-compose
        // config-drive` never has.
        let Some(e) = entries
            .iter()
            .find(|e| e.path == name)
            .or_else(|| entries.iter().find(|e| e.path.eq_ignore_ascii_case(name)))
        else {
            return Ok(None);
        };
        if e.size > MAX_FILE {
            return Err(ReadError::TooLarge {
                name: name.to_string(),
                size: e.size,
            });
        }
        iso.read_file(e, MAX_FILE).map(Some).map_err(iso_error)
    };
    Ok(Files {
        config: read(CONFIG_NAME)?,
        signature: read(SIGNATURE_NAME)?,
    })
}

fn iso_error(e: IsoError) -> ReadError {
    match e {
        IsoError::Truncated {
            volume_bytes,
            file_bytes,
        } => ReadError::Truncated {
            fs_bytes: volume_bytes,
            device_bytes: file_bytes,
        },
        e => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            ReadError::Iso(text)
        }
    }
}
