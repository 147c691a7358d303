//! SELinux file labels from a policy's file_contexts, for images labelled at
//! build time (R13).
//!
//! - [`fcontext`]: pure parsing and lookup with libselinux's semantics
//!   (checked against libselinux's own `selabel_lookup` over a whole root in
//!   the tests).
//! - [`load`]: reads the files `selabel_open` reads for a `file_contexts`
//!   path (`.homedirs`, `.local`, `.subs_dist`, `.subs`).
//! - [`label_tree`]: a path -> context map for a staging tree, ready for
//!   mk-disk's `selinux_labels`.
//!
//! ```
//! use mk_selinux::{FileContexts, FileType, Label};
//! let mut fc = FileContexts::new();
//! fc.add_specs("file_contexts", "/.*\tsystem_u:object_r:default_t:s0\n\
//!     /etc(/.*)?\tsystem_u:object_r:etc_t:s0\n").unwrap();
//! let fc = fc.finish();
//! assert_eq!(fc.lookup("/etc/passwd", Some(FileType::Regular)),
//!            Label::Context("system_u:object_r:etc_t:s0"));
//! ```

pub mod fcontext;
pub mod policy;

pub use fcontext::{FileContexts, FileType, Label, ParseError};

use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SelinuxError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("{}: path is not UTF-8; file_contexts lookups need text paths", path.display())]
    NonUtf8 { path: PathBuf },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> SelinuxError + '_ {
    move |source| SelinuxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, SelinuxError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_at(path)(e)),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Reads `file_contexts` and what libselinux reads with it: its
/// `.homedirs` and `.local` specs (in that order, after it) and the
/// `.subs_dist` / `.subs` aliases. Only the text files are read (the
/// `.bin` files are compiled copies of them).
pub fn load(file_contexts: &Path) -> Result<FileContexts, SelinuxError> {
    let started = std::time::Instant::now();
    let mut fc = FileContexts::new();
    let main = std::fs::read(file_contexts).map_err(io_at(file_contexts))?;
    fc.add_specs(
        &file_contexts.display().to_string(),
        &String::from_utf8_lossy(&main),
    )?;
    for suffix in [".homedirs", ".local"] {
        let p = with_suffix(file_contexts, suffix);
        if let Some(text) = read_optional(&p)? {
            fc.add_specs(&p.display().to_string(), &text)?;
        }
    }
    let dist = read_optional(&with_suffix(file_contexts, ".subs_dist"))?;
    let local = read_optional(&with_suffix(file_contexts, ".subs"))?;
    fc.set_subs(dist.as_deref(), local.as_deref());
    let fc = fc.finish();
    tracing::info!(
        file = %file_contexts.display(),
        specs = fc.len(),
        ms = started.elapsed().as_millis() as u64,
        "file contexts loaded"
    );
    Ok(fc)
}

/// The policy name (`SELINUXTYPE`) from `ROOT/etc/selinux/config`.
pub fn policy_type(root: &Path) -> Result<String, SelinuxError> {
    let path = root.join("etc/selinux/config");
    let text = std::fs::read_to_string(&path).map_err(io_at(&path))?;
    parse_policy_type(&text).ok_or_else(|| SelinuxError::Config {
        path,
        message: "no SELINUXTYPE=NAME line".into(),
    })
}

/// `SELINUXTYPE` from the text of /etc/selinux/config. Pure.
pub fn parse_policy_type(config: &str) -> Option<String> {
    config.lines().find_map(|l| {
        let v = l.trim().strip_prefix("SELINUXTYPE=")?;
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && !v.contains('/')).then(|| v.to_string())
    })
}

/// `ROOT/etc/selinux/TYPE/contexts/files/file_contexts`.
pub fn file_contexts_path(root: &Path, policy_type: &str) -> PathBuf {
    root.join("etc/selinux")
        .join(policy_type)
        .join("contexts/files/file_contexts")
}

/// Labels of one staging tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeLabels {
    /// Context per path, keyed by the path inside the tree's filesystem
    /// (`/` is the tree's top), as mk-disk's `selinux_labels` expects.
    pub labels: BTreeMap<String, String>,
    /// Paths (on the running system) whose spec says `<<none>>`.
    pub do_not_label: Vec<String>,
    /// Paths (on the running system) no spec matches.
    pub no_match: Vec<String>,
}

