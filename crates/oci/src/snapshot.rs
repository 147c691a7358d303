//! Snapshots of a directory tree and the difference between two of them:
//! what a new layer must contain.
//!
//! Comparison is by type, permission bits, owner and content (SHA-256) or
//! link target; mtimes are recorded but do not make a change on their own
//! (layers clamp them to SOURCE_DATE_EPOCH anyway, and a package manager
//! rewriting an identical file should not grow the layer).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tracing::{debug, info};

use crate::digest::Digest;
use crate::error::{io_err, Error, Result};

/// What one path in a tree is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File { size: u64, sha256: Digest },
    Symlink { target: PathBuf },
    Fifo,
    CharDevice { major: u32, minor: u32 },
    BlockDevice { major: u32, minor: u32 },
}

/// One path's type and metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch (informational: not compared by `diff`).
    pub mtime: i64,
    /// Extended attributes layers carry ([`CARRIED_XATTRS`]), regular files only.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// The extended attributes layers carry (as PAX `SCHILY.xattr.NAME`
/// records): file capabilities, which `rpm` sets for `%caps` files.
/// `security.selinux` is left out: containers get their label from the
/// host's policy at run time.
pub const CARRIED_XATTRS: &[&str] = &["security.capability"];

/// The [`CARRIED_XATTRS`] a path has (not following symlinks).
pub fn read_xattrs(path: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut buf = [0u8; 4096];
    for name in CARRIED_XATTRS {
        match rustix::fs::lgetxattr(path, *name, &mut buf) {
            Ok(n) => {
                out.insert(name.to_string(), buf[..n].to_vec());
            }
            Err(e) if e == rustix::io::Errno::NODATA || e == rustix::io::Errno::NOTSUP => {}
            Err(e) => return Err(io_err("cannot read extended attributes of", path)(e.into())),
        }
    }
    Ok(out)
}

impl Entry {
    /// Whether `self` and `other` differ in anything a layer records
    /// (everything but mtime).
    pub fn differs(&self, other: &Entry) -> bool {
        self.kind != other.kind
            || self.mode != other.mode
            || self.uid != other.uid
            || self.gid != other.gid
    }
}

/// Every path under a root (relative paths, the root itself excluded),
/// sorted component-wise so parents come before their children. Sockets
/// are left out (tar cannot carry them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeSnapshot {
    pub entries: BTreeMap<PathBuf, Entry>,
}

/// How a path differs between two snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    /// Content, metadata or type changed (a type change replaces the path).
    Modified,
    /// Gone: becomes a whiteout (`.wh.NAME`) in the layer.
    Deleted,
}

/// One changed path (relative to the root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    pub kind: ChangeKind,
}

impl TreeSnapshot {
    /// Walks `root` without following symlinks and hashes every regular file.
    pub fn scan(root: &Path) -> Result<TreeSnapshot> {
        let mut entries = BTreeMap::new();
        let mut bytes = 0u64;
        for rel in list_paths(root)? {
            let full = root.join(&rel);
            let meta = fs::symlink_metadata(&full).map_err(io_err("cannot stat", &full))?;
            let Some(kind) = entry_kind(&full, &meta)? else {
                debug!(path = %full.display(), "socket left out of the snapshot");
                continue;
            };
            let mut xattrs = BTreeMap::new();
            if let EntryKind::File { size, .. } = kind {
                bytes += size;
                xattrs = read_xattrs(&full)?;
            }
            entries.insert(
                rel,
                Entry {
                    kind,
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    mtime: meta.mtime(),
                    xattrs,
                },
            );
        }
        info!(root = %root.display(), entries = entries.len(), bytes, "tree scanned");
        Ok(TreeSnapshot { entries })
    }

    /// The changes that turn `self` (before) into `after`, sorted by path.
    /// A deleted directory gives one `Deleted` for the directory only; a
    /// directory replaced by a non-directory gives one `Modified` and no
    /// entries for its old children; a non-directory replaced by a
    /// directory gives `Modified` plus `Added` for everything under it.
    pub fn diff(&self, after: &TreeSnapshot) -> Vec<Change> {
        let mut out: BTreeMap<&Path, ChangeKind> = BTreeMap::new();
        // Children of a directory that is gone (or no longer a directory)
        // need no entries of their own.
        let mut gone: Option<&Path> = None;
        for (path, old) in &self.entries {
            if gone.is_some_and(|g| path.starts_with(g)) {
                continue;
            }
            match after.entries.get(path) {
                None => {
                    out.insert(path, ChangeKind::Deleted);
                    if old.kind == EntryKind::Dir {
                        gone = Some(path);
                    }
                }
                Some(new) => {
                    if old.kind == EntryKind::Dir && new.kind != EntryKind::Dir {
                        gone = Some(path);
                    }
                    if old.differs(new) {
                        out.insert(path, ChangeKind::Modified);
                    }
                }
            }
        }
        for path in after.entries.keys() {
            if !self.entries.contains_key(path) {
                out.insert(path, ChangeKind::Added);
            }
        }
        out.into_iter()
            .map(|(p, kind)| Change {
                path: p.to_path_buf(),
                kind,
            })
            .collect()
    }
}

