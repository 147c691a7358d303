//! A pure-Rust ISO 9660 reader: volume descriptors, directory walk, Rock
//! Ridge names (falling back to Joliet, then plain ISO 9660 names), file
//! extents and data. No mount, no root.
//!
//! The image is untrusted input (a bundle comes from outside), so every
//! length and location is checked against the image size, directory loops
//! and runaway continuation chains are refused, and all work is bounded:
//! a hostile image gives an error, never a panic or an endless loop.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Seek};

use thiserror::Error;

/// The only logical block size in practice (and the only one we accept).
pub const BLOCK: u64 = 2048;
/// Volume descriptors start here (after the 32 KiB system area).
const FIRST_DESCRIPTOR: u64 = 16;
const MAX_DESCRIPTORS: u64 = 64;
/// Directory extents larger than this are refused (100k entries ≈ 10 MiB).
const MAX_DIR_BYTES: u64 = 64 << 20;
const MAX_DEPTH: usize = 255;
/// SUSP continuation areas per record, and their total size.
const MAX_CE_HOPS: usize = 16;
const MAX_SUSP_BYTES: usize = 64 << 10;
const MAX_NAME_BYTES: usize = 1024;
const MAX_EXTENTS_PER_FILE: usize = 4096;

const FLAG_DIRECTORY: u8 = 0x02;
const FLAG_MULTI_EXTENT: u8 = 0x80;
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

#[derive(Debug, Error)]
pub enum IsoError {
    #[error("read error at byte {offset}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("not an ISO 9660 image: {0}")]
    NotIso(String),
    #[error(
        "image is truncated: its volume descriptor says {volume_bytes} bytes, the file has {file_bytes}"
    )]
    Truncated { volume_bytes: u64, file_bytes: u64 },
    #[error("{path}: {what}")]
    Entry { path: String, what: String },
}

fn entry_err(path: &str, what: impl Into<String>) -> IsoError {
    IsoError::Entry {
        path: if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        },
        what: what.into(),
    }
}

/// Positioned reads (pread): many threads can read one image at once.
pub trait ReadAt: Sync {
    fn size(&self) -> u64;
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).ok().filter(|&s| s <= self.len());
        match start.and_then(|s| self.get(s..s.checked_add(buf.len())?)) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past end of image",
            )),
        }
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

/// A file and its length, taken once at open (the image must not change
/// while we read it).
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    pub fn new(file: File) -> io::Result<Self> {
        // Seeking to the end, not the metadata's length: a bundle read
        // straight from a drive (/dev/sr0, a USB stick) is a block
        // device, whose metadata says 0 bytes.
        let len = (&file).seek(io::SeekFrom::End(0))?;
        Ok(FileSource { file, len })
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    /// Device, FIFO or socket (Rock Ridge PX mode).
    Other,
}

/// A byte range of the image holding (part of) a file's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsoEntry {
    /// Relative to the root, `/`-separated, no leading `/`.
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    /// File data in order (several for files over 4 GiB); empty for
    /// directories and empty files.
    pub extents: Vec<Extent>,
}

/// Which directory tree the names come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameSource {
    RockRidge,
    Joliet,
    Iso9660,
}

#[derive(Clone, Copy, Debug)]
struct DirRef {
    /// First block of the directory's extent.
    block: u32,
    size: u32,
}

pub struct IsoImage<R> {
    src: R,
    volume_id: String,
    root: DirRef,
    names: NameSource,
    /// Bytes to skip at the start of each System Use area (SP's LEN_SKP).
    susp_skip: usize,
}

