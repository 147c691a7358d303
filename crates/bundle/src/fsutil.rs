//! Atomic file writes: a temporary file in the target's directory, fsync,
//! rename, fsync of the directory. A crash or error never leaves a
//! half-written target; the temporary file is removed when dropped.

use std::io::{self, Write};
use std::path::Path;

use tempfile::NamedTempFile;

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// An empty hidden temporary file in `target`'s directory.
pub(crate) fn temp_beside(target: &Path) -> io::Result<NamedTempFile> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(parent(target))
}

/// fsync, then rename over `target` (replacing it), then fsync the directory.
pub(crate) fn persist(tmp: NamedTempFile, target: &Path) -> io::Result<()> {
    // xorriso wrote through its own descriptor: reopen to sync its data.
    std::fs::File::open(tmp.path())?.sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    sync_dir(parent(target))
}

/// Like `persist` but fails if `target` exists (no overwrite, no race).
pub(crate) fn persist_new(tmp: NamedTempFile, target: &Path) -> io::Result<()> {
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(target).map_err(|e| e.error)?;
    sync_dir(parent(target))
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `data` to `target` atomically, replacing it.
pub fn write_atomic(target: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = temp_beside(target)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    sync_dir(parent(target))
}

/// Writes `data` to a new file `target` with `mode`, atomically; fails with
/// `AlreadyExists` rather than replacing an existing file.
pub fn write_new(target: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = temp_beside(target)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(data)?;
    persist_new(tmp, target)
}
