//! createrepo-compatible repository metadata (`repodata/`): writing it for a
//! set of packages, and reading it back (ours, createrepo's, or a mirror's).
//!
//! Layout written, as `createrepo_c --no-database` does it:
//! `repodata/repomd.xml` pointing at `<sha256>-primary.xml.gz`,
//! `<sha256>-filelists.xml.gz` and `<sha256>-other.xml.gz`.
//!
//! Output is a pure function of the packages and [`WriteOptions`]: packages
//! are sorted, the gzip header carries no time, and the repomd timestamps come
//! from the caller (SOURCE_DATE_EPOCH), so the same input gives the same bytes.

mod compression;
mod parse;
mod read;
mod write;
mod xml;

use std::path::PathBuf;

pub use parse::{
    parse_filelists, parse_other, parse_primary, parse_repomd, FilelistsPackage, OtherPackage,
    RepomdData, RepomdRecord, XmlError,
};
pub use read::{read_group, read_repodata};
pub use write::{is_primary_file, primary_requires, render_repodata, write_repodata, Rendered};

/// How [`write_repodata`] writes metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Written as repomd's `<revision>` and every `<timestamp>`: pass
    /// SOURCE_DATE_EPOCH for reproducible output.
    pub timestamp: u64,
    /// Newest changelog entries per package kept in other.xml (createrepo_c's
    /// `--changelog-limit`, default 10).
    pub changelog_limit: usize,
    /// gzip level 0-9 (6 is gzip's and createrepo_c's default).
    pub compression_level: u32,
    /// comps.xml content, written as `createrepo_c -g` does: a plain `group`
    /// record and a gzipped `group_gz` one, so that dnf sees `@groups`.
    pub comps: Option<String>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            timestamp: 0,
            changelog_limit: 10,
            compression_level: 6,
            comps: None,
        }
    }
}

impl WriteOptions {
    pub fn with_timestamp(timestamp: u64) -> Self {
        WriteOptions {
            timestamp,
            ..WriteOptions::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RepodataError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", path.display())]
    Xml { path: PathBuf, source: XmlError },
    #[error("{}: {kind} checksum mismatch: repomd.xml says {expected}, the file has {actual}", path.display())]
    ChecksumMismatch {
        path: PathBuf,
        /// `sha256` for the file as stored, `open sha256` for its
        /// decompressed content.
        kind: String,
        expected: String,
        actual: String,
    },
    #[error("{}: unsupported checksum type {kind:?} (expected sha256, sha1 or sha512)", path.display())]
    UnsupportedChecksum { path: PathBuf, kind: String },
    #[error("{}: size mismatch: repomd.xml says {expected} bytes, the file has {actual}", path.display())]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("{}: cannot decompress as {format}", path.display())]
    Decompress {
        path: PathBuf,
        format: &'static str,
        source: std::io::Error,
    },
    #[error("{}: unsupported compression (expected gzip, xz, zstd or plain XML)", path.display())]
    UnsupportedCompression { path: PathBuf },
    #[error("{}: no <data type=\"{kind}\"> record", path.display())]
    MissingRecord { path: PathBuf, kind: &'static str },
    #[error("{}: location href {href:?} leaves the repository", path.display())]
    BadHref { path: PathBuf, href: String },
    #[error("{}: package with pkgid {pkgid} ({name}) is not in primary", path.display())]
    UnknownPackage {
        path: PathBuf,
        pkgid: String,
        name: String,
    },
    #[error("{}: no entry for package {package} (pkgid {pkgid}), which primary lists", path.display())]
    NotInFilelists {
        path: PathBuf,
        package: String,
        pkgid: String,
    },
    #[error("package {package}: {field} contains control character U+{code:04X}, which XML 1.0 cannot carry")]
    ControlChar {
        package: String,
        field: &'static str,
        code: u32,
    },
    #[error("{}: not a directory", path.display())]
    NotADirectory { path: PathBuf },
}

impl RepodataError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> RepodataError {
        let path = path.to_path_buf();
        move |source| RepodataError::Io { path, source }
    }
}