/// Scans `root` and returns the changes since `before`.
pub fn diff(before: &TreeSnapshot, root: &Path) -> Result<Vec<Change>> {
    Ok(before.diff(&TreeSnapshot::scan(root)?))
}

/// Every path under `root` (relative, root excluded), parents first, in
/// component-wise sorted order. Symlinks are not followed.
pub(crate) fn list_paths(root: &Path) -> Result<Vec<PathBuf>> {
    let meta = fs::symlink_metadata(root).map_err(io_err("cannot read tree", root))?;
    if !meta.is_dir() {
        return Err(Error::Tree {
            root: root.to_path_buf(),
            path: PathBuf::new(),
            reason: "the root is not a directory".into(),
        });
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out)?;
    Ok(out)
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(rel);
    let mut names = Vec::new();
    for e in fs::read_dir(&dir).map_err(io_err("cannot list", &dir))? {
        let e = e.map_err(io_err("cannot list", &dir))?;
        names.push((
            e.file_name(),
            e.file_type().map_err(io_err("cannot stat in", &dir))?,
        ));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, ft) in names {
        let child = rel.join(&name);
        out.push(child.clone());
        if ft.is_dir() {
            walk(root, &child, out)?;
        }
    }
    Ok(())
}

/// The kind of the path `full` with metadata `meta` (`None` for sockets).
pub(crate) fn entry_kind(full: &Path, meta: &fs::Metadata) -> Result<Option<EntryKind>> {
    let ft = meta.file_type();
    let dev = meta.rdev();
    Ok(Some(if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        let (sha256, size) = hash_file(full)?;
        EntryKind::File { size, sha256 }
    } else if ft.is_symlink() {
        EntryKind::Symlink {
            target: fs::read_link(full).map_err(io_err("cannot read link", full))?,
        }
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else if ft.is_char_device() {
        EntryKind::CharDevice {
            major: rustix::fs::major(dev),
            minor: rustix::fs::minor(dev),
        }
    } else if ft.is_block_device() {
        EntryKind::BlockDevice {
            major: rustix::fs::major(dev),
            minor: rustix::fs::minor(dev),
        }
    } else {
        return Ok(None);
    }))
}

/// SHA-256 and length of a file.
pub(crate) fn hash_file(path: &Path) -> Result<(Digest, u64)> {
    Digest::of_file(path).map_err(io_err("cannot read", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: EntryKind) -> Entry {
        Entry {
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 1,
            xattrs: BTreeMap::new(),
        }
    }

    fn file(content: &[u8]) -> Entry {
        e(EntryKind::File {
            size: content.len() as u64,
            sha256: Digest::of(content),
        })
    }

    #[test]
    fn diff_collapses_deleted_and_replaced_dirs() {
        let before = TreeSnapshot {
            entries: [
                ("a", e(EntryKind::Dir)),
                ("a/x", file(b"x")),
                ("b", e(EntryKind::Dir)),
                ("b/y", file(b"y")),
                ("c", file(b"c")),
                ("d", file(b"d")),
                ("m", file(b"same")),
            ]
            .into_iter()
            .map(|(p, e)| (PathBuf::from(p), e))
            .collect(),
        };
        let mut newer_m = file(b"same");
        newer_m.mtime = 99;
        let after = TreeSnapshot {
            entries: [
                ("b", file(b"now a file")),
                ("c", e(EntryKind::Dir)),
                ("c/z", file(b"z")),
                ("d", file(b"d2")),
                ("m", newer_m),
                ("n", e(EntryKind::Symlink { target: "m".into() })),
            ]
            .into_iter()
            .map(|(p, e)| (PathBuf::from(p), e))
            .collect(),
        };
        let got: Vec<(String, ChangeKind)> = before
            .diff(&after)
            .into_iter()
            .map(|c| (c.path.display().to_string(), c.kind))
            .collect();
        use ChangeKind::*;
        let want: Vec<(String, ChangeKind)> = [
            ("a", Deleted),
            ("b", Modified),
            ("c", Modified),
            ("c/z", Added),
            ("d", Modified),
            ("n", Added),
        ]
        .into_iter()
        .map(|(p, k)| (p.to_string(), k))
        .collect();
        assert_eq!(got, want);
    }
}
