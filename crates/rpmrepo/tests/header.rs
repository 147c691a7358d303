//! Header reading, judged by the real `rpm` and `createrepo_c`: every
//! fixture RPM (CentOS 7 rpm 4.11 packages and rpm-rs's feature packages)
//! must read exactly as `rpm -qp` shows it, header ranges and sizes exactly
//! as createrepo wrote them, and damaged packages must be refused with an
//! error naming the file.

use mk_rpmrepo::{
    read_rpm, read_rpm_bytes, read_rpm_with, scan_dir, Check, Cmp, Dep, Evr, FileKind, HeaderError,
    Package,
};
use mk_synthrpm::{Compression, SynthPackage};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture_dir(sub: &str) -> PathBuf {
    mk_fixtures::fixture(sub)
}

fn rpms_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no RPMs in {}", dir.display());
    v
}

fn all_fixture_rpms() -> Vec<PathBuf> {
    let mut v = rpms_in(&fixture_dir("rpms"));
    v.extend(rpms_in(&fixture_dir("el7-base")));
    v
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rpm_q(file: &Path, args: &[&str]) -> String {
    run(Command::new("rpm")
        .args(["-qp", "--nosignature", "--nodigest"])
        .args(args)
        .arg(file))
}

// ---------------------------------------------------------------- rpm -qp

/// A dependency list as rpm prints it: name, operator, EVR, and rpm's own
/// classification of the flags (`%{REQUIREFLAGS:deptype}`: pre, post,
/// interp, rpmlib, manual ...).
fn rpm_deps(file: &Path, tag: &str) -> Vec<Dep> {
    let qf = format!(
        "[%{{{tag}NAME}}\\t%{{{tag}FLAGS:depflags}}\\t%{{{tag}VERSION}}\\t%{{{tag}FLAGS:deptype}}\\t%{{{tag}FLAGS}}\\n]"
    );
    rpm_q(file, &["--qf", &qf])
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "{}: odd rpm line {line:?}", file.display());
            let (name, op, evr, deptype, raw) = (f[0], f[1].trim(), f[2], f[3], f[4]);
            let cmp = match op {
                "" => None,
                "<" => Some(Cmp::Lt),
                "<=" => Some(Cmp::Le),
                "=" => Some(Cmp::Eq),
                ">=" => Some(Cmp::Ge),
                ">" => Some(Cmp::Gt),
                other => panic!("{}: rpm printed operator {other:?}", file.display()),
            };
            // pre as createrepo_c has it: rpm's "pre" or "post" class, or
            // the legacy PreReq bit (64), which deptype does not name.
            let raw: u32 = raw.parse().unwrap();
            let pre = tag == "REQUIRE"
                && (deptype.split(',').any(|t| t == "pre" || t == "post") || raw & 64 != 0);
            Dep {
                name: name.to_owned(),
                version: match cmp {
                    Some(c) if !evr.is_empty() => Some((c, Evr::parse(evr))),
                    _ => None,
                },
                pre,
            }
        })
        .collect()
}

fn none_is_empty(s: &str) -> &str {
    if s == "(none)" {
        ""
    } else {
        s
    }
}

