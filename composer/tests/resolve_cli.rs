//! `mk-compose resolve` and `bundle` against repositories as they come:
//! @groups from the comps a repository's repomd.xml declares (read by real
//! dnf from the bundle too), and packages that repodata lists but whose
//! files are absent.

mod common;
use common::{bundle, extract_iso, fixture, keygen, mk, run_err, run_ok, text};

use std::path::{Path, PathBuf};
use std::process::Command;

fn el7_base() -> PathBuf {
    fixture("el7-base")
}

const COMPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//CentOS//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>k8s-node</id>
    <name>Kubernetes node</name>
    <description>What every node runs</description>
    <default>false</default>
    <uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">example-kubeadm</packagereq>
      <packagereq type="default">example-etcd</packagereq>
    </packagelist>
  </group>
</comps>
"#;

/// The example packages in `dir`, and COMPS beside it.
fn example_rpms(root: &Path, dir: &str) -> PathBuf {
    let repo = root.join(dir);
    std::fs::create_dir_all(&repo).unwrap();
    for p in mk_synthrpm::example::example_packages() {
        p.write_to_dir(&repo).unwrap();
    }
    std::fs::write(root.join("comps.xml"), COMPS).unwrap();
    repo
}

fn resolve_group(repo: &Path) -> Command {
    let mut c = mk();
    c.arg("resolve")
        .arg("--repo")
        .arg(repo)
        .args(["--package", "@k8s-node"]);
    c
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn group_file(repo: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(repo.join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", repo.display()))
}

#[test]
fn groups_come_from_the_comps_that_repomd_declares() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // Without comps there is no group, and the error says where comps come from.
    let plain = example_rpms(root, "plain");
    run_ok(mk().args(["repo", "index"]).arg(&plain));
    let err = run_err(&mut resolve_group(&plain));
    assert!(err.contains("no comps.xml"), "{err}");
    assert!(err.contains("--comps"), "{err}");

    // Indexed by us with --comps, and by createrepo_c -g: both resolve
    // @k8s-node with no --comps, to the same closure.
    let ours = example_rpms(root, "ours");
    run_ok(
        mk().args(["repo", "index", "--comps"])
            .arg(root.join("comps.xml"))
            .arg(&ours),
    );
    let theirs = example_rpms(root, "theirs");
    run_ok(
        Command::new("createrepo_c")
            .args(["--no-database", "-g"])
            .arg(root.join("comps.xml"))
            .arg(&theirs),
    );
    let a = stdout(&run_ok(&mut resolve_group(&ours)));
    let b = stdout(&run_ok(&mut resolve_group(&theirs)));
    assert_eq!(a, b);
    assert!(a.lines().any(|l| l.starts_with("example-kubeadm-")), "{a}");
    assert!(a.lines().any(|l| l.starts_with("example-etcd-")), "{a}");
    // --comps still overrides: a comps without the group refuses it.
    let other = root.join("other-comps.xml");
    std::fs::write(&other, COMPS.replace("k8s-node", "something-else")).unwrap();
    let err = run_err(resolve_group(&ours).arg("--comps").arg(&other));
    assert!(err.contains("k8s-node"), "{err}");

    // createrepo_c's repomd.xml agrees with our comps records: it reads them.
    for kind in ["group", "group_gz"] {
        let repomd = std::fs::read_to_string(ours.join("repodata/repomd.xml")).unwrap();
        assert!(
            repomd.contains(&format!("<data type=\"{kind}\">")),
            "{repomd}"
        );
    }

    // A group file changed after indexing is refused, naming the file.
    for (suffix, dir) in [("comps.xml", &theirs), ("comps.xml.gz", &ours)] {
        let file = group_file(dir, suffix);
        let mut bytes = std::fs::read(&file).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x20;
        std::fs::write(&file, &bytes).unwrap();
        let err = run_err(&mut resolve_group(dir));
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains("checksum mismatch"), "{err}");
    }
}

