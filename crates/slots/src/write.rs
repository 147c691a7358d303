//! Writing a root filesystem image into a slot's partition: streamed,
//! hashed while written, fsync'd, the page cache dropped, then read back
//! from the disk and compared by SHA-256.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mk_durable::Digest;
use sha2::{Digest as _, Sha256};

use crate::disk::Partition;

const CHUNK: usize = 4 << 20;

/// What was written, and how fast.
#[derive(Debug, Clone)]
pub struct WriteReport {
    pub bytes: u64,
    pub write_seconds: f64,
    pub verify_seconds: f64,
}

impl WriteReport {
    /// Megabytes (10^6) per second of the write including fsync.
    pub fn write_mb_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.write_seconds.max(1e-9)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the new root is more than the {size} bytes of {part}")]
    TooBig { part: String, size: u64 },
    #[error("the new root had {got} bytes, its image.json says {expected}")]
    Length { expected: u64, got: u64 },
    #[error("the new root's SHA-256 is {got} while writing, its image.json says {expected}")]
    SourceDigest { expected: String, got: String },
    #[error(
        "read back from {part} on {path}, the root's SHA-256 is {got}, not {expected}: the disk did not keep what was written"
    )]
    Readback {
        part: String,
        path: PathBuf,
        expected: String,
        got: String,
    },
}

/// Streams `src` into `part` of `disk` and checks it: `expected_len` bytes
/// whose SHA-256 is `expected`. The disk file is opened without truncation
/// (an image file keeps its size; a device has none to lose).
pub fn write_root(
    disk: &Path,
    part: &Partition,
    mut src: impl Read,
    expected_len: u64,
    expected: &Digest,
) -> Result<WriteReport, WriteError> {
    let io = |what, source| WriteError::Io {
        what,
        path: disk.to_path_buf(),
        source,
    };
    if expected_len > part.size {
        return Err(WriteError::TooBig {
            part: part.name.clone(),
            size: part.size,
        });
    }
    let mut out = OpenOptions::new()
        .write(true)
        .read(true)
        .open(disk)
        .map_err(|e| io("opening for writing", e))?;
    let is_device = out
        .metadata()
        .map(|m| m.file_type().is_block_device())
        .unwrap_or(false);
    out.seek(SeekFrom::Start(part.offset))
        .map_err(|e| io("seeking in", e))?;
    let start = Instant::now();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut written = 0u64;
    let mut next_report = 0u64;
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| io("reading the new root for", e))?;
        if n == 0 {
            break;
        }
        if written + n as u64 > expected_len.min(part.size) {
            return Err(WriteError::Length {
                expected: expected_len,
                got: written + n as u64,
            });
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| io("writing", e))?;
        written += n as u64;
        if written >= next_report {
            tracing::info!(
                "{}: {} of {} MB written",
                part.name,
                written / 1_000_000,
                expected_len / 1_000_000
            );
            next_report += (expected_len / 10).max(CHUNK as u64);
        }
    }
    if written != expected_len {
        return Err(WriteError::Length {
            expected: expected_len,
            got: written,
        });
    }
    let got = hex::encode(hasher.finalize());
    if got != expected.hex() {
        return Err(WriteError::SourceDigest {
            expected: expected.hex(),
            got,
        });
    }
    out.sync_all().map_err(|e| io("syncing", e))?;
    let write_seconds = start.elapsed().as_secs_f64();
    // Read back what the disk holds, not what the page cache kept.
    let verify_start = Instant::now();
    let got = Digest::read_back(&out, part.offset, expected_len)
        .map_err(|e| io("reading back", e))?
        .hex();
    if got != expected.hex() {
        return Err(WriteError::Readback {
            part: part.name.clone(),
            path: disk.to_path_buf(),
            expected: expected.hex(),
            got,
        });
    }
    let report = WriteReport {
        bytes: written,
        write_seconds,
        verify_seconds: verify_start.elapsed().as_secs_f64(),
    };
    tracing::info!(
        "{}: {} MB written in {:.2} s ({:.0} MB/s{}), read back and SHA-256 checked in {:.2} s",
        part.name,
        written / 1_000_000,
        report.write_seconds,
        report.write_mb_s(),
        if is_device { "" } else { ", image file" },
        report.verify_seconds
    );
    Ok(report)
}
