//! Repodata against real clients: createrepo_c (same packages, same answers),
//! dnf (lists and installs from our metadata), broken metadata (clear
//! errors), reproducibility, and real CentOS 7 repodata.

use mk_rpmrepo::repodata::{
    parse_primary, primary_requires, read_repodata, write_repodata, RepodataError, WriteOptions,
};
use mk_rpmrepo::{read_rpm, scan_dir, Package};
use mk_synthrpm::{Compression, SynthPackage};
use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The real CentOS repository of the shared fixtures.
fn el7() -> PathBuf {
    mk_fixtures::fixture("el7-base")
}

/// A small repository that exercises what primary.xml must carry: several
/// versions and epochs of one name, versioned, file and pre requires,
/// self-provided requires (dropped), obsoletes, conflicts, dirs and ghosts,
/// changelogs (two at the same second), XML metacharacters, payload formats.
fn synth_packages() -> Vec<SynthPackage> {
    vec![
        SynthPackage::new("alpha", "1.0", "1")
            .arch("x86_64")
            .file("/usr/bin/alpha", "#!/bin/true\n", 0o755)
            .file("/usr/share/alpha/data", "1", 0o644)
            .dir("/usr/share/alpha"),
        SynthPackage::new("alpha", "2.0", "1")
            .arch("x86_64")
            .file("/usr/bin/alpha", "#!/bin/true\n", 0o755)
            .compression(Compression::Xz),
        SynthPackage::new("alpha", "0.5", "1")
            .epoch(1)
            .arch("x86_64")
            .file("/usr/bin/alpha", "#!/bin/true\n", 0o755)
            .compression(Compression::Zstd),
        SynthPackage::new("beta", "1.0", "3.el7")
            .requires("alpha", Some((">=", "1.0")))
            .requires("/usr/bin/alpha", None)
            .requires_pre("/bin/sh", None)
            .pre_script("exit 0")
            .file("/etc/beta.conf", "x=1\n", 0o644)
            .requires("/etc/beta.conf", None)
            .ghost("/var/log/beta.log")
            .dir("/var/lib/beta")
            .summary("beta <tool> & \"friends\"")
            .description("Line one.\nLine two with <tags> & ampersands.")
            .changelog(
                "Dev One <one@example.com> - 1.0-3",
                1_600_000_000,
                "- newest",
            )
            .changelog(
                "Dev Two <two@example.com> - 1.0-2",
                1_500_000_000,
                "- same second b",
            )
            .changelog(
                "Dev Two <two@example.com> - 1.0-1",
                1_500_000_000,
                "- same second a",
            ),
        SynthPackage::new("gamma", "3.1", "2")
            .requires("alpha", None)
            .provides("gamma-api", Some(("=", "3")))
            .requires("gamma-api", Some(("=", "3")))
            .obsoletes("oldgamma", Some(("<", "3")))
            .conflicts("beta", Some(("<", "0.5")))
            .file("/usr/share/gamma/readme", "hi", 0o644)
            .url("https://example.com/gamma?a=1&b=2"),
        SynthPackage::new("oldgamma", "2.0", "1"),
        SynthPackage::new("delta", "0.1", "1").requires("gamma", Some(("=", "3.1-2"))),
    ]
}

fn write_synth(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for p in synth_packages() {
        p.write_to_dir(dir).unwrap();
    }
}

fn tool(name: &str) -> Command {
    // Fail loudly when a tool CI must install is missing.
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed (Debian package: createrepo-c / dnf / rpm)"
    );
    Command::new(name)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn index(dir: &Path, timestamp: u64) {
    let pkgs = scan_dir(dir).unwrap();
    write_repodata(dir, &pkgs, &WriteOptions::with_timestamp(timestamp)).unwrap();
}

fn by_location(mut v: Vec<Package>) -> Vec<Package> {
    v.sort_by(|a, b| a.location.cmp(&b.location));
    v
}