/// `dnf` reading a repository only, offline: no system repos, no cache
/// outside `root`.
fn dnf(root: &Path, repo: &Path) -> Command {
    std::fs::write(root.join("dnf.conf"), "[main]\n").unwrap();
    let mut c = Command::new("dnf");
    c.args(["-q", "--setopt=reposdir=/dev/null"])
        .arg(format!("--config={}", root.join("dnf.conf").display()))
        .arg(format!(
            "--setopt=cachedir={}",
            root.join("dnf-cache").display()
        ))
        .arg(format!(
            "--installroot={}",
            root.join("installroot").display()
        ))
        .arg(format!("--repofrompath=bundle,file://{}", repo.display()))
        .arg("--repo=bundle");
    c
}

#[test]
fn the_bundle_carries_the_comps_and_dnf_sees_the_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let repo = example_rpms(root, "rpms");
    run_ok(
        mk().args(["repo", "index", "--comps"])
            .arg(root.join("comps.xml"))
            .arg(&repo),
    );
    keygen(root);
    let ks = root.join("node.ks");
    std::fs::write(&ks, "selinux --enforcing\n%packages\n@k8s-node\n%end\n").unwrap();
    run_ok(&mut bundle(root, &repo, &ks, &root.join("mk.iso")));
    let tree = root.join("tree");
    extract_iso(&root.join("mk.iso"), &tree);
    let bundled = tree.join("repo");
    // The comps, as given, checksummed in repomd.xml (our reader checks it).
    assert_eq!(
        std::fs::read_to_string(group_file(&bundled, "-comps.xml")).unwrap(),
        COMPS
    );
    let o = run_ok(&mut resolve_group(&bundled));
    assert!(stdout(&o).contains("example-kubeadm-"), "{}", text(&o));

    let o = run_ok(dnf(root, &bundled).args(["group", "list", "--hidden"]));
    assert!(stdout(&o).contains("Kubernetes node"), "{}", text(&o));
    let o = run_ok(dnf(root, &bundled).args(["group", "info", "k8s-node"]));
    let info = stdout(&o);
    assert!(info.contains("Mandatory Packages:"), "{info}");
    assert!(info.contains("example-kubeadm"), "{info}");
    assert!(info.contains("example-etcd"), "{info}");
}

#[test]
fn absent_packages_are_named_at_resolve_time() {
    // el7-base is the closure of httpd: it needs all four packages that the
    // repodata lists but the directory does not carry.
    let err = run_err(
        mk().arg("resolve")
            .arg("--repo")
            .arg(el7_base())
            .args(["--package", "httpd"]),
    );
    assert!(err.contains("4 packages the resolution needs"), "{err}");
    let needed: Vec<&str> = err.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(needed.len(), 4, "{err}");
    for (line, name) in
        needed
            .iter()
            .zip(["binutils-", "centos-logos-", "glibc-common-", "systemd-"])
    {
        assert!(line.trim_start().starts_with(name), "{line}");
        // Named with the path where the file should be.
        let (_, path) = line.split_once(": ").unwrap();
        assert!(
            path.starts_with(&el7_base().display().to_string()) && path.ends_with(".rpm"),
            "{line}"
        );
        assert!(!Path::new(path).exists(), "{line}");
    }

    // A request that needs none of them resolves, and the absent ones are
    // still named, as a warning.
    let o = run_ok(
        mk().arg("resolve")
            .arg("--repo")
            .arg(el7_base())
            .args(["--package", "centos-release"]),
    );
    assert_eq!(
        stdout(&o),
        "centos-release-7-9.2009.1.el7.centos.x86_64\n",
        "{}",
        text(&o)
    );
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("WARN"), "{}", text(&o));
    assert!(log.contains("absent"), "{}", text(&o));
    for name in ["binutils-", "centos-logos-", "glibc-common-", "systemd-"] {
        assert!(log.contains(name), "{name} not named\n{}", text(&o));
    }
}