impl<R: ReadAt> IsoImage<R> {
    /// Reads the volume descriptors and picks the tree to walk: Rock Ridge
    /// if the root carries SUSP `SP`, else Joliet if present, else ISO 9660.
    pub fn open(src: R) -> Result<Self, IsoError> {
        let size = src.size();
        let mut primary: Option<(String, DirRef, u64)> = None;
        let mut joliet: Option<DirRef> = None;
        let mut sector = [0u8; BLOCK as usize];
        let mut terminated = false;
        for n in FIRST_DESCRIPTOR..FIRST_DESCRIPTOR + MAX_DESCRIPTORS {
            let offset = n * BLOCK;
            if offset + BLOCK > size {
                break;
            }
            read_at(&src, &mut sector, offset)?;
            if &sector[1..6] != b"CD001" {
                return Err(IsoError::NotIso(format!(
                    "no `CD001` volume descriptor at sector {n}"
                )));
            }
            match sector[0] {
                1 if primary.is_none() => {
                    if u16::from_le_bytes([sector[128], sector[129]]) as u64 != BLOCK {
                        return Err(IsoError::NotIso(
                            "logical block size is not 2048".to_string(),
                        ));
                    }
                    let blocks = u32::from_le_bytes(sector[80..84].try_into().expect("4"));
                    let root = root_record(&sector, "primary")?;
                    let id = String::from_utf8_lossy(&sector[40..72]).trim().to_string();
                    primary = Some((id, root, u64::from(blocks) * BLOCK));
                }
                2 if joliet.is_none() => {
                    let esc = &sector[88..91];
                    if esc == b"%/@" || esc == b"%/C" || esc == b"%/E" {
                        joliet = Some(root_record(&sector, "Joliet")?);
                    }
                }
                255 => {
                    terminated = true;
                    break;
                }
                _ => {}
            }
        }
        let Some((volume_id, root, volume_bytes)) = primary else {
            return Err(IsoError::NotIso(
                "no primary volume descriptor (the file is not an ISO image, or is truncated)"
                    .to_string(),
            ));
        };
        if !terminated {
            return Err(IsoError::NotIso(
                "no volume descriptor set terminator".to_string(),
            ));
        }
        if volume_bytes > size {
            return Err(IsoError::Truncated {
                volume_bytes,
                file_bytes: size,
            });
        }
        let mut image = IsoImage {
            src,
            volume_id,
            root,
            names: NameSource::Iso9660,
            susp_skip: 0,
        };
        // Rock Ridge: the root's "." record starts its System Use area with
        // SP (check bytes BE EF) and names how many bytes to skip. Records
        // never cross a block, so the first block holds it.
        image.check_dir_extent(root, "")?;
        let dot = image.read_dir_data(
            DirRef {
                block: root.block,
                size: root.size.min(BLOCK as u32),
            },
            "",
        )?;
        let first = parse_record(&dot, 0, "")?;
        let su = first.system_use(&dot);
        if su.len() >= 7 && &su[0..2] == b"SP" && su[4] == 0xBE && su[5] == 0xEF {
            image.names = NameSource::RockRidge;
            image.susp_skip = su[6] as usize;
        } else if let Some(j) = joliet {
            image.names = NameSource::Joliet;
            image.root = j;
        }
        Ok(image)
    }

    pub fn volume_id(&self) -> &str {
        &self.volume_id
    }

    pub fn name_source(&self) -> NameSource {
        self.names
    }

    pub fn source(&self) -> &R {
        &self.src
    }

    /// Every entry (directories too, not the root), sorted by path bytes.
    pub fn list(&self) -> Result<Vec<IsoEntry>, IsoError> {
        // Legitimate directories and continuation areas never share bytes,
        // so each kind together fits in the image.
        self.walk(true, self.src.size())
    }

    /// The entries of the root directory only (its subdirectories are
    /// listed, not entered), reading at most `max_bytes` of directory and
    /// of continuation areas: for callers that want a file or two at the
    /// root of a possibly huge or hostile image.
    pub fn list_root(&self, max_bytes: u64) -> Result<Vec<IsoEntry>, IsoError> {
        self.walk(false, max_bytes.min(self.src.size()))
    }

    fn walk(&self, descend: bool, budget: u64) -> Result<Vec<IsoEntry>, IsoError> {
        let mut walk = Walk {
            visited: HashSet::new(),
            dir_bytes: 0,
            susp_bytes: 0,
            budget,
            descend,
            out: Vec::new(),
        };
        walk.visited.insert(self.root.block);
        self.walk_dir(self.root, "", 0, &mut walk)?;
        let mut out = walk.out;
        out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Ok(out)
    }

    /// Reads a file's data in chunks of at most `buf.len()` bytes.
    pub fn for_each_chunk(
        &self,
        entry: &IsoEntry,
        buf: &mut [u8],
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), IsoError> {
        assert!(!buf.is_empty(), "chunk buffer must not be empty");
        for extent in &entry.extents {
            let mut done = 0u64;
            while done < extent.len {
                let n = (extent.len - done).min(buf.len() as u64) as usize;
                read_at(&self.src, &mut buf[..n], extent.offset + done)?;
                f(&buf[..n]);
                done += n as u64;
            }
        }
        Ok(())
    }

