//! Writing the whole node image onto the target disk.
//!
//! Order, so that no crash or bad byte ever leaves a disk that boots a
//! half image:
//! 1. the first and last MiB of the disk are zeroed (any old GPT is gone);
//! 2. the image is streamed in, decompressed, hashed as a whole and per
//!    partition; its first MiB (MBR and primary GPT) is held back in
//!    memory and the bytes after its last partition (the image's backup
//!    GPT, which belongs at the disk's end) are not written;
//! 3. the image's length and SHA-256 are checked, the disk is synced, its
//!    page cache dropped, and every partition is read back and compared;
//! 4. only then the GPT is written: backup entries and header at the
//!    disk's end, synced, then the first MiB with the primary header.
//!
//! Any failure after step 1 zeroes the GPT areas again, says so, and
//! returns the error.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest as _, Sha256};

use crate::gpt::{Gpt, GptError, Partition, SECTOR};

/// The image's first MiB: MBR, primary GPT, then (aligned) partitions.
pub const HEAD: usize = 1 << 20;
const CHUNK: usize = 4 << 20;

/// What to write and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Uncompressed size of the raw image.
    pub size: u64,
    /// SHA-256 (hex, lowercase) of the uncompressed raw image.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Extend the `state` partition (the last one) to the disk's end. Its
    /// ext4 file system keeps its size (no resize2fs in the initramfs).
    pub grow_state: bool,
}

/// One partition as installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPartition {
    pub partition: Partition,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub bytes: u64,
    pub write_seconds: f64,
    pub verify_seconds: f64,
    pub partitions: Vec<InstalledPartition>,
    /// The `state` partition after growing, when it was.
    pub grown: Option<Partition>,
    pub disk_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is {disk} bytes, smaller than the image's {image} bytes; nothing was written")]
    TooSmall {
        path: PathBuf,
        disk: u64,
        image: u64,
    },
    #[error("{path}: {source}; nothing was written")]
    Gpt {
        path: PathBuf,
        #[source]
        source: GptError,
    },
    /// The image or the disk failed a check after writing began; `wiped`
    /// says whether the GPT areas were zeroed again.
    #[error("{what}; {}", wiped_text(*.wiped, path))]
    Failed {
        what: String,
        path: PathBuf,
        wiped: bool,
    },
}

fn wiped_text(wiped: bool, path: &Path) -> String {
    if wiped {
        format!(
            "the GPT of {} was wiped, so the disk will not boot a half-written image",
            path.display()
        )
    } else {
        format!(
            "wiping the GPT of {} failed too: do not boot from it",
            path.display()
        )
    }
}

/// Size in bytes of a disk (block device or file).
pub fn disk_size(file: &mut File) -> io::Result<u64> {
    if file.metadata()?.file_type().is_block_device() {
        file.seek(SeekFrom::End(0))
    } else {
        Ok(file.metadata()?.len())
    }
}