fn assert_matches_rpm(file: &Path, p: &Package) {
    let f = file.display();
    let qf = "%{NAME}\\n%{EPOCHNUM}\\n%{VERSION}\\n%{RELEASE}\\n%{ARCH}\\n%{LONGSIZE}\\n%{BUILDTIME}\\n%{SOURCERPM}\\n%{LICENSE}\\n%{VENDOR}\\n%{BUILDHOST}\\n%{PACKAGER}\\n%{URL}\\n%{GROUP}\\n%{SUMMARY}\\n";
    let out = rpm_q(file, &["--qf", qf]);
    let v: Vec<&str> = out.split('\n').collect();
    assert_eq!(p.name, v[0], "{f}: name");
    assert_eq!(p.evr.epoch.to_string(), v[1], "{f}: epoch");
    assert_eq!(p.evr.version, v[2], "{f}: version");
    assert_eq!(p.evr.release, v[3], "{f}: release");
    assert_eq!(p.arch, v[4], "{f}: arch");
    assert_eq!(p.size_installed.to_string(), v[5], "{f}: installed size");
    assert_eq!(p.build_time.to_string(), v[6], "{f}: build time");
    assert_eq!(
        none_is_empty(&p.sourcerpm),
        none_is_empty(v[7]),
        "{f}: sourcerpm"
    );
    assert_eq!(p.license, none_is_empty(v[8]), "{f}: license");
    assert_eq!(p.vendor, none_is_empty(v[9]), "{f}: vendor");
    assert_eq!(p.buildhost, none_is_empty(v[10]), "{f}: buildhost");
    assert_eq!(p.packager, none_is_empty(v[11]), "{f}: packager");
    assert_eq!(p.url, none_is_empty(v[12]), "{f}: url");
    assert_eq!(p.group, none_is_empty(v[13]), "{f}: group");
    assert_eq!(p.summary, v[14], "{f}: summary");

    assert_eq!(p.provides, rpm_deps(file, "PROVIDE"), "{f}: provides");
    assert_eq!(p.requires, rpm_deps(file, "REQUIRE"), "{f}: requires");
    assert_eq!(p.conflicts, rpm_deps(file, "CONFLICT"), "{f}: conflicts");
    assert_eq!(p.obsoletes, rpm_deps(file, "OBSOLETE"), "{f}: obsoletes");

    // -l lists the same paths in the same (header) order.
    let listed: Vec<String> = rpm_q(file, &["-l"])
        .lines()
        .filter(|l| *l != "(contains no files)")
        .map(str::to_owned)
        .collect();
    let ours: Vec<String> = p.files.iter().map(|e| e.path.clone()).collect();
    assert_eq!(ours, listed, "{f}: file list");
    // Kinds from rpm's permission string and file flags.
    let kinds: Vec<FileKind> = rpm_q(
        file,
        &["--qf", "[%{FILEMODES:perms}\\t%{FILEFLAGS:fflags}\\n]"],
    )
    .lines()
    .map(|l| {
        let (perms, fflags) = l.split_once('\t').unwrap();
        if perms.starts_with('d') {
            FileKind::Dir
        } else if fflags.contains('g') {
            FileKind::Ghost
        } else {
            FileKind::File
        }
    })
    .collect();
    let our_kinds: Vec<FileKind> = p.files.iter().map(|e| e.kind).collect();
    assert_eq!(our_kinds, kinds, "{f}: file kinds");

    let times: Vec<u64> = rpm_q(file, &["--qf", "[%{CHANGELOGTIME}\\n]"])
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let ours: Vec<u64> = p.changelogs.iter().map(|c| c.time).collect();
    assert_eq!(ours, times, "{f}: changelog times");
}

#[test]
fn every_fixture_reads_as_rpm_shows_it() {
    let files = all_fixture_rpms();
    let mut checked = 0;
    let mut kinds = BTreeMap::new();
    for file in &files {
        let p = read_rpm(file, "x.rpm").unwrap_or_else(|e| panic!("{e}"));
        assert_matches_rpm(file, &p);
        for f in &p.files {
            *kinds.entry(format!("{:?}", f.kind)).or_insert(0) += 1;
        }
        checked += 1;
    }
    assert_eq!(checked, 11 + 113);
    // The fixtures exercise all three kinds.
    assert_eq!(kinds.len(), 3, "{kinds:?}");
}

#[test]
fn el7_packages_have_no_payload_digest_but_read() {
    // rpm 4.11: header SHA-1 + MD5 over header and payload, nothing else.
    let bash = fixture_dir("el7-base").join("bash-4.2.46-34.el7.x86_64.rpm");
    let k = run(Command::new("rpm")
        .args(["-Kv", "--nosignature"])
        .arg(&bash));
    assert!(k.contains("Header SHA1 digest: OK"), "{k}");
    assert!(k.contains("MD5 digest: OK"), "{k}");
    assert!(!k.contains("Payload SHA256"), "{k}");
    let p = read_rpm(&bash, "bash.rpm").unwrap();
    assert_eq!(p.nevra(), "bash-4.2.46-34.el7.x86_64");
    assert!(p
        .requires
        .iter()
        .any(|d| d.name == "rpmlib(CompressedFileNames)"));
}

// ---------------------------------------------------- createrepo's numbers

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `attr(chunk, "<size ", "package")`.
fn attr(chunk: &str, element: &str, name: &str) -> Option<String> {
    let start = chunk.find(element)? + element.len();
    let end = start + chunk[start..].find('>')?;
    let el = &chunk[start..end];
    let key = format!("{name}=\"");
    let at = el.find(&key)? + key.len();
    Some(unescape(&el[at..at + el[at..].find('"')?]))
}

fn text(chunk: &str, element: &str) -> Option<String> {
    let open = format!("<{element}");
    let s = chunk.find(&open)?;
    let s = s + chunk[s..].find('>')? + 1;
    let e = s + chunk[s..].find(&format!("</{element}>"))?;
    Some(unescape(&chunk[s..e]))
}

struct PrimaryEntry {
    chunk: String,
}

impl PrimaryEntry {
    fn get(&self, element: &str, name: &str) -> String {
        attr(&self.chunk, element, name)
            .unwrap_or_else(|| panic!("no {element} {name} in {}", self.chunk))
    }

