//! A node's containerd pulls from the bundle registry and never from the
//! Internet (R2, R16): real containerd (Debian package, a child process in
//! a scratch root, [`Containerd`]) configured with the `hosts.toml` files
//! mk-nodeconf plans (step `containerd`, one per upstream registry the
//! bundle mirrors), and real nginx serving a tree made by mk-registry from
//! the fixture etcd image over TLS, as `registry.example.test` with a
//! registry-realm certificate from mk-pki (`mk_registry::testing`, the set-up
//! of mk-registry's own nginx test).
//!
//! Names resolve as on a site: the test re-runs itself in new mount and
//! network namespaces ([`in_namespace`]) where a scratch hosts file is bound
//! over /etc/hosts: `registry.example.test` is 127.0.0.1 (nginx on 443),
//! and the upstream names (registry.k8s.io, docker.io, registry-1.docker.io,
//! quay.io) are 127.0.0.9, where a plain TCP listener on 443 and 80 records
//! every connection ([`Upstream`]): a connection there is a pull that would
//! have gone to the Internet. The private network also keeps port 443 free
//! whatever runs on the machine, and has no route out.
//!
//! `ctr images pull --hosts-dir` reads the hosts.toml files with the code
//! containerd's CRI uses for `config_path` (containerd 1.6:
//! `remotes/docker/config`). Asserted:
//! 1. nginx up: `registry.k8s.io/etcd:<tag>` (and the same image as
//!    `docker.io/library/etcd` and `quay.io/coreos/etcd`) pulls through the
//!    mirror with the tree's manifest digest; nginx's access log shows the
//!    manifest and blob GETs for that namespace; the upstream saw nothing.
//! 2. nginx stopped: pulls in every mirrored namespace fail, and the
//!    upstream still saw nothing (the planned `server` is the bundle
//!    registry, not upstream).
//! 3. The control: the same files with the `server` line mk planned before
//!    (`server = "https://registry.k8s.io"` ...) do reach the upstream
//!    listener, so (2) proves something.
//!
//! Needs root, containerd (and ctr), nginx (nginx-light), unshare and mount
//! (util-linux), ip (iproute2), and what the fixture images need
//! (containers.rs).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mk_nodeconf::steps::containerd::{bundle_registry, CERTS_D, MIRRORED, NAME as CONTAINERD_STEP};
use mk_nodeconf::{Action, HostFacts};
use mk_qemu_tests::containerd::{Containerd, K8S_NAMESPACE as NS};
use mk_qemu_tests::*;
use mk_registry::testing::{manifest_blobs, pki, Nginx};
use mk_registry::{write_registry, Image};

const DOMAIN: &str = "example.test";
/// Where the upstream names point: the [`Upstream`] listener.
const UPSTREAM_IP: [u8; 4] = [127, 0, 0, 9];
/// The path the planned hosts.toml files name for the registry CA.
const NODE_CA: &str = "/etc/kubernetes/pki/registry-ca.crt";
/// The fixture etcd image, built outside (the namespace has no network):
/// its layout, tag and manifest digest.
const ETCD_LAYOUT: &str = "MK_QEMU_TESTS_REGISTRY_MIRROR_LAYOUT";
const ETCD_TAG: &str = "MK_QEMU_TESTS_REGISTRY_MIRROR_TAG";
const ETCD_REFERENCE: &str = "MK_QEMU_TESTS_REGISTRY_MIRROR_REFERENCE";
const ETCD_DIGEST: &str = "MK_QEMU_TESTS_REGISTRY_MIRROR_DIGEST";

/// Upstream host names containerd may contact for each mirrored
/// registry (docker.io's API host is registry-1.docker.io), and the
/// `server` line mk planned before the bundle registry became the server.
fn upstream(mirrored: &str) -> (&'static [&'static str], String) {
    match mirrored {
        "registry.k8s.io" => (&["registry.k8s.io"], "https://registry.k8s.io".into()),
        "docker.io" => (
            &["docker.io", "registry-1.docker.io"],
            "https://registry-1.docker.io".into(),
        ),
        "quay.io" => (&["quay.io"], "https://quay.io".into()),
        other => panic!("mk-nodeconf mirrors {other}: add its upstream names to this test"),
    }
}