/// Hard-links (same filesystem) or copies every .rpm of `from` into `to`.
fn link_rpms(from: &Path, to: &Path) -> usize {
    fs::create_dir_all(to).unwrap();
    let mut n = 0;
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rpm") {
            let dst = to.join(p.file_name().unwrap());
            if fs::hard_link(&p, &dst).is_err() {
                fs::copy(&p, &dst).unwrap();
            }
            n += 1;
        }
    }
    n
}

/// Field-by-field comparison with a message that says which package and
/// which field differ.
fn assert_same_packages(ours: &[Package], theirs: &[Package], what: &str) {
    let names = |v: &[Package]| v.iter().map(|p| p.location.clone()).collect::<Vec<_>>();
    assert_eq!(names(ours), names(theirs), "{what}: package locations");
    for (a, b) in ours.iter().zip(theirs) {
        let n = a.nevra();
        assert_eq!(a.nevra(), b.nevra(), "{what}: NEVRA at {}", a.location);
        assert_eq!(a.checksum, b.checksum, "{what}: {n} checksum");
        assert_eq!(
            (a.header_start, a.header_end),
            (b.header_start, b.header_end),
            "{what}: {n} header range"
        );
        assert_eq!(
            (a.size_package, a.size_installed, a.size_archive),
            (b.size_package, b.size_installed, b.size_archive),
            "{what}: {n} sizes"
        );
        assert_eq!(a.provides, b.provides, "{what}: {n} provides");
        assert_eq!(a.requires, b.requires, "{what}: {n} requires");
        assert_eq!(a.conflicts, b.conflicts, "{what}: {n} conflicts");
        assert_eq!(a.obsoletes, b.obsoletes, "{what}: {n} obsoletes");
        assert_eq!(a.files, b.files, "{what}: {n} files");
        assert_eq!(a.changelogs, b.changelogs, "{what}: {n} changelogs");
        for (field, x, y) in [
            ("summary", &a.summary, &b.summary),
            ("description", &a.description, &b.description),
            ("url", &a.url, &b.url),
            ("license", &a.license, &b.license),
            ("vendor", &a.vendor, &b.vendor),
            ("group", &a.group, &b.group),
            ("buildhost", &a.buildhost, &b.buildhost),
            ("sourcerpm", &a.sourcerpm, &b.sourcerpm),
            ("packager", &a.packager, &b.packager),
        ] {
            assert_eq!(x, y, "{what}: {n} {field}");
        }
        assert_eq!(a.build_time, b.build_time, "{what}: {n} build time");
    }
}

/// Runs createrepo_c on one copy and us on another, then reads both back.
fn compare_with_createrepo(src: &Path, tmp: &Path) -> (Vec<Package>, Vec<Package>) {
    let (ours_dir, theirs_dir) = (tmp.join("ours"), tmp.join("theirs"));
    link_rpms(src, &ours_dir);
    link_rpms(src, &theirs_dir);
    index(&ours_dir, 1_700_000_000);
    run(tool("createrepo_c")
        .args(["-q", "--no-database"])
        .arg(&theirs_dir));
    let ours = by_location(read_repodata(&ours_dir).unwrap());
    let theirs = by_location(read_repodata(&theirs_dir).unwrap());
    (ours, theirs)
}