    /// `(name, flags, epoch, ver, rel, pre)` of one dependency block.
    fn deps(&self, block: &str) -> Vec<(String, String, String, String, String, bool)> {
        let open = format!("<rpm:{block}>");
        let Some(s) = self.chunk.find(&open) else {
            return Vec::new();
        };
        let e = s + self.chunk[s..].find(&format!("</rpm:{block}>")).unwrap();
        self.chunk[s..e]
            .split("<rpm:entry ")
            .skip(1)
            .map(|el| {
                let el = format!("<rpm:entry {el}");
                let a = |n: &str| attr(&el, "<rpm:entry ", n).unwrap_or_default();
                (
                    a("name"),
                    a("flags"),
                    a("epoch"),
                    a("ver"),
                    a("rel"),
                    a("pre") == "1",
                )
            })
            .collect()
    }
}

/// Packages of a primary.xml(.gz), by location href.
fn primary(repo: &Path) -> BTreeMap<String, PrimaryEntry> {
    let path = fs::read_dir(repo.join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("primary.xml.gz"))
        .expect("primary.xml.gz");
    let xml = run(Command::new("gzip").arg("-dc").arg(&path));
    xml.split("<package type=\"rpm\">")
        .skip(1)
        .map(|chunk| {
            let e = PrimaryEntry {
                chunk: chunk.to_owned(),
            };
            (e.get("<location ", "href"), e)
        })
        .collect()
}

/// `(name, flags, epoch, ver, rel)` of one of our dependencies as primary.xml
/// spells it.
fn dep_as_primary(d: &Dep) -> (String, String, String, String, String) {
    match &d.version {
        None => (
            d.name.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ),
        Some((c, evr)) => (
            d.name.clone(),
            c.as_repodata().to_owned(),
            evr.epoch.to_string(),
            evr.version.clone(),
            evr.release.clone(),
        ),
    }
}

/// Where ver-rel is split differs: rpm (and we) split a dependency's EVR at
/// the last '-', CentOS's createrepo at the first (httpd provides
/// `httpd-mmn = 20120211-x86-64`). Compare the joined string.
fn joined(t: (String, String, String, String, String)) -> (String, String, String, String) {
    let (name, flags, epoch, ver, rel) = t;
    let vr = if rel.is_empty() {
        ver
    } else {
        format!("{ver}-{rel}")
    };
    (name, flags, epoch, vr)
}

/// Everything createrepo puts in primary.xml that comes from the header.
fn assert_matches_primary(p: &Package, e: &PrimaryEntry) {
    let n = p.nevra();
    assert_eq!(p.name, text(&e.chunk, "name").unwrap(), "{n}");
    assert_eq!(p.arch, text(&e.chunk, "arch").unwrap(), "{n}");
    assert_eq!(p.evr.epoch.to_string(), e.get("<version ", "epoch"), "{n}");
    assert_eq!(p.evr.version, e.get("<version ", "ver"), "{n}");
    assert_eq!(p.evr.release, e.get("<version ", "rel"), "{n}");
    assert_eq!(
        p.checksum,
        text(&e.chunk, "checksum").unwrap(),
        "{n}: sha256"
    );
    assert_eq!(p.build_time.to_string(), e.get("<time ", "build"), "{n}");
    assert_eq!(
        p.size_package.to_string(),
        e.get("<size ", "package"),
        "{n}"
    );
    assert_eq!(
        p.size_installed.to_string(),
        e.get("<size ", "installed"),
        "{n}"
    );
    assert_eq!(
        p.size_archive.to_string(),
        e.get("<size ", "archive"),
        "{n}"
    );
    assert_eq!(
        p.header_start.to_string(),
        e.get("<rpm:header-range ", "start"),
        "{n}: header-range start"
    );
    assert_eq!(
        p.header_end.to_string(),
        e.get("<rpm:header-range ", "end"),
        "{n}: header-range end"
    );
    assert_eq!(
        p.summary,
        text(&e.chunk, "summary").unwrap_or_default(),
        "{n}"
    );
    assert_eq!(
        p.description,
        text(&e.chunk, "description").unwrap_or_default(),
        "{n}"
    );
    assert_eq!(
        p.license,
        text(&e.chunk, "rpm:license").unwrap_or_default(),
        "{n}"
    );
    assert_eq!(
        p.vendor,
        text(&e.chunk, "rpm:vendor").unwrap_or_default(),
        "{n}"
    );
    assert_eq!(
        p.sourcerpm,
        text(&e.chunk, "rpm:sourcerpm").unwrap_or_default(),
        "{n}"
    );

    // Provides, conflicts, obsoletes: createrepo keeps them all.
    for (block, ours) in [
        ("provides", &p.provides),
        ("conflicts", &p.conflicts),
        ("obsoletes", &p.obsoletes),
    ] {
        // Sorted: CentOS's createrepo did not keep header order.
        let mut theirs: Vec<_> = e
            .deps(block)
            .into_iter()
            .map(|(a, b, c, d, f, _)| joined((a, b, c, d, f)))
            .collect();
        theirs.sort();
        let mut ours: Vec<_> = ours.iter().map(|d| joined(dep_as_primary(d))).collect();
        ours.sort();
        assert_eq!(ours, theirs, "{n}: {block}");
    }
    // Requires: createrepo drops some (rpmlib(), files the package owns,
    // its own provides, all but the highest libc.so.6, duplicates); each
    // one it keeps must be ours, with the same pre flag.
    for (name, flags, epoch, ver, rel, pre) in e.deps("requires") {
        let found = p.requires.iter().any(|d| {
            joined(dep_as_primary(d))
                == joined((
                    name.clone(),
                    flags.clone(),
                    epoch.clone(),
                    ver.clone(),
                    rel.clone(),
                ))
                && d.pre == pre
        });
        assert!(
            found,
            "{n}: primary requires {name} {flags} {epoch}:{ver}-{rel} pre={pre}, we have {:?}",
            p.requires
        );
    }
    for d in &p.requires {
        let kept = e.deps("requires").iter().any(|(name, ..)| *name == d.name);
        let dropped_by_rule = d.is_rpmlib()
            || p.has_file(&d.name)
            || p.provides.contains(&Dep {
                pre: false,
                ..d.clone()
            })
            || d.name.starts_with("libc.so.6");
        assert!(
            kept || dropped_by_rule,
            "{n}: requires {d} missing from primary"
        );
    }
}

