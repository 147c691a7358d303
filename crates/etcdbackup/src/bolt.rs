//! Just enough of bbolt (etcd's database file) to check a snapshot and
//! report what `etcdctl snapshot status` reports, without running anything:
//! the meta pages (magic, version, FNV-1a checksum; the valid one with the
//! highest transaction id), the size they claim, and a walk of every
//! bucket's B+tree in key order.
//!
//! `etcdctl snapshot status` (etcd 3.4 clientv3/snapshot `Status`) hashes,
//! with CRC-32C, each top-level bucket's name and then every key and value
//! in it; `revision` is the main revision of the last key in bucket `key`,
//! `totalKey` counts the entries of all buckets and `totalSize` is the
//! transaction's size (high-water page × page size). [`status`] computes
//! the same numbers, so the two can be compared.
//!
//! Layout (bbolt page.go, little-endian on amd64): a page starts with a
//! 16-byte header `id u64, flags u16, count u16, overflow u32`; meta pages
//! (0 and 1) hold `magic u32, version u32, pageSize u32, flags u32, root
//! {pgid u64, sequence u64}, freelist u64, pgid u64, txid u64, checksum
//! u64`; branch elements are `pos u32, ksize u32, pgid u64` and leaf
//! elements `flags u32, pos u32, ksize u32, vsize u32`, `pos` counted from
//! the element itself. A bucket's value is `root u64, sequence u64`,
//! followed by the bucket's own page when `root` is 0 (an inline bucket).
//!
//! Every offset is checked against its page, every page id against the
//! high-water mark, each page is visited at most once and the depth is
//! bounded: a damaged file gives an error, never a hang or a panic.

use std::io;

pub const MAGIC: u32 = 0xED0C_DAED;
pub const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const BUCKET_LEAF: u32 = 0x01;
const MAX_DEPTH: usize = 64;

