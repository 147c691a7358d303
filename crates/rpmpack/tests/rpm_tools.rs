//! Packages built by mk-rpmpack, read back with the real `rpm`.

use mk_rpmpack::{
    Compression, Dep, FileSpec, Op, OwnerRule, PackError, Package, Script, ScriptKind,
};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn rpm(args: &[&str], pkg: &Path) -> String {
    let out = Command::new("rpm")
        .args(args)
        .arg(pkg)
        .output()
        .expect("run rpm (apt-get install rpm)");
    assert!(
        out.status.success(),
        "rpm {args:?} {}: {}",
        pkg.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sample(src: &Path) -> Package {
    let mut p = Package::new("mk-sample", "1.2.3", "4.mk");
    p.epoch(2)
        .summary("A sample")
        .description("Sample package\nfor tests.")
        .license("Apache-2.0")
        .url("https://example.invalid/mk")
        .vendor("mk")
        .build_time(1_700_000_000)
        .file("/usr/bin/mk-sample", "#!/bin/sh\necho hi\n", 0o755)
        .file_from("/usr/share/mk-sample/data.bin", src, 0o600)
        .add(FileSpec::bytes("/etc/mk-sample.conf", "a = 1\n").noreplace())
        .add(FileSpec::bytes("/usr/share/doc/mk-sample/README", "read me\n").doc())
        .add(
            FileSpec::dir("/var/lib/mk-sample")
                .mode(0o750)
                .owner("etcd", "etcd"),
        )
        .symlink("/usr/bin/mk-sample-link", "mk-sample")
        .ghost("/var/log/mk-sample.log", 0o640)
        .requires(Dep::new("systemd", Op::Ge, "219"))
        .requires_pre(Dep::any("shadow-utils"))
        .provides(Dep::new("sample-api", Op::Eq, "1"))
        .conflicts(Dep::new("old-sample", Op::Lt, "1:2.0-1"))
        .obsoletes(Dep::new("mk-sample-legacy", Op::Le, "1.0"))
        .script(
            ScriptKind::Pre,
            Script::shell("getent group etcd >/dev/null || groupadd -r etcd\n"),
        )
        .script(ScriptKind::Post, Script::program("/sbin/ldconfig"))
        .script(
            ScriptKind::Posttrans,
            Script::with_interpreter("/usr/bin/python3", "print('x')\n"),
        );
    p
}

#[test]
fn rpm_reads_back_names_modes_owners_links_scripts_and_deps() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("data.bin");
    std::fs::write(&src, [0u8, 1, 2, 3]).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let path = sample(&src).build_to_dir(&out).unwrap();
    assert_eq!(path, out.join("mk-sample-1.2.3-4.mk.x86_64.rpm"));

    let k = rpm(&["-K", "--nosignature"], &path);
    assert!(k.contains("digests OK") || k.contains("OK"), "{k}");

    let q = rpm(
        &["-qp", "--qf", "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SUMMARY}|%{LICENSE}|%{URL}|%{VENDOR}|%{BUILDTIME}|%{PAYLOADCOMPRESSOR}"],
        &path,
    );
    assert_eq!(
        q,
        "mk-sample|2|1.2.3|4.mk|x86_64|A sample|Apache-2.0|https://example.invalid/mk|mk|1700000000|xz"
    );

    let qf = rpm(
        &["-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEMTIMES} %{FILEFLAGS:fflags} %{FILENAMES} %{FILELINKTOS}\n]"],
        &path,
    );
    let lines: Vec<&str> = qf.lines().collect();
    let has = |l: &str| assert!(lines.contains(&l), "missing {l:?} in\n{qf}");
    has("-rw-r--r-- root root 1700000000 cn /etc/mk-sample.conf ");
    has("-rwxr-xr-x root root 1700000000  /usr/bin/mk-sample ");
    has("lrwxrwxrwx root root 1700000000  /usr/bin/mk-sample-link mk-sample");
    has("-rw-r--r-- root root 1700000000 d /usr/share/doc/mk-sample/README ");
    has("-rw------- root root 1700000000  /usr/share/mk-sample/data.bin ");
    has("drwxr-x--- etcd etcd 1700000000  /var/lib/mk-sample ");
    has("-rw-r----- root root 1700000000 g /var/log/mk-sample.log ");
    assert_eq!(lines.len(), 7, "{qf}");

    let qlv = rpm(&["-qlvp"], &path);
    assert!(
        qlv.contains("/usr/bin/mk-sample-link -> mk-sample"),
        "{qlv}"
    );

    let req = rpm(&["-qp", "--requires"], &path);
    assert!(req.contains("systemd >= 219"), "{req}");
    assert!(req.contains("shadow-utils"), "{req}");
    // Scriptlet interpreters are required as rpmbuild does.
    assert!(req.contains("/bin/sh"), "{req}");
    assert!(req.contains("/sbin/ldconfig"), "{req}");
    assert!(req.contains("/usr/bin/python3"), "{req}");
    let req_pre = rpm(
        &["-qp", "--qf", "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]"],
        &path,
    );
    assert!(req_pre.contains("shadow-utils pre"), "{req_pre}");
    assert!(req_pre.contains("/bin/sh pre"), "{req_pre}");
    assert!(req_pre.contains("/sbin/ldconfig post"), "{req_pre}");
    let prov = rpm(&["-qp", "--provides"], &path);
    assert!(prov.contains("sample-api = 1"), "{prov}");
    assert!(prov.contains("mk-sample = 2:1.2.3-4.mk"), "{prov}");
    let conf = rpm(&["-qp", "--conflicts"], &path);
    assert_eq!(conf.trim(), "old-sample < 1:2.0-1");
    let obs = rpm(&["-qp", "--obsoletes"], &path);
    assert_eq!(obs.trim(), "mk-sample-legacy <= 1.0");

    let scripts = rpm(&["-qp", "--scripts"], &path);
    assert!(
        scripts.contains("preinstall scriptlet (using /bin/sh):\ngetent group etcd"),
        "{scripts}"
    );
    assert!(
        scripts.contains("postinstall program: /sbin/ldconfig"),
        "{scripts}"
    );
    assert!(
        scripts.contains("posttrans scriptlet (using /usr/bin/python3):\nprint('x')"),
        "{scripts}"
    );

    // The payload holds what was described.
    let x = tmp.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("rpm2archive - < {} | tar -xzf -", path.display()))
        .current_dir(&x)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        std::fs::read(x.join("usr/share/mk-sample/data.bin")).unwrap(),
        [0, 1, 2, 3]
    );
    assert!(
        !x.join("var/log/mk-sample.log").exists(),
        "ghost in payload"
    );
}

