//! Writing repodata: rendering primary/filelists/other/repomd (pure) and
//! putting the directory in place atomically (I/O).

use super::xml::{forbidden_char, push_attr, push_text};
use super::{RepodataError, WriteOptions};
use crate::package::{Dep, FileEntry, FileKind, Package};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::Path;

const NS_COMMON: &str = "http://linux.duke.edu/metadata/common";
const NS_RPM: &str = "http://linux.duke.edu/metadata/rpm";
const NS_FILELISTS: &str = "http://linux.duke.edu/metadata/filelists";
const NS_OTHER: &str = "http://linux.duke.edu/metadata/other";
const NS_REPO: &str = "http://linux.duke.edu/metadata/repo";

/// Whether a path belongs in primary.xml (the rest is only in
/// filelists.xml). The rule every createrepo and yum/dnf agree on: anything
/// under /etc/, anything with `bin/` in it, and /usr/lib/sendmail.
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

/// The requires that primary.xml lists for `pkg`, in createrepo_c's way
/// (parsehdr.c, 0.17): `rpmlib(...)` requires are dropped; so are file
/// requires on the package's own primary files, requires that one of its
/// provides matches exactly (name, operator and version), and repeats of the
/// previous require of the same name with the same version and pre flag. Of
/// the `libc.so.6*` requires only the highest glibc version is kept, listed
/// last. Idempotent: applying it to its own output changes nothing.
pub fn primary_requires(pkg: &Package) -> Vec<&Dep> {
    let provided: HashSet<(&str, Option<&(crate::Cmp, crate::Evr)>)> = pkg
        .provides
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_ref()))
        .collect();
    let mut own_files: Option<HashSet<&str>> = None;
    let mut last_of_name: HashMap<&str, &Dep> = HashMap::new();
    let mut libc: Option<&Dep> = None;
    let mut out = Vec::with_capacity(pkg.requires.len());
    for r in &pkg.requires {
        if r.name.is_empty() || r.is_rpmlib() {
            continue;
        }
        if r.is_file() && is_primary_file(&r.name) {
            let files = own_files
                .get_or_insert_with(|| pkg.files.iter().map(|f| f.path.as_str()).collect());
            if files.contains(r.name.as_str()) {
                continue;
            }
        }
        if provided.contains(&(r.name.as_str(), r.version.as_ref())) {
            continue;
        }
        if let Some(prev) = last_of_name.get(r.name.as_str()) {
            if prev.version == r.version && prev.pre == r.pre {
                continue;
            }
        }
        if r.name.starts_with("libc.so.6") {
            libc = match libc {
                Some(cur) if libc_cmp(&cur.name, &r.name) != LibcOrder::SecondHigher => Some(cur),
                _ => Some(r),
            };
            continue;
        }
        last_of_name.insert(&r.name, r);
        out.push(r);
    }
    out.extend(libc);
    out
}

#[derive(Debug, PartialEq, Eq)]
enum LibcOrder {
    Same,
    FirstHigher,
    SecondHigher,
}

/// Orders `libc.so.6(GLIBC_2.x)(64bit)`-style names by the first version
/// inside the parentheses, as createrepo_c's cr_compare_dependency does
/// (a name with no or empty parentheses is the lowest).
fn libc_cmp(a: &str, b: &str) -> LibcOrder {
    use LibcOrder::*;
    let (pa, pb) = (a.find('('), b.find('('));
    let (pa, pb) = match (pa, pb) {
        (None, None) => return Same,
        (None, Some(_)) => return SecondHigher,
        (Some(_), None) => return FirstHigher,
        (Some(x), Some(y)) => (x, y),
    };
    let (ea, eb) = (a[pa..].find(')'), b[pb..].find(')'));
    let (ea, eb) = match (ea, eb) {
        // Neither closes: createrepo_c reports an error and keeps the first.
        (None, None) => return Same,
        (None, Some(_)) => return SecondHigher,
        (Some(_), None) => return FirstHigher,
        (Some(x), Some(y)) => (pa + x, pb + y),
    };
    let (sa, sb) = (pa + 1, pb + 1);
    match (sa == ea, sb == eb) {
        (true, true) => return Same,
        (true, false) => return SecondHigher,
        (false, true) => return FirstHigher,
        _ => {}
    }
    // First digit after the parenthesis (may run past it, as in C).
    let digit = |s: &str, from: usize| {
        s[from..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(s.len(), |i| from + i)
    };
    let (da, db) = (digit(a, sa), digit(b, sb));
    match (da > ea, db > eb) {
        (true, true) => return Same,
        (true, false) => return SecondHigher,
        (false, true) => return FirstHigher,
        _ => {}
    }
    match crate::rpmvercmp(&a[da..ea], &b[db..eb]) {
        std::cmp::Ordering::Less => SecondHigher,
        std::cmp::Ordering::Equal => Same,
        std::cmp::Ordering::Greater => FirstHigher,
    }
}

/// The finished files of a repodata directory: names relative to
/// `repodata/`, repomd.xml last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub files: Vec<(String, Vec<u8>)>,
}