#[test]
fn el7_repodata_agrees_with_our_headers() {
    let dir = fixture_dir("el7-base");
    let prim = primary(&dir);
    let pkgs = scan_dir(&dir).unwrap();
    assert_eq!(pkgs.len(), 113);
    let mut pre_seen = 0;
    for p in &pkgs {
        let e = prim
            .get(&p.location)
            .unwrap_or_else(|| panic!("{} not in primary.xml", p.location));
        assert_matches_primary(p, e);
        pre_seen += p.requires.iter().filter(|d| d.pre).count();
    }
    assert!(pre_seen > 50, "the el7 closure has many Requires(pre/post)");
}

/// Packages written by mk-synthrpm, exercising what the reader must get
/// right.
fn synthetic(dir: &Path) -> Vec<PathBuf> {
    let full = SynthPackage::new("synth-full", "2.4.1", "3.el7")
        .epoch(2)
        .arch("x86_64")
        .summary("A synthetic package")
        .description("Line one.\nLine two & <three>.")
        .license("GPLv2+ and MIT")
        .url("https://example.invalid/synth")
        .vendor("mk tests")
        .packager("Tester <t@example.invalid>")
        .group("System Environment/Base")
        .build_host("builder.example.invalid")
        .build_time(1_500_000_000)
        .provides("synth-api", Some(("=", "3:1.0-1")))
        .provides("/usr/bin/synth-alias", None)
        .requires("/bin/sh", None)
        .requires("libfoo", Some((">=", "1.2")))
        .requires("libbar", Some(("<", "2:5.0-1.el7")))
        .requires("libbaz", Some(("<=", "7")))
        .requires("libqux", Some((">", "0.1")))
        .requires("rpmlib(PayloadIsXz)", Some(("<=", "5.2-1")))
        .requires_pre("shadow-utils", None)
        .requires_pre("setup", Some((">=", "2.8")))
        .conflicts("synth-old", Some(("<", "2.0")))
        .obsoletes("synth-legacy", Some(("<=", "1:1.9")))
        .obsoletes("synth-ancient", None)
        .file("/usr/bin/synth", "#!/bin/sh\necho synth\n", 0o755)
        .file("/etc/synth.conf", "a = 1\n", 0o644)
        .dir("/var/lib/synth")
        .symlink("/usr/bin/synth-link", "synth")
        .ghost("/var/log/synth.log")
        .pre_script("getent group synth >/dev/null || true\n")
        .post_program("/sbin/ldconfig")
        .changelog(
            "Tester <t@example.invalid> - 2.4.1-3",
            1_490_000_000,
            "- Third.",
        )
        .changelog(
            "Tester <t@example.invalid> - 2.4.1-2",
            1_480_000_000,
            "- Second.",
        )
        .compression(Compression::Xz);
    let plain = SynthPackage::new("synth-plain", "1.0", "1");
    let zstd = SynthPackage::new("synth-zstd", "1.0", "1")
        .compression(Compression::Zstd)
        .file("/usr/share/synth/z", vec![7u8; 10_000], 0o644);
    [full, plain, zstd]
        .iter()
        .map(|p| p.write_to_dir(dir).unwrap())
        .collect()
}

