//! Applying image layers to a directory, safely.
//!
//! Policy (R20, issue 4):
//! - member names are normalized: a leading `/` or `./` is dropped (as
//!   Docker does); a `..` component refuses the layer;
//! - parent directories are resolved one component at a time with
//!   `lstat`, inside `root`: a symlink on the way is followed only when it
//!   is relative and stays inside `root`; an absolute symlink or one that
//!   climbs out (`a -> /etc`, `a -> ../../x`) refuses the member that
//!   would be written through it. The final component is never followed:
//!   an existing symlink there is replaced, not written through;
//! - hardlink targets are resolved the same way and must exist in `root`;
//! - whiteouts `.wh.NAME` remove NAME from lower layers, `.wh..wh..opq`
//!   empties the directory of everything lower layers put there; a
//!   whiteout whose path leaves the layer root is refused;
//! - character and block devices are skipped (counted, logged): containers
//!   get their `/dev` from the runtime, and creating device nodes from an
//!   image is a needless risk; FIFOs are created;
//! - owners are the tar header's numeric uid/gid (names ignored), modes
//!   and mtimes are applied; of extended attributes only
//!   [`CARRIED_XATTRS`] (file capabilities).
//!
//! Resolution is path-based (lstat per component, not openat): it assumes
//! nothing else writes into `root` while a layer is applied, which holds
//! for the image builder's private work directory. An opaque whiteout keeps
//! the entries the same layer created (and their parents) and removes the
//! rest of the directory; a subdirectory the layer re-lists keeps what
//! lower layers put inside it (a simplification: our writer never emits
//! opaque whiteouts).
//!
//! The layer blob is verified (size and digest) before anything is
//! written, and its uncompressed stream is checked against the config's
//! diff_id when one is known.

