//! Test material: certificates and keys made by the real `openssl` tool (so
//! the PEM we check is what a site's tools produce), and a valid
//! single-server config to break one field at a time.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use mk_roleconfig::time::{Duration, OffsetDateTime};
use mk_roleconfig::{parse_node_config, NodeConfig};

pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is openssl installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed Ed25519 certificate and its key (PKCS#8), valid `days`
/// from the real now, with the given subjectAltName (`DNS:a,IP:1.2.3.4`).
pub fn cert(dir: &Path, name: &str, days: u32, san: &str) -> (String, String) {
    let key = dir.join(format!("{name}.key"));
    let crt = dir.join(format!("{name}.crt"));
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-new", "-key"])
        .arg(&key)
        .args(["-subj", &format!("/CN={name}"), "-days", &days.to_string()])
        .arg("-out")
        .arg(&crt);
    if !san.is_empty() {
        cmd.args(["-addext", &format!("subjectAltName={san}")]);
    }
    run(&mut cmd);
    (
        std::fs::read_to_string(crt).unwrap(),
        std::fs::read_to_string(key).unwrap(),
    )
}

pub fn public_key(dir: &Path, name: &str) -> String {
    let key = dir.join(format!("{name}.key"));
    let out = dir.join(format!("{name}.pub"));
    run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&out));
    std::fs::read_to_string(out).unwrap()
}

/// What a control plane needs, kubeadm-style names, mk's intermediates,
/// valid for 30 days.
pub fn control_plane_certificates(dir: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for ca in ["ca", "etcd/ca", "front-proxy-ca"] {
        let flat = ca.replace('/', "-");
        let (root, _) = cert(dir, &format!("{flat}-root"), 30, "");
        let (crt, key) = cert(dir, &format!("{flat}-int"), 30, "");
        m.insert(format!("{ca}.crt"), root);
        m.insert(format!("{ca}-intermediate.crt"), crt);
        m.insert(format!("{ca}-intermediate.key"), key);
    }
    let (crt, key) = cert(
        dir,
        "apiserver",
        7,
        "DNS:cp1.example.com,DNS:api.example.com",
    );
    m.insert("apiserver.crt".into(), crt);
    m.insert("apiserver.key".into(), key);
    let (_, sa) = cert(dir, "sa", 1, "");
    m.insert("sa.pub".into(), public_key(dir, "sa"));
    m.insert("sa.key".into(), sa);
    m
}

pub const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/role-config.md");
pub const EXAMPLE_LIST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/site/node-config.yaml"
);

/// The first ```yaml block of docs/role-config.md: the annotated
/// single-server example.
pub fn doc_example() -> String {
    let doc = std::fs::read_to_string(DOC).unwrap();
    let start = doc.find("```yaml\n").expect("a yaml block in the doc") + 8;
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_string()
}

/// The doc's example with generated certificates filled in: valid now.
pub fn single_server(dir: &Path) -> NodeConfig {
    let mut cfg = parse_node_config(doc_example().as_bytes(), "role-config.md").unwrap();
    cfg.spec.certificates = control_plane_certificates(dir);
    cfg
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}
