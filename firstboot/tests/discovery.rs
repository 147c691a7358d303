//! Token discovery against a local TLS "apiserver" (rustls in a thread,
//! certificates from mk-pki: kubernetes root -> host intermediate -> leaf
//! for `localhost`) serving cluster-info as the real one does (JSON,
//! `{"kind":"ConfigMap","apiVersion":"v1",...}`): the CA is found and the
//! connection re-checked against it; the real kubeadm cluster-info served
//! by a server outside that cluster is refused at the re-check; a token the
//! cluster does not know, a wrong secret, a CA hash that does not match,
//! and a server that never answers end with errors that say what to do,
//! within the deadline.

mod common;

use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::tls::{self, Pki};
use mk_cluster::tokens::{cluster_info_kubeconfig, jws_detached};
use mk_firstboot::discovery::{self, CaOrigin, DiscoveryError, Options};
use mk_firstboot::errors;
use mk_pki::cert::spki_sha256;
use mk_pki::Realm;
use serde_json::json;

const TOKEN: &str = "abcdef.0123456789abcdef";

fn pki() -> Pki {
    tls::pki(Realm::Kubernetes, "apiserver", "kube-apiserver")
}

/// cluster-info as the apiserver sends it, signed for `abcdef`.
fn cluster_info(kubeconfig: &str, signed: bool) -> Vec<u8> {
    let mut data = json!({ "kubeconfig": kubeconfig });
    if signed {
        data["jws-kubeconfig-abcdef"] =
            json!(jws_detached(kubeconfig, "abcdef", "0123456789abcdef"));
    }
    serde_json::to_vec(&json!({
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": data,
    }))
    .unwrap()
}

/// The real one, kubeadm 1.28.7's (../shared/reference), as the apiserver
/// sends it (JSON), and its CA's hash. The YAML is kubectl's plain layout:
/// read line by line.
fn reference_cluster_info() -> (Vec<u8>, String) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/kubeadm-1.28.7/api/configmap-kube-public-cluster-info.yaml");
    let yaml = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut data = serde_json::Map::new();
    let mut lines = yaml.lines().peekable();
    while let Some(l) = lines.next() {
        if let Some((k, v)) = l
            .strip_prefix("  jws-kubeconfig-")
            .and_then(|r| r.split_once(": "))
        {
            data.insert(format!("jws-kubeconfig-{k}"), json!(v));
        }
        if l == "  kubeconfig: |" {
            let mut kc = String::new();
            while let Some(b) = lines.next_if(|b| b.starts_with("    ")) {
                kc.push_str(&b[4..]);
                kc.push('\n');
            }
            data.insert("kubeconfig".into(), json!(kc));
        }
    }
    let kc = data["kubeconfig"].as_str().unwrap().to_string();
    let b64 = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap();
    let mut child = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b64.as_bytes())
        .unwrap();
    let pem = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let der = mk_pki::cert::parse_pem(&pem, "reference CA").unwrap().der;
    let body = json!({
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": data,
    });
    (
        serde_json::to_vec(&body).unwrap(),
        spki_sha256(&der, "CA").unwrap(),
    )
}

/// What the server saw.
type Seen = Arc<Mutex<Vec<String>>>;

/// Serves the responses (status, body) that `make` gives for the port, in
/// turn, one per connection, the last one again for every later one.
fn serve(pki: &Pki, make: impl FnOnce(u16) -> Vec<(u16, Vec<u8>)>) -> (u16, Seen) {
    let (listener, config) = tls::listen(pki);
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let requests = seen.clone();
    let mut queue: VecDeque<(u16, Vec<u8>)> = make(port).into();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let (status, body) = if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                queue[0].clone()
            };
            let (conn, req) = tls::request(&config, tcp);
            if req.is_empty() {
                // The client refused our certificate.
                requests.lock().unwrap().push("(no request)".into());
                continue;
            }
            requests
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&req).into_owned());
            let mut r = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            tls::reply(conn, &r);
        }
    });
    (port, seen)
}

fn worker(port: u16, token: &str, hashes: &[String]) -> mk_roleconfig::NodeConfig {
    let yaml = format!(
        "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata: {{name: w1.example.com}}
spec:
  roles: [worker]
  cluster:
    name: lab
    domain: example.com
    apiEndpoint: {{dnsName: localhost, port: {port}}}
  planes:
    control: {{cidr: 10.0.0.0/24}}
  join:
    token: {token}
    caCertHashes: {}
",
        serde_json::to_string(hashes).unwrap()
    );
    match mk_roleconfig::parse_document(yaml.as_bytes(), "w1.yaml").unwrap() {
        mk_roleconfig::Document::Single(c) => *c,
        other => panic!("{other:?}"),
    }
}