#[test]
fn same_input_gives_same_bytes_and_build_time_changes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("data.bin");
    std::fs::write(&src, b"payload").unwrap();
    let a = sample(&src).to_bytes().unwrap();
    // The source file's own mtime must not leak into the package.
    std::fs::File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000))
        .unwrap();
    let b = sample(&src).to_bytes().unwrap();
    assert!(a == b, "two builds differ");
    let mut other = sample(&src);
    other.build_time(1_700_000_001);
    assert!(other.to_bytes().unwrap() != a);

    // Dependency order does not matter either.
    let mut p1 = Package::new("d", "1", "1");
    p1.requires(Dep::any("a")).requires(Dep::any("b"));
    let mut p2 = Package::new("d", "1", "1");
    p2.requires(Dep::any("b")).requires(Dep::any("a"));
    assert!(p1.to_bytes().unwrap() == p2.to_bytes().unwrap());
}

#[test]
fn tree_keeps_modes_and_symlinks_sorted_with_owner_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("tree");
    std::fs::create_dir_all(t.join("etc/app/conf.d")).unwrap();
    std::fs::write(t.join("etc/app/z.conf"), "z").unwrap();
    std::fs::write(t.join("etc/app/a.conf"), "a").unwrap();
    std::fs::write(t.join("etc/app/conf.d/secret"), "s").unwrap();
    std::fs::set_permissions(
        t.join("etc/app/conf.d/secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(
        t.join("etc/app/conf.d"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    symlink("z.conf", t.join("etc/app/current")).unwrap();

    let rule = |p: &str| {
        if p.starts_with("/etc/app/conf.d") {
            ("etcd".to_owned(), "etcd".to_owned())
        } else {
            ("root".to_owned(), "root".to_owned())
        }
    };
    let mut p = Package::new("overlay", "1", "1");
    p.arch("noarch");
    p.add_tree(&t, "/", OwnerRule::Custom(&rule)).unwrap();
    p.file_mut("/etc/app/a.conf").unwrap().config = true;
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let path = p.build_to_dir(&out).unwrap();
    let qf = rpm(
        &["-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES} %{FILELINKTOS}\n]"],
        &path,
    );
    assert_eq!(
        qf,
        "drwxr-xr-x root:root  /etc \n\
         drwxr-xr-x root:root  /etc/app \n\
         -rw-r--r-- root:root c /etc/app/a.conf \n\
         drwxr-x--- etcd:etcd  /etc/app/conf.d \n\
         -rw------- etcd:etcd  /etc/app/conf.d/secret \n\
         lrwxrwxrwx root:root  /etc/app/current z.conf\n\
         -rw-r--r-- root:root  /etc/app/z.conf \n"
    );
    // Walk order is sorted, whatever the filesystem returns.
    let paths: Vec<&str> = p.files().iter().map(|f| f.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
}

#[test]
fn gzip_and_zstd_payloads() {
    for (c, name) in [(Compression::Gzip, "gzip"), (Compression::Zstd, "zstd")] {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = Package::new("c", "1", "1");
        p.compression(c)
            .file("/usr/share/c", "x".repeat(1000), 0o644);
        let path = p.build_to_dir(tmp.path()).unwrap();
        assert_eq!(rpm(&["-qp", "--qf", "%{PAYLOADCOMPRESSOR}"], &path), name);
        rpm(&["-K", "--nosignature"], &path);
    }
}

fn err(p: &Package) -> String {
    let e: PackError = p.build().expect_err("bad input was accepted");
    e.to_string()
}

#[test]
fn bad_input_names_package_and_path() {
    let mut p = Package::new("bad", "1", "1");
    p.file("usr/bin/x", "x", 0o755);
    let e = err(&p);
    assert!(
        e.contains("package bad") && e.contains("usr/bin/x") && e.contains("absolute"),
        "{e}"
    );

    let mut p = Package::new("bad", "1", "1");
    p.file("/usr/bin/x", "x", 0o755).symlink("/usr/bin/x", "y");
    let e = err(&p);
    assert!(
        e.contains("package bad") && e.contains("/usr/bin/x is listed twice"),
        "{e}"
    );

    let mut p = Package::new("bad", "1", "1");
    p.file("/usr/../etc/shadow", "x", 0o644);
    let e = err(&p);
    assert!(e.contains("/usr/../etc/shadow") && e.contains(".."), "{e}");

    let e = err(&Package::new("bad", "1.0-2", "1"));
    assert!(
        e.contains("package bad") && e.contains("version \"1.0-2\""),
        "{e}"
    );
    let e = err(&Package::new("bad", "1.0", "1 2"));
    assert!(e.contains("release \"1 2\""), "{e}");
    let e = err(&Package::new("bad name", "1", "1"));
    assert!(e.contains("name \"bad name\""), "{e}");

    let mut p = Package::new("bad", "1", "1");
    p.requires(Dep::new("x", Op::Ge, "1.0 -1"));
    let e = err(&p);
    assert!(
        e.contains("package bad") && e.contains("dependency \"x\""),
        "{e}"
    );

    let mut p = Package::new("bad", "1", "1");
    p.file_from("/usr/bin/x", "/nonexistent/mk-rpmpack/x", 0o755);
    let e = err(&p);
    assert!(
        e.contains("package bad")
            && e.contains("/usr/bin/x")
            && e.contains("/nonexistent/mk-rpmpack/x"),
        "{e}"
    );

    let mut p = Package::new("bad", "1", "1");
    p.file("/x", "x", 0o10644);
    assert!(err(&p).contains("mode"));

    let tmp = tempfile::tempdir().unwrap();
    let mut p = Package::new("bad", "1", "1");
    let e = p
        .add_tree(&tmp.path().join("missing"), "/", OwnerRule::Root)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("package bad") && e.contains("missing"), "{e}");

    // Nothing is written when the build fails.
    let mut p = Package::new("bad", "1", "1");
    p.file("rel", "x", 0o644);
    assert!(p.build_to_dir(tmp.path()).is_err());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
