//! A registry tree to look images up in (docs/registry.md's layout): the
//! `registry/` directory of a bundle ISO, read directly with mk-bundle's
//! reader (no mount, no root), or an unpacked tree on disk. Only names and
//! sizes are listed up front; manifests are read on demand, each at most
//! [`MAX_MANIFEST`] bytes. Walks are bounded ([`MAX_FILES`], [`MAX_DEPTH`]).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use mk_bundle::iso::read::{self as iso, EntryKind, FileSource, IsoEntry, IsoImage};

/// The largest manifest or index read (the registry writer's own cap).
pub const MAX_MANIFEST: u64 = mk_registry::layout::MAX_MANIFEST;
/// Files a tree may hold before it is refused as not a registry.
pub const MAX_FILES: usize = 2_000_000;
/// Directory depth a tree may have (repository names are at most 255
/// characters, so at most 128 components, plus the tree's own levels).
pub const MAX_DEPTH: usize = 140;
/// The registry's directory in a bundle.
pub const BUNDLE_DIR: &str = "registry";

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{}: {message}", path.display())]
    Io {
        path: PathBuf,
        message: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a readable ISO 9660 image (expected an mk bundle)", path.display())]
    Iso {
        path: PathBuf,
        #[source]
        source: iso::IsoError,
    },
    #[error("{}: {message}", path.display())]
    NotRegistry { path: PathBuf, message: String },
    #[error("{origin}: {file}: {size} bytes, more than the {limit} a manifest may have")]
    TooLarge {
        origin: String,
        file: String,
        size: u64,
        limit: u64,
    },
    #[error("{origin}: {file}: not in the registry tree")]
    NotFound { origin: String, file: String },
}

enum Source {
    Dir(PathBuf),
    Iso {
        image: IsoImage<FileSource>,
        entries: HashMap<String, IsoEntry>,
    },
}

/// The files of one registry tree, by path relative to its root.
pub struct RegistryView {
    origin: String,
    files: BTreeMap<String, u64>,
    source: Source,
}

impl std::fmt::Debug for RegistryView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryView")
            .field("origin", &self.origin)
            .field("files", &self.files.len())
            .finish()
    }
}

impl RegistryView {
    /// A bundle ISO (a regular file) or a directory: a registry tree
    /// (`catalog.json` at its top) or an unpacked bundle (`registry/`).
    pub fn open(path: &Path) -> Result<RegistryView, ViewError> {
        let meta = fs::metadata(path).map_err(|source| ViewError::Io {
            path: path.into(),
            message: "cannot open the bundle or registry tree",
            source,
        })?;
        if meta.is_dir() {
            if path.join("catalog.json").is_file() {
                RegistryView::open_dir(path)
            } else if path.join(BUNDLE_DIR).join("catalog.json").is_file() {
                RegistryView::open_dir(&path.join(BUNDLE_DIR))
            } else {
                Err(ViewError::NotRegistry {
                    path: path.into(),
                    message: "no catalog.json, nor registry/catalog.json: neither a registry \
                              tree nor an unpacked bundle"
                        .into(),
                })
            }
        } else {
            RegistryView::open_iso(path)
        }
    }

    /// The `registry/` tree of a bundle ISO.
    pub fn open_iso(path: &Path) -> Result<RegistryView, ViewError> {
        let file = fs::File::open(path).map_err(|source| ViewError::Io {
            path: path.into(),
            message: "cannot open the bundle",
            source,
        })?;
        let iso_err = |source| ViewError::Iso {
            path: path.into(),
            source,
        };
        let image = iso::open_file(file).map_err(iso_err)?;
        let prefix = format!("{BUNDLE_DIR}/");
        let mut files = BTreeMap::new();
        let mut entries = HashMap::new();
        for e in image.list().map_err(iso_err)? {
            let Some(rel) = e.path.strip_prefix(&prefix) else {
                continue;
            };
            if e.kind == EntryKind::File {
                if files.len() >= MAX_FILES {
                    return Err(ViewError::NotRegistry {
                        path: path.into(),
                        message: format!("{BUNDLE_DIR}/ holds more than {MAX_FILES} files"),
                    });
                }
                files.insert(rel.to_string(), e.size);
                entries.insert(rel.to_string(), e);
            }
        }
        if !files.contains_key("catalog.json") {
            return Err(ViewError::NotRegistry {
                path: path.into(),
                message: format!(
                    "no {BUNDLE_DIR}/catalog.json: not an mk bundle, or one made before \
                     bundles carried a registry (mk-compose bundle --image, docs/registry.md)"
                ),
            });
        }
        Ok(RegistryView {
            origin: format!("{} ({BUNDLE_DIR}/)", path.display()),
            files,
            source: Source::Iso { image, entries },
        })
    }

