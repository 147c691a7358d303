//! `mk-compose bundle` end to end, as a site operator runs it: example
//! repository -> signed ISO -> verified by us, by minisign, and its repo/
//! read by dnf.

mod common;
use common::{bundle, extract_iso, keygen, mk, names, run_err, run_ok};

use std::path::PathBuf;
use std::process::Command;

struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Site {
    /// The example repository, a key pair and the example kickstart.
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let rpms = root.join("rpms");
        std::fs::create_dir_all(&rpms).unwrap();
        for p in mk_synthrpm::example::example_packages() {
            p.write_to_dir(&rpms).unwrap();
        }
        keygen(&root);
        std::fs::write(
            root.join("node.ks"),
            "selinux --enforcing\n%packages\nexample-kubeadm\nexample-etcd\nexample-crictl\n-example-docker\n%end\n",
        )
        .unwrap();
        Site { _dir: dir, root }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn bundle(&self, repo: &str, ks: &str, out: &str) -> Command {
        bundle(&self.root, &self.p(repo), &self.p(ks), &self.p(out))
    }
}

#[test]
fn example_bundle_verifies_with_us_minisign_and_dnf_and_is_reproducible() {
    let site = Site::new();
    run_ok(&mut site.bundle("rpms", "node.ks", "out/a.iso"));
    run_ok(
        mk().arg("verify")
            .arg(site.p("out/a.iso"))
            .arg("--trust")
            .arg(site.p("keys/mk.pub")),
    );
    // Only the ISO is left in the output directory: no staging leftovers.
    assert_eq!(names(&site.p("out")), ["a.iso"]);

    let tree = site.p("tree");
    extract_iso(&site.p("out/a.iso"), &tree);
    assert_eq!(
        names(&tree),
        [
            "MANIFEST",
            "MANIFEST.minisig",
            "kickstart",
            "provenance.json",
            "registry",
            "repo",
            "sbom.spdx.json"
        ]
    );
    assert_eq!(names(&tree.join("kickstart")), ["node.ks"]);
    run_ok(
        Command::new("minisign")
            .arg("-V")
            .arg("-p")
            .arg(site.p("keys/mk.pub"))
            .arg("-m")
            .arg(tree.join("MANIFEST")),
    );
    // The MANIFEST is sha256sum's format: the standard tool agrees with it.
    run_ok(
        Command::new("sha256sum")
            .args(["--strict", "-c", "MANIFEST"])
            .current_dir(&tree),
    );

    // The closure, as resolved: the obsoleted crictl replaced by cri-tools,
    // the newest runc and kubelet, no Docker, no 32-bit glibc.
    let rpms = names(&tree.join("repo/Packages"));
    assert!(rpms.contains(&"example-cri-tools-1.30.1-1.el7.x86_64.rpm".to_string()));
    assert!(rpms.contains(&"example-runc-1.1.12-1.el7.x86_64.rpm".to_string()));
    assert!(rpms.contains(&"example-kubelet-1.30.6-1.el7.x86_64.rpm".to_string()));
    for absent in [
        "example-crictl",
        "example-docker",
        "example-runc-1.0.0",
        "i686",
    ] {
        assert!(
            !rpms.iter().any(|r| r.contains(absent)),
            "{absent} in {rpms:?}"
        );
    }
    assert_eq!(rpms.len(), 12, "{rpms:?}");

    // dnf, a real client, reads the bundle's repository.
    let cache = site.p("dnf-cache");
    std::fs::write(site.p("dnf.conf"), "[main]\n").unwrap();
    let o = run_ok(
        Command::new("dnf")
            .args(["-q", "--setopt=reposdir=/dev/null"])
            .arg(format!("--config={}", site.p("dnf.conf").display()))
            .arg(format!("--setopt=cachedir={}", cache.display()))
            .arg(format!(
                "--repofrompath=bundle,file://{}",
                tree.join("repo").display()
            ))
            .args([
                "--repo=bundle",
                "repoquery",
                "--qf",
                "%{name}-%{version}-%{release}.%{arch}",
            ]),
    );
    let mut listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}.rpm"))
        .collect();
    listed.sort();
    assert_eq!(listed, rpms);

    // Same inputs, same bytes, even with the inputs' mtimes changed.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    for e in std::fs::read_dir(site.p("rpms")).unwrap() {
        let f = std::fs::File::options()
            .write(true)
            .open(e.unwrap().path())
            .unwrap();
        f.set_modified(later).unwrap();
    }
    run_ok(&mut site.bundle("rpms", "node.ks", "out/b.iso"));
    let a = std::fs::read(site.p("out/a.iso")).unwrap();
    let b = std::fs::read(site.p("out/b.iso")).unwrap();
    assert!(a == b, "two builds from the same inputs differ");
}