#[test]
fn agrees_with_createrepo_c_on_synthetic_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_synth(&src);
    let (ours, theirs) = compare_with_createrepo(&src, tmp.path());
    assert_eq!(ours.len(), synth_packages().len());
    assert_same_packages(&ours, &theirs, "synthetic");

    // What the package headers say, filtered the createrepo way, is what
    // both repodata carry.
    let headers = by_location(scan_dir(&src).unwrap());
    for (h, r) in headers.iter().zip(&ours) {
        let want: Vec<_> = primary_requires(h).into_iter().cloned().collect();
        assert_eq!(r.requires, want, "{} requires", h.nevra());
        assert_eq!(r.files, h.files, "{} files", h.nevra());
    }

    // Spot checks of the conventions themselves.
    let beta = ours.iter().find(|p| p.name == "beta").unwrap();
    let req: Vec<String> = beta
        .requires
        .iter()
        .map(|d| format!("{d}{}", if d.pre { " [pre]" } else { "" }))
        .collect();
    assert!(req.contains(&"/bin/sh [pre]".to_string()), "{req:?}");
    assert!(req.contains(&"/usr/bin/alpha".to_string()), "{req:?}");
    assert!(!req.iter().any(|r| r.starts_with("rpmlib(")), "{req:?}");
    assert!(
        !req.iter().any(|r| r.starts_with("/etc/beta.conf")),
        "{req:?}"
    );
    assert_eq!(beta.summary, "beta <tool> & \"friends\"");
    let gamma = ours.iter().find(|p| p.name == "gamma").unwrap();
    assert!(!gamma.requires.iter().any(|d| d.name == "gamma-api"));
    assert_eq!(gamma.obsoletes[0].to_string(), "oldgamma < 3");
}

#[test]
fn agrees_with_createrepo_c_on_centos_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let n = link_rpms(&el7(), &tmp.path().join("src"));
    assert_eq!(n, 113, "fixture {} incomplete", el7().display());
    let (ours, theirs) = compare_with_createrepo(&tmp.path().join("src"), tmp.path());
    assert_eq!(ours.len(), 113);
    assert_same_packages(&ours, &theirs, "el7-base");
}

fn dnf(tmp: &Path, repo: &Path) -> Command {
    let conf = tmp.join("dnf.conf");
    fs::write(&conf, "[main]\ngpgcheck=0\ninstall_weak_deps=0\n").unwrap();
    let mut c = tool("dnf");
    c.arg("--config")
        .arg(&conf)
        .arg(format!("--setopt=cachedir={}", tmp.join("cache").display()))
        .arg("--setopt=reposdir=/dev/null")
        .arg(format!("--repofrompath=mk,file://{}", repo.display()))
        .args(["--repo=mk", "--nogpgcheck", "-q", "--releasever=7"]);
    c
}

#[test]
fn dnf_lists_and_installs_from_our_repodata() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write_synth(&repo);
    index(&repo, 1_700_000_000);

    let out = run(dnf(tmp.path(), &repo).args(["list", "--available", "--showduplicates"]));
    let listed: BTreeSet<String> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[2] == "mk").then(|| format!("{} {}", f[0], f[1]))
        })
        .collect();
    let want: BTreeSet<String> = scan_dir(&repo)
        .unwrap()
        .iter()
        .map(|p| {
            let evr = p.evr.to_string();
            format!("{}.{} {}", p.name, p.arch, evr)
        })
        .collect();
    assert_eq!(listed, want, "dnf list output:\n{out}");

    // delta needs gamma = 3.1-2, which needs alpha: dnf must resolve
    // through our primary.xml (highest alpha is epoch 1).
    let root = tmp.path().join("root");
    fs::create_dir_all(&root).unwrap();
    run(dnf(tmp.path(), &repo)
        .arg(format!("--installroot={}", root.display()))
        .args(["install", "-y", "delta"]));
    let q = run(tool("rpm").arg("--root").arg(&root).args([
        "-qa",
        "--qf",
        "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n",
    ]));
    let installed: BTreeSet<&str> = q.lines().collect();
    assert_eq!(
        installed,
        BTreeSet::from(["alpha-1:0.5-1", "delta-0:0.1-1", "gamma-0:3.1-2"]),
        "rpm -qa in the installroot"
    );
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Replaces the primary file by `new_file` (the stored bytes) and updates
/// repomd.xml so that its checksum and size match them: metadata that is
/// consistent but whose content is bad.
fn replace_primary(repo: &Path, new_file: &[u8], open: Option<&[u8]>) -> PathBuf {
    replace_meta(repo, "primary", new_file, open)
}

