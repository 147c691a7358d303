//! A read-only FAT12/16/32 reader for config drives: the volume label and
//! the files at the root, nothing more (no subdirectories, no writes).
//!
//! The drive may be damaged or hostile and is read at every boot, so every
//! walk is bounded: the boot sector is checked the way the FAT spec computes
//! the FAT type, every cluster number is checked against the cluster count,
//! a cluster seen twice is a loop or a cross-link (named as such), the root
//! directory holds at most the spec's 65536 entries, a file's size is
//! checked before anything is read and its chain must cover it exactly, and
//! every offset is checked against the device length.

use std::collections::HashMap;

use mk_bundle::iso::ReadAt;

use super::{read_at, ReadError, MAX_FILE};

/// The FAT spec's limit for any directory, the root included.
const MAX_DIR_ENTRIES: u64 = 65536;
const ENTRY: usize = 32;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_LONG_NAME: u8 = 0x0F;
/// FAT bytes read at once: chains mostly run forward through the table.
const FAT_WINDOW: u64 = 4096;

/// Boot signature, a sector size FAT allows, and `FAT` in one of the two
/// places the filesystem-type string lives (FAT12/16 and FAT32 boot
/// sectors): what makes a device "a FAT filesystem" before its BPB is
/// trusted.
pub(crate) fn looks_like_fat(b: &[u8; 512]) -> bool {
    let bps = u16::from_le_bytes([b[11], b[12]]);
    b[510] == 0x55
        && b[511] == 0xAA
        && matches!(bps, 512 | 1024 | 2048 | 4096)
        && (&b[54..57] == b"FAT" || &b[82..85] == b"FAT")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FatType {
    Fat12,
    Fat16,
    Fat32,
}

/// Where the root directory lives.
#[derive(Clone, Copy, Debug)]
enum Root {
    /// FAT12/16: a fixed region after the FATs.
    Fixed { offset: u64, len: u64 },
    /// FAT32: a cluster chain like any directory.
    Chain(u32),
}

/// Which chain each cluster seen so far belongs to: a second visit is a loop
/// (same chain) or a cross-link (another one).
type Owners = HashMap<u32, String>;

/// A FAT filesystem whose boot sector passed the checks.
pub(crate) struct Fat<'a, R: ReadAt + ?Sized> {
    dev: &'a R,
    pub(crate) kind: FatType,
    cluster_bytes: u64,
    fat_offset: u64,
    fat_bytes: u64,
    data_offset: u64,
    /// Data clusters, numbered 2..clusters+2.
    clusters: u32,
    root: Root,
    boot_label: String,
    /// A window of FAT #0: (offset in the FAT, bytes).
    window: (u64, Vec<u8>),
}

/// A root-directory entry: a file (or the volume label).
struct Entry {
    /// The long name when a valid one precedes the short entry.
    long: Option<String>,
    /// The 11 name bytes as stored (a volume label's whole text).
    raw: [u8; 11],
    /// `NAME.EXT`.
    short: String,
    attr: u8,
    first_cluster: u32,
    size: u32,
}

impl Entry {
    fn is_named(&self, name: &str) -> bool {
        self.long
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(name))
            || self.short.eq_ignore_ascii_case(name)
    }
}

