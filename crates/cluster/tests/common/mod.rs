//! What both judgements of mk-cluster's objects need: the kubeadm 1.28.7
//! reference data set (../shared beside the checkout, as CI has it) and
//! kubernetes-validate (PyPI).

#![allow(dead_code)] // each test binary uses part of it

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `../shared/reference/kubeadm-1.28.7`.
pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/kubeadm-1.28.7")
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
