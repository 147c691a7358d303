//! The preflight's checks on crafted manifests and inventories: each of
//! issue 16's defects that a static pod can show becomes a test here.
//! Items 1-4 (containerd's CNI directory, the kubelet's containerd
//! socket, SELinux container types and the kubelet's domain) concern the
//! kubelet and containerd, not a pod: the image build checks them
//! elsewhere.

use std::collections::BTreeMap;

use mk_preflight::pods::parse_pod;
use mk_preflight::tree::{Entry, FileTree, Member};
use mk_preflight::{check, Check, HostPath, ImageFacts, Inventory, Kind, Planned, Pod, Problem};
use serde_json::{json, Value};

fn pod(manifest: Value) -> Pod {
    let name = manifest["metadata"]["name"].as_str().unwrap().to_string();
    parse_pod(
        &format!("/etc/kubernetes/manifests/{name}.yaml"),
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap()
}

fn host_path(name: &str, path: &str, t: &str) -> Value {
    json!({ "name": name, "hostPath": { "path": path, "type": t } })
}

fn mount(name: &str, path: &str, read_only: bool) -> Value {
    json!({ "name": name, "mountPath": path, "readOnly": read_only })
}

fn manifest(name: &str, image: &str, command: &[&str], mounts: Value, volumes: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "namespace": "kube-system" },
        "spec": {
            "hostNetwork": true,
            "containers": [{
                "name": name,
                "image": image,
                "command": command,
                "volumeMounts": mounts,
            }],
            "volumes": volumes,
        },
    })
}

fn of(problems: &[Problem], check: Check) -> Vec<(String, String)> {
    problems
        .iter()
        .filter(|p| p.check == check)
        .map(|p| (p.field.clone(), p.subject.clone()))
        .collect()
}

fn dir() -> HostPath {
    HostPath::present(Kind::Directory)
}

/// Item 8: `mkdir /etc/ssl`, `mkdir /etc/pki`, `mkdir
/// /usr/libexec/kubernetes: read-only file system`.
#[test]
fn or_create_on_the_read_only_root_is_refused() {
    let p = pod(manifest(
        "kube-controller-manager",
        "registry.k8s.io/kube-controller-manager:v1.30.14",
        &["kube-controller-manager"],
        json!([
            mount("ca-certs", "/etc/ssl/certs", true),
            mount("etc-pki", "/etc/pki", true),
            mount(
                "flexvolume-dir",
                "/usr/libexec/kubernetes/kubelet-plugins/volume/exec",
                false
            ),
            mount("k8s-certs", "/etc/kubernetes/pki", true),
            mount("data", "/var/lib/x", false),
        ]),
        json!([
            host_path("ca-certs", "/etc/ssl/certs", "DirectoryOrCreate"),
            host_path("etc-pki", "/etc/pki", "DirectoryOrCreate"),
            host_path(
                "flexvolume-dir",
                "/usr/libexec/kubernetes/kubelet-plugins/volume/exec",
                "DirectoryOrCreate"
            ),
            host_path("k8s-certs", "/etc/kubernetes/pki", "Directory"),
            host_path("data", "/var/lib/x", "DirectoryOrCreate"),
        ]),
    ));
    let mut planned = Planned::default();
    planned
        .files
        .insert("/etc/kubernetes/pki/ca.crt".into(), b"x".to_vec());
    let mut inv = Inventory::default();
    for path in [
        "/etc/ssl/certs",
        "/etc/pki",
        "/usr/libexec/kubernetes/kubelet-plugins/volume/exec",
    ] {
        inv.host.insert(path.into(), HostPath::missing(false));
    }
    // On the state partition: the kubelet creates it.
    inv.host
        .insert("/var/lib/x".into(), HostPath::missing(true));
    let problems = check(std::slice::from_ref(&p), &planned, &inv);
    assert_eq!(
        of(&problems, Check::HostPath),
        [
            ("spec.volumes[0].hostPath".into(), "/etc/ssl/certs".into()),
            ("spec.volumes[1].hostPath".into(), "/etc/pki".into()),
            (
                "spec.volumes[2].hostPath".into(),
                "/usr/libexec/kubernetes/kubelet-plugins/volume/exec".into()
            ),
        ],
        "{problems:#?}"
    );
    let text = problems[1].to_string();
    assert!(
        text.starts_with("pod `kube-controller-manager`: spec.volumes[1].hostPath (/etc/pki): ")
            && text.contains("read-only root")
            && text.contains("expected a directory (type DirectoryOrCreate)"),
        "{text}"
    );
    // Present in the image (CentOS has them): fine; a file where a
    // directory is asked for is not.
    inv.host.insert("/etc/ssl/certs".into(), dir());
    inv.host.insert(
        "/etc/pki".into(),
        HostPath::present(Kind::File { mode: 0o644 }),
    );
    inv.host.insert(
        "/usr/libexec/kubernetes/kubelet-plugins/volume/exec".into(),
        dir(),
    );
    let problems = check(std::slice::from_ref(&p), &planned, &inv);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].found.contains("a regular file"),
        "{}",
        problems[0]
    );
    // A Directory first boot does not create and the image lacks.
    planned.files.clear();
    inv.host.insert("/etc/pki".into(), dir());
    let problems = check(&[p], &planned, &inv);
    assert_eq!(
        of(&problems, Check::HostPath),
        [(
            "spec.volumes[3].hostPath".into(),
            "/etc/kubernetes/pki".into()
        )]
    );
}