struct MetaFile {
    kind: &'static str,
    name: String,
    bytes: Vec<u8>,
    checksum: String,
    /// Empty for a file stored uncompressed (no open-* elements).
    open_checksum: String,
    open_size: usize,
}

/// Renders the whole repodata directory in memory (no I/O). Packages are
/// sorted by location, so input order does not matter.
pub fn render_repodata(
    packages: &[Package],
    opts: &WriteOptions,
) -> Result<Rendered, RepodataError> {
    for p in packages {
        check_chars(p)?;
    }
    let mut sorted: Vec<&Package> = packages.iter().collect();
    sorted.sort_by(|a, b| {
        a.location
            .cmp(&b.location)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.checksum.cmp(&b.checksum))
    });
    let level = opts.compression_level.min(9);
    // The three documents are independent: render and compress them in
    // parallel (filelists is the big one).
    let (primary, (filelists, other)) = rayon::join(
        || finish("primary", render_primary(&sorted), level),
        || {
            rayon::join(
                || finish("filelists", render_filelists(&sorted), level),
                || finish("other", render_other(&sorted, opts.changelog_limit), level),
            )
        },
    );
    let mut metas = vec![primary, filelists, other];
    if let Some(comps) = &opts.comps {
        metas.extend(group_files(comps, level));
    }
    let repomd = render_repomd(&metas, opts.timestamp);
    let mut files: Vec<(String, Vec<u8>)> = metas.into_iter().map(|m| (m.name, m.bytes)).collect();
    files.push(("repomd.xml".to_string(), repomd.into_bytes()));
    Ok(Rendered { files })
}

fn finish(kind: &'static str, xml: String, level: u32) -> MetaFile {
    let open_checksum = hex::encode(Sha256::digest(xml.as_bytes()));
    let mut gz = flate2::GzBuilder::new().mtime(0).write(
        Vec::with_capacity(xml.len() / 4),
        flate2::Compression::new(level),
    );
    // Writing into a Vec cannot fail.
    gz.write_all(xml.as_bytes()).expect("gzip into memory");
    let bytes = gz.finish().expect("gzip into memory");
    let checksum = hex::encode(Sha256::digest(&bytes));
    MetaFile {
        kind,
        name: format!("{checksum}-{kind}.xml.gz"),
        bytes,
        checksum,
        open_checksum,
        open_size: xml.len(),
    }
}

fn check_chars(p: &Package) -> Result<(), RepodataError> {
    let bad = |field: &'static str, s: &str| -> Result<(), RepodataError> {
        match forbidden_char(s) {
            Some(c) => Err(RepodataError::ControlChar {
                package: p.nevra(),
                field,
                code: c as u32,
            }),
            None => Ok(()),
        }
    };
    for (field, s) in [
        ("name", &p.name),
        ("arch", &p.arch),
        ("version", &p.evr.version),
        ("release", &p.evr.release),
        ("summary", &p.summary),
        ("description", &p.description),
        ("url", &p.url),
        ("license", &p.license),
        ("vendor", &p.vendor),
        ("group", &p.group),
        ("buildhost", &p.buildhost),
        ("sourcerpm", &p.sourcerpm),
        ("packager", &p.packager),
        ("location", &p.location),
        ("checksum", &p.checksum),
    ] {
        bad(field, s)?;
    }
    for (field, deps) in [
        ("provides", &p.provides),
        ("requires", &p.requires),
        ("conflicts", &p.conflicts),
        ("obsoletes", &p.obsoletes),
    ] {
        for d in deps {
            bad(field, &d.name)?;
            if let Some((_, evr)) = &d.version {
                bad(field, &evr.version)?;
                bad(field, &evr.release)?;
            }
        }
    }
    for f in &p.files {
        bad("files", &f.path)?;
    }
    for c in &p.changelogs {
        bad("changelog", &c.author)?;
        bad("changelog", &c.text)?;
    }
    Ok(())
}

