//! Durable file writes, shared by every crate that writes outputs: a
//! temporary file in the target's directory, fsync, rename, fsync of the
//! directory. A crash or error never leaves a half-written target; the
//! temporary file is removed when dropped. Also SHA-256 ([`digest`]),
//! which the same outputs are checked and reported with.

pub mod digest;

use std::io::{self, Write};
use std::path::Path;

use tempfile::NamedTempFile;

pub use digest::{copy_hashed, BadDigest, CopyError, Digest, HashingReader, HashingWriter};

/// The directory a path lives in (`.` for a bare file name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// An empty hidden temporary file in `target`'s directory.
pub fn temp_beside(target: &Path) -> io::Result<NamedTempFile> {
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
pub fn persist(tmp: NamedTempFile, target: &Path) -> io::Result<()> {
    // xorriso wrote through its own descriptor: reopen to sync its data.
    std::fs::File::open(tmp.path())?.sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    sync_dir(parent(target))
}

/// Like `persist` but fails if `target` exists (no overwrite, no race).
pub fn persist_new(tmp: NamedTempFile, target: &Path) -> io::Result<()> {
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(target).map_err(|e| e.error)?;
    sync_dir(parent(target))
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
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

/// Like [`write_atomic`], with the file's permissions set to `mode` (the
/// temporary file starts as 0600).
pub fn write_atomic_mode(target: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = temp_beside(target)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(data)?;
    persist(tmp, target)
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

/// A symbolic link to `target` under a hidden temporary name beside `link`
/// (`.NAME.XXXXXX.tmp`, as [`temp_beside`] names files), removed when
/// dropped unless persisted over `link`.
pub fn symlink_beside(link: &Path, target: &Path) -> io::Result<NamedTempFile<()>> {
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .rand_bytes(6)
        .make_in(parent(link), |p| std::os::unix::fs::symlink(target, p))
}

/// Replaces whatever is at `link` by a symbolic link to `target` in one
/// step: made beside it, renamed over it, then the directory fsynced.
pub fn symlink_atomic(target: &Path, link: &Path) -> io::Result<()> {
    symlink_beside(link, target)?
        .persist(link)
        .map_err(|e| e.error)?;
    sync_dir(parent(link))
}

/// Lower-case hex SHA-256 of a file's content.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    Ok(Digest::of_file(path)?.0.hex())
}

/// Swaps directory `new` with the existing directory `target` in one step
/// (renameat2 RENAME_EXCHANGE), so that readers see the old tree or the new
/// one, never a mix. Afterwards `new` holds the old tree, for the caller to
/// remove. Where the filesystem cannot exchange, three renames: a moment
/// without `target`, never a half-written one.
pub fn exchange_dirs(new: &Path, target: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, new, CWD, target, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            let aside = tempfile::Builder::new()
                .prefix(".old-")
                .tempdir_in(parent(target))?;
            let old = aside.path().join("old");
            std::fs::rename(target, &old)?;
            std::fs::rename(new, target)?;
            std::fs::rename(&old, new)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_and_new_writes_refuse_to() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic_mode(&p, b"two", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        let e = write_new(&p, b"three", 0o600).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        // Only the target: no temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn symlinks_replace_files_and_links_in_one_step() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("current");
        std::fs::write(&link, b"a file in the way").unwrap();
        symlink_atomic(Path::new("/x/one"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/x/one"));
        symlink_atomic(Path::new("/x/two"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/x/two"));
        // Only the link: no temporary links left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn exchange_swaps_two_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (new, target) = (dir.path().join("new"), dir.path().join("target"));
        std::fs::create_dir(&new).unwrap();
        std::fs::create_dir(&target).unwrap();
        std::fs::write(new.join("n"), b"new").unwrap();
        std::fs::write(target.join("o"), b"old").unwrap();
        exchange_dirs(&new, &target).unwrap();
        assert_eq!(std::fs::read(target.join("n")).unwrap(), b"new");
        assert!(!target.join("o").exists());
        assert_eq!(std::fs::read(new.join("o")).unwrap(), b"old");
        // No missing target: that is a plain rename, not an exchange.
        let e = exchange_dirs(&new, &dir.path().join("absent")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn sha256_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_file(&dir.path().join("missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
