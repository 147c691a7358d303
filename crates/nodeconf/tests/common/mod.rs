//! Role configs, host facts and a plan writer shared by the tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mk_nodeconf::{Action, HostFacts, Plan};
use mk_roleconfig::NodeConfig;

pub const DOMAIN: &str = "example.test";
pub const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
/// 32 bytes, base64: a test key, never a real one.
pub const ENC_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// The control-plane node most tests plan for.
pub const CP: &str = "cp1.example.test";
/// [`CP`]'s planes: control and etcd on one network, workload on another.
pub const PLANES: (&str, Option<&str>, Option<&str>) =
    ("10.0.1.0/24", Some("10.0.2.0/24"), Some("10.0.1.0/24"));
/// The control plane's static pods (`/etc/kubernetes/manifests/NAME.yaml`).
pub const CONTROL_PLANE_PODS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// A role config for `name` with `roles`, planes as given (control,
/// workload, etcd), and `certs` as `spec.certificates`.
pub fn config(
    name: &str,
    roles: &[&str],
    planes: (&str, Option<&str>, Option<&str>),
    certs: BTreeMap<String, String>,
) -> NodeConfig {
    let cp = roles.iter().any(|r| r.contains("control-plane"));
    let mut y = format!(
        "apiVersion: mk.dev/v1alpha1\nkind: NodeConfig\nmetadata:\n  name: {name}\nspec:\n  roles: [{}]\n  cluster:\n    name: lab\n    domain: {DOMAIN}\n    apiEndpoint:\n      dnsName: api.{DOMAIN}\n  planes:\n    control: {{cidr: {}}}\n",
        roles.join(", "),
        planes.0
    );
    if let Some(w) = planes.1 {
        y.push_str(&format!("    workload: {{cidr: {w}}}\n"));
    }
    if let Some(e) = planes.2 {
        y.push_str(&format!("    etcd: {{cidr: {e}}}\n"));
    }
    y.push_str(
        "  labels:\n    topology.kubernetes.io/zone: rack1\n    node-role.kubernetes.io/edge: \"\"\n    example.test/tier: gold\n",
    );
    if cp {
        y.push_str(&format!(
            "  encryptionAtRest:\n    provider: secretbox\n    keys:\n      - name: k1\n        secret: {ENC_KEY}\n  auth:\n    oidc:\n      issuerURL: https://sso.{DOMAIN}/realms/lab\n      clientID: kubernetes\n      groupsClaim: groups\n    staticUsers:\n      - name: ops\n        groups: [ops, kubeadm:cluster-admins]\n        token: abcdefghijklmnopqrstuvwxyz0123456789ABCD\n"
        ));
    } else {
        y.push_str("  join:\n    token: abcdef.0123456789abcdef\n");
    }
    let mut c =
        mk_roleconfig::parse_node_config(y.as_bytes(), "test.yaml").expect("test config parses");
    c.spec.certificates = certs;
    c
}

