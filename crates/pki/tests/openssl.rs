//! The PKI judged by OpenSSL: chains verify for every leaf with the right
//! purpose, encrypted root keys open only with the password, node bundles
//! carry exactly what the node needs, and bad input writes nothing.

mod common;

use common::*;
use mk_pki::config::{NodeSpec, Role};
use mk_pki::plan::{plan_node, Usage};
use mk_pki::store::{PkiDir, StoreError};
use mk_pki::Realm;
use time::{Duration, OffsetDateTime};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn every_leaf_verifies_with_openssl_for_its_purpose() {
    for ed25519 in [false, true] {
        let mut cfg = cluster();
        cfg.ed25519_where_supported = ed25519;
        let f = fixture(cfg, now());
        let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
        let w = node("w1", &[Role::Worker]);
        for n in [&cp, &w] {
            let out = f.issue(n, now());
            let plan = plan_node(&f.pki.config, n);
            for leaf in &plan.leaves {
                let leaf_path = out.join(leaf.cert_path.trim_start_matches('/'));
                let text = std::fs::read_to_string(&leaf_path).unwrap();
                let certs = der_certs(&text);
                assert_eq!(certs.len(), 2, "{}: leaf + intermediate", leaf.id);
                // The intermediate as a separate file for -untrusted.
                let inter = f.path("inter.pem");
                std::fs::write(
                    &inter,
                    pem::encode(&pem::Pem::new("CERTIFICATE", certs[1].clone())),
                )
                .unwrap();
                let root = f.pki.root_cert_path(leaf.realm);
                let purpose = if leaf.usages.contains(&Usage::ServerAuth) {
                    "sslserver"
                } else {
                    "sslclient"
                };
                let (ok, out_text) = openssl(&[
                    "verify",
                    "-CAfile",
                    s(&root),
                    "-untrusted",
                    s(&inter),
                    "-purpose",
                    purpose,
                    s(&leaf_path),
                ]);
                assert!(ok, "{} ({}): {out_text}", leaf.id, n.name);
                // Every root of another realm refuses it.
                for other in Realm::ALL.into_iter().filter(|r| *r != leaf.realm) {
                    let (ok, _) = openssl(&[
                        "verify",
                        "-CAfile",
                        s(&f.pki.root_cert_path(other)),
                        "-untrusted",
                        s(&inter),
                        s(&leaf_path),
                    ]);
                    assert!(!ok, "{} verified under the {other} root", leaf.id);
                }
                // Subject and usages as planned.
                let (_, txt) = openssl(&[
                    "x509",
                    "-in",
                    s(&leaf_path),
                    "-noout",
                    "-subject",
                    "-ext",
                    "extendedKeyUsage,subjectAltName",
                ]);
                assert!(
                    txt.contains(&format!("CN = {}", leaf.common_name)),
                    "{}: {txt}",
                    leaf.id
                );
                for o in &leaf.organizations {
                    assert!(txt.contains(&format!("O = {o}")), "{}: {txt}", leaf.id);
                }
                // Only the apiserver names an address: the kubernetes
                // Service's.
                assert_eq!(
                    txt.contains("IP Address"),
                    leaf.id == "apiserver",
                    "{}: {txt}",
                    leaf.id
                );
                for ip in &leaf.ip_addresses {
                    assert!(
                        txt.contains(&format!("IP Address:{ip}")),
                        "{}: {txt}",
                        leaf.id
                    );
                }
                for d in &leaf.dns_names {
                    assert!(txt.contains(&format!("DNS:{d}")), "{}: {txt}", leaf.id);
                }
            }
        }
    }
}

