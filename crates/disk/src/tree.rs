//! Reading a staging tree: a sorted walk (so every pass over it happens in the
//! same order) and the statistics the ext4 size estimate needs.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{io, DiskError};
use crate::layout::TreeStats;

/// What kind of inode an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// Devices, FIFOs, sockets: no data blocks.
    Other,
}

/// One entry below the staging root.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative to the staging root, never empty (the root itself is not listed).
    pub rel: PathBuf,
    pub kind: Kind,
    pub size: u64,
    /// Number of directory entries, for directories.
    pub dir_entries: u64,
    /// Sum of the names' lengths in this directory, for directories.
    pub dir_name_bytes: u64,
    dev_ino: (u64, u64),
    nlink: u64,
}

/// All entries below `root`, depth first, parents before children, names
/// sorted bytewise at every level.
pub fn walk(root: &Path) -> Result<Vec<Entry>, DiskError> {
    let meta = fs::symlink_metadata(root).map_err(io(root))?;
    if !meta.is_dir() {
        return Err(DiskError::Tree {
            path: root.to_path_buf(),
            reason: "the staging tree must be a directory".into(),
        });
    }
    let mut out = Vec::new();
    walk_dir(root, Path::new(""), &mut out)?;
    Ok(out)
}

fn walk_dir(root: &Path, rel: &Path, out: &mut Vec<Entry>) -> Result<(u64, u64), DiskError> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(io(&dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io(&dir))?;
    names.sort();
    let name_bytes = names.iter().map(|n| n.len() as u64).sum();
    let count = names.len() as u64;
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        };
        let at = out.len();
        out.push(Entry {
            rel: rel.clone(),
            kind,
            size: meta.len(),
            dir_entries: 0,
            dir_name_bytes: 0,
            dev_ino: (meta.dev(), meta.ino()),
            nlink: meta.nlink(),
        });
        if kind == Kind::Dir {
            let (n, b) = walk_dir(root, &rel, out)?;
            out[at].dir_entries = n;
            out[at].dir_name_bytes = b;
        }
    }
    Ok((count, name_bytes))
}

/// Statistics for the size estimate; hard-linked files count once.
pub fn stats(entries: &[Entry], root_entries: u64, root_name_bytes: u64) -> TreeStats {
    let mut seen = HashSet::new();
    let mut st = TreeStats {
        inodes: 1,
        ..TreeStats::default()
    };
    st.add_dir(root_entries, root_name_bytes);
    for e in entries {
        if e.kind != Kind::Dir && e.nlink > 1 && !seen.insert(e.dev_ino) {
            continue;
        }
        st.inodes += 1;
        match e.kind {
            Kind::Dir => st.add_dir(e.dir_entries, e.dir_name_bytes),
            Kind::File => st.add_file(e.size),
            Kind::Symlink => st.add_symlink(e.size),
            Kind::Other => {}
        }
    }
    st
}

/// Walks `root` and returns its entries and statistics.
pub fn scan(root: &Path) -> Result<(Vec<Entry>, TreeStats), DiskError> {
    let entries = walk(root)?;
    let top: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.rel.components().count() == 1)
        .collect();
    let names = top
        .iter()
        .map(|e| e.rel.as_os_str().len() as u64)
        .sum::<u64>();
    let st = stats(&entries, top.len() as u64, names);
    Ok((entries, st))
}
