//! MANIFEST: the SHA-256 of every regular file of the bundle.
//!
//! The format is exactly what `sha256sum` writes and `sha256sum -c` reads
//! (`<64 lowercase hex>  <path>\n`), so a site can check an extracted bundle
//! with coreutils alone. Lines are sorted by path bytes and paths are
//! relative with `/`, which makes the file a pure function of the tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use thiserror::Error;

/// The manifest's own file name at the bundle root.
pub const MANIFEST_NAME: &str = "MANIFEST";
/// The signature of the manifest, beside it.
pub const SIGNATURE_NAME: &str = "MANIFEST.minisig";

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("{file}: line {line}: {what}")]
    Parse {
        file: String,
        line: usize,
        what: String,
    },
    #[error("{path}: {what}")]
    BadPath { path: String, what: &'static str },
    #[error("{path}: {what}; a bundle holds only regular files and directories")]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A SHA-256 digest: mk-durable's, shared with the image crates. MANIFEST
/// lines and the trusted comment hold its bare [`hex`](Sha256Digest::hex).
pub use mk_durable::Digest as Sha256Digest;

/// Path → digest, sorted by path bytes (`String`'s `Ord` is byte order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: BTreeMap<String, Sha256Digest>,
}

impl Manifest {
    /// Builds a manifest from already-known digests; checks every path.
    pub fn from_entries(
        entries: impl IntoIterator<Item = (String, Sha256Digest)>,
    ) -> Result<Self, ManifestError> {
        let mut map = BTreeMap::new();
        for (path, digest) in entries {
            check_path(&path)?;
            if is_reserved(&path) {
                return Err(ManifestError::BadPath {
                    path,
                    what: "the manifest cannot list itself or its signature",
                });
            }
            if map.insert(path.clone(), digest).is_some() {
                return Err(ManifestError::BadPath {
                    path,
                    what: "listed twice",
                });
            }
        }
        Ok(Manifest { entries: map })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, path: &str) -> Option<&Sha256Digest> {
        self.entries.get(path)
    }

    /// Entries in path byte order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Sha256Digest)> {
        self.entries.iter().map(|(p, d)| (p.as_str(), d))
    }

    /// The file's text, in `sha256sum` format.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.entries.len() * 100);
        for (path, digest) in &self.entries {
            out.push_str(&digest.hex());
            out.push_str("  ");
            out.push_str(path);
            out.push('\n');
        }
        out
    }

    /// Parses a MANIFEST. `file` names it in errors. Strict: lowercase hex,
    /// two spaces, paths sorted and unique, every line ends with `\n`, so that
    /// one tree has exactly one valid manifest.
    pub fn parse(text: &[u8], file: &str) -> Result<Self, ManifestError> {
        let err = |line: usize, what: String| ManifestError::Parse {
            file: file.to_string(),
            line,
            what,
        };
        let text = std::str::from_utf8(text).map_err(|e| {
            let line = 1 + text[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            err(line, "not valid UTF-8".into())
        })?;
        if !text.is_empty() && !text.ends_with('\n') {
            let line = text.lines().count();
            return Err(err(line, "last line does not end with a newline".into()));
        }
        let mut entries = BTreeMap::new();
        let mut previous: Option<&str> = None;
        for (index, line) in text.split_terminator('\n').enumerate() {
            let n = index + 1;
            let (hex_part, path) = line.split_once("  ").ok_or_else(|| {
                err(
                    n,
                    "expected `<sha256 hex>  <path>` (two spaces between)".into(),
                )
            })?;
            if hex_part.len() != 64
                || !hex_part
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(err(
                    n,
                    format!("expected 64 lowercase hex digits, found {hex_part:?}"),
                ));
            }
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hex_part, &mut digest).map_err(|e| err(n, e.to_string()))?;
            check_path(path).map_err(|e| err(n, e.to_string()))?;
            if is_reserved(path) {
                return Err(err(
                    n,
                    format!("{path}: the manifest cannot list itself or its signature"),
                ));
            }
            if let Some(prev) = previous {
                if path.as_bytes() <= prev.as_bytes() {
                    let what = if path == prev {
                        format!("{path} is listed twice")
                    } else {
                        format!("{path} is not sorted (comes after {prev})")
                    };
                    return Err(err(n, what));
                }
            }
            previous = Some(path);
            entries.insert(path.to_string(), Sha256Digest(digest));
        }
        Ok(Manifest { entries })
    }

    /// Hashes every regular file under `root` (both cores, via rayon),
    /// except MANIFEST and MANIFEST.minisig at the root. Symlinks and special
    /// files are refused: they would not be covered by the signature.
    pub fn build(root: &Path) -> Result<Self, ManifestError> {
        let mut files = Vec::new();
        walk(root, root, &mut files)?;
        let total: u64 = files.iter().map(|f| f.size).sum();
        tracing::info!(
            files = files.len(),
            bytes = total,
            root = %root.display(),
            "hashing staging tree for MANIFEST"
        );
        let done = AtomicU64::new(0);
        let step = (total / 10).max(1);
        let hashed: Vec<(String, Sha256Digest)> = files
            .par_iter()
            .map(|f| {
                let digest = hash_file(&f.abs)?;
                let before = done.fetch_add(f.size, Ordering::Relaxed);
                if (before + f.size) / step > before / step {
                    tracing::info!(
                        hashed_bytes = before + f.size,
                        total_bytes = total,
                        "hashing"
                    );
                }
                Ok((f.rel.clone(), digest))
            })
            .collect::<Result<_, ManifestError>>()?;
        Manifest::from_entries(hashed)
    }
}