#[test]
fn root_keys_are_encrypted_and_open_only_with_the_password() {
    let f = fixture(cluster(), now());
    let pw = f.path("pw");
    let bad = f.path("bad");
    std::fs::write(&pw, PASSWORD).unwrap();
    std::fs::write(&bad, "not it").unwrap();
    for realm in Realm::ALL {
        let key = f.pki.root_key_path(realm);
        let text = std::fs::read_to_string(&key).unwrap();
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{realm}"
        );
        let (ok, asn1) = openssl(&["asn1parse", "-in", s(&key)]);
        assert!(
            ok && asn1.contains("PBES2")
                && asn1.contains("PBKDF2")
                && asn1.contains("aes-256-cbc")
                && asn1.contains("hmacWithSHA256"),
            "{asn1}"
        );
        let (ok, out) = openssl(&[
            "pkcs8",
            "-in",
            s(&key),
            "-passin",
            &format!("file:{}", s(&pw)),
        ]);
        assert!(ok && out.contains("BEGIN PRIVATE KEY"), "{realm}: {out}");
        let (ok, _) = openssl(&[
            "pkcs8",
            "-in",
            s(&key),
            "-passin",
            &format!("file:{}", s(&bad)),
        ]);
        assert!(!ok, "{realm}: opened with a wrong password");
        // Without a password at all it does not open either.
        let (ok, _) = openssl(&["pkey", "-in", s(&key), "-passin", "pass:"]);
        assert!(!ok);
    }
    // Nothing else in the PKI directory holds a root key in clear: the
    // only clear keys are intermediates (none yet) and the SA key.
    for p in tree(f.pki.dir.as_path()) {
        let c = std::fs::read_to_string(f.pki.dir.join(&p)).unwrap();
        if c.contains("BEGIN PRIVATE KEY") {
            assert_eq!(p, "service-account/sa.key");
        }
    }
}

#[test]
fn intermediates_are_pathlen_zero_and_name_constrained() {
    let f = fixture(cluster(), now());
    let c = f
        .pki
        .intermediate("cp1.example.test", Realm::Etcd, PASSWORD, now(), None)
        .unwrap();
    assert_eq!(c.path_len, Some(0));
    assert_eq!(c.not_after.date(), (now() + Duration::days(90)).date());
    let (p, _) = f.pki.intermediate_paths("cp1.example.test", Realm::Etcd);
    let (_, txt) = openssl(&["x509", "-in", s(&p), "-noout", "-text"]);
    assert!(txt.contains("pathlen:0"), "{txt}");
    assert!(
        txt.contains("Permitted:")
            && txt.contains("DNS:example.test")
            && txt.contains("DNS:localhost"),
        "{txt}"
    );
    assert!(
        txt.contains("Excluded:") && txt.contains("IP:0.0.0.0/0.0.0.0"),
        "{txt}"
    );
    // Ingress serves application names: no DNS constraint, IPs still excluded.
    let c = f
        .pki
        .intermediate("cp1.example.test", Realm::Ingress, PASSWORD, now(), None)
        .unwrap();
    assert_eq!(c.permitted_dns, None);
    let (p, _) = f.pki.intermediate_paths("cp1.example.test", Realm::Ingress);
    let (_, txt) = openssl(&["x509", "-in", s(&p), "-noout", "-text"]);
    assert!(txt.contains("IP:0.0.0.0/0.0.0.0"), "{txt}");
    // Kubelet serving: DNS still constrained, IP addresses not excluded.
    f.pki
        .intermediate(
            "cp1.example.test",
            Realm::KubeletServing,
            PASSWORD,
            now(),
            None,
        )
        .unwrap();
    let (p, _) = f
        .pki
        .intermediate_paths("cp1.example.test", Realm::KubeletServing);
    let (_, txt) = openssl(&["x509", "-in", s(&p), "-noout", "-text"]);
    assert!(
        txt.contains("Permitted:") && txt.contains("DNS:example.test"),
        "{txt}"
    );
    assert!(!txt.contains("Excluded:") && !txt.contains("IP:"), "{txt}");
}

/// Sign `subject` with `names` (`DNS:..`, `IP:..`) and `eku` with the host's
/// intermediate of `realm` the way any other signer would (openssl, no mk
/// checks), then ask `openssl verify` what it thinks of the chain.
fn foreign_leaf_verifies(
    f: &Fixture,
    host: &str,
    realm: Realm,
    names: &str,
    eku: &str,
) -> (bool, String) {
    let (ic, ik) = f.pki.intermediate_paths(host, realm);
    let dir = f.path(&format!("foreign-{realm}"));
    std::fs::create_dir_all(&dir).unwrap();
    let ext = dir.join("leaf.ext");
    std::fs::write(
        &ext,
        format!(
            "keyUsage=critical,digitalSignature\nextendedKeyUsage={eku}\nsubjectAltName={names}\n"
        ),
    )
    .unwrap();
    let (key, csr, crt) = (dir.join("l.key"), dir.join("l.csr"), dir.join("l.crt"));
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(&key),
        "-out",
        s(&csr),
        "-subj",
        &format!("/O=system:nodes/CN=system:node:{host}"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&ic),
        "-CAkey",
        s(&ik),
        "-set_serial",
        "4242",
        "-days",
        "1",
        "-extfile",
        s(&ext),
        "-out",
        s(&crt),
    ]);
    assert!(ok, "{out}");
    let purpose = if eku == "serverAuth" {
        "sslserver"
    } else {
        "sslclient"
    };
    openssl(&[
        "verify",
        "-purpose",
        purpose,
        "-CAfile",
        s(&f.pki.root_cert_path(realm)),
        "-untrusted",
        s(&ic),
        s(&crt),
    ])
}

