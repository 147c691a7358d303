//! Every shipped recipe parses (they cannot be built here: no CentOS
//! media), runs as the service account the node uses for it, and is named
//! and tagged exactly as the node's static pods, containerd's sandbox
//! image and addons ask for it (crates/nodeconf versions, the one source
//! of truth for the tags of a Kubernetes version). The fixture images
//! carry the same names and tags, so a node built from the fixture
//! distribution has every image its manifests name.

use mk_nodeconf::users;
use mk_nodeconf::versions::Versions;
use mk_ocibuild::{Base, Recipe};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn recipes(dir: &Path) -> Vec<(String, Recipe)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        let (r, _) = Recipe::read(&p).unwrap_or_else(|e| panic!("{e}"));
        v.push((p.file_name().unwrap().to_string_lossy().into_owned(), r));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn reference(r: &Recipe) -> String {
    format!("{}:{}", r.name, r.version)
}

/// The service account of image directory `dir`, if the node has one.
fn account(dir: &str) -> Option<&'static users::ServiceAccount> {
    users::ALL.iter().find(|a| a.name == dir)
}

#[test]
fn production_recipes_parse_and_match_the_node() {
    let all = recipes(&workspace().join("images"));
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "coredns",
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-proxy",
            "kube-scheduler",
            "pause"
        ]
    );
    for (dir, r) in &all {
        // Full names: the registry host is part of what pods ask for.
        assert!(
            r.name.starts_with("registry.k8s.io/") && r.name.ends_with(&format!("/{dir}")),
            "{dir}: name {}",
            r.name
        );
        // A CentOS 7.6 archive, pinned at build time (--base-digest).
        let Base::Image(b) = &r.base else {
            panic!("{dir}: production images build on the CentOS base")
        };
        assert!(
            b.source
                .path()
                .to_string_lossy()
                .contains("centos-7.6.1810"),
            "{dir}: {:?}",
            b.source
        );
        assert!(
            r.user.uid >= 400 && r.user.uid == r.user.gid,
            "{dir}: {}",
            r.user
        );
        assert!(!r.entrypoint.is_empty(), "{dir}");
        // The node's service account, where it has one.
        if let Some(a) = account(dir) {
            assert_eq!((r.user.uid, r.user.gid), (a.id, a.id), "{dir}");
        }
        // Flags only: no ETCD_* variable may shadow a flag of the manifest.
        assert!(r.env.is_empty(), "{dir}: env {:?}", r.env);
    }
    // Exactly the references a Kubernetes 1.30 node uses.
    let v = Versions::resolve("1.30").unwrap();
    let mut refs: Vec<String> = all.iter().map(|(_, r)| reference(r)).collect();
    refs.sort();
    assert_eq!(refs, v.references());
    // Every service account has its image.
    for a in users::ALL {
        assert!(names.contains(&a.name), "no image for {}", a.name);
    }
}

#[test]
fn fixture_recipes_parse_and_are_named_as_the_node_asks() {
    let all = recipes(&workspace().join("qemu-tests/fixture-images"));
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "base",
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "pause"
        ]
    );
    let base = &all[0].1;
    assert_eq!(base.base, Base::Scratch);
    assert!(
        base.packages.iter().any(|p| p == "rpm"),
        "the base carries rpm"
    );
    let v = Versions::resolve("1.30").unwrap();
    let want = v.references();
    for (dir, r) in &all[1..] {
        assert!(
            want.contains(&reference(r)),
            "{dir}: {} is not among the 1.30 node's images {want:?}",
            reference(r)
        );
        assert!(r.name.ends_with(&format!("/{dir}")), "{dir}: {}", r.name);
        assert!(
            matches!(&r.base, Base::Image(b) if b.source.path().ends_with("base/oci")),
            "{dir}: built on the fixture base"
        );
        assert!(r.env.is_empty(), "{dir}: env {:?}", r.env);
        let want_id = match account(dir) {
            Some(a) => a.id,
            None if dir == "pause" => 65535,
            None => panic!("{dir}: no service account"),
        };
        assert_eq!((r.user.uid, r.user.gid), (want_id, want_id), "{dir}");
    }
    let etcd = &all[1].1;
    assert_eq!(etcd.user.uid, users::ETCD.id);
    // etcdctl is what the etcd pod's exec probes run.
    assert_eq!(etcd.packages, ["etcd-server", "etcd-client"]);
    // The stand-ins add nothing to the base and run something it has.
    for (dir, r) in &all[2..] {
        assert_eq!(r.packages, ["coreutils"], "{dir}");
        assert_eq!(r.entrypoint, ["/usr/bin/sleep"], "{dir}");
        assert_eq!(r.cmd, ["infinity"], "{dir}");
    }
}