fn replace_meta(repo: &Path, kind: &str, new_file: &[u8], open: Option<&[u8]>) -> PathBuf {
    let repomd_path = repo.join("repodata/repomd.xml");
    let repomd = fs::read_to_string(&repomd_path).unwrap();
    let suffix = format!("-{kind}.xml.gz");
    let href_end = repomd.find(&format!("{suffix}\"")).unwrap() + suffix.len();
    let href_start = repomd[..href_end].rfind("repodata/").unwrap();
    let old_href = &repomd[href_start..href_end];
    let old_sum = &old_href["repodata/".len()..old_href.len() - suffix.len()];
    let old_file = fs::read(repo.join(old_href)).unwrap();
    let mut old_open = Vec::new();
    flate2::read::GzDecoder::new(&old_file[..])
        .read_to_end(&mut old_open)
        .unwrap();
    let new_sum = sha256(new_file);
    let mut r = repomd.replace(old_sum, &new_sum).replace(
        &format!("<size>{}</size>", old_file.len()),
        &format!("<size>{}</size>", new_file.len()),
    );
    if let Some(open) = open {
        r = r.replace(&sha256(&old_open), &sha256(open)).replace(
            &format!("<open-size>{}</open-size>", old_open.len()),
            &format!("<open-size>{}</open-size>", open.len()),
        );
    }
    fs::remove_file(repo.join(old_href)).unwrap();
    let path = repo.join(format!("repodata/{new_sum}{suffix}"));
    fs::write(&path, new_file).unwrap();
    fs::write(&repomd_path, r).unwrap();
    path
}

fn primary_xml(repo: &Path) -> (PathBuf, String) {
    meta_xml(repo, "primary")
}