fn u16le(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32le(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn bad(what: String) -> ReadError {
    ReadError::BootSector(what)
}

fn structure(what: &str, problem: String) -> ReadError {
    ReadError::Structure {
        what: what.to_string(),
        problem,
    }
}

impl<'a, R: ReadAt + ?Sized> Fat<'a, R> {
    /// Checks the boot sector (BPB) of `dev` and computes the layout as the
    /// FAT spec does.
    pub(crate) fn open(dev: &'a R) -> Result<Self, ReadError> {
        let mut b = [0u8; 512];
        read_at(dev, &mut b, 0, "the FAT boot sector")?;
        let bps = u16le(&b, 11);
        if !matches!(bps, 512 | 1024 | 2048 | 4096) {
            return Err(bad(format!(
                "{bps} bytes per sector (expected 512, 1024, 2048 or 4096)"
            )));
        }
        let spc = u64::from(b[13]);
        if !spc.is_power_of_two() {
            return Err(bad(format!(
                "{spc} sectors per cluster (expected a power of two up to 128)"
            )));
        }
        let cluster_bytes = bps * spc;
        if cluster_bytes > 64 << 10 {
            return Err(bad(format!(
                "clusters of {cluster_bytes} bytes (at most 65536 expected)"
            )));
        }
        let reserved = u16le(&b, 14);
        if reserved == 0 {
            return Err(bad(
                "0 reserved sectors (the boot sector itself is one)".into()
            ));
        }
        let fats = u64::from(b[16]);
        if !(1..=2).contains(&fats) {
            return Err(bad(format!("{fats} FATs (expected 1 or 2)")));
        }
        let root_entries = u16le(&b, 17);
        let total = match u16le(&b, 19) {
            0 => u32le(&b, 32),
            n => n,
        };
        if total == 0 {
            return Err(bad("a total sector count of 0".into()));
        }
        let fat16_size = u16le(&b, 22);
        let fat_sectors = match fat16_size {
            0 => u32le(&b, 36),
            n => n,
        };
        if fat_sectors == 0 {
            return Err(bad("a FAT size of 0 sectors".into()));
        }
        let root_sectors = (root_entries * ENTRY as u64).div_ceil(bps);
        let meta = reserved + fats * fat_sectors + root_sectors;
        let clusters = match total.checked_sub(meta) {
            Some(data) if data / spc > 0 => data / spc,
            _ => {
                return Err(bad(format!(
                    "reserved sectors, FATs and root directory take {meta} sectors, \
                     leaving no cluster of the {total}"
                )))
            }
        };
        // The spec's rule: the FAT type follows from the cluster count alone.
        let kind = if clusters < 4085 {
            FatType::Fat12
        } else if clusters < 65525 {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        match kind {
            FatType::Fat32 if root_entries != 0 || fat16_size != 0 => {
                return Err(bad(format!(
                    "{clusters} clusters make it FAT32, but it has a FAT12/16 \
                     root directory or FAT size"
                )))
            }
            FatType::Fat32 if clusters > 0x0FFF_FFF5 => {
                return Err(bad(format!(
                    "{clusters} clusters, more than FAT32 can number"
                )))
            }
            FatType::Fat12 | FatType::Fat16 if root_entries == 0 => {
                return Err(bad(format!(
                    "{clusters} clusters make it {}, but it has no root directory entries",
                    if kind == FatType::Fat12 {
                        "FAT12"
                    } else {
                        "FAT16"
                    }
                )))
            }
            _ => {}
        }
        let entries = clusters + 2;
        let needed = match kind {
            FatType::Fat12 => (entries * 3).div_ceil(2),
            FatType::Fat16 => entries * 2,
            FatType::Fat32 => entries * 4,
        };
        let fat_bytes = fat_sectors * bps;
        if fat_bytes < needed {
            return Err(bad(format!(
                "a FAT of {fat_bytes} bytes cannot map {clusters} clusters ({needed} bytes needed)"
            )));
        }
        let fs_bytes = total * bps;
        if fs_bytes > dev.size() {
            return Err(ReadError::Truncated {
                fs_bytes,
                device_bytes: dev.size(),
            });
        }
        let clusters = u32::try_from(clusters).map_err(|_| bad("too many clusters".into()))?;
        let root = if kind == FatType::Fat32 {
            let c = u32le(&b, 44);
            if !(2..u64::from(clusters) + 2).contains(&c) {
                return Err(bad(format!(
                    "root directory at cluster {c}, outside the data clusters 2..{}",
                    u64::from(clusters) + 2
                )));
            }
            Root::Chain(c as u32)
        } else {
            Root::Fixed {
                offset: (reserved + fats * fat_sectors) * bps,
                len: root_sectors * bps,
            }
        };
        // The extended boot signature 0x29 says the label field is there.
        let (sig, at) = if kind == FatType::Fat32 {
            (66, 71)
        } else {
            (38, 43)
        };
        let boot_label = if b[sig] == 0x29 {
            let l = String::from_utf8_lossy(&b[at..at + 11])
                .trim_end()
                .to_string();
            if l == "NO NAME" {
                String::new()
            } else {
                l
            }
        } else {
            String::new()
        };
        Ok(Fat {
            dev,
            kind,
            cluster_bytes,
            fat_offset: reserved * bps,
            fat_bytes,
            data_offset: meta * bps,
            clusters,
            root,
            boot_label,
            window: (0, Vec::new()),
        })
    }

    /// The label blkid and Windows show: the root directory's volume-label
    /// entry, else the boot sector's copy ("" when neither has one). Stops
    /// reading the root at the label.
    pub(crate) fn label(&mut self) -> Result<String, ReadError> {
        let mut owners = Owners::new();
        let mut label = None;
        self.scan_root(&mut owners, false, |e| {
            if e.attr & ATTR_VOLUME_ID != 0 && e.attr & ATTR_DIRECTORY == 0 {
                // A label is the 11 bytes as one text, not NAME.EXT.
                label = Some(String::from_utf8_lossy(&e.raw).trim_end().to_string());
                return false;
            }
            true
        })?;
        Ok(label.unwrap_or_else(|| self.boot_label.clone()))
    }

    /// The files `names` at the root (case-insensitive, long or 8.3 names),
    /// `None` for those absent. The whole root directory is read, so a
    /// damaged one is found even when the files come first.
    pub(crate) fn read_root_files(
        &mut self,
        names: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, ReadError> {
        let mut owners = Owners::new();
        let mut found: Vec<Option<(u32, u32)>> = vec![None; names.len()];
        let mut twice = None;
        self.scan_root(&mut owners, true, |e| {
            if e.attr & (ATTR_VOLUME_ID | ATTR_DIRECTORY) != 0 {
                return true;
            }
            for (i, name) in names.iter().enumerate() {
                if e.is_named(name) {
                    if found[i].is_some() {
                        twice = Some(name.to_string());
                        return false;
                    }
                    found[i] = Some((e.first_cluster, e.size));
                }
            }
            true
        })?;
        if let Some(name) = twice {
            return Err(ReadError::Twice { name });
        }
        let mut out = Vec::new();
        for (name, f) in names.iter().zip(found) {
            out.push(match f {
                Some((first, size)) => Some(self.read_file(name, first, size, &mut owners)?),
                None => None,
            });
        }
        Ok(out)
    }

    /// Calls `f` with each entry of the root directory until it returns
    /// false or the directory ends. `whole_chain`: follow a FAT32 root's
    /// chain to its end even past the end marker, so that a damaged chain
    /// (a loop, a cross-link) is found, not just stepped around.
    fn scan_root(
        &mut self,
        owners: &mut Owners,
        whole_chain: bool,
        mut f: impl FnMut(&Entry) -> bool,
    ) -> Result<(), ReadError> {
        const WHAT: &str = "the root directory";
        let mut names = LongName::default();
        match self.root {
            Root::Fixed { offset, len } => {
                let mut buf = vec![0u8; self.cluster_bytes as usize];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(buf.len() as u64) as usize;
                    read_at(self.dev, &mut buf[..n], offset + done, WHAT)?;
                    if !feed(&buf[..n], &mut names, &mut f) {
                        return Ok(());
                    }
                    done += n as u64;
                }
            }
            Root::Chain(first) => {
                let max = (MAX_DIR_ENTRIES * ENTRY as u64).div_ceil(self.cluster_bytes);
                let mut chain = self.chain(WHAT, first)?;
                let mut buf = vec![0u8; self.cluster_bytes as usize];
                let mut reading = true;
                while let Some(c) = self.advance(&mut chain, owners)? {
                    if chain.len > max {
                        return Err(structure(
                            WHAT,
                            format!(
                                "more than {MAX_DIR_ENTRIES} entries (its chain runs past {max} clusters)"
                            ),
                        ));
                    }
                    if reading {
                        self.read_cluster(c, &mut buf, WHAT)?;
                        reading = feed(&buf, &mut names, &mut f);
                        if !reading && !whole_chain {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A file of `size` bytes from cluster `first`: its chain must hold
    /// exactly the clusters the size needs.
    fn read_file(
        &mut self,
        name: &str,
        first: u32,
        size: u32,
        owners: &mut Owners,
    ) -> Result<Vec<u8>, ReadError> {
        let size = u64::from(size);
        if size > MAX_FILE {
            return Err(ReadError::TooLarge {
                name: name.to_string(),
                size,
            });
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let need = size.div_ceil(self.cluster_bytes);
        let mut chain = self.chain(name, first)?;
        let mut data = Vec::with_capacity(size as usize);
        let mut buf = vec![0u8; self.cluster_bytes as usize];
        let cluster_bytes = self.cluster_bytes;
        let short = |got: String| {
            structure(
                name,
                format!(
                    "{size} bytes need {need} cluster(s) of {cluster_bytes} bytes but its cluster chain has {got}: \
                     cross-linked or truncated chain"
                ),
            )
        };
        while (data.len() as u64) < size {
            let Some(c) = self.advance(&mut chain, owners)? else {
                return Err(short(chain.len.to_string()));
            };
            self.read_cluster(c, &mut buf, name)?;
            let n = (size - data.len() as u64).min(self.cluster_bytes) as usize;
            data.extend_from_slice(&buf[..n]);
        }
        if chain.next.is_some() {
            return Err(short(format!("more than {need}")));
        }
        Ok(data)
    }

    fn chain(&self, what: &str, first: u32) -> Result<Chain, ReadError> {
        if !(2..self.clusters + 2).contains(&first) {
            return Err(structure(
                what,
                format!(
                    "starts at cluster {first}, outside the data clusters 2..{}",
                    u64::from(self.clusters) + 2
                ),
            ));
        }
        Ok(Chain {
            what: what.to_string(),
            next: Some(first),
            len: 0,
        })
    }

    /// The next cluster of `chain` (already range-checked), recording it in
    /// `owners`; `None` at the end of the chain.
    fn advance(
        &mut self,
        chain: &mut Chain,
        owners: &mut Owners,
    ) -> Result<Option<u32>, ReadError> {
        let Some(c) = chain.next else {
            return Ok(None);
        };
        if let Some(owner) = owners.get(&c) {
            return Err(if *owner == chain.what {
                ReadError::Loop {
                    what: chain.what.clone(),
                    cluster: c,
                }
            } else {
                ReadError::CrossLinked {
                    cluster: c,
                    first: owner.clone(),
                    second: chain.what.clone(),
                }
            });
        }
        owners.insert(c, chain.what.clone());
        chain.len += 1;
        let v = self.fat_entry(c)?;
        let end = match self.kind {
            FatType::Fat12 => 0xFF8,
            FatType::Fat16 => 0xFFF8,
            FatType::Fat32 => 0x0FFF_FFF8,
        };
        chain.next = match v {
            v if v >= end => None,
            v if v == end - 1 => {
                return Err(structure(
                    &chain.what,
                    format!("cluster chain reaches cluster {c}, marked bad"),
                ))
            }
            0 => {
                return Err(structure(
                    &chain.what,
                    format!("cluster chain reaches cluster {c}, marked free"),
                ))
            }
            v if v >= 2 && v < self.clusters + 2 => Some(v),
            v => {
                return Err(structure(
                    &chain.what,
                    format!(
                        "cluster chain goes from cluster {c} to {v:#x}, outside the data clusters 2..{}",
                        u64::from(self.clusters) + 2
                    ),
                ))
            }
        };
        Ok(Some(c))
    }

    /// FAT #0's entry for cluster `c` (< clusters + 2, which the FAT was
    /// checked to cover).
    fn fat_entry(&mut self, c: u32) -> Result<u32, ReadError> {
        let c64 = u64::from(c);
        let (at, width) = match self.kind {
            FatType::Fat12 => (c64 * 3 / 2, 2),
            FatType::Fat16 => (c64 * 2, 2),
            FatType::Fat32 => (c64 * 4, 4),
        };
        let (start, bytes) = &self.window;
        if at < *start || at + width > *start + bytes.len() as u64 {
            let start = at - at % FAT_WINDOW;
            // A little more than the window, so an entry straddling its end
            // still fits.
            let len = (FAT_WINDOW + 4).min(self.fat_bytes - start);
            let mut bytes = vec![0u8; len as usize];
            read_at(self.dev, &mut bytes, self.fat_offset + start, "the FAT")?;
            self.window = (start, bytes);
        }
        let b = &self.window.1[(at - self.window.0) as usize..];
        Ok(match self.kind {
            FatType::Fat12 => {
                let v = u16::from_le_bytes([b[0], b[1]]);
                u32::from(if c % 2 == 1 { v >> 4 } else { v & 0xFFF })
            }
            FatType::Fat16 => u32::from(u16::from_le_bytes([b[0], b[1]])),
            FatType::Fat32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x0FFF_FFFF,
        })
    }

    fn read_cluster(&self, c: u32, buf: &mut [u8], what: &str) -> Result<(), ReadError> {
        let offset = self.data_offset + u64::from(c - 2) * self.cluster_bytes;
        read_at(self.dev, buf, offset, what)
    }
}

/// A cluster chain being followed.
struct Chain {
    what: String,
    next: Option<u32>,
    /// Clusters visited so far.
    len: u64,
}

/// A long file name being gathered: its entries come last part first,
/// each numbered and carrying the checksum of the short entry they name.
#[derive(Default)]
struct LongName {
    units: Vec<u16>,
    /// The number the next part must carry (0: complete or none).
    next: u8,
    checksum: u8,
    active: bool,
}

/// Feeds a block of directory entries to `f`; false when `f` stopped or
/// the directory's end marker was met.
fn feed(block: &[u8], names: &mut LongName, f: &mut impl FnMut(&Entry) -> bool) -> bool {
    for e in block.chunks_exact(ENTRY) {
        match e[0] {
            0x00 => return false,
            0xE5 => {
                names.active = false;
                continue;
            }
            _ => {}
        }
        let attr = e[11];
        if attr & 0x3F == ATTR_LONG_NAME {
            long_name_part(e, names);
            continue;
        }
        let mut raw = [0u8; 11];
        raw.copy_from_slice(&e[..11]);
        let checksum = raw
            .iter()
            .fold(0u8, |s, &b| s.rotate_right(1).wrapping_add(b));
        let long = if names.active && names.next == 0 && names.checksum == checksum {
            let end = names
                .units
                .iter()
                .position(|&u| u == 0)
                .unwrap_or(names.units.len());
            String::from_utf16(&names.units[..end]).ok()
        } else {
            None
        };
        names.active = false;
        if raw[0] == 0x05 {
            // 0xE5 as a name's first byte is stored as 0x05.
            raw[0] = 0xE5;
        }
        let base = String::from_utf8_lossy(&raw[..8]).trim_end().to_string();
        let ext = String::from_utf8_lossy(&raw[8..]).trim_end().to_string();
        let short = if ext.is_empty() {
            base
        } else {
            format!("{base}.{ext}")
        };
        let entry = Entry {
            long,
            raw,
            short,
            attr,
            first_cluster: (u16le(e, 20) << 16 | u16le(e, 26)) as u32,
            size: u32le(e, 28) as u32,
        };
        if !f(&entry) {
            return false;
        }
    }
    true
}

fn long_name_part(e: &[u8], names: &mut LongName) {
    let ord = e[0];
    let n = ord & 0x1F;
    // 20 parts of 13 characters cover the 255 a name may have.
    if ord & 0x40 != 0 && (1..=20).contains(&n) {
        *names = LongName {
            units: vec![0xFFFF; usize::from(n) * 13],
            next: n,
            checksum: e[13],
            active: true,
        };
    }
    if !names.active || n == 0 || n != names.next || e[13] != names.checksum {
        names.active = false;
        return;
    }
    let at = usize::from(n - 1) * 13;
    let chars = e[1..11]
        .chunks_exact(2)
        .chain(e[14..26].chunks_exact(2))
        .chain(e[28..32].chunks_exact(2));
    for (i, c) in chars.enumerate() {
        names.units[at + i] = u16::from_le_bytes([c[0], c[1]]);
    }
    names.next = n - 1;
}