/// The kubelet's serving CSR always names the node's addresses: a
/// certificate for it (as the controller-manager's kubelet-serving signer
/// would make) verifies; the same IP under any other realm still does not.
#[test]
fn kubelet_serving_leaves_may_name_ip_addresses_no_other_leaf_may() {
    let f = fixture(cluster(), now());
    let host = "cp1.example.test";
    for r in [Realm::KubeletServing, Realm::Kubernetes, Realm::Etcd] {
        f.pki.intermediate(host, r, PASSWORD, now(), None).unwrap();
    }
    let (ok, out) = foreign_leaf_verifies(
        &f,
        host,
        Realm::KubeletServing,
        "DNS:cp1.example.test,IP:10.0.0.12,IP:fd00::12",
        "serverAuth",
    );
    assert!(ok, "{out}");
    // DNS is still constrained to the cluster domain.
    let (ok, out) = foreign_leaf_verifies(
        &f,
        host,
        Realm::KubeletServing,
        "DNS:cp1.evil.org,IP:10.0.0.12",
        "serverAuth",
    );
    assert!(!ok && out.contains("permitted subtree violation"), "{out}");
    // An etcd leaf with an IP: refused.
    let (ok, out) = foreign_leaf_verifies(
        &f,
        host,
        Realm::Etcd,
        "DNS:cp1.example.test,IP:10.0.0.12",
        "serverAuth",
    );
    assert!(!ok && out.contains("excluded subtree violation"), "{out}");
    // A kubernetes leaf with a host address: outside the one permitted IP.
    let (ok, out) = foreign_leaf_verifies(
        &f,
        host,
        Realm::Kubernetes,
        "DNS:cp1.example.test,IP:10.0.0.12",
        "serverAuth",
    );
    assert!(!ok && out.contains("permitted subtree violation"), "{out}");
}