fn meta_xml(repo: &Path, kind: &str) -> (PathBuf, String) {
    let dir = repo.join("repodata");
    let suffix = format!("-{kind}.xml.gz");
    let path = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(&suffix))
        .unwrap();
    let mut s = String::new();
    flate2::read::GzDecoder::new(fs::File::open(&path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    (path, s)
}

/// An error as the command line prints it (`error: {e:#}`): each layer
/// and its causes, joined by ": ".
fn shown(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[test]
fn broken_repodata_gives_errors_that_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write_synth(&repo);
    index(&repo, 1);
    let pristine = tmp.path().join("pristine");
    fs::create_dir(&pristine).unwrap();
    for e in fs::read_dir(repo.join("repodata")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), pristine.join(e.file_name())).unwrap();
    }
    let restore = || {
        fs::remove_dir_all(repo.join("repodata")).unwrap();
        fs::create_dir(repo.join("repodata")).unwrap();
        for e in fs::read_dir(&pristine).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), repo.join("repodata").join(e.file_name())).unwrap();
        }
    };

    // 1. A primary file whose bytes do not match repomd's checksum.
    let (path, _) = primary_xml(&repo);
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    fs::write(&path, &bytes).unwrap();
    let err = read_repodata(&repo).unwrap_err();
    let msg = shown(&err);
    assert!(
        matches!(err, RepodataError::ChecksumMismatch { .. }),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&sha256(&bytes)), "actual sum missing: {msg}");
    let expected = path.file_name().unwrap().to_string_lossy()[..64].to_string();
    assert!(msg.contains(&expected), "expected sum missing: {msg}");
    restore();

    // 2. A truncated gzip file that repomd.xml agrees with.
    let (path, _) = primary_xml(&repo);
    let bytes = fs::read(&path).unwrap();
    let new_path = replace_primary(&repo, &bytes[..bytes.len() * 2 / 3], None);
    let err = read_repodata(&repo).unwrap_err();
    let msg = shown(&err);
    assert!(
        matches!(err, RepodataError::Decompress { format: "gzip", .. }),
        "{msg}"
    );
    assert!(msg.contains(&new_path.display().to_string()), "{msg}");
    restore();

    // 3. XML with a bad element: the line is named.
    let (_, xml) = primary_xml(&repo);
    let line_of_bad = xml
        .lines()
        .position(|l| l.contains("<rpm:entry name=\"alpha\" flags=\"GE\""))
        .unwrap() as u64
        + 1;
    let bad = xml.replacen(
        "<rpm:entry name=\"alpha\" flags=\"GE\"",
        "<rpm:entry name=\"alpha\" flags=\"BIGGER\"",
        1,
    );
    let new_path = replace_primary(&repo, &gz(bad.as_bytes()), Some(bad.as_bytes()));
    let err = read_repodata(&repo).unwrap_err();
    let msg = shown(&err);
    assert!(msg.contains(&new_path.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("line {line_of_bad}:")), "{msg}");
    assert!(msg.contains("BIGGER"), "{msg}");
    // The pure parser says the same without any file around.
    let e = parse_primary(bad.as_bytes()).unwrap_err();
    assert_eq!(e.line, line_of_bad);
    restore();

    // 4. Malformed XML (mismatched end tag).
    let (_, xml) = primary_xml(&repo);
    let bad = xml.replacen("</summary>", "</summry>", 1);
    let line = bad.lines().position(|l| l.contains("</summry>")).unwrap() as u64 + 1;
    replace_primary(&repo, &gz(bad.as_bytes()), Some(bad.as_bytes()));
    let msg = shown(&read_repodata(&repo).unwrap_err());
    assert!(msg.contains(&format!("line {line}:")), "{msg}");
    restore();

    // 5. filelists.xml without one of primary's packages.
    let (_, xml) = meta_xml(&repo, "filelists");
    let start = xml.find("name=\"gamma\"").unwrap();
    let start = xml[..start].rfind("<package ").unwrap();
    let end = start + xml[start..].find("</package>\n").unwrap() + "</package>\n".len();
    let bad = format!("{}{}", &xml[..start], &xml[end..]);
    let new_path = replace_meta(
        &repo,
        "filelists",
        &gz(bad.as_bytes()),
        Some(bad.as_bytes()),
    );
    let err = read_repodata(&repo).unwrap_err();
    let msg = shown(&err);
    assert!(matches!(err, RepodataError::NotInFilelists { .. }), "{msg}");
    assert!(msg.contains(&new_path.display().to_string()), "{msg}");
    assert!(msg.contains("gamma-3.1-2.noarch"), "{msg}");
    restore();

    // 6. No repomd.xml at all.
    fs::remove_file(repo.join("repodata/repomd.xml")).unwrap();
    let err = read_repodata(&repo).unwrap_err();
    let msg = shown(&err);
    assert!(matches!(err, RepodataError::Io { .. }), "{msg}");
    assert!(msg.contains("repodata/repomd.xml"), "{msg}");
    restore();

    // And the pristine copy still reads.
    assert_eq!(read_repodata(&repo).unwrap().len(), synth_packages().len());
}