    /// A whole file in memory; refuses files larger than `limit`.
    pub fn read_file(&self, entry: &IsoEntry, limit: u64) -> Result<Vec<u8>, IsoError> {
        if entry.kind != EntryKind::File {
            return Err(entry_err(&entry.path, "not a regular file"));
        }
        if entry.size > limit {
            return Err(entry_err(
                &entry.path,
                format!("{} bytes, more than the {limit} expected", entry.size),
            ));
        }
        let mut data = Vec::with_capacity(entry.size as usize);
        let mut buf = vec![0u8; (entry.size as usize).clamp(1, 1 << 20)];
        self.for_each_chunk(entry, &mut buf, |chunk| data.extend_from_slice(chunk))?;
        Ok(data)
    }

    /// A directory's extent, bounds-checked.
    fn read_dir_data(&self, dir: DirRef, path: &str) -> Result<Vec<u8>, IsoError> {
        self.check_dir_extent(dir, path)?;
        let mut data = vec![0u8; dir.size as usize];
        read_at(&self.src, &mut data, u64::from(dir.block) * BLOCK)?;
        Ok(data)
    }

    fn check_dir_extent(&self, dir: DirRef, path: &str) -> Result<(), IsoError> {
        let size = u64::from(dir.size);
        if size > MAX_DIR_BYTES {
            return Err(entry_err(
                path,
                format!("directory claims {size} bytes (at most {MAX_DIR_BYTES} accepted)"),
            ));
        }
        let offset = u64::from(dir.block) * BLOCK;
        if offset + size > self.src.size() {
            return Err(entry_err(
                path,
                format!(
                    "directory extent (block {}, {size} bytes) runs past the end of the image",
                    dir.block
                ),
            ));
        }
        Ok(())
    }