/// The kubernetes realm's intermediates permit exactly the kubernetes
/// Service address (first of service_cidr) and the API VIP; every other IP,
/// and that same address under any other realm, is refused by OpenSSL.
#[test]
fn kubernetes_intermediates_permit_only_the_service_ip_and_the_vip() {
    let mut cfg = cluster();
    cfg.api_vip = Some("192.168.50.10".parse().unwrap());
    let f = fixture(cfg, now());
    let host = "cp1.example.test";
    for r in Realm::ALL {
        f.pki.intermediate(host, r, PASSWORD, now(), None).unwrap();
    }
    let (p, _) = f.pki.intermediate_paths(host, Realm::Kubernetes);
    let (_, txt) = openssl(&["x509", "-in", s(&p), "-noout", "-text"]);
    assert!(
        txt.contains("IP:10.96.0.1/255.255.255.255")
            && txt.contains("IP:192.168.50.10/255.255.255.255"),
        "{txt}"
    );
    // 0.0.0.0/0 excluded as well would void the permitted addresses.
    assert!(!txt.contains("IP:0.0.0.0/0.0.0.0"), "{txt}");
    for ip in ["10.96.0.1", "192.168.50.10"] {
        let (ok, out) = foreign_leaf_verifies(
            &f,
            host,
            Realm::Kubernetes,
            &format!("DNS:cp1.example.test,IP:{ip}"),
            "serverAuth",
        );
        assert!(ok, "{ip}: {out}");
    }
    for ip in ["10.96.0.2", "10.0.0.12", "192.168.50.11"] {
        let (ok, out) = foreign_leaf_verifies(
            &f,
            host,
            Realm::Kubernetes,
            &format!("DNS:cp1.example.test,IP:{ip}"),
            "serverAuth",
        );
        assert!(
            !ok && out.contains("permitted subtree violation"),
            "{ip}: {out}"
        );
    }
    // No IPv6 address is permitted (the family is also excluded, for
    // verifiers that match permitted subtrees per address family; OpenSSL
    // already finds it outside the permitted ones).
    let (ok, out) = foreign_leaf_verifies(
        &f,
        host,
        Realm::Kubernetes,
        "DNS:cp1.example.test,IP:fd00::1",
        "serverAuth",
    );
    assert!(!ok && out.contains("subtree violation"), "{out}");
    let (_, txt) = openssl(&["x509", "-in", s(&p), "-noout", "-text"]);
    assert!(
        txt.contains("Excluded:") && txt.contains("IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0"),
        "{txt}"
    );
    for r in [
        Realm::Etcd,
        Realm::FrontProxy,
        Realm::Registry,
        Realm::Ingress,
    ] {
        let (ok, out) = foreign_leaf_verifies(
            &f,
            host,
            r,
            "DNS:cp1.example.test,IP:10.96.0.1",
            "serverAuth",
        );
        assert!(
            !ok && out.contains("excluded subtree violation"),
            "{r}: {out}"
        );
    }

    // issue-node names both in the apiserver certificate, and nothing else
    // gets an IP address.
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    let out = f.issue(&cp, now());
    let plan = plan_node(&f.pki.config, &cp);
    for leaf in &plan.leaves {
        let path = out.join(leaf.cert_path.trim_start_matches('/'));
        let (_, san) = openssl(&["x509", "-in", s(&path), "-noout", "-ext", "subjectAltName"]);
        if leaf.id == "apiserver" {
            assert!(
                san.contains("IP Address:10.96.0.1") && san.contains("IP Address:192.168.50.10"),
                "{san}"
            );
            assert!(san.contains("DNS:kubernetes.default.svc"), "{san}");
        } else {
            assert!(!san.contains("IP Address"), "{}: {san}", leaf.id);
        }
    }
    let crt = out.join("etc/kubernetes/pki/apiserver.crt");
    let root = f.pki.root_cert_path(Realm::Kubernetes);
    for (ip, good) in [
        ("10.96.0.1", true),
        ("192.168.50.10", true),
        ("10.96.0.2", false),
    ] {
        let (ok, text) = openssl(&[
            "verify",
            "-purpose",
            "sslserver",
            "-verify_ip",
            ip,
            "-CAfile",
            s(&root),
            "-untrusted",
            s(&crt),
            s(&crt),
        ]);
        assert_eq!(ok, good, "-verify_ip {ip}: {text}");
    }
}

