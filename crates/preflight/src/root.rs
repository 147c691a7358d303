//! Host paths under a root directory: `lstat` under it, symlinks followed
//! inside it (an image's `/etc/ssl/certs -> ../pki/tls/certs` or
//! `/var/run -> /run` mean the same there as on the node), and whether a
//! missing path could be created on the running node.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::inventory::{HostPath, ReadError, RootMode};
use crate::pods::Kind;
use crate::tree::{self, Entry, Lookup, Resolved};

/// Writable on every node whatever its mount units say: the state
/// partition (/var) and the tmpfs mounts systemd makes.
const ALWAYS_WRITABLE: &[&str] = &["/var", "/run", "/tmp", "/dev"];
/// Where image mount units are (overlays put them there).
const UNIT_DIR: &str = "etc/systemd/system";
const MAX_UNIT: u64 = 64 << 10;
const MAX_UNITS: usize = 1000;

/// A root directory, read through [`Lookup`].
pub struct RootTree {
    root: PathBuf,
    mode: RootMode,
    /// [`RootMode::Image`]: the writable locations.
    writable: Vec<String>,
}

impl Lookup for RootTree {
    fn lstat(&self, path: &str) -> Option<Entry> {
        let p = self.root.join(path.trim_start_matches('/'));
        let meta = fs::symlink_metadata(&p).ok()?;
        let t = meta.file_type();
        Some(if t.is_symlink() {
            Entry::Symlink(fs::read_link(&p).ok()?.to_string_lossy().into_owned())
        } else if t.is_dir() {
            Entry::Node(Kind::Directory)
        } else if t.is_file() {
            Entry::Node(Kind::File {
                mode: meta.permissions().mode() & 0o7777,
            })
        } else if t.is_socket() {
            Entry::Node(Kind::Socket)
        } else if t.is_char_device() {
            Entry::Node(Kind::CharDevice)
        } else if t.is_block_device() {
            Entry::Node(Kind::BlockDevice)
        } else {
            Entry::Node(Kind::Fifo)
        })
    }
}

impl RootTree {
    pub fn new(root: &Path, mode: RootMode) -> Result<RootTree, ReadError> {
        let writable = match mode {
            RootMode::Live => Vec::new(),
            RootMode::Image => {
                let mut w: Vec<String> = ALWAYS_WRITABLE.iter().map(|s| s.to_string()).collect();
                w.extend(writable_mounts(root)?);
                w
            }
        };
        Ok(RootTree {
            root: root.to_path_buf(),
            mode,
            writable,
        })
    }

    /// What `path` is, or whether it could be created.
    pub fn host_path(&self, path: &str) -> HostPath {
        match tree::resolve(self, path) {
            Resolved::Found { kind, .. } => HostPath::present(kind),
            Resolved::Broken { reason } => HostPath {
                kind: None,
                creatable: false,
                broken: Some(reason),
            },
            Resolved::Missing { path, ancestor } => HostPath::missing(match self.mode {
                RootMode::Image => self
                    .writable
                    .iter()
                    .any(|w| crate::pods::below(w, &path).is_some()),
                RootMode::Live => {
                    let dir = self.root.join(ancestor.trim_start_matches('/'));
                    rustix::fs::statvfs(&dir)
                        .is_ok_and(|s| !s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
                }
            }),
        }
    }
}

/// Where `path` (absolute, as the node sees it) leads under `root`,
/// symlinks followed inside it (absolute targets are the root's, not this
/// machine's; `..` stops at the root; at most 40 links). One resolver for
/// every question about a node root.
pub fn resolve(root: &Path, path: &str) -> Resolved {
    let tree = RootTree {
        root: root.to_path_buf(),
        mode: RootMode::Live,
        writable: Vec::new(),
    };
    tree::resolve(&tree, path)
}

/// Which of `paths` are directories under `root` (see [`resolve`]), in
/// the order given: the planner's host facts, e.g. the CA-trust
/// directories a node image has.
pub fn directories<'a>(root: &Path, paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    paths
        .into_iter()
        .filter(|p| {
            matches!(
                resolve(root, p),
                Resolved::Found {
                    kind: Kind::Directory,
                    ..
                }
            )
        })
        .map(str::to_string)
        .collect()
}