    fn walk_dir(
        &self,
        dir: DirRef,
        path: &str,
        depth: usize,
        walk: &mut Walk,
    ) -> Result<(), IsoError> {
        if depth > MAX_DEPTH {
            return Err(entry_err(
                path,
                format!("directories nested deeper than {MAX_DEPTH}"),
            ));
        }
        self.check_dir_extent(dir, path)?;
        // Overlapping hostile directories would multiply the work.
        walk.dir_bytes += u64::from(dir.size);
        if walk.dir_bytes > walk.budget {
            return Err(entry_err(
                path,
                if walk.budget == self.src.size() {
                    "directories add up to more than the image size (overlapping directory extents)"
                        .to_string()
                } else {
                    format!(
                        "directories add up to more than the {} bytes expected",
                        walk.budget
                    )
                },
            ));
        }
        let data = self.read_dir_data(dir, path)?;
        let mut names_here: HashSet<String> = HashSet::new();
        let mut pending: Option<(Vec<u8>, IsoEntry)> = None;
        let mut subdirs: Vec<(String, DirRef)> = Vec::new();
        let mut pos = 0usize;
        let mut index = 0usize;
        while pos < data.len() {
            if data[pos] == 0 {
                // Records never cross a block: the rest of this block is padding.
                pos = (pos / BLOCK as usize + 1) * BLOCK as usize;
                continue;
            }
            let rec = parse_record(&data, pos, path)?;
            pos += rec.len;
            index += 1;
            if index <= 2 {
                // "." and "..": the first two records of every directory.
                if rec.name(&data) != [index as u8 - 1] {
                    return Err(entry_err(
                        path,
                        format!("record {index} of the directory is not `.`/`..`"),
                    ));
                }
                continue;
            }
            let iso_name = rec.name(&data).to_vec();
            // The continuation of a file stored in several extents.
            if let Some((pending_name, entry)) = pending.as_mut() {
                if *pending_name != iso_name {
                    return Err(entry_err(
                        &entry.path,
                        "multi-extent file is not followed by its next extent",
                    ));
                }
                let entry_path = entry.path.clone();
                push_extent(entry, &rec, self.src.size(), &entry_path)?;
                if rec.flags & FLAG_MULTI_EXTENT == 0 {
                    let (_, done) = pending.take().expect("pending");
                    walk.out.push(done);
                }
                continue;
            }
            let info = match self.names {
                NameSource::RockRidge => {
                    self.read_susp(&rec, &data, path, &mut walk.susp_bytes, walk.budget)?
                }
                _ => Susp::default(),
            };
            if info.relocated {
                // RRIP RE: a deep directory moved here; it is listed at its
                // real place through the CL entry pointing at it.
                continue;
            }
            let name = match (self.names, &info.name) {
                (NameSource::RockRidge, Some(nm)) => String::from_utf8(nm.clone())
                    .map_err(|_| entry_err(path, "Rock Ridge name is not UTF-8"))?,
                (NameSource::Joliet, _) => joliet_name(&iso_name)
                    .ok_or_else(|| entry_err(path, "Joliet name is not valid UCS-2"))?,
                _ => iso9660_name(&iso_name)
                    .ok_or_else(|| entry_err(path, "ISO 9660 name is not ASCII"))?,
            };
            check_name(&name, path)?;
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}/{name}")
            };
            if !names_here.insert(name) {
                return Err(entry_err(&child, "appears twice in its directory"));
            }
            let is_dir_record = rec.flags & FLAG_DIRECTORY != 0;
            if let Some(block) = info.child_link {
                // RRIP CL: this placeholder stands for a relocated directory.
                if walk.descend {
                    let target = self.dir_ref_at(block, &child)?;
                    subdirs.push((child.clone(), target));
                }
                walk.out.push(IsoEntry {
                    path: child,
                    kind: EntryKind::Directory,
                    size: 0,
                    extents: Vec::new(),
                });
                continue;
            }
            let kind = if info.symlink {
                EntryKind::Symlink
            } else {
                match info.mode.map(|m| m & S_IFMT) {
                    None if is_dir_record => EntryKind::Directory,
                    None | Some(S_IFREG) => EntryKind::File,
                    Some(S_IFDIR) => EntryKind::Directory,
                    Some(S_IFLNK) => EntryKind::Symlink,
                    Some(_) => EntryKind::Other,
                }
            };
            if (kind == EntryKind::Directory) != is_dir_record {
                return Err(entry_err(
                    &child,
                    "Rock Ridge file type and ISO 9660 directory flag disagree",
                ));
            }
            if kind == EntryKind::Directory {
                if rec.flags & FLAG_MULTI_EXTENT != 0 {
                    return Err(entry_err(&child, "directory marked as multi-extent"));
                }
                subdirs.push((
                    child.clone(),
                    DirRef {
                        block: rec
                            .block
                            .checked_add(rec.xattr_blocks)
                            .ok_or_else(|| entry_err(&child, "directory location overflows"))?,
                        size: rec.size,
                    },
                ));
                walk.out.push(IsoEntry {
                    path: child,
                    kind,
                    size: 0,
                    extents: Vec::new(),
                });
                continue;
            }
            let mut entry = IsoEntry {
                path: child.clone(),
                kind,
                size: 0,
                extents: Vec::new(),
            };
            push_extent(&mut entry, &rec, self.src.size(), &child)?;
            if rec.flags & FLAG_MULTI_EXTENT != 0 {
                pending = Some((iso_name, entry));
            } else {
                walk.out.push(entry);
            }
        }
        if let Some((_, entry)) = pending {
            return Err(entry_err(
                &entry.path,
                "multi-extent file ends without its last extent",
            ));
        }
        if !walk.descend {
            return Ok(());
        }
        for (child, sub) in subdirs {
            if !walk.visited.insert(sub.block) {
                return Err(entry_err(
                    &child,
                    format!(
                        "directory loop: block {} is already a directory elsewhere",
                        sub.block
                    ),
                ));
            }
            self.walk_dir(sub, &child, depth + 1, walk)?;
        }
        Ok(())
    }

    /// The directory starting at `block` (for CL): its size is in its own
    /// "." record.
    fn dir_ref_at(&self, block: u32, path: &str) -> Result<DirRef, IsoError> {
        let offset = u64::from(block) * BLOCK;
        if offset + BLOCK > self.src.size() {
            return Err(entry_err(
                path,
                format!("relocated directory at block {block} is past the end of the image"),
            ));
        }
        let mut first = vec![0u8; BLOCK as usize];
        read_at(&self.src, &mut first, offset)?;
        let dot = parse_record(&first, 0, path)?;
        if dot.name(&first) != [0] || dot.flags & FLAG_DIRECTORY == 0 || dot.block != block {
            return Err(entry_err(
                path,
                format!("Rock Ridge child link to block {block}, which holds no directory"),
            ));
        }
        Ok(DirRef {
            block,
            size: dot.size,
        })
    }

    /// Collects the Rock Ridge fields of one record, following CE
    /// continuation areas (bounded in number and size, per record and, in
    /// `walked`, over the whole walk).
    fn read_susp(
        &self,
        rec: &Record,
        data: &[u8],
        path: &str,
        walked: &mut u64,
        budget: u64,
    ) -> Result<Susp, IsoError> {
        let mut out = Susp::default();
        let su = rec.system_use(data);
        let mut area: Vec<u8> = su.get(self.susp_skip..).unwrap_or(&[]).to_vec();
        let mut hops = 0;
        let mut total = area.len();
        let mut name = Vec::new();
        let mut has_name = false;
        loop {
            let mut next: Option<(u64, usize)> = None;
            let mut i = 0;
            while i + 4 <= area.len() {
                let sig = [area[i], area[i + 1]];
                let len = area[i + 2] as usize;
                if len < 4 || i + len > area.len() {
                    // Padding or a damaged entry: nothing more to read here.
                    break;
                }
                let e = &area[i..i + len];
                match &sig {
                    b"ST" => break,
                    b"CE" if len >= 28 => {
                        let block = u32::from_le_bytes(e[4..8].try_into().expect("4"));
                        let off = u32::from_le_bytes(e[12..16].try_into().expect("4"));
                        let clen = u32::from_le_bytes(e[20..24].try_into().expect("4"));
                        next = Some((u64::from(block) * BLOCK + u64::from(off), clen as usize));
                    }
                    b"NM" if len >= 5 => {
                        if e[4] & 0x06 != 0 {
                            return Err(entry_err(
                                path,
                                "Rock Ridge name of an entry claims to be `.` or `..`",
                            ));
                        }
                        has_name = true;
                        name.extend_from_slice(&e[5..]);
                        if name.len() > MAX_NAME_BYTES {
                            return Err(entry_err(
                                path,
                                format!("Rock Ridge name longer than {MAX_NAME_BYTES} bytes"),
                            ));
                        }
                    }
                    b"PX" if len >= 36 => {
                        out.mode = Some(u32::from_le_bytes(e[4..8].try_into().expect("4")));
                    }
                    b"SL" => out.symlink = true,
                    b"CL" if len >= 12 => {
                        out.child_link = Some(u32::from_le_bytes(e[4..8].try_into().expect("4")));
                    }
                    b"RE" => out.relocated = true,
                    _ => {}
                }
                i += len;
            }
            let Some((offset, len)) = next else { break };
            hops += 1;
            total += len;
            if hops > MAX_CE_HOPS || total > MAX_SUSP_BYTES {
                return Err(entry_err(
                    path,
                    "System Use continuation (CE) chain too long or looping",
                ));
            }
            *walked += len as u64;
            if *walked > budget {
                return Err(entry_err(
                    path,
                    "System Use continuation (CE) areas add up to more than the bytes expected (overlapping areas)",
                ));
            }
            if offset
                .checked_add(len as u64)
                .is_none_or(|end| end > self.src.size())
            {
                return Err(entry_err(
                    path,
                    "System Use continuation (CE) area past the end of the image",
                ));
            }
            area = vec![0u8; len];
            read_at(&self.src, &mut area, offset)?;
        }
        if has_name {
            out.name = Some(name);
        }
        Ok(out)
    }
}

