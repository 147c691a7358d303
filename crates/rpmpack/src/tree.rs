//! Adding a directory tree from disk: modes and symlinks as they are on
//! disk, owners by rule, entries sorted so that the package does not depend
//! on the order the filesystem returns them.

use crate::package::{FileSpec, PackError, Package};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Who owns the entries of a tree added with [`Package::add_tree`].
#[derive(Clone, Copy)]
pub enum OwnerRule<'a> {
    /// root:root for everything.
    Root,
    Fixed {
        user: &'a str,
        group: &'a str,
    },
    /// Called with each installed path; returns (user, group).
    Custom(&'a dyn Fn(&str) -> (String, String)),
}

impl OwnerRule<'_> {
    fn owner(&self, path: &str) -> (String, String) {
        match self {
            OwnerRule::Root => ("root".to_owned(), "root".to_owned()),
            OwnerRule::Fixed { user, group } => ((*user).to_owned(), (*group).to_owned()),
            OwnerRule::Custom(f) => f(path),
        }
    }
}

/// Joins an installed prefix and a relative path (`/` + `a/b` = `/a/b`).
fn join(prefix: &str, rel: &str) -> String {
    if prefix == "/" {
        format!("/{rel}")
    } else {
        format!("{prefix}/{rel}")
    }
}

impl Package {
    /// Adds every file, directory and symlink under `src_dir` below
    /// `dest_prefix` (absolute), with the permission bits found on disk and
    /// owners from `owner`. `dest_prefix` itself is not added: own it with
    /// [`Package::dir`] if the package should. Regular files are read when
    /// the package is built. Devices, FIFOs, sockets and names that are not
    /// UTF-8 are refused. Adjust single entries afterwards with
    /// [`Package::file_mut`] (for example to mark a `%config` file).
    pub fn add_tree(
        &mut self,
        src_dir: &Path,
        dest_prefix: &str,
        owner: OwnerRule<'_>,
    ) -> Result<&mut Self, PackError> {
        if let Some(reason) = crate::validate::path_problem(dest_prefix) {
            if dest_prefix != "/" {
                return Err(PackError::BadPath {
                    package: self.name().to_owned(),
                    path: dest_prefix.to_owned(),
                    reason,
                });
            }
        }
        let mut entries = Vec::new();
        walk(src_dir, String::new(), &mut entries).map_err(|(dir, source)| PackError::Tree {
            package: self.name().to_owned(),
            dir,
            source,
        })?;
        for (rel, src, meta) in entries {
            let dest = join(dest_prefix, &rel);
            let (user, group) = owner.owner(&dest);
            let mode = (meta.permissions().mode() & 0o7777) as u16;
            let ft = meta.file_type();
            let spec = if ft.is_symlink() {
                let target = fs::read_link(&src).map_err(|source| PackError::Tree {
                    package: self.name().to_owned(),
                    dir: src.clone(),
                    source,
                })?;
                let target = target.to_str().ok_or_else(|| PackError::BadPath {
                    package: self.name().to_owned(),
                    path: dest.clone(),
                    reason: "symlink target is not UTF-8",
                })?;
                FileSpec::symlink(&dest, target)
            } else if ft.is_dir() {
                FileSpec::dir(&dest).mode(mode)
            } else if ft.is_file() {
                FileSpec::from_disk(&dest, src).mode(mode)
            } else {
                return Err(PackError::BadPath {
                    package: self.name().to_owned(),
                    path: dest,
                    reason:
                        "only regular files, directories and symlinks can be packaged from a tree",
                });
            };
            self.add(spec.owner(&user, &group));
        }
        Ok(self)
    }

    /// The entry for `path`, to change its mode, owner or flags.
    pub fn file_mut(&mut self, path: &str) -> Option<&mut FileSpec> {
        self.files.iter_mut().find(|f| f.path == path)
    }
}

type WalkError = (PathBuf, std::io::Error);

/// Depth-first, entries sorted by name, directories before their contents.
fn walk(
    dir: &Path,
    rel: String,
    out: &mut Vec<(String, PathBuf, fs::Metadata)>,
) -> Result<(), WalkError> {
    let err = |e| (dir.to_path_buf(), e);
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let name = entry.file_name().into_string().map_err(|n| {
            (
                dir.join(&n),
                std::io::Error::new(std::io::ErrorKind::InvalidData, "file name is not UTF-8"),
            )
        })?;
        names.push(name);
    }
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let meta = fs::symlink_metadata(&path).map_err(|e| (path.clone(), e))?;
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = meta.is_dir();
        out.push((r.clone(), path.clone(), meta));
        if is_dir {
            walk(&path, r, out)?;
        }
    }
    Ok(())
}