/// `Where=` of the image's mount units that do not mount read-only
/// (overlays/node: /etc/kubernetes, /etc/containerd, ... bound from the
/// state partition).
fn writable_mounts(root: &Path) -> Result<Vec<String>, ReadError> {
    let dir = root.join(UNIT_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ReadError::io("cannot list", &dir)(e)),
    };
    let mut out = Vec::new();
    for (n, e) in entries.enumerate() {
        if n >= MAX_UNITS {
            return Err(ReadError::bad(
                &dir,
                format!("more than {MAX_UNITS} entries"),
            ));
        }
        let e = e.map_err(ReadError::io("cannot list", &dir))?;
        let p = e.path();
        if p.extension().is_none_or(|x| x != "mount") || !p.is_file() {
            continue;
        }
        let Some(text) = read_small(&p, MAX_UNIT)? else {
            continue;
        };
        if let Some(w) = mount_target(&String::from_utf8_lossy(&text)) {
            out.push(w);
        }
    }
    out.sort();
    Ok(out)
}

/// A mount unit's `Where=`, unless its `Options=` mount it read-only.
pub fn mount_target(unit: &str) -> Option<String> {
    let mut target = None;
    let mut read_only = false;
    for line in unit.lines().map(str::trim) {
        if let Some(w) = line.strip_prefix("Where=") {
            target = Some(w.trim().to_string());
        } else if let Some(o) = line.strip_prefix("Options=") {
            read_only |= o.split(',').any(|o| o.trim() == "ro");
        }
    }
    target.filter(|t| t.starts_with('/') && !read_only)
}

/// A file's bytes, at most `limit` of them (larger: an error); `None`
/// when it does not exist.
pub fn read_small(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::io("cannot read", path)(e)),
    };
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(ReadError::io("cannot read", path))?;
    if buf.len() as u64 > limit {
        return Err(ReadError::bad(path, format!("larger than {limit} bytes")));
    }
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn image_mode_knows_the_read_only_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in [
            "etc/pki/tls/certs",
            "etc/systemd/system",
            "var/lib",
            "usr/libexec",
        ] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        // CentOS: /etc/ssl/certs -> ../pki/tls/certs.
        fs::create_dir_all(r.join("etc/ssl")).unwrap();
        symlink("../pki/tls/certs", r.join("etc/ssl/certs")).unwrap();
        symlink("../run", r.join("var/run")).unwrap();
        fs::write(
            r.join("etc/systemd/system/etc-kubernetes.mount"),
            "[Mount]\nWhat=/var/lib/mk/etc/kubernetes\nWhere=/etc/kubernetes\nOptions=bind\n",
        )
        .unwrap();
        fs::write(
            r.join("etc/systemd/system/boot.mount"),
            "[Mount]\nWhere=/boot\nOptions=ro,nodev\n",
        )
        .unwrap();
        let tree = RootTree::new(r, RootMode::Image).unwrap();
        assert_eq!(
            tree.host_path("/etc/ssl/certs"),
            HostPath::present(Kind::Directory)
        );
        assert_eq!(tree.host_path("/etc/pki/x"), HostPath::missing(false));
        assert_eq!(
            tree.host_path("/usr/libexec/kubernetes/kubelet-plugins"),
            HostPath::missing(false)
        );
        assert_eq!(tree.host_path("/var/lib/etcd"), HostPath::missing(true));
        assert_eq!(
            tree.host_path("/var/run/containerd"),
            HostPath::missing(true)
        );
        assert_eq!(
            tree.host_path("/etc/kubernetes/pki"),
            HostPath::missing(true)
        );
        assert_eq!(tree.host_path("/boot/x"), HostPath::missing(false));
        // A live directory root that is writable: anything can be made.
        let live = RootTree::new(r, RootMode::Live).unwrap();
        assert_eq!(live.host_path("/usr/libexec/x"), HostPath::missing(true));
    }
}
