//! Renewal after power-offs, on nodes without /etc/mk/pki.yaml (configured
//! from a config drive): the plan is derived from the certificates on the
//! node, expired leaves renew at the next start, expired intermediates fail
//! loudly with the admin's way out, and the kubelet's re-bootstrap
//! credential is issued but never renewed on the node.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use mk_pki::cert::{self, CertInfo};
use mk_pki::config::Role;
use mk_pki::issue::BACKDATE;
use mk_pki::plan::{self, plan_node, RenewedBy, Usage};
use mk_pki::renew::{
    self, load_manifest, node_manifest, renew_at_boot, renew_node, IntermediateState, LeafOutcome,
    NothingRunning, RenewOptions,
};
use mk_pki::Realm;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn t0() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn read_chain(root: &Path, abs: &str) -> Vec<CertInfo> {
    let p = root.join(abs.trim_start_matches('/'));
    cert::parse_pem_chain(&std::fs::read_to_string(&p).unwrap(), s(&p)).unwrap()
}

fn drop_manifest(root: &Path) {
    std::fs::remove_file(root.join(plan::MANIFEST_PATH.trim_start_matches('/'))).unwrap();
}

/// `openssl verify` of the leaf file at `abs` against its realm's root, with
/// the intermediate from the file's chain, at `at`, for the leaf's purpose.
fn openssl_verify(f: &Fixture, root: &Path, l: &plan::LeafSpec, at: OffsetDateTime) {
    let file = root.join(l.cert_path.trim_start_matches('/'));
    let chain = der_certs(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(chain.len(), 2, "{}: leaf + intermediate", l.id);
    let inter = f.path(&format!("inter-{}.pem", l.id.replace('/', "-")));
    std::fs::write(
        &inter,
        pem::encode(&pem::Pem::new("CERTIFICATE", chain[1].clone())),
    )
    .unwrap();
    let purpose = if l.usages.contains(&Usage::ServerAuth) {
        "sslserver"
    } else {
        "sslclient"
    };
    let (ok, out) = openssl(&[
        "verify",
        "-attime",
        &at.unix_timestamp().to_string(),
        "-purpose",
        purpose,
        "-CAfile",
        s(&f.pki.root_cert_path(l.realm)),
        "-untrusted",
        s(&inter),
        s(&file),
    ]);
    assert!(ok, "{}: {out}", l.id);
}

#[test]
fn without_manifest_every_leaf_renews_with_the_same_identity() {
    let mut cfg = cluster();
    // Both key algorithms on one node: the derived plan must keep each.
    cfg.ed25519_where_supported = true;
    let f = fixture(cfg, t0());
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd, Role::Worker]);
    let root = f.issue(&cp, t0());
    let written = load_manifest(&root).unwrap();
    drop_manifest(&root);

    // Derived from the certificates alone, the plan is the one issue-node
    // wrote (less the service-account pair, which renewal never touches).
    let derived = node_manifest(&root).unwrap();
    assert_eq!(derived.host, cp.name);
    assert_eq!(derived.intermediates, written.intermediates);
    assert_eq!(derived.leaves, written.leaves);
    assert!(derived
        .leaves
        .iter()
        .any(|l| l.algorithm == mk_pki::KeyAlgorithm::Ed25519));

    let by_node: BTreeSet<String> = written
        .leaves
        .iter()
        .filter(|l| l.renewed_by == RenewedBy::Node)
        .map(|l| l.id.clone())
        .collect();
    assert_eq!(by_node.len(), 10);
    let before = snapshot(&root);
    let old: Vec<Vec<CertInfo>> = written
        .leaves
        .iter()
        .map(|l| read_chain(&root, &l.cert_path))
        .collect();
    let at80 = (t0() - BACKDATE) + (Duration::days(7) + BACKDATE) * 0.8;
    let opts = RenewOptions {
        root: root.clone(),
        metrics_file: None,
    };
    let r = renew_node(&opts, at80, &mut NothingRunning).unwrap();
    assert_eq!(r.failures(), 0, "{}", r.summary());
    let renewed: BTreeSet<String> = r.renewed().into_iter().map(String::from).collect();
    assert_eq!(renewed, by_node);
    assert_eq!(r.host, cp.name);
    assert!(r.advice().is_none());

    let after = snapshot(&root);
    let bytes = |snap: &[(String, Vec<u8>)], abs: &str| {
        snap.iter()
            .find(|(p, _)| p == abs.trim_start_matches('/'))
            .unwrap_or_else(|| panic!("{abs} missing"))
            .1
            .clone()
    };
    for (l, old) in written.leaves.iter().zip(&old) {
        let new = read_chain(&root, &l.cert_path);
        if l.renewed_by != RenewedBy::Node {
            assert_eq!(
                bytes(&before, &l.cert_path),
                bytes(&after, &l.cert_path),
                "{}: not ours to renew",
                l.id
            );
            continue;
        }
        let (o, n) = (&old[0], &new[0]);
        assert_eq!(n.subject, o.subject, "{}", l.id);
        assert_eq!(n.organizations, o.organizations, "{}", l.id);
        assert_eq!(n.dns_names, o.dns_names, "{}", l.id);
        // The apiserver keeps the kubernetes Service address; nothing else
        // names an IP.
        assert_eq!(n.ip_addresses, o.ip_addresses, "{}", l.id);
        if l.id == "apiserver" {
            assert_eq!(n.ip_addresses, ["10.96.0.1"], "{}", l.id);
        } else {
            assert!(n.ip_addresses.is_empty(), "{}", l.id);
        }
        assert_eq!(
            (n.server_auth, n.client_auth),
            (o.server_auth, o.client_auth),
            "{}",
            l.id
        );
        assert_eq!(n.issuer, o.issuer, "{}", l.id);
        assert_eq!(n.key_algorithm, o.key_algorithm, "{}", l.id);
        assert_ne!(n.serial, o.serial, "{}", l.id);
        assert_eq!(
            n.not_after,
            (at80 + Duration::days(7)).replace_nanosecond(0).unwrap(),
            "{}",
            l.id
        );
        assert_ne!(
            bytes(&before, &l.key_path),
            bytes(&after, &l.key_path),
            "{}: key reused",
            l.id
        );
        openssl_verify(&f, &root, l, at80 + Duration::hours(1));
    }
    let text = r.summary();
    assert!(text.contains("renewed   apiserver ("), "{text}");
    assert!(
        text.contains("kubelet   kubelet-client (")
            && text.contains("admin     kubelet-bootstrap-client ("),
        "{text}"
    );
    assert!(
        text.contains(
            "intermediate etcd ok: /etc/kubernetes/pki/etcd/ca-intermediate.crt expires "
        ),
        "{text}"
    );
}

