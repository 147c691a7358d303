//! Parsing repomd.xml, primary.xml, filelists.xml and other.xml: pure
//! functions from bytes to values. They never panic on bad input (the fuzz
//! target feeds them arbitrary bytes); every error names a line.

use crate::evr::Evr;
use crate::package::{Changelog, Cmp, Dep, FileEntry, FileKind, Package};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Malformed or unexpected XML, at a 1-based line of the (decompressed)
/// document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct XmlError {
    pub line: u64,
    pub message: String,
}

/// One `<package>` of filelists.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilelistsPackage {
    pub pkgid: String,
    pub name: String,
    pub arch: String,
    pub evr: Evr,
    pub files: Vec<FileEntry>,
    /// Line of the `<package>` element, for error messages.
    pub line: u64,
}

/// One `<package>` of other.xml. Changelogs as the document lists them
/// (oldest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherPackage {
    pub pkgid: String,
    pub name: String,
    pub arch: String,
    pub evr: Evr,
    pub changelogs: Vec<Changelog>,
    pub line: u64,
}

/// One `<data>` record of repomd.xml.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepomdRecord {
    /// `primary`, `filelists`, `other`, `primary_db`, `group` ...
    pub kind: String,
    pub location_href: String,
    /// (type, lower-case hex) of the file as stored.
    pub checksum: (String, String),
    /// (type, hex) of the decompressed content, when given.
    pub open_checksum: Option<(String, String)>,
    pub size: Option<u64>,
    pub open_size: Option<u64>,
    pub timestamp: Option<u64>,
    pub line: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepomdData {
    pub revision: Option<String>,
    pub records: Vec<RepomdRecord>,
}

impl RepomdData {
    pub fn record(&self, kind: &str) -> Option<&RepomdRecord> {
        self.records.iter().find(|r| r.kind == kind)
    }
}

/// A pull parser over one document that knows where it is.
struct Doc<'a> {
    text: &'a str,
    reader: Reader<&'a [u8]>,
    /// Byte offset where the event just returned began.
    at: u64,
}

impl<'a> Doc<'a> {
    fn new(xml: &'a [u8]) -> Result<Self, XmlError> {
        let text = std::str::from_utf8(xml).map_err(|e| XmlError {
            line: line_of(xml, e.valid_up_to()),
            message: "invalid UTF-8".to_string(),
        })?;
        let reader = Reader::from_str(text);
        Ok(Doc {
            text,
            reader,
            at: 0,
        })
    }

    fn next(&mut self) -> Result<Event<'a>, XmlError> {
        self.at = self.reader.buffer_position();
        self.reader.read_event().map_err(|e| XmlError {
            line: line_of(self.text.as_bytes(), self.reader.error_position() as usize),
            message: e.to_string(),
        })
    }

    /// Line of the current event (ignoring the whitespace before it).
    fn line(&self) -> u64 {
        let bytes = self.text.as_bytes();
        let mut at = (self.at as usize).min(bytes.len());
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        line_of(bytes, at)
    }

    fn err(&self, message: impl Into<String>) -> XmlError {
        XmlError {
            line: self.line(),
            message: message.into(),
        }
    }
}

fn line_of(bytes: &[u8], at: usize) -> u64 {
    let at = at.min(bytes.len());
    bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// An element's attributes, values unescaped.
struct Attrs {
    elem: String,
    list: Vec<(String, String)>,
}

impl Attrs {
    fn of(doc: &Doc, e: &BytesStart) -> Result<Self, XmlError> {
        let elem = e.name().as_ref().to_string();
        let mut list = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| doc.err(format!("<{elem}>: bad attribute: {err}")))?;
            let key = a.key.as_ref().to_string();
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| doc.err(format!("<{elem}>: attribute {key}: {err}")))?;
            list.push((key, value.into_owned()));
        }
        Ok(Attrs { elem, list })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    fn required(&self, doc: &Doc, key: &str) -> Result<&str, XmlError> {
        self.get(key)
            .ok_or_else(|| doc.err(format!("<{}> has no {key} attribute", self.elem)))
    }

    fn number<T: std::str::FromStr>(&self, doc: &Doc, key: &str) -> Result<Option<T>, XmlError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                doc.err(format!(
                    "<{}> {key}=\"{v}\" is not a non-negative integer",
                    self.elem
                ))
            }),
        }
    }

    /// `epoch`/`ver`/`rel` as in `<version>` (a missing epoch is 0).
    fn evr(&self, doc: &Doc) -> Result<Evr, XmlError> {
        let epoch = self.number::<u32>(doc, "epoch")?.unwrap_or(0);
        let ver = self.required(doc, "ver")?;
        Ok(Evr::new(epoch, ver, self.get("rel").unwrap_or("")))
    }
}

