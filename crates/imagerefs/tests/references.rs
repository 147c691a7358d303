//! The references of the example site configs, read from the planned files
//! and objects; hidden references in a crafted plan are found.

mod common;

use mk_imagerefs::{from_plans, gather, ImageRef};
use mk_nodeconf::versions::Versions;
use mk_nodeconf::Action;

fn find<'a>(refs: &'a [ImageRef], reference: &str) -> &'a ImageRef {
    refs.iter()
        .find(|r| r.reference == reference)
        .unwrap_or_else(|| panic!("{reference} not among {refs:#?}"))
}

fn uses(refs: &[ImageRef], reference: &str, used_by: &str) {
    let r = find(refs, reference);
    assert!(
        r.used_by.iter().any(|u| u == used_by),
        "{reference}: {used_by:?} not in {:?}",
        r.used_by
    );
}

const V: &str = "v1.30.14";

#[test]
fn bootstrap_control_plane_example_lists_every_image_and_where() {
    let cp = &common::example("cp1.yaml")[0];
    assert!(
        cp.spec.certificates.is_empty(),
        "the example has no certificates yet"
    );
    let n = gather(cp).unwrap();
    assert_eq!(n.node, "cp1.example.com");
    assert!(
        n.placeholders.contains(&"sa.key".to_string()),
        "{:?}",
        n.placeholders
    );
    let r = &n.images;
    let m = "/etc/kubernetes/manifests";
    uses(
        r,
        "registry.k8s.io/etcd:3.5.12-0",
        &format!("{m}/etcd.yaml containers[etcd]"),
    );
    for c in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        uses(
            r,
            &format!("registry.k8s.io/{c}:{V}"),
            &format!("{m}/{c}.yaml containers[{c}]"),
        );
    }
    let pause = "registry.k8s.io/pause:3.9";
    uses(r, pause, "/etc/containerd/config.toml sandbox_image");
    uses(
        r,
        pause,
        "/var/lib/kubelet/kubeadm-flags.env --pod-infra-container-image",
    );
    uses(
        r,
        &format!("registry.k8s.io/kube-proxy:{V}"),
        "DaemonSet kube-system/kube-proxy containers[kube-proxy]",
    );
    uses(
        r,
        "registry.k8s.io/coredns/coredns:v1.11.1",
        "Deployment kube-system/coredns containers[coredns]",
    );
    let c = "docker.io/calico";
    uses(
        r,
        &format!("{c}/node:v3.29.7"),
        "DaemonSet kube-system/calico-node containers[calico-node]",
    );
    uses(
        r,
        &format!("{c}/cni:v3.29.7"),
        "DaemonSet kube-system/calico-node initContainers[install-cni]",
    );
    uses(
        r,
        &format!("{c}/kube-controllers:v3.29.7"),
        "Deployment kube-system/calico-kube-controllers containers[calico-kube-controllers]",
    );
    // Exactly the version table's images: nothing else is referenced
    // (a hidden one would show up here first).
    let v = Versions::resolve("1.30").unwrap();
    let mut want = v.references();
    want.extend(v.calico_references());
    want.sort();
    let got: Vec<&str> = r.iter().map(|i| i.reference.as_str()).collect();
    assert_eq!(got, want);
    assert_eq!(
        n.mirrored_hosts
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["docker.io", "quay.io", "registry.k8s.io"]
    );
}

#[test]
fn workers_pull_the_node_images_and_every_addon() {
    let workers = common::example("node-config.yaml");
    assert_eq!(workers.len(), 2);
    for w in &workers {
        let r = gather(w).unwrap().images;
        let got: Vec<&str> = r.iter().map(|i| i.reference.as_str()).collect();
        assert!(
            !got.iter()
                .any(|g| g.contains("etcd") || g.contains("apiserver")),
            "{got:?}"
        );
        uses(
            &r,
            "registry.k8s.io/pause:3.9",
            "/etc/containerd/config.toml sandbox_image",
        );
        uses(
            &r,
            "registry.k8s.io/pause:3.9",
            "/var/lib/kubelet/kubeadm-flags.env --pod-infra-container-image",
        );
        for want in [
            &format!("registry.k8s.io/kube-proxy:{V}")[..],
            "registry.k8s.io/coredns/coredns:v1.11.1",
            "docker.io/calico/node:v3.29.7",
            "docker.io/calico/cni:v3.29.7",
            "docker.io/calico/kube-controllers:v3.29.7",
        ] {
            find(&r, want);
        }
    }
}

/// The plans `gather` reads, for crafting.
fn plans(config: &mk_roleconfig::NodeConfig) -> (mk_nodeconf::Plan, Vec<mk_cluster::ApiObject>) {
    let facts = mk_nodeconf::HostFacts {
        addresses: vec!["10.0.0.1".parse().unwrap(), "10.0.1.1".parse().unwrap()],
        ..Default::default()
    };
    // A worker needs only the cluster root, and only its name matters here.
    let mut c = config.clone();
    c.spec.certificates.insert("ca.crt".into(), "x".into());
    let plan = mk_nodeconf::plan("sha256:00", &c, &facts).unwrap();
    let mut boot = c.clone();
    boot.spec.roles = vec![mk_roleconfig::Role::BootstrapControlPlane];
    let cluster = mk_cluster::plan(&mk_cluster::Inputs {
        config: &boot,
        ca_pem: "x",
        now: time::OffsetDateTime::UNIX_EPOCH,
    })
    .unwrap();
    (plan, cluster.objects)
}

