//! Image references meet (issue 16): the static pods, the kubelet and
//! containerd ask for images of `Versions`, and every image recipe mk ships
//! (`images/*/image.yaml`) builds one of the references a node of the
//! recipes' Kubernetes version uses.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use mk_nodeconf::plan;
use mk_nodeconf::versions::Versions;
use serde::Deserialize;

/// The fields of an image recipe this test reads.
#[derive(Deserialize)]
struct Recipe {
    name: String,
    /// A string in the recipe (`"3.9"` quoted): a YAML number would be
    /// refused here, as `3.10` would read as 3.1.
    version: String,
}

fn recipes() -> Vec<(PathBuf, Recipe)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../images");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path().join("image.yaml");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let r: Recipe =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        v.push((path, r));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn every_image_recipe_builds_a_reference_of_kubernetes_1_30() {
    let refs = Versions::resolve("1.30").unwrap().references();
    let all = recipes();
    let mut built = BTreeSet::new();
    for (path, r) in &all {
        let reference = format!("{}:{}", r.name, r.version);
        assert!(
            refs.contains(&reference),
            "{}: {reference} is not among the images a Kubernetes 1.30 node uses: {refs:?}",
            path.display()
        );
        built.insert(reference);
    }
    // And the recipes build every one of them.
    assert_eq!(
        built.into_iter().collect::<Vec<_>>(),
        refs,
        "images/ lacks a recipe"
    );
}

#[test]
fn a_node_asks_for_the_images_of_its_version() {
    for (version, kube) in [
        ("1.30", "v1.30.14"),
        ("1.30.2", "v1.30.2"),
        ("1.28", "v1.28.7"),
    ] {
        let mut c = config(
            CP,
            &["bootstrap-control-plane", "worker"],
            ("10.0.1.0/24", None, None),
            fake_certs(true),
        );
        c.spec.cluster.kubernetes_version = version.into();
        let p = plan(DIGEST, &c, &facts(&["10.0.1.11"])).unwrap();
        let v = Versions::resolve(version).unwrap();
        let refs = v.references();
        let mut asked = Vec::new();
        for name in CONTROL_PLANE_PODS {
            let m = pod(&text(&p, &format!("/etc/kubernetes/manifests/{name}.yaml")));
            let image = m["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(refs.contains(&image), "{version} {name}: {image}");
            if name != "etcd" {
                assert_eq!(image, format!("registry.k8s.io/{name}:{kube}"));
            }
            asked.push(image);
        }
        let pause = v.pause_image();
        assert!(text(&p, "/var/lib/kubelet/kubeadm-flags.env")
            .contains(&format!("--pod-infra-container-image={pause} ")));
        assert!(text(&p, "/etc/containerd/config.toml")
            .contains(&format!("sandbox_image = \"{pause}\"")));
        asked.push(pause);
        assert_eq!(asked.len(), 5);
    }
}

#[test]
fn every_minor_the_role_config_accepts_has_images() {
    let known = Versions::known_minors();
    for m in mk_roleconfig::SUPPORTED_MINORS {
        assert!(known.contains(&m), "1.{m}: {known:?}");
        Versions::resolve(&format!("1.{m}")).unwrap();
    }
    // The default version resolves to the patch the recipes pin.
    let d = Versions::resolve(mk_roleconfig::DEFAULT_KUBERNETES_VERSION).unwrap();
    assert_eq!(d.kubernetes, "v1.30.14");
}