#[test]
fn node_bundle_carries_exactly_what_the_node_needs() {
    let f = fixture(cluster(), now());
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    let cp2 = node("cp2", &[Role::ControlPlane, Role::Etcd]);
    let w = node("w1", &[Role::Worker]);
    let out_cp = f.issue(&cp, now());
    let out_cp2 = f.issue(&cp2, now());
    let out_w = f.issue(&w, now());

    let files = tree(&out_w);
    assert_eq!(
        files,
        vec![
            "etc/kubernetes/pki/ca.crt",
            "etc/kubernetes/pki/kubelet-serving-ca.crt",
            "etc/mk/pki.yaml",
            "var/lib/kubelet/pki/bootstrap-client.crt",
            "var/lib/kubelet/pki/bootstrap-client.key",
            "var/lib/kubelet/pki/kubelet-client-current.pem",
            "var/lib/kubelet/pki/kubelet.crt",
            "var/lib/kubelet/pki/kubelet.key",
        ]
    );
    let cp_files = tree(&out_cp);
    for want in [
        "etc/kubernetes/pki/apiserver.crt",
        "etc/kubernetes/pki/apiserver.key",
        "etc/kubernetes/pki/apiserver-kubelet-client.crt",
        "etc/kubernetes/pki/apiserver-etcd-client.crt",
        "etc/kubernetes/pki/front-proxy-client.crt",
        "etc/kubernetes/pki/front-proxy-ca.crt",
        "etc/kubernetes/pki/etcd/ca.crt",
        "etc/kubernetes/pki/etcd/server.crt",
        "etc/kubernetes/pki/etcd/peer.key",
        "etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "etc/kubernetes/pki/etcd/ca-intermediate.key",
        "etc/kubernetes/pki/ca-intermediate.key",
        "etc/kubernetes/pki/sa.key",
        "etc/kubernetes/pki/sa.pub",
        "etc/kubernetes/pki/controller-manager.crt",
        "etc/kubernetes/pki/scheduler.crt",
        "etc/kubernetes/pki/admin.crt",
    ] {
        assert!(
            cp_files.iter().any(|f| f == want),
            "missing {want} in {cp_files:?}"
        );
    }
    // No root key anywhere, and nothing of another host.
    let root_keys: Vec<String> = Realm::ALL
        .iter()
        .map(|r| std::fs::read_to_string(f.pki.root_key_path(*r)).unwrap())
        .collect();
    for (out, me, others) in [
        (&out_cp, &cp, vec![&cp2, &w]),
        (&out_w, &w, vec![&cp, &cp2]),
    ] {
        let mine_and_shared: Vec<(String, Vec<u8>)> = snapshot(out);
        for (p, c) in &mine_and_shared {
            let text = String::from_utf8_lossy(c);
            assert!(!text.contains("ENCRYPTED PRIVATE KEY"), "{p}");
            for k in &root_keys {
                assert!(!text.contains(k.as_str()));
            }
            for o in &others {
                assert!(
                    !text.contains(&o.name),
                    "{}: {p} mentions {}",
                    me.name,
                    o.name
                );
            }
            // Certificates: every one names this host or is a root/shared CA.
            for der in der_certs(&text) {
                let info = mk_pki::cert::parse_der(&der, p).unwrap();
                for o in &others {
                    assert!(
                        !info.subject.contains(&o.name) && !info.issuer.contains(&o.name),
                        "{p}"
                    );
                }
            }
        }
        // No key file equals a key of another host.
        let other_out: Vec<_> = others
            .iter()
            .map(|o| snapshot(&f.dir.path().join("out").join(&o.name)))
            .collect();
        for (p, c) in &mine_and_shared {
            if p.ends_with(".key") && !p.ends_with("sa.key") {
                for snap in &other_out {
                    assert!(
                        !snap.iter().any(|(_, oc)| oc == c),
                        "{p} shared with another host"
                    );
                }
            }
        }
    }
    // Keys are private.
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(out_cp.join("etc/kubernetes/pki/apiserver.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(m & 0o777, 0o600);
    let _ = out_cp2;
}

#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    let f = fixture(cluster(), now());
    let host = "cp1.example.test";
    let before = snapshot(f.dir.path());

    // Wrong password.
    let e = f
        .pki
        .intermediate(host, Realm::Etcd, b"wrong", now(), None)
        .unwrap_err();
    assert!(
        e.to_string().contains("wrong password") && e.to_string().contains("etcd.key"),
        "{e}"
    );
    assert_eq!(snapshot(f.dir.path()), before);

    // Host outside the cluster domain, or an IP address as host.
    let e = f
        .pki
        .intermediate("cp1.evil.org", Realm::Etcd, PASSWORD, now(), None)
        .unwrap_err();
    assert!(e.to_string().contains("cluster domain"), "{e}");
    let e = f
        .pki
        .intermediate("10.0.0.1", Realm::Etcd, PASSWORD, now(), None)
        .unwrap_err();
    assert!(e.to_string().contains("R28"), "{e}");
    assert_eq!(snapshot(f.dir.path()), before);

    // Corrupt and truncated root key.
    let key = f.pki.root_key_path(Realm::Etcd);
    let good = std::fs::read_to_string(&key).unwrap();
    for (what, bad) in [
        ("truncated", good[..good.len() / 2].to_string()),
        ("corrupt", good.replacen("M", "x", 3)),
        ("not a key", "hello\n".to_string()),
    ] {
        std::fs::write(&key, &bad).unwrap();
        let snap = snapshot(f.dir.path());
        let e = f
            .pki
            .intermediate(host, Realm::Etcd, PASSWORD, now(), None)
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("etcd.key")
                && (msg.contains("corrupt")
                    || msg.contains("truncated")
                    || msg.contains("wrong password")),
            "{what}: {msg}"
        );
        assert_eq!(snapshot(f.dir.path()), snap, "{what}");
    }
    std::fs::write(&key, &good).unwrap();

    // A node with an IP SAN: refused when reading node.yaml.
    let y = f.path("node.yaml");
    std::fs::write(&y, format!("name: cp1.{DOMAIN}\ncluster_domain: {DOMAIN}\ndns_names: [192.168.1.10]\nroles: [etcd]\n")).unwrap();
    let e = NodeSpec::load(&y).unwrap_err().to_string();
    assert!(
        e.contains("node.yaml") && e.contains("dns_names") && e.contains("IP address"),
        "{e}"
    );

    // A node of another domain (names outside the realms' constraints).
    let mut other = node("cp1", &[Role::Etcd]);
    other.cluster_domain = "evil.org".into();
    other.name = "cp1.evil.org".into();
    let out = f.path("out-evil");
    let e = f
        .pki
        .issue_node(&other, "evil.yaml", &out, now())
        .unwrap_err();
    assert!(matches!(e, StoreError::WrongDomain { .. }), "{e}");
    assert!(!out.exists());

    // Missing intermediate: says which command makes it.
    let n = node("cp1", &[Role::Etcd]);
    let e = f
        .pki
        .issue_node(&n, "node.yaml", &out, now())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pki intermediate --host cp1.example.test --realm"),
        "{e}"
    );
    assert!(!out.exists());

    // Expired intermediate: nothing written.
    for r in plan_node(&f.pki.config, &n).realms() {
        f.pki
            .intermediate(&n.name, r, PASSWORD, now(), Some(10))
            .unwrap();
    }
    let e = f
        .pki
        .issue_node(&n, "node.yaml", &out, now() + Duration::days(11))
        .unwrap_err()
        .to_string();
    assert!(e.contains("expired") && e.contains("offline root"), "{e}");
    assert!(!out.exists());
}

