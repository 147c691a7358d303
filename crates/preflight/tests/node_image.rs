//! The image build's preflight on small image trees: the sample control
//! plane for the baked kube-apiserver's version, against archives made
//! with mk-oci and the tree's own files.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use mk_oci::{Compression, ImageConfig, Layout};
use mk_preflight::node_image::{check, Outcome};
use mk_preflight::{Check, NodeImageError};

const EPOCH: u64 = 1_700_000_000;

/// An OCI archive named `name` holding executables `bins` (under
/// /usr/bin, with /bin -> usr/bin) and `env`.
fn archive(out: &Path, name: &str, bins: &[&str], env: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    for b in bins {
        let p = tree.join("usr/bin").join(b);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    symlink("usr/bin", tree.join("bin")).unwrap();
    let layout = Layout::create(&work.path().join("layout")).unwrap();
    let layer = mk_oci::write_layer_from_tree(&tree, Compression::Gzip, EPOCH, &layout).unwrap();
    let cfg = ImageConfig {
        env: env.iter().map(|s| s.to_string()).collect(),
        source_date_epoch: EPOCH,
        ..Default::default()
    };
    mk_oci::write_image(&layout, None, &[layer], &cfg, Some(name)).unwrap();
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    mk_oci::write_archive(layout.path(), out).unwrap();
}

/// A node image tree as the build has it before the state split.
fn image_root(root: &Path, etcd_bins: &[&str], etcd_env: &[&str]) {
    let images = root.join("usr/share/mk/images");
    for (file, name, bins) in [
        (
            "kube-apiserver.tar",
            "registry.k8s.io/kube-apiserver:v1.30.14",
            &["kube-apiserver"][..],
        ),
        (
            "kube-controller-manager.tar",
            "registry.k8s.io/kube-controller-manager:v1.30.14",
            &["kube-controller-manager"][..],
        ),
        (
            "kube-scheduler.tar",
            "registry.k8s.io/kube-scheduler:v1.30.14",
            &["kube-scheduler"][..],
        ),
    ] {
        archive(&images.join(file), name, bins, &[]);
    }
    archive(
        &images.join("etcd.tar"),
        "registry.k8s.io/etcd:3.5.12-0",
        etcd_bins,
        etcd_env,
    );
    for d in ["var/lib", "etc/pki/tls/certs", "etc/ssl", "etc/kubernetes"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    symlink("../pki/tls/certs", root.join("etc/ssl/certs")).unwrap();
    fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    fs::write(root.join("etc/resolv.conf"), "nameserver 10.0.0.1\n").unwrap();
}

#[test]
fn a_complete_image_passes_and_a_broken_one_is_named() {
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good");
    image_root(&good, &["etcd", "etcdctl"], &[]);
    assert_eq!(
        check(&good).unwrap(),
        Outcome::Passed(vec!["v1.30.14".into()])
    );

    // Issue 16 items 5, 6 and 10 at once: the etcd image sets
    // ETCD_DATA_DIR and lacks etcdctl, and the image has no /etc/hosts.
    let bad = t.path().join("bad");
    image_root(&bad, &["etcd"], &["ETCD_DATA_DIR=/var/lib/etcd"]);
    fs::remove_file(bad.join("etc/hosts")).unwrap();
    let e = check(&bad).unwrap_err();
    let NodeImageError::Problems {
        version, problems, ..
    } = &e
    else {
        panic!("{e}");
    };
    assert_eq!(version, "v1.30.14");
    let etcd: Vec<Check> = problems
        .iter()
        .filter(|p| p.pod == "etcd")
        .map(|p| p.check)
        .collect();
    assert!(etcd.contains(&Check::Env), "{e}");
    assert!(etcd.contains(&Check::Probe), "{e}");
    assert!(
        problems
            .iter()
            .any(|p| p.subject == "/etc/hosts" && p.check == Check::HostPath),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("pod `etcd`: spec.containers[0].livenessProbe.exec.command[0] (etcdctl): not found in image registry.k8s.io/etcd:3.5.12-0"),
        "{text}"
    );

    // An image without a control plane is not checked.
    let worker = t.path().join("worker");
    fs::create_dir_all(worker.join("usr/share/mk/images")).unwrap();
    archive(
        &worker.join("usr/share/mk/images/pause.tar"),
        "registry.k8s.io/pause:3.9",
        &["pause"],
        &[],
    );
    assert!(
        matches!(check(&worker).unwrap(), Outcome::Skipped(ref why) if why.contains("registry.k8s.io/pause:3.9")),
    );
    assert!(matches!(
        check(&t.path().join("none")).unwrap(),
        Outcome::Skipped(_)
    ));
}

#[test]
fn an_unknown_kubernetes_version_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    archive(
        &t.path().join("usr/share/mk/images/api.tar"),
        "registry.k8s.io/kube-apiserver:v1.99.0",
        &["kube-apiserver"],
        &[],
    );
    let e = check(t.path()).unwrap_err();
    assert!(matches!(e, NodeImageError::Version { .. }), "{e}");
    let e = e.to_string();
    assert!(e.contains("api.tar") && e.contains("1.99"), "{e}");
}