fn kubeconfig(cert: &str) -> Vec<u8> {
    format!(
        "# Generated by mk\napiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    certificate-authority: /etc/kubernetes/pki/ca.crt\n    server: https://cp1:6443\nusers:\n- name: s\n  user:\n    client-certificate: /etc/kubernetes/pki/{cert}.crt\n    client-key: /etc/kubernetes/pki/{cert}.key\ncontexts: []\n"
    )
    .into_bytes()
}

fn scheduler(extra_mounts: &[Value], extra_volumes: &[Value]) -> Pod {
    let mut mounts = vec![mount("kubeconfig", "/etc/kubernetes/scheduler.conf", true)];
    mounts.extend_from_slice(extra_mounts);
    let mut volumes = vec![host_path(
        "kubeconfig",
        "/etc/kubernetes/scheduler.conf",
        "FileOrCreate",
    )];
    volumes.extend_from_slice(extra_volumes);
    pod(manifest(
        "kube-scheduler",
        "registry.k8s.io/kube-scheduler:v1.30.14",
        &[
            "kube-scheduler",
            "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
            "--authorization-kubeconfig=/etc/kubernetes/scheduler.conf",
            "--kubeconfig=/etc/kubernetes/scheduler.conf",
            "--leader-elect=true",
        ],
        Value::Array(mounts),
        Value::Array(volumes),
    ))
}

