//! Checking references against registry trees written by mk-registry (a
//! directory, and the same tree inside a bundle ISO read with mk-bundle's
//! reader): exactly the missing ones are reported, each with its reason.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use mk_imagerefs::{check, check_with, gather, ImageRef, RegistryView, Report, Status};

fn missing(r: &Report) -> Vec<(&str, &str)> {
    r.missing
        .iter()
        .map(|c| match &c.status {
            Status::Missing { reason } => (c.image.reference.as_str(), reason.as_str()),
            s => panic!("{s:?}"),
        })
        .collect()
}

fn refs(list: &[&str]) -> Vec<ImageRef> {
    list.iter()
        .map(|r| ImageRef {
            reference: r.to_string(),
            used_by: vec!["test".into()],
        })
        .collect()
}

fn cp1_refs() -> Vec<ImageRef> {
    gather(&common::example("cp1.yaml")[0]).unwrap().images
}

#[test]
fn a_bundle_of_the_recipes_lacks_exactly_calico() {
    let d = tempfile::tempdir().unwrap();
    let (tree, digests) = common::registry(d.path(), common::RECIPE_IMAGES);
    let view = RegistryView::open(&tree).unwrap();
    let report = check(&cp1_refs(), &view);
    let m = missing(&report);
    assert_eq!(
        m.iter().map(|x| x.0).collect::<Vec<_>>(),
        [
            "docker.io/calico/cni:v3.29.7",
            "docker.io/calico/kube-controllers:v3.29.7",
            "docker.io/calico/node:v3.29.7",
        ]
    );
    assert_eq!(m[2].1, "the registry has no repository calico/node");
    assert_eq!(
        report.missing[2].request.as_deref(),
        Some("/v2/calico/node/manifests/v3.29.7")
    );
    assert_eq!(report.present.len(), 7);
    let pause = report
        .present
        .iter()
        .find(|c| c.image.reference == "registry.k8s.io/pause:3.9")
        .unwrap();
    assert_eq!(
        pause.status,
        Status::Present {
            digest: digests[6].clone()
        }
    );
    assert_eq!(pause.request.as_deref(), Some("/v2/pause/manifests/3.9"));
    // An unpacked bundle (the tree as `registry/`) is found too.
    let view = RegistryView::open(d.path()).unwrap();
    assert_eq!(check(&cp1_refs(), &view).missing.len(), 3);
}

#[test]
fn missing_repositories_tags_and_digests_are_told_apart() {
    let d = tempfile::tempdir().unwrap();
    let (tree, digests) = common::registry(
        d.path(),
        &[
            ("pause", "3.10"),
            ("etcd", "3.5.12-0"),
            ("library/busybox", "latest"),
        ],
    );
    let view = RegistryView::open_dir(&tree).unwrap();
    let etcd_hex = digests[1].strip_prefix("sha256:").unwrap();
    let other = "0".repeat(64);
    let list = refs(&[
        "registry.k8s.io/etcd:3.5.12-0",
        &format!("registry.k8s.io/etcd@{}", digests[1]),
        &format!("registry.k8s.io/etcd:ignored@{}", digests[1]),
        "busybox",
        "registry.k8s.io/pause:3.9",
        &format!("registry.k8s.io/etcd@sha256:{other}"),
        &format!("registry.k8s.io/pause@{}", digests[1]),
        "registry.k8s.io/kube-apiserver:v1.30.14",
        "ghcr.io/some/thing:v2",
        "registry.k8s.io/Etcd:1",
    ]);
    let report = check(&list, &view);
    let present: Vec<&str> = report
        .present
        .iter()
        .map(|c| c.image.reference.as_str())
        .collect();
    assert_eq!(present.len(), 4, "{present:?}");
    assert!(present.contains(&"busybox"));
    let m = missing(&report);
    assert_eq!(
        m,
        [
            ("registry.k8s.io/pause:3.9", "repository pause has no tag 3.9 (its tags: 3.10)"),
            (
                &format!("registry.k8s.io/etcd@sha256:{other}")[..],
                &format!("repository etcd does not serve manifest sha256:{other}")[..]
            ),
            (
                &format!("registry.k8s.io/pause@{}", digests[1])[..],
                &format!("repository pause does not serve manifest sha256:{etcd_hex}")[..]
            ),
            ("registry.k8s.io/kube-apiserver:v1.30.14", "the registry has no repository kube-apiserver"),
            (
                "ghcr.io/some/thing:v2",
                "containerd sends only docker.io, quay.io, registry.k8s.io to the bundle's registry \
                 (certs.d/<host>/hosts.toml); ghcr.io is not mirrored, so this would be pulled from \
                 ghcr.io itself"
            ),
            (
                "registry.k8s.io/Etcd:1",
                "repository name \"Etcd\": expected lower-case path components of [a-z0-9] separated \
                 by `.`, `_`, `__` or `-` runs, joined by `/` (at most 255 characters), e.g. `etcd` \
                 or `kube/apiserver`"
            ),
        ]
    );
    // With `_default` mirrored, every host reaches the bundle's registry.
    let all: BTreeSet<String> = ["_default".to_string()].into();
    let r = check_with(&refs(&["ghcr.io/some/thing:v2"]), &all, &view);
    assert_eq!(
        missing(&r)[0].1,
        "the registry has no repository some/thing"
    );
}