fn quick() -> Options {
    Options {
        timeout: Duration::from_secs(1),
        deadline: Duration::from_secs(3),
        retry_every: Duration::from_millis(200),
    }
}

/// What the console shows: the error and each cause.
fn console(e: &DiscoveryError) -> String {
    errors::lines(e).join("\n")
}

/// cluster-info of the test cluster, for `localhost:port`.
fn ours(pki: &Pki, port: u16, signed: bool) -> Vec<u8> {
    cluster_info(
        &cluster_info_kubeconfig(&format!("https://localhost:{port}"), &pki.root_pem),
        signed,
    )
}

#[test]
fn the_ca_is_discovered_checked_and_kept_for_later_boots() {
    let pki = pki();
    let hash = spki_sha256(&pki.root_der, "CA").unwrap();
    // As when a worker boots with its control plane: cluster-info not
    // there yet, then without the token's signature, then complete.
    let (port, seen) = serve(&pki, |port| {
        vec![
            (404, br#"{"kind":"Status","code":404}"#.to_vec()),
            (200, ours(&pki, port, false)),
            (200, ours(&pki, port, true)),
        ]
    });
    let mut config = worker(port, TOKEN, std::slice::from_ref(&hash));
    assert!(discovery::needs_discovery(&config));
    let root = tempfile::tempdir().unwrap();
    let origin = discovery::complete_ca(root.path(), &mut config, &quick()).unwrap();
    let CaOrigin::Discovered(d) = origin else {
        panic!("{origin:?}")
    };
    assert_eq!(d.ca_pem, pki.root_pem);
    assert_eq!(d.server, format!("https://localhost:{port}"));
    assert_eq!(d.ca_hash, hash);
    assert_eq!(config.spec.certificates["ca.crt"], pki.root_pem);
    assert!(!discovery::needs_discovery(&config));
    // Two failed tries, then the unchecked and the checked fetch: all
    // anonymous GETs of cluster-info.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for r in &seen {
        assert!(
            r.starts_with(
                "GET /api/v1/namespaces/kube-public/configmaps/cluster-info HTTP/1.1\r\n"
            ),
            "{r}"
        );
        assert!(!r.to_ascii_lowercase().contains("authorization"), "{r}");
        assert!(r.contains(&format!("Host: localhost:{port}\r\n")), "{r}");
    }

    // A later boot: the CA first boot wrote is used, with no network (the
    // token has expired by then, the apiserver may be down).
    let file = root.path().join(discovery::CA_FILE);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &pki.root_pem).unwrap();
    let mut config = worker(1, TOKEN, std::slice::from_ref(&hash));
    let origin = discovery::complete_ca(root.path(), &mut config, &quick()).unwrap();
    assert_eq!(origin, CaOrigin::Earlier { ca_hash: hash });
    assert_eq!(config.spec.certificates["ca.crt"], pki.root_pem);

    // A delivered ca.crt: nothing to do.
    assert_eq!(
        discovery::complete_ca(root.path(), &mut config, &quick()).unwrap(),
        CaOrigin::Delivered
    );
}

#[test]
fn an_earlier_ca_that_no_longer_matches_is_discovered_again() {
    let other = pki();
    let pki = pki();
    let hash = spki_sha256(&pki.root_der, "CA").unwrap();
    let (port, _) = serve(&pki, |port| vec![(200, ours(&pki, port, true))]);
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join(discovery::CA_FILE);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &other.root_pem).unwrap();
    let mut config = worker(port, TOKEN, &[hash]);
    let origin = discovery::complete_ca(root.path(), &mut config, &quick()).unwrap();
    assert!(matches!(origin, CaOrigin::Discovered(_)), "{origin:?}");
    assert_eq!(config.spec.certificates["ca.crt"], pki.root_pem);
}