/// A node off for 10 days: its 7-day leaves expired, its intermediates (90
/// days) did not. The first renewal at start replaces every leaf.
#[test]
fn leaves_expired_during_a_power_off_renew_at_the_next_start() {
    let f = fixture(cluster(), t0());
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    let root = f.issue(&cp, t0());
    drop_manifest(&root);
    let plan = plan_node(&f.pki.config, &cp);
    let back = t0() + Duration::days(10);
    for l in plan
        .leaves
        .iter()
        .filter(|l| l.renewed_by == RenewedBy::Node)
    {
        assert!(read_chain(&root, &l.cert_path)[0].not_after < back);
    }
    let r = renew_at_boot(&root, back).unwrap();
    assert_eq!(r.failures(), 0, "{}", r.summary());
    assert_eq!(r.renewed().len(), 10, "{}", r.summary());
    for i in &r.intermediates {
        assert_eq!(i.state, IntermediateState::Ok, "{}", i.realm);
        assert!((79..=80).contains(&i.days_left), "{}", i.days_left);
    }
    for l in plan
        .leaves
        .iter()
        .filter(|l| l.renewed_by == RenewedBy::Node)
    {
        openssl_verify(&f, &root, l, back + Duration::minutes(1));
    }
    // The next start changes nothing.
    let snap = snapshot(&root);
    let r = renew_at_boot(&root, back + Duration::minutes(2)).unwrap();
    assert!(r.renewed().is_empty());
    assert_eq!(snapshot(&root), snap);
}

