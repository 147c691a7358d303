//! Writing the ISO with `xorriso -as mkisofs` (Rock Ridge + Joliet).
//!
//! Why xorriso: measured here to give identical bytes run to run with
//! SOURCE_DATE_EPOCH (DESIGN §4); the one Rust writer is a release
//! candidate. Reproducibility needs, beyond the environment variable
//! (which only fixes volume dates, the volume UUID and atime/ctime):
//! `--set_all_file_dates =EPOCH`, or each file's mtime leaks into the image;
//! `-r`, or the builder's uid/gid and umask leak; `-no_rc`, so no startup file
//! changes the options; explicit charsets, so the locale does not; and a
//! sort weight per file in path order (`--sort-weight-list`): an explicit
//! data layout instead of libisofs's own, which was seen to differ between
//! two builds of the installer ISO (whose boot images xorriso adds).

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum IsoWriteError {
    #[error("volume label {0:?}: expected 1 to 32 characters from A-Z, a-z, 0-9, `_`, `-`, `.`")]
    BadLabel(String),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run xorriso (install the `xorriso` package): {0}")]
    NoXorriso(std::io::Error),
    #[error("xorriso failed writing {out} ({status}):\n{stderr}")]
    Xorriso {
        out: PathBuf,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IsoOptions {
    /// ISO volume ID (max 32 characters).
    pub volume_label: String,
    /// Every timestamp in the image (seconds since 1970, UTC).
    pub source_date_epoch: u64,
    /// More `xorriso -as mkisofs` options, before the tree: El Torito boot
    /// images and hybrid MBR for a bootable ISO (`mk-compose installer`).
    pub boot: Vec<OsString>,
}

/// The files below `dir` ("a/b"), for the sort weights.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type()?.is_dir() {
            list_files(&e.path(), &format!("{name}/"), out)?;
        } else {
            out.push(name);
        }
    }
    Ok(())
}

/// `--sort-weight-list`'s file: the highest weight first, in path order.
fn sort_weights(tree: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut files = Vec::new();
    list_files(tree, "", &mut files)?;
    files.sort();
    let mut f = tempfile::NamedTempFile::new()?;
    for (i, name) in files.iter().enumerate() {
        writeln!(f, "{} /{name}", files.len() - i)?;
    }
    f.flush()?;
    Ok(f)
}

pub(crate) fn check_label(label: &str) -> Result<(), IsoWriteError> {
    let ok = !label.is_empty()
        && label.len() <= 32
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(IsoWriteError::BadLabel(label.to_string()))
    }
}

/// Writes the directory `tree` as an ISO image at `out`, atomically: into a
/// temporary file beside `out`, fsync, rename. On error nothing is left.
pub fn write(tree: &Path, out: &Path, opts: &IsoOptions) -> Result<(), IsoWriteError> {
    check_label(&opts.volume_label)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IsoWriteError::Io { path, source }
    };
    // Absolute, so that a tree named like an option cannot be taken for one.
    let tree = std::fs::canonicalize(tree).map_err(io(tree))?;
    if !tree.is_dir() {
        return Err(IsoWriteError::Io {
            path: tree,
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let weights = sort_weights(&tree).map_err(io(&tree))?;
    let tmp = mk_durable::temp_beside(out).map_err(io(out))?;
    let epoch = opts.source_date_epoch.to_string();
    tracing::info!(tree = %tree.display(), out = %out.display(), label = %opts.volume_label, "writing ISO with xorriso");
    let output = Command::new("xorriso")
        .arg("-no_rc")
        .args(["-as", "mkisofs", "-quiet"])
        .arg("-o")
        .arg(tmp.path())
        .args(["-V", &opts.volume_label])
        .args(["-r", "-J", "-joliet-long", "-iso-level", "3"])
        .args(["-input-charset", "UTF-8", "-output-charset", "UTF-8"])
        .args(["--set_all_file_dates", &format!("={epoch}")])
        .args(&opts.boot)
        .arg("--sort-weight-list")
        .arg(weights.path())
        .arg(&tree)
        .env("SOURCE_DATE_EPOCH", &epoch)
        .output()
        .map_err(IsoWriteError::NoXorriso)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(IsoWriteError::Xorriso {
            out: out.to_path_buf(),
            status: output.status,
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    tracing::debug!(%stderr, "xorriso messages");
    mk_durable::persist(tmp, out).map_err(io(out))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        check_label("MK_1.0-x").unwrap();
        for bad in ["", "has space", &"A".repeat(33), "é"] {
            assert!(check_label(bad).is_err(), "{bad:?}");
        }
    }
}
