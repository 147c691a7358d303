//! A real PKI in a scratch directory: roots, intermediates and node bundles
//! made through the public API exactly as `mk-compose pki` makes them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use mk_pki::config::{ClusterConfig, NodeSpec, Role};
use mk_pki::store::PkiDir;
use mk_pki::Realm;
use time::OffsetDateTime;

pub const PASSWORD: &[u8] = b"s3cret root password";
pub const DOMAIN: &str = "example.test";

pub fn node(name: &str, roles: &[Role]) -> NodeSpec {
    NodeSpec {
        name: format!("{name}.{DOMAIN}"),
        cluster_domain: DOMAIN.into(),
        dns_names: vec![],
        roles: roles.to_vec(),
    }
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub pki: PkiDir,
}

impl Fixture {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Intermediates for every realm the node's plan needs, then its bundle
    /// under `<tmp>/out/<name>`.
    pub fn issue(&self, n: &NodeSpec, now: OffsetDateTime) -> PathBuf {
        let plan = mk_pki::plan::plan_node(&self.pki.config, n);
        for r in plan.realms() {
            self.pki
                .intermediate(&n.name, r, PASSWORD, now, None)
                .unwrap();
        }
        let out = self.dir.path().join("out").join(&n.name);
        self.pki.issue_node(n, "node.yaml", &out, now).unwrap();
        out
    }
}

pub fn fixture(cfg: ClusterConfig, now: OffsetDateTime) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    PkiDir::init(&pki_dir, &cfg, &Realm::ALL, PASSWORD, now).unwrap();
    let pki = PkiDir::open(&pki_dir).unwrap();
    Fixture { dir, pki }
}

pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed (Debian package openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every file under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            } else {
                out.push(e.path().strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut v = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut v);
    }
    v.sort();
    v
}

/// Path, size and content of every file: to prove nothing changed.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .map(|p| {
            let c = std::fs::read(dir.join(&p)).unwrap();
            (p, c)
        })
        .collect()
}

pub fn der_certs(pem_text: &str) -> Vec<Vec<u8>> {
    pem::parse_many(pem_text)
        .unwrap()
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.contents().to_vec())
        .collect()
}

/// The test cluster with an API endpoint.
pub fn cluster() -> ClusterConfig {
    let mut c = ClusterConfig::new(DOMAIN);
    c.api_endpoint = Some(format!("api.{DOMAIN}"));
    c
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// etcd members, killed on drop: SIGKILL, as a power cut would.
pub struct Members(pub Vec<Child>);

impl Drop for Members {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `sh -c SCRIPT` in a new mount namespace where /etc/hosts is `hosts`.
pub fn in_ns(hosts: &Path, script: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind {} /etc/hosts && exec {script}",
            hosts.display()
        ));
    c
}

/// The command line of etcd member `name` (reached as `name`, listening on
/// `ip`) with its data in `data` and our certificates from `pki`, peer and
/// client mTLS, in a new cluster of `initial` (`name=https://name:2380`).
pub fn etcd_member(
    name: &str,
    ip: &str,
    data: &Path,
    pki: &Path,
    initial: &[String],
    token: &str,
) -> String {
    format!(
        "etcd --name {name} --data-dir {d} \
         --listen-peer-urls https://{ip}:2380 --listen-client-urls https://{ip}:2379 \
         --initial-advertise-peer-urls https://{name}:2380 --advertise-client-urls https://{name}:2379 \
         --initial-cluster {ic} --initial-cluster-state new --initial-cluster-token {token} \
         --cert-file {p}/server.crt --key-file {p}/server.key --client-cert-auth --trusted-ca-file {p}/ca.crt \
         --peer-cert-file {p}/peer.crt --peer-key-file {p}/peer.key --peer-client-cert-auth --peer-trusted-ca-file {p}/ca.crt \
         --log-level warn",
        d = data.display(),
        ic = initial.join(","),
        p = pki.display()
    )
}
