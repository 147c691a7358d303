//! The node image inside a bundle (`/image/`): what `mk-compose bundle
//! --node-image` stages from a raw disk image, and what `mk-node update`
//! reads back out of a verified bundle.
//!
//! ```text
//! image/root.img.zst     slot A's root partition, whole, zstd-compressed
//! image/vmlinuz          mk/a/vmlinuz of the image's ESP
//! image/initramfs.img    mk/a/initramfs.img
//! image/slot.cfg         mk/a/slot.cfg (the same bytes in either slot)
//! image/image.json       version, the uncompressed root's size and SHA-256, kernel version
//! ```
//! The MANIFEST covers all five; image.json's digest covers the root as it
//! lands on the disk, which `mk-node update` checks while writing and again
//! when reading it back.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use mk_bundle::iso::{EntryKind, IsoEntry, IsoImage, ReadAt};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::disk::{DiskError, SlotDisk};
use crate::esp::{Esp, EspError};
use crate::{Slot, SLOT_FILES};

/// The bundle directory.
pub const IMAGE_DIR: &str = "image";
/// The compressed root, inside [`IMAGE_DIR`].
pub const ROOT_FILE: &str = "root.img.zst";
pub const INFO_FILE: &str = "image.json";
/// zstd level: 3 compresses a root at hundreds of MB/s on one core; the
/// free space of the partition (zeros) is what shrinks most.
const ZSTD_LEVEL: i32 = 3;

/// image.json is a few hundred bytes; anything larger is not ours.
const MAX_INFO: u64 = 1 << 20;

/// `image/NAME` in a bundle's listing; the error says that the bundle
/// carries no node image and how to make one that does.
pub fn bundle_entry<'a>(entries: &'a [IsoEntry], name: &str) -> Result<&'a IsoEntry, String> {
    let path = format!("{IMAGE_DIR}/{name}");
    entries
        .iter()
        .find(|e| e.path == path && e.kind == EntryKind::File)
        .ok_or_else(|| {
            format!(
                "has no {path}: it was made without --node-image and carries no node image \
                 (make it with `mk-compose bundle --node-image`)"
            )
        })
}

/// A bundle's `image/image.json`, read and parsed (what `mk-node update`
/// and `mk-rollout --bundle` both need).
pub fn read_info<R: ReadAt>(
    image: &IsoImage<R>,
    entries: &[IsoEntry],
) -> Result<ImageInfo, String> {
    let bytes = image
        .read_file(bundle_entry(entries, INFO_FILE)?, MAX_INFO)
        .map_err(|e| format!("{IMAGE_DIR}/{INFO_FILE}: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{IMAGE_DIR}/{INFO_FILE}: {e}"))
}

/// `image/image.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInfo {
    /// Format of this file; 1.
    pub format: u32,
    /// The image version (`mk_version` of slot.cfg).
    pub version: String,
    pub root: RootInfo,
    /// The kernel's version string from vmlinuz's boot header, when it has one.
    pub kernel_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootInfo {
    /// File under image/.
    pub file: String,
    pub compression: String,
    /// Uncompressed size: the root partition of the image, in bytes.
    pub size: u64,
    /// SHA-256 (hex) of the uncompressed bytes.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeImageError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(
        "{raw}: reading mk/a/{file} from its ESP: {source} (an image from before the GRUB boot path keeps mk/vmlinuz-*: rebuild it with the current `mk-compose image`)"
    )]
    SlotFile {
        raw: PathBuf,
        file: &'static str,
        #[source]
        source: EspError,
    },
    #[error("{raw}: {source}")]
    Esp {
        raw: PathBuf,
        #[source]
        source: EspError,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{raw}: ESP file mk/a/slot.cfg has no line `set mk_version=\"...\"`")]
    NoVersion { raw: PathBuf },
}

