//! Deterministic layer tarballs: the same tree and changes give the same
//! bytes (R4).
//!
//! Entries are sorted by path (component-wise: parents first), headers are
//! GNU tar headers (GNU long-name entries for long paths) with numeric
//! uid/gid and empty user/group names, mtimes clamped to
//! SOURCE_DATE_EPOCH, directories written as `dir/`, no `./` prefix.
//! Regular files sharing an inode are written once, the later paths as
//! hardlinks to the first. File capabilities go in PAX `SCHILY.xattr.`
//! records before their file. gzip streams carry no name and mtime 0; zstd is
//! single-threaded at level 3.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use tracing::{debug, info};

use crate::digest::{Digest, HashingWriter};
use crate::error::{io_err, Error, Result};
use crate::layout::{BlobWriter, Layout};
use crate::snapshot::{list_paths, read_xattrs, Change, ChangeKind};
use crate::spec::{Descriptor, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_LAYER_ZSTD};

/// Layer compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI layer media type for this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => MEDIA_TYPE_LAYER_TAR,
            Compression::Gzip => MEDIA_TYPE_LAYER_GZIP,
            Compression::Zstd => MEDIA_TYPE_LAYER_ZSTD,
        }
    }
}

impl FromStr for Compression {
    type Err = Error;
    /// `none`/`tar`, `gzip`/`gz`, `zstd`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" | "tar" => Ok(Compression::None),
            "gzip" | "gz" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(Error::BadConfig {
                field: "compression",
                reason: format!("{s:?}: expected none, gzip or zstd"),
            }),
        }
    }
}

/// A layer written into a layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerDescriptor {
    /// Digest of the (compressed) blob.
    pub digest: Digest,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Size of the blob in bytes.
    pub size: u64,
    pub media_type: String,
    /// Tar entries written (whiteouts included).
    pub entries: u64,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
}

impl LayerDescriptor {
    /// The descriptor for the manifest's `layers`.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(&self.media_type, self.digest, self.size)
    }
}

/// Writes a layer with `changes` (paths relative to `root`, as
/// [`crate::snapshot::diff`] returns them): added and modified paths are
/// read from `root`, deleted ones become whiteouts.
pub fn write_layer(
    root: &Path,
    changes: &[Change],
    compression: Compression,
    source_date_epoch: u64,
    layout: &Layout,
) -> Result<LayerDescriptor> {
    let mut members: Vec<(PathBuf, Member)> = Vec::with_capacity(changes.len());
    for c in changes {
        check_rel(root, &c.path)?;
        match c.kind {
            ChangeKind::Deleted => {
                let name = c.path.file_name().expect("checked: has a final component");
                let mut wh = OsString::from(".wh.");
                wh.push(name);
                let member = c.path.parent().unwrap_or(Path::new("")).join(wh);
                members.push((member, Member::Whiteout));
            }
            ChangeKind::Added | ChangeKind::Modified => {
                members.push((c.path.clone(), Member::Path))
            }
        }
    }
    write_members(root, members, compression, source_date_epoch, layout)
}

/// Writes a layer holding the whole tree under `root` (a base image
/// built from scratch).
pub fn write_layer_from_tree(
    root: &Path,
    compression: Compression,
    source_date_epoch: u64,
    layout: &Layout,
) -> Result<LayerDescriptor> {
    let members = list_paths(root)?
        .into_iter()
        .map(|p| (p, Member::Path))
        .collect();
    write_members(root, members, compression, source_date_epoch, layout)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    /// Read from the tree.
    Path,
    /// An empty `.wh.NAME` file.
    Whiteout,
}

fn check_rel(root: &Path, p: &Path) -> Result<()> {
    let ok = p.file_name().is_some() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(Error::Tree {
            root: root.to_path_buf(),
            path: p.to_path_buf(),
            reason: "a change must name a relative path with no '.', '..' or '/' prefix".into(),
        })
    }
}

/// The compressor between the tar stream and the blob file.
enum Compressor {
    None(BlobWriter),
    Gzip(flate2::write::GzEncoder<BlobWriter>),
    Zstd(zstd::Encoder<'static, BlobWriter>),
}

impl Write for Compressor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(w) => w.write(buf),
            Compressor::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(w) => w.flush(),
            Compressor::Zstd(w) => w.flush(),
        }
    }
}

impl Compressor {
    fn new(c: Compression, blob: BlobWriter) -> io::Result<Compressor> {
        Ok(match c {
            Compression::None => Compressor::None(blob),
            // No file name, mtime 0, level 6: the same tar gives the same gzip.
            Compression::Gzip => Compressor::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(blob, flate2::Compression::default()),
            ),
            // The zstd crate's encoder is single-threaded unless asked.
            Compression::Zstd => Compressor::Zstd(zstd::Encoder::new(blob, 3)?),
        })
    }
    fn finish(self) -> io::Result<BlobWriter> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(w) => w.finish(),
            Compressor::Zstd(w) => w.finish(),
        }
    }
}

