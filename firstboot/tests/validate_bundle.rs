//! `mk-firstboot validate FILE --bundle X.iso` / `--registry DIR`: every
//! image the config's nodes use, where, and whether the bundle's registry
//! serves it; non-zero naming each missing one and what to do.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mk_imagerefs::testing::{registry_tree, RECIPE_IMAGES};

const SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site");

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mk-firstboot"))
        .arg("validate")
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const CALICO: [&str; 3] = [
    "docker.io/calico/cni:v3.29.7",
    "docker.io/calico/kube-controllers:v3.29.7",
    "docker.io/calico/node:v3.29.7",
];

fn workers() -> String {
    format!("{SITE}/node-config.yaml")
}

#[test]
fn the_recipes_bundle_lacks_calico_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let (tree, digests) = registry_tree(d.path(), RECIPE_IMAGES);
    let file = workers();
    let out = validate(&[&file, "--registry", tree.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with(&format!("{file}: valid NodeConfigList")),
        "{stdout}"
    );
    let t = tree.display();
    assert!(
        stdout.contains(&format!("{file}: 6 image(s), checked against {t}:\n")),
        "{stdout}"
    );
    // pause: present, with its digest, and both places that name it, on both workers.
    assert!(
        stdout.contains(&format!(
            "  present  registry.k8s.io/pause:3.9  {}\n\
             \x20          used by /etc/containerd/config.toml sandbox_image [w1.example.com, w2.example.com]\n\
             \x20          used by /var/lib/kubelet/kubeadm-flags.env --pod-infra-container-image [w1.example.com, w2.example.com]\n",
            digests[6]
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  present  registry.k8s.io/kube-proxy:v1.30.14  sha256:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  present  registry.k8s.io/coredns/coredns:v1.11.1  sha256:"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  MISSING  docker.io/calico/cni:v3.29.7  the registry has no repository calico/cni\n\
             \x20          used by DaemonSet kube-system/calico-node initContainers[install-cni] [w1.example.com, w2.example.com]\n\
             \x20          used by DaemonSet kube-system/calico-node initContainers[upgrade-ipam] [w1.example.com, w2.example.com]\n"
        ),
        "{stdout}"
    );
    for c in CALICO {
        assert!(
            stdout.contains(&format!("  MISSING  {c}  ")),
            "{c}: {stdout}"
        );
        assert!(
            stderr.contains(&format!(
                "{file}: image {c} is not in {t}: the registry has no repository "
            )),
            "{c}: {stderr}"
        );
    }
    assert!(
        stderr.contains(
            "add an image recipe for it (images/<name>/image.yaml with name docker.io/calico/node, \
             docs/container-images.md) and pass its layout to mk-compose bundle --image \
             calico/node=<layout> (docs/registry.md)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(&format!(
            "{file}: 3 image(s) missing from {t}: {}; nodes would try to pull them from outside\n",
            CALICO.join(", ")
        )),
        "{stderr}"
    );
}

fn all_images() -> Vec<(&'static str, &'static str)> {
    let mut all = RECIPE_IMAGES.to_vec();
    all.extend([
        ("calico/cni", "v3.29.7"),
        ("calico/kube-controllers", "v3.29.7"),
        ("calico/node", "v3.29.7"),
    ]);
    all
}

fn iso_of(tree: &Path, dir: &Path) -> PathBuf {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::rename(tree, bundle.join("registry")).unwrap();
    let out = dir.join("mk.iso");
    mk_bundle::iso::write(
        &bundle,
        &out,
        &mk_bundle::iso::IsoOptions {
            volume_label: "MK_TEST".into(),
            source_date_epoch: 1_700_000_000,
            ..Default::default()
        },
    )
    .unwrap();
    out
}

#[test]
fn a_complete_bundle_iso_passes() {
    let d = tempfile::tempdir().unwrap();
    let (tree, _) = registry_tree(d.path(), &all_images());
    let iso = iso_of(&tree, d.path());
    let file = workers();
    let out = validate(&[&file, "--bundle", iso.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(!stdout.contains("MISSING"), "{stdout}");
    assert_eq!(stdout.matches("  present  ").count(), 6, "{stdout}");
    assert!(
        stdout.ends_with(&format!(
            "{file}: every image is in {} (registry/)\n",
            iso.display()
        )),
        "{stdout}"
    );
}

#[test]
fn a_bootstrap_control_plane_lists_its_static_pods_too() {
    let d = tempfile::tempdir().unwrap();
    // Everything but etcd.
    let images: Vec<_> = all_images()
        .into_iter()
        .filter(|(r, _)| *r != "etcd")
        .collect();
    let (tree, _) = registry_tree(d.path(), &images);
    let file = format!("{SITE}/cp1.yaml");
    let out = validate(&[&file, "--registry", tree.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // The example has no certificates yet: validation says so, the image
    // list is still made (placeholders), and both are in the verdict.
    assert!(
        stdout.contains("cp1.example.com: 48 certificate file(s) not delivered yet"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{file}: 10 image(s), checked against ")),
        "{stdout}"
    );
    for (img, used_by) in [
        ("kube-apiserver:v1.30.14", "/etc/kubernetes/manifests/kube-apiserver.yaml containers[kube-apiserver]"),
        ("kube-controller-manager:v1.30.14", "/etc/kubernetes/manifests/kube-controller-manager.yaml containers[kube-controller-manager]"),
        ("kube-scheduler:v1.30.14", "/etc/kubernetes/manifests/kube-scheduler.yaml containers[kube-scheduler]"),
    ] {
        assert!(
            stdout.contains(&format!("  present  registry.k8s.io/{img}  sha256:")),
            "{img}: {stdout}"
        );
        assert!(stdout.contains(&format!("used by {used_by}\n")), "{used_by}: {stdout}");
    }
    assert!(
        stdout.contains(
            "  MISSING  registry.k8s.io/etcd:3.5.12-0  the registry has no repository etcd\n\
             \x20          used by /etc/kubernetes/manifests/etcd.yaml containers[etcd]\n"
        ),
        "{stdout}"
    );
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("mk-firstboot: {file}: ")),
        "{stderr}"
    );
    assert!(
        last.contains("problem(s); nothing was changed; "),
        "{stderr}"
    );
    assert!(
        last.ends_with(&format!(
            "1 image(s) missing from {}: registry.k8s.io/etcd:3.5.12-0; nodes would try to pull them from outside",
            tree.display()
        )),
        "{stderr}"
    );
}

#[test]
fn bad_bundles_are_named() {
    let d = tempfile::tempdir().unwrap();
    let file = workers();
    let nope = d.path().join("nope.iso");
    let out = validate(&[&file, "--bundle", nope.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.contains(&format!("{}: cannot open the bundle", nope.display())),
        "{e}"
    );

    let junk = d.path().join("junk.iso");
    std::fs::write(&junk, vec![0u8; 40_000]).unwrap();
    let out = validate(&[&file, "--bundle", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.contains(&format!(
            "{}: not a readable ISO 9660 image",
            junk.display()
        )),
        "{e}"
    );

    let out = validate(&[&file, "--registry", d.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.contains(&format!("{}: no catalog.json", d.path().display())),
        "{e}"
    );

    let out = validate(&[&file, "--bundle", "a.iso", "--registry", "b"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