#[test]
fn bundle_from_a_createrepo_repository_refuses_an_rpm_that_changed_after_indexing() {
    let site = Site::new();
    run_ok(mk().args(["repo", "index"]).arg(site.p("rpms")));
    run_ok(&mut site.bundle("rpms", "node.ks", "out/ok.iso"));

    // Replace one package's file with another build (same name, other
    // content): the repodata now lies about it.
    let victim = site.p("rpms/example-etcd-3.4.23-1.el7.x86_64.rpm");
    let other = mk_synthrpm::SynthPackage::new("example-etcd", "3.4.23", "1.el7")
        .arch("x86_64")
        .summary("tampered")
        .build_time(1_600_000_123);
    let tmp = site.p("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::rename(other.write_to_dir(&tmp).unwrap(), &victim).unwrap();

    let err = run_err(&mut site.bundle("rpms", "node.ks", "out/bad.iso"));
    assert!(
        err.contains("example-etcd-3.4.23-1.el7.x86_64.rpm"),
        "{err}"
    );
    assert!(err.contains("SHA-256"), "{err}");
    assert_eq!(names(&site.p("out")), ["ok.iso"], "nothing half-written");
}

/// `repo index` checks headers only (as createrepo_c, which checks none), so
/// a package damaged before indexing gets into repodata; the bundle, the
/// last step before signing, checks payloads and refuses it.
#[test]
fn a_package_damaged_before_indexing_is_indexed_but_never_bundled() {
    let site = Site::new();
    let victim = site.p("rpms/example-etcd-3.4.23-1.el7.x86_64.rpm");
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.len() - 100; // inside the compressed payload
    bytes[at] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();

    run_ok(mk().args(["repo", "index"]).arg(site.p("rpms")));
    let err = run_err(&mut site.bundle("rpms", "node.ks", "out/bad.iso"));
    assert!(
        err.contains("example-etcd-3.4.23-1.el7.x86_64.rpm"),
        "{err}"
    );
    assert!(err.contains("payload digest mismatch"), "{err}");
    assert!(err.contains("repo verify"), "{err}");
    assert!(!site.p("out/bad.iso").exists(), "nothing half-written");
    // `repo verify` says the same of the indexed repository.
    let err = run_err(mk().args(["repo", "verify"]).arg(site.p("rpms")));
    assert!(err.contains("payload digest mismatch"), "{err}");
}

#[test]
fn unsatisfiable_kickstart_names_the_capability_and_leaves_nothing() {
    let site = Site::new();
    std::fs::write(
        site.p("bad.ks"),
        "%packages\nexample-kubeadm\n-example-containerd\n%end\n",
    )
    .unwrap();
    std::fs::create_dir_all(site.p("out")).unwrap();
    let err = run_err(&mut site.bundle("rpms", "bad.ks", "out/x.iso"));
    assert!(err.contains("bad.ks"), "{err}");
    assert!(err.contains("example-containerd"), "{err}");
    assert!(err.contains("example-kubelet"), "chain named: {err}");
    assert!(
        names(&site.p("out")).is_empty(),
        "{:?}",
        names(&site.p("out"))
    );

    std::fs::write(site.p("nopkgs.ks"), "selinux --enforcing\n").unwrap();
    let err = run_err(&mut site.bundle("rpms", "nopkgs.ks", "out/x.iso"));
    assert!(err.contains("nopkgs.ks: no %packages section"), "{err}");
}

#[test]
fn wrong_password_is_refused_before_anything_is_written() {
    let site = Site::new();
    std::fs::write(site.p("pw"), "not the password\n").unwrap();
    std::fs::create_dir_all(site.p("out")).unwrap();
    let err = run_err(&mut site.bundle("rpms", "node.ks", "out/x.iso"));
    assert!(err.contains("mk.key"), "{err}");
    assert!(err.to_lowercase().contains("password"), "{err}");
    assert!(names(&site.p("out")).is_empty());
}
