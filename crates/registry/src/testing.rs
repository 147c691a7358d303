//! Test set-up (feature `testing`), shared by the tests that serve a
//! registry tree with real nginx: this crate's (tests/nginx.rs) and
//! mk-qemu-tests' (tests/registry_mirror.rs, containerd pulling through
//! it). A registry-realm chain from mk-pki as a node has it ([`pki`]) and
//! nginx as a child process with the shipped API rules
//! (overlays/registry/.../registry-api.conf, included verbatim) over TLS
//! ([`Nginx`]). Needs nginx (Debian nginx-light) and root (`user root`:
//! the workers read the test's scratch files).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mk_pki::issue::{self, Ca};
use mk_pki::plan::{LeafSpec, Reload, RenewedBy, Usage};
use mk_pki::{KeyAlgorithm, PrivateKey, Realm};

/// The API rules a node's nginx includes (overlays/registry).
pub const SNIPPET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../overlays/registry/root/etc/nginx/mk-registry/registry-api.conf"
);

/// The files of [`pki`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// The registry realm's root (`cert_dir/ca.crt`): what clients trust,
    /// a node's /etc/kubernetes/pki/registry-ca.crt.
    pub ca: PathBuf,
    /// The server's leaf followed by its intermediate.
    pub chain: PathBuf,
    /// The server's key.
    pub key: PathBuf,
}

/// A registry-realm chain as a node has it: root -> host intermediate
/// (constrained to `host`) -> server leaf for `host` (DNS SAN only, R28).
/// Writes the root to `cert_dir/ca.crt` (skopeo's --cert-dir reads *.crt
/// as CAs) and the server's chain and key to `dir`.
pub fn pki(dir: &Path, cert_dir: &Path, host: &str) -> ServerTls {
    let now = time::OffsetDateTime::now_utc();
    let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let root = issue::root(Realm::Registry, &rk, now, 30).unwrap();
    let root = Ca::new(root, rk, "registry root").unwrap();
    let ik = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let permitted = [host.to_string()];
    let inter =
        issue::intermediate(&root, Realm::Registry, host, Some(&permitted), &ik, now, 7).unwrap();
    let inter = Ca::new(inter, ik, "registry intermediate").unwrap();
    let spec = LeafSpec {
        id: "registry".into(),
        realm: Realm::Registry,
        common_name: host.into(),
        organizations: vec![],
        usages: vec![Usage::ServerAuth],
        dns_names: vec![host.into()],
        ip_addresses: vec![],
        algorithm: KeyAlgorithm::EcdsaP256,
        lifetime_days: 2,
        cert_path: "/etc/kubernetes/pki/registry.crt".into(),
        key_path: "/etc/kubernetes/pki/registry.key".into(),
        renewed_by: RenewedBy::Node,
        reload: Reload::Nothing,
    };
    let lk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let leaf = issue::leaf(&inter, &spec, &lk, now).unwrap();
    assert!(leaf.ip_addresses.is_empty());
    std::fs::create_dir_all(cert_dir).unwrap();
    let ca = cert_dir.join("ca.crt");
    std::fs::write(&ca, root.cert_pem()).unwrap();
    let chain = dir.join("registry.crt");
    let leaf_pem = pem::encode(&pem::Pem::new("CERTIFICATE", leaf.der.clone()));
    std::fs::write(&chain, format!("{leaf_pem}{}", inter.cert_pem())).unwrap();
    let key = dir.join("registry.key");
    std::fs::write(&key, lk.to_pkcs8_pem().as_bytes()).unwrap();
    ServerTls { ca, chain, key }
}

/// nginx as a child process, its own prefix (config, logs, pid); stopped
/// on drop.
pub struct Nginx {
    child: Child,
    /// The server name (and the certificate's).
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its port.
    pub port: u16,
    prefix: PathBuf,
    stopped: bool,
}

impl Nginx {
    /// nginx on 127.0.0.1, a port free at the time of asking, as
    /// `localhost`, serving `tree`.
    pub fn start(prefix: &Path, tree: &Path, tls: &ServerTls) -> Nginx {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        Self::start_on(
            prefix,
            tree,
            tls,
            "localhost",
            ([127, 0, 0, 1], port).into(),
        )
    }

    /// nginx listening on `addr` as server `name`, serving `tree` with the
    /// shipped rules; waits until it accepts connections.
    pub fn start_on(
        prefix: &Path,
        tree: &Path,
        tls: &ServerTls,
        name: &str,
        addr: SocketAddr,
    ) -> Nginx {
        std::fs::create_dir_all(prefix.join("tmp")).unwrap();
        let p = |rel: &str| prefix.join(rel).display().to_string();
        // Only the server block is the test's own: listener, certificate,
        // root; the API rules are the shipped snippet.
        let conf = format!(
            "user root;
worker_processes 1;
error_log {err} info;
pid {pid};
events {{}}
http {{
    access_log {access};
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {addr} ssl;
        server_name {name};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {chain};
        ssl_certificate_key {key};
        root {root};
        include {snippet};
    }}
}}
",
            err = p("error.log"),
            pid = p("nginx.pid"),
            access = p("access.log"),
            tmp = p("tmp"),
            chain = tls.chain.display(),
            key = tls.key.display(),
            root = tree.display(),
            snippet = std::fs::canonicalize(SNIPPET).unwrap().display(),
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting nginx: {e} (is the apt package nginx-light installed?)")
            });
        let mut n = Nginx {
            child,
            name: name.to_string(),
            addr,
            port: addr.port(),
            prefix: prefix.to_path_buf(),
            stopped: false,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = n.child.try_wait().unwrap() {
                panic!("nginx exited with {status}:\n{}", n.error_log());
            }
            if TcpStream::connect(addr).is_ok() {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "nginx not listening on {addr} after 20 s:\n{}",
                n.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
    }

    /// One line per request (nginx's `combined` format: the request line
    /// with its query, the status).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("access.log")).unwrap_or_default()
    }

    /// `https://NAME:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}:{}{path}", self.name, self.port)
    }

    /// `docker://NAME:PORT/` + `reference` (skopeo).
    pub fn docker(&self, reference: &str) -> String {
        format!("docker://{}:{}/{reference}", self.name, self.port)
    }

    /// Stops nginx and waits for it: SIGTERM (the master stops its
    /// workers and exits after them), SIGKILL after 5 s. Once only: the
    /// pid is not signalled again after it was reaped.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The digests of the config and layers of manifest `digest` in an OCI
/// layout.
pub fn manifest_blobs(layout: &Path, digest: &str) -> Vec<String> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap())
            .unwrap();
    let mut v = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    for l in m["layers"].as_array().unwrap() {
        v.push(l["digest"].as_str().unwrap().to_string());
    }
    v
}