/// Stages the node image of `raw` (a disk image from `mk-compose image`)
/// into `bundle_root/image/`.
pub fn stage(raw: &Path, bundle_root: &Path) -> Result<ImageInfo, NodeImageError> {
    let disk = SlotDisk::read(raw)?;
    let esp = Esp::Partition {
        disk: raw.to_path_buf(),
        offset: disk.esp.offset,
    };
    let dir = bundle_root.join(IMAGE_DIR);
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| NodeImageError::Io { what, path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
    let mut files = Vec::new();
    for name in SLOT_FILES {
        let bytes = esp
            .read(&format!("{}/{name}", Slot::A.esp_dir()))
            .map_err(|source| NodeImageError::SlotFile {
                raw: raw.to_path_buf(),
                file: name,
                source,
            })?;
        let path = dir.join(name);
        std::fs::write(&path, &bytes).map_err(io("writing", &path))?;
        files.push(bytes);
    }
    let version = slot_cfg_version(&String::from_utf8_lossy(&files[2])).ok_or_else(|| {
        NodeImageError::NoVersion {
            raw: raw.to_path_buf(),
        }
    })?;

    let root_path = dir.join(ROOT_FILE);
    let mut src = File::open(raw).map_err(io("opening", raw))?;
    src.seek(SeekFrom::Start(disk.root_a.offset))
        .map_err(io("seeking in", raw))?;
    let out = File::create(&root_path).map_err(io("creating", &root_path))?;
    let mut enc =
        zstd::stream::Encoder::new(out, ZSTD_LEVEL).map_err(io("compressing into", &root_path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    let mut left = disk.root_a.size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        src.read_exact(&mut buf[..n])
            .map_err(io("reading root-a of", raw))?;
        hasher.update(&buf[..n]);
        enc.write_all(&buf[..n])
            .map_err(io("compressing into", &root_path))?;
        left -= n as u64;
    }
    enc.finish()
        .and_then(|f| f.sync_all())
        .map_err(io("finishing", &root_path))?;
    let info = ImageInfo {
        format: 1,
        version,
        root: RootInfo {
            file: ROOT_FILE.into(),
            compression: "zstd".into(),
            size: disk.root_a.size,
            sha256: hex::encode(hasher.finalize()),
        },
        kernel_version: kernel_version(&files[0]),
    };
    let info_path = dir.join(INFO_FILE);
    let mut json = serde_json::to_string_pretty(&info).expect("plain data serialises");
    json.push('\n');
    std::fs::write(&info_path, json).map_err(io("writing", &info_path))?;
    tracing::info!(
        version = %info.version,
        root_bytes = info.root.size,
        "node image staged from {}",
        raw.display()
    );
    Ok(info)
}

/// The quoted value of `set <var>="..."` in a slot.cfg (as crates/disk's
/// `render_slot_cfg` writes it).
fn slot_cfg_value<'a>(cfg: &'a str, var: &str) -> Option<&'a str> {
    cfg.lines().find_map(|l| {
        l.trim()
            .strip_prefix("set ")?
            .strip_prefix(var)?
            .strip_prefix("=\"")?
            .strip_suffix('"')
    })
}

/// `mk_version` from a slot.cfg (`set mk_version="1.4.0"`).
pub fn slot_cfg_version(cfg: &str) -> Option<String> {
    slot_cfg_value(cfg, "mk_version")
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The kernel arguments of a slot.cfg (`set mk_args="ro ..."`); none when
/// it has no `mk_args`.
pub fn slot_cfg_args(cfg: &str) -> Vec<String> {
    slot_cfg_value(cfg, "mk_args")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The version string of a Linux bzImage: the setup header ("HdrS" at
/// 0x202) points at it with `kernel_version` (0x20e), relative to 0x200.
/// Only its first word (`6.1.0-28-amd64`), the rest is the build host.
pub fn kernel_version(vmlinuz: &[u8]) -> Option<String> {
    if vmlinuz.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let ptr = u16::from_le_bytes([*vmlinuz.get(0x20e)?, *vmlinuz.get(0x20f)?]) as usize;
    let start = ptr.checked_add(0x200)?;
    let rest = vmlinuz.get(start..(start + 256).min(vmlinuz.len()))?;
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    text.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_slot_cfg() {
        let cfg = "set mk_version=\"1.4.0\"\nset mk_args=\"ro panic=10\"\n";
        assert_eq!(slot_cfg_version(cfg).as_deref(), Some("1.4.0"));
        assert_eq!(slot_cfg_version("set mk_args=\"ro\"\n"), None);
        assert_eq!(slot_cfg_args(cfg), ["ro", "panic=10"]);
        assert!(slot_cfg_args("set mk_version=\"1\"\n").is_empty());
    }

    #[test]
    fn kernel_version_from_the_setup_header() {
        let mut k = vec![0u8; 0x400];
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        let text = b"6.1.0-28-amd64 (debian@x) #1\0";
        k[0x300..0x300 + text.len()].copy_from_slice(text);
        assert_eq!(kernel_version(&k).as_deref(), Some("6.1.0-28-amd64"));
        assert_eq!(kernel_version(b"not a kernel"), None);
    }
}