/// Item 7: `unable to read client-cert /etc/kubernetes/pki/scheduler.crt
/// ... no such file or directory`.
#[test]
fn kubeconfig_references_must_be_mounted_read_only() {
    let mut planned = Planned::default();
    planned.files.insert(
        "/etc/kubernetes/scheduler.conf".into(),
        kubeconfig("scheduler"),
    );
    for f in ["ca.crt", "scheduler.crt", "scheduler.key"] {
        planned
            .files
            .insert(format!("/etc/kubernetes/pki/{f}"), b"PEM".to_vec());
    }
    let inv = Inventory::default();
    let problems = check(&[scheduler(&[], &[])], &planned, &inv);
    let subjects: Vec<String> = of(&problems, Check::Mount)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        subjects,
        [
            "/etc/kubernetes/pki/ca.crt",
            "/etc/kubernetes/pki/scheduler.crt",
            "/etc/kubernetes/pki/scheduler.key"
        ],
        "{problems:#?}"
    );
    let text = problems[1].to_string();
    assert!(
        text.starts_with("pod `kube-scheduler`: spec.containers[0].command[1] --authentication-kubeconfig /etc/kubernetes/scheduler.conf: users[0].user.client-certificate (/etc/kubernetes/pki/scheduler.crt): not mounted")
            && text.contains("expected a read-only volumeMount"),
        "{text}"
    );
    // Mounted, read-only, each file: fine.
    let files = ["ca.crt", "scheduler.crt", "scheduler.key"];
    let mounts: Vec<Value> = files
        .iter()
        .map(|f| mount(f, &format!("/etc/kubernetes/pki/{f}"), true))
        .collect();
    let volumes: Vec<Value> = files
        .iter()
        .map(|f| host_path(f, &format!("/etc/kubernetes/pki/{f}"), "File"))
        .collect();
    let good = scheduler(&mounts, &volumes);
    assert_eq!(check(std::slice::from_ref(&good), &planned, &inv), []);
    // Read-write: refused.
    let rw = scheduler(
        &[mount("pki", "/etc/kubernetes/pki", false)],
        &[host_path("pki", "/etc/kubernetes/pki", "Directory")],
    );
    let problems = check(&[rw], &planned, &inv);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems
        .iter()
        .all(|p| p.expected.contains("readOnly: true")));
    // Mounted, but the host has no such file.
    planned.files.remove("/etc/kubernetes/pki/scheduler.key");
    let problems = check(&[good], &planned, &inv);
    let host: Vec<&Problem> = problems
        .iter()
        .filter(|p| p.check == Check::Mount)
        .collect();
    assert_eq!(host.len(), 1, "{problems:#?}");
    assert!(host[0].found.contains("not on the host"), "{}", host[0]);
}

#[test]
fn flag_paths_must_be_under_a_mount() {
    let p = pod(manifest(
        "kube-apiserver",
        "registry.k8s.io/kube-apiserver:v1.30.14",
        &[
            "kube-apiserver",
            "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
            "--encryption-provider-config=/etc/kubernetes/encryption/config.yaml",
            "--etcd-servers=https://localhost:2379",
        ],
        json!([mount("k8s-certs", "/etc/kubernetes/pki", true)]),
        json!([host_path(
            "k8s-certs",
            "/etc/kubernetes/pki",
            "DirectoryOrCreate"
        )]),
    ));
    let mut inv = Inventory::default();
    inv.host.insert("/etc/kubernetes/pki".into(), dir());
    let problems = check(&[p], &Planned::default(), &inv);
    assert_eq!(
        of(&problems, Check::Mount),
        [(
            "spec.containers[0].command[2]".into(),
            "--encryption-provider-config=/etc/kubernetes/encryption/config.yaml".into()
        )]
    );
}

fn etcd_pod(image: &str, probe: &str) -> Pod {
    let mut m = manifest(
        "etcd",
        image,
        &["etcd", "--data-dir=/var/lib/etcd", "--name=cp1"],
        json!([mount("etcd-data", "/var/lib/etcd", false)]),
        json!([host_path("etcd-data", "/var/lib/etcd", "DirectoryOrCreate")]),
    );
    m["spec"]["containers"][0]["livenessProbe"] = json!({
        "exec": { "command": [probe, "--endpoints=https://localhost:2379", "endpoint", "health"] },
    });
    pod(m)
}

fn etcd_image(files: &[(&str, Member)], env: &[&str]) -> ImageFacts {
    let mut tree = FileTree::default();
    tree.apply(files.iter().map(|(p, m)| (p.to_string(), m.clone())));
    ImageFacts {
        archive: "etcd.tar".into(),
        names: vec!["registry.k8s.io/etcd:3.5.12-0".into()],
        env: env.iter().map(|s| s.to_string()).collect(),
        entrypoint: vec!["/usr/bin/etcd".into()],
        files: Some(tree),
        ..Default::default()
    }
}

fn exe() -> Member {
    Member::Entry(Entry::Node(Kind::File { mode: 0o755 }))
}

fn var_lib_etcd() -> Inventory {
    let mut inv = Inventory::default();
    inv.host
        .insert("/var/lib/etcd".into(), HostPath::missing(true));
    inv
}