/// A self-signed P-256 test certificate (`CN=system:node:cp1.example.test`,
/// never a real one): the kubelet's files are named after their notBefore,
/// so the planner parses them.
pub const KUBELET_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIB0TCCAXegAwIBAgIUQqJ1/6JZr/5Yvr5+/PGbuG6XFxEwCgYIKoZIzj0EAwIw
PjEVMBMGA1UECgwMc3lzdGVtOm5vZGVzMSUwIwYDVQQDDBxzeXN0ZW06bm9kZTpj
cDEuZXhhbXBsZS50ZXN0MB4XDTI2MTIwNzA2NTExOVoXDTI2MTIxNDA2NTExOVow
PjEVMBMGA1UECgwMc3lzdGVtOm5vZGVzMSUwIwYDVQQDDBxzeXN0ZW06bm9kZTpj
cDEuZXhhbXBsZS50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGvFxnAxQ
0AtPvo1SKGVWMVz2J0ym7RqG/R4BgXM901vPpvq+zBj2bKlgLbkdTq3CCNQe1mQb
vKRPLow6njY0HqNTMFEwHQYDVR0OBBYEFGaJ4yjYJsXTUetU98q9BJCf9ioFMB8G
A1UdIwQYMBaAFGaJ4yjYJsXTUetU98q9BJCf9ioFMA8GA1UdEwEB/wQFMAMBAf8w
CgYIKoZIzj0EAwIDSAAwRQIgK+KpqJgG+HguLpOdNZup1u0CzG9hddmixhMF5jJH
jPUCIQDhX70Ja3hPUFf7HrE1sGOC41Q1hyuYX/i2HOcZ2nHTCw==
-----END CERTIFICATE-----
";
/// [`KUBELET_CERT`]'s key.
pub const KUBELET_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgThV4HK7n1bTwijNl
c6lnjssrEAEeNHNGSTFTLL5AidKhRANCAAQa8XGcDFDQC0++jVIoZVYxXPYnTKbt
Gob9HgGBcz3TW8+m+r7MGPZsqWAtuR1OrcII1B7WZBu8pE8ujDqeNjQe
-----END PRIVATE KEY-----
";
/// [`KUBELET_CERT`]'s notBefore as the kubelet stamps file names.
pub const KUBELET_STAMP: &str = "2026-12-07-06-51-19";

/// Placeholder PEM for pure tests: the planner copies certificates and
/// reads only the dates of the kubelet's ([`KUBELET_CERT`], 7 days).
pub fn fake_certs(control_plane: bool) -> BTreeMap<String, String> {
    let mut names: Vec<&str> = vec!["ca.crt", "kubelet/kubelet-client-current.pem"];
    if control_plane {
        names.extend([
            "etcd/ca.crt",
            "front-proxy-ca.crt",
            "kubelet-serving-ca.crt",
            "registry-ca.crt",
            "ca-intermediate.crt",
            "ca-intermediate.key",
            "etcd/ca-intermediate.crt",
            "etcd/ca-intermediate.key",
            "front-proxy-ca-intermediate.crt",
            "front-proxy-ca-intermediate.key",
            "kubelet-serving-ca-intermediate.crt",
            "kubelet-serving-ca-intermediate.key",
            "apiserver.crt",
            "apiserver.key",
            "apiserver-kubelet-client.crt",
            "apiserver-kubelet-client.key",
            "apiserver-etcd-client.crt",
            "apiserver-etcd-client.key",
            "front-proxy-client.crt",
            "front-proxy-client.key",
            "controller-manager.crt",
            "controller-manager.key",
            "scheduler.crt",
            "scheduler.key",
            "admin.crt",
            "admin.key",
            "etcd/server.crt",
            "etcd/server.key",
            "etcd/peer.crt",
            "etcd/peer.key",
            "etcd/healthcheck-client.crt",
            "etcd/healthcheck-client.key",
            "sa.key",
            "sa.pub",
            "kubelet/kubelet.crt",
            "kubelet/kubelet.key",
        ]);
    }
    names
        .into_iter()
        .map(|n| {
            match n {
                "kubelet/kubelet-client-current.pem" => {
                    return (n.to_string(), format!("{KUBELET_CERT}{KUBELET_KEY}"))
                }
                "kubelet/kubelet.crt" => return (n.to_string(), KUBELET_CERT.to_string()),
                "kubelet/kubelet.key" => return (n.to_string(), KUBELET_KEY.to_string()),
                _ => {}
            }
            let tag = if n.ends_with(".key") {
                "PRIVATE KEY"
            } else if n == "sa.pub" {
                "PUBLIC KEY"
            } else {
                "CERTIFICATE"
            };
            (
                n.to_string(),
                format!(
                    "-----BEGIN {tag}-----\nAAAA{}\n-----END {tag}-----\n",
                    n.len()
                ),
            )
        })
        .collect()
}

/// [`CP`] as bootstrap control plane and worker on [`PLANES`], with
/// placeholder certificates.
pub fn cp_config() -> NodeConfig {
    config(
        CP,
        &["bootstrap-control-plane", "worker"],
        PLANES,
        fake_certs(true),
    )
}

