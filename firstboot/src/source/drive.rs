//! The config drive: a block device whose FAT or ISO 9660 filesystem is
//! labelled `MK-CONFIG`, found by reading labels straight from the device
//! bytes (no mount, no udev, no blkid), with `node-config.yaml` and
//! `node-config.yaml.minisig` read from its root the same way.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use mk_bundle::iso::read::{IsoImage, ReadAt};
use thiserror::Error;

use crate::errors::one_line;

pub use mk_roleconfig::drive::{CONFIG_NAME, LABEL, SIGNATURE_NAME};
/// Configs are small; anything larger on the drive is refused.
const MAX_FILE: u64 = 16 << 20;

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

/// What a drive delivered.
#[derive(Debug)]
pub struct DriveConfig {
    pub device: PathBuf,
    pub fs: FsKind,
    pub config: Vec<u8>,
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
        file.seek(SeekFrom::Start(0))?;
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

/// The label of a FAT or ISO 9660 filesystem on `dev`, if it holds one.
pub fn probe(dev: &Device) -> io::Result<Option<(FsKind, String)>> {
    let mut sector = [0u8; 2048];
    if dev.len >= 32768 + 2048 {
        dev.read_exact_at(&mut sector, 32768)?;
        if sector[0] == 1 && &sector[1..6] == b"CD001" {
            let id = String::from_utf8_lossy(&sector[40..72])
                .trim_end()
                .to_string();
            return Ok(Some((FsKind::Iso9660, id)));
        }
    }
    if dev.len < 512 {
        return Ok(None);
    }
    let mut boot = [0u8; 512];
    dev.read_exact_at(&mut boot, 0)?;
    if !looks_like_fat(&boot) {
        return Ok(None);
    }
    // The root directory's volume-label entry is what blkid and Windows
    // show; the boot sector's copy is the fallback.
    let label = match fatfs::FileSystem::new(ReadOnly::new(dev), fatfs::FsOptions::new()) {
        Ok(fs) => match fs.read_volume_label_from_root_dir_as_bytes() {
            Ok(Some(l)) => String::from_utf8_lossy(&l).into_owned(),
            _ => String::from_utf8_lossy(fs.volume_label_as_bytes()).into_owned(),
        },
        Err(_) => return Ok(None),
    };
    Ok(Some((FsKind::Fat, label.trim_end().to_string())))
}

/// Boot signature, a sane sector size, and `FAT` in one of the two places
/// the filesystem-type string lives (FAT12/16 and FAT32 boot sectors).
fn looks_like_fat(b: &[u8; 512]) -> bool {
    let bps = u16::from_le_bytes([b[11], b[12]]);
    b[510] == 0x55
        && b[511] == 0xAA
        && matches!(bps, 512 | 1024 | 2048 | 4096)
        && (&b[54..57] == b"FAT" || &b[82..85] == b"FAT")
}

/// A `Device` as the `Read + Write + Seek` stream fatfs wants, refusing
/// every write: the drive is only read.
struct ReadOnly<'a> {
    dev: &'a Device,
    pos: u64,
}

impl<'a> ReadOnly<'a> {
    fn new(dev: &'a Device) -> Self {
        ReadOnly { dev, pos: 0 }
    }
}

impl Read for ReadOnly<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.dev.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        self.dev.read_exact_at(&mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ReadOnly<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.dev.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.pos)
    }
}

impl Write for ReadOnly<'_> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "config drive is read only",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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
/// `Ok(None)` when no device carries the label.
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
        match probe(&dev) {
            Ok(Some((fs, label))) => {
                tracing::debug!(device = %path.display(), fs = fs.as_str(), label, "filesystem");
                if label.eq_ignore_ascii_case(LABEL) {
                    found.push((path.clone(), dev, fs));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(device = %path.display(), error = %e, "unreadable"),
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
    let unreadable = |what: String| DriveError::Unreadable {
        device: device.clone(),
        fs: fs.as_str(),
        what,
    };
    let (config, signature) = match fs {
        FsKind::Fat => read_fat(&dev).map_err(|e| unreadable(e.to_string()))?,
        FsKind::Iso9660 => read_iso(&dev).map_err(unreadable)?,
    };
    let config = config.ok_or(DriveError::NoConfig {
        device: device.clone(),
        fs: fs.as_str(),
    })?;
    tracing::info!(
        device,
        fs = fs.as_str(),
        bytes = config.len(),
        signed = signature.is_some(),
        "config drive"
    );
    Ok(Some(DriveConfig {
        device: path,
        fs,
        config,
        signature,
    }))
}

type Files = (Option<Vec<u8>>, Option<Vec<u8>>);

fn read_fat(dev: &Device) -> io::Result<Files> {
    let fs = fatfs::FileSystem::new(ReadOnly::new(dev), fatfs::FsOptions::new())?;
    let root = fs.root_dir();
    let read = |name: &str| -> io::Result<Option<Vec<u8>>> {
        // FAT names are case-insensitive; fatfs matches them so.
        let mut f = match root.open_file(name) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut data = Vec::new();
        (&mut f).take(MAX_FILE + 1).read_to_end(&mut data)?;
        if data.len() as u64 > MAX_FILE {
            return Err(io::Error::other(format!(
                "{name} is larger than {MAX_FILE} bytes"
            )));
        }
        Ok(Some(data))
    };
    Ok((read(CONFIG_NAME)?, read(SIGNATURE_NAME)?))
}

fn read_iso(dev: &Device) -> Result<Files, String> {
    let iso = IsoImage::open(dev).map_err(|e| one_line(&e))?;
    let entries = iso.list().map_err(|e| one_line(&e))?;
    let read = |name: &str| -> Result<Option<Vec<u8>>, String> {
        // Rock Ridge or Joliet names are exact; plain ISO 9660 names are
        // upper case with a version (`NODE_CON.YAM;1`), which a drive made
        // by `mk-compose config-drive` never has.
        let Some(e) = entries
            .iter()
            .find(|e| e.path == name)
            .or_else(|| entries.iter().find(|e| e.path.eq_ignore_ascii_case(name)))
        else {
            return Ok(None);
        };
        if e.size > MAX_FILE {
            return Err(format!("{name} is larger than {MAX_FILE} bytes"));
        }
        iso.read_file(e, MAX_FILE)
            .map(Some)
            .map_err(|e| one_line(&e))
    };
    Ok((read(CONFIG_NAME)?, read(SIGNATURE_NAME)?))
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
}