use std::collections::{HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::digest::{Digest, HashingReader};
use crate::error::{io_err, Error, Result};
use crate::layout::{Image, Layout};
use crate::snapshot::CARRIED_XATTRS;
use crate::spec::{
    Descriptor, MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR,
    MEDIA_TYPE_LAYER_ZSTD,
};

const MEDIA_TYPE_DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Symlinks followed while resolving one path (as Linux's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;

/// Counts of what unpacking did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub layers: usize,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub fifos: u64,
    pub whiteouts: u64,
    pub skipped_devices: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
}

/// Applies every layer of `image` to `root` (created if missing), lowest
/// first.
pub fn unpack_image(layout: &Layout, image: &Image, root: &Path) -> Result<UnpackStats> {
    let mut stats = UnpackStats::default();
    let n = image.layers.len();
    for (i, layer) in image.layers.iter().enumerate() {
        info!(layer = i + 1, of = n, digest = %layer.digest, size = layer.size, "unpacking layer");
        unpack_layer(layout, layer, image.diff_ids().get(i), root, &mut stats)?;
    }
    info!(
        root = %root.display(),
        layers = stats.layers,
        files = stats.files,
        dirs = stats.dirs,
        symlinks = stats.symlinks,
        whiteouts = stats.whiteouts,
        bytes = stats.bytes,
        "image unpacked"
    );
    Ok(stats)
}

/// The uncompressed tar stream of a layer blob (a file, or a member of
/// an archive read in place), by its media type.
pub fn decoder(layer: &Descriptor, file: impl Read + 'static) -> Result<Box<dyn Read>> {
    let mt = layer.media_type.as_str();
    let file = BufReader::with_capacity(1 << 20, file);
    Ok(
        if mt == MEDIA_TYPE_LAYER_TAR || mt == MEDIA_TYPE_DOCKER_LAYER_TAR {
            Box::new(file)
        } else if mt == MEDIA_TYPE_LAYER_ZSTD {
            Box::new(
                zstd::Decoder::with_buffer(file).map_err(|e| Error::BadLayer {
                    layer: layer.digest.to_string(),
                    reason: format!("bad zstd stream: {e}"),
                })?,
            )
        } else if mt == MEDIA_TYPE_LAYER_GZIP || mt == MEDIA_TYPE_DOCKER_LAYER_GZIP {
            Box::new(flate2::bufread::MultiGzDecoder::new(file))
        } else {
            return Err(Error::UnsupportedMediaType {
                digest: layer.digest,
                media_type: mt.to_string(),
                expected: "an OCI layer: tar, tar+gzip or tar+zstd",
            });
        },
    )
}

/// Applies one layer to `root`; `diff_id`, when given, is checked against
/// the uncompressed stream. Counts are added to `stats`.
pub fn unpack_layer(
    layout: &Layout,
    layer: &Descriptor,
    diff_id: Option<&Digest>,
    root: &Path,
    stats: &mut UnpackStats,
) -> Result<()> {
    let label = layer.digest.to_string();
    // Nothing is written from a blob that is not exactly what the manifest names.
    let path = layout.verify_blob(layer)?;
    let file = File::open(&path).map_err(io_err("cannot read blob", &path))?;
    let decoded = decoder(layer, file)?;
    let bad = |reason: String| Error::BadLayer {
        layer: label.clone(),
        reason,
    };
    fs::create_dir_all(root).map_err(io_err("cannot create", root))?;
    let meta = fs::symlink_metadata(root).map_err(io_err("cannot stat", root))?;
    if !meta.is_dir() {
        return Err(Error::Tree {
            root: root.to_path_buf(),
            path: PathBuf::new(),
            reason: "the unpack root is not a directory".into(),
        });
    }
    let mut ar = tar::Archive::new(HashingReader::new(decoded));
    let mut un = Unpacker {
        root,
        label: &label,
        touched: HashSet::new(),
        dir_times: Vec::new(),
        stats,
    };
    let entries = ar
        .entries()
        .map_err(|e| bad(format!("not a tar stream: {e}")))?;
    let mut last = String::from("(start of layer)");
    for entry in entries {
        let mut entry =
            entry.map_err(|e| bad(format!("cannot read the tar entry after {last:?}: {e}")))?;
        last = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        un.apply(&mut entry)?;
    }
    un.finish()?;
    un.stats.layers += 1;
    // Read what the tar reader left (end-of-archive blocks, padding) so the
    // digest covers the whole stream.
    let mut rest = ar.into_inner();
    io::copy(&mut rest, &mut io::sink())
        .map_err(|e| bad(format!("cannot read the end of the stream: {e}")))?;
    let (actual, len) = rest.finish();
    if let Some(want) = diff_id {
        if actual != *want {
            return Err(bad(format!(
                "uncompressed content ({len} bytes) hashes to {actual}, the config's diff_id is {want}"
            )));
        }
    }
    Ok(())
}

struct Unpacker<'a> {
    root: &'a Path,
    label: &'a str,
    /// Paths (relative) this layer created, and their parents: an opaque
    /// whiteout keeps them.
    touched: HashSet<PathBuf>,
    /// Directory mtimes, applied once the layer is complete (creating
    /// entries inside a directory changes its mtime).
    dir_times: Vec<(PathBuf, u64)>,
    stats: &'a mut UnpackStats,
}

/// A member name split into normal components: leading `/` and `./`
/// dropped, `..` refused.
fn split_member(raw: &[u8]) -> std::result::Result<Vec<OsString>, String> {
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("it has a '..' component".into()),
            c => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    Ok(out)
}

