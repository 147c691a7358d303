//! Writing without half-written results: files go to a temporary file in the
//! same directory, are fsynced and renamed; directory trees are built beside
//! their target and renamed in at the end.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {op}: {error}")]
pub struct FsError {
    pub path: String,
    pub op: &'static str,
    pub error: std::io::Error,
}

fn err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> FsError + 'a {
    move |error| FsError {
        path: path.display().to_string(),
        op,
        error,
    }
}

pub fn read_to_string(path: &Path) -> Result<String, FsError> {
    fs::read_to_string(path).map_err(err(path, "read"))
}

fn tmp_name(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique: u64 = crate::entropy::bytes::<8>()
        .map(u64::from_ne_bytes)
        .unwrap_or(0);
    path.with_file_name(format!(
        ".{name}.{tag}-{}-{unique:016x}",
        std::process::id()
    ))
}

/// Write `data` to a temporary file beside `path` with `mode`, fsync it, and
/// return the temporary path (to rename with [`commit`]).
pub fn stage(path: &Path, data: &[u8], mode: u32) -> Result<PathBuf, FsError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err(dir, "create directory"))?;
    let tmp = tmp_name(path, "tmp");
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed `mode`; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(err(&tmp, "write")(e));
    }
    Ok(tmp)
}

/// Rename staged files into place, then fsync their directories.
pub fn commit(staged: &[(PathBuf, PathBuf)]) -> Result<(), FsError> {
    for (tmp, path) in staged {
        fs::rename(tmp, path).map_err(err(path, "rename into place"))?;
    }
    let mut dirs: Vec<&Path> = staged
        .iter()
        .map(|(_, p)| match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        mk_durable::sync_dir(d).map_err(err(d, "fsync directory"))?;
    }
    Ok(())
}

/// Remove staged files after a failure.
pub fn discard(staged: &[(PathBuf, PathBuf)]) {
    for (tmp, _) in staged {
        let _ = fs::remove_file(tmp);
    }
}

/// Atomically replace one file.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), FsError> {
    let tmp = stage(path, data, mode)?;
    commit(&[(tmp, path.to_path_buf())])
}

/// Atomically replace several files: all are staged first, so a failure
/// while writing leaves every old file in place.
pub fn write_all_atomic(files: &[(PathBuf, Vec<u8>, u32)]) -> Result<(), FsError> {
    let mut staged = Vec::new();
    for (path, data, mode) in files {
        match stage(path, data, *mode) {
            Ok(tmp) => staged.push((tmp, path.clone())),
            Err(e) => {
                discard(&staged);
                return Err(e);
            }
        }
    }
    commit(&staged)
}

/// Like [`write_all_atomic`], but a file that already exists keeps its
/// owner and mode (the given mode applies to new files only). Renewal
/// replaces keys that first boot gave to a service account (etcd,
/// kube-apiserver, ...): a root-owned replacement would lock the service
/// out of its own key.
pub fn replace_all_atomic(files: &[(PathBuf, Vec<u8>, u32)]) -> Result<(), FsError> {
    use std::os::unix::fs::MetadataExt;
    let mut staged = Vec::new();
    for (path, data, mode) in files {
        let existing = fs::metadata(path).ok();
        let mode = existing.as_ref().map_or(*mode, |m| m.mode() & 0o7777);
        let result = stage(path, data, mode).and_then(|tmp| {
            if let Some(m) = &existing {
                if let Err(e) = std::os::unix::fs::chown(&tmp, Some(m.uid()), Some(m.gid())) {
                    let _ = fs::remove_file(&tmp);
                    return Err(err(&tmp, "set owner")(e));
                }
            }
            Ok(tmp)
        });
        match result {
            Ok(tmp) => staged.push((tmp, path.clone())),
            Err(e) => {
                discard(&staged);
                return Err(e);
            }
        }
    }
    commit(&staged)
}

/// Build a directory tree beside `target` and rename it into place. An
/// existing `target` is replaced as a whole.
pub fn write_tree(target: &Path, files: &[(PathBuf, Vec<u8>, u32)]) -> Result<(), FsError> {
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(err(parent, "create directory"))?;
    let tmp = tmp_name(target, "new");
    let build = || -> Result<(), FsError> {
        fs::create_dir(&tmp).map_err(err(&tmp, "create directory"))?;
        for (rel, data, mode) in files {
            let p = tmp.join(rel);
            write_atomic(&p, data, *mode)?;
        }
        Ok(())
    };
    if let Err(e) = build() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = tmp_name(target, "old");
    let had_old = target.exists();
    if had_old {
        fs::rename(target, &old).map_err(err(target, "move old tree aside"))?;
    }
    if let Err(e) = fs::rename(&tmp, target) {
        if had_old {
            let _ = fs::rename(&old, target);
        }
        let _ = fs::remove_dir_all(&tmp);
        return Err(err(target, "rename new tree into place")(e));
    }
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    mk_durable::sync_dir(parent).map_err(err(parent, "fsync directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_replaces_whole_and_sets_modes() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("out");
        write_tree(&t, &[("a/b.key".into(), b"k".to_vec(), 0o600)]).unwrap();
        write_tree(&t, &[("c.crt".into(), b"c".to_vec(), 0o644)]).unwrap();
        assert!(!t.join("a/b.key").exists());
        let m = fs::metadata(t.join("c.crt")).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o644);
        // Nothing left beside it.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