fn file_mut<'a>(plan: &'a mut mk_nodeconf::Plan, path: &str) -> &'a mut Vec<u8> {
    plan.steps
        .iter_mut()
        .flat_map(|s| s.actions.iter_mut())
        .find_map(|a| match a {
            Action::WriteFile {
                path: p, contents, ..
            } if p == path => Some(contents),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{path} not planned"))
}

#[test]
fn hidden_references_in_planned_files_are_found() {
    let w = &common::example("node-config.yaml")[0];
    let (mut plan, mut objects) = plans(w);
    let base = from_plans("w1", &plan, &objects).unwrap().images;

    // The kubelet's pod-infra image drifts from containerd's sandbox image.
    let flags = file_mut(&mut plan, "/var/lib/kubelet/kubeadm-flags.env");
    let text = String::from_utf8(flags.clone()).unwrap();
    assert!(text.contains("pause:3.9"));
    *flags = text.replace("pause:3.9", "pause:3.10").into_bytes();
    // A static pod nobody listed, with an init container.
    plan.steps[0].actions.push(Action::WriteFile {
        path: "/etc/kubernetes/manifests/extra.yaml".into(),
        contents: b"# header\napiVersion: v1\nkind: Pod\nmetadata: {name: extra}\nspec:\n  initContainers:\n  - {name: init, image: \"quay.io/extra/init:1\"}\n  containers:\n  - {name: main, image: busybox}\n".to_vec(),
        mode: 0o644,
        owner: mk_nodeconf::Owner::ROOT,
    });
    // A reference only in text: a ConfigMap's data.
    objects.push(mk_cluster::ApiObject::new(
        "v1",
        "ConfigMap",
        "configmaps",
        Some("kube-system"),
        "hidden",
        serde_json::json!({}),
        serde_json::json!({"data": {"x.yaml": "spec:\n  image: ghcr.io/some/thing:v2\n"}}),
    ));
    let r = from_plans("w1", &plan, &objects).unwrap().images;
    uses(
        &r,
        "registry.k8s.io/pause:3.9",
        "/etc/containerd/config.toml sandbox_image",
    );
    uses(
        &r,
        "registry.k8s.io/pause:3.10",
        "/var/lib/kubelet/kubeadm-flags.env --pod-infra-container-image",
    );
    assert!(!find(&r, "registry.k8s.io/pause:3.9")
        .used_by
        .iter()
        .any(|u| u.contains("kubeadm-flags")));
    uses(
        &r,
        "quay.io/extra/init:1",
        "/etc/kubernetes/manifests/extra.yaml initContainers[init]",
    );
    uses(
        &r,
        "busybox",
        "/etc/kubernetes/manifests/extra.yaml containers[main]",
    );
    uses(&r, "ghcr.io/some/thing:v2", "ConfigMap kube-system/hidden");
    assert_eq!(r.len(), base.len() + 4, "{r:#?}");

    // containerd without a sandbox_image uses its built-in default.
    let toml = file_mut(&mut plan, "/etc/containerd/config.toml");
    let text = String::from_utf8(toml.clone()).unwrap();
    *toml = text
        .lines()
        .filter(|l| !l.contains("sandbox_image"))
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    let r = from_plans("w1", &plan, &objects).unwrap().images;
    uses(
        &r,
        mk_imagerefs::CONTAINERD_DEFAULT_SANDBOX,
        "/etc/containerd/config.toml sandbox_image (not set: containerd's built-in default)",
    );
}

#[test]
fn a_planned_file_that_does_not_parse_is_named() {
    let w = &common::example("node-config.yaml")[0];
    let (mut plan, objects) = plans(w);
    plan.steps[0].actions.push(Action::WriteFile {
        path: "/etc/kubernetes/manifests/broken.yaml".into(),
        contents: b"spec: [unclosed\n".to_vec(),
        mode: 0o644,
        owner: mk_nodeconf::Owner::ROOT,
    });
    let e = from_plans("w1", &plan, &objects).unwrap_err().to_string();
    assert!(
        e.starts_with("w1: planned file /etc/kubernetes/manifests/broken.yaml: "),
        "{e}"
    );
}

#[test]
fn a_config_that_cannot_be_planned_is_named() {
    let mut w = common::example("node-config.yaml").remove(0);
    w.spec.cluster.kubernetes_version = "1.27".into();
    let e = gather(&w).unwrap_err().to_string();
    assert!(e.starts_with("w1.example.com: planning the node"), "{e}");
    assert!(e.contains("kubernetesVersion"), "{e}");
}

#[test]
fn a_joining_control_plane_runs_the_static_pods_too() {
    let mut c = common::example("cp1.yaml").remove(0);
    c.metadata.name = "cp2.example.com".into();
    c.spec.roles = vec![mk_roleconfig::Role::ControlPlane];
    let r = gather(&c).unwrap().images;
    uses(
        &r,
        "registry.k8s.io/etcd:3.5.12-0",
        "/etc/kubernetes/manifests/etcd.yaml containers[etcd]",
    );
    find(&r, "docker.io/calico/node:v3.29.7");
    assert_eq!(r.len(), 10);
}