pub fn facts(addrs: &[&str]) -> HostFacts {
    HostFacts {
        addresses: addrs.iter().map(|a| a.parse::<IpAddr>().unwrap()).collect(),
        ..HostFacts::default()
    }
}

/// A CentOS 7 host's CA-trust directories (`ca-certificates` ships
/// /etc/pki and the /etc/ssl/certs link).
pub fn centos_trust_dirs() -> Vec<String> {
    vec!["/etc/ssl/certs".into(), "/etc/pki".into()]
}

/// The steps whose input digest differs between two plans, by name.
pub fn changed_steps<'a>(before: &'a Plan, after: &Plan) -> Vec<&'a str> {
    before
        .steps
        .iter()
        .zip(&after.steps)
        .filter(|(a, b)| a.input_digest != b.input_digest)
        .map(|(a, _)| a.name.as_str())
        .collect()
}

/// Every file the plan writes: path -> contents.
pub fn files(plan: &Plan) -> BTreeMap<String, (Vec<u8>, u32, mk_nodeconf::Owner, String)> {
    let mut m = BTreeMap::new();
    for s in &plan.steps {
        for a in &s.actions {
            if let Action::WriteFile {
                path,
                contents,
                mode,
                owner,
            } = a
            {
                m.insert(
                    path.clone(),
                    (contents.clone(), *mode, *owner, s.name.clone()),
                );
            }
        }
    }
    m
}

/// Every link the plan makes: path -> target.
pub fn links(plan: &Plan) -> BTreeMap<String, String> {
    plan.steps
        .iter()
        .flat_map(|s| &s.actions)
        .filter_map(|a| match a {
            Action::Symlink { path, target } => Some((path.clone(), target.clone())),
            _ => None,
        })
        .collect()
}

pub fn text(plan: &Plan, path: &str) -> String {
    let f = files(plan);
    let (c, ..) = f
        .get(path)
        .unwrap_or_else(|| panic!("plan writes no {path}"));
    String::from_utf8(c.clone()).unwrap()
}

/// Writes the plan's directories and files under `root`, with the plan's
/// modes, and its owners when `chown` (needs root). Users and groups are
/// not created: owners are numeric.
pub fn write_plan(plan: &Plan, root: &Path, chown: bool) {
    let under = |p: &str| -> PathBuf { root.join(p.trim_start_matches('/')) };
    for s in &plan.steps {
        for a in &s.actions {
            match a {
                Action::EnsureDir { path, mode, owner } => {
                    let d = under(path);
                    std::fs::create_dir_all(&d).unwrap();
                    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(*mode)).unwrap();
                    if chown {
                        std::os::unix::fs::chown(&d, Some(owner.uid), Some(owner.gid)).unwrap();
                    }
                }
                Action::WriteFile {
                    path,
                    contents,
                    mode,
                    owner,
                } => {
                    let f = under(path);
                    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                    std::fs::write(&f, contents).unwrap();
                    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(*mode)).unwrap();
                    if chown {
                        std::os::unix::fs::chown(&f, Some(owner.uid), Some(owner.gid)).unwrap();
                    }
                }
                Action::Symlink { path, target } => {
                    // The target as planned (absolute on the node): read
                    // the plan's files through `files`, not through links.
                    let l = under(path);
                    std::fs::create_dir_all(l.parent().unwrap()).unwrap();
                    std::os::unix::fs::symlink(target, &l).unwrap();
                }
                Action::EnsureGroup { .. } | Action::EnsureUser { .. } => {}
            }
        }
    }
}

/// The container command of a static pod manifest (YAML after the header).
pub fn pod_command(manifest: &str) -> Vec<String> {
    let v: serde_json::Value = serde_norway::from_str(manifest).expect("manifest is YAML");
    v["spec"]["containers"][0]["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

pub fn pod(manifest: &str) -> serde_json::Value {
    serde_norway::from_str(manifest).expect("manifest is YAML")
}
