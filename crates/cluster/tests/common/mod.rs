//! What both judgements of mk-cluster's objects need: the kubeadm 1.28.7
//! reference data set (../shared beside the checkout, as CI has it), the
//! role config equivalent to its kubeadm.yaml, and kubernetes-validate
//! (PyPI).

#![allow(dead_code)] // each test binary uses part of it

use std::path::{Path, PathBuf};
use std::process::Command;

use mk_roleconfig::NodeConfig;
use serde_json::Value;

/// `../shared/reference/kubeadm-1.28.7`.
pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/kubeadm-1.28.7")
}

/// The reference run's kubeadm.yaml as a role config: cluster lab, domain
/// example.com, API api.example.com:6443, node cp1.example.com, pods
/// 192.168.0.0/16, services 10.96.0.0/12, Kubernetes 1.28 (= v1.28.7).
/// 198.18.0.0/24 holds the reference run's advertise address. `cluster`
/// goes on inside spec.cluster (lines indented 4 spaces); `rest` follows
/// spec.planes.control (4 spaces: more planes; 2: more of spec).
pub fn reference_config_yaml(roles: &str, cluster: &str, rest: &str) -> String {
    format!(
        "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata:
  name: cp1.example.com
spec:
  roles: [{roles}]
  cluster:
    name: lab
    domain: example.com
    apiEndpoint:
      dnsName: api.example.com
      port: 6443
    kubernetesVersion: \"1.28\"
    podCIDR: 192.168.0.0/16
    serviceCIDR: 10.96.0.0/12
{cluster}  planes:
    control: {{cidr: 198.18.0.0/24}}
{rest}"
    )
}

/// A test's role config, which must parse.
pub fn parse_config(yaml: &str) -> NodeConfig {
    mk_roleconfig::parse_node_config(yaml.as_bytes(), "test.yaml").expect("test config parses")
}

/// An object kubeadm created, from `api/FILE`.
pub fn read_reference(file: &str) -> Value {
    let path = reference_dir().join("api").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the reference data set, ../shared)",
            path.display()
        )
    });
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// `kubernetes-validate --strict` for Kubernetes 1.28 over `objects`, one
/// file each: whether all passed, and what it said.
pub fn kubernetes_validate(objects: &[Value]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let f = dir.path().join(format!("{i:02}.yaml"));
            std::fs::write(&f, serde_norway::to_string(o).unwrap()).unwrap();
            f
        })
        .collect();
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.28.0"])
        .args(&files)
        .output()
        .expect("kubernetes-validate (PyPI) on PATH");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
