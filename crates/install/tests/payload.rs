//! Crafted payloads must not write outside the tree; real CentOS payloads
//! unpack to what their headers say (checked against Debian's `rpm --dump`).

use mk_install::{Tree, UnpackError};
use mk_synthrpm::SynthPackage;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The real CentOS repository of the shared fixtures.
fn el7() -> PathBuf {
    mk_fixtures::fixture("el7-base")
}

/// outer/{pkgs,l1/l2/l3/root,outside}: an entry escaping the root by up to
/// four levels lands in `outer`, where the test looks for it.
struct Setup {
    _tmp: tempfile::TempDir,
    outer: PathBuf,
    root: PathBuf,
    pkgs: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let outer = tmp.path().to_path_buf();
    let root = outer.join("l1/l2/l3/root");
    let pkgs = outer.join("pkgs");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&pkgs).unwrap();
    std::fs::create_dir_all(outer.join("outside")).unwrap();
    Setup {
        _tmp: tmp,
        outer,
        root,
        pkgs,
    }
}

/// Every file below `dir`, relative.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn refused(s: &Setup, pkg: SynthPackage, entry: &str) -> String {
    let before = listing(&s.outer);
    let path = pkg.write_to_dir(&s.pkgs).unwrap();
    let before: Vec<String> = before
        .into_iter()
        .chain([path.strip_prefix(&s.outer).unwrap().display().to_string()])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let err = Tree::open(&s.root).unwrap().unpack(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, UnpackError::Unsafe { .. }), "{msg}");
    assert!(msg.contains(pkg.name()), "{msg}");
    assert!(msg.contains(entry), "{msg}");
    // Nothing appeared outside the root (the root may hold earlier entries).
    let after: Vec<String> = listing(&s.outer)
        .into_iter()
        .filter(|p| !p.starts_with("l1/l2/l3/root/"))
        .collect();
    assert_eq!(after, before, "{msg}");
    msg
}

#[test]
fn dotdot_entry_is_refused() {
    let s = setup();
    let msg = refused(
        &s,
        SynthPackage::new("evil-dotdot", "1", "1").file("/../../../../planted", "x", 0o644),
        "/../../../../planted",
    );
    assert!(msg.contains("\"..\""), "{msg}");
    assert!(!s.outer.join("planted").exists());
}

#[test]
fn absolute_symlink_escape_is_refused() {
    let s = setup();
    let outside = s.outer.join("outside");
    let msg = refused(
        &s,
        SynthPackage::new("evil-abslink", "1", "1")
            .symlink("/escape", outside.to_str().unwrap())
            .file("/escape/planted", "x", 0o644),
        "/escape/planted",
    );
    assert!(msg.contains("outside the root"), "{msg}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    // The link itself was created as-is, inside the root.
    assert_eq!(std::fs::read_link(s.root.join("escape")).unwrap(), outside);
}

#[test]
fn symlink_to_etc_then_passwd_is_refused() {
    let s = setup();
    let passwd = std::fs::read("/etc/passwd").unwrap();
    refused(
        &s,
        SynthPackage::new("evil-etc", "1", "1")
            .symlink("/link", "/etc")
            .file("/link/passwd", "pwned::0:0::/:/bin/sh\n", 0o644),
        "/link/passwd",
    );
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd);
}

#[test]
fn relative_symlink_escape_is_refused() {
    let s = setup();
    refused(
        &s,
        SynthPackage::new("evil-rellink", "1", "1")
            .symlink("/up", "../../../../outside")
            .file("/up/planted", "x", 0o644),
        "/up/planted",
    );
    assert_eq!(
        std::fs::read_dir(s.outer.join("outside")).unwrap().count(),
        0
    );
}

