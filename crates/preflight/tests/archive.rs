//! Image archives read in place: an OCI archive written by mk-oci (two
//! layers, the second whiting out etcdctl) and a `docker save`-style one,
//! installed where mk-container-images puts them under a node root; the
//! facts read back and the probe and environment checks on them.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use mk_oci::{Compression, ImageConfig, Layout, TreeSnapshot};
use mk_preflight::tree::{resolve, Resolved};
use mk_preflight::{check, inventory, pods, Check, Kind, Planned, RootMode};
use serde_json::json;

const EPOCH: u64 = 1_700_000_000;
const NAME: &str = "registry.k8s.io/etcd:3.5.12-0";

fn exe(root: &Path, rel: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, b"#!/bin/sh\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// An etcd image: etcd and etcdctl in /usr/bin, /bin -> usr/bin; with
/// `drop_etcdctl`, a second layer whites etcdctl out.
fn oci_archive(dir: &Path, drop_etcdctl: bool) -> std::path::PathBuf {
    let tree = dir.join("tree");
    exe(&tree, "usr/bin/etcd");
    exe(&tree, "usr/bin/etcdctl");
    symlink("usr/bin", tree.join("bin")).unwrap();
    let layout = Layout::create(&dir.join("layout")).unwrap();
    let mut layers =
        vec![mk_oci::write_layer_from_tree(&tree, Compression::Gzip, EPOCH, &layout).unwrap()];
    if drop_etcdctl {
        let before = TreeSnapshot::scan(&tree).unwrap();
        fs::remove_file(tree.join("usr/bin/etcdctl")).unwrap();
        let changes = mk_oci::diff(&before, &tree).unwrap();
        layers
            .push(mk_oci::write_layer(&tree, &changes, Compression::None, EPOCH, &layout).unwrap());
    }
    let cfg = ImageConfig {
        user: Some("401:401".into()),
        entrypoint: Some(vec!["/usr/bin/etcd".into()]),
        env: vec!["PATH=/bin".into(), "ETCD_DATA_DIR=/var/lib/etcd".into()],
        source_date_epoch: EPOCH,
        ..Default::default()
    };
    mk_oci::write_image(&layout, None, &layers, &cfg, Some(NAME)).unwrap();
    let out = dir.join("etcd.tar");
    mk_oci::write_archive(layout.path(), &out).unwrap();
    out
}

fn node_root(dir: &Path, archive: &Path) -> std::path::PathBuf {
    let root = dir.join("root");
    let images = root.join("usr/share/mk/images");
    fs::create_dir_all(&images).unwrap();
    fs::copy(archive, images.join("etcd.tar")).unwrap();
    fs::create_dir_all(root.join("var/lib")).unwrap();
    root
}

fn etcd_pod() -> pods::Pod {
    let m = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": "etcd" },
        "spec": {
            "containers": [{
                "name": "etcd",
                "image": NAME,
                "command": ["etcd", "--data-dir=/var/lib/etcd"],
                "volumeMounts": [{ "name": "data", "mountPath": "/var/lib/etcd" }],
                "livenessProbe": { "exec": { "command": ["etcdctl", "endpoint", "health"] } },
            }],
            "volumes": [{ "name": "data", "hostPath": { "path": "/var/lib/etcd", "type": "DirectoryOrCreate" } }],
        },
    });
    pods::parse_pod(
        "/etc/kubernetes/manifests/etcd.yaml",
        m.to_string().as_bytes(),
    )
    .unwrap()
}

