//! Real etcd (Debian etcd-server 3.4) judges the certificates: three members
//! on 127.0.0.2-4 known by DNS names only, with peer and client mTLS, reject a
//! client of another realm and a server reached under another host's name,
//! and keep serving while `renew` replaces their certificates.
//!
//! Names resolve through a private /etc/hosts bind-mounted in a mount
//! namespace of each etcd/etcdctl process (`unshare -m`), so the host's
//! /etc/hosts is untouched. Needs root, etcd, etcdctl, unshare, openssl.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use common::*;
use mk_pki::config::{ClusterConfig, Role};
use mk_pki::renew::{renew_node, Reloader, RenewOptions};
use time::{Duration, OffsetDateTime};

struct NoReload;
impl Reloader for NoReload {
    fn restart_static_pod(&mut self, name: &str) -> Result<(), String> {
        panic!("etcd needs no restart, asked to restart {name}")
    }
}

fn name(i: usize) -> String {
    format!("etcd{i}.{DOMAIN}")
}

fn ip(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

fn etcdctl(
    hosts: &Path,
    pki: &Path,
    endpoint: &str,
    cacert: &Path,
    cert: &str,
    args: &str,
) -> (bool, String) {
    let script = format!(
        "env ETCDCTL_API=3 etcdctl --dial-timeout=3s --command-timeout=5s --endpoints=https://{endpoint}:2379 --cacert={} --cert={} --key={} {args}",
        cacert.display(),
        pki.join(format!("{cert}.crt")).display(),
        pki.join(format!("{cert}.key")).display()
    );
    let out = in_ns(hosts, &script).output().expect("unshare");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn served_serial(addr: &str, sni: &str, pki: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr}:2379 -servername {sni} -cert {p}/healthcheck-client.crt -cert_chain {p}/healthcheck-client.crt -key {p}/healthcheck-client.key </dev/null 2>/dev/null | openssl x509 -noout -serial",
            p = pki.display()
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn etcd_cluster_with_mtls_from_these_certificates() {
    assert!(
        Command::new("etcd").arg("--version").output().is_ok(),
        "etcd must be installed (Debian etcd-server)"
    );
    // Issued 70% into a 7-day life, so that renewal at the real "now" is due.
    let now = OffsetDateTime::now_utc();
    let t0 = now - Duration::days(7) * 0.7;
    let f = fixture(ClusterConfig::new(DOMAIN), t0 - Duration::hours(1));
    let hosts = f.path("hosts");
    let mut h = String::from("127.0.0.1 localhost\n");
    for i in 1..=3 {
        h.push_str(&format!("{} {}\n", ip(i), name(i)));
    }
    h.push_str(&format!("{} impostor.{DOMAIN}\n", ip(1)));
    std::fs::write(&hosts, h).unwrap();

    let mut roots: Vec<PathBuf> = Vec::new();
    for i in 1..=3 {
        roots.push(f.issue(&node(&format!("etcd{i}"), &[Role::Etcd]), t0));
    }
    let pki = |i: usize| roots[i - 1].join("etc/kubernetes/pki/etcd");
    let initial: Vec<String> = (1..=3)
        .map(|i| format!("{}=https://{}:2380", name(i), name(i)))
        .collect();
    let mut members = Members(Vec::new());
    for i in 1..=3 {
        let data = f.path(&format!("data{i}"));
        std::fs::create_dir(&data).unwrap();
        let p = pki(i);
        let script = etcd_member(&name(i), &ip(i), &data, &p, &initial, "mk-test");
        let log = std::fs::File::create(f.path(&format!("etcd{i}.log"))).unwrap();
        members.0.push(
            in_ns(&hosts, &script)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("unshare"),
        );
    }
    let ca = pki(1).join("ca.crt");
    let start = Instant::now();
    loop {
        let (ok, out) = etcdctl(
            &hosts,
            &pki(1),
            &name(1),
            &ca,
            "healthcheck-client",
            "endpoint health --cluster",
        );
        if ok && out.matches("is healthy").count() == 3 {
            break;
        }
        if start.elapsed() > StdDuration::from_secs(30) {
            let logs: String = (1..=3)
                .map(|i| {
                    std::fs::read_to_string(f.path(&format!("etcd{i}.log"))).unwrap_or_default()
                })
                .collect();
            panic!("cluster not healthy after 30 s: {out}\n--- etcd logs ---\n{logs}");
        }
        std::thread::sleep(StdDuration::from_millis(500));
    }
    // Replicated through peer mTLS: written on 1, read on 3.
    let (ok, out) = etcdctl(
        &hosts,
        &pki(1),
        &name(1),
        &ca,
        "healthcheck-client",
        "put mk-key mk-value",
    );
    assert!(ok, "{out}");
    let (ok, out) = etcdctl(
        &hosts,
        &pki(3),
        &name(3),
        &ca,
        "healthcheck-client",
        "get mk-key --consistency=l",
    );
    assert!(ok && out.contains("mk-value"), "{out}");

    // A client of another realm: the kubernetes realm's kubelet serving
    // certificate has a key and a chain, but not etcd's root.
    // Client certificate of the kubernetes realm (the kubelet's: client
    // auth, a valid chain, just not etcd's root).
    let foreign = roots[0].join("var/lib/kubelet/pki");
    std::fs::copy(
        foreign.join("kubelet-client-current.pem"),
        foreign.join("kc.crt"),
    )
    .unwrap();
    std::fs::copy(
        foreign.join("kubelet-client-current.pem"),
        foreign.join("kc.key"),
    )
    .unwrap();
    let (ok, out) = etcdctl(&hosts, &foreign, &name(1), &ca, "kc", "get mk-key");
    assert!(
        !ok,
        "etcd accepted a kubernetes-realm client certificate: {out}"
    );
    // Why: with TLS 1.2 the refusal comes in the handshake, as an alert.
    for (cert, key, refused) in [
        (foreign.join("kc.crt"), foreign.join("kc.key"), true),
        (
            pki(1).join("healthcheck-client.crt"),
            pki(1).join("healthcheck-client.key"),
            false,
        ),
    ] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl s_client -tls1_2 -connect {}:2379 -CAfile {} -cert {c} -cert_chain {c} -key {} </dev/null 2>&1",
                ip(1), ca.display(), key.display(), c = cert.display()
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.contains("alert bad certificate"),
            refused,
            "{}: {text}",
            cert.display()
        );
    }
    // A client trusting another realm's root refuses etcd's server certificate.
    let k8s_root = roots[0].join("etc/kubernetes/pki/ca.crt");
    let (ok, out) = etcdctl(
        &hosts,
        &pki(1),
        &name(1),
        &k8s_root,
        "healthcheck-client",
        "get mk-key",
    );
    assert!(!ok, "{out}");
    // Member 1 reached under another name: its certificate is not for it.
    let (ok, out) = etcdctl(
        &hosts,
        &pki(1),
        &format!("impostor.{DOMAIN}"),
        &ca,
        "healthcheck-client",
        "get mk-key",
    );
    assert!(!ok, "etcdctl accepted member 1 as impostor: {out}");
    // The same refusal, spelt out by OpenSSL's name check on what etcd serves.
    for (n, want_ok) in [(name(1), true), (format!("impostor.{DOMAIN}"), false)] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl s_client -connect {}:2379 -CAfile {} -verify_hostname {n} -verify_return_error -cert {p}/healthcheck-client.crt -cert_chain {p}/healthcheck-client.crt -key {p}/healthcheck-client.key </dev/null 2>&1",
                ip(1), ca.display(), p = pki(1).display()
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let other_root = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl s_client -connect {}:2379 -CAfile {} -verify_return_error </dev/null 2>&1",
                ip(1),
                k8s_root.display()
            ))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&other_root.stdout)
            .contains("unable to get local issuer certificate"));
        if want_ok {
            assert!(text.contains("Verify return code: 0 (ok)"), "{n}: {text}");
        } else {
            assert!(text.contains("hostname mismatch"), "{n}: {text}");
        }
    }

    // Renewal at the real now (70% of the life): all three leaves of member 1
    // are replaced while it runs; new handshakes get the new certificate.
    let before = served_serial(&ip(1), &name(1), &pki(1));
    assert!(before.starts_with("serial="), "{before}");
    let report = renew_node(
        &RenewOptions {
            root: roots[0].clone(),
            metrics_file: None,
        },
        now,
        &mut NoReload,
    )
    .unwrap();
    assert_eq!(report.renewed().len(), 3, "{:?}", report.renewed());
    let after = served_serial(&ip(1), &name(1), &pki(1));
    assert!(
        after.starts_with("serial=") && after != before,
        "served {before} before and {after} after renewal"
    );
    let (ok, out) = etcdctl(
        &hosts,
        &pki(1),
        &name(1),
        &ca,
        "healthcheck-client",
        "put mk-key renewed",
    );
    assert!(ok, "{out}");
    let (ok, out) = etcdctl(
        &hosts,
        &pki(2),
        &name(2),
        &ca,
        "healthcheck-client",
        "get mk-key --consistency=l",
    );
    assert!(ok && out.contains("renewed"), "{out}");
    // The peers still talk to member 1 (its new peer certificate included).
    let (ok, out) = etcdctl(
        &hosts,
        &pki(1),
        &name(1),
        &ca,
        "healthcheck-client",
        "endpoint health --cluster",
    );
    assert!(ok && out.matches("is healthy").count() == 3, "{out}");
}