#[test]
fn an_incomplete_tree_is_not_present() {
    let d = tempfile::tempdir().unwrap();
    let (tree, digests) = common::registry(d.path(), &[("pause", "3.9"), ("etcd", "1")]);
    let layout = d.path().join("layout0");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digests[0].strip_prefix("sha256:").unwrap()),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    std::fs::remove_file(
        tree.join("blobs/sha256")
            .join(layer.strip_prefix("sha256:").unwrap()),
    )
    .unwrap();
    // A manifest that does not hash to its name.
    let etcd = digests[1].strip_prefix("sha256:").unwrap();
    let etcd_file = tree.join(format!("manifests/sha256/{etcd}.oci-manifest"));
    let mut bytes = std::fs::read(&etcd_file).unwrap();
    bytes.push(b' ');
    std::fs::write(&etcd_file, bytes).unwrap();
    let view = RegistryView::open_dir(&tree).unwrap();
    let r = check(
        &refs(&["registry.k8s.io/pause:3.9", "registry.k8s.io/etcd:1"]),
        &view,
    );
    let m = missing(&r);
    assert_eq!(
        m[0].1,
        format!(
            "layer 0 {layer} of manifest {} is missing from blobs/sha256/",
            digests[0]
        )
    );
    assert!(
        m[1].1.starts_with(&format!(
            "manifests/sha256/{etcd}.oci-manifest hashes to sha256:"
        )),
        "{}",
        m[1].1
    );

    // Oversized manifests are refused unread, naming the file.
    std::fs::write(&etcd_file, vec![b' '; 5 << 20]).unwrap();
    let view = RegistryView::open_dir(&tree).unwrap();
    let r = check(&refs(&["registry.k8s.io/etcd:1"]), &view);
    assert_eq!(
        missing(&r)[0].1,
        format!(
            "{}: manifests/sha256/{etcd}.oci-manifest: 5242880 bytes, more than the 4194304 a \
             manifest may have",
            tree.display()
        )
    );
}

fn iso(dir: &Path, tree: &Path, out: &Path) {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(bundle.join("kickstart")).unwrap();
    std::fs::write(bundle.join("kickstart/node.ks"), "text\n").unwrap();
    if tree.exists() {
        std::fs::rename(tree, bundle.join("registry")).unwrap();
    }
    mk_bundle::iso::write(
        &bundle,
        out,
        &mk_bundle::iso::IsoOptions {
            volume_label: "MK_TEST".into(),
            source_date_epoch: 1_700_000_000,
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn a_bundle_iso_is_read_directly() {
    let d = tempfile::tempdir().unwrap();
    let (tree, _) = common::registry(d.path(), common::RECIPE_IMAGES);
    let out = d.path().join("mk.iso");
    iso(d.path(), &tree, &out);
    let view = RegistryView::open(&out).unwrap();
    assert_eq!(view.origin(), format!("{} (registry/)", out.display()));
    let r = check(&cp1_refs(), &view);
    assert_eq!(r.present.len(), 7);
    assert_eq!(
        missing(&r).iter().map(|m| m.0).collect::<Vec<_>>(),
        [
            "docker.io/calico/cni:v3.29.7",
            "docker.io/calico/kube-controllers:v3.29.7",
            "docker.io/calico/node:v3.29.7",
        ]
    );
}

#[test]
fn what_is_not_a_registry_is_named() {
    let d = tempfile::tempdir().unwrap();
    // An ISO without registry/.
    let out = d.path().join("old.iso");
    iso(d.path(), &d.path().join("none"), &out);
    let e = RegistryView::open(&out).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: no registry/catalog.json: not an mk bundle, or one made before bundles carried \
             a registry (mk-compose bundle --image, docs/registry.md)",
            out.display()
        )
    );
    // A file that is no ISO.
    let junk = d.path().join("junk.iso");
    std::fs::write(&junk, vec![0u8; 40_000]).unwrap();
    let e = RegistryView::open(&junk).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}: not a readable ISO 9660 image",
            junk.display()
        )),
        "{e}"
    );
    // A directory that is neither.
    let e = RegistryView::open(d.path()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: no catalog.json", d.path().display())),
        "{e}"
    );
    let e = RegistryView::open(&d.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope: cannot open"), "{e}");
    // A symlink inside a tree.
    let (tree, _) = common::registry(&d.path().join("w"), &[("pause", "3.9")]);
    std::os::unix::fs::symlink("/etc/passwd", tree.join("blobs/sha256/evil")).unwrap();
    let e = RegistryView::open_dir(&tree).unwrap_err().to_string();
    assert!(e.contains("blobs/sha256/evil: a symlink"), "{e}");
}