/// The repository (upstream path) the tree serves the fixture etcd image
/// as, per mirrored registry.
fn repository(mirrored: &str, etcd_repo: &str) -> String {
    match mirrored {
        "registry.k8s.io" => etcd_repo.to_string(),
        "docker.io" => format!("library/{etcd_repo}"),
        "quay.io" => format!("coreos/{etcd_repo}"),
        other => panic!("mk-nodeconf mirrors {other}: add a repository for it to this test"),
    }
}

fn need(tool: &str, args: &[&str], package: &str) {
    let ok = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{tool} {}` does not run: this test needs {tool} (apt package {package}; .ci/setup installs it)",
        args.join(" ")
    );
}

/// Runs `test` inside new mount and network namespaces (loopback up, the
/// hosts file bound over /etc/hosts). Returns true inside (run the test
/// body), false outside after the inner run passed.
fn in_namespace(test: &str) -> bool {
    if mk_testns::inside() {
        return true;
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "this test needs root (namespaces, containerd, nginx on port 443)"
    );
    need("containerd", &["--version"], "containerd");
    need("ctr", &["--version"], "containerd");
    need("nginx", &["-v"], "nginx-light");
    need("unshare", &["--version"], "util-linux");
    need("ip", &["-V"], "iproute2");
    // Built out here: the namespace has no network (the first build of the
    // fixture distribution downloads Debian packages).
    let (_, etcd) = containers::shared_fixture_images();
    let registry = bundle_registry(DOMAIN);
    let up = std::net::Ipv4Addr::from(UPSTREAM_IP);
    let mut hosts = format!("127.0.0.1 localhost {registry}\n");
    for m in MIRRORED {
        for name in upstream(m).0 {
            hosts.push_str(&format!("{up} {name}\n"));
        }
    }
    mk_testns::Namespace::new(hosts)
        .private_network()
        .env(ETCD_LAYOUT, &etcd.layout)
        .env(ETCD_TAG, &etcd.ref_name)
        .env(ETCD_REFERENCE, &etcd.reference)
        .env(ETCD_DIGEST, &etcd.manifest_digest)
        .run_test(test)
}

/// A connection the upstream listener accepted.
#[derive(Debug, Clone)]
struct Seen {
    port: u16,
    /// Upstream names found in the first bytes (a TLS ClientHello carries
    /// the server name in clear).
    names: Vec<String>,
}

/// The "Internet": plain TCP listeners on the upstream address (443 and
/// 80) that record every connection, read what the client sends first,
/// and close it (so a TLS client fails at once instead of waiting).
struct Upstream {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Upstream {
    fn start(names: Vec<String>) -> Upstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for port in [443, 80] {
            let addr = SocketAddr::from((UPSTREAM_IP, port));
            let l = TcpListener::bind(addr)
                .unwrap_or_else(|e| panic!("upstream listener on {addr}: {e}"));
            l.set_nonblocking(true).unwrap();
            let (seen, stop, names) = (seen.clone(), stop.clone(), names.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((mut s, _)) => {
                            s.set_nonblocking(false).unwrap();
                            s.set_read_timeout(Some(Duration::from_millis(500)))
                                .unwrap();
                            let mut buf = vec![0u8; 4096];
                            let n = s.read(&mut buf).unwrap_or(0);
                            let first = String::from_utf8_lossy(&buf[..n]).into_owned();
                            let names = names
                                .iter()
                                .filter(|h| first.contains(h.as_str()))
                                .cloned()
                                .collect();
                            seen.lock().unwrap().push(Seen { port, names });
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(e) => panic!("upstream listener: {e}"),
                    }
                }
            }));
        }
        Upstream {
            seen,
            stop,
            threads,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        // A client that connected has sent its first bytes and waits for
        // an answer it only gets once accepted: let the threads catch up.
        std::thread::sleep(Duration::from_millis(200));
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `ctr -n k8s.io images pull --hosts-dir DIR REF` (120 s at most), with
/// no proxy settings from the environment (containerd's HTTP client
/// honours them).
fn pull(cd: &Containerd, hosts_dir: &Path, reference: &str) -> Output {
    let mut c = Command::new("timeout");
    c.args(["120", "ctr", "-a"])
        .arg(&cd.socket)
        .args(["-n", NS, "images", "pull", "--hosts-dir"])
        .arg(hosts_dir)
        .arg(reference)
        .stdin(Stdio::null());
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        c.env_remove(v);
    }
    c.output().expect("ctr (apt package containerd)")
}

fn text(o: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What to show when an assertion fails: both servers' logs.
fn logs(cd: &Containerd, nginx: Option<&Nginx>) -> String {
    let mut s = format!("--- containerd log:\n{}", cd.log_text());
    if let Some(n) = nginx {
        s.push_str(&format!(
            "\n--- nginx access log:\n{}\n--- nginx error log:\n{}",
            n.access_log(),
            n.error_log()
        ));
    }
    s
}

/// The manifest digest `ctr images ls` lists for `reference`.
fn listed_digest(cd: &Containerd, reference: &str) -> Option<String> {
    // REF TYPE DIGEST SIZE PLATFORMS LABELS
    cd.ctr_ok(&["-n", NS, "images", "ls"])
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[0] == reference)
        .map(|f| f[2].to_string())
}

/// Whether nginx's access log has `METHOD PATH?ns=NS` answered 200.
fn served(access_log: &str, method: &str, path: &str, ns: &str) -> bool {
    let request = format!("\"{method} {path}?ns={ns} HTTP/");
    access_log
        .lines()
        .any(|l| l.contains(&request) && l.contains("\" 200 "))
}

/// The hosts.toml files mk-nodeconf plans for a worker of cluster domain
/// example.test whose `spec.certificates` carries `registry_ca` (PEM), and
/// the registry CA file the pki step plans: node path -> contents.
fn planned(registry_ca: &str) -> BTreeMap<String, String> {
    let yaml = format!(
        "apiVersion: mk.dev/v1alpha1\nkind: NodeConfig\nmetadata:\n  name: w1.{DOMAIN}\nspec:\n  roles: [worker]\n  cluster:\n    name: lab\n    domain: {DOMAIN}\n    apiEndpoint:\n      dnsName: api.{DOMAIN}\n  planes:\n    control: {{cidr: 10.0.1.0/24}}\n  join:\n    token: abcdef.0123456789abcdef\n"
    );
    let mut config = mk_roleconfig::parse_node_config(yaml.as_bytes(), "w1.yaml")
        .expect("the test's role config parses");
    config.spec.certificates.insert(
        "ca.crt".into(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
    );
    config
        .spec
        .certificates
        .insert("registry-ca.crt".into(), registry_ca.to_string());
    let facts = HostFacts {
        addresses: vec!["10.0.1.21".parse().unwrap()],
        ..HostFacts::default()
    };
    let digest = format!("sha256:{}", "0".repeat(64));
    let plan = mk_nodeconf::plan(&digest, &config, &facts).expect("plan");
    let mut files = BTreeMap::new();
    for step in &plan.steps {
        for a in &step.actions {
            let Action::WriteFile { path, contents, .. } = a else {
                continue;
            };
            let ours = (step.name == CONTAINERD_STEP && path.starts_with(&format!("{CERTS_D}/")))
                || path == NODE_CA;
            if ours {
                files.insert(path.clone(), String::from_utf8(contents.clone()).unwrap());
            }
        }
    }
    files
}

#[test]
fn containerd_pulls_from_the_bundle_registry_never_from_upstream() {
    if !in_namespace("containerd_pulls_from_the_bundle_registry_never_from_upstream") {
        return;
    }
    init_logs();
    let started = Instant::now();
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"));
    let (layout, tag, reference, digest) = (
        PathBuf::from(env(ETCD_LAYOUT)),
        env(ETCD_TAG),
        env(ETCD_REFERENCE),
        env(ETCD_DIGEST),
    );
    let etcd_repo = reference
        .strip_prefix("registry.k8s.io/")
        .and_then(|r| r.strip_suffix(&format!(":{tag}")))
        .unwrap_or_else(|| {
            panic!("the fixture etcd image is {reference}: expected registry.k8s.io/NAME:{tag}")
        })
        .to_string();
    let work = scratch("registry-mirror.");
    let work = work.path();
    let registry = bundle_registry(DOMAIN);

    // The tree: the fixture etcd image under its upstream path in every
    // mirrored registry.
    let images: Vec<Image> = MIRRORED
        .iter()
        .map(|m| Image {
            repository: repository(m, &etcd_repo),
            layout: layout.clone(),
        })
        .collect();
    let tree = work.join("registry");
    let summary = write_registry(&images, &tree).unwrap();
    assert_eq!(summary.tags[&etcd_repo][&tag], digest);

    // nginx as `registry.example.test` on 443, its certificate from the
    // registry realm.
    let tls = pki(work, &work.join("certs"), &registry);
    let mut nginx = Nginx::start_on(
        &work.join("nginx"),
        &tree,
        &tls,
        &registry,
        ([127, 0, 0, 1], 443).into(),
    );
    let upstream_names: Vec<String> = MIRRORED
        .iter()
        .flat_map(|m| upstream(m).0.iter().map(|n| n.to_string()))
        .collect();
    let internet = Upstream::start(upstream_names);

    // The planned files, written under a scratch root. The hosts.toml
    // files name the CA by its node path, /etc/kubernetes/pki/
    // registry-ca.crt, which this host does not have: that path (only it)
    // is rewritten to the planned CA file under the scratch root.
    let ca_pem = std::fs::read_to_string(&tls.ca).unwrap();
    let files = planned(&ca_pem);
    let root = work.join("root");
    let scratch_ca = root.join(NODE_CA.trim_start_matches('/'));
    assert_eq!(
        files.get(NODE_CA),
        Some(&ca_pem),
        "the pki step plans {NODE_CA} as delivered"
    );
    let mut hosts_files = BTreeMap::new();
    for m in MIRRORED {
        let path = format!("{CERTS_D}/{m}/hosts.toml");
        let planned = files
            .get(&path)
            .unwrap_or_else(|| panic!("the plan writes no {path}; it writes {:?}", files.keys()));
        let quoted = format!("\"{NODE_CA}\"");
        assert_eq!(
            planned.matches(&quoted).count(),
            2,
            "{path} names the CA for the server and the host:\n{planned}"
        );
        let rewritten = planned.replace(&quoted, &format!("\"{}\"", scratch_ca.display()));
        hosts_files.insert(m.to_string(), (path, rewritten));
    }
    for (path, contents) in &files {
        let f = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        let contents = hosts_files
            .values()
            .find(|(p, _)| p == path)
            .map_or(contents, |(_, c)| c);
        std::fs::write(&f, contents).unwrap();
    }
    let certs_d = root.join(CERTS_D.trim_start_matches('/'));

    let cd = Containerd::start();

    // 1. nginx up: every mirrored registry's image comes from the bundle
    // registry, with the tree's digest.
    for m in MIRRORED {
        let repo = repository(m, &etcd_repo);
        let name = format!("{m}/{repo}:{tag}");
        let t = Instant::now();
        let o = pull(&cd, &certs_d, &name);
        assert!(
            o.status.success(),
            "pulling {name} through the planned {m}/hosts.toml (mirror https://{registry}) failed: {}\n{}",
            text(&o),
            logs(&cd, Some(&nginx))
        );
        eprintln!("pulled {name} in {:.1} s", t.elapsed().as_secs_f32());
        assert_eq!(
            listed_digest(&cd, &name).as_deref(),
            Some(digest.as_str()),
            "`ctr images ls` should list {name} with the tree's manifest digest\n{}",
            cd.ctr_ok(&["-n", NS, "images", "ls"])
        );
        let log = nginx.access_log();
        assert!(
            served(&log, "HEAD", &format!("/v2/{repo}/manifests/{tag}"), m)
                || served(&log, "GET", &format!("/v2/{repo}/manifests/{tag}"), m),
            "nginx's access log shows no request for /v2/{repo}/manifests/{tag}?ns={m} answered 200:\n{log}"
        );
    }
    // The first pull fetched the content itself from the mirror.
    let log = nginx.access_log();
    let mut want = vec![format!("/v2/{etcd_repo}/manifests/{digest}")];
    want.extend(
        manifest_blobs(&layout, &digest)
            .iter()
            .map(|b| format!("/v2/{etcd_repo}/blobs/{b}")),
    );
    for path in &want {
        assert!(
            served(&log, "GET", path, "registry.k8s.io"),
            "nginx's access log shows no `GET {path}?ns=registry.k8s.io` answered 200:\n{log}"
        );
    }
    let seen = internet.seen();
    assert!(
        seen.is_empty(),
        "with the mirror up, containerd connected to the upstream (Internet) address: {seen:?}\n{}",
        logs(&cd, Some(&nginx))
    );

    // 2. nginx stopped: pulls fail, and still nothing goes upstream.
    nginx.stop();
    let missing = |m: &str| {
        let repo = repository(m, &etcd_repo);
        format!("{m}/{repo}:not-in-the-bundle")
    };
    for m in MIRRORED {
        let name = missing(m);
        let o = pull(&cd, &certs_d, &name);
        assert!(
            !o.status.success(),
            "pulling {name} with the bundle registry down should fail: {}",
            text(&o)
        );
        let seen = internet.seen();
        assert!(
            seen.is_empty(),
            "with the mirror down, pulling {name} fell back to the upstream (Internet) address: {seen:?}\nthe planned hosts.toml:\n{}\n{}",
            hosts_files[*m].1,
            logs(&cd, Some(&nginx))
        );
        // ctr logs each host it gave up on (`msg="trying next host" ...
        // host=NAME`): the mirror and the server, both the bundle registry.
        let err = String::from_utf8_lossy(&o.stderr);
        let tried: Vec<&str> = err
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("host="))
            .collect();
        assert!(
            !tried.is_empty() && tried.iter().all(|h| *h == registry),
            "ctr should have tried the bundle registry {registry} only, it tried {tried:?}: {}",
            text(&o)
        );
    }

    // 3. The control: the `server` line mk planned before (upstream, the
    // fallback when every host fails) does reach the upstream listener.
    let old_d = work.join("certs.d-upstream-server");
    for m in MIRRORED {
        let (names, old_server) = upstream(m);
        let (_, planned) = &hosts_files[*m];
        let server = format!("server = \"https://{registry}\"");
        assert!(planned.contains(&server), "{planned}");
        let old = planned.replace(&server, &format!("server = \"{old_server}\""));
        std::fs::create_dir_all(old_d.join(m)).unwrap();
        std::fs::write(old_d.join(m).join("hosts.toml"), &old).unwrap();
        let before = internet.seen().len();
        let name = missing(m);
        let o = pull(&cd, &old_d, &name);
        assert!(!o.status.success(), "{name}: {}", text(&o));
        let seen = internet.seen();
        let new = &seen[before..];
        assert!(
            new.iter()
                .any(|s| s.port == 443 && names.iter().any(|n| s.names.contains(&n.to_string()))),
            "with `server = \"{old_server}\"` ({m}'s hosts.toml as mk planned it before), a failed pull of {name} should reach the upstream listener with a TLS hello for {names:?}; it saw {new:?}\n{}\n{}",
            text(&o),
            logs(&cd, None)
        );
    }
    eprintln!(
        "registry mirror test done in {:.1} s",
        started.elapsed().as_secs_f32()
    );
}