/// Random access to the database's bytes.
pub trait Source {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl Source for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl Source for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

/// What `etcdctl snapshot status -w json` says about a snapshot, and the
/// meta page it was read from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub hash: u32,
    pub revision: i64,
    pub total_key: u64,
    pub total_size: u64,
    pub page_size: u32,
    /// bbolt's transaction id (not etcd's revision).
    pub txid: u64,
    pub buckets: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    page_size: u32,
    root: u64,
    pgid: u64,
    txid: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// FNV-1a 64, bbolt's meta checksum.
fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The checksum a meta page must carry: FNV-1a 64 over the 56 bytes of
/// meta before it (`meta` starts after the 16-byte page header).
pub fn meta_checksum(meta: &[u8]) -> u64 {
    fnv1a64(&meta[..56])
}

/// The meta of one meta page (`page` from its start), or why not.
fn meta(page: &[u8], n: u64) -> Result<Meta, String> {
    let m = &page[PAGE_HEADER..PAGE_HEADER + 64];
    let magic = u32_at(m, 0);
    if magic != MAGIC {
        return Err(format!(
            "meta page {n}: magic {magic:#010x}, not bbolt's {MAGIC:#010x}"
        ));
    }
    let version = u32_at(m, 4);
    if version != VERSION {
        return Err(format!(
            "meta page {n}: bbolt format version {version}, not {VERSION}"
        ));
    }
    if u16_at(page, 8) & META == 0 {
        return Err(format!("meta page {n}: not flagged as a meta page"));
    }
    let checksum = u64_at(m, 56);
    if checksum != meta_checksum(m) {
        return Err(format!("meta page {n}: checksum mismatch"));
    }
    Ok(Meta {
        page_size: u32_at(m, 8),
        root: u64_at(m, 16),
        pgid: u64_at(m, 40),
        txid: u64_at(m, 48),
    })
}

/// The database's status; `len` is the database's size (a snapshot file
/// without its SHA-256 trailer).
pub fn status<S: Source + ?Sized>(src: &S, len: u64) -> Result<Status, String> {
    let mut first = vec![0u8; PAGE_HEADER + 64];
    if len < first.len() as u64 || src.read_at(&mut first, 0).is_err() {
        return Err(format!("{len} bytes: too short for a bbolt database"));
    }
    // The page size is in meta page 0; if that page is damaged, meta page
    // 1 is looked for at the usual page sizes.
    let mut metas = Vec::new();
    let mut problems = Vec::new();
    match meta(&first, 0) {
        Ok(m) => metas.push(m),
        Err(e) => problems.push(e),
    }
    let sizes: Vec<u32> = match metas.first() {
        Some(m) => vec![m.page_size],
        None => vec![4096, 8192, 16384, 65536],
    };
    for size in sizes {
        let mut page = vec![0u8; PAGE_HEADER + 64];
        if src.read_at(&mut page, u64::from(size)).is_err() {
            continue;
        }
        match meta(&page, 1) {
            Ok(m) if m.page_size == size => metas.push(m),
            Ok(_) => problems.push("meta page 1: page size differs from its place".into()),
            Err(e) => problems.push(e),
        }
    }
    let m = *metas
        .iter()
        .max_by_key(|m| m.txid)
        .ok_or_else(|| format!("not a bbolt database: {}", problems.join("; ")))?;
    if !(512..=1 << 20).contains(&m.page_size) || !m.page_size.is_power_of_two() {
        return Err(format!("page size {} is not one bbolt uses", m.page_size));
    }
    let ps = u64::from(m.page_size);
    let total_size = m
        .pgid
        .checked_mul(ps)
        .ok_or_else(|| format!("{} pages of {ps} bytes overflow", m.pgid))?;
    if total_size != len {
        return Err(format!(
            "bbolt says {} pages of {ps} bytes ({total_size} bytes), the database has {len} bytes",
            m.pgid
        ));
    }
    if m.root < 2 || m.root >= m.pgid {
        return Err(format!(
            "root bucket at page {} outside the database's pages 2..{}",
            m.root, m.pgid
        ));
    }
    let mut walker = Walker {
        src,
        meta: m,
        seen: vec![0u64; usize::try_from(m.pgid.div_ceil(64)).map_err(|e| e.to_string())?],
    };
    let mut st = Status {
        hash: 0,
        revision: 0,
        total_key: 0,
        total_size,
        page_size: m.page_size,
        txid: m.txid,
        buckets: Vec::new(),
    };
    let mut crc = Crc32c::new();
    let mut top = Vec::new();
    walker.walk(Tree::Page(m.root), 0, &mut |flags, k, v| {
        if flags & BUCKET_LEAF == 0 {
            return Err(format!(
                "a key outside any bucket ({:?}): not an etcd database",
                String::from_utf8_lossy(k)
            ));
        }
        top.push((k.to_vec(), v.to_vec()));
        Ok(())
    })?;
    for (name, value) in &top {
        let label = String::from_utf8_lossy(name).into_owned();
        crc.update(name);
        let is_key = name == b"key";
        let tree = bucket_tree(value).map_err(|e| format!("bucket {label:?}: {e}"))?;
        walker
            .walk(tree, 0, &mut |flags, k, v| {
                crc.update(k);
                // A nested bucket's value is nil to ForEach.
                if flags & BUCKET_LEAF == 0 {
                    crc.update(v);
                }
                if is_key {
                    let main = k
                        .get(..8)
                        .ok_or_else(|| format!("key {k:?} shorter than a revision"))?;
                    st.revision = i64::from_be_bytes(main.try_into().expect("8 bytes"));
                }
                st.total_key += 1;
                Ok(())
            })
            .map_err(|e| format!("bucket {label:?}: {e}"))?;
        st.buckets.push(label);
    }
    for want in ["key", "meta"] {
        if !st.buckets.iter().any(|b| b == want) {
            return Err(format!(
                "no bucket {want:?} (buckets: {}): not an etcd database",
                st.buckets.join(", ")
            ));
        }
    }
    st.hash = crc.finish();
    Ok(st)
}

/// Where a bucket's entries are.
#[derive(Clone, Copy)]
enum Tree<'a> {
    Page(u64),
    /// An inline bucket: its page inside the parent's value.
    Inline(&'a [u8]),
}

fn bucket_tree(value: &[u8]) -> Result<Tree<'_>, String> {
    if value.len() < 16 {
        return Err(format!("bucket header of {} bytes", value.len()));
    }
    match u64_at(value, 0) {
        0 => Ok(Tree::Inline(&value[16..])),
        root => Ok(Tree::Page(root)),
    }
}