/// Etcd's intermediate (10 days) expired during the power-off, the others
/// (90 days) did not: kubernetes and front-proxy leaves renew, etcd leaves
/// fail naming the intermediate, its expiry and what the admin must run,
/// and nothing of etcd's is written.
#[test]
fn leaves_of_an_expired_intermediate_fail_with_the_admins_way_out() {
    let f = fixture(cluster(), t0());
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    for r in plan_node(&f.pki.config, &cp).realms() {
        let days = (r == Realm::Etcd).then_some(10);
        f.pki
            .intermediate(&cp.name, r, PASSWORD, t0(), days)
            .unwrap();
    }
    let root = f.path("node");
    f.pki.issue_node(&cp, "cp1.yaml", &root, t0()).unwrap();
    drop_manifest(&root);
    let etcd_files: Vec<String> = tree(&root)
        .into_iter()
        .filter(|p| p.contains("/etcd/") || p.contains("etcd-client"))
        .collect();
    let before = snapshot(&root);

    let back = t0() + Duration::days(12);
    let r = renew_at_boot(&root, back).unwrap();
    let etcd = r
        .intermediates
        .iter()
        .find(|i| i.realm == Realm::Etcd)
        .unwrap();
    assert_eq!(etcd.state, IntermediateState::Expired);
    let expiry = OffsetDateTime::from_unix_timestamp(etcd.not_after)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    assert_eq!(r.expired_realms(), vec![Realm::Etcd]);
    let mut failed = BTreeSet::new();
    for l in &r.leaves {
        match &l.outcome {
            LeafOutcome::Failed { error } => {
                assert_eq!(l.realm, Realm::Etcd, "{}: {error}", l.id);
                for want in [
                    "/etc/kubernetes/pki/etcd/ca-intermediate.crt",
                    expiry.as_str(),
                    "mk-compose pki intermediate --dir PKI --host cp1.example.test --realm etcd",
                    "mk-compose config-drive --config cp1.example.test-config.yaml --pki-dir drive/cp1.example.test",
                ] {
                    assert!(error.contains(want), "{}: {want:?} not in {error}", l.id);
                }
                failed.insert(l.id.clone());
            }
            LeafOutcome::Renewed { .. } => assert_ne!(l.realm, Realm::Etcd),
            _ => {}
        }
    }
    assert_eq!(
        failed,
        [
            "apiserver-etcd-client",
            "etcd/healthcheck-client",
            "etcd/peer",
            "etcd/server"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(r.renewed().len(), 6);
    let after = snapshot(&root);
    for p in &etcd_files {
        let get = |s: &[(String, Vec<u8>)]| s.iter().find(|(q, _)| q == p).unwrap().1.clone();
        assert_eq!(get(&before), get(&after), "{p} written");
    }
    let advice = r.advice().unwrap();
    assert!(
        advice.contains("mk-compose pki intermediate --dir PKI --host cp1.example.test --realm etcd\n")
            && advice.contains("mk-compose pki issue-node --dir PKI --node cp1.example.test.yaml --out drive/cp1.example.test")
            && advice.contains("--out cp1.example.test-config.img"),
        "{advice}"
    );
    let text = r.summary();
    assert!(
        text.contains(&format!(
            "intermediate etcd EXPIRED: /etc/kubernetes/pki/etcd/ca-intermediate.crt expires {expiry}"
        )) && text.contains("FAILED    etcd/server")
            && text.ends_with(&format!("{advice}\n")),
        "{text}"
    );
}

/// Help for more than one realm names each once, in one command.
#[test]
fn advice_names_every_expired_realm() {
    let a =
        renew::expired_intermediates_advice("cp2.example.test", &[Realm::Etcd, Realm::Kubernetes]);
    assert!(
        a.contains("--host cp2.example.test --realm etcd --realm kubernetes\n"),
        "{a}"
    );
    assert!(a.contains("intermediate(s) etcd, kubernetes of cp2.example.test expired"));
}

#[test]
fn worker_without_manifest_renews_nothing_and_reports_its_credentials() {
    let f = fixture(cluster(), t0());
    let w = node("w1", &[Role::Worker]);
    let root = f.issue(&w, t0());
    drop_manifest(&root);
    let m = node_manifest(&root).unwrap();
    assert_eq!(m.host, w.name);
    assert!(m.intermediates.is_empty());
    let ids: Vec<&str> = m.leaves.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "kubelet-client",
            "kubelet-serving",
            plan::BOOTSTRAP_CLIENT_ID
        ]
    );
    let snap = snapshot(&root);
    let r = renew_at_boot(&root, t0() + Duration::days(10)).unwrap();
    assert_eq!(r.failures(), 0, "{}", r.summary());
    assert!(r.renewed().is_empty());
    assert_eq!(snapshot(&root), snap);
    let b = r
        .leaves
        .iter()
        .find(|l| l.id == plan::BOOTSTRAP_CLIENT_ID)
        .unwrap();
    assert!(matches!(b.outcome, LeafOutcome::Admin));
    let (ic, _) = f.pki.intermediate_paths(&w.name, Realm::Kubernetes);
    let inter = cert::parse_pem(&std::fs::read_to_string(&ic).unwrap(), "i").unwrap();
    assert_eq!(b.not_after, Some(inter.not_after.unix_timestamp()));
}

/// A leaf file that is not what its name says fails alone; the others renew.
#[test]
fn a_foreign_leaf_file_fails_alone() {
    let f = fixture(cluster(), t0());
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    let root = f.issue(&cp, t0());
    drop_manifest(&root);
    // The front-proxy client certificate replaced by an etcd-realm one.
    let pki = root.join("etc/kubernetes/pki");
    std::fs::copy(
        pki.join("apiserver-etcd-client.crt"),
        pki.join("front-proxy-client.crt"),
    )
    .unwrap();
    let e = node_manifest(&root).unwrap_err().to_string();
    assert!(
        e.contains("front-proxy-client.crt: issued in realm etcd")
            && e.contains("expected realm front-proxy")
            && e.contains("/etc/mk/pki.yaml"),
        "{e}"
    );
    let r = renew_at_boot(&root, t0() + Duration::days(8)).unwrap();
    assert_eq!(r.failures(), 1, "{}", r.summary());
    assert_eq!(r.renewed().len(), 9);
}

