//! Reading one .rpm file into a [`Package`]: its header (with the rpm
//! crate), its byte layout (for repodata's `rpm:header-range`) and its
//! digests, which must all match before anything is believed.
//!
//! Digests checked, as `rpm -K --nosignature` does:
//! - header: SHA-1 / SHA-256 / SHA3-256 from the signature header (rpm crate);
//! - payload: the header's payload digest (rpm ≥ 4.14), SHA-512 (v6);
//! - header + payload: the signature header's MD5 and size, which is all
//!   rpm 4.11 (CentOS 7) packages have to cover their payload.
//!
//! At least one header digest and one digest over the payload must be
//! present and every present one must match. The "ALT" payload digests
//! (over the uncompressed archive) are not checked: that would mean
//! decompressing every payload, and the compressed payload digest already
//! covers the same bytes.

use crate::evr::Evr;
use crate::package::{Changelog, Cmp, Dep, FileEntry, FileKind, Package};
use md5::Md5;
use rpm::{IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::{Digest, Sha256, Sha512};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("{}: cannot read", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not an RPM, truncated, or a header that does not hold together.
    #[error("{file}: not a valid RPM: {what}")]
    Malformed { file: String, what: String },
    #[error("{file}: {digest} digest mismatch: the package says {expected}, its content hashes to {actual}")]
    DigestMismatch {
        file: String,
        digest: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{file}: no digest covers the {part} (expected {expected})")]
    NoDigest {
        file: String,
        part: &'static str,
        expected: &'static str,
    },
    #[error("{file}: header+payload is {actual} bytes but the signature header says {expected}: the file is truncated or has bytes appended")]
    SizeMismatch {
        file: String,
        expected: u64,
        actual: u64,
    },
    #[error("{file}: header tag {tag}: {what}")]
    BadTag {
        file: String,
        tag: &'static str,
        what: String,
    },
}

impl HeaderError {
    /// The file (or location) the error is about.
    pub fn file(&self) -> String {
        match self {
            HeaderError::Io { path, .. } => path.display().to_string(),
            HeaderError::Malformed { file, .. }
            | HeaderError::DigestMismatch { file, .. }
            | HeaderError::NoDigest { file, .. }
            | HeaderError::SizeMismatch { file, .. }
            | HeaderError::BadTag { file, .. } => file.clone(),
        }
    }
}

/// How much of a package the reader checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Structure, size, header digests and payload digests, as
    /// `rpm -K --nosignature` does.
    Full,
    /// Structure, size and header digests: all that describing the package
    /// truthfully needs (createrepo_c checks no digest at all). The payload
    /// is then covered by the SHA-256 that repodata records; its own
    /// digests are checked by `repo verify`, by `bundle` before it signs,
    /// and by rpm when it installs. On rpm 4.11 packages the payload's only
    /// digest is an MD5 over header and payload, which costs more than
    /// everything else indexing does.
    Header,
}

/// Reads and fully verifies `path` ([`Check::Full`]); `location` is its
/// path relative to the repository root, as repodata's `location href`
/// gives it.
pub fn read_rpm(path: &Path, location: &str) -> Result<Package, HeaderError> {
    read_rpm_with(path, location, Check::Full)
}

/// [`read_rpm`] with the given depth of checking.
pub fn read_rpm_with(path: &Path, location: &str, check: Check) -> Result<Package, HeaderError> {
    let bytes = std::fs::read(path).map_err(|source| HeaderError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes, &path.display().to_string(), location, check)
}

/// Like [`read_rpm`] on bytes already in memory (errors name `location`).
/// Never panics, whatever the input.
pub fn read_rpm_bytes(bytes: &[u8], location: &str) -> Result<Package, HeaderError> {
    parse(bytes, location, location, Check::Full)
}

const LEAD_SIZE: usize = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
// rpm's own sanity limits (hdrchkTags / hdrchkData in header_internal.h).
const MAX_TAGS: u64 = 0xffff;
const MAX_DATA: u64 = 0x0fff_ffff;

/// Byte offsets of an RPM's parts.
struct Layout {
    header_start: usize,
    payload_start: usize,
}

/// Walks lead, signature header and header, checking every index entry
/// against its data store the way rpm's headerVerifyInfo does. The rpm crate
/// indexes into the store without bounds checks, so nothing reaches it
/// unchecked.
fn layout(bytes: &[u8]) -> Result<Layout, String> {
    if bytes.len() < LEAD_SIZE {
        return Err(format!(
            "file is {} bytes, shorter than the {LEAD_SIZE}-byte lead",
            bytes.len()
        ));
    }
    if bytes[..4] != LEAD_MAGIC {
        return Err("no RPM lead magic (ed ab ee db) at offset 0".into());
    }
    let sig_end = check_header(bytes, LEAD_SIZE, "signature header")?;
    // The signature header is padded to a multiple of 8 bytes.
    let header_start = sig_end + (8 - (sig_end - LEAD_SIZE) % 8) % 8;
    if header_start > bytes.len() {
        return Err(format!(
            "truncated: signature header padding runs past the end of the file ({} bytes)",
            bytes.len()
        ));
    }
    let payload_start = check_header(bytes, header_start, "header")?;
    Ok(Layout {
        header_start,
        payload_start,
    })
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks the header structure at `start`; returns its end offset.
fn check_header(bytes: &[u8], start: usize, what: &str) -> Result<usize, String> {
    let len = bytes.len();
    if len < start + 16 {
        return Err(format!(
            "truncated: {what} at offset {start} needs 16 bytes, file is {len} bytes"
        ));
    }
    if bytes[start..start + 4] != HEADER_MAGIC {
        return Err(format!("no {what} magic (8e ad e8 01) at offset {start}"));
    }
    let count = u64::from(be32(bytes, start + 8));
    let data_len = u64::from(be32(bytes, start + 12));
    if count == 0 || count > MAX_TAGS {
        return Err(format!("{what} at offset {start} claims {count} tags"));
    }
    if data_len > MAX_DATA {
        return Err(format!(
            "{what} at offset {start} claims {data_len} bytes of data"
        ));
    }
    let index_start = start + 16;
    let store_start = index_start + (count as usize) * 16;
    let end = store_start + data_len as usize;
    if end > len {
        return Err(format!(
            "truncated: {what} at offset {start} needs {} bytes, file is {len} bytes",
            end - start
        ));
    }
    let store = &bytes[store_start..end];
    for i in 0..count as usize {
        let e = index_start + i * 16;
        let (tag, ty, offset, n) = (
            be32(bytes, e),
            be32(bytes, e + 4),
            be32(bytes, e + 8) as usize,
            be32(bytes, e + 12) as usize,
        );
        let bad = |why: String| format!("{what}: tag {tag} (entry {i}): {why}");
        if offset > store.len() {
            return Err(bad(format!(
                "data offset {offset} is outside the {}-byte store",
                store.len()
            )));
        }
        let size = match ty {
            0 => continue,  // NULL
            1 | 2 | 7 => 1, // CHAR, INT8, BIN
            3 => 2,         // INT16
            4 => 4,         // INT32
            5 => 8,         // INT64
            6 | 8 | 9 => 0, // STRING, STRING_ARRAY, I18NSTRING
            _ => return Err(bad(format!("unknown data type {ty}"))),
        };
        if n == 0 || n > MAX_DATA as usize {
            return Err(bad(format!("{n} items")));
        }
        if size > 0 {
            if offset % size != 0 {
                return Err(bad(format!("offset {offset} not aligned to {size} bytes")));
            }
            if (n as u64) * (size as u64) > (store.len() - offset) as u64 {
                return Err(bad(format!(
                    "{n} items of {size} bytes at offset {offset} run past the {}-byte store",
                    store.len()
                )));
            }
        } else {
            if ty == 6 && n != 1 {
                return Err(bad(format!("a string with {n} items")));
            }
            let mut pos = offset;
            for _ in 0..n {
                match store[pos..].iter().position(|&c| c == 0) {
                    Some(nul) => pos += nul + 1,
                    None => return Err(bad("unterminated string".into())),
                }
            }
        }
    }
    Ok(end)
}

fn parse(bytes: &[u8], file: &str, location: &str, check: Check) -> Result<Package, HeaderError> {
    let malformed = |what: String| HeaderError::Malformed {
        file: file.to_owned(),
        what,
    };
    let lay = layout(bytes).map_err(malformed)?;
    // Belt and braces: the checks above keep the crate's indexing in bounds,
    // but a panic in a dependency must still become an error naming the file.
    let meta = catch_unwind(AssertUnwindSafe(|| {
        PackageMetadata::parse(&mut &bytes[..lay.payload_start])
    }))
    .map_err(|_| malformed("the rpm crate panicked while parsing the headers".into()))?
    .map_err(|e| malformed(format!("cannot parse headers: {e}")))?;

    let reader = Reader { file, meta: &meta };
    catch_unwind(AssertUnwindSafe(|| {
        reader.verify(bytes, &lay, check)?;
        reader.package(bytes, &lay, location)
    }))
    .map_err(|_| malformed("the rpm crate panicked while reading the headers".into()))?
}

struct Reader<'a> {
    file: &'a str,
    meta: &'a PackageMetadata,
}

fn mismatch_or_ok(
    file: &str,
    digest: &'static str,
    expected: &str,
    actual: String,
) -> Result<(), HeaderError> {
    if expected.eq_ignore_ascii_case(&actual) {
        Ok(())
    } else {
        Err(HeaderError::DigestMismatch {
            file: file.to_owned(),
            digest,
            expected: expected.to_owned(),
            actual,
        })
    }
}

impl Reader<'_> {
    fn bad_tag(&self, tag: &'static str, e: impl std::fmt::Display) -> HeaderError {
        HeaderError::BadTag {
            file: self.file.to_owned(),
            tag,
            what: e.to_string(),
        }
    }

    fn verify(&self, bytes: &[u8], lay: &Layout, check: Check) -> Result<(), HeaderError> {
        let file = self.file;
        let sig = &self.meta.signature;
        let hdr = &self.meta.header;

        // Size first: a truncated file fails every digest, but this says why.
        let content = (bytes.len() - lay.header_start) as u64;
        let declared = match sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_SIZE) {
            Ok(n) => Some(u64::from(n)),
            Err(_) => sig
                .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGSIZE)
                .ok(),
        };
        if let Some(expected) = declared {
            if expected != content {
                return Err(HeaderError::SizeMismatch {
                    file: file.to_owned(),
                    expected,
                    actual: content,
                });
            }
        }

        // Header digests, by the rpm crate.
        let report = self
            .meta
            .check_digests()
            .map_err(|e| self.bad_tag("signature header digests", e))?;
        let mut header_digests = 0;
        for (name, status) in [
            ("header SHA-1", &report.header_sha1),
            ("header SHA-256", &report.header_sha256),
            ("header SHA3-256", &report.header_sha3_256),
        ] {
            match status {
                rpm::DigestStatus::Verified => header_digests += 1,
                rpm::DigestStatus::Mismatch { expected, actual } => {
                    return Err(HeaderError::DigestMismatch {
                        file: file.to_owned(),
                        digest: name,
                        expected: expected.clone(),
                        actual: actual.clone(),
                    })
                }
                _ => {}
            }
        }
        if header_digests == 0 {
            return Err(HeaderError::NoDigest {
                file: file.to_owned(),
                part: "header",
                expected: "a SHA-1, SHA-256 or SHA3-256 header digest in the signature header",
            });
        }

        if check == Check::Header {
            return Ok(());
        }

        // Payload digests.
        let payload = &bytes[lay.payload_start..];
        let mut payload_digests = 0;
        if let Ok(expected) = hdr.get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADSHA256) {
            let algo = hdr
                .get_entry_data_as_u32(IndexTag::RPMTAG_PAYLOADSHA256ALGO)
                .unwrap_or(8);
            let actual = match algo {
                8 => hex::encode(Sha256::digest(payload)),
                10 => hex::encode(Sha512::digest(payload)),
                other => {
                    return Err(self.bad_tag(
                        "PAYLOADDIGESTALGO",
                        format!("unsupported payload digest algorithm {other} (expected 8 = SHA-256 or 10 = SHA-512)"),
                    ))
                }
            };
            mismatch_or_ok(file, "payload", expected, actual)?;
            payload_digests += 1;
        }
        if let Ok(expected) = hdr.get_entry_data_as_string(IndexTag::RPMTAG_PAYLOAD_SHA512) {
            mismatch_or_ok(
                file,
                "payload SHA-512",
                expected,
                hex::encode(Sha512::digest(payload)),
            )?;
            payload_digests += 1;
        }
        // Header + payload MD5 (rpm 4.11's only payload cover; the rpm
        // crate does not check it).
        if let Ok(expected) = sig.get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_MD5) {
            let actual = Md5::digest(&bytes[lay.header_start..]);
            mismatch_or_ok(
                file,
                "header+payload MD5",
                &hex::encode(expected),
                hex::encode(actual),
            )?;
            payload_digests += 1;
        }
        if payload_digests == 0 {
            return Err(HeaderError::NoDigest {
                file: file.to_owned(),
                part: "payload",
                expected: "a payload digest in the header or an MD5 in the signature header",
            });
        }
        Ok(())
    }

    /// A string tag, empty when absent.
    fn string(&self, tag: IndexTag, name: &'static str) -> Result<String, HeaderError> {
        match self.meta.header.get_entry_data_as_string(tag) {
            Ok(s) => Ok(s.to_owned()),
            Err(rpm::Error::TagNotFound(_)) => Ok(String::new()),
            Err(e) => Err(self.bad_tag(name, e)),
        }
    }

    fn i18n(&self, tag: IndexTag, name: &'static str) -> Result<String, HeaderError> {
        match self.meta.header.get_entry_data_as_i18n_string(tag) {
            Ok(s) => Ok(s.to_owned()),
            Err(rpm::Error::TagNotFound(_)) => Ok(String::new()),
            Err(e) => Err(self.bad_tag(name, e)),
        }
    }

    fn required(&self, tag: IndexTag, name: &'static str) -> Result<String, HeaderError> {
        match self.meta.header.get_entry_data_as_string(tag) {
            Ok(s) if !s.is_empty() => Ok(s.to_owned()),
            Ok(_) => Err(self.bad_tag(name, "empty")),
            Err(rpm::Error::TagNotFound(_)) => Err(self.bad_tag(name, "missing")),
            Err(e) => Err(self.bad_tag(name, e)),
        }
    }

    fn number(&self, tag: IndexTag) -> Option<u64> {
        let h = &self.meta.header;
        h.get_entry_data_as_u32(tag)
            .map(u64::from)
            .or_else(|_| h.get_entry_data_as_u64(tag))
            .ok()
    }

    fn package(&self, bytes: &[u8], lay: &Layout, location: &str) -> Result<Package, HeaderError> {
        let m = self.meta;
        let h = &m.header;
        let epoch = match h.get_entry_data_as_u32(IndexTag::RPMTAG_EPOCH) {
            Ok(e) => e,
            Err(rpm::Error::TagNotFound(_)) => 0,
            Err(e) => return Err(self.bad_tag("EPOCH", e)),
        };
        let name = self.required(IndexTag::RPMTAG_NAME, "NAME")?;
        let version = self.required(IndexTag::RPMTAG_VERSION, "VERSION")?;
        let release = self.required(IndexTag::RPMTAG_RELEASE, "RELEASE")?;
        // As createrepo_c: source packages are arch "src" whatever ARCH says.
        let arch = if m.is_source_package() {
            "src".to_owned()
        } else {
            self.required(IndexTag::RPMTAG_ARCH, "ARCH")?
        };

        let sig = &m.signature;
        // Installed size: SIZE, or LONGSIZE for packages over 4 GiB.
        let size_installed = self
            .number(IndexTag::RPMTAG_SIZE)
            .or_else(|| self.number(IndexTag::RPMTAG_LONGSIZE))
            .unwrap_or(0);
        // Archive size as createrepo_c reports it: ARCHIVESIZE, which rpm
        // fills from the signature header's PAYLOADSIZE; 0 when absent
        // (packages built by the rpm crate and v6 packages have none).
        let size_archive = self
            .number(IndexTag::RPMTAG_ARCHIVESIZE)
            .or_else(|| {
                sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
                    .ok()
                    .map(u64::from)
            })
            .unwrap_or(0);

        let deps =
            |names, flags, versions, what: &'static str| self.deps(names, flags, versions, what);
        let provides = deps(
            IndexTag::RPMTAG_PROVIDENAME,
            IndexTag::RPMTAG_PROVIDEFLAGS,
            IndexTag::RPMTAG_PROVIDEVERSION,
            "PROVIDES",
        )?;
        let requires = deps(
            IndexTag::RPMTAG_REQUIRENAME,
            IndexTag::RPMTAG_REQUIREFLAGS,
            IndexTag::RPMTAG_REQUIREVERSION,
            "REQUIRES",
        )?;
        let conflicts = deps(
            IndexTag::RPMTAG_CONFLICTNAME,
            IndexTag::RPMTAG_CONFLICTFLAGS,
            IndexTag::RPMTAG_CONFLICTVERSION,
            "CONFLICTS",
        )?;
        let obsoletes = deps(
            IndexTag::RPMTAG_OBSOLETENAME,
            IndexTag::RPMTAG_OBSOLETEFLAGS,
            IndexTag::RPMTAG_OBSOLETEVERSION,
            "OBSOLETES",
        )?;

        let changelogs = m
            .get_changelog_entries()
            .map_err(|e| self.bad_tag("CHANGELOG", e))?
            .into_iter()
            .map(|c| Changelog {
                author: c.name,
                time: c.timestamp,
                text: c.description,
            })
            .collect();

        Ok(Package {
            name,
            evr: Evr::new(epoch, version, release),
            arch,
            summary: self.i18n(IndexTag::RPMTAG_SUMMARY, "SUMMARY")?,
            description: self.i18n(IndexTag::RPMTAG_DESCRIPTION, "DESCRIPTION")?,
            url: self.string(IndexTag::RPMTAG_URL, "URL")?,
            license: self.string(IndexTag::RPMTAG_LICENSE, "LICENSE")?,
            vendor: self.string(IndexTag::RPMTAG_VENDOR, "VENDOR")?,
            group: self.i18n(IndexTag::RPMTAG_GROUP, "GROUP")?,
            buildhost: self.string(IndexTag::RPMTAG_BUILDHOST, "BUILDHOST")?,
            sourcerpm: self.string(IndexTag::RPMTAG_SOURCERPM, "SOURCERPM")?,
            packager: self.string(IndexTag::RPMTAG_PACKAGER, "PACKAGER")?,
            build_time: self.number(IndexTag::RPMTAG_BUILDTIME).unwrap_or(0),
            size_package: bytes.len() as u64,
            size_installed,
            size_archive,
            header_start: lay.header_start as u64,
            header_end: lay.payload_start as u64,
            provides,
            requires,
            conflicts,
            obsoletes,
            files: self.files()?,
            changelogs,
            location: location.to_owned(),
            checksum: hex::encode(Sha256::digest(bytes)),
        })
    }

    fn deps(
        &self,
        names: IndexTag,
        flags: IndexTag,
        versions: IndexTag,
        what: &'static str,
    ) -> Result<Vec<Dep>, HeaderError> {
        let h = &self.meta.header;
        let (n, f, v) = (
            h.get_entry_data_as_string_array(names),
            h.get_entry_data_as_u32_array(flags),
            h.get_entry_data_as_string_array(versions),
        );
        let (n, f, v) = match (n, f, v) {
            (Err(rpm::Error::TagNotFound(_)), _, _) => return Ok(Vec::new()),
            (Ok(n), Ok(f), Ok(v)) => (n, f, v),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Err(self.bad_tag(what, e)),
        };
        if n.len() != f.len() || n.len() != v.len() {
            return Err(self.bad_tag(
                what,
                format!(
                    "{} names, {} flags and {} versions",
                    n.len(),
                    f.len(),
                    v.len()
                ),
            ));
        }
        Ok(n.iter()
            .zip(f)
            .zip(v)
            .map(|((name, flags), version)| dep_from_header(name, flags, version))
            .collect())
    }

    /// The file list in header order, typed as createrepo_c types it: a
    /// directory is `Dir` (even when %ghost), else %ghost is `Ghost`.
    fn files(&self) -> Result<Vec<FileEntry>, HeaderError> {
        let h = &self.meta.header;
        let paths = self
            .meta
            .get_file_paths()
            .map_err(|e| self.bad_tag("BASENAMES/DIRNAMES", e))?;
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let modes = h
            .get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)
            .map_err(|e| self.bad_tag("FILEMODES", e))?;
        let flags = h
            .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS)
            .map_err(|e| self.bad_tag("FILEFLAGS", e))?;
        if modes.len() != paths.len() || flags.len() != paths.len() {
            return Err(self.bad_tag(
                "FILEMODES/FILEFLAGS",
                format!(
                    "{} files but {} modes and {} flags",
                    paths.len(),
                    modes.len(),
                    flags.len()
                ),
            ));
        }
        Ok(paths
            .into_iter()
            .zip(modes)
            .zip(flags)
            .map(|((path, mode), flags)| FileEntry {
                path: path.to_string_lossy().into_owned(),
                kind: if mode & S_IFMT == S_IFDIR {
                    FileKind::Dir
                } else if flags & RPMFILE_GHOST != 0 {
                    FileKind::Ghost
                } else {
                    FileKind::File
                },
            })
            .collect())
    }
}