struct Walker<'s, S: Source + ?Sized> {
    src: &'s S,
    meta: Meta,
    /// Pages visited (bit per page id).
    seen: Vec<u64>,
}

type Visit<'v> = dyn FnMut(u32, &[u8], &[u8]) -> Result<(), String> + 'v;

impl<S: Source + ?Sized> Walker<'_, S> {
    fn page(&mut self, id: u64) -> Result<Vec<u8>, String> {
        if id < 2 || id >= self.meta.pgid {
            return Err(format!(
                "page {id} outside the database's pages 2..{}",
                self.meta.pgid
            ));
        }
        let (word, bit) = ((id / 64) as usize, id % 64);
        if self.seen[word] & (1 << bit) != 0 {
            return Err(format!("page {id} is reached twice"));
        }
        self.seen[word] |= 1 << bit;
        let ps = u64::from(self.meta.page_size);
        let mut head = vec![0u8; PAGE_HEADER];
        self.src
            .read_at(&mut head, id * ps)
            .map_err(|e| format!("page {id}: {e}"))?;
        let overflow = u64::from(u32_at(&head, 12));
        if id + overflow >= self.meta.pgid {
            return Err(format!(
                "page {id} with {overflow} overflow pages runs past page {}",
                self.meta.pgid
            ));
        }
        let mut page = vec![0u8; usize::try_from((overflow + 1) * ps).map_err(|e| e.to_string())?];
        self.src
            .read_at(&mut page, id * ps)
            .map_err(|e| format!("page {id}: {e}"))?;
        if u64_at(&page, 0) != id {
            return Err(format!("page {id} says it is page {}", u64_at(&page, 0)));
        }
        Ok(page)
    }

    /// Every leaf entry of `tree` in key order: `visit(flags, key, value)`.
    fn walk(&mut self, tree: Tree<'_>, depth: usize, visit: &mut Visit<'_>) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("B+tree deeper than {MAX_DEPTH}"));
        }
        let owned;
        let (page, label): (&[u8], String) = match tree {
            Tree::Page(id) => {
                owned = self.page(id)?;
                (&owned, format!("page {id}"))
            }
            Tree::Inline(p) => (p, "inline bucket".to_string()),
        };
        if page.len() < PAGE_HEADER {
            return Err(format!("{label}: shorter than a page header"));
        }
        let flags = u16_at(page, 8);
        let count = usize::from(u16_at(page, 10));
        let elements = PAGE_HEADER + count * ELEMENT;
        if elements > page.len() {
            return Err(format!("{label}: {count} elements do not fit"));
        }
        let slice = |at: usize, pos: u32, len: u32| -> Result<&[u8], String> {
            let start = at.checked_add(pos as usize);
            let end = start.and_then(|s| s.checked_add(len as usize));
            match (start, end) {
                (Some(s), Some(e)) if e <= page.len() => Ok(&page[s..e]),
                _ => Err(format!("{label}: an element points outside the page")),
            }
        };
        match flags {
            LEAF => {
                for i in 0..count {
                    let at = PAGE_HEADER + i * ELEMENT;
                    let (f, pos, ks, vs) = (
                        u32_at(page, at),
                        u32_at(page, at + 4),
                        u32_at(page, at + 8),
                        u32_at(page, at + 12),
                    );
                    let kv = slice(at, pos, ks.checked_add(vs).ok_or("size overflow")?)?;
                    let (k, v) = kv.split_at(ks as usize);
                    visit(f, k, v)?;
                }
            }
            BRANCH => {
                if matches!(tree, Tree::Inline(_)) {
                    return Err("an inline bucket with a branch page".into());
                }
                for i in 0..count {
                    let at = PAGE_HEADER + i * ELEMENT;
                    let child = u64_at(page, at + 8);
                    self.walk(Tree::Page(child), depth + 1, visit)?;
                }
            }
            other => {
                return Err(format!(
                    "{label}: flags {other:#x}, not a branch or leaf page"
                ))
            }
        }
        Ok(())
    }
}

/// CRC-32C (Castagnoli), as Go's `crc32.MakeTable(crc32.Castagnoli)`.
pub struct Crc32c {
    table: [u32; 256],
    crc: u32,
}

