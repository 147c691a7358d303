//! Installing the real CentOS 7.9 fixture repository with CentOS's own rpm
//! 4.11 (the reference for how the install step behaves), checked with the
//! system's own tools: unshare, mount, chroot, and the root's rpm.

use mk_depsolve::{Request, SolveOptions};
use mk_install::{
    bootstrap_key, install, install_cached, plan_from_repo, InstallError, InstallOptions,
    CENTOS7_SCRIPTLET_STATE,
};
use mk_rpmrepo::repodata::read_repodata;
use mk_synthrpm::SynthPackage;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The real CentOS repository of the shared fixtures.
fn el7() -> PathBuf {
    mk_fixtures::fixture("el7-base")
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("mk_install=info")
        .try_init();
}

/// `chroot ROOT CMD...` run the way an admin would: a private mount
/// namespace with /dev bound and /proc mounted, through util-linux's
/// `unshare`, `mount` and coreutils' `chroot`.
fn in_chroot(root: &Path, cmd: &str) -> (bool, String, String) {
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-euc"])
        .arg(format!(
            "mount --bind /dev \"$1/dev\"; mount -t proc proc \"$1/proc\"; \
             exec env -i PATH=/usr/sbin:/usr/bin LANG=C chroot \"$1\" {cmd}"
        ))
        .arg("sh")
        .arg(root)
        .output()
        .expect("unshare (util-linux) must be installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The fixture repository, which must be there.
fn el7_repo() -> PathBuf {
    let repo = el7();
    assert!(
        repo.join("repodata/repomd.xml").is_file(),
        "fixture repository without repodata: {}",
        repo.display()
    );
    repo
}

/// Missing packages allowed (the fixture lacks 4), CentOS 7's scriptlet
/// state accepted as unowned.
fn relaxed_opts() -> InstallOptions {
    InstallOptions {
        allow_missing: true,
        allowed_unowned: CENTOS7_SCRIPTLET_STATE
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

/// The closure of `rpm` in the fixture (glibc-common missing).
fn rpm_closure_plan(repo: &Path) -> mk_install::InstallPlan {
    let pool = read_repodata(repo).unwrap();
    plan_from_repo(
        repo,
        &pool,
        &Request::from_specs(["rpm"]).unwrap(),
        None,
        &SolveOptions::default(),
    )
    .unwrap()
}

/// Work dirs under /var/tmp: real disk, room for a root filesystem.
fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mk-install-test.")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// NEVRAs of the RPM files in the folder, as Debian's rpm reads them.
fn rpm_files_nevras(dir: &Path) -> BTreeSet<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
        .collect();
    files.sort();
    let out = Command::new("rpm")
        .args([
            "-qp",
            "--nosignature",
            "--qf",
            "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n",
        ])
        .args(&files)
        .output()
        .expect("rpm must be installed");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn el7_base_installs_with_centos_rpm() {
    init_logs();
    let repo = &el7_repo();
    let pool = read_repodata(repo).unwrap();
    let names: BTreeSet<&str> = pool.iter().map(|p| p.name.as_str()).collect();
    let request = Request::from_specs(&names).unwrap();
    let plan = plan_from_repo(repo, &pool, &request, None, &SolveOptions::default()).unwrap();

    // The plan reports exactly the packages whose files are absent.
    let absent: Vec<&str> = pool
        .iter()
        .filter(|p| !repo.join(&p.location).exists())
        .map(|p| p.name.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(absent.len(), 4);
    assert_eq!(
        plan.missing_message().unwrap(),
        format!(
            "4 packages are listed in repodata but missing from disk: {}",
            absent.join(", ")
        )
    );
    assert_eq!(
        absent,
        ["binutils", "centos-logos", "glibc-common", "systemd"]
    );
    let on_disk = rpm_files_nevras(repo);
    assert_eq!(on_disk.len(), 113);
    assert_eq!(plan.packages.len(), 113);

    let work = workdir();
    let root = work.path().join("root");

    // Strict: refused by name before anything is written.
    let err = install(&plan, &root, &InstallOptions::default()).unwrap_err();
    assert!(matches!(err, InstallError::MissingPackages { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("binutils, centos-logos, glibc-common, systemd"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);

    // Relaxed for exactly those four.
    let opts = relaxed_opts();
    let report = install(&plan, &root, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.relaxed_deps);
    assert!(report.bootstrap.iter().any(|p| p.starts_with("rpm-4.11.3")));
    eprintln!(
        "bootstrap {} packages {:?}, rpm {:?}, verify {:?}",
        report.bootstrap.len(),
        report.timings.bootstrap,
        report.timings.rpm,
        report.timings.verify
    );
    // Only the finished root is left.
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["root"]);

    // chroot ROOT rpm -qa: every package of the folder.
    let (ok, qa, err) = in_chroot(
        &root,
        "rpm -qa --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n'",
    );
    assert!(ok, "{err}");
    let qa: BTreeSet<String> = qa.lines().map(str::to_owned).collect();
    assert_eq!(qa, on_disk);

    // chroot ROOT rpm -Va: no missing or altered file; the only dependency
    // complaints are capabilities of the four absent packages.
    let (_, va, err) = in_chroot(&root, "rpm -Va");
    let unmet: BTreeSet<&str> = plan.unmet.iter().map(|u| u.requirement.as_str()).collect();
    for line in va.lines().chain(err.lines()) {
        if line.starts_with("Unsatisfied dependencies for ") {
            continue;
        }
        let cap = line
            .trim()
            .split(" is needed by (installed) ")
            .next()
            .filter(|_| line.contains(" is needed by (installed) "))
            .unwrap_or_else(|| panic!("rpm -Va reports a file problem: {line:?}\n{va}"));
        assert!(unmet.contains(cap), "unexpected unmet dependency {cap:?}");
    }
    assert!(!va.contains("missing"), "{va}");

    // The rpmdb is Berkeley DB (hash magic 0x00061561), as CentOS 7 needs.
    let packages = std::fs::read(root.join("var/lib/rpm/Packages")).unwrap();
    assert_eq!(&packages[12..16], &0x0006_1561u32.to_le_bytes());
    assert!(!root.join("var/lib/rpm/rpmdb.sqlite").exists());

    // Scriptlets ran: users and groups that %pre scriptlets add with
    // useradd/groupadd (shadow-utils) are there; setup's own accounts too.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    let shadow = std::fs::read_to_string(root.join("etc/shadow")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
    for (user, id) in [("apache", 48), ("dbus", 81)] {
        assert!(
            passwd
                .lines()
                .any(|l| l.starts_with(&format!("{user}:x:{id}:{id}:"))),
            "{user} in\n{passwd}"
        );
        assert!(
            group
                .lines()
                .any(|l| l.starts_with(&format!("{user}:x:{id}:"))),
            "{user} in\n{group}"
        );
        assert!(
            shadow.lines().any(|l| l.starts_with(&format!("{user}:"))),
            "{user} in shadow"
        );
    }
    // libutempter's %pre: groupadd -g 35 utempter.
    assert!(
        group.lines().any(|l| l.starts_with("utempter:x:35:")),
        "{group}"
    );
    // ... and they resolve through the target's own glibc.
    let (ok, id, err) = in_chroot(&root, "id apache");
    assert!(ok, "{err}");
    assert!(id.starts_with("uid=48(apache) gid=48(apache)"), "{id}");
    // glibc's %post -p /sbin/ldconfig wrote the cache; filesystem's
    // %pretrans made /var/run a link.
    assert!(root.join("etc/ld.so.cache").is_file());
    assert_eq!(
        std::fs::read_link(root.join("var/run")).unwrap(),
        Path::new("../run")
    );

    // Unowned files: none outside the documented scriptlet state; a planted
    // file is found.
    assert!(!report.unowned.allowed.is_empty());
    eprintln!("implicit dirs: {:?}", report.unowned.implicit_dirs);
    std::fs::write(root.join("usr/bin/rogue"), "#!/bin/sh\n").unwrap();
    let owned = mk_install::verify::owned_paths(&root).unwrap();
    let unowned = mk_install::verify::find_unowned(&root, &owned, &opts.allowed_unowned).unwrap();
    assert_eq!(unowned.failures, ["/usr/bin/rogue"]);

    // Installing again into the now non-empty root is refused.
    let err = install(&plan, &root, &opts).unwrap_err();
    assert!(matches!(err, InstallError::RootNotEmpty { .. }), "{err}");
}

/// A %pre that fails stops the install with the package's name and rpm's
/// output, and leaves nothing behind.
#[test]
fn failing_pre_scriptlet_names_the_package() {
    init_logs();
    let repo = &el7_repo();
    let work = workdir();
    let pkgs = work.path().join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let bad = SynthPackage::new("mk-bad-pre", "1", "1")
        .requires_pre("/bin/sh", None)
        .file("/opt/mk-bad-pre/data", "x", 0o644)
        .pre_script("echo mk-test-pre-ran >&2; exit 3");
    let bad_path = bad.write_to_dir(&pkgs).unwrap();

    // The closure of rpm itself (all present), plus the bad package.
    let plan = rpm_closure_plan(repo);
    let mut bad_pkg = mk_rpmrepo::read_rpm(&bad_path, "mk-bad-pre-1-1.noarch.rpm").unwrap();
    bad_pkg.location = "mk-bad-pre-1-1.noarch.rpm".into();
    // glibc-common is absent from the folder: relaxed exactly as the plan
    // says, as for the whole set.
    assert_eq!(plan.missing.len(), 1);
    let plan = mk_install::InstallPlan::new(
        plan.packages
            .into_iter()
            .map(|p| (p.package, Some(p.path)))
            .chain([(bad_pkg, Some(bad_path))])
            .chain(plan.missing.into_iter().map(|p| (p, None)))
            .collect(),
    );
    let root = work.path().join("root");
    let opts = relaxed_opts();
    let err = install(&plan, &root, &opts).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, InstallError::Scriptlet { .. }), "{msg}");
    assert!(
        msg.contains("%pre scriptlet of mk-bad-pre-1-1.noarch failed"),
        "{msg}"
    );
    assert!(msg.contains("exit status 3"), "{msg}");
    assert!(msg.contains("mk-test-pre-ran"), "{msg}");
    // Nothing half-built is left.
    assert!(!root.exists());
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["pkgs"]);
}

/// A second install of the same `rpm` closure reuses the cached bootstrap
/// tree (nothing unpacked) and installs the same; other bytes in a
/// bootstrap package give another key, so that tree would not be reused.
#[test]
fn bootstrap_tree_is_cached_by_content() {
    init_logs();
    let repo = &el7_repo();
    let plan = rpm_closure_plan(repo);
    let opts = relaxed_opts();
    let work = workdir();
    let cache = work.path().join("cache");
    let first = install_cached(&plan, &work.path().join("a"), &opts, None, &cache)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!first.bootstrap_reused);
    assert!(first.bootstrap_stats.files > 0);
    let second = install_cached(&plan, &work.path().join("b"), &opts, None, &cache)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(second.bootstrap_reused);
    assert_eq!(second.bootstrap_stats.files, 0);
    assert_eq!(second.installed, first.installed);
    assert_eq!(second.bootstrap, first.bootstrap);

    // One tree in the cache, under the plan's key; no temporary left.
    let key = bootstrap_key(&plan).unwrap().unwrap();
    let entries: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, std::slice::from_ref(&key));
    // rpm ran in it read-only: no package file or target left inside.
    assert_eq!(
        std::fs::read_dir(cache.join(&key).join("var/tmp/mk-install"))
            .unwrap()
            .count(),
        0
    );

    // The same packages with one file's bytes changed: another key.
    let mut changed = plan.clone();
    let rpm = changed
        .packages
        .iter_mut()
        .find(|p| p.package.name == "rpm")
        .unwrap();
    let copy = work.path().join("rpm-changed.rpm");
    let mut bytes = std::fs::read(&rpm.path).unwrap();
    bytes.push(0);
    std::fs::write(&copy, bytes).unwrap();
    rpm.path = copy;
    let other = bootstrap_key(&changed).unwrap().unwrap();
    assert_ne!(other, key);
    assert!(!cache.join(other).exists());
}
