//! Test set-up (feature `testing`), shared by the crates whose tests run
//! real etcd: real etcd (Debian etcd-server 3.4) members on 127.0.N.x,
//! known by DNS names only, with certificates issued by mk-pki exactly as
//! a node gets them. Names resolve through a private /etc/hosts: the test re-runs
//! itself inside a new mount namespace where a scratch hosts file is bound
//! over /etc/hosts ([`in_namespace`]); the etcd processes it starts inherit
//! that namespace, and the client under test resolves names through glibc
//! as on a node. Needs root, etcd, etcdctl, unshare, mount.
//!
//! Each test takes its own `net` (127.0.`net`.x): tests of all crates run
//! in parallel. Taken: 61-63 (mk-etcdmember), 64-69 (mk-etcdbackup,
//! mk-rollout), 70 (mk-etcdmember's benchmark).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Client, Credentials, Member, Node};
use mk_pki::config::{ClusterConfig, NodeSpec, Role};
use mk_pki::store::PkiDir;
use mk_pki::Realm;
use time::OffsetDateTime;

pub const DOMAIN: &str = "example.test";
const PASSWORD: &[u8] = b"s3cret root password";
/// Carries `net` into the namespace.
const NET: &str = "MK_ETCDMEMBER_NET";

pub fn name(i: usize) -> String {
    format!("cp{i}.{DOMAIN}")
}

pub fn peer_url(i: usize) -> String {
    format!("https://{}:2380", name(i))
}

/// Runs the calling test inside a mount namespace with a hosts file naming
/// cp1..cp5 on 127.0.`net`.2..6 (one `net` per test: tests run in
/// parallel). Returns true inside (run the test body), false outside after
/// the inner run passed.
pub fn in_namespace(test: &str, net: u8) -> bool {
    if mk_testns::inside() {
        return true;
    }
    assert!(
        Command::new("etcd").arg("--version").output().is_ok(),
        "etcd must be installed (Debian etcd-server)"
    );
    namespace(net).run_test(test)
}

/// The namespace of `net` (a benchmark runs itself in it, with its own
/// arguments).
pub fn namespace(net: u8) -> mk_testns::Namespace {
    mk_testns::Namespace::new(hosts(net)).env(NET, net.to_string())
}

/// The hosts file of a namespace: cp1..cp5 on 127.0.`net`.2..6.
fn hosts(net: u8) -> String {
    let mut h = String::from("127.0.0.1 localhost\n");
    for i in 1..=5 {
        h.push_str(&format!("127.0.{net}.{} {}\n", i + 1, name(i)));
    }
    h
}

/// This namespace's `net`, inside.
pub fn net() -> u8 {
    std::env::var(NET).unwrap().parse().unwrap()
}

pub fn ip(i: usize) -> String {
    format!("127.0.{}.{}", net(), i + 1)
}