struct FoundFile {
    rel: String,
    abs: PathBuf,
    size: u64,
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<FoundFile>) -> Result<(), ManifestError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManifestError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let abs = entry.path();
        let file_type = entry.file_type().map_err(io(&abs))?;
        let rel_path = abs.strip_prefix(root).expect("walk stays under root");
        let rel = rel_path
            .to_str()
            .ok_or_else(|| ManifestError::BadPath {
                path: rel_path.to_string_lossy().into_owned(),
                what: "file name is not valid UTF-8",
            })?
            .to_string();
        if file_type.is_dir() {
            walk(root, &abs, out)?;
        } else if file_type.is_file() {
            if is_reserved(&rel) {
                continue;
            }
            check_path(&rel)?;
            let size = entry.metadata().map_err(io(&abs))?.len();
            out.push(FoundFile { rel, abs, size });
        } else {
            let what = if file_type.is_symlink() {
                "is a symbolic link"
            } else {
                "is a special file (device, FIFO or socket)"
            };
            return Err(ManifestError::NotRegular { path: abs, what });
        }
    }
    Ok(())
}

/// SHA-256 of a file on disk.
pub fn hash_file(path: &Path) -> Result<Sha256Digest, ManifestError> {
    let (digest, _) = Sha256Digest::of_file(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(digest)
}

fn is_reserved(path: &str) -> bool {
    path == MANIFEST_NAME || path == SIGNATURE_NAME
}

/// Refuses paths that could escape the bundle root or break the line format
/// (`sha256sum` escapes `\` and newlines; we refuse them instead).
pub fn check_path(path: &str) -> Result<(), ManifestError> {
    let bad = |what| {
        Err(ManifestError::BadPath {
            path: path.escape_debug().to_string(),
            what,
        })
    };
    if path.is_empty() {
        return bad("empty path");
    }
    if path.starts_with('/') {
        return bad("absolute path; paths must be relative to the bundle root");
    }
    if path.contains('\0') {
        return bad("path contains a NUL byte");
    }
    if path.contains('\n') || path.contains('\r') {
        return bad("path contains a line break");
    }
    if path.contains('\\') {
        return bad("path contains a backslash");
    }
    for component in path.split('/') {
        match component {
            "" => return bad("path has an empty component (`//` or trailing `/`)"),
            "." => return bad("path has a `.` component"),
            ".." => return bad("path has a `..` component and could escape the bundle"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: u8) -> Sha256Digest {
        Sha256Digest([b; 32])
    }

    #[test]
    fn text_round_trips_and_is_sorted_by_bytes() {
        let m = Manifest::from_entries([
            ("repo/b.rpm".to_string(), d(2)),
            ("Z".to_string(), d(3)),
            ("repo/a.rpm".to_string(), d(1)),
            ("repo-x/c".to_string(), d(4)),
        ])
        .unwrap();
        let text = m.to_text();
        let paths: Vec<&str> = text.lines().map(|l| &l[66..]).collect();
        // '-' (0x2d) sorts before '/' (0x2f): byte order, not path-component order.
        assert_eq!(paths, ["Z", "repo-x/c", "repo/a.rpm", "repo/b.rpm"]);
        assert_eq!(Manifest::parse(text.as_bytes(), "MANIFEST").unwrap(), m);
    }

    #[test]
    fn parse_errors_name_the_line() {
        let good = format!("{}  a\n", "0".repeat(64));
        let cases: Vec<(String, usize, &str)> = vec![
            (format!("{good}{}  b", "1".repeat(64)), 2, "newline"),
            (format!("{good}{} b\n", "1".repeat(64)), 2, "two spaces"),
            (format!("{good}{}  b\n", "A".repeat(64)), 2, "lowercase hex"),
            (format!("{good}{}  a\n", "1".repeat(64)), 2, "twice"),
            (format!("{}  b\n{good}", "1".repeat(64)), 2, "not sorted"),
            (
                format!("{good}{}  ../etc/passwd\n", "1".repeat(64)),
                2,
                "..",
            ),
            (
                format!("{good}{}  /etc/passwd\n", "1".repeat(64)),
                2,
                "absolute",
            ),
            (format!("{good}{}  MANIFEST\n", "1".repeat(64)), 2, "itself"),
        ];
        for (text, line, what) in cases {
            let e = Manifest::parse(text.as_bytes(), "MANIFEST").unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("MANIFEST: line {line}: ")) && msg.contains(what),
                "{text:?} gave {msg}"
            );
        }
    }

    #[test]
    fn escaping_paths_are_refused() {
        for p in [
            "", "/a", "a/../b", "..", "a//b", "a/", "./a", "a\nb", "a\0b", "a\\b",
        ] {
            assert!(check_path(p).is_err(), "{p:?} accepted");
        }
        for p in ["a", "repo/x-1.0.rpm", "données/é", "..a", "a..b"] {
            check_path(p).unwrap();
        }
    }
}