fn local(e: &BytesStart) -> String {
    e.local_name().as_ref().to_string()
}

/// Text content collector: appends text, CDATA and resolved references.
fn push_text(doc: &Doc, buf: &mut String, ev: &Event) -> Result<(), XmlError> {
    match ev {
        Event::Text(t) => buf.push_str(&t.xml10_content()),
        Event::CData(t) => buf.push_str(&t.xml10_content()),
        Event::GeneralRef(r) => {
            let resolved = r
                .resolve_char_ref()
                .map_err(|e| doc.err(format!("bad character reference: {e}")))?;
            match resolved {
                Some(c) => buf.push(c),
                None => {
                    let name = r.xml10_content();
                    let v = quick_xml::escape::resolve_xml_entity(&name)
                        .ok_or_else(|| doc.err(format!("unknown entity &{name};")))?;
                    buf.push_str(v);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn parse_dep(doc: &Doc, a: &Attrs) -> Result<Dep, XmlError> {
    let name = a.required(doc, "name")?.to_string();
    let version = match a.get("flags") {
        None | Some("") => None,
        Some(f) => {
            let cmp = Cmp::from_repodata(f).ok_or_else(|| {
                doc.err(format!(
                    "<rpm:entry name=\"{name}\"> flags=\"{f}\" is not one of LT, LE, EQ, GE, GT"
                ))
            })?;
            let epoch = a.number::<u32>(doc, "epoch")?.unwrap_or(0);
            let (ver, rel) = (a.get("ver").unwrap_or(""), a.get("rel").unwrap_or(""));
            // A dependency version may itself contain '-' (`httpd-mmn =
            // 20120211-x86-64`). createrepo_c splits it at the first '-',
            // rpm at the last; clients join ver-rel again. Re-split the
            // rpm way so that the model matches the package header.
            let evr = if ver.contains('-') || rel.contains('-') {
                let joined = if rel.is_empty() {
                    ver.to_string()
                } else {
                    format!("{ver}-{rel}")
                };
                let (v, r) = joined.rsplit_once('-').unwrap_or((&joined, ""));
                Evr::new(epoch, v, r)
            } else {
                Evr::new(epoch, ver, rel)
            };
            Some((cmp, evr))
        }
    };
    let pre = match a.get("pre") {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(v) => {
            return Err(doc.err(format!(
                "<rpm:entry name=\"{name}\"> pre=\"{v}\" is not 0 or 1"
            )))
        }
    };
    Ok(Dep { name, version, pre })
}

fn file_kind(doc: &Doc, a: &Attrs) -> Result<FileKind, XmlError> {
    match a.get("type") {
        None | Some("") | Some("file") => Ok(FileKind::File),
        Some("dir") => Ok(FileKind::Dir),
        Some("ghost") => Ok(FileKind::Ghost),
        Some(t) => Err(doc.err(format!(
            "<file> type=\"{t}\" is not one of file, dir, ghost"
        ))),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PField {
    Name,
    Arch,
    Checksum,
    Summary,
    Description,
    Packager,
    Url,
    License,
    Vendor,
    Group,
    Buildhost,
    Sourcerpm,
    File(FileKind),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DepList {
    Provides,
    Requires,
    Conflicts,
    Obsoletes,
    /// Weak dependencies: not modelled, skipped.
    Ignored,
}

fn set_field(p: &mut Package, f: PField, t: String) {
    match f {
        PField::Name => p.name = t,
        PField::Arch => p.arch = t,
        PField::Checksum => p.checksum = t.trim().to_ascii_lowercase(),
        PField::Summary => p.summary = t,
        PField::Description => p.description = t,
        PField::Packager => p.packager = t,
        PField::Url => p.url = t,
        PField::License => p.license = t,
        PField::Vendor => p.vendor = t,
        PField::Group => p.group = t,
        PField::Buildhost => p.buildhost = t,
        PField::Sourcerpm => p.sourcerpm = t,
        PField::File(kind) => p.files.push(FileEntry { path: t, kind }),
    }
}

/// Parses primary.xml into packages, in document order. Files are only the
/// primary subset (see filelists.xml for all); `location` is the href.
pub fn parse_primary(xml: &[u8]) -> Result<Vec<Package>, XmlError> {
    let mut doc = Doc::new(xml)?;
    let mut out = Vec::new();
    let mut pkg: Option<(Package, u64)> = None;
    let mut seen_version = false;
    let mut seen_location = false;
    let mut field: Option<PField> = None;
    let mut text = String::new();
    let mut deps: Option<DepList> = None;
    let mut root_seen = false;
    loop {
        let ev = doc.next()?;
        let (e, empty) = match &ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                let name = e.local_name().as_ref().to_string();
                if let (Some(f), Some((p, _))) = (field.take(), pkg.as_mut()) {
                    set_field(p, f, std::mem::take(&mut text));
                    continue;
                }
                match name.as_str() {
                    "package" => {
                        if let Some((p, line)) = pkg.take() {
                            let missing = if p.name.is_empty() {
                                Some("<name>")
                            } else if p.arch.is_empty() {
                                Some("<arch>")
                            } else if !seen_version {
                                Some("<version>")
                            } else if p.checksum.is_empty() {
                                Some("<checksum>")
                            } else if !seen_location {
                                Some("<location>")
                            } else {
                                None
                            };
                            if let Some(m) = missing {
                                return Err(XmlError {
                                    line,
                                    message: format!("<package> has no {m}"),
                                });
                            }
                            out.push(p);
                        }
                    }
                    "provides" | "requires" | "conflicts" | "obsoletes" | "suggests"
                    | "enhances" | "recommends" | "supplements" => deps = None,
                    _ => {}
                }
                continue;
            }
            Event::Eof => break,
            other => {
                if field.is_some() {
                    push_text(&doc, &mut text, other)?;
                }
                continue;
            }
        };
        let name = local(e);
        if field.is_some() {
            return Err(doc.err(format!(
                "unexpected element <{}> inside a text element",
                &name
            )));
        }
        if !root_seen {
            if name != "metadata" {
                return Err(doc.err(format!("root element is <{}>, expected <metadata>", &name)));
            }
            root_seen = true;
            continue;
        }
        if name == "package" {
            if pkg.is_some() {
                return Err(doc.err("<package> inside <package>"));
            }
            pkg = Some((Package::default(), doc.line()));
            seen_version = false;
            seen_location = false;
            if empty {
                return Err(doc.err("empty <package/>"));
            }
            continue;
        }
        let Some((p, _)) = pkg.as_mut() else {
            // Unknown top-level elements are tolerated (extensions).
            continue;
        };
        let a = Attrs::of(&doc, e)?;
        let text_field = match name.as_str() {
            "name" if deps.is_none() => Some(PField::Name),
            "arch" => Some(PField::Arch),
            "checksum" => Some(PField::Checksum),
            "summary" => Some(PField::Summary),
            "description" => Some(PField::Description),
            "packager" => Some(PField::Packager),
            "url" => Some(PField::Url),
            "license" => Some(PField::License),
            "vendor" => Some(PField::Vendor),
            "group" => Some(PField::Group),
            "buildhost" => Some(PField::Buildhost),
            "sourcerpm" => Some(PField::Sourcerpm),
            "file" => Some(PField::File(file_kind(&doc, &a)?)),
            "version" => {
                p.evr = a.evr(&doc)?;
                seen_version = true;
                None
            }
            "time" => {
                p.build_time = a.number(&doc, "build")?.unwrap_or(0);
                None
            }
            "size" => {
                p.size_package = a.number(&doc, "package")?.unwrap_or(0);
                p.size_installed = a.number(&doc, "installed")?.unwrap_or(0);
                p.size_archive = a.number(&doc, "archive")?.unwrap_or(0);
                None
            }
            "location" => {
                p.location = a.required(&doc, "href")?.to_string();
                seen_location = true;
                None
            }
            "header-range" => {
                p.header_start = a.number(&doc, "start")?.unwrap_or(0);
                p.header_end = a.number(&doc, "end")?.unwrap_or(0);
                None
            }
            "provides" => {
                deps = Some(DepList::Provides);
                None
            }
            "requires" => {
                deps = Some(DepList::Requires);
                None
            }
            "conflicts" => {
                deps = Some(DepList::Conflicts);
                None
            }
            "obsoletes" => {
                deps = Some(DepList::Obsoletes);
                None
            }
            "suggests" | "enhances" | "recommends" | "supplements" => {
                deps = Some(DepList::Ignored);
                None
            }
            "entry" => {
                let list = match deps {
                    Some(DepList::Provides) => Some(&mut p.provides),
                    Some(DepList::Requires) => Some(&mut p.requires),
                    Some(DepList::Conflicts) => Some(&mut p.conflicts),
                    Some(DepList::Obsoletes) => Some(&mut p.obsoletes),
                    Some(DepList::Ignored) => None,
                    None => return Err(doc.err("<rpm:entry> outside a dependency list")),
                };
                let d = parse_dep(&doc, &a)?;
                if let Some(list) = list {
                    list.push(d);
                }
                None
            }
            _ => None,
        };
        if let Some(f) = text_field {
            if empty {
                // `<url/>`: an empty value.
                set_field(p, f, String::new());
            } else {
                field = Some(f);
                text.clear();
            }
        }
    }
    if !root_seen {
        return Err(doc.err("no <metadata> element"));
    }
    if let Some((_, line)) = pkg {
        return Err(XmlError {
            line,
            message: "document ends inside this <package>".to_string(),
        });
    }
    Ok(out)
}

/// Shared walker for filelists.xml and other.xml: `<package pkgid name
/// arch>` with a `<version>` and repeated text children named `child`.
fn parse_per_package<T>(
    xml: &[u8],
    root: &str,
    child: &str,
    mut on_child: impl FnMut(&Doc, &Attrs, String, &mut T) -> Result<(), XmlError>,
    mut new: impl FnMut(String, String, String, u64) -> T,
    mut set_evr: impl FnMut(&mut T, Evr),
) -> Result<Vec<T>, XmlError> {
    let mut doc = Doc::new(xml)?;
    let mut out = Vec::new();
    let mut cur: Option<T> = None;
    let mut in_child: Option<Attrs> = None;
    let mut text = String::new();
    let mut root_seen = false;
    loop {
        let ev = doc.next()?;
        match &ev {
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = local(e);
                if in_child.is_some() {
                    return Err(
                        doc.err(format!("unexpected element <{}> inside <{}>", &name, child))
                    );
                }
                if !root_seen {
                    if name != root {
                        return Err(
                            doc.err(format!("root element is <{}>, expected <{}>", &name, root))
                        );
                    }
                    root_seen = true;
                    continue;
                }
                let a = Attrs::of(&doc, e)?;
                if name == "package" {
                    if cur.is_some() {
                        return Err(doc.err("<package> inside <package>"));
                    }
                    let pkgid = a.required(&doc, "pkgid")?.trim().to_ascii_lowercase();
                    let pname = a.required(&doc, "name")?.to_string();
                    let arch = a.get("arch").unwrap_or("").to_string();
                    let t = new(pkgid, pname, arch, doc.line());
                    if empty {
                        out.push(t);
                    } else {
                        cur = Some(t);
                    }
                    continue;
                }
                let Some(t) = cur.as_mut() else { continue };
                if name == "version" {
                    set_evr(t, a.evr(&doc)?);
                } else if name == child {
                    if empty {
                        on_child(&doc, &a, String::new(), t)?;
                    } else {
                        in_child = Some(a);
                        text.clear();
                    }
                }
            }
            Event::End(e) => {
                if let Some(a) = in_child.take() {
                    let t = cur
                        .as_mut()
                        .ok_or_else(|| doc.err("text element outside <package>"))?;
                    on_child(&doc, &a, std::mem::take(&mut text), t)?;
                } else if e.local_name().as_ref() == "package" {
                    if let Some(t) = cur.take() {
                        out.push(t);
                    }
                }
            }
            Event::Eof => break,
            other => {
                if in_child.is_some() {
                    push_text(&doc, &mut text, other)?;
                }
            }
        }
    }
    if !root_seen {
        return Err(doc.err(format!("no <{}> element", root)));
    }
    if cur.is_some() {
        return Err(doc.err("document ends inside a <package>"));
    }
    Ok(out)
}

/// Parses filelists.xml: every package's complete file list.
pub fn parse_filelists(xml: &[u8]) -> Result<Vec<FilelistsPackage>, XmlError> {
    parse_per_package(
        xml,
        "filelists",
        "file",
        |doc, a, path, p: &mut FilelistsPackage| {
            let kind = file_kind(doc, a)?;
            p.files.push(FileEntry { path, kind });
            Ok(())
        },
        |pkgid, name, arch, line| FilelistsPackage {
            pkgid,
            name,
            arch,
            evr: Evr::default(),
            files: Vec::new(),
            line,
        },
        |p, evr| p.evr = evr,
    )
}

/// Parses other.xml: changelogs per package.
pub fn parse_other(xml: &[u8]) -> Result<Vec<OtherPackage>, XmlError> {
    parse_per_package(
        xml,
        "otherdata",
        "changelog",
        |doc, a, text, p: &mut OtherPackage| {
            let author = a.get("author").unwrap_or("").to_string();
            let time = a.number::<u64>(doc, "date")?.unwrap_or(0);
            p.changelogs.push(Changelog { author, time, text });
            Ok(())
        },
        |pkgid, name, arch, line| OtherPackage {
            pkgid,
            name,
            arch,
            evr: Evr::default(),
            changelogs: Vec::new(),
            line,
        },
        |p, evr| p.evr = evr,
    )
}

/// Parses repomd.xml.
pub fn parse_repomd(xml: &[u8]) -> Result<RepomdData, XmlError> {
    #[derive(Clone, Copy, PartialEq)]
    enum T {
        Revision,
        Checksum,
        OpenChecksum,
        Timestamp,
        Size,
        OpenSize,
    }
    let mut doc = Doc::new(xml)?;
    let mut out = RepomdData::default();
    let mut cur: Option<RepomdRecord> = None;
    let mut field: Option<(T, String)> = None;
    let mut text = String::new();
    let mut root_seen = false;
    loop {
        let ev = doc.next()?;
        match &ev {
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = local(e);
                if !root_seen {
                    if name != "repomd" {
                        return Err(
                            doc.err(format!("root element is <{}>, expected <repomd>", &name))
                        );
                    }
                    root_seen = true;
                    continue;
                }
                if field.is_some() {
                    return Err(doc.err(format!(
                        "unexpected element <{}> inside a text element",
                        &name
                    )));
                }
                let a = Attrs::of(&doc, e)?;
                let ty = || a.get("type").unwrap_or("").to_ascii_lowercase();
                let f = match (name.as_str(), cur.is_some()) {
                    ("revision", false) => Some((T::Revision, String::new())),
                    ("data", false) => {
                        cur = Some(RepomdRecord {
                            kind: a.required(&doc, "type")?.to_string(),
                            line: doc.line(),
                            ..RepomdRecord::default()
                        });
                        if empty {
                            return Err(doc.err("empty <data/>"));
                        }
                        None
                    }
                    ("checksum", true) => Some((T::Checksum, ty())),
                    ("open-checksum", true) => Some((T::OpenChecksum, ty())),
                    ("timestamp", true) => Some((T::Timestamp, String::new())),
                    ("size", true) => Some((T::Size, String::new())),
                    ("open-size", true) => Some((T::OpenSize, String::new())),
                    ("location", true) => {
                        if let Some(r) = cur.as_mut() {
                            r.location_href = a.required(&doc, "href")?.to_string();
                        }
                        None
                    }
                    _ => None,
                };
                if let Some(f) = f {
                    if empty {
                        return Err(doc.err(format!("<{}> is empty", a.elem)));
                    }
                    field = Some(f);
                    text.clear();
                }
            }
            Event::End(e) => {
                if let Some((f, ty)) = field.take() {
                    let t = std::mem::take(&mut text).trim().to_string();
                    let num = |what: &str| {
                        t.parse::<u64>().map_err(|_| {
                            doc.err(format!(
                                "<{what}>{t}</{what}> is not a non-negative integer"
                            ))
                        })
                    };
                    match (f, cur.as_mut()) {
                        (T::Revision, _) => out.revision = Some(t),
                        (T::Checksum, Some(r)) => r.checksum = (ty, t.to_ascii_lowercase()),
                        (T::OpenChecksum, Some(r)) => {
                            r.open_checksum = Some((ty, t.to_ascii_lowercase()))
                        }
                        (T::Timestamp, Some(r)) => r.timestamp = Some(num("timestamp")?),
                        (T::Size, Some(r)) => r.size = Some(num("size")?),
                        (T::OpenSize, Some(r)) => r.open_size = Some(num("open-size")?),
                        _ => {}
                    }
                } else if e.local_name().as_ref() == "data" {
                    if let Some(r) = cur.take() {
                        if r.location_href.is_empty() {
                            return Err(XmlError {
                                line: r.line,
                                message: format!(
                                    "<data type=\"{}\"> has no <location href>",
                                    r.kind
                                ),
                            });
                        }
                        if r.checksum.1.is_empty() {
                            return Err(XmlError {
                                line: r.line,
                                message: format!("<data type=\"{}\"> has no <checksum>", r.kind),
                            });
                        }
                        out.records.push(r);
                    }
                }
            }
            Event::Eof => break,
            other => {
                if field.is_some() {
                    push_text(&doc, &mut text, other)?;
                }
            }
        }
    }
    if !root_seen {
        return Err(doc.err("no <repomd> element"));
    }
    if cur.is_some() {
        return Err(doc.err("document ends inside a <data> element"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>a&amp;b</name>
  <arch>x86_64</arch>
  <version epoch="2" ver="1.0" rel="3.el7"/>
  <checksum type="sha256" pkgid="YES">ABCDEF</checksum>
  <summary>s &lt;x&gt; &#233;</summary>
  <description>line1
line2</description>
  <packager/>
  <url>http://x</url>
  <time file="5" build="1234"/>
  <size package="10" installed="20" archive="30"/>
  <location href="Packages/a.rpm"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:vendor></rpm:vendor>
    <rpm:group>G</rpm:group>
    <rpm:buildhost>h</rpm:buildhost>
    <rpm:sourcerpm>a.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="100" end="200"/>
    <rpm:provides>
      <rpm:entry name="a" flags="EQ" epoch="2" ver="1.0" rel="3.el7"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="b" flags="GE" epoch="0" ver="2"/>
    </rpm:requires>
    <rpm:recommends>
      <rpm:entry name="c"/>
    </rpm:recommends>
    <file>/usr/bin/a</file>
    <file type="dir">/etc/a</file>
  </format>
</package>
</metadata>
"#;

    #[test]
    fn parses_primary() {
        let pkgs = parse_primary(PRIMARY.as_bytes()).unwrap();
        assert_eq!(pkgs.len(), 1);
        let p = &pkgs[0];
        assert_eq!(p.name, "a&b");
        assert_eq!(p.evr, Evr::new(2, "1.0", "3.el7"));
        assert_eq!(p.checksum, "abcdef");
        assert_eq!(p.summary, "s <x> é");
        assert_eq!(p.description, "line1\nline2");
        assert_eq!(p.build_time, 1234);
        assert_eq!(
            (p.size_package, p.size_installed, p.size_archive),
            (10, 20, 30)
        );
        assert_eq!((p.header_start, p.header_end), (100, 200));
        assert_eq!(p.location, "Packages/a.rpm");
        assert_eq!(p.requires.len(), 2);
        assert!(p.requires[0].pre);
        assert_eq!(p.requires[1].to_string(), "b >= 2");
        assert_eq!(p.files.len(), 2);
        assert_eq!(p.files[1].kind, FileKind::Dir);
    }

    #[test]
    fn dependency_versions_split_the_rpm_way() {
        let xml = PRIMARY.replace(
            r#"<rpm:entry name="a" flags="EQ" epoch="2" ver="1.0" rel="3.el7"/>"#,
            r#"<rpm:entry name="mmn" flags="EQ" epoch="0" ver="20120211" rel="x86-64"/>"#,
        );
        let p = &parse_primary(xml.as_bytes()).unwrap()[0];
        assert_eq!(
            p.provides[0].version,
            Some((Cmp::Eq, Evr::new(0, "20120211-x86", "64")))
        );
    }

    #[test]
    fn errors_name_the_line() {
        let bad = PRIMARY.replace(
            "epoch=\"2\" ver=\"1.0\" rel=\"3.el7\"/>\n  <checksum",
            "epoch=\"x\" ver=\"1.0\"/>\n  <checksum",
        );
        let e = parse_primary(bad.as_bytes()).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("epoch=\"x\""), "{e}");

        let bad = PRIMARY.replace("</rpm:group>", "</rpm:grop>");
        let e = parse_primary(bad.as_bytes()).unwrap_err();
        assert_eq!(e.line, 19, "{e}");

        let bad = PRIMARY.replace("flags=\"GE\"", "flags=\"XX\"");
        let e = parse_primary(bad.as_bytes()).unwrap_err();
        assert_eq!(e.line, 28, "{e}");
    }

    #[test]
    fn never_panics_on_prefixes_and_garbage() {
        for cut in 0..PRIMARY.len() {
            let _ = parse_primary(&PRIMARY.as_bytes()[..cut]);
            let _ = parse_filelists(&PRIMARY.as_bytes()[..cut]);
            let _ = parse_repomd(&PRIMARY.as_bytes()[..cut]);
        }
        assert!(parse_primary(&[0xff, 0xfe, 0x00]).is_err());
        assert!(parse_primary(b"").is_err());
    }
}