/// The PKI, each node's root as `pki issue-node` writes it, and the etcd
/// processes (killed on drop, as a power cut would).
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub roots: Vec<PathBuf>,
    pub procs: Vec<Option<Child>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.procs.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    /// Certificates for cp1..cp`n` (control-plane + etcd roles).
    pub fn new(n: usize, ed25519: bool) -> Cluster {
        let now = OffsetDateTime::now_utc() - time::Duration::hours(1);
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ClusterConfig::new(DOMAIN);
        cfg.api_endpoint = Some(format!("api.{DOMAIN}"));
        cfg.ed25519_where_supported = ed25519;
        let pki_dir = dir.path().join("pki");
        PkiDir::init(&pki_dir, &cfg, &Realm::ALL, PASSWORD, now).unwrap();
        let pki = PkiDir::open(&pki_dir).unwrap();
        let mut roots = Vec::new();
        for i in 1..=n {
            let spec = NodeSpec {
                name: name(i),
                cluster_domain: DOMAIN.into(),
                dns_names: vec![],
                roles: vec![Role::ControlPlane, Role::Etcd],
            };
            for r in mk_pki::plan::plan_node(&pki.config, &spec).realms() {
                pki.intermediate(&spec.name, r, PASSWORD, now, None)
                    .unwrap();
            }
            let out = dir.path().join("out").join(&spec.name);
            pki.issue_node(&spec, "node.yaml", &out, now).unwrap();
            roots.push(out);
        }
        Cluster {
            dir,
            roots,
            procs: (0..n).map(|_| None).collect(),
        }
    }

    pub fn pki(&self, i: usize) -> PathBuf {
        self.roots[i - 1].join("etc/kubernetes/pki")
    }

    /// The apiserver's etcd client identity of node `i`, as mk-firstboot
    /// picks it.
    pub fn credentials(&self, i: usize) -> Credentials {
        let p = self.pki(i);
        let read = |f: &str| std::fs::read_to_string(p.join(f)).unwrap();
        Credentials {
            origin: p.display().to_string(),
            ca_pem: read("etcd/ca.crt"),
            cert_pem: read("apiserver-etcd-client.crt"),
            key_pem: read("apiserver-etcd-client.key"),
        }
    }

    pub fn client(&self, i: usize) -> Client {
        Client::new(&self.credentials(i)).unwrap()
    }

    fn log(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("etcd{i}.log"))
    }

    pub fn logs(&self) -> String {
        (1..=self.roots.len())
            .map(|i| {
                format!(
                    "--- cp{i} ---\n{}",
                    std::fs::read_to_string(self.log(i)).unwrap_or_default()
                )
            })
            .collect()
    }

    /// Starts member `i` with `--initial-cluster` `initial` (`name=url`).
    pub fn start(&mut self, i: usize, initial: &str, state: &str) {
        let data = self.dir.path().join(format!("data{i}"));
        self.start_on(i, &data, initial, state);
    }

    /// Starts member `i` on the data directory `data` (one restored from a
    /// snapshot, say: then the `--initial-cluster*` flags are ignored).
    pub fn start_on(&mut self, i: usize, data: &Path, initial: &str, state: &str) {
        let p = self.pki(i).join("etcd");
        let ip = ip(i);
        let n = name(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(i))
            .unwrap();
        let args = format!(
            "--name {n} --data-dir {d} \
             --listen-peer-urls https://{ip}:2380 --listen-client-urls https://{ip}:2379 \
             --initial-advertise-peer-urls https://{n}:2380 --advertise-client-urls https://{n}:2379 \
             --initial-cluster {initial} --initial-cluster-state {state} --initial-cluster-token mk-test \
             --cert-file {p}/server.crt --key-file {p}/server.key --client-cert-auth --trusted-ca-file {p}/ca.crt \
             --peer-cert-file {p}/peer.crt --peer-key-file {p}/peer.key --peer-client-cert-auth \
             --peer-trusted-ca-file {p}/ca.crt --log-level warn",
            d = data.display(),
            p = p.display()
        );
        let child = Command::new("etcd")
            .args(args.split_whitespace())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd");
        self.procs[i - 1] = Some(child);
    }

    /// The first member: a new cluster of itself, serving within 30 s.
    pub fn bootstrap(&mut self, i: usize) {
        self.start(i, &format!("{}={}", name(i), peer_url(i)), "new");
        let c = self.client(i);
        let ep = format!("{}:2379", name(i));
        self.wait(30, "bootstrap member serves", || {
            c.put(&ep, b"bootstrap", b"1").is_ok()
        });
    }

    /// Puts `n` keys `<prefix><index, 6 digits>` with values of `len`
    /// bytes through member `i`'s gateway, 128 to a transaction (etcd's
    /// default `--max-txn-ops`).
    pub fn put_keys(&self, i: usize, prefix: &str, n: usize, len: usize) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let c = self.client(i).with_timeout(Duration::from_secs(30));
        let ep = format!("{}:2379", name(i));
        let keys: Vec<usize> = (0..n).collect();
        for batch in keys.chunks(128) {
            let ops: Vec<serde_json::Value> = batch
                .iter()
                .map(|k| {
                    let value: Vec<u8> = (0..len).map(|j| ((k * 31 + j * 7) % 251) as u8).collect();
                    serde_json::json!({ "requestPut": {
                        "key": b64.encode(format!("{prefix}{k:06}")),
                        "value": b64.encode(value),
                    } })
                })
                .collect();
            c.post(&ep, "/v3/kv/txn", &serde_json::json!({ "success": ops }))
                .unwrap_or_else(|e| panic!("put {prefix}*: {e}\n{}", self.logs()));
        }
    }

    /// SIGKILL, as a power cut.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i - 1].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn wait(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            if start.elapsed() > Duration::from_secs(secs) {
                panic!("{what}: not within {secs} s\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `etcdctl` with node `i`'s healthcheck-client identity.
    pub fn etcdctl(&self, i: usize, endpoint: usize, args: &str) -> (bool, String) {
        let p = self.pki(i).join("etcd");
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--dial-timeout=3s",
                "--command-timeout=5s",
                &format!("--endpoints=https://{}:2379", name(endpoint)),
                &format!("--cacert={}/ca.crt", p.display()),
                &format!("--cert={}/healthcheck-client.crt", p.display()),
                &format!("--key={}/healthcheck-client.key", p.display()),
            ])
            .args(args.split_whitespace())
            .output()
            .expect("etcdctl");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// The role config's `etcdEndpoints` for members 1..=n.
pub fn endpoints(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{}:2379", name(i))).collect()
}

/// `--initial-cluster` as the etcd manifest plans it for a joining control
/// plane (crates/nodeconf/src/steps/staticpods.rs): this node, then every
/// other member by name.
pub fn initial_cluster(me: usize, members: &[Member]) -> String {
    let mut v = vec![(name(me), peer_url(me))];
    for m in members {
        if m.name != name(me) && !m.name.is_empty() {
            v.push((m.name.clone(), m.peer_urls[0].clone()));
        }
    }
    v.sort();
    v.iter()
        .map(|(n, u)| format!("{n}={u}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The whole path of a joining control plane: add as learner through the
/// configured endpoints, start etcd with `initial-cluster-state=existing`,
/// wait until caught up, promote. Returns the time from the add to the
/// promotion.
pub fn join_fully(c: &mut Cluster, me: usize, endpoints: &[String]) -> Duration {
    let client = c.client(me);
    let (n, u) = (name(me), peer_url(me));
    let node = Node {
        name: &n,
        peer_url: &u,
    };
    let start = Instant::now();
    let joined = crate::join(&client, endpoints, node, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("join cp{me}: {e}\n{}", c.logs()));
    c.start(me, &initial_cluster(me, &joined.members), "existing");
    let p = crate::promote_when_caught_up(
        &client,
        endpoints,
        node,
        Duration::from_secs(60),
        Duration::from_millis(50),
    )
    .unwrap_or_else(|e| panic!("promote cp{me}: {e}\n{}", c.logs()));
    assert!(matches!(p, crate::Promotion::Promoted { .. }), "{p:?}");
    start.elapsed()
}