#[test]
fn oci_archive_facts_and_probe_check() {
    let t = tempfile::tempdir().unwrap();
    let archive = oci_archive(&t.path().join("a"), false);
    let want = BTreeSet::from([NAME.to_string()]);
    let images = mk_preflight::archive::read_archive(&archive, &want).unwrap();
    assert_eq!(images.len(), 1);
    let img = &images[0];
    assert_eq!(img.names, [NAME]);
    assert_eq!(img.archive, "etcd.tar");
    assert_eq!(img.user.as_deref(), Some("401:401"));
    assert_eq!(img.entrypoint, ["/usr/bin/etcd"]);
    assert_eq!(img.env_var("ETCD_DATA_DIR"), Some("/var/lib/etcd"));
    assert!(img.digest.as_deref().unwrap().starts_with("sha256:"));
    let files = img
        .files
        .as_ref()
        .expect("layer paths read for a wanted image");
    assert!(matches!(
        resolve(files, "/bin/etcdctl"),
        Resolved::Found { ref path, kind: Kind::File { mode: 0o755 } } if path == "/usr/bin/etcdctl"
    ));
    // Not wanted: only the config is read.
    let lean = mk_preflight::archive::read_archive(&archive, &BTreeSet::new()).unwrap();
    assert!(lean[0].files.is_none());

    // Installed in a node root: the pod finds etcdctl, but the image's
    // ETCD_DATA_DIR collides with --data-dir (issue 16, item 5).
    let root = node_root(&t.path().join("a"), &archive);
    let pods = [etcd_pod()];
    let inv = inventory::read(&root, RootMode::Image, &pods, &Planned::default()).unwrap();
    let problems = check(&pods, &Planned::default(), &inv);
    let kinds: Vec<Check> = problems.iter().map(|p| p.check).collect();
    assert_eq!(kinds, [Check::Env], "{problems:#?}");

    // A second layer whites etcdctl out: the probe's command is gone
    // (item 6).
    let archive = oci_archive(&t.path().join("b"), true);
    let root = node_root(&t.path().join("b"), &archive);
    let inv = inventory::read(&root, RootMode::Image, &pods, &Planned::default()).unwrap();
    let problems = check(&pods, &Planned::default(), &inv);
    let probe: Vec<String> = problems
        .iter()
        .filter(|p| p.check == Check::Probe)
        .map(ToString::to_string)
        .collect();
    assert_eq!(probe.len(), 1, "{problems:#?}");
    assert!(
        probe[0].starts_with("pod `etcd`: spec.containers[0].livenessProbe.exec.command[0] (etcdctl): not found in image registry.k8s.io/etcd:3.5.12-0 (PATH=/bin)"),
        "{}",
        probe[0]
    );
}

#[test]
fn corrupt_blobs_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let archive = oci_archive(&t.path().join("a"), false);
    // Flip one byte of the config blob (the last member of the tar is a
    // blob; find the config by its content instead).
    let mut bytes = fs::read(&archive).unwrap();
    let at = bytes
        .windows(13)
        .position(|w| w == b"ETCD_DATA_DIR")
        .expect("config in the archive");
    bytes[at] = b'X';
    fs::write(&archive, bytes).unwrap();
    let e = mk_preflight::archive::read_archive(&archive, &BTreeSet::new()).unwrap_err();
    assert!(
        e.to_string().contains("does not match its descriptor"),
        "{e}"
    );
}

#[test]
fn docker_archives_are_named_by_repo_tags() {
    let t = tempfile::tempdir().unwrap();
    // A plain layer tar: /usr/bin/etcdctl.
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    layer
        .append_data(&mut h, "usr/bin/etcdctl", std::io::empty())
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Env": ["PATH=/usr/bin"] },
        "rootfs": { "type": "layers", "diff_ids": [] },
    })
    .to_string();
    let manifest = json!([{ "Config": "cfg.json", "RepoTags": ["etcd:3.4.23-0"], "Layers": ["abc/layer.tar"] }]).to_string();
    let mut ar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("manifest.json", manifest.as_bytes()),
        ("cfg.json", config.as_bytes()),
        ("abc/layer.tar", layer.as_slice()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        ar.append_data(&mut h, name, data).unwrap();
    }
    let path = t.path().join("etcd-old.tar");
    fs::write(&path, ar.into_inner().unwrap()).unwrap();
    let want = BTreeSet::from(["docker.io/library/etcd:3.4.23-0".to_string()]);
    let images = mk_preflight::archive::read_archive(&path, &want).unwrap();
    assert_eq!(images[0].names, ["etcd:3.4.23-0"]);
    assert_eq!(images[0].keys(), ["docker.io/library/etcd:3.4.23-0"]);
    let files = images[0].files.as_ref().unwrap();
    assert!(matches!(
        resolve(files, "/usr/bin/etcdctl"),
        Resolved::Found { .. }
    ));
}