#[test]
fn owners_map_through_the_trees_passwd() {
    let s = setup();
    std::fs::create_dir_all(s.root.join("etc")).unwrap();
    std::fs::write(
        s.root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\napache:x:48:48:Apache:/usr/share/httpd:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(s.root.join("etc/group"), "root:x:0:\napache:x:48:\n").unwrap();
    // Like filesystem, then a library package naming files via /lib64.
    let layout = SynthPackage::new("layout", "1", "1")
        .symlink("/lib64", "usr/lib64")
        .dir("/usr/lib64")
        .write_to_dir(&s.pkgs)
        .unwrap();
    let path = SynthPackage::new("owned", "1", "1")
        .owner("apache", "apache")
        .dir("/var/cache/httpd")
        .file("/var/cache/httpd/x", "x", 0o4750)
        .file("/lib64/libx.so", "elf", 0o755)
        .write_to_dir(&s.pkgs)
        .unwrap();
    let mut tree = Tree::open(&s.root).unwrap();
    tree.unpack(&layout).unwrap();
    let stats = tree.unpack(&path).unwrap();
    assert_eq!((stats.files, stats.dirs), (2, 1));
    let m = std::fs::metadata(s.root.join("var/cache/httpd/x")).unwrap();
    assert_eq!((m.uid(), m.gid()), (48, 48));
    assert_eq!(m.permissions().mode() & 0o7777, 0o4750);
    // Written through the in-tree relative symlink.
    assert_eq!(
        std::fs::read(s.root.join("usr/lib64/libx.so")).unwrap(),
        b"elf"
    );
}

/// Unpacks real CentOS packages and compares every entry with what Debian's
/// rpm reads from the same headers (`--dump`: path size mtime digest mode
/// owner group config doc rdev symlink).
#[test]
fn el7_payloads_match_their_headers() {
    let el7 = el7();
    let s = setup();
    let mut tree = Tree::open(&s.root).unwrap();
    let names = ["filesystem", "setup", "glibc", "bash", "coreutils", "rpm"];
    let mut files = Vec::new();
    for n in names {
        let f = std::fs::read_dir(&el7)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let f = p.file_name().unwrap().to_string_lossy().into_owned();
                f.starts_with(&format!("{n}-"))
                    && f[n.len() + 1..].starts_with(|c: char| c.is_ascii_digit())
            })
            .unwrap_or_else(|| panic!("{n} not in {}", el7.display()));
        tree.unpack(&f).unwrap();
        files.push(f);
    }
    let mut checked = 0;
    for f in &files {
        let out = Command::new("rpm")
            .args(["-qp", "--nosignature", "--dump"])
            .arg(f)
            .output()
            .expect("rpm (Debian package `rpm`) must be installed");
        assert!(out.status.success());
        let ghosts = ghosts(f);
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let v: Vec<&str> = line.split(' ').collect();
            let (path, digest, mode, link) =
                (v[0], v[3], u32::from_str_radix(v[4], 8).unwrap(), v[10]);
            // Ghosts are not in the payload: only they may be absent.
            let on_disk = s.root.join(&path[1..]);
            let Ok(meta) = std::fs::symlink_metadata(&on_disk) else {
                assert!(ghosts.contains(path), "{path} of {} missing", f.display());
                continue;
            };
            match mode & 0o170000 {
                0o100000 => {
                    let data = std::fs::read(&on_disk).unwrap();
                    let sum = sha256_hex(&data);
                    assert_eq!(sum, digest, "{path}");
                    assert_eq!(meta.permissions().mode() & 0o7777, mode & 0o7777, "{path}");
                }
                0o120000 => assert_eq!(
                    std::fs::read_link(&on_disk).unwrap().to_str().unwrap(),
                    link,
                    "{path}"
                ),
                0o040000 => assert!(std::fs::metadata(&on_disk).unwrap().is_dir(), "{path}"),
                _ => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} entries checked");
}

fn ghosts(rpm_file: &Path) -> std::collections::HashSet<String> {
    let out = Command::new("rpm")
        .args([
            "-qp",
            "--nosignature",
            "--qf",
            "[%{FILEFLAGS:fflags} %{FILENAMES}\\n]",
        ])
        .arg(rpm_file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(f, _)| f.contains('g'))
        .map(|(_, p)| p.to_owned())
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