const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;
const RPMFILE_GHOST: u32 = 1 << 6;

/// rpm's RPMSENSE_* bits that matter here.
const SENSE_LESS: u32 = 1 << 1;
const SENSE_GREATER: u32 = 1 << 2;
const SENSE_EQUAL: u32 = 1 << 3;
const SENSE_PREREQ: u32 = 1 << 6;
const SENSE_SCRIPT_PRE: u32 = 1 << 9;
const SENSE_SCRIPT_POST: u32 = 1 << 10;

/// Requires flags that make a dependency `pre`. Exactly createrepo_c's set
/// (legacy PreReq, Requires(pre), Requires(post)), so that a package read
/// from its header and the same package read from repodata agree;
/// Requires(preun)/(postun)/interp alone do not count.
pub const PRE_FLAGS: u32 = SENSE_PREREQ | SENSE_SCRIPT_PRE | SENSE_SCRIPT_POST;

/// One dependency from its header triple (name, RPMSENSE flags, EVR).
pub fn dep_from_header(name: &str, flags: u32, version: &str) -> Dep {
    let cmp = match flags & (SENSE_LESS | SENSE_GREATER | SENSE_EQUAL) {
        x if x == SENSE_LESS => Some(Cmp::Lt),
        x if x == SENSE_LESS | SENSE_EQUAL => Some(Cmp::Le),
        x if x == SENSE_EQUAL => Some(Cmp::Eq),
        x if x == SENSE_GREATER | SENSE_EQUAL => Some(Cmp::Ge),
        x if x == SENSE_GREATER => Some(Cmp::Gt),
        // No operator, or the meaningless LESS|GREATER: unversioned.
        _ => None,
    };
    Dep {
        name: name.to_owned(),
        version: match cmp {
            Some(c) if !version.is_empty() => Some((c, Evr::parse(version))),
            _ => None,
        },
        pre: flags & PRE_FLAGS != 0,
    }
}