fn zero_range(file: &mut File, offset: u64, len: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let zeros = vec![0u8; len.min(CHUNK as u64) as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Zeroes the first and last MiB (protective MBR, both GPTs) and syncs.
pub fn wipe_gpt(file: &mut File, disk: u64) -> io::Result<()> {
    let head = disk.min(HEAD as u64);
    zero_range(file, 0, head)?;
    let tail = disk.min(HEAD as u64);
    zero_range(file, disk - tail, tail)?;
    file.sync_all()
}

/// Checks the image's head before anything is written: a GPT whose
/// partitions lie inside the image and after its first MiB.
fn plan_from_head(path: &Path, head: &[u8], spec: &ImageSpec) -> Result<Gpt, InstallError> {
    let gpt_err = |source| InstallError::Gpt {
        path: path.to_path_buf(),
        source,
    };
    let gpt = Gpt::parse(head).map_err(gpt_err)?;
    if gpt.image_sectors() * SECTOR != spec.size {
        return Err(gpt_err(GptError::Invalid(format!(
            "its backup header is at LBA {} but the image is {} bytes",
            gpt.alternate_lba, spec.size
        ))));
    }
    if let Some(p) = gpt
        .partitions
        .iter()
        .find(|p| p.bytes().start < HEAD as u64)
    {
        return Err(gpt_err(GptError::Invalid(format!(
            "partition {} ({}) starts inside the first MiB",
            p.number, p.name
        ))));
    }
    Ok(gpt)
}

/// Writes the image from `src` (the raw image, already decompressed) onto
/// `path`, a block device or an image file at least `spec.size` bytes.
pub fn install(
    path: &Path,
    mut src: impl Read,
    spec: &ImageSpec,
    opts: &Options,
) -> Result<Report, InstallError> {
    let io = |what, source| InstallError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let is_device = std::fs::metadata(path)
        .map(|m| m.file_type().is_block_device())
        .map_err(|e| io("reading", e))?;
    let mut out = OpenOptions::new()
        .read(true)
        .write(true)
        // O_EXCL on a block device: refused while mounted or in use.
        .custom_flags(if is_device {
            rustix::fs::OFlags::EXCL.bits() as i32
        } else {
            0
        })
        .open(path)
        .map_err(|e| io("opening for writing (in use or mounted?)", e))?;
    let disk = disk_size(&mut out).map_err(|e| io("measuring", e))?;
    if disk < spec.size {
        return Err(InstallError::TooSmall {
            path: path.to_path_buf(),
            disk,
            image: spec.size,
        });
    }
    if !disk.is_multiple_of(SECTOR) || !spec.size.is_multiple_of(SECTOR) || spec.size < HEAD as u64
    {
        return Err(InstallError::Gpt {
            path: path.to_path_buf(),
            source: GptError::Invalid(format!(
                "disk ({disk} bytes) or image ({} bytes) is not whole 512-byte sectors beyond 1 MiB",
                spec.size
            )),
        });
    }
    let started = Instant::now();
    let mut hasher = Sha256::new();
    let mut head = vec![0u8; HEAD];
    read_full(&mut src, &mut head).map_err(|e| io("reading the image for", e))?;
    hasher.update(&head);
    let gpt = plan_from_head(path, &head, spec)?;
    let relocated = gpt
        .relocate(disk / SECTOR, opts.grow_state.then_some("state"))
        .map_err(|source| InstallError::Gpt {
            path: path.to_path_buf(),
            source,
        })?;
    tracing::info!(
        "writing {} MB onto {} ({} MB){}",
        spec.size / 1_000_000,
        path.display(),
        disk / 1_000_000,
        if is_device { "" } else { ", an image file" }
    );
    // From here on a failure wipes.
    let fail = |out: &mut File, what: String| InstallError::Failed {
        what,
        path: path.to_path_buf(),
        wiped: wipe_gpt(out, disk).is_ok(),
    };
    if let Err(e) = wipe_gpt(&mut out, disk) {
        return Err(fail(&mut out, format!("zeroing the old GPT: {e}")));
    }
    // Bytes past the last partition are the image's backup GPT: not written.
    let data_end = gpt
        .partitions
        .iter()
        .map(|p| p.bytes().end)
        .max()
        .unwrap_or(HEAD as u64);
    let mut parts: Vec<(Partition, Sha256)> = gpt
        .partitions
        .iter()
        .map(|p| (p.clone(), Sha256::new()))
        .collect();
    let mut pos = HEAD as u64;
    let mut buf = vec![0u8; CHUNK];
    let mut next_report = 0u64;
    if let Err(e) = out.seek(SeekFrom::Start(pos)) {
        return Err(fail(&mut out, format!("seeking: {e}")));
    }
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(&mut out, format!("reading the image: {e}"))),
        };
        if pos + n as u64 > spec.size {
            return Err(fail(
                &mut out,
                format!(
                    "the image is longer than the {} bytes it should have",
                    spec.size
                ),
            ));
        }
        let chunk = &buf[..n];
        hasher.update(chunk);
        for (p, h) in parts.iter_mut() {
            let r = p.bytes();
            let (s, e) = (pos.max(r.start), (pos + n as u64).min(r.end));
            if s < e {
                h.update(&chunk[(s - pos) as usize..(e - pos) as usize]);
            }
        }
        let write_len = (data_end.saturating_sub(pos)).min(n as u64) as usize;
        if write_len > 0 {
            if let Err(e) = out.write_all(&chunk[..write_len]) {
                return Err(fail(&mut out, format!("writing at byte {pos}: {e}")));
            }
        }
        pos += n as u64;
        if pos >= next_report {
            tracing::info!(
                "{} of {} MB written",
                pos / 1_000_000,
                spec.size / 1_000_000
            );
            next_report += (spec.size / 10).max(CHUNK as u64);
        }
    }
    if pos != spec.size {
        return Err(fail(
            &mut out,
            format!(
                "the image ended after {pos} bytes, it should have {}",
                spec.size
            ),
        ));
    }
    let got = hex::encode(hasher.finalize());
    if got != spec.sha256 {
        return Err(fail(
            &mut out,
            format!(
                "the image's SHA-256 is {got}, its image.json says {}",
                spec.sha256
            ),
        ));
    }
    if let Err(e) = out.sync_all() {
        return Err(fail(&mut out, format!("syncing: {e}")));
    }
    let write_seconds = started.elapsed().as_secs_f64();
    let verify_started = Instant::now();
    let mut installed = Vec::new();
    for (p, h) in parts {
        let expected = hex::encode(h.finalize());
        let r = p.bytes();
        // What the disk holds, not what the page cache kept.
        let got = match mk_durable::Digest::read_back(&out, r.start, r.end - r.start) {
            Ok(g) => g.hex(),
            Err(e) => return Err(fail(&mut out, format!("reading back {}: {e}", p.name))),
        };
        if got != expected {
            return Err(fail(
                &mut out,
                format!(
                    "read back partition {} ({}): SHA-256 {got}, written {expected}: the disk did not keep what was written",
                    p.number, p.name
                ),
            ));
        }
        installed.push(InstalledPartition {
            partition: p,
            sha256: expected,
        });
    }
    let verify_seconds = verify_started.elapsed().as_secs_f64();
    // The GPT last: backup first, then the primary that makes it bootable.
    let mut tail = relocated.entries.clone();
    tail.extend_from_slice(&relocated.backup_header);
    let write_gpt = |out: &mut File| -> io::Result<()> {
        out.seek(SeekFrom::Start(relocated.backup_entries_lba * SECTOR))?;
        out.write_all(&tail)?;
        out.sync_all()?;
        let mut h = head.clone();
        relocated.patch_head(&mut h);
        out.seek(SeekFrom::Start(0))?;
        out.write_all(&h)?;
        out.sync_all()
    };
    if let Err(e) = write_gpt(&mut out) {
        return Err(fail(&mut out, format!("writing the GPT: {e}")));
    }
    if let Some(g) = &relocated.grown {
        tracing::info!(
            "partition {} ({}) extended to the disk's end: {} MB (its file system keeps its size)",
            g.number,
            g.name,
            (g.bytes().end - g.bytes().start) / 1_000_000
        );
    }
    tracing::info!(
        "{} MB written in {:.1} s, {} partitions read back and checked in {:.1} s",
        spec.size / 1_000_000,
        write_seconds,
        installed.len(),
        verify_seconds
    );
    Ok(Report {
        bytes: spec.size,
        write_seconds,
        verify_seconds,
        partitions: installed,
        grown: relocated.grown,
        disk_bytes: disk,
    })
}

fn read_full(src: &mut impl Read, buf: &mut [u8]) -> io::Result<()> {
    src.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(e.kind(), "the image is shorter than 1 MiB")
        } else {
            e
        }
    })
}
