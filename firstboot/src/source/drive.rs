//! The config drive: a block device whose FAT or ISO 9660 filesystem is
//! labelled `MK-CONFIG`. This side picks the devices (sysfs) and decides;
//! reading labels and files from the device bytes (no mount, no udev, no
//! blkid), bounded against damaged drives, is mk-configdrive's reader.

use std::io;
use std::path::{Path, PathBuf};

use mk_configdrive::read::{self, Device, Probe};
use thiserror::Error;

use crate::errors::one_line;

pub use mk_configdrive::read::FsKind;
pub use mk_roleconfig::drive::{CONFIG_NAME, LABEL, SIGNATURE_NAME};

#[derive(Debug, Error)]
pub enum DriveError {
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} config drives (label {LABEL}) found: {}; remove all but one", .0.len(),
        .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    Several(Vec<PathBuf>),
    #[error("config drive {device} ({fs}): no {CONFIG_NAME} at its root")]
    NoConfig { device: String, fs: &'static str },
    #[error("config drive {device} ({fs}): {what}")]
    Unreadable {
        device: String,
        fs: &'static str,
        what: String,
    },
    /// The label is there but no filesystem: the drive was damaged.
    #[error("{device}: {what}")]
    Damaged { device: String, what: String },
}

/// What a drive delivered.
#[derive(Debug)]
pub struct DriveConfig {
    pub device: PathBuf,
    pub fs: FsKind,
    pub config: Vec<u8>,
    pub signature: Option<Vec<u8>>,
}

/// Device nodes to look at: every entry of `SYS/class/block` with a
/// non-zero size, as `DEV/<DEVNAME>` (DEVNAME from its uevent, else the
/// entry's name).
pub fn candidates(sys: &Path, dev: &Path) -> Result<Vec<PathBuf>, DriveError> {
    let class = sys.join("class/block");
    let entries = match std::fs::read_dir(&class) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(DriveError::Io {
                path: class.display().to_string(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let base = e.path();
        let size: u64 = std::fs::read_to_string(base.join("size"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if size == 0 || aliases_whole_disk(&base) {
            continue;
        }
        let name = std::fs::read_to_string(base.join("uevent"))
            .ok()
            .and_then(|u| {
                u.lines()
                    .find_map(|l| l.strip_prefix("DEVNAME=").map(str::to_string))
            })
            .unwrap_or_else(|| e.file_name().to_string_lossy().into_owned());
        out.push(dev.join(name));
    }
    out.sort();
    Ok(out)
}

/// A partition that starts at sector 0 is its whole disk again: mformat
/// (used for FAT config drives) writes a partition table whose one entry
/// covers the disk from sector 0, so the kernel shows `vdb` and `vdb1` with
/// the same bytes. The disk itself is probed; the alias is skipped, else
/// one drive would count as two.
fn aliases_whole_disk(sysfs_entry: &Path) -> bool {
    sysfs_entry.join("partition").is_file()
        && std::fs::read_to_string(sysfs_entry.join("start")).is_ok_and(|s| s.trim() == "0")
}

/// Finds the one config drive among `candidates` and reads its files.
/// `Ok(None)` when no device carries the label; a device that carries it
/// but cannot be read is an error naming the device and the cause.
pub fn find(candidates: &[PathBuf]) -> Result<Option<DriveConfig>, DriveError> {
    let mut found = Vec::new();
    for path in candidates {
        // Empty CD drives (ENOMEDIUM), vanished devices and devices we may
        // not open are not config drives: note and go on.
        let dev = match Device::open(path) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(device = %path.display(), error = %e, "skipped");
                continue;
            }
        };
        let device = || path.display().to_string();
        match read::probe(&dev) {
            Ok(Probe::Labelled { fs, label }) => {
                tracing::debug!(device = %path.display(), fs = fs.as_str(), label, "filesystem");
                if label.eq_ignore_ascii_case(LABEL) {
                    found.push((path.clone(), dev, fs));
                }
            }
            Ok(Probe::Nothing) => {}
            Ok(Probe::Broken {
                fs: Some(fs),
                error,
            }) => {
                return Err(DriveError::Unreadable {
                    device: device(),
                    fs: fs.as_str(),
                    what: one_line(&error),
                })
            }
            Ok(Probe::Broken { fs: None, error }) => {
                return Err(DriveError::Damaged {
                    device: device(),
                    what: one_line(&error),
                })
            }
            // A device failing its reads may hold anything; it is no drive
            // we can use, and the others are still looked at.
            Err(e) => {
                tracing::warn!(device = %path.display(), error = %one_line(&e), "unreadable")
            }
        }
    }
    if found.len() > 1 {
        return Err(DriveError::Several(
            found.into_iter().map(|f| f.0).collect(),
        ));
    }
    let Some((path, dev, fs)) = found.pop() else {
        return Ok(None);
    };
    let device = path.display().to_string();
    let files = read::read_files(&dev, fs).map_err(|e| DriveError::Unreadable {
        device: device.clone(),
        fs: fs.as_str(),
        what: one_line(&e),
    })?;
    let config = files.config.ok_or(DriveError::NoConfig {
        device: device.clone(),
        fs: fs.as_str(),
    })?;
    tracing::info!(
        device,
        fs = fs.as_str(),
        bytes = config.len(),
        signed = files.signature.is_some(),
        "config drive"
    );
    Ok(Some(DriveConfig {
        device: path,
        fs,
        config,
        signature: files.signature,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(sys: &Path, name: &str, files: &[(&str, &str)]) {
        let d = sys.join("class/block").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("uevent"), format!("DEVNAME={name}\n")).unwrap();
        for (f, v) in files {
            std::fs::write(d.join(f), v).unwrap();
        }
    }

    #[test]
    fn a_partition_aliasing_its_disk_from_sector_0_is_not_a_second_drive() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path();
        block(sys, "vdb", &[("size", "2880\n")]);
        // What mformat's partition table makes the kernel show.
        block(
            sys,
            "vdb1",
            &[("size", "2880\n"), ("partition", "1\n"), ("start", "0\n")],
        );
        // A real partition, and an empty CD drive.
        block(
            sys,
            "vda2",
            &[
                ("size", "4096\n"),
                ("partition", "2\n"),
                ("start", "2048\n"),
            ],
        );
        block(sys, "sr0", &[("size", "0\n")]);
        let c = candidates(sys, Path::new("/dev")).unwrap();
        assert_eq!(c, [PathBuf::from("/dev/vda2"), PathBuf::from("/dev/vdb")]);
    }

    #[test]
    fn a_device_with_the_label_but_no_filesystem_is_named_not_skipped() {
        let t = tempfile::tempdir().unwrap();
        // Not a filesystem at all: skipped.
        let blank = t.path().join("vda");
        std::fs::write(&blank, vec![0u8; 64 << 10]).unwrap();
        // The label as a FAT root entry holds it, the boot sector gone.
        let damaged = t.path().join("vdb");
        let mut bytes = vec![0x5Au8; 64 << 10];
        bytes[9728..9739].copy_from_slice(b"MK-CONFIG  ");
        std::fs::write(&damaged, bytes).unwrap();
        assert!(find(std::slice::from_ref(&blank)).unwrap().is_none());
        let e = find(&[blank, damaged.clone()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: carries the config-drive label at byte 9728 but no readable FAT or \
                 ISO 9660 filesystem: damaged or overwritten?",
                damaged.display()
            )
        );
    }
}