/// Opens an image file and lists it: what `verify` and tests use.
pub fn open_file(file: File) -> Result<IsoImage<FileSource>, IsoError> {
    let src = FileSource::new(file).map_err(|source| IsoError::Io { offset: 0, source })?;
    IsoImage::open(src)
}

/// Pure entry point for fuzzing: parse and list an image held in memory.
pub fn list_files(image: &[u8]) -> Result<Vec<IsoEntry>, IsoError> {
    IsoImage::open(image)?.list()
}

struct Walk {
    visited: HashSet<u32>,
    dir_bytes: u64,
    /// Continuation-area bytes read.
    susp_bytes: u64,
    /// The most of each of the two the walk may read.
    budget: u64,
    /// Enter subdirectories (else list the root only).
    descend: bool,
    out: Vec<IsoEntry>,
}

#[derive(Default)]
struct Susp {
    name: Option<Vec<u8>>,
    mode: Option<u32>,
    symlink: bool,
    child_link: Option<u32>,
    relocated: bool,
}

/// One directory record, by position in its directory's data.
struct Record {
    start: usize,
    len: usize,
    xattr_blocks: u32,
    block: u32,
    size: u32,
    flags: u8,
    name_len: usize,
}

impl Record {
    fn name<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[self.start + 33..self.start + 33 + self.name_len]
    }

    fn system_use<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        // A padding byte follows names of even length.
        let su = 33 + self.name_len + usize::from(self.name_len.is_multiple_of(2));
        if su >= self.len {
            &[]
        } else {
            &data[self.start + su..self.start + self.len]
        }
    }
}