#[test]
fn init_is_idempotent_and_refuses_changed_settings() {
    let f = fixture(cluster(), now());
    let before = snapshot(f.dir.path());
    let r = PkiDir::init(&f.pki.dir, &cluster(), &Realm::ALL, PASSWORD, now()).unwrap();
    assert!(!r.created);
    assert_eq!(snapshot(f.dir.path()), before);
    let mut other = cluster();
    other.domain = "other.test".into();
    other.api_endpoint = None;
    let e = PkiDir::init(&f.pki.dir, &other, &Realm::ALL, PASSWORD, now()).unwrap_err();
    assert!(matches!(e, StoreError::AlreadyInitialised { .. }), "{e}");
    assert_eq!(snapshot(f.dir.path()), before);
}

#[test]
fn list_shows_every_certificate_as_table_and_json() {
    let f = fixture(cluster(), now());
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    f.issue(&cp, now());
    let rows = mk_pki::inventory::list(&f.pki.dir, now()).unwrap();
    let plan = plan_node(&f.pki.config, &cp);
    let roots = rows.iter().filter(|r| r.kind == "root").count();
    let inters = rows.iter().filter(|r| r.kind == "intermediate").count();
    let leaves = rows.iter().filter(|r| r.kind == "leaf").count();
    assert_eq!(
        (roots, inters, leaves),
        (
            Realm::ALL.len(),
            plan.intermediates.len(),
            plan.leaves.len()
        )
    );
    let apiserver = rows
        .iter()
        .find(|r| r.path.ends_with("leaves/apiserver.crt"))
        .unwrap();
    assert_eq!(apiserver.realm, "kubernetes");
    assert!(apiserver
        .sans
        .contains(&"kubernetes.default.svc.cluster.local".to_string()));
    assert!(apiserver.issuer.contains("kubernetes cp1.example.test"));
    assert!(
        (6..=7).contains(&apiserver.days_left),
        "{}",
        apiserver.days_left
    );
    let table = mk_pki::inventory::table(&rows);
    assert!(
        table.starts_with("PATH")
            && table.contains("DAYS")
            && table.lines().count() == rows.len() + 1
    );
    let json: serde_json::Value = serde_json::from_str(&mk_pki::inventory::json(&rows)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), rows.len());
    assert!(json[0]
        .get("not_after")
        .unwrap()
        .as_str()
        .unwrap()
        .contains('T'));
}