#[test]
fn re_bootstrap_credential_is_issued_to_every_node_until_its_intermediate_ends() {
    let f = fixture(cluster(), t0());
    let w = node("w1", &[Role::Worker]);
    let out = f.issue(&w, t0());
    let files = tree(&out);
    for want in [
        "var/lib/kubelet/pki/bootstrap-client.crt",
        "var/lib/kubelet/pki/bootstrap-client.key",
    ] {
        assert!(files.iter().any(|p| p == want), "{want} not in {files:?}");
    }
    let crt = out.join("var/lib/kubelet/pki/bootstrap-client.crt");
    let chain = read_chain(&out, plan::BOOTSTRAP_CLIENT_CERT);
    let c = &chain[0];
    assert_eq!(c.common_name, "mk:bootstrap:w1.example.test");
    assert_eq!(
        c.organizations,
        vec![
            "system:bootstrappers",
            "system:bootstrappers:mk:node-recovery"
        ]
    );
    assert!(c.client_auth && !c.server_auth && !c.is_ca);
    assert!(c.dns_names.is_empty() && c.ip_addresses.is_empty());
    // Lives exactly as long as the host's kubernetes intermediate.
    assert_eq!(chain[1].realm, Some(Realm::Kubernetes));
    assert_eq!(c.not_after, chain[1].not_after);
    assert!((c.not_after - t0()).whole_days() >= 89);
    // OpenSSL sees both groups and a valid client chain.
    let (_, subj) = openssl(&["x509", "-in", s(&crt), "-noout", "-subject"]);
    assert!(
        subj.contains("O = system:bootstrappers, O = system:bootstrappers:mk:node-recovery"),
        "{subj}"
    );
    let spec = plan_node(&f.pki.config, &w)
        .leaves
        .into_iter()
        .find(|l| l.id == plan::BOOTSTRAP_CLIENT_ID)
        .unwrap();
    openssl_verify(&f, &out, &spec, t0() + Duration::days(80));
    // The key is the certificate's and private.
    use std::os::unix::fs::PermissionsExt;
    let key = out.join("var/lib/kubelet/pki/bootstrap-client.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (ok, m1) = openssl(&["x509", "-in", s(&crt), "-noout", "-pubkey"]);
    let (ok2, m2) = openssl(&["pkey", "-in", s(&key), "-pubout"]);
    assert!(ok && ok2 && m1 == m2, "{m1}\n{m2}");
    // Listed in the node bundle and in the admin's inventory.
    let rows = mk_pki::inventory::list(&out, t0()).unwrap();
    let row = rows
        .iter()
        .find(|r| r.path == "var/lib/kubelet/pki/bootstrap-client.crt")
        .unwrap();
    assert_eq!((row.kind, row.realm.as_str()), ("leaf", "kubernetes"));
    assert!(row.subject.contains("mk:bootstrap:w1.example.test"));
    let rows = mk_pki::inventory::list(&f.pki.dir, t0()).unwrap();
    assert!(
        rows.iter()
            .any(|r| r.path == "hosts/w1.example.test/leaves/kubelet-bootstrap-client.crt"),
        "{rows:?}"
    );
    // Control planes get one too.
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    let out = f.issue(&cp, t0());
    assert!(out
        .join("var/lib/kubelet/pki/bootstrap-client.crt")
        .exists());
}

/// What renewal costs at boot on a control plane: all ten leaves it renews,
/// every one due (back from a long power-off). Printed for the record:
/// `cargo nextest run -p mk-pki -E 'test(boot_renewal_time)' --no-capture`.
#[test]
fn boot_renewal_time_of_a_control_planes_leaf_set() {
    for (label, ed25519) in [("ecdsa-p256", false), ("p256+ed25519", true)] {
        let mut cfg = cluster();
        cfg.ed25519_where_supported = ed25519;
        let f = fixture(cfg, t0());
        let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
        let root = f.issue(&cp, t0());
        drop_manifest(&root);
        let start = std::time::Instant::now();
        let r = renew_at_boot(&root, t0() + Duration::days(10)).unwrap();
        let took = start.elapsed();
        assert_eq!(
            (r.renewed().len(), r.failures()),
            (10, 0),
            "{}",
            r.summary()
        );
        eprintln!(
            "boot renewal, control plane + etcd, {label}: {} leaves renewed (manifest derived from the certificates) in {:.1} ms",
            r.renewed().len(),
            took.as_secs_f64() * 1000.0
        );
    }
}