#[test]
fn createrepo_c_agrees_on_fixtures_and_synthetic_packages() {
    let tmp = tempfile::tempdir().unwrap();
    for f in rpms_in(&fixture_dir("rpms")) {
        fs::copy(&f, tmp.path().join(f.file_name().unwrap())).unwrap();
    }
    synthetic(tmp.path());
    run(Command::new("createrepo_c")
        .args(["--quiet", "--simple-md-filenames", "--no-database"])
        .arg(tmp.path()));
    let prim = primary(tmp.path());
    let pkgs = scan_dir(tmp.path()).unwrap();
    assert_eq!(pkgs.len(), 11 + 3);
    assert_eq!(prim.len(), pkgs.len());
    for p in &pkgs {
        assert_matches_primary(p, &prim[&p.location]);
    }
}

#[test]
fn synthetic_package_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let files = synthetic(tmp.path());
    let p = read_rpm(&files[0], "Packages/synth-full.rpm").unwrap();
    assert_matches_rpm(&files[0], &p);

    assert_eq!(p.nevra(), "synth-full-2:2.4.1-3.el7.x86_64");
    assert_eq!(p.location, "Packages/synth-full.rpm");
    assert_eq!(p.summary, "A synthetic package");
    assert_eq!(p.description, "Line one.\nLine two & <three>.");
    assert_eq!(p.license, "GPLv2+ and MIT");
    assert_eq!(p.url, "https://example.invalid/synth");
    assert_eq!(p.vendor, "mk tests");
    assert_eq!(p.packager, "Tester <t@example.invalid>");
    assert_eq!(p.group, "System Environment/Base");
    assert_eq!(p.buildhost, "builder.example.invalid");
    assert_eq!(p.build_time, 1_500_000_000);
    let bytes = fs::read(&files[0]).unwrap();
    assert_eq!(p.size_package, bytes.len() as u64);
    let sha = run(Command::new("sha256sum").arg(&files[0]));
    assert_eq!(p.checksum, sha.split_whitespace().next().unwrap());

    let find = |deps: &[Dep], name: &str| -> Dep {
        deps.iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} not in {deps:?}"))
            .clone()
    };
    let v = |c, s| Some((c, Evr::parse(s)));
    assert_eq!(
        find(&p.provides, "synth-api").version,
        v(Cmp::Eq, "3:1.0-1")
    );
    assert_eq!(
        find(&p.provides, "synth-full").version,
        v(Cmp::Eq, "2:2.4.1-3.el7")
    );
    assert_eq!(
        find(&p.provides, "synth-full(x86-64)").version,
        v(Cmp::Eq, "2:2.4.1-3.el7")
    );
    assert_eq!(find(&p.requires, "libfoo").version, v(Cmp::Ge, "1.2"));
    assert_eq!(
        find(&p.requires, "libbar").version,
        v(Cmp::Lt, "2:5.0-1.el7")
    );
    assert_eq!(find(&p.requires, "libbaz").version, v(Cmp::Le, "7"));
    assert_eq!(find(&p.requires, "libqux").version, v(Cmp::Gt, "0.1"));
    assert!(!find(&p.requires, "libfoo").pre);
    let rpmlib = find(&p.requires, "rpmlib(PayloadIsXz)");
    assert!(rpmlib.is_rpmlib() && rpmlib.version == v(Cmp::Le, "5.2-1"));
    assert!(find(&p.requires, "shadow-utils").pre);
    assert_eq!(
        find(&p.requires, "setup"),
        Dep {
            pre: true,
            ..Dep::versioned("setup", Cmp::Ge, Evr::parse("2.8"))
        }
    );
    // %pre's interpreter is Requires(pre): pre; the explicit /bin/sh is not.
    let sh: Vec<bool> = p
        .requires
        .iter()
        .filter(|d| d.name == "/bin/sh")
        .map(|d| d.pre)
        .collect();
    assert!(sh.contains(&true) && sh.contains(&false), "{sh:?}");
    // %post -p /sbin/ldconfig: Requires(post) on the program.
    assert!(find(&p.requires, "/sbin/ldconfig").pre);
    assert!(find(&p.requires, "/sbin/ldconfig").is_file());
    assert_eq!(
        p.conflicts,
        vec![Dep::versioned("synth-old", Cmp::Lt, Evr::parse("2.0"))]
    );
    assert_eq!(
        p.obsoletes,
        vec![
            Dep::any("synth-ancient"),
            Dep::versioned("synth-legacy", Cmp::Le, Evr::parse("1:1.9"))
        ]
    );

    let kinds: BTreeMap<&str, FileKind> =
        p.files.iter().map(|f| (f.path.as_str(), f.kind)).collect();
    assert_eq!(kinds["/usr/bin/synth"], FileKind::File);
    assert_eq!(kinds["/usr/bin/synth-link"], FileKind::File);
    assert_eq!(kinds["/etc/synth.conf"], FileKind::File);
    assert_eq!(kinds["/var/lib/synth"], FileKind::Dir);
    assert_eq!(kinds["/var/log/synth.log"], FileKind::Ghost);
    assert_eq!(kinds.len(), 5);

    assert_eq!(p.changelogs.len(), 2);
    assert_eq!(
        p.changelogs[0].author,
        "Tester <t@example.invalid> - 2.4.1-3"
    );
    assert_eq!(p.changelogs[0].time, 1_490_000_000);
    assert_eq!(p.changelogs[0].text, "- Third.");

    let plain = read_rpm(&files[1], "synth-plain.rpm").unwrap();
    assert_matches_rpm(&files[1], &plain);
    assert_eq!(plain.evr, Evr::new(0, "1.0", "1"));
    assert_eq!(plain.arch, "noarch");
    assert!(plain.files.is_empty());
    let zstd = read_rpm(&files[2], "synth-zstd.rpm").unwrap();
    assert_matches_rpm(&files[2], &zstd);
    assert_eq!(zstd.size_installed, 10_000);
}