fn repodata_files(repo: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(repo.join("repodata"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn same_input_same_bytes_and_atomic_replacement() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_synth(&a);
    link_rpms(&a, &b);
    index(&a, 1_700_000_000);
    let first = repodata_files(&a);
    assert_eq!(first.len(), 4, "primary, filelists, other, repomd");

    // Input order does not matter; a second run over existing repodata
    // replaces it with identical bytes and leaves no temp dirs behind.
    let mut pkgs = scan_dir(&b).unwrap();
    pkgs.reverse();
    write_repodata(&b, &pkgs, &WriteOptions::with_timestamp(1_700_000_000)).unwrap();
    write_repodata(&b, &pkgs, &WriteOptions::with_timestamp(1_700_000_000)).unwrap();
    assert_eq!(repodata_files(&b), first);
    let leftovers: Vec<_> = fs::read_dir(&b)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // gzip carries no timestamp; repomd carries the caller's.
    for (name, bytes) in &first {
        if name.ends_with(".gz") {
            assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "{name} gzip mtime");
        }
    }
    let repomd = String::from_utf8(first.last().unwrap().1.clone()).unwrap();
    assert!(
        repomd.contains("<revision>1700000000</revision>"),
        "{repomd}"
    );

    // A different timestamp changes repomd only.
    write_repodata(&b, &pkgs, &WriteOptions::with_timestamp(5)).unwrap();
    let third = repodata_files(&b);
    assert_eq!(third[..3], first[..3]);
    assert_ne!(third[3], first[3]);

    // A failed write (bad input) leaves the old repodata as it was.
    let mut bad = pkgs.clone();
    bad[0].summary = "bell\u{7}".into();
    assert!(write_repodata(&b, &bad, &WriteOptions::default()).is_err());
    assert_eq!(repodata_files(&b), third);
}

#[test]
fn reads_centos_repodata() {
    let pkgs = read_repodata(&el7()).unwrap();
    assert_eq!(pkgs.len(), 117);
    for missing in ["binutils", "centos-logos", "glibc-common", "systemd"] {
        let p = pkgs.iter().find(|p| p.name == missing).unwrap();
        assert!(!el7().join(&p.location).exists(), "{}", p.location);
    }

    let bash = pkgs.iter().find(|p| p.name == "bash").unwrap();
    assert_eq!(bash.nevra(), "bash-4.2.46-34.el7.x86_64");
    let rpm_path = el7().join(&bash.location);
    assert!(rpm_path.exists());
    // rpm's view of the requires, as `name [op evr]` lines.
    let rpm_requires = run(tool("rpm")
        .args(["-qp", "--nosignature", "--requires"])
        .arg(&rpm_path));
    let rpm_provides = run(tool("rpm")
        .args(["-qp", "--nosignature", "--provides"])
        .arg(&rpm_path));
    let provided: BTreeSet<&str> = rpm_provides.lines().collect();
    let from_repodata: BTreeSet<String> = bash.requires.iter().map(|d| d.to_string()).collect();
    // What createrepo drops: rpmlib(), what bash provides itself, and all
    // but the highest libc.so.6 version.
    let libc_highest = "libc.so.6(GLIBC_2.15)(64bit)";
    let expected: BTreeSet<String> = rpm_requires
        .lines()
        .filter(|l| !l.starts_with("rpmlib("))
        .filter(|l| !provided.contains(l))
        .filter(|l| !l.starts_with("libc.so.6") || *l == libc_highest)
        .map(str::to_string)
        .collect();
    assert!(expected.contains(libc_highest), "{expected:?}");
    assert_eq!(from_repodata, expected);

    // The header of the same file, filtered by our rule, agrees with the
    // CentOS repodata for every package present.
    let present: Vec<&Package> = pkgs
        .iter()
        .filter(|p| el7().join(&p.location).exists())
        .collect();
    assert_eq!(present.len(), 113);
    for r in present {
        let h = read_rpm(&el7().join(&r.location), &r.location).unwrap();
        let n = h.nevra();
        assert_eq!(h.checksum, r.checksum, "{n}");
        // CentOS's repodata comes from an older createrepo, which lists
        // libc.so.6 in header order rather than last and drops repeats
        // that differ only in the pre flag of a neighbour, and sorts
        // provides by name: compare as sets.
        let sorted = |v: &[mk_rpmrepo::Dep]| v.iter().cloned().collect::<BTreeSet<_>>();
        let want: Vec<_> = primary_requires(&h).into_iter().cloned().collect();
        assert_eq!(sorted(&r.requires), sorted(&want), "{n} requires");
        assert_eq!(sorted(&r.provides), sorted(&h.provides), "{n} provides");
        // That createrepo also lists directories after files.
        let files = |v: &[mk_rpmrepo::FileEntry]| {
            let mut v: Vec<_> = v
                .iter()
                .map(|f| (f.path.clone(), format!("{:?}", f.kind)))
                .collect();
            v.sort();
            v
        };
        assert_eq!(files(&r.files), files(&h.files), "{n} files");
    }
}