/// Every path of `tree` (a staging tree that is mounted at `mount_point`
/// on the running system, e.g. `/` or `/var`), with its type, in sorted
/// order; the tree's top is `/`.
pub fn walk(tree: &Path) -> Result<Vec<(String, FileType)>, SelinuxError> {
    let mut out = Vec::new();
    let meta = std::fs::symlink_metadata(tree).map_err(io_at(tree))?;
    out.push(("/".to_string(), FileType::from_std(meta.file_type())));
    let mut stack = vec![(tree.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut entries: Vec<(String, FileType, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io_at(&dir))? {
            let e = e.map_err(io_at(&dir))?;
            let name = e
                .file_name()
                .into_string()
                .map_err(|_| SelinuxError::NonUtf8 { path: e.path() })?;
            let t = e.file_type().map_err(io_at(&e.path()))?;
            entries.push((name, FileType::from_std(t), e.path()));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t, path) in entries.into_iter().rev() {
            let p = format!("{rel}/{name}");
            out.push((p.clone(), t));
            if t == FileType::Directory {
                stack.push((path, p));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Labels every path of `tree` mounted at `mount_point` (`/`, `/var`, ...).
pub fn label_tree(
    tree: &Path,
    mount_point: &str,
    fc: &FileContexts,
) -> Result<TreeLabels, SelinuxError> {
    let started = std::time::Instant::now();
    let paths = walk(tree)?;
    let mp = mount_point.trim_end_matches('/');
    let system_path = |p: &str| {
        if p == "/" {
            if mp.is_empty() {
                "/".to_string()
            } else {
                mp.to_string()
            }
        } else {
            format!("{mp}{p}")
        }
    };
    let found: Vec<(String, String, Label)> = paths
        .par_iter()
        .map(|(p, t)| {
            let sys = system_path(p);
            let label = fc.lookup(&sys, Some(*t));
            (p.clone(), sys, label)
        })
        .collect();
    let mut out = TreeLabels::default();
    for (p, sys, label) in found {
        match label {
            Label::Context(c) => {
                out.labels.insert(p, c.to_string());
            }
            Label::DoNotLabel => out.do_not_label.push(sys),
            Label::NoMatch => out.no_match.push(sys),
        }
    }
    tracing::info!(
        tree = %tree.display(),
        mount_point,
        labelled = out.labels.len(),
        do_not_label = out.do_not_label.len(),
        no_match = out.no_match.len(),
        ms = started.elapsed().as_millis() as u64,
        "labels computed"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_type_from_config() {
        assert_eq!(
            parse_policy_type("# x\nSELINUX=enforcing\nSELINUXTYPE=targeted\n").as_deref(),
            Some("targeted")
        );
        assert_eq!(parse_policy_type("SELINUX=enforcing\n"), None);
        assert_eq!(parse_policy_type("SELINUXTYPE=../x\n"), None);
    }

    #[test]
    fn tree_labels_are_keyed_inside_the_filesystem() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("log/x")).unwrap();
        std::fs::write(d.path().join("log/x/f"), "").unwrap();
        std::os::unix::fs::symlink("f", d.path().join("log/x/l")).unwrap();
        let mut fc = FileContexts::new();
        fc.add_specs(
            "fc",
            "/var(/.*)?\tu:r:var_t\n/var/log(/.*)?\tu:r:log_t\n/var/log/x/l\t-l\tu:r:lnk_t\n/var/log/x/f\t-d\tu:r:never_t\n",
        )
        .unwrap();
        let fc = fc.finish();
        let t = label_tree(d.path(), "/var", &fc).unwrap();
        let want: BTreeMap<String, String> = [
            ("/", "u:r:var_t"),
            ("/log", "u:r:log_t"),
            ("/log/x", "u:r:log_t"),
            ("/log/x/f", "u:r:log_t"),
            ("/log/x/l", "u:r:lnk_t"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(t.labels, want);
        assert!(t.no_match.is_empty() && t.do_not_label.is_empty());
    }
}
