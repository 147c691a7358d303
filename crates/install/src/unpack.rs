//! Extracting RPM payloads ourselves, for the bootstrap tree in which the
//! target's own `rpm` then runs.
//!
//! Payloads are untrusted. Every entry path must be absolute and made of
//! plain components (no `.`, `..`, or `/` inside a base name). Parent
//! directories are opened with `openat2(RESOLVE_BENEATH)` relative to the
//! tree: symlinks that stay inside the tree are followed (CentOS's
//! `/lib64 -> usr/lib64`), an absolute symlink or a `..` climbing out makes
//! the entry fail with an error naming the package, the entry and the
//! parent. Every file, link and directory is then created relative to that
//! parent's descriptor, under a temporary name and renamed into place, so
//! the final component is never followed either. Symlinks are created with
//! their target as-is (a link to `/etc` is fine; writing through it is
//! not). Hard links only join entries of the same package, both resolved
//! the same way. Device nodes, FIFOs and sockets are skipped: the bootstrap
//! tree is only there to run rpm, which then installs the real ones.
//! Owners are names in the package, mapped through the tree's own
//! `/etc/passwd` and `/etc/group` (unknown names become root, as rpm does).

use rpm::{FileFlags, FileType, IndexTag, PackageReader};
use rustix::fs::{
    chownat, fchmod, fchown, futimens, linkat, mkdirat, openat, openat2, renameat, statat,
    symlinkat, unlinkat, utimensat, AtFlags, FileType as StatType, Gid, Mode, OFlags, ResolveFlags,
    Timespec, Timestamps, Uid,
};
use rustix::io::Errno;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Temporary name used in a directory while an entry is written; renamed
/// over the real name when complete.
const TMP_NAME: &str = ".mk-unpack.tmp";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The payload tried to write outside the tree, or a path is malformed.
    #[error("{package}: payload entry {entry:?} refused: {reason}")]
    Unsafe {
        package: String,
        entry: String,
        reason: String,
    },
    #[error("{package}: payload entry {entry:?}")]
    Io {
        package: String,
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("{}: cannot read the package", path.display())]
    Package {
        path: PathBuf,
        #[source]
        source: rpm::Error,
    },
    #[error("{}: cannot open the tree", path.display())]
    Tree {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Counts for progress logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Device nodes, FIFOs, sockets.
    pub skipped: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for UnpackStats {
    fn add_assign(&mut self, o: Self) {
        self.files += o.files;
        self.dirs += o.dirs;
        self.symlinks += o.symlinks;
        self.hardlinks += o.hardlinks;
        self.skipped += o.skipped;
        self.bytes += o.bytes;
    }
}

/// Checks a payload path and returns it relative to the tree
/// (`/usr/bin/rpm` -> `usr/bin/rpm`). Pure.
///
/// The root directory itself (`filesystem` lists `/`) gives `""`.
pub fn entry_relative_path(dirname: &str, basename: &str) -> Result<String, String> {
    if format!("{dirname}{basename}") == "/" {
        return Ok(String::new());
    }
    if basename.is_empty() || basename.contains('/') {
        return Err(format!("base name {basename:?} is empty or contains '/'"));
    }
    if !dirname.starts_with('/') {
        return Err(format!("directory {dirname:?} is not absolute"));
    }
    let mut parts = Vec::new();
    for c in dirname.split('/').chain(std::iter::once(basename)) {
        match c {
            "" => {}
            "." | ".." => return Err(format!("the path has a {c:?} component")),
            c if c.contains('\0') => return Err("the path contains a NUL byte".into()),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

fn split_parent(rel: &str) -> (&str, &str) {
    match rel.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", rel),
    }
}

fn beneath() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS
}

/// Names of users and groups in the tree, read lazily.
#[derive(Default)]
struct Ids {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

/// A directory payloads are unpacked into.
pub struct Tree {
    path: PathBuf,
    fd: OwnedFd,
    ids: Ids,
}

/// One entry's context for error messages.
struct Ctx<'a> {
    package: &'a str,
    entry: &'a str,
}

impl Ctx<'_> {
    fn io(&self, source: impl Into<io::Error>) -> UnpackError {
        UnpackError::Io {
            package: self.package.to_owned(),
            entry: self.entry.to_owned(),
            source: source.into(),
        }
    }

    fn unsafe_(&self, reason: impl Into<String>) -> UnpackError {
        UnpackError::Unsafe {
            package: self.package.to_owned(),
            entry: self.entry.to_owned(),
            reason: reason.into(),
        }
    }
}

impl Tree {
    /// Opens an existing directory.
    pub fn open(path: &Path) -> Result<Tree, UnpackError> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| UnpackError::Tree {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Tree {
            path: path.to_path_buf(),
            fd,
            ids: Ids::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens directory `rel` of the tree, symlinks resolved beneath it.
    fn open_dir(&self, rel: &str) -> Result<OwnedFd, Errno> {
        let rel = if rel.is_empty() { "." } else { rel };
        openat2(
            &self.fd,
            rel,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            beneath(),
        )
    }

    fn map_resolve(ctx: &Ctx, dir: &str, e: Errno) -> UnpackError {
        match e {
            Errno::XDEV => ctx.unsafe_(format!(
                "its directory /{dir} leads outside the root (an absolute symlink or `..` escape)"
            )),
            Errno::LOOP => ctx.unsafe_(format!("its directory /{dir} is a symlink loop")),
            Errno::NOTDIR => ctx.unsafe_(format!("/{dir} is not a directory")),
            e => ctx.io(e),
        }
    }

    /// Opens the directory `dir`, creating missing components (mode 0755,
    /// root) like rpm does.
    fn ensure_dir(&self, ctx: &Ctx, dir: &str) -> Result<OwnedFd, UnpackError> {
        match self.open_dir(dir) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(Self::map_resolve(ctx, dir, e)),
        }
        let mut cur = self.open_dir("").map_err(|e| ctx.io(e))?;
        let mut end = 0;
        for comp in dir.split('/') {
            end += comp.len();
            let prefix = &dir[..end];
            end += 1;
            match self.open_dir(prefix) {
                Ok(fd) => cur = fd,
                Err(Errno::NOENT) => {
                    match mkdirat(&cur, comp, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(ctx.io(e)),
                    }
                    cur = self
                        .open_dir(prefix)
                        .map_err(|e| Self::map_resolve(ctx, prefix, e))?;
                }
                Err(e) => return Err(Self::map_resolve(ctx, prefix, e)),
            }
        }
        Ok(cur)
    }

    fn load_ids(&mut self) {
        let read = |rel: &str| -> Option<String> {
            let fd = openat2(
                &self.fd,
                rel,
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
                beneath(),
            )
            .ok()?;
            let mut s = String::new();
            File::from(fd).read_to_string(&mut s).ok()?;
            Some(s)
        };
        let parse = |text: Option<String>| -> HashMap<String, u32> {
            text.unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(':');
                    let name = f.next()?;
                    let id = f.nth(1)?.parse().ok()?;
                    Some((name.to_owned(), id))
                })
                .collect()
        };
        self.ids.users = parse(read("etc/passwd"));
        self.ids.groups = parse(read("etc/group"));
    }

    fn owner(&mut self, user: &str, group: &str) -> (u32, u32) {
        let known = |m: &HashMap<String, u32>, n: &str| n == "root" || m.contains_key(n);
        if !known(&self.ids.users, user) || !known(&self.ids.groups, group) {
            // setup (passwd, group) may have been unpacked since.
            self.load_ids();
        }
        let uid = self.ids.users.get(user).copied().unwrap_or(0);
        let gid = self.ids.groups.get(group).copied().unwrap_or(0);
        (uid, gid)
    }

    /// Unpacks one package file into the tree.
    pub fn unpack(&mut self, rpm_path: &Path) -> Result<UnpackStats, UnpackError> {
        let pkg_err = |source| UnpackError::Package {
            path: rpm_path.to_path_buf(),
            source,
        };
        let mut reader = PackageReader::open(rpm_path).map_err(pkg_err)?;
        let package = reader
            .metadata
            .get_nevra()
            .map(|n| n.nevra())
            .unwrap_or_else(|_| rpm_path.display().to_string());

        // Hard link sets: regular entries sharing (device, inode); rpm puts
        // the content on one member only.
        let identity: HashMap<String, (u32, u32)> = {
            let entries = reader.metadata.get_file_entries().map_err(pkg_err)?;
            let h = &reader.metadata.header;
            let devs = h
                .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEDEVICES)
                .unwrap_or_default();
            let inos = h
                .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEINODES)
                .unwrap_or_default();
            let mut count: HashMap<(u32, u32), u32> = HashMap::new();
            let mut by_path = HashMap::new();
            for (i, e) in entries.iter().enumerate() {
                if e.file_type() != FileType::Regular || e.flags().contains(FileFlags::GHOST) {
                    continue;
                }
                if let (Some(&d), Some(&n)) = (devs.get(i), inos.get(i)) {
                    *count.entry((d, n)).or_default() += 1;
                    by_path.insert(format!("{}{}", e.dirname(), e.basename()), (d, n));
                }
            }
            by_path.retain(|_, k| count[k] > 1);
            by_path
        };
        let mut link_content: HashMap<(u32, u32), String> = HashMap::new();
        let mut deferred: Vec<(String, String, (u32, u32))> = Vec::new();

        let mut stats = UnpackStats::default();
        while let Some(mut file) = reader.next_file().map_err(pkg_err)? {
            let meta = file.metadata.clone();
            let raw = format!("{}{}", meta.dirname(), meta.basename());
            let ctx = Ctx {
                package: &package,
                entry: &raw,
            };
            if meta.flags().contains(FileFlags::GHOST) {
                continue;
            }
            let rel =
                entry_relative_path(meta.dirname(), meta.basename()).map_err(|r| ctx.unsafe_(r))?;
            if rel.is_empty() {
                // The root itself: its mode and owner are the caller's.
                continue;
            }
            let (dir, name) = split_parent(&rel);
            let (uid, gid) = self.owner(meta.user(), meta.group());
            let perms = Mode::from_raw_mode(u32::from(meta.permissions()) & 0o7777);
            let mtime = Timespec {
                tv_sec: i64::from(meta.modified_at().0),
                tv_nsec: 0,
            };
            let times = Timestamps {
                last_access: mtime,
                last_modification: mtime,
            };
            match meta.file_type() {
                FileType::Dir => {
                    let parent = self.ensure_dir(&ctx, dir)?;
                    self.make_dir(&ctx, &parent, &rel, name)?;
                    chownat(
                        &parent,
                        name,
                        Some(Uid::from_raw(uid)),
                        Some(Gid::from_raw(gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| ctx.io(e))?;
                    // Through a symlink-to-directory kept in place: leave
                    // the link's target alone.
                    if statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)
                        .map(|s| StatType::from_raw_mode(s.st_mode) == StatType::Directory)
                        .unwrap_or(false)
                    {
                        rustix::fs::chmodat(&parent, name, perms, AtFlags::empty())
                            .map_err(|e| ctx.io(e))?;
                    }
                    stats.dirs += 1;
                }
                FileType::Regular => {
                    let parent = self.ensure_dir(&ctx, dir)?;
                    if !file.has_payload() {
                        match identity.get(&raw) {
                            Some(&key) => deferred.push((rel.clone(), raw.clone(), key)),
                            None => {
                                return Err(ctx.unsafe_("a regular file without content"));
                            }
                        }
                        continue;
                    }
                    clear_tmp(&parent).map_err(|e| ctx.io(e))?;
                    let fd = openat(
                        &parent,
                        TMP_NAME,
                        OFlags::WRONLY
                            | OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o600),
                    )
                    .map_err(|e| ctx.io(e))?;
                    let mut out = File::from(fd);
                    stats.bytes += io::copy(&mut file, &mut out).map_err(|e| ctx.io(e))?;
                    file.finish().map_err(|e| ctx.io(e))?;
                    // chown before chmod: chown clears set-id bits.
                    fchown(
                        out.as_fd(),
                        Some(Uid::from_raw(uid)),
                        Some(Gid::from_raw(gid)),
                    )
                    .map_err(|e| ctx.io(e))?;
                    fchmod(out.as_fd(), perms).map_err(|e| ctx.io(e))?;
                    futimens(out.as_fd(), &times).map_err(|e| ctx.io(e))?;
                    drop(out);
                    self.rename_into_place(&ctx, &parent, name)?;
                    if let Some(&key) = identity.get(&raw) {
                        link_content.insert(key, rel.clone());
                    }
                    stats.files += 1;
                }
                FileType::SymbolicLink => {
                    let target = meta.linkto().unwrap_or_default();
                    if target.is_empty() || target.contains('\0') {
                        return Err(ctx.unsafe_("a symlink with an empty or invalid target"));
                    }
                    let parent = self.ensure_dir(&ctx, dir)?;
                    clear_tmp(&parent).map_err(|e| ctx.io(e))?;
                    symlinkat(target, &parent, TMP_NAME).map_err(|e| ctx.io(e))?;
                    chownat(
                        &parent,
                        TMP_NAME,
                        Some(Uid::from_raw(uid)),
                        Some(Gid::from_raw(gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| ctx.io(e))?;
                    utimensat(&parent, TMP_NAME, &times, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| ctx.io(e))?;
                    self.rename_into_place(&ctx, &parent, name)?;
                    stats.symlinks += 1;
                }
                _ => {
                    tracing::debug!(package = %package, entry = %raw, "skipping device node, FIFO or socket");
                    stats.skipped += 1;
                }
            }
        }

        for (rel, raw, key) in deferred {
            let ctx = Ctx {
                package: &package,
                entry: &raw,
            };
            let Some(src) = link_content.get(&key) else {
                return Err(ctx.unsafe_("a hard link whose set has no content in the payload"));
            };
            let (sdir, sname) = split_parent(src);
            let (ddir, dname) = split_parent(&rel);
            let sparent = self.ensure_dir(&ctx, sdir)?;
            let dparent = self.ensure_dir(&ctx, ddir)?;
            clear_tmp(&dparent).map_err(|e| ctx.io(e))?;
            linkat(&sparent, sname, &dparent, TMP_NAME, AtFlags::empty()).map_err(|e| ctx.io(e))?;
            self.rename_into_place(&ctx, &dparent, dname)?;
            stats.hardlinks += 1;
        }
        tracing::debug!(package = %package, files = stats.files, bytes = stats.bytes, "unpacked");
        Ok(stats)
    }

    fn make_dir(
        &self,
        ctx: &Ctx,
        parent: &OwnedFd,
        rel: &str,
        name: &str,
    ) -> Result<(), UnpackError> {
        match mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let st = statat(parent, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| ctx.io(e))?;
                match StatType::from_raw_mode(st.st_mode) {
                    StatType::Directory => Ok(()),
                    // rpm keeps a symlink to a directory in place; it must
                    // still lead to a directory inside the tree.
                    StatType::Symlink => self
                        .open_dir(rel)
                        .map(drop)
                        .map_err(|e| Self::map_resolve(ctx, rel, e)),
                    _ => Err(ctx.io(io::Error::other("a file is in the way of this directory"))),
                }
            }
            Err(e) => Err(ctx.io(e)),
        }
    }

    fn rename_into_place(
        &self,
        ctx: &Ctx,
        parent: &OwnedFd,
        name: &str,
    ) -> Result<(), UnpackError> {
        renameat(parent, TMP_NAME, parent, name).map_err(|e| {
            let _ = unlinkat(parent, TMP_NAME, AtFlags::empty());
            match e {
                Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => {
                    ctx.io(io::Error::other("a directory is in the way"))
                }
                e => ctx.io(e),
            }
        })
    }
}

fn clear_tmp(parent: &OwnedFd) -> Result<(), Errno> {
    match unlinkat(parent, TMP_NAME, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_checked() {
        assert_eq!(
            entry_relative_path("/usr/bin/", "rpm").unwrap(),
            "usr/bin/rpm"
        );
        assert_eq!(entry_relative_path("/", "bin").unwrap(), "bin");
        assert_eq!(entry_relative_path("//usr//", "x").unwrap(), "usr/x");
        for (d, b) in [
            ("/../../", "etc"),
            ("/usr/../../", "x"),
            ("/usr/", ".."),
            ("/./", "x"),
            ("usr/", "x"),
            ("/usr/", "a/b"),
            ("/usr/", ""),
        ] {
            assert!(entry_relative_path(d, b).is_err(), "{d}{b}");
        }
    }
}