fn parse_record(data: &[u8], pos: usize, path: &str) -> Result<Record, IsoError> {
    let len = data.get(pos).copied().unwrap_or(0) as usize;
    if len < 34 || pos + len > data.len() {
        return Err(entry_err(
            path,
            format!("directory record at byte {pos} has a bad length {len}"),
        ));
    }
    let r = &data[pos..pos + len];
    let name_len = r[32] as usize;
    if name_len == 0 || 33 + name_len > len {
        return Err(entry_err(
            path,
            format!("directory record at byte {pos} has a bad name length {name_len}"),
        ));
    }
    Ok(Record {
        start: pos,
        len,
        xattr_blocks: u32::from(r[1]),
        block: u32::from_le_bytes(r[2..6].try_into().expect("4")),
        size: u32::from_le_bytes(r[10..14].try_into().expect("4")),
        flags: r[25],
        name_len,
    })
}

fn root_record(sector: &[u8], which: &str) -> Result<DirRef, IsoError> {
    let rec = parse_record(&sector[156..190], 0, "/").map_err(|_| {
        IsoError::NotIso(format!("{which} volume descriptor has a bad root record"))
    })?;
    if rec.flags & FLAG_DIRECTORY == 0 {
        return Err(IsoError::NotIso(format!(
            "{which} volume descriptor's root is not a directory"
        )));
    }
    Ok(DirRef {
        block: rec.block,
        size: rec.size,
    })
}

fn push_extent(
    entry: &mut IsoEntry,
    rec: &Record,
    image_size: u64,
    path: &str,
) -> Result<(), IsoError> {
    if entry.extents.len() >= MAX_EXTENTS_PER_FILE {
        return Err(entry_err(path, "too many extents"));
    }
    let len = u64::from(rec.size);
    let offset = (u64::from(rec.block) + u64::from(rec.xattr_blocks)) * BLOCK;
    if len > 0 {
        if offset + len > image_size {
            return Err(entry_err(
                path,
                format!(
                    "data extent (block {}, {len} bytes) runs past the end of the image ({image_size} bytes)",
                    rec.block
                ),
            ));
        }
        entry.extents.push(Extent { offset, len });
        entry.size += len;
    }
    Ok(())
}

fn check_name(name: &str, dir: &str) -> Result<(), IsoError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(entry_err(
            dir,
            format!("entry has an unsafe name {:?}", name),
        ));
    }
    Ok(())
}

/// Joliet names are UCS-2 big-endian, maybe with a `;1` version.
fn joliet_name(raw: &[u8]) -> Option<String> {
    if !raw.len().is_multiple_of(2) {
        return None;
    }
    let units = raw
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    let name: String = char::decode_utf16(units).collect::<Result<_, _>>().ok()?;
    Some(strip_version(&name).to_string())
}

/// `NAME.EXT;1` → `NAME.EXT`; `DIR.` → `DIR`.
fn iso9660_name(raw: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(raw).ok().filter(|n| n.is_ascii())?;
    let name = strip_version(name);
    Some(name.strip_suffix('.').unwrap_or(name).to_string())
}

fn strip_version(name: &str) -> &str {
    match name.rsplit_once(';') {
        Some((base, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    }
}

fn read_at<R: ReadAt + ?Sized>(src: &R, buf: &mut [u8], offset: u64) -> Result<(), IsoError> {
    src.read_exact_at(buf, offset)
        .map_err(|source| IsoError::Io { offset, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_empty_inputs_are_errors() {
        assert!(matches!(list_files(&[]), Err(IsoError::NotIso(_))));
        assert!(matches!(
            list_files(&vec![0u8; 40 * 2048]),
            Err(IsoError::NotIso(_))
        ));
        assert!(list_files(&vec![0xffu8; 40 * 2048]).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(iso9660_name(b"REPO.RPM;1").unwrap(), "REPO.RPM");
        assert_eq!(iso9660_name(b"DIR.").unwrap(), "DIR");
        let j: Vec<u8> = "é.rpm;1"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        assert_eq!(joliet_name(&j).unwrap(), "é.rpm");
        assert!(check_name("..", "x").is_err());
        assert!(check_name("a/b", "x").is_err());
    }
}
