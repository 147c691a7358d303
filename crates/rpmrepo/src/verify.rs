//! Checking a repository's package files against what its repodata says
//! about them: present, the listed size and SHA-256, and a header and
//! payload that pass their own digests (as `rpm -K --nosignature`).
//! Repodata alone cannot tell: it describes the files as they were indexed.

use crate::header::{read_rpm_bytes, HeaderError};
use crate::package::Package;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// One thing wrong with a package file.
#[derive(Debug)]
pub enum FileProblem {
    /// No file at the location repodata gives.
    Missing,
    /// The file exists but cannot be read.
    Unreadable(std::io::Error),
    /// Shorter (or longer) than repodata's `<size package=...>`.
    Size { expected: u64, actual: u64 },
    /// SHA-256 of the file differs from repodata's checksum (pkgid).
    Checksum { expected: String, actual: String },
    /// The RPM itself is malformed or fails a header or payload digest.
    Rpm(HeaderError),
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileProblem::Missing => f.write_str("missing"),
            FileProblem::Unreadable(e) => write!(f, "unreadable: {e}"),
            FileProblem::Size { expected, actual } if actual < expected => {
                write!(f, "truncated: {actual} bytes, repodata says {expected}")
            }
            FileProblem::Size { expected, actual } => {
                write!(f, "size is {actual} bytes, repodata says {expected}")
            }
            FileProblem::Checksum { expected, actual } => write!(
                f,
                "checksum mismatch: SHA-256 is {actual}, repodata says {expected}"
            ),
            FileProblem::Rpm(e) => write!(f, "{}", rpm_problem(e)),
        }
    }
}

/// The header error without its leading file name (the caller names the
/// package once).
fn rpm_problem(e: &HeaderError) -> String {
    let text = e.to_string();
    let file = e.file();
    text.strip_prefix(&file)
        .and_then(|t| t.strip_prefix(": "))
        .map(str::to_string)
        .unwrap_or(text)
}

/// Checks the file of `pkg` (its `location` below `repo_root`) against `pkg`
/// as repodata describes it. Empty when the file is sound; every problem
/// found otherwise (a flipped payload byte is both a checksum mismatch and a
/// payload digest mismatch).
pub fn verify_package_file(repo_root: &Path, pkg: &Package) -> Vec<FileProblem> {
    let path = repo_root.join(&pkg.location);
    match std::fs::read(&path) {
        Ok(bytes) => verify_package_bytes(&bytes, pkg),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![FileProblem::Missing],
        Err(e) => vec![FileProblem::Unreadable(e)],
    }
}

/// [`verify_package_file`] on a file's content already in memory.
pub fn verify_package_bytes(bytes: &[u8], pkg: &Package) -> Vec<FileProblem> {
    let mut problems = Vec::new();
    let actual = bytes.len() as u64;
    if pkg.size_package != 0 && pkg.size_package != actual {
        problems.push(FileProblem::Size {
            expected: pkg.size_package,
            actual,
        });
    }
    let sha256 = match read_rpm_bytes(bytes, &pkg.location) {
        // The header reader hashes the whole file already.
        Ok(read) => read.checksum,
        Err(e) => {
            problems.push(FileProblem::Rpm(e));
            hex::encode(Sha256::digest(bytes))
        }
    };
    if !sha256.eq_ignore_ascii_case(&pkg.checksum) {
        problems.push(FileProblem::Checksum {
            expected: pkg.checksum.clone(),
            actual: sha256,
        });
    }
    problems
}
