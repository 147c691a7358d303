//! Paths inside a root: one resolver (symlinks followed inside the root,
//! as the kernel does under chroot) over two kinds of tree: a directory
//! on disk (the node root, [`crate::root`]) and the set of paths an
//! image's layers leave ([`FileTree`], built from tar headers only).

use std::collections::{BTreeMap, HashSet};

use crate::pods::Kind;

/// Symlinks followed while resolving one path (Linux's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;

/// What `lstat` says about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Node(Kind),
    /// A symlink and its target, as written.
    Symlink(String),
}

/// A tree that can be asked about one absolute path without following a
/// final symlink.
pub trait Lookup {
    fn lstat(&self, path: &str) -> Option<Entry>;
}

/// Where a path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// It exists: its path with every symlink resolved, and what it is.
    Found { path: String, kind: Kind },
    /// It does not exist. `path`: where it would be, symlinks on the way
    /// resolved (`/var/run/x` with `/var/run -> /run` is `/run/x`);
    /// `ancestor`: the deepest directory on the way that exists.
    Missing { path: String, ancestor: String },
    /// It cannot exist: a component is not a directory, or symlinks loop.
    Broken { reason: String },
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// Resolves `path` (absolute) in `tree`, following every symlink,
/// absolute targets from the tree's root. `..` never leaves the root.
pub fn resolve(tree: &dyn Lookup, path: &str) -> Resolved {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_string)
        .collect();
    let mut current = "/".to_string();
    let mut kind = Kind::Directory;
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if kind != Kind::Directory {
            return Resolved::Broken {
                reason: format!("{current} is {}, not a directory", kind.describe()),
            };
        }
        match c.as_str() {
            "." => continue,
            ".." => {
                current = parent(&current);
                continue;
            }
            _ => {}
        }
        let next = join(&current, &c);
        match tree.lstat(&next) {
            None => {
                let mut missing = next;
                while let Some(rest) = todo.pop() {
                    match rest.as_str() {
                        "." => {}
                        ".." => missing = parent(&missing),
                        _ => missing = join(&missing, &rest),
                    }
                }
                return Resolved::Missing {
                    path: missing,
                    ancestor: current,
                };
            }
            Some(Entry::Symlink(target)) => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Resolved::Broken {
                        reason: format!("too many levels of symbolic links at {next}"),
                    };
                }
                if target.starts_with('/') {
                    current = "/".to_string();
                }
                todo.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty())
                        .rev()
                        .map(str::to_string),
                );
            }
            Some(Entry::Node(k)) => {
                current = next;
                kind = k;
            }
        }
    }
    Resolved::Found {
        path: current,
        kind,
    }
}

/// The paths an image's layers leave, from tar headers: kinds, modes and
/// symlink targets, no contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTree {
    entries: BTreeMap<String, Entry>,
}

/// One layer member, as [`FileTree::apply`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Entry(Entry),
    /// A hardlink to an earlier path (same layer or below).
    Hardlink {
        target: String,
        mode: u32,
    },
}

impl Lookup for FileTree {
    fn lstat(&self, path: &str) -> Option<Entry> {
        if path == "/" {
            return Some(Entry::Node(Kind::Directory));
        }
        self.entries.get(path).cloned()
    }
}

impl FileTree {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `path` (absolute), creating missing parents as directories;
    /// a non-directory replacing a directory takes its contents with it.
    pub fn insert(&mut self, path: &str, entry: Entry) {
        let mut p = parent(path);
        while p != "/" && !self.entries.contains_key(&p) {
            self.entries.insert(p.clone(), Entry::Node(Kind::Directory));
            p = parent(&p);
        }
        if entry != Entry::Node(Kind::Directory) {
            self.remove_below(path);
        }
        self.entries.insert(path.to_string(), entry);
    }

    /// Removes `path` and everything below it.
    pub fn remove(&mut self, path: &str) {
        self.entries.remove(path);
        self.remove_below(path);
    }