impl Default for Crc32c {
    fn default() -> Self {
        Crc32c::new()
    }
}

impl Crc32c {
    pub fn new() -> Crc32c {
        let mut table = [0u32; 256];
        for (i, t) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
            }
            *t = c;
        }
        Crc32c { table, crc: !0 }
    }

    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.crc;
        for &b in data {
            c = self.table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
        self.crc = c;
    }

    pub fn finish(&self) -> u32 {
        !self.crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        let mut c = Crc32c::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xE306_9283);
        assert_eq!(Crc32c::new().finish(), 0);
    }

    #[test]
    fn fnv_check_value() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    /// A page of `ps` bytes: header, then `body`.
    fn page(ps: usize, id: u64, flags: u16, count: u16, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; ps];
        p[0..8].copy_from_slice(&id.to_le_bytes());
        p[8..10].copy_from_slice(&flags.to_le_bytes());
        p[10..12].copy_from_slice(&count.to_le_bytes());
        p[16..16 + body.len()].copy_from_slice(body);
        p
    }

    fn meta_page(ps: usize, id: u64, root: u64, pgid: u64, txid: u64) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&MAGIC.to_le_bytes());
        m.extend_from_slice(&VERSION.to_le_bytes());
        m.extend_from_slice(&(ps as u32).to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&root.to_le_bytes());
        m.extend_from_slice(&0u64.to_le_bytes());
        m.extend_from_slice(&0u64.to_le_bytes()); // freelist
        m.extend_from_slice(&pgid.to_le_bytes());
        m.extend_from_slice(&txid.to_le_bytes());
        let sum = fnv1a64(&m);
        m.extend_from_slice(&sum.to_le_bytes());
        page(ps, id, META, 0, &m)
    }

    /// Leaf elements then their keys and values.
    fn leaf_body(items: &[(u32, &[u8], &[u8])]) -> Vec<u8> {
        let mut elems = Vec::new();
        let mut data = Vec::new();
        let n = items.len();
        for (i, (flags, k, v)) in items.iter().enumerate() {
            let pos = (n - i) * ELEMENT + data.len();
            elems.extend_from_slice(&flags.to_le_bytes());
            elems.extend_from_slice(&(pos as u32).to_le_bytes());
            elems.extend_from_slice(&(k.len() as u32).to_le_bytes());
            elems.extend_from_slice(&(v.len() as u32).to_le_bytes());
            data.extend_from_slice(k);
            data.extend_from_slice(v);
        }
        elems.extend_from_slice(&data);
        elems
    }

    fn bucket_value(root: u64, inline: Option<&[u8]>) -> Vec<u8> {
        let mut v = root.to_le_bytes().to_vec();
        v.extend_from_slice(&0u64.to_le_bytes());
        if let Some(p) = inline {
            v.extend_from_slice(p);
        }
        v
    }

    fn rev(main: i64) -> Vec<u8> {
        let mut k = main.to_be_bytes().to_vec();
        k.push(b'_');
        k.extend_from_slice(&0i64.to_be_bytes());
        k
    }

    /// Root leaf (page 2) with bucket `key` at page 3 (a branch over leaves
    /// 4 and 5) and inline bucket `meta`.
    fn small_db(ps: usize) -> Vec<u8> {
        let (r1, r2, r3) = (rev(2), rev(3), rev(4));
        let l4 = leaf_body(&[(0, &r1, b"v1"), (0, &r2, b"v2")]);
        let l5 = leaf_body(&[(0, &r3, b"v3")]);
        let mut branch = Vec::new();
        for (i, (k, child)) in [(&r1, 4u64), (&r3, 5u64)].iter().enumerate() {
            let pos = (2 - i) * ELEMENT + if i == 1 { r1.len() } else { 0 };
            branch.extend_from_slice(&(pos as u32).to_le_bytes());
            branch.extend_from_slice(&(k.len() as u32).to_le_bytes());
            branch.extend_from_slice(&child.to_le_bytes());
        }
        branch.extend_from_slice(&r1);
        branch.extend_from_slice(&r3);
        let inline_meta = {
            let body = leaf_body(&[(0, b"consistent_index", &7u64.to_be_bytes())]);
            let mut p = page(PAGE_HEADER + body.len(), 0, LEAF, 1, &body);
            p.truncate(PAGE_HEADER + body.len());
            p
        };
        let key_bucket = bucket_value(3, None);
        let meta_bucket = bucket_value(0, Some(&inline_meta));
        let root = leaf_body(&[
            (BUCKET_LEAF, b"key", &key_bucket),
            (BUCKET_LEAF, b"meta", &meta_bucket),
        ]);
        let mut db = Vec::new();
        db.extend(meta_page(ps, 0, 2, 6, 9));
        db.extend(meta_page(ps, 1, 2, 6, 8));
        db.extend(page(ps, 2, LEAF, 2, &root));
        db.extend(page(ps, 3, BRANCH, 2, &branch));
        db.extend(page(ps, 4, LEAF, 2, &l4));
        db.extend(page(ps, 5, LEAF, 1, &l5));
        db
    }

    #[test]
    fn a_small_database_reports_as_etcdctl_would() {
        let db = small_db(4096);
        let st = status(&db[..], db.len() as u64).unwrap();
        assert_eq!(st.revision, 4);
        assert_eq!(st.total_key, 4);
        assert_eq!(st.total_size, 6 * 4096);
        assert_eq!(st.txid, 9);
        assert_eq!(st.buckets, ["key", "meta"]);
        let mut c = Crc32c::new();
        for part in [
            &b"key"[..],
            &rev(2),
            b"v1",
            &rev(3),
            b"v2",
            &rev(4),
            b"v3",
            b"meta",
            b"consistent_index",
            &7u64.to_be_bytes(),
        ] {
            c.update(part);
        }
        assert_eq!(st.hash, c.finish());
        // Meta page 0 damaged: meta page 1 (an older transaction) serves.
        let mut d = db.clone();
        d[16 + 20] ^= 1;
        assert_eq!(status(&d[..], d.len() as u64).unwrap().txid, 8);
    }

    #[test]
    fn damage_is_reported_not_followed() {
        let db = small_db(4096);
        let len = db.len() as u64;
        let e = |d: &[u8], len: u64| status(d, len).unwrap_err();
        assert!(e(&db[..50], 50).contains("too short"));
        assert!(e(&db[..100], 100).contains("the database has 100 bytes"));
        assert_eq!(
            e(&db, len - 4096),
            "bbolt says 6 pages of 4096 bytes (24576 bytes), the database has 20480 bytes"
        );
        let mut d = db.clone();
        d[16] ^= 0xff;
        d[4096 + 16] ^= 0xff;
        let m = e(&d, len);
        assert!(
            m.starts_with("not a bbolt database: meta page 0: magic"),
            "{m}"
        );
        // Page 5 claims to be page 4.
        let mut d = db.clone();
        d[5 * 4096] = 4;
        assert!(e(&d, len).contains("page 5 says it is page 4"));
        // A branch pointing at itself: reached twice, not a loop.
        let mut d = db.clone();
        let child = 3 * 4096 + 16 + 8;
        d[child..child + 8].copy_from_slice(&3u64.to_le_bytes());
        assert!(
            e(&d, len).contains("page 3 is reached twice"),
            "{}",
            e(&d, len)
        );
        // Out of range child.
        d[child..child + 8].copy_from_slice(&99u64.to_le_bytes());
        assert!(e(&d, len).contains("page 99 outside"));
        // An element pointing past the page.
        let mut d = db.clone();
        let pos = 4 * 4096 + 16 + 4;
        d[pos..pos + 4].copy_from_slice(&5000u32.to_le_bytes());
        assert!(e(&d, len).contains("points outside the page"));
        // Garbage page flags.
        let mut d = db.clone();
        d[4 * 4096 + 8] = 0x10;
        assert!(e(&d, len).contains("not a branch or leaf page"));
        // Not etcd's buckets.
        let mut d = db.clone();
        let name = d
            .windows(4)
            .position(|w| w == b"meta")
            .expect("bucket name");
        d[name..name + 4].copy_from_slice(b"mesa");
        assert!(e(&d, len).contains("no bucket \"meta\""));
    }
}