fn write_members(
    root: &Path,
    mut members: Vec<(PathBuf, Member)>,
    compression: Compression,
    epoch: u64,
    layout: &Layout,
) -> Result<LayerDescriptor> {
    // Component-wise order: a directory before everything in it.
    members.sort_by(|a, b| a.0.cmp(&b.0));
    members.dedup_by(|a, b| a.0 == b.0);
    let blob = layout.blob_writer()?;
    let out_err = |e: io::Error| io_err("cannot write layer in", layout.path())(e);
    let comp = Compressor::new(compression, blob).map_err(out_err)?;
    let mut tar = tar::Builder::new(HashingWriter::new(comp));
    // (dev, inode) of regular files already written -> their member name.
    let mut inodes: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut entries = 0u64;
    let clamp = |mtime: i64| mtime.clamp(0, epoch as i64) as u64;
    let total = members.len();
    for (i, (member, kind)) in members.into_iter().enumerate() {
        if i > 0 && i % 10_000 == 0 {
            info!(written = i, total, "writing layer");
        }
        entries += 1;
        if kind == Member::Whiteout {
            let mut h = gnu_header(tar::EntryType::Regular, 0o644, 0, 0, epoch);
            h.set_size(0);
            tar.append_data(&mut h, &member, io::empty())
                .map_err(out_err)?;
            continue;
        }
        let full = root.join(&member);
        let meta = fs::symlink_metadata(&full)
            .map_err(io_err("cannot stat (changed since the diff?)", &full))?;
        let mode = meta.mode() & 0o7777;
        let mtime = clamp(meta.mtime());
        let ft = meta.file_type();
        let tree_err = |reason: String| Error::Tree {
            root: root.to_path_buf(),
            path: member.clone(),
            reason,
        };
        if ft.is_dir() {
            let mut h = gnu_header(
                tar::EntryType::Directory,
                mode,
                meta.uid(),
                meta.gid(),
                mtime,
            );
            let mut name = member.clone().into_os_string();
            name.push("/");
            tar.append_data(&mut h, Path::new(&name), io::empty())
                .map_err(out_err)?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = inodes.get(&key) {
                    let mut h =
                        gnu_header(tar::EntryType::Link, mode, meta.uid(), meta.gid(), mtime);
                    tar.append_link(&mut h, &member, first).map_err(out_err)?;
                    continue;
                }
                inodes.insert(key, member.clone());
            }
            let xattrs = read_xattrs(&full)?;
            if !xattrs.is_empty() {
                let keys: Vec<(String, &[u8])> = xattrs
                    .iter()
                    .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                    .collect();
                tar.append_pax_extensions(keys.iter().map(|(k, v)| (k.as_str(), *v)))
                    .map_err(out_err)?;
            }
            let f = File::open(&full).map_err(io_err("cannot read", &full))?;
            let mut h = gnu_header(tar::EntryType::Regular, mode, meta.uid(), meta.gid(), mtime);
            h.set_size(meta.len());
            // A file that grows or shrinks meanwhile would corrupt the
            // tar: read exactly the stat'ed length and check it.
            let mut reader = Counted {
                inner: io::BufReader::with_capacity(1 << 18, f).take(meta.len()),
                n: 0,
            };
            tar.append_data(&mut h, &member, &mut reader)
                .map_err(|e| tree_err(format!("cannot add to layer: {e}")))?;
            if reader.n != meta.len() {
                return Err(tree_err(format!(
                    "file shrank from {} to {} bytes while being written to the layer",
                    meta.len(),
                    reader.n
                )));
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&full).map_err(io_err("cannot read link", &full))?;
            let mut h = gnu_header(
                tar::EntryType::Symlink,
                0o777,
                meta.uid(),
                meta.gid(),
                mtime,
            );
            tar.append_link(&mut h, &member, &target).map_err(out_err)?;
        } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            let et = if ft.is_fifo() {
                tar::EntryType::Fifo
            } else if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            let mut h = gnu_header(et, mode, meta.uid(), meta.gid(), mtime);
            if !ft.is_fifo() {
                h.set_device_major(rustix::fs::major(meta.rdev()))
                    .map_err(out_err)?;
                h.set_device_minor(rustix::fs::minor(meta.rdev()))
                    .map_err(out_err)?;
            }
            tar.append_data(&mut h, &member, io::empty())
                .map_err(out_err)?;
        } else {
            debug!(path = %full.display(), "socket left out of the layer");
            entries -= 1;
        }
    }
    let hashing = tar.into_inner().map_err(out_err)?;
    let (diff_id, uncompressed_size, comp) = hashing.into_parts();
    let blob = comp.finish().map_err(out_err)?;
    let desc = blob.commit(compression.media_type())?;
    info!(
        layout = %layout.path().display(),
        digest = %desc.digest,
        %diff_id,
        entries,
        size = desc.size,
        uncompressed_size,
        "layer written"
    );
    Ok(LayerDescriptor {
        digest: desc.digest,
        diff_id,
        size: desc.size,
        media_type: desc.media_type,
        entries,
        uncompressed_size,
    })
}

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// A GNU header with numeric owners, empty owner names and the given mtime.
fn gnu_header(kind: tar::EntryType, mode: u32, uid: u32, gid: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    h.set_mtime(mtime);
    h.set_size(0);
    h
}
