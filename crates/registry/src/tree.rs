//! Writing a [`Plan`] as a directory tree: built in a temporary directory
//! beside the target, every file synced, then swapped in whole (the target
//! is either the old tree or the new one, never a mix). Blobs are copied
//! with their SHA-256 and size checked on the way.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::plan::{Content, Plan};

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: content hashes to sha256:{got}, not sha256:{want} as its manifest says: the layout is corrupt", path.display())]
    DigestMismatch {
        path: PathBuf,
        want: String,
        got: String,
    },
    #[error("{}: is {got} bytes, but its manifest says {want}", path.display())]
    SizeMismatch { path: PathBuf, want: u64, got: u64 },
    #[error("{}: exists and is not a directory", path.display())]
    NotADirectory { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Counts for the log and the caller's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub files: usize,
    pub blobs: usize,
    pub blob_bytes: u64,
}

/// Writes `plan` as the tree `target`, replacing whatever directory is there.
pub fn write(plan: &Plan, target: &Path) -> Result<Written, TreeError> {
    let parent = mk_durable::parent(target);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "registry".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let root = staging.path();
    set_mode(root, 0o755)?;
    let files = plan.files();
    let mut written = Written::default();
    let total_blobs = plan.blobs.len();
    for (rel, content) in &files {
        let path = root.join(rel);
        let dir = path.parent().expect("a file in the tree");
        make_dirs(root, dir)?;
        match content {
            Content::Bytes(b) => {
                let mut f = fs::File::create(&path).map_err(io(&path))?;
                f.write_all(b).map_err(io(&path))?;
                f.sync_all().map_err(io(&path))?;
            }
            Content::Copy { from, hex, size } => {
                copy_checked(from, &path, hex, *size)?;
                written.blobs += 1;
                written.blob_bytes += size;
                tracing::debug!(blob = hex, size, "copied");
                if written.blobs % 20 == 0 {
                    tracing::info!("{}/{total_blobs} blobs copied", written.blobs);
                }
            }
        }
        set_mode(&path, 0o644)?;
        written.files += 1;
    }
    sync_tree(root)?;
    match fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => {
            mk_durable::exchange_dirs(root, target).map_err(io(target))?;
            // `staging` now holds the old tree; dropping it removes it.
        }
        Ok(_) => {
            return Err(TreeError::NotADirectory {
                path: target.to_path_buf(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::rename(root, target).map_err(io(target))?;
            let _ = staging.keep();
        }
        Err(e) => return Err(io(target)(e)),
    }
    mk_durable::sync_dir(parent).map_err(io(parent))?;
    Ok(written)
}

/// Creates `dir` and its missing parents below `root`, mode 0755 whatever
/// the umask (the tree is served to everyone).
fn make_dirs(root: &Path, dir: &Path) -> Result<(), TreeError> {
    if dir == root || dir.is_dir() {
        return Ok(());
    }
    make_dirs(root, dir.parent().expect("below root"))?;
    fs::create_dir(dir).map_err(io(dir))?;
    set_mode(dir, 0o755)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), TreeError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))
}

fn copy_checked(from: &Path, to: &Path, hex: &str, size: u64) -> Result<(), TreeError> {
    let input = fs::File::open(from).map_err(io(from))?;
    let mut output = fs::File::create(to).map_err(io(to))?;
    let (digest, n_total) = mk_durable::copy_hashed(input, &mut output).map_err(|e| match e {
        mk_durable::CopyError::Read(e) => io(from)(e),
        mk_durable::CopyError::Write(e) => io(to)(e),
    })?;
    if n_total != size {
        return Err(TreeError::SizeMismatch {
            path: from.to_path_buf(),
            want: size,
            got: n_total,
        });
    }
    let got = digest.hex();
    if got != hex {
        return Err(TreeError::DigestMismatch {
            path: from.to_path_buf(),
            want: hex.to_string(),
            got,
        });
    }
    output.sync_all().map_err(io(to))
}

/// fsync every directory of the tree (files were synced as written).
fn sync_tree(dir: &Path) -> Result<(), TreeError> {
    for e in fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        if e.file_type().map_err(io(dir))?.is_dir() {
            sync_tree(&e.path())?;
        }
    }
    mk_durable::sync_dir(dir).map_err(io(dir))
}