impl Unpacker<'_> {
    fn refuse(&self, member: &[u8], reason: impl Into<String>) -> Error {
        Error::UnsafeMember {
            layer: self.label.to_string(),
            member: String::from_utf8_lossy(member).into_owned(),
            reason: reason.into(),
        }
    }

    fn io(&self, member: &[u8], what: &str, e: io::Error) -> Error {
        Error::BadLayer {
            layer: self.label.to_string(),
            reason: format!("member {:?}: {what}: {e}", String::from_utf8_lossy(member)),
        }
    }

    /// Resolves the directory `comps` names inside the root, one component
    /// at a time with lstat. Relative symlinks are followed while they stay
    /// inside the root; absolute or escaping ones are refused. Missing
    /// directories are created when `create`, else `Ok(None)`.
    fn resolve_dir(
        &mut self,
        member: &[u8],
        comps: &[OsString],
        create: bool,
    ) -> Result<Option<PathBuf>> {
        let mut stack: Vec<OsString> = Vec::new();
        let mut queue: VecDeque<OsString> = comps.iter().cloned().collect();
        let mut links = 0usize;
        while let Some(c) = queue.pop_front() {
            if c.is_empty() || c == "." {
                continue;
            }
            if c == ".." {
                if stack.pop().is_none() {
                    return Err(
                        self.refuse(member, "its path climbs out of the root through a symlink")
                    );
                }
                continue;
            }
            let rel: PathBuf = stack.iter().chain(std::iter::once(&c)).collect();
            let host = self.root.join(&rel);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => stack.push(c),
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(self.refuse(member, "too many levels of symlinks in its path"));
                    }
                    let target = fs::read_link(&host)
                        .map_err(|e| self.io(member, "cannot read symlink", e))?;
                    if target.is_absolute() {
                        return Err(self.refuse(
                            member,
                            format!(
                                "its path goes through symlink /{} -> {}, an absolute link that leads out of the root",
                                rel.display(),
                                target.display()
                            ),
                        ));
                    }
                    let mut parts: Vec<OsString> = target
                        .as_os_str()
                        .as_bytes()
                        .split(|&b| b == b'/')
                        .map(|p| OsStr::from_bytes(p).to_os_string())
                        .collect();
                    // Resolve the link relative to its own directory.
                    parts.extend(queue.drain(..));
                    queue = parts.into();
                    // Check the climb now for a clear message naming the link.
                    let mut depth = stack.len() as i64;
                    for p in target.components() {
                        match p {
                            std::path::Component::ParentDir => depth -= 1,
                            std::path::Component::Normal(_) => depth += 1,
                            _ => {}
                        }
                        if depth < 0 {
                            return Err(self.refuse(
                                member,
                                format!(
                                    "its path goes through symlink /{} -> {}, which leads out of the root",
                                    rel.display(),
                                    target.display()
                                ),
                            ));
                        }
                    }
                }
                Ok(_) => {
                    return Err(self.refuse(
                        member,
                        format!(
                            "its parent /{} exists and is not a directory",
                            rel.display()
                        ),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if !create {
                        return Ok(None);
                    }
                    fs::create_dir(&host)
                        .map_err(|e| self.io(member, "cannot create parent directory", e))?;
                    fs::set_permissions(&host, fs::Permissions::from_mode(0o755))
                        .map_err(|e| self.io(member, "cannot chmod parent directory", e))?;
                    self.touched.insert(rel);
                    stack.push(c);
                }
                Err(e) => return Err(self.io(member, "cannot stat parent", e)),
            }
        }
        Ok(Some(self.root.join(stack.iter().collect::<PathBuf>())))
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let comps = split_member(&raw).map_err(|r| self.refuse(&raw, r))?;
        let Some((name, parents)) = comps.split_last() else {
            // The root itself ("./"): its metadata is the unpacker's choice.
            return Ok(());
        };
        let rel: PathBuf = comps.iter().collect();
        let name_bytes = name.as_bytes();
        if let Some(hidden) = name_bytes.strip_prefix(b".wh.") {
            return self.whiteout(&raw, parents, hidden);
        }
        let header = entry.header();
        let et = header.entry_type();
        let mode = header.mode().map_err(|e| self.io(&raw, "bad mode", e))? & 0o7777;
        let uid = header.uid().map_err(|e| self.io(&raw, "bad uid", e))?;
        let gid = header.gid().map_err(|e| self.io(&raw, "bad gid", e))?;
        let mtime = header.mtime().map_err(|e| self.io(&raw, "bad mtime", e))?;
        let (uid, gid) = match (u32::try_from(uid), u32::try_from(gid)) {
            (Ok(u), Ok(g)) => (u, g),
            _ => return Err(self.refuse(&raw, format!("uid/gid {uid}/{gid} out of range"))),
        };
        if matches!(et, tar::EntryType::Char | tar::EntryType::Block) {
            warn!(layer = self.label, member = %String::from_utf8_lossy(&raw), "device node skipped");
            self.stats.skipped_devices += 1;
            return Ok(());
        }
        let known = et.is_dir()
            || et.is_file()
            || et.is_symlink()
            || et.is_hard_link()
            || et.is_fifo()
            || et == tar::EntryType::Continuous
            || et == tar::EntryType::GNUSparse;
        if !known {
            // PAX/GNU extension records are consumed by the tar reader; any
            // other type (e.g. a global header) carries no file.
            tracing::debug!(layer = self.label, member = %String::from_utf8_lossy(&raw), ?et, "entry type ignored");
            return Ok(());
        }
        let parent = self
            .resolve_dir(&raw, parents, true)?
            .expect("created when missing");
        let target = parent.join(name);
        // A hardlink's source is checked before anything is replaced.
        let link_src = if et.is_hard_link() {
            let link = entry
                .link_name_bytes()
                .ok_or_else(|| self.refuse(&raw, "hardlink without a target"))?
                .into_owned();
            let src = self.resolve_link_target(&raw, &link)?;
            if src == target {
                return Ok(()); // a link to itself: already there
            }
            Some(src)
        } else {
            None
        };
        let existing = fs::symlink_metadata(&target).ok();
        if et.is_dir() {
            match existing {
                Some(m) if m.is_dir() => {}
                Some(m) => {
                    remove(&target, &m).map_err(|e| self.io(&raw, "cannot replace", e))?;
                    fs::create_dir(&target)
                        .map_err(|e| self.io(&raw, "cannot create directory", e))?;
                }
                None => fs::create_dir(&target)
                    .map_err(|e| self.io(&raw, "cannot create directory", e))?,
            }
            self.set_owner_mode(&raw, &target, uid, gid, Some(mode))?;
            self.dir_times.push((target, mtime));
            self.stats.dirs += 1;
        } else {
            if let Some(m) = &existing {
                remove(&target, m).map_err(|e| self.io(&raw, "cannot replace", e))?;
            }
            if et.is_symlink() {
                let link = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.refuse(&raw, "symlink without a target"))?
                    .into_owned();
                std::os::unix::fs::symlink(OsStr::from_bytes(&link), &target)
                    .map_err(|e| self.io(&raw, "cannot create symlink", e))?;
                self.set_owner_mode(&raw, &target, uid, gid, None)?;
                self.set_mtime(&raw, &target, mtime)?;
                self.stats.symlinks += 1;
            } else if let Some(src) = &link_src {
                fs::hard_link(src, &target)
                    .map_err(|e| self.io(&raw, "cannot create hardlink", e))?;
                self.stats.hardlinks += 1;
            } else if et.is_fifo() {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &target,
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o600),
                    0,
                )
                .map_err(|e| self.io(&raw, "cannot create fifo", e.into()))?;
                self.set_owner_mode(&raw, &target, uid, gid, Some(mode))?;
                self.set_mtime(&raw, &target, mtime)?;
                self.stats.fifos += 1;
            } else {
                let xattrs = self.carried_xattrs(&raw, entry)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(|e| self.io(&raw, "cannot create file", e))?;
                let n = io::copy(entry, &mut f)
                    .map_err(|e| self.io(&raw, "cannot write (truncated layer?)", e))?;
                drop(f);
                self.set_owner_mode(&raw, &target, uid, gid, Some(mode))?;
                // After chown, which drops file capabilities.
                for (name, value) in &xattrs {
                    rustix::fs::lsetxattr(
                        &target,
                        name.as_str(),
                        value,
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(|e| self.io(&raw, "cannot set extended attribute", e.into()))?;
                }
                self.set_mtime(&raw, &target, mtime)?;
                self.stats.files += 1;
                self.stats.bytes += n;
            }
        }
        let mut p = rel.as_path();
        loop {
            self.touched.insert(p.to_path_buf());
            match p.parent() {
                Some(q) if !q.as_os_str().is_empty() => p = q,
                _ => break,
            }
        }
        Ok(())
    }

    /// The entry's PAX `SCHILY.xattr.*` records we apply ([`CARRIED_XATTRS`]).
    fn carried_xattrs<R: Read>(
        &self,
        member: &[u8],
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| self.io(member, "bad PAX header", e))?
        else {
            return Ok(out);
        };
        for ext in exts {
            let ext = ext.map_err(|e| self.io(member, "bad PAX header", e))?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                if CARRIED_XATTRS.contains(&name) {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                } else {
                    tracing::debug!(layer = self.label, member = %String::from_utf8_lossy(member), name, "xattr not applied");
                }
            }
        }
        Ok(out)
    }

    /// A hardlink's target: inside the root, existing, not a directory.
    fn resolve_link_target(&mut self, member: &[u8], link: &[u8]) -> Result<PathBuf> {
        let comps = split_member(link).map_err(|r| {
            self.refuse(
                member,
                format!("hardlink target {:?}: {r}", String::from_utf8_lossy(link)),
            )
        })?;
        let Some((name, parents)) = comps.split_last() else {
            return Err(self.refuse(member, "hardlink to the root"));
        };
        let missing = || {
            format!(
                "hardlink target {:?} does not exist in the root",
                String::from_utf8_lossy(link)
            )
        };
        let dir = self
            .resolve_dir(member, parents, false)?
            .ok_or_else(|| self.refuse(member, missing()))?;
        let src = dir.join(name);
        match fs::symlink_metadata(&src) {
            Ok(m) if m.is_dir() => Err(self.refuse(member, "hardlink to a directory")),
            Ok(_) => Ok(src),
            Err(_) => Err(self.refuse(member, missing())),
        }
    }

    fn whiteout(&mut self, member: &[u8], parents: &[OsString], hidden: &[u8]) -> Result<()> {
        self.stats.whiteouts += 1;
        let Some(dir) = self.resolve_dir(member, parents, false)? else {
            return Ok(()); // nothing below to hide
        };
        let dir_rel: PathBuf = parents.iter().collect();
        if hidden == b".wh..opq" {
            let list = fs::read_dir(&dir).map_err(|e| self.io(member, "cannot list", e))?;
            for e in list {
                let e = e.map_err(|e| self.io(member, "cannot list", e))?;
                if self.touched.contains(&dir_rel.join(e.file_name())) {
                    continue;
                }
                let p = e.path();
                let m = fs::symlink_metadata(&p).map_err(|e| self.io(member, "cannot stat", e))?;
                remove(&p, &m)
                    .map_err(|e| self.io(member, "cannot remove (opaque whiteout)", e))?;
            }
            return Ok(());
        }
        if hidden.starts_with(b".wh.") {
            // Other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): nothing to apply.
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
            return Err(self.refuse(member, "whiteout names no file"));
        }
        let p = dir.join(OsStr::from_bytes(hidden));
        if let Ok(m) = fs::symlink_metadata(&p) {
            remove(&p, &m).map_err(|e| self.io(member, "cannot remove (whiteout)", e))?;
        }
        Ok(())
    }

    fn set_owner_mode(
        &self,
        member: &[u8],
        path: &Path,
        uid: u32,
        gid: u32,
        mode: Option<u32>,
    ) -> Result<()> {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .map_err(|e| self.io(member, "cannot chown", e))?;
        // After chown, which clears setuid/setgid bits.
        if let Some(mode) = mode {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| self.io(member, "cannot chmod", e))?;
        }
        Ok(())
    }

    fn set_mtime(&self, member: &[u8], path: &Path, mtime: u64) -> Result<()> {
        set_times(path, mtime).map_err(|e| self.io(member, "cannot set mtime", e))
    }

    fn finish(&mut self) -> Result<()> {
        for (p, t) in self.dir_times.iter().rev() {
            // A later entry may have replaced the directory; skip then.
            if fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
                set_times(p, *t).map_err(io_err("cannot set mtime of", p))?;
            }
        }
        Ok(())
    }
}

fn set_times(path: &Path, mtime: u64) -> io::Result<()> {
    let ts = rustix::fs::Timespec {
        tv_sec: mtime.min(i64::MAX as u64) as i64,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

/// Removes `path` (lstat'ed as `meta`): a directory with everything in it
/// (not following symlinks), anything else unlinked.
fn remove(path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        assert_eq!(
            split_member(b"/etc//passwd").unwrap(),
            vec![OsString::from("etc"), "passwd".into()]
        );
        assert_eq!(
            split_member(b"./a/./b/").unwrap(),
            vec![OsString::from("a"), "b".into()]
        );
        assert!(split_member(b"a/../b").is_err());
        assert!(split_member(b"../.wh.x").is_err());
        assert!(split_member(b"./").unwrap().is_empty());
    }
}