    fn remove_below(&mut self, dir: &str) {
        let prefix = join(dir, "");
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    /// Applies one layer's members, lowest first within the layer: OCI
    /// whiteouts (`.wh.NAME` removes NAME from the layers below,
    /// `.wh..wh..opq` empties its directory of what they put there).
    /// `members` yields the member's path (relative, as in the tar) and
    /// what it is; paths with `..` are the caller's to refuse.
    pub fn apply<I>(&mut self, members: I)
    where
        I: IntoIterator<Item = (String, Member)>,
    {
        let mut added: HashSet<String> = HashSet::new();
        for (raw, member) in members {
            let path = normalize(&raw);
            if path == "/" {
                continue;
            }
            let name = path.rsplit('/').next().unwrap_or("");
            let dir = parent(&path);
            if name == ".wh..wh..opq" {
                let prefix = join(&dir, "");
                let doomed: Vec<String> = self
                    .entries
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .filter(|(k, _)| !added.contains(*k))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in doomed {
                    self.entries.remove(&k);
                }
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                self.remove(&join(&dir, hidden));
                continue;
            }
            let entry = match member {
                Member::Entry(e) => e,
                Member::Hardlink { target, mode } => match self.entries.get(&normalize(&target)) {
                    Some(e @ Entry::Node(Kind::File { .. })) => e.clone(),
                    _ => Entry::Node(Kind::File { mode }),
                },
            };
            self.insert(&path, entry);
            // Parents this layer implies stay with it under an opaque
            // whiteout, as the member itself does.
            let mut p = path;
            while p != "/" && added.insert(p.clone()) {
                p = parent(&p);
            }
        }
    }
}

/// A tar member name as an absolute path: `./usr/bin/` -> `/usr/bin`;
/// `..` goes up, never above the root.
pub fn normalize(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32) -> Member {
        Member::Entry(Entry::Node(Kind::File { mode }))
    }
    fn link(t: &str) -> Member {
        Member::Entry(Entry::Symlink(t.into()))
    }
    fn dir() -> Member {
        Member::Entry(Entry::Node(Kind::Directory))
    }

    fn centos_like() -> FileTree {
        let mut t = FileTree::default();
        t.apply([
            ("./usr/".to_string(), dir()),
            ("usr/bin/etcd".to_string(), file(0o755)),
            ("usr/bin/etcdctl".to_string(), file(0o755)),
            ("bin".to_string(), link("usr/bin")),
            ("usr/local/bin/ctl".to_string(), link("/usr/bin/etcdctl")),
            ("loop".to_string(), link("loop")),
            ("etc/hosts".to_string(), file(0o644)),
        ]);
        t
    }

    #[test]
    fn symlinks_resolve_inside_the_tree() {
        let t = centos_like();
        assert_eq!(
            resolve(&t, "/bin/etcdctl"),
            Resolved::Found {
                path: "/usr/bin/etcdctl".into(),
                kind: Kind::File { mode: 0o755 }
            }
        );
        assert!(matches!(
            resolve(&t, "/usr/local/bin/ctl"),
            Resolved::Found { ref path, .. } if path == "/usr/bin/etcdctl"
        ));
        // `..` stops at the root.
        assert!(matches!(
            resolve(&t, "/../../usr/bin/etcd"),
            Resolved::Found { .. }
        ));
        assert_eq!(
            resolve(&t, "/bin/nothing/x"),
            Resolved::Missing {
                path: "/usr/bin/nothing/x".into(),
                ancestor: "/usr/bin".into()
            }
        );
        assert!(matches!(resolve(&t, "/loop/x"), Resolved::Broken { .. }));
        assert!(matches!(
            resolve(&t, "/etc/hosts/x"),
            Resolved::Broken { ref reason } if reason.contains("not a directory")
        ));
    }

    #[test]
    fn whiteouts_remove_lower_layers() {
        let mut t = centos_like();
        t.apply([
            ("usr/bin/.wh.etcdctl".to_string(), file(0)),
            ("etc/.wh..wh..opq".to_string(), file(0)),
            ("etc/resolv.conf".to_string(), file(0o644)),
        ]);
        assert!(t.lstat("/usr/bin/etcdctl").is_none());
        assert!(t.lstat("/usr/bin/etcd").is_some());
        assert!(t.lstat("/etc/hosts").is_none());
        assert!(t.lstat("/etc/resolv.conf").is_some());
        // A file replacing a directory takes its contents.
        t.apply([("usr/bin".to_string(), file(0o644))]);
        assert!(t.lstat("/usr/bin/etcd").is_none());
        // Hardlinks take their target's mode.
        t.apply([
            ("sbin/a".to_string(), file(0o700)),
            (
                "sbin/b".to_string(),
                Member::Hardlink {
                    target: "./sbin/a".into(),
                    mode: 0,
                },
            ),
        ]);
        assert_eq!(
            t.lstat("/sbin/b"),
            Some(Entry::Node(Kind::File { mode: 0o700 }))
        );
    }
}