fn header(out: &mut String, root: &str, ns: &str, rpm_ns: bool, count: usize) {
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    out.push_str(root);
    let _ = write!(out, " xmlns=\"{ns}\"");
    if rpm_ns {
        let _ = write!(out, " xmlns:rpm=\"{NS_RPM}\"");
    }
    let _ = writeln!(out, " packages=\"{count}\">");
}

fn text_elem(out: &mut String, indent: &str, name: &str, value: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_text(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

fn version_elem(out: &mut String, p: &Package) {
    let _ = write!(out, "  <version epoch=\"{}\" ver=\"", p.evr.epoch);
    push_attr(out, &p.evr.version);
    out.push_str("\" rel=\"");
    push_attr(out, &p.evr.release);
    out.push_str("\"/>\n");
}

fn file_elem(out: &mut String, indent: &str, f: &FileEntry) {
    out.push_str(indent);
    out.push_str(match f.kind {
        FileKind::File => "<file>",
        FileKind::Dir => "<file type=\"dir\">",
        FileKind::Ghost => "<file type=\"ghost\">",
    });
    push_text(out, &f.path);
    out.push_str("</file>\n");
}

fn dep_list<'a>(out: &mut String, elem: &str, deps: impl IntoIterator<Item = &'a Dep>, pre: bool) {
    let mut any = false;
    for d in deps {
        if d.name.is_empty() {
            continue;
        }
        if !any {
            let _ = writeln!(out, "    <rpm:{elem}>");
            any = true;
        }
        out.push_str("      <rpm:entry name=\"");
        push_attr(out, &d.name);
        out.push('"');
        if let Some((cmp, evr)) = &d.version {
            let _ = write!(
                out,
                " flags=\"{}\" epoch=\"{}\"",
                cmp.as_repodata(),
                evr.epoch
            );
            if !evr.version.is_empty() {
                out.push_str(" ver=\"");
                push_attr(out, &evr.version);
                out.push('"');
            }
            if !evr.release.is_empty() {
                out.push_str(" rel=\"");
                push_attr(out, &evr.release);
                out.push('"');
            }
        }
        if pre && d.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    if any {
        let _ = writeln!(out, "    </rpm:{elem}>");
    }
}

fn render_primary(pkgs: &[&Package]) -> String {
    let mut out = String::with_capacity(pkgs.len() * 3000 + 256);
    header(&mut out, "metadata", NS_COMMON, true, pkgs.len());
    for p in pkgs {
        out.push_str("<package type=\"rpm\">\n");
        text_elem(&mut out, "  ", "name", &p.name);
        text_elem(&mut out, "  ", "arch", &p.arch);
        version_elem(&mut out, p);
        out.push_str("  <checksum type=\"sha256\" pkgid=\"YES\">");
        push_text(&mut out, &p.checksum);
        out.push_str("</checksum>\n");
        text_elem(&mut out, "  ", "summary", &p.summary);
        text_elem(&mut out, "  ", "description", &p.description);
        text_elem(&mut out, "  ", "packager", &p.packager);
        text_elem(&mut out, "  ", "url", &p.url);
        // createrepo_c puts the file's mtime in `file`; that differs per
        // copy of the same package, so we use the build time (reproducible).
        let _ = writeln!(
            out,
            "  <time file=\"{}\" build=\"{}\"/>",
            p.build_time, p.build_time
        );
        let _ = writeln!(
            out,
            "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
            p.size_package, p.size_installed, p.size_archive
        );
        out.push_str("  <location href=\"");
        push_attr(&mut out, &p.location);
        out.push_str("\"/>\n  <format>\n");
        text_elem(&mut out, "    ", "rpm:license", &p.license);
        text_elem(&mut out, "    ", "rpm:vendor", &p.vendor);
        text_elem(&mut out, "    ", "rpm:group", &p.group);
        text_elem(&mut out, "    ", "rpm:buildhost", &p.buildhost);
        text_elem(&mut out, "    ", "rpm:sourcerpm", &p.sourcerpm);
        let _ = writeln!(
            out,
            "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
            p.header_start, p.header_end
        );
        dep_list(&mut out, "provides", &p.provides, false);
        dep_list(&mut out, "requires", primary_requires(p), true);
        dep_list(&mut out, "conflicts", &p.conflicts, false);
        dep_list(&mut out, "obsoletes", &p.obsoletes, false);
        for f in p.files.iter().filter(|f| is_primary_file(&f.path)) {
            file_elem(&mut out, "    ", f);
        }
        out.push_str("  </format>\n</package>\n");
    }
    out.push_str("</metadata>\n");
    out
}

fn pkg_open(out: &mut String, p: &Package) {
    out.push_str("<package pkgid=\"");
    push_attr(out, &p.checksum);
    out.push_str("\" name=\"");
    push_attr(out, &p.name);
    out.push_str("\" arch=\"");
    push_attr(out, &p.arch);
    out.push_str("\">\n");
    version_elem(out, p);
}

fn render_filelists(pkgs: &[&Package]) -> String {
    let files: usize = pkgs.iter().map(|p| p.files.len()).sum();
    let mut out = String::with_capacity(pkgs.len() * 300 + files * 60 + 256);
    header(&mut out, "filelists", NS_FILELISTS, false, pkgs.len());
    for p in pkgs {
        pkg_open(&mut out, p);
        for f in &p.files {
            file_elem(&mut out, "  ", f);
        }
        out.push_str("</package>\n");
    }
    out.push_str("</filelists>\n");
    out
}

/// other.xml's changelog entries for `p`, oldest first, as createrepo_c
/// writes them: the newest `limit` entries of the header (which lists newest
/// first), trailing spaces cut from the author, and entries that share a
/// timestamp spread out by a second each so that their order survives.
fn changelog_entries(p: &Package, limit: usize) -> Vec<(&str, u64, &str)> {
    let mut out: Vec<(&str, u64, &str)> = Vec::new();
    let mut last_time = 0u64;
    for c in p.changelogs.iter().take(limit) {
        out.push((c.author.trim_end_matches(' '), c.time, &c.text));
        if c.time == last_time {
            // The run of earlier entries at c.time, c.time+1, ... (already
            // bumped) moves up by one each.
            let n = out.len() - 1;
            for (t, prev) in (c.time..).zip(out[..n].iter_mut().rev()) {
                if prev.1 != t {
                    break;
                }
                prev.1 += 1;
            }
        } else {
            last_time = c.time;
        }
    }
    out.reverse();
    out
}

fn render_other(pkgs: &[&Package], changelog_limit: usize) -> String {
    let mut out = String::with_capacity(pkgs.len() * 1500 + 256);
    header(&mut out, "otherdata", NS_OTHER, false, pkgs.len());
    for p in pkgs {
        pkg_open(&mut out, p);
        for (author, time, text) in changelog_entries(p, changelog_limit) {
            out.push_str("  <changelog author=\"");
            push_attr(&mut out, author);
            let _ = write!(out, "\" date=\"{time}\">");
            push_text(&mut out, text);
            out.push_str("</changelog>\n");
        }
        out.push_str("</package>\n");
    }
    out.push_str("</otherdata>\n");
    out
}

/// comps.xml as `createrepo_c -g` stores it: as given (`group`, which has
/// no open-checksum) and gzipped (`group_gz`).
fn group_files(comps: &str, level: u32) -> [MetaFile; 2] {
    let checksum = hex::encode(Sha256::digest(comps.as_bytes()));
    let plain = MetaFile {
        kind: "group",
        name: format!("{checksum}-comps.xml"),
        bytes: comps.as_bytes().to_vec(),
        checksum,
        open_checksum: String::new(),
        open_size: comps.len(),
    };
    let mut gz = finish("group_gz", comps.to_string(), level);
    gz.name = format!("{}-comps.xml.gz", gz.checksum);
    [plain, gz]
}

fn render_repomd(metas: &[MetaFile], timestamp: u64) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<repomd xmlns=\"{NS_REPO}\" xmlns:rpm=\"{NS_RPM}\">");
    let _ = writeln!(out, "  <revision>{timestamp}</revision>");
    for m in metas {
        let _ = writeln!(out, "  <data type=\"{}\">", m.kind);
        let _ = writeln!(
            out,
            "    <checksum type=\"sha256\">{}</checksum>",
            m.checksum
        );
        let stored_plain = m.open_checksum.is_empty();
        if !stored_plain {
            let _ = writeln!(
                out,
                "    <open-checksum type=\"sha256\">{}</open-checksum>",
                m.open_checksum
            );
        }
        let _ = writeln!(out, "    <location href=\"repodata/{}\"/>", m.name);
        let _ = writeln!(out, "    <timestamp>{timestamp}</timestamp>");
        let _ = writeln!(out, "    <size>{}</size>", m.bytes.len());
        if !stored_plain {
            let _ = writeln!(out, "    <open-size>{}</open-size>", m.open_size);
        }
        out.push_str("  </data>\n");
    }
    out.push_str("</repomd>\n");
    out
}

