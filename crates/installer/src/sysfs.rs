//! The machine's disks as the kernel lists them under `/sys/block`: name,
//! size, serial/WWID, model, removable, read-only, logical sector size, and
//! the names of their partitions. Only whole disks backed by a device
//! (`/sys/block/X/device` exists): loop, ram, zram, dm and md devices are
//! not disks to install onto.
//!
//! sysfs is read like untrusted input (the tests feed crafted trees): every
//! file is read at most [`MAX_ATTR`] bytes, names longer than
//! [`MAX_NAME`] or with odd characters are skipped, at most
//! [`MAX_DISKS`] entries are looked at, and sizes are checked for overflow.

use std::fmt;
use std::io::Read;
use std::path::Path;

pub const MAX_ATTR: u64 = 4096;
/// The kernel's DISK_NAME_LEN is 32.
pub const MAX_NAME: usize = 32;
pub const MAX_DISKS: usize = 4096;
/// Serial, WWID and model are cut to this many characters.
pub const MAX_ID: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDisk {
    /// `sda`, `vda`, `nvme0n1`.
    pub name: String,
    /// Bytes; `None` when `size` was unreadable or absurd.
    pub size: Option<u64>,
    pub serial: Option<String>,
    pub wwid: Option<String>,
    pub model: Option<String>,
    pub removable: bool,
    pub read_only: bool,
    /// Bytes per logical sector (`queue/logical_block_size`; 512 when absent).
    pub logical_block: u64,
    /// Partition names (`sda1`, ...), sorted.
    pub partitions: Vec<String>,
}

impl BlockDisk {
    /// Serial or WWID: something a person can match with a label or a BMC.
    pub fn identity(&self) -> Option<&str> {
        self.serial.as_deref().or(self.wwid.as_deref())
    }
}

/// Sizes as people read them on a console: binary units, one decimal.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl fmt::Display for BlockDisk {
    /// `vda  20.0 GiB  serial MK-1  model QEMU HARDDISK  removable`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self
            .size
            .map(|s| format!("{} ({s} bytes)", human(s)))
            .unwrap_or_else(|| "size unreadable".into());
        write!(f, "/dev/{}  {size}", self.name)?;
        match (&self.serial, &self.wwid) {
            (Some(s), _) => write!(f, "  serial {s}")?,
            (None, Some(w)) => write!(f, "  wwid {w}")?,
            (None, None) => write!(f, "  no serial or WWID")?,
        }
        if let Some(m) = &self.model {
            write!(f, "  model {m}")?;
        }
        if self.removable {
            write!(f, "  removable")?;
        }
        if self.read_only {
            write!(f, "  read-only")?;
        }
        Ok(())
    }
}

/// A sysfs attribute: at most [`MAX_ATTR`] bytes, trimmed, printable ASCII
/// only, empty as `None`.
fn attr(path: &Path) -> Option<String> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_ATTR)
        .read_to_end(&mut buf)
        .ok()?;
    let text: String = String::from_utf8_lossy(&buf)
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_ID)
        .collect();
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' || b == b':')
        && name != "."
        && name != ".."
}

/// Reads the disks under `<sysfs>/block`, sorted by name.
pub fn scan(sysfs: &Path) -> std::io::Result<Vec<BlockDisk>> {
    let block = sysfs.join("block");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&block)?.take(MAX_DISKS) {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !valid_name(&name) {
            tracing::warn!("{}: odd block device name skipped", block.display());
            continue;
        }
        names.push(name);
    }
    names.sort();
    let mut disks = Vec::new();
    for name in names {
        let dir = block.join(&name);
        // Virtual block devices (loop, ram, dm, md) have no `device`.
        if !dir.join("device").exists() {
            continue;
        }
        let size = attr(&dir.join("size"))
            .and_then(|s| s.parse::<u64>().ok())
            .and_then(|sectors| sectors.checked_mul(512));
        let serial = attr(&dir.join("serial")).or_else(|| attr(&dir.join("device/serial")));
        let wwid = attr(&dir.join("wwid")).or_else(|| attr(&dir.join("device/wwid")));
        let model = attr(&dir.join("device/model"));
        let flag = |f: &str| attr(&dir.join(f)).as_deref() == Some("1");
        let logical_block = attr(&dir.join("queue/logical_block_size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(512);
        let mut partitions = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.take(MAX_DISKS).flatten() {
                let Some(p) = e.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if valid_name(&p) && p.starts_with(&name) && e.path().join("partition").exists() {
                    partitions.push(p);
                }
            }
        }
        partitions.sort();
        disks.push(BlockDisk {
            removable: flag("removable"),
            read_only: flag("ro"),
            name,
            size,
            serial,
            wwid,
            model,
            logical_block,
            partitions,
        });
    }
    Ok(disks)
}

/// The disk that holds `dev` (`sr0`, `sdb`, or a partition such as `sdb1`).
pub fn disk_of<'a>(disks: &'a [BlockDisk], dev: &str) -> Option<&'a BlockDisk> {
    let dev = dev.strip_prefix("/dev/").unwrap_or(dev);
    disks
        .iter()
        .find(|d| d.name == dev || d.partitions.iter().any(|p| p == dev))
}