/// Item 9: the manifests ask for `registry.k8s.io/etcd:3.5.12-0` and
/// `kube-apiserver:v1.30.0`; the image bakes `etcd:3.4.23-0` and
/// v1.30.14.
#[test]
fn image_references_must_be_baked() {
    let mut inv = var_lib_etcd();
    let mut old = etcd_image(&[("usr/bin/etcdctl", exe())], &[]);
    old.names = vec!["etcd:3.4.23-0".into()];
    let mut api = ImageFacts {
        archive: "kube-apiserver.tar".into(),
        names: vec!["registry.k8s.io/kube-apiserver:v1.30.14".into()],
        digest: Some("sha256:ab".into()),
        ..Default::default()
    };
    inv.images = Some(vec![old, api.clone()]);
    let etcd = etcd_pod("registry.k8s.io/etcd:3.5.12-0", "etcdctl");
    let apiserver = pod(manifest(
        "kube-apiserver",
        "registry.k8s.io/kube-apiserver:v1.30.0",
        &["kube-apiserver"],
        json!([]),
        json!([]),
    ));
    let problems = check(&[etcd.clone(), apiserver], &Planned::default(), &inv);
    assert_eq!(
        of(&problems, Check::Image),
        [
            (
                "spec.containers[0].image".into(),
                "registry.k8s.io/etcd:3.5.12-0".into()
            ),
            (
                "spec.containers[0].image".into(),
                "registry.k8s.io/kube-apiserver:v1.30.0".into()
            ),
        ],
        "{problems:#?}"
    );
    assert!(
        problems[0]
            .found
            .contains("docker.io/library/etcd:3.4.23-0")
            || problems[0].found.contains("etcd:3.4.23-0 (etcd.tar)"),
        "{}",
        problems[0]
    );
    // By tag or by digest, as baked; or served by the registry.
    let by_digest = pod(manifest(
        "kube-apiserver",
        "registry.k8s.io/kube-apiserver@sha256:ab",
        &["kube-apiserver"],
        json!([]),
        json!([]),
    ));
    api.names.push("mk.invalid/other:1".into());
    inv.images = Some(vec![api]);
    inv.registry.insert("registry.k8s.io/etcd:3.5.12-0".into());
    assert_eq!(check(&[etcd, by_digest], &Planned::default(), &inv), []);
    // No archives at all: the images come from the registry; nothing to say.
    let inv = var_lib_etcd();
    let other = etcd_pod("registry.k8s.io/etcd:9", "etcdctl");
    assert_eq!(check(&[other], &Planned::default(), &inv), []);
}

/// Item 6: `exec: "etcdctl": executable file not found in $PATH`.
#[test]
fn probe_commands_must_be_in_the_image() {
    let pods = [etcd_pod("registry.k8s.io/etcd:3.5.12-0", "etcdctl")];
    let mut inv = var_lib_etcd();
    inv.images = Some(vec![etcd_image(&[("usr/bin/etcd", exe())], &[])]);
    let problems = check(&pods, &Planned::default(), &inv);
    assert_eq!(
        of(&problems, Check::Probe),
        [(
            "spec.containers[0].livenessProbe.exec.command[0]".into(),
            "etcdctl".into()
        )]
    );
    assert!(
        problems[0]
            .found
            .contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "{}",
        problems[0]
    );
    // CentOS: /bin -> usr/bin, and the image's PATH names only /bin.
    inv.images = Some(vec![etcd_image(
        &[
            ("usr/bin/etcdctl", exe()),
            ("bin", Member::Entry(Entry::Symlink("usr/bin".into()))),
        ],
        &["PATH=/bin"],
    )]);
    assert_eq!(check(&pods, &Planned::default(), &inv), []);
    // There, but not executable.
    inv.images = Some(vec![etcd_image(
        &[(
            "usr/bin/etcdctl",
            Member::Entry(Entry::Node(Kind::File { mode: 0o644 })),
        )],
        &[],
    )]);
    let problems = check(&pods, &Planned::default(), &inv);
    assert!(
        problems.len() == 1 && problems[0].found.contains("not executable"),
        "{problems:#?}"
    );
    // An absolute command is looked up as given.
    let abs = [etcd_pod("registry.k8s.io/etcd:3.5.12-0", "/opt/etcdctl")];
    inv.images = Some(vec![etcd_image(&[("usr/bin/etcdctl", exe())], &[])]);
    assert_eq!(
        of(&check(&abs, &Planned::default(), &inv), Check::Probe).len(),
        1
    );
}