/// Writes `repo_root/repodata/` for `packages` (their `location`s are
/// relative to `repo_root`). The new directory is built and fsynced beside
/// the old one and then swapped in with one rename, so readers see either
/// the old or the new metadata, never a mix, and a failure leaves the old
/// one untouched.
pub fn write_repodata(
    repo_root: &Path,
    packages: &[Package],
    opts: &WriteOptions,
) -> Result<(), RepodataError> {
    let io = RepodataError::io;
    let meta = fs::metadata(repo_root).map_err(io(repo_root))?;
    if !meta.is_dir() {
        return Err(RepodataError::NotADirectory {
            path: repo_root.to_path_buf(),
        });
    }
    let rendered = render_repodata(packages, opts)?;

    let staging = tempfile::Builder::new()
        .prefix(".repodata.new-")
        .tempdir_in(repo_root)
        .map_err(io(repo_root))?;
    for (name, bytes) in &rendered.files {
        let path = staging.path().join(name);
        let mut f = fs::File::create(&path).map_err(io(&path))?;
        f.write_all(bytes).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
    }
    mk_durable::sync_dir(staging.path()).map_err(RepodataError::io(staging.path()))?;

    let target = repo_root.join("repodata");
    match fs::symlink_metadata(&target) {
        Ok(m) if m.is_dir() => {
            mk_durable::exchange_dirs(staging.path(), &target)
                .map_err(RepodataError::io(&target))?;
            // `staging` now names the old metadata; dropping it removes it.
        }
        Ok(_) => return Err(RepodataError::NotADirectory { path: target }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::rename(staging.path(), &target).map_err(io(&target))?;
            // Nothing left to clean up.
            let _ = staging.keep();
        }
        Err(e) => return Err(io(&target)(e)),
    }
    mk_durable::sync_dir(repo_root).map_err(RepodataError::io(repo_root))?;
    tracing::info!(
        packages = packages.len(),
        repo = %repo_root.display(),
        "wrote repodata"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::Changelog;
    use crate::{Cmp, Evr};

    fn dep(name: &str) -> Dep {
        Dep::any(name)
    }

    #[test]
    fn primary_file_rule() {
        for p in [
            "/etc/passwd",
            "/usr/bin/bash",
            "/usr/sbin/x",
            "/opt/x/bin/y",
            "/usr/lib/sendmail",
        ] {
            assert!(is_primary_file(p), "{p}");
        }
        for p in [
            "/usr/lib/libc.so",
            "/etc",
            "/usr/share/doc/x",
            "/usr/lib/sendmail.x",
        ] {
            assert!(!is_primary_file(p), "{p}");
        }
    }

    #[test]
    fn requires_filtered_like_createrepo() {
        let v = |s: &str| Some((Cmp::Eq, Evr::parse(s)));
        let p = Package {
            name: "a".into(),
            provides: vec![
                Dep::versioned("a", Cmp::Eq, Evr::parse("1-1")),
                dep("/usr/bin/a"),
                dep("libfoo.so.1()(64bit)"),
            ],
            requires: vec![
                Dep {
                    name: "rpmlib(PayloadIsXz)".into(),
                    version: v("5.2-1"),
                    pre: false,
                },
                dep("/bin/sh"),
                dep("/etc/a.conf"),
                dep("/usr/share/a/data"),
                dep("libfoo.so.1()(64bit)"),
                Dep::versioned("a", Cmp::Eq, Evr::parse("1-1")),
                Dep::versioned("a", Cmp::Ge, Evr::parse("1-1")),
                dep("libc.so.6(GLIBC_2.14)(64bit)"),
                dep("libc.so.6()(64bit)"),
                dep("libc.so.6(GLIBC_2.2.5)(64bit)"),
                dep("b"),
                dep("b"),
                Dep {
                    name: "b".into(),
                    version: None,
                    pre: true,
                },
            ],
            files: vec![
                FileEntry {
                    path: "/etc/a.conf".into(),
                    kind: FileKind::File,
                },
                FileEntry {
                    path: "/usr/share/a/data".into(),
                    kind: FileKind::File,
                },
            ],
            ..Package::default()
        };
        let got: Vec<String> = primary_requires(&p)
            .iter()
            .map(|d| format!("{d}{}", if d.pre { " (pre)" } else { "" }))
            .collect();
        assert_eq!(
            got,
            [
                "/bin/sh",
                // not a primary file: createrepo keeps the require
                "/usr/share/a/data",
                "a >= 1-1",
                "b",
                "b (pre)",
                "libc.so.6(GLIBC_2.14)(64bit)",
            ]
        );
        // Idempotent.
        let again = Package {
            requires: primary_requires(&p).into_iter().cloned().collect(),
            ..p.clone()
        };
        assert_eq!(primary_requires(&again), primary_requires(&p));
    }

    #[test]
    fn libc_order() {
        use LibcOrder::*;
        assert_eq!(
            libc_cmp("libc.so.6(GLIBC_2.4)", "libc.so.6(GLIBC_2.14)"),
            SecondHigher
        );
        assert_eq!(
            libc_cmp(
                "libc.so.6(GLIBC_2.14)(64bit)",
                "libc.so.6(GLIBC_2.4)(64bit)"
            ),
            FirstHigher
        );
        assert_eq!(
            libc_cmp("libc.so.6()(64bit)", "libc.so.6(GLIBC_2.2.5)(64bit)"),
            SecondHigher
        );
        assert_eq!(libc_cmp("libc.so.6", "libc.so.6"), Same);
        assert_eq!(libc_cmp("libc.so.6(", "libc.so.6(GLIBC_2.1)"), SecondHigher);
    }

    #[test]
    fn changelogs_oldest_first_with_same_time_spread() {
        let cl = |t: u64, a: &str| Changelog {
            author: a.into(),
            time: t,
            text: a.into(),
        };
        let p = Package {
            changelogs: vec![cl(300, "c  "), cl(200, "b2"), cl(200, "b1"), cl(100, "a")],
            ..Package::default()
        };
        let got = changelog_entries(&p, 10);
        assert_eq!(
            got,
            [
                ("a", 100, "a"),
                ("b1", 200, "b1"),
                ("b2", 201, "b2"),
                ("c", 300, "c  ")
            ]
        );
        assert_eq!(
            changelog_entries(&p, 2),
            [("b2", 200, "b2"), ("c", 300, "c  ")]
        );
    }

    #[test]
    fn control_characters_are_refused() {
        let p = Package {
            name: "x".into(),
            summary: "bad\u{1}".into(),
            ..Package::default()
        };
        let err = render_repodata(&[p], &WriteOptions::default()).unwrap_err();
        assert!(err.to_string().contains("summary"), "{err}");
        assert!(err.to_string().contains("U+0001"), "{err}");
    }
}