#[test]
fn kubeadms_cluster_info_from_a_server_outside_that_cluster_is_refused_at_the_recheck() {
    // The real signed cluster-info and its CA's right hash: the JWS and
    // the hash pass, but this server's certificate is not from that CA.
    let pki = pki();
    let (body, hash) = reference_cluster_info();
    let (port, seen) = serve(&pki, move |_| vec![(200, body)]);
    let config = worker(port, TOKEN, std::slice::from_ref(&hash));
    let e = discovery::discover(&config, &quick()).unwrap_err();
    assert!(matches!(e, DiscoveryError::Unverified { .. }), "{e:?}");
    let text = console(&e);
    assert!(text.contains(&hash), "{text}");
    assert!(
        text.contains("does not verify against the CA in cluster-info"),
        "{text}"
    );
    assert!(text.contains("for the name localhost"), "{text}");
    // Refused at once, not retried. (The server records the refused
    // handshake once the client has hung up.)
    let t = Instant::now();
    while seen.lock().unwrap().len() < 2 && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn a_token_the_cluster_does_not_know_is_given_up_with_what_to_do() {
    let pki = pki();
    let hash = spki_sha256(&pki.root_der, "CA").unwrap();
    let (port, seen) = serve(&pki, |port| vec![(200, ours(&pki, port, true))]);
    let config = worker(port, "zzzzzz.0123456789abcdef", &[hash]);
    let t = Instant::now();
    let e = discovery::discover(&config, &quick()).unwrap_err();
    // Retried (the signature may come a moment after the Secret), then
    // given up at the deadline.
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert!(seen.lock().unwrap().len() >= 2);
    let text = console(&e);
    assert!(matches!(e, DiscoveryError::GaveUp { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "discovery of the cluster CA (spec.join.token) from https://localhost:{port}/api/v1/namespaces/kube-public/configmaps/cluster-info: gave up after 3 s"
        )),
        "{text}"
    );
    assert!(
        text.contains("the cluster does not know token zzzzzz (no signature for it in cluster-info): the token expired or was never created; mint one with `mk-compose token create --ttl 24h`"),
        "{text}"
    );
}

#[test]
fn a_wrong_secret_is_refused_at_once() {
    let pki = pki();
    let hash = spki_sha256(&pki.root_der, "CA").unwrap();
    let (port, seen) = serve(&pki, |port| vec![(200, ours(&pki, port, true))]);
    let config = worker(port, "abcdef.aaaaaaaaaaaaaaaa", &[hash]);
    let e = discovery::discover(&config, &quick()).unwrap_err();
    let text = console(&e);
    assert!(
        matches!(
            e,
            DiscoveryError::Refused {
                source: mk_cluster::discovery::DiscoveryError::BadSignature { .. },
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("does not verify with spec.join.token's secret"),
        "{text}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_ca_hash_that_does_not_match_names_both_and_connects_no_further() {
    let pki = pki();
    let real = spki_sha256(&pki.root_der, "CA").unwrap();
    let wrong = format!("sha256:{}", "0f".repeat(32));
    let (port, seen) = serve(&pki, |port| vec![(200, ours(&pki, port, true))]);
    let root = tempfile::tempdir().unwrap();
    let mut config = worker(port, TOKEN, std::slice::from_ref(&wrong));
    let e = discovery::complete_ca(root.path(), &mut config, &quick()).unwrap_err();
    let text = console(&e);
    assert!(text.contains(&real) && text.contains(&wrong), "{text}");
    assert!(text.contains("mk-compose token hash"), "{text}");
    // Only the unchecked fetch; the config is left as it was.
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(!config.spec.certificates.contains_key("ca.crt"));
}

#[test]
fn a_server_that_never_answers_is_given_up_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            // Accepted, then silence.
            held.push(s);
        }
    });
    let config = worker(port, TOKEN, &[format!("sha256:{}", "0".repeat(64))]);
    let t = Instant::now();
    let e = discovery::discover(&config, &quick()).unwrap_err();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(took >= Duration::from_secs(2), "{took:?}");
    let text = console(&e);
    assert!(matches!(e, DiscoveryError::GaveUp { .. }), "{text}");
    assert!(text.contains("sent nothing"), "{text}");
}

#[test]
fn nothing_listening_and_oversized_answers_are_bounded_too() {
    // Nothing on the port: connection refused, retried, given up.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = worker(port, TOKEN, &[format!("sha256:{}", "0".repeat(64))]);
    let t = Instant::now();
    let e = discovery::discover(&config, &quick()).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(console(&e).contains("gave up after 3 s"), "{}", console(&e));

    // An answer far larger than any cluster-info: cut off.
    let pki = pki();
    let huge = vec![b'x'; 3 << 20];
    let (port, _) = serve(&pki, move |_| vec![(200, huge)]);
    let config = worker(port, TOKEN, &[format!("sha256:{}", "0".repeat(64))]);
    let e = discovery::discover(&config, &quick()).unwrap_err();
    assert!(
        console(&e).contains("response larger than"),
        "{}",
        console(&e)
    );
}

#[test]
fn configs_that_cannot_discover_are_refused_before_connecting() {
    let mut config = worker(1, TOKEN, &[]);
    let e = discovery::discover(&config, &quick()).unwrap_err();
    assert!(
        console(&e).contains("spec.join.caCertHashes is empty"),
        "{}",
        console(&e)
    );
    config.spec.join.as_mut().unwrap().ca_cert_hashes = vec![format!("sha256:{}", "0".repeat(64))];
    config.spec.join.as_mut().unwrap().token = "ABCDEF.0123456789abcdef".into();
    let e = discovery::discover(&config, &quick()).unwrap_err();
    assert!(
        console(&e).contains("spec.join.token: not a bootstrap token"),
        "{}",
        console(&e)
    );
}