// ---------------------------------------------------------- damaged files

/// `rpm -K` must also refuse what we refuse.
fn assert_rpm_refuses(file: &Path) {
    let out = Command::new("rpm")
        .args(["-K", "--nosignature"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "rpm -K accepts {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

fn refused(file: &Path) -> HeaderError {
    let e = read_rpm(file, "x.rpm").expect_err("damaged package accepted");
    let msg = e.to_string();
    assert!(
        msg.contains(&file.display().to_string()),
        "error does not name the file: {msg}"
    );
    assert_eq!(e.file(), file.display().to_string());
    e
}

fn damaged_copy(src: &Path, dir: &Path, name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = fs::read(src).unwrap();
    damage(&mut bytes);
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

fn payload_start(file: &Path) -> usize {
    read_rpm(file, "x").unwrap().header_end as usize
}

#[test]
fn flipped_payload_byte_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // el7: only the MD5 covers the payload.
    let el7 = fixture_dir("el7-base").join("hardlink-1.0-19.el7.x86_64.rpm");
    let at = payload_start(&el7) + 100;
    let bad = damaged_copy(&el7, tmp.path(), "el7-flipped.rpm", |b| b[at] ^= 0x01);
    assert_rpm_refuses(&bad);
    let e = refused(&bad);
    assert!(
        matches!(&e, HeaderError::DigestMismatch { digest, .. } if digest.contains("MD5")),
        "{e}"
    );
    assert!(e.to_string().contains("MD5 digest mismatch"), "{e}");

    // rpm ≥ 4.14: the payload digest catches it.
    let v4 = fixture_dir("rpms").join("v4-rpm-basic-2.3.4-5.el9.noarch.rpm");
    let at = payload_start(&v4) + 10;
    let bad = damaged_copy(&v4, tmp.path(), "v4-flipped.rpm", |b| b[at] ^= 0x80);
    assert_rpm_refuses(&bad);
    let e = refused(&bad);
    assert!(e.to_string().contains("payload digest mismatch"), "{e}");
}

/// Indexing (scan_dir, Check::Header) describes a package whose payload is
/// damaged, as createrepo_c does; the full check (`repo verify`, `bundle`)
/// refuses it. A damaged header is refused by both.
#[test]
fn indexing_checks_headers_and_leaves_payload_digests_to_the_full_check() {
    let tmp = tempfile::tempdir().unwrap();
    let el7 = fixture_dir("el7-base").join("hardlink-1.0-19.el7.x86_64.rpm");
    let at = payload_start(&el7) + 100;
    let dir = tmp.path().join("repo");
    fs::create_dir_all(&dir).unwrap();
    let bad = damaged_copy(&el7, &dir, "hardlink.rpm", |b| b[at] ^= 0x01);
    let pkgs = scan_dir(&dir).unwrap();
    assert_eq!(pkgs[0].name, "hardlink");
    assert!(read_rpm_with(&bad, "hardlink.rpm", Check::Header).is_ok());
    let e = read_rpm_with(&bad, "hardlink.rpm", Check::Full).unwrap_err();
    assert!(e.to_string().contains("MD5 digest mismatch"), "{e}");

    // A flipped header byte: both refuse.
    let at = payload_start(&el7) - 40;
    fs::remove_file(&bad).unwrap();
    damaged_copy(&el7, &dir, "hardlink.rpm", |b| b[at] ^= 0x01);
    let e = scan_dir(&dir).unwrap_err();
    assert!(e.to_string().contains("hardlink.rpm"), "{e}");
}

#[test]
fn header_that_lies_about_its_payload_digest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture_dir("rpms").join("v6-rpm-basic-2.3.4-5.el9.noarch.rpm");
    let src = if src.exists() {
        src
    } else {
        fixture_dir("rpms").join("v6-xz-rpm-basic-2.3.4-5.el9.noarch.rpm")
    };
    let pkg = rpm::Package::open(&src).unwrap();
    let real = pkg
        .metadata
        .header
        .get_entry_data_as_string(rpm::IndexTag::RPMTAG_PAYLOADSHA256)
        .unwrap()
        .to_owned();

    // 1. Edited in place: the header digests no longer match.
    let bytes = fs::read(&src).unwrap();
    let at = bytes
        .windows(real.len())
        .position(|w| w == real.as_bytes())
        .unwrap();
    let bad = damaged_copy(&src, tmp.path(), "edited.rpm", |b| {
        b[at] = if b[at] == b'0' { b'1' } else { b'0' }
    });
    assert_rpm_refuses(&bad);
    let e = refused(&bad);
    assert!(e.to_string().contains("header SHA"), "{e}");

    // 2. Rewritten with fresh header digests (what a forger would do
    //    without a signing key): only the payload digest check catches it.
    let lie = "0".repeat(64);
    let immutable = rpm::IndexTag::RPMTAG_HEADERIMMUTABLE as u32;
    let payload_tag = rpm::IndexTag::RPMTAG_PAYLOADSHA256 as u32;
    let entries = pkg
        .metadata
        .header
        .get_all_entries()
        .unwrap()
        .into_iter()
        .filter(|(t, _)| *t != immutable)
        .map(|(t, d)| {
            if t == payload_tag {
                rpm::HeaderEntry::new(t, rpm::IndexData::StringArray(vec![lie.clone()]))
            } else {
                rpm::HeaderEntry::new(t, d)
            }
        });
    let mut meta = pkg.metadata.clone();
    meta.header = rpm::Header::from_entries(entries, rpm::IndexTag::RPMTAG_HEADERIMMUTABLE);
    let hb = meta.header_bytes().unwrap();
    meta.signature = rpm::SignatureHeaderBuilder::from_existing(&meta.signature)
        .unwrap()
        .clear_signatures()
        .calculate_digests(&hb)
        .build()
        .unwrap();
    let forged = rpm::Package {
        metadata: meta,
        payload: pkg.payload.clone(),
    };
    let path = tmp.path().join("forged.rpm");
    forged.write_file(&path).unwrap();
    assert_rpm_refuses(&path);
    let e = refused(&path);
    let msg = e.to_string();
    assert!(
        msg.contains("payload digest mismatch") && msg.contains(&lie) && msg.contains(&real),
        "{msg}"
    );
}

#[test]
fn truncated_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture_dir("el7-base").join("hardlink-1.0-19.el7.x86_64.rpm");
    let len = fs::metadata(&src).unwrap().len() as usize;
    let hdr = payload_start(&src);
    // In the payload: the size check says what happened.
    let bad = damaged_copy(&src, tmp.path(), "short-payload.rpm", |b| {
        b.truncate(len - 1000)
    });
    assert_rpm_refuses(&bad);
    let e = refused(&bad);
    assert!(matches!(e, HeaderError::SizeMismatch { .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    // In the header, in the signature header, in the lead, empty.
    for (name, cut) in [
        ("short-header.rpm", hdr - 500),
        ("short-sig.rpm", 120),
        ("short-lead.rpm", 50),
        ("empty.rpm", 0),
    ] {
        let bad = damaged_copy(&src, tmp.path(), name, |b| b.truncate(cut));
        let e = refused(&bad);
        assert!(matches!(e, HeaderError::Malformed { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("truncated") || msg.contains("shorter"),
            "{msg}"
        );
    }
    // Bytes appended.
    let bad = damaged_copy(&src, tmp.path(), "appended.rpm", |b| {
        b.extend_from_slice(b"junk")
    });
    let e = refused(&bad);
    assert!(matches!(e, HeaderError::SizeMismatch { .. }), "{e}");
}

#[test]
fn garbage_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("garbage.rpm");
    let junk: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(&bad, &junk).unwrap();
    let e = refused(&bad);
    assert!(e.to_string().contains("no RPM lead magic"), "{e}");
    // A real lead followed by garbage.
    let src = fixture_dir("rpms").join("v4-rpm-basic-2.3.4-5.el9.noarch.rpm");
    let bad = damaged_copy(&src, tmp.path(), "lead-then-garbage.rpm", |b| {
        b.truncate(96);
        b.extend_from_slice(&junk);
    });
    let e = refused(&bad);
    assert!(e.to_string().contains("signature header magic"), "{e}");
    // Missing file.
    let missing = tmp.path().join("missing.rpm");
    let e = refused(&missing);
    assert!(matches!(e, HeaderError::Io { .. }), "{e}");
}

/// Deterministic mutations of real packages: read_rpm_bytes must return
/// (never panic), and never need its panic guard: our own structure checks
/// must catch every malformed header before the rpm crate sees it.
#[test]
fn mutated_packages_never_panic() {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let sources: Vec<Vec<u8>> = [
        fixture_dir("rpms").join("v6-rpm-file-attrs-1.0-1.noarch.rpm"),
        fixture_dir("rpms").join("v4-rpm-basic-2.3.4-5.el9.noarch.rpm"),
        fixture_dir("el7-base").join("hardlink-1.0-19.el7.x86_64.rpm"),
    ]
    .iter()
    .map(|p| fs::read(p).unwrap())
    .collect();
    let mut accepted = 0;
    for round in 0..3000u64 {
        let src = &sources[(round % 3) as usize];
        let mut b = src.clone();
        let orig = read_rpm_bytes(src, "src").unwrap();
        let (hdr_start, hdr_end) = (orig.header_start as usize, orig.header_end as usize);
        match next() % 4 {
            // Flip bytes anywhere in the headers (index entries included).
            0 | 1 => {
                for _ in 0..1 + next() % 4 {
                    let at = 96 + (next() as usize) % (hdr_end - 96);
                    b[at] = next() as u8;
                }
            }
            // Overwrite a big-endian u32 with an extreme value.
            2 => {
                let at = 96 + (next() as usize) % (hdr_end - 100);
                let v: u32 = [0, 1, 0xffff_ffff, 0x7fff_ffff, 0x1000_0000, next() as u32]
                    [(next() % 6) as usize];
                b[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
            // Cut anywhere.
            _ => b.truncate((next() as usize) % b.len()),
        }
        match read_rpm_bytes(&b, "mutant.rpm") {
            Ok(_) => {
                // Only the signature header is not covered by the digests
                // (signatures, which --nosignature skips, and reserved
                // space); any other change must have been refused.
                accepted += 1;
                assert_eq!(b.len(), src.len(), "round {round}: changed length accepted");
                let changed: Vec<usize> = (0..b.len()).filter(|&i| b[i] != src[i]).collect();
                assert!(
                    changed.iter().all(|&i| (96..hdr_start).contains(&i)),
                    "round {round}: accepted a change at {changed:?} (header starts at {hdr_start})"
                );
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("mutant.rpm: "), "{msg}");
                assert!(!msg.contains("panicked"), "round {round}: {msg}");
            }
        }
    }
    assert!(accepted < 1000, "{accepted} of 3000 mutants accepted");
}

// ------------------------------------------------------------- scan_dir

#[test]
fn scan_dir_reads_recursively_sorted_and_skips_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("Packages/b")).unwrap();
    fs::create_dir_all(root.join(".hidden")).unwrap();
    let a = SynthPackage::new("zeta", "1", "1")
        .write_to_dir(&root.join("Packages"))
        .unwrap();
    SynthPackage::new("alpha", "1", "1")
        .write_to_dir(&root.join("Packages/b"))
        .unwrap();
    SynthPackage::new("top", "1", "1")
        .write_to_dir(root)
        .unwrap();
    SynthPackage::new("hidden", "1", "1")
        .write_to_dir(&root.join(".hidden"))
        .unwrap();
    fs::copy(&a, root.join("Packages/zeta-1-1.src.rpm")).unwrap();
    fs::write(root.join("Packages/README"), "not an rpm").unwrap();
    let pkgs = scan_dir(root).unwrap();
    let locs: Vec<&str> = pkgs.iter().map(|p| p.location.as_str()).collect();
    assert_eq!(
        locs,
        [
            "Packages/b/alpha-1-1.noarch.rpm",
            "Packages/zeta-1-1.noarch.rpm",
            "top-1-1.noarch.rpm"
        ]
    );
    assert_eq!(pkgs[0].name, "alpha");
    assert_eq!(pkgs[1].name, "zeta");

    // One damaged package fails the scan, naming it.
    fs::write(root.join("Packages/b/broken.rpm"), b"not an rpm at all").unwrap();
    let e = scan_dir(root).unwrap_err();
    assert!(e.to_string().contains("broken.rpm"), "{e}");
}