    /// A registry tree on disk (what `write_registry` writes; `catalog.json`
    /// at its top). Symlinks are refused, as the bundle refuses them.
    pub fn open_dir(root: &Path) -> Result<RegistryView, ViewError> {
        if !root.join("catalog.json").is_file() {
            return Err(ViewError::NotRegistry {
                path: root.into(),
                message: "no catalog.json: not a registry tree (docs/registry.md)".into(),
            });
        }
        let mut files = BTreeMap::new();
        walk(root, root, 0, &mut files)?;
        Ok(RegistryView {
            origin: root.display().to_string(),
            files,
            source: Source::Dir(root.to_path_buf()),
        })
    }

    /// Where the tree comes from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Size of a regular file of the tree.
    pub fn size(&self, rel: &str) -> Option<u64> {
        self.files.get(rel).copied()
    }

    /// Files whose path starts with `prefix`, with their sizes.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        self.files
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), *v))
    }

    /// A file of the tree, whole; refused when larger than `limit`.
    pub fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>, ViewError> {
        let size = self.size(rel).ok_or_else(|| ViewError::NotFound {
            origin: self.origin.clone(),
            file: rel.to_string(),
        })?;
        if size > limit {
            return Err(ViewError::TooLarge {
                origin: self.origin.clone(),
                file: rel.to_string(),
                size,
                limit,
            });
        }
        match &self.source {
            Source::Dir(root) => {
                let path = root.join(rel);
                let io = |source| ViewError::Io {
                    path: path.clone(),
                    message: "reading the registry tree",
                    source,
                };
                let mut data = Vec::new();
                fs::File::open(&path)
                    .map_err(io)?
                    .take(limit + 1)
                    .read_to_end(&mut data)
                    .map_err(io)?;
                if data.len() as u64 > limit {
                    return Err(ViewError::TooLarge {
                        origin: self.origin.clone(),
                        file: rel.to_string(),
                        size: data.len() as u64,
                        limit,
                    });
                }
                Ok(data)
            }
            Source::Iso { image, entries } => {
                let e = &entries[rel];
                image.read_file(e, limit).map_err(|source| ViewError::Iso {
                    path: PathBuf::from(&self.origin),
                    source,
                })
            }
        }
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    files: &mut BTreeMap<String, u64>,
) -> Result<(), ViewError> {
    if depth > MAX_DEPTH {
        return Err(ViewError::NotRegistry {
            path: dir.into(),
            message: format!("more than {MAX_DEPTH} directories deep"),
        });
    }
    let io = |path: &Path, source| ViewError::Io {
        path: path.into(),
        message: "reading the registry tree",
        source,
    };
    for e in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let e = e.map_err(|e| io(dir, e))?;
        let path = e.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        if meta.is_dir() {
            walk(root, &path, depth + 1, files)?;
        } else if meta.is_file() {
            if files.len() >= MAX_FILES {
                return Err(ViewError::NotRegistry {
                    path: root.into(),
                    message: format!("holds more than {MAX_FILES} files"),
                });
            }
            let Some(rel) = path
                .strip_prefix(root)
                .ok()
                .and_then(|r| r.to_str())
                .map(str::to_string)
            else {
                return Err(ViewError::NotRegistry {
                    path,
                    message: "a file name that is not UTF-8: not written by mk".into(),
                });
            };
            files.insert(rel, meta.len());
        } else {
            return Err(ViewError::NotRegistry {
                path,
                message: "a symlink or special file: a registry tree holds none (the bundle \
                          refuses them)"
                    .into(),
            });
        }
    }
    Ok(())
}
