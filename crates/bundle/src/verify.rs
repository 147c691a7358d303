//! `verify`: check a bundle ISO against a trusted key, reading the image
//! directly. Order matters: the signature is checked first (nothing in an
//! unsigned manifest is worth comparing), then every file is hashed straight
//! out of the image on all cores and compared; all problems are collected.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use thiserror::Error;

use crate::iso::{self, EntryKind, FileSource, IsoEntry, IsoError, IsoImage};
use crate::manifest::{Manifest, ManifestError, Sha256Digest, MANIFEST_NAME, SIGNATURE_NAME};
use crate::sign::{KeyId, PublicKey, SignError, Signature};
use crate::TrustedComment;

/// Per-thread read size: large sequential preads.
const READ_CHUNK: usize = 4 << 20;
/// MANIFEST and its signature are read whole: refuse absurd sizes.
const MAX_MANIFEST_BYTES: u64 = 256 << 20;
const MAX_SIGNATURE_BYTES: u64 = 64 << 10;

#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("{iso}")]
    Open {
        iso: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{iso}")]
    Iso {
        iso: PathBuf,
        #[source]
        source: IsoError,
    },
    #[error("{iso}: {name} is missing at the root of the bundle (not a signed mk bundle)")]
    NotSigned { iso: PathBuf, name: &'static str },
    #[error(transparent)]
    Signature(#[from] SignError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "{iso}: MANIFEST.minisig: the trusted comment names manifest sha256 {claimed}, \
         but MANIFEST has sha256 {}", actual.hex()
    )]
    CommentMismatch {
        iso: PathBuf,
        claimed: String,
        actual: Sha256Digest,
    },
    #[error("{iso}: {} problem(s) in {checked} file(s):\n{}", problems.len(), list(problems))]
    Files {
        iso: PathBuf,
        checked: usize,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One thing wrong with one file of the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Changed {
        path: String,
        expected: Sha256Digest,
        actual: Sha256Digest,
    },
    Missing {
        path: String,
    },
    Extra {
        path: String,
    },
    NotRegular {
        path: String,
        kind: EntryKind,
        listed: bool,
    },
    Unreadable {
        path: String,
        error: String,
    },
}

impl Problem {
    pub fn path(&self) -> &str {
        match self {
            Problem::Changed { path, .. }
            | Problem::Missing { path }
            | Problem::Extra { path }
            | Problem::NotRegular { path, .. }
            | Problem::Unreadable { path, .. } => path,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Changed {
                path,
                expected,
                actual,
            } => write!(
                f,
                "changed: {path}: sha256 is {}, MANIFEST says {}",
                actual.hex(),
                expected.hex()
            ),
            Problem::Missing { path } => {
                write!(
                    f,
                    "missing: {path}: listed in MANIFEST, absent from the image"
                )
            }
            Problem::Extra { path } => {
                write!(f, "extra: {path}: in the image but not in MANIFEST")
            }
            Problem::NotRegular { path, kind, listed } => {
                let kind = match kind {
                    EntryKind::Directory => "a directory",
                    EntryKind::Symlink => "a symbolic link",
                    EntryKind::Other => "a device, FIFO or socket",
                    EntryKind::File => "a file",
                };
                if *listed {
                    write!(
                        f,
                        "not a file: {path}: MANIFEST lists a file, the image has {kind}"
                    )
                } else {
                    write!(f, "extra: {path}: {kind}, which a bundle must not contain")
                }
            }
            Problem::Unreadable { path, error } => write!(f, "unreadable: {path}: {error}"),
        }
    }
}

/// What a successful verification checked.
#[derive(Clone, Debug)]
pub struct Report {
    pub iso: PathBuf,
    pub key_id: KeyId,
    pub trusted_comment: String,
    pub files: usize,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Report {
    pub fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Checks the bundle at `iso_path`: MANIFEST.minisig against `trusted`,
/// then every file against MANIFEST. Any changed, missing or extra file is
/// an error listing all of them.
pub fn verify(iso_path: &Path, trusted: &PublicKey) -> Result<Report, VerifyError> {
    let started = Instant::now();
    let iso_err = |source| VerifyError::Iso {
        iso: iso_path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(iso_path).map_err(|source| VerifyError::Open {
        iso: iso_path.to_path_buf(),
        source,
    })?;
    let image = iso::open_file(file).map_err(iso_err)?;
    let entries = image.list().map_err(iso_err)?;
    tracing::info!(iso = %iso_path.display(), entries = entries.len(), names = ?image.name_source(), "listed image");

    let by_path: HashMap<&str, &IsoEntry> = entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let read_root_file = |name: &'static str, limit: u64| -> Result<Vec<u8>, VerifyError> {
        match by_path.get(name) {
            Some(e) if e.kind == EntryKind::File => image.read_file(e, limit).map_err(iso_err),
            _ => Err(VerifyError::NotSigned {
                iso: iso_path.to_path_buf(),
                name,
            }),
        }
    };
    let manifest_bytes = read_root_file(MANIFEST_NAME, MAX_MANIFEST_BYTES)?;
    let sig_bytes = read_root_file(SIGNATURE_NAME, MAX_SIGNATURE_BYTES)?;

    let sig_file = format!("{}: {SIGNATURE_NAME}", iso_path.display());
    let manifest_file = format!("{}: {MANIFEST_NAME}", iso_path.display());
    let signature = Signature::parse(&sig_bytes, &sig_file)?;
    signature.verify(trusted, &manifest_bytes, &sig_file, MANIFEST_NAME, None)?;
    let manifest_digest = Sha256Digest::of(&manifest_bytes);
    // Our own signatures also name the manifest's digest; a mismatch means
    // the comment was made for another manifest.
    if let Some(claimed) = TrustedComment::parse(signature.trusted_comment()).manifest_sha256 {
        if claimed != manifest_digest.hex() {
            return Err(VerifyError::CommentMismatch {
                iso: iso_path.to_path_buf(),
                claimed,
                actual: manifest_digest,
            });
        }
    }
    tracing::info!(key_id = %signature.key_id(), trusted_comment = signature.trusted_comment(), "signature verified");
    let manifest = Manifest::parse(&manifest_bytes, &manifest_file)?;

    let (to_hash, mut problems) = compare_listing(&manifest, &entries);
    let total: u64 = to_hash.iter().map(|(e, _)| e.size).sum();
    tracing::info!(
        files = to_hash.len(),
        bytes = total,
        "hashing files out of the image"
    );
    problems.extend(hash_all(&image, &to_hash, total));
    problems.sort_by(|a, b| a.path().as_bytes().cmp(b.path().as_bytes()));
    if !problems.is_empty() {
        return Err(VerifyError::Files {
            iso: iso_path.to_path_buf(),
            checked: manifest.len(),
            problems,
        });
    }
    Ok(Report {
        iso: iso_path.to_path_buf(),
        key_id: signature.key_id(),
        trusted_comment: signature.trusted_comment().to_string(),
        files: manifest.len(),
        bytes: total,
        elapsed: started.elapsed(),
    })
}

/// Pure comparison of the manifest with the image's listing: the files to
/// hash (with their expected digest) and the problems found by name alone.
pub fn compare_listing<'a>(
    manifest: &Manifest,
    entries: &'a [IsoEntry],
) -> (Vec<(&'a IsoEntry, Sha256Digest)>, Vec<Problem>) {
    let mut to_hash = Vec::new();
    let mut problems = Vec::new();
    let mut present: HashMap<&str, &IsoEntry> = HashMap::new();
    for e in entries {
        present.insert(&e.path, e);
        if e.kind == EntryKind::Directory || e.path == MANIFEST_NAME || e.path == SIGNATURE_NAME {
            continue;
        }
        let listed = manifest.get(&e.path).is_some();
        if e.kind != EntryKind::File {
            problems.push(Problem::NotRegular {
                path: e.path.clone(),
                kind: e.kind,
                listed,
            });
        } else if !listed {
            problems.push(Problem::Extra {
                path: e.path.clone(),
            });
        }
    }
    for (path, digest) in manifest.iter() {
        match present.get(path) {
            None => problems.push(Problem::Missing {
                path: path.to_string(),
            }),
            Some(e) if e.kind == EntryKind::File => to_hash.push((*e, *digest)),
            Some(e) if e.kind == EntryKind::Directory => problems.push(Problem::NotRegular {
                path: path.to_string(),
                kind: e.kind,
                listed: true,
            }),
            // Symlinks and devices were reported above.
            Some(_) => {}
        }
    }
    (to_hash, problems)
}

/// Hashes the files on all cores, biggest first so that one large file
/// does not end up alone at the tail.
fn hash_all<R: iso::ReadAt>(
    image: &IsoImage<R>,
    files: &[(&IsoEntry, Sha256Digest)],
    total: u64,
) -> Vec<Problem> {
    let mut order: Vec<&(&IsoEntry, Sha256Digest)> = files.iter().collect();
    order.sort_by_key(|e| std::cmp::Reverse(e.0.size));
    let done = AtomicU64::new(0);
    let step = (total / 10).max(1);
    order
        .par_iter()
        .map_init(
            || vec![0u8; READ_CHUNK],
            |buf, (entry, expected)| {
                let mut hasher = mk_durable::HashingWriter::new(std::io::sink());
                // A sink cannot fail: the only errors are reading the image.
                let result = image.for_each_chunk(entry, buf, |c| {
                    let _ = std::io::Write::write_all(&mut hasher, c);
                });
                let before = done.fetch_add(entry.size, Ordering::Relaxed);
                if (before + entry.size) / step > before / step {
                    tracing::info!(
                        hashed_bytes = before + entry.size,
                        total_bytes = total,
                        "verifying"
                    );
                }
                match result {
                    Err(e) => Some(Problem::Unreadable {
                        path: entry.path.clone(),
                        error: e.to_string(),
                    }),
                    Ok(()) => {
                        let (actual, _) = hasher.finish();
                        (actual != *expected).then(|| Problem::Changed {
                            path: entry.path.clone(),
                            expected: *expected,
                            actual,
                        })
                    }
                }
            },
        )
        .flatten()
        .collect()
}

/// Convenience for tests and tools: open and list an image file.
pub fn list_image(iso_path: &Path) -> Result<Vec<IsoEntry>, VerifyError> {
    let iso_err = |source| VerifyError::Iso {
        iso: iso_path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(iso_path).map_err(|source| VerifyError::Open {
        iso: iso_path.to_path_buf(),
        source,
    })?;
    let image: IsoImage<FileSource> = iso::open_file(file).map_err(iso_err)?;
    image.list().map_err(iso_err)
}
