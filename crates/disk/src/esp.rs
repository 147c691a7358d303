//! The EFI system partition: FAT32 written by mtools at the partition's
//! offset. (The `fatfs` crate writes `.`/`..` entries fsck.vfat rejects.)
//! mtools honours SOURCE_DATE_EPOCH for every date it writes, and the volume
//! serial is given (`-N`), so the bytes depend only on the inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{io, DiskError};
use crate::layout::{MIB, SECTOR};
use crate::tool::{self, command};
use crate::tree::{Entry, Kind};

/// Earliest and latest instants a FAT directory entry can hold.
pub const FAT_MIN_EPOCH: i64 = 315_532_800; // 1980-01-01
pub const FAT_MAX_EPOCH: i64 = 4_354_819_199; // 2107-12-31

pub struct EspJob<'a> {
    pub image: &'a Path,
    pub offset: u64,
    pub size: u64,
    pub tree: &'a Path,
    pub entries: &'a [Entry],
    /// Generated files (ESP path with `/`, content), e.g. the loader entry.
    pub generated: &'a BTreeMap<String, Vec<u8>>,
    pub serial: u32,
    pub volume_label: &'a str,
    pub epoch: i64,
    pub scratch: &'a Path,
}

fn mtools(program: &str, job: &EspJob) -> std::process::Command {
    let mut cmd = command(program);
    cmd.env("SOURCE_DATE_EPOCH", job.epoch.to_string())
        // No ~/.mtoolsrc: its settings would change the bytes.
        .env("HOME", job.scratch)
        .env("MTOOLSRC", "/dev/null")
        // Our image is not a real floppy/disk with a geometry to check.
        .env("MTOOLS_SKIP_CHECK", "1");
    cmd
}

fn target(job: &EspJob) -> String {
    format!("{}@@{}", job.image.display(), job.offset)
}

/// Bytes the content takes in 4 KiB clusters (a bound for the 512-byte
/// clusters small ESPs get), to refuse a too-small ESP before writing.
pub fn content_bytes(entries: &[Entry], generated: &BTreeMap<String, Vec<u8>>) -> u64 {
    let files = entries
        .iter()
        .map(|e| match e.kind {
            Kind::File => e.size.div_ceil(4096) * 4096,
            _ => 4096,
        })
        .sum::<u64>();
    files
        + generated
            .values()
            .map(|v| (v.len() as u64).div_ceil(4096) * 4096)
            .sum::<u64>()
}

/// Checks the ESP tree can be represented on FAT and fits.
pub fn check_esp(job: &EspJob) -> Result<(), DiskError> {
    let mut lower = BTreeSet::new();
    for e in job.entries {
        let path = job.tree.join(&e.rel);
        if matches!(e.kind, Kind::Symlink | Kind::Other) {
            return Err(DiskError::Tree {
                path,
                reason: "the ESP (FAT) can hold only regular files and directories".into(),
            });
        }
        let rel = e.rel.to_str().ok_or_else(|| DiskError::Tree {
            path: path.clone(),
            reason: "ESP file names must be UTF-8".into(),
        })?;
        // FAT names are case-insensitive: mcopy would ask what to do.
        if !lower.insert(rel.to_lowercase()) {
            return Err(DiskError::Tree {
                path,
                reason: "another ESP entry has the same name up to case".into(),
            });
        }
    }
    for name in job.generated.keys() {
        if lower.contains(&name.to_lowercase()) {
            return Err(DiskError::Tree {
                path: job.tree.join(name),
                reason: "the staging ESP already has this file, which is generated".into(),
            });
        }
    }
    // FAT32 with the FATs and reserved sectors: keep 2% + 1 MiB spare.
    let need = content_bytes(job.entries, job.generated);
    let usable = job.size - job.size / 50 - MIB;
    if need > usable {
        return Err(DiskError::Layout(crate::layout::LayoutError::TooSmall {
            part: "ESP",
            need_mib: (need + job.size / 50 + MIB).div_ceil(MIB),
            size_mib: job.size / MIB,
            inodes: job.entries.len() as u64,
            data_mib: need.div_ceil(MIB),
        }));
    }
    Ok(())
}

/// Formats the ESP and copies the tree and generated files into it.
pub fn write_esp(job: &EspJob) -> Result<(), DiskError> {
    check_esp(job)?;
    let img = target(job);
    tool::run(
        "formatting the ESP (FAT32)",
        mtools("mformat", job)
            .args(["-i", &img, "-F"])
            .args(["-T", &(job.size / SECTOR).to_string()])
            // Hidden sectors: where the partition starts on the disk.
            .args(["-H", &(job.offset / SECTOR).to_string()])
            .args(["-N", &format!("{:08x}", job.serial)])
            .args(["-v", job.volume_label])
            .arg("::"),
    )?;

    // Directories in walk order (parents first), then files.
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    let mut mkdirs: Vec<String> = Vec::new();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for e in job.entries {
        let rel = e.rel.to_string_lossy().into_owned();
        match e.kind {
            Kind::Dir => {
                dirs.insert(rel.clone());
                mkdirs.push(format!("::/{rel}"));
            }
            _ => files.push((job.tree.join(&e.rel), format!("::/{rel}"))),
        }
    }
    for (i, (name, content)) in job.generated.iter().enumerate() {
        let mut parent = String::new();
        for comp in name.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(comp);
            if dirs.insert(parent.clone()) {
                mkdirs.push(format!("::/{parent}"));
            }
        }
        let f = job.scratch.join(format!("generated-{i}"));
        fs::write(&f, content).map_err(io(&f))?;
        files.push((f, format!("::/{name}")));
    }
    if !mkdirs.is_empty() {
        tool::run(
            "creating ESP directories",
            mtools("mmd", job).args(["-i", &img]).args(&mkdirs),
        )?;
    }
    for (src, dst) in &files {
        tool::run(
            &format!("copying {} into the ESP", src.display()),
            mtools("mcopy", job).args(["-i", &img]).arg(src).arg(dst),
        )?;
    }
    tracing::info!(dirs = mkdirs.len(), files = files.len(), "ESP written");
    Ok(())
}

/// Copies `len` bytes at `offset` of `image` into a new file `out`, leaving
/// holes where the source is zero (fsck.vfat needs the filesystem as a file).
pub fn extract(image: &Path, offset: u64, len: u64, out: &Path) -> Result<(), DiskError> {
    let mut src = fs::File::open(image).map_err(io(image))?;
    src.seek(SeekFrom::Start(offset)).map_err(io(image))?;
    let mut dst = fs::File::create(out).map_err(io(out))?;
    let mut buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        src.read_exact(&mut buf[..n]).map_err(io(image))?;
        if buf[..n].iter().all(|&b| b == 0) {
            dst.seek(SeekFrom::Current(n as i64)).map_err(io(out))?;
        } else {
            dst.write_all(&buf[..n]).map_err(io(out))?;
        }
        left -= n as u64;
    }
    dst.set_len(len).map_err(io(out))?;
    Ok(())
}

/// `fsck.vfat -n` on the ESP (copied out of the image to `scratch`).
pub fn check_fat(image: &Path, offset: u64, size: u64, scratch: &Path) -> Result<(), DiskError> {
    let copy = scratch.join("esp.check.img");
    extract(image, offset, size, &copy)?;
    let r = tool::run(
        "checking the ESP",
        command("fsck.vfat").arg("-n").arg(&copy),
    );
    let _ = fs::remove_file(&copy);
    r.map(|_| ())
}