/// Item 5: `conflicting environment variable "ETCD_DATA_DIR" is shadowed
/// by corresponding command-line flag`.
#[test]
fn environment_must_not_set_what_flags_set() {
    let pods = [etcd_pod("registry.k8s.io/etcd:3.5.12-0", "etcdctl")];
    let mut inv = var_lib_etcd();
    inv.images = Some(vec![etcd_image(
        &[("usr/bin/etcdctl", exe())],
        &[
            "PATH=/usr/bin",
            "ETCD_DATA_DIR=/var/lib/etcd",
            "ETCD_UNRELATED=1",
        ],
    )]);
    let problems = check(&pods, &Planned::default(), &inv);
    assert_eq!(
        of(&problems, Check::Env),
        [(
            "spec.containers[0].command[1]".into(),
            "--data-dir=/var/lib/etcd".into()
        )],
        "{problems:#?}"
    );
    assert!(
        problems[0].found.contains("ETCD_DATA_DIR") && problems[0].expected.contains("flags only"),
        "{}",
        problems[0]
    );
    assert_eq!(
        mk_preflight::images::env_for_flag("etcd", "initial-cluster-state").as_deref(),
        Some("ETCD_INITIAL_CLUSTER_STATE")
    );
    assert_eq!(
        mk_preflight::images::env_for_flag("kube-apiserver", "x"),
        None
    );
    // The container's own env counts too, with or without a baked image.
    let mut m = etcd_pod("registry.k8s.io/etcd:3.5.12-0", "etcdctl").manifest;
    m["spec"]["containers"][0]["env"] = json!([{ "name": "ETCD_NAME", "value": "x" }]);
    let problems = check(&[pod(m)], &Planned::default(), &var_lib_etcd());
    assert_eq!(
        of(&problems, Check::Env),
        [("spec.containers[0].command[2]".into(), "--name=cp1".into())]
    );
}

/// Item 10: no /etc/hosts or /etc/resolv.conf in the image.
#[test]
fn host_network_pods_need_the_nodes_hosts_and_resolv_conf() {
    let pods = [etcd_pod("registry.k8s.io/etcd:3.5.12-0", "etcdctl")];
    let mut inv = var_lib_etcd();
    inv.host_network_files = BTreeMap::from([
        ("/etc/hosts".to_string(), HostPath::missing(false)),
        // A link to NetworkManager's copy under /run: made at boot.
        ("/etc/resolv.conf".to_string(), HostPath::missing(true)),
    ]);
    let problems = check(&pods, &Planned::default(), &inv);
    assert_eq!(
        of(&problems, Check::HostPath),
        [("spec.hostNetwork".into(), "/etc/hosts".into())]
    );
    inv.host_network_files.insert(
        "/etc/hosts".into(),
        HostPath::present(Kind::File { mode: 0o644 }),
    );
    assert_eq!(check(&pods, &Planned::default(), &inv), []);
}

#[test]
fn the_sample_control_plane_needs_its_etcd_image_files() {
    let plan = mk_preflight::sample::plan("1.30", Default::default()).unwrap();
    let (pods, planned) = mk_preflight::pods::from_plan(&plan).unwrap();
    let needs = mk_preflight::inventory::needs(&pods, &planned, &BTreeMap::new());
    assert!(
        needs.image_files.contains("registry.k8s.io/etcd:3.5.12-0"),
        "{needs:#?}"
    );
    assert!(needs.host_paths.contains("/var/lib/etcd"), "{needs:#?}");
    // Every kubeconfig the pods name is one first boot writes.
    assert!(needs.kubeconfigs.is_empty(), "{needs:#?}");
}
