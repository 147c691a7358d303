//! Node-side renewal with a fake clock, on a real node bundle.

mod common;

use std::collections::BTreeSet;

use common::*;
use mk_pki::config::{ClusterConfig, Role};
use mk_pki::plan::{plan_node, Reload, RenewedBy};
use mk_pki::renew::{renew_node, IntermediateState, LeafOutcome, Reloader, RenewOptions};
use time::{Duration, OffsetDateTime};

#[derive(Default)]
struct Recorder(Vec<String>);
impl Reloader for Recorder {
    fn restart_static_pod(&mut self, name: &str) -> Result<(), String> {
        self.0.push(name.to_string());
        Ok(())
    }
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn renews_at_seventy_percent_not_at_fifty() {
    let f = fixture(ClusterConfig::new(DOMAIN), t0());
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    let root = f.issue(&cp, t0());
    let metrics = f.path("metrics/mk_pki.prom");
    let opts = RenewOptions {
        root: root.clone(),
        metrics_file: Some(metrics.clone()),
    };
    let plan = plan_node(&f.pki.config, &cp);
    let by_node: BTreeSet<String> = plan
        .leaves
        .iter()
        .filter(|l| l.renewed_by == RenewedBy::Node)
        .map(|l| l.id.clone())
        .collect();
    // Certificates start BACKDATE before issue: life is 7 days + 5 minutes.
    let life = Duration::days(7) + mk_pki::issue::BACKDATE;
    let nb = t0() - mk_pki::issue::BACKDATE;

    // 50%: nothing happens, nothing changes.
    let before = snapshot(&root);
    let mut rec = Recorder::default();
    let r = renew_node(&opts, nb + life * 0.5, &mut rec).unwrap();
    assert!(r.renewed().is_empty(), "{:?}", r.renewed());
    assert_eq!(snapshot(&root), before);
    assert!(rec.0.is_empty());
    assert!(
        r.leaves
            .iter()
            .filter(|l| matches!(l.outcome, LeafOutcome::Kubelet))
            .count()
            == 2
    );

    // 70%: every leaf the node renews is replaced (new key, new serial),
    // the kubelet's are left alone, kube-apiserver restarts once.
    let at70 = nb + life * 0.7;
    let r = renew_node(&opts, at70, &mut rec).unwrap();
    let renewed: BTreeSet<String> = r.renewed().into_iter().map(String::from).collect();
    assert_eq!(renewed, by_node);
    assert_eq!(rec.0, vec!["kube-apiserver"]);
    assert_eq!(r.failures(), 0);
    let after = snapshot(&root);
    for l in &plan.leaves {
        let rel = l.cert_path.trim_start_matches('/');
        let old = &before.iter().find(|(p, _)| p == rel).unwrap().1;
        let new = &after.iter().find(|(p, _)| p == rel).unwrap().1;
        let key_rel = l.key_path.trim_start_matches('/');
        let old_key = &before.iter().find(|(p, _)| p == key_rel).unwrap().1;
        let new_key = &after.iter().find(|(p, _)| p == key_rel).unwrap().1;
        if l.renewed_by == RenewedBy::Node {
            assert_ne!(old, new, "{}", l.id);
            assert_ne!(old_key, new_key, "{}: key reused", l.id);
            let c = mk_pki::cert::parse_pem(&String::from_utf8_lossy(new), rel).unwrap();
            assert_eq!(
                c.not_after,
                (at70 + Duration::days(7)).replace_nanosecond(0).unwrap()
            );
            assert_eq!(c.common_name, l.common_name);
            assert_eq!(c.dns_names, l.dns_names);
            let ips: Vec<String> = l.ip_addresses.iter().map(|i| i.to_string()).collect();
            assert_eq!(c.ip_addresses, ips, "{}", l.id);
            if l.id == "apiserver" {
                assert_eq!(ips, ["10.96.0.1"]);
            }
            // Still verifies with OpenSSL.
            let inter = f.path("i.pem");
            let chain = der_certs(&String::from_utf8_lossy(new));
            std::fs::write(
                &inter,
                pem::encode(&pem::Pem::new("CERTIFICATE", chain[1].clone())),
            )
            .unwrap();
            let rootp = f.pki.root_cert_path(l.realm);
            let attime = format!("{}", (at70 + Duration::hours(1)).unix_timestamp());
            let (ok, out) = openssl(&[
                "verify",
                "-attime",
                &attime,
                "-CAfile",
                rootp.to_str().unwrap(),
                "-untrusted",
                inter.to_str().unwrap(),
                root.join(rel).to_str().unwrap(),
            ]);
            assert!(ok, "{}: {out}", l.id);
        } else {
            assert_eq!(old, new, "{} is the kubelet's", l.id);
        }
    }
    // Right after, nothing is due again.
    let r = renew_node(&opts, at70 + Duration::hours(1), &mut rec).unwrap();
    assert!(r.renewed().is_empty());

    let m = std::fs::read_to_string(&metrics).unwrap();
    assert!(m.contains("mk_pki_certificate_expiry_timestamp_seconds{kind=\"leaf\",id=\"apiserver\",realm=\"kubernetes\"}"), "{m}");
    assert!(
        m.contains("mk_pki_intermediate_needs_root{realm=\"etcd\"} 0"),
        "{m}"
    );
    assert!(m.contains("mk_pki_renew_failures 0"), "{m}");
    let _ = Reload::Nothing;
}

#[test]
fn expiring_and_expired_intermediates_are_reported_and_write_nothing() {
    let f = fixture(ClusterConfig::new(DOMAIN), t0());
    let n = node("e1", &[Role::Etcd]);
    let root = f.issue(&n, t0());
    let metrics = f.path("m.prom");
    let opts = RenewOptions {
        root: root.clone(),
        metrics_file: Some(metrics.clone()),
    };
    let mut rec = Recorder::default();
    // Day 70 of 90: intermediate expiring, leaves (7 days) long due.
    let r = renew_node(&opts, t0() + Duration::days(70), &mut rec).unwrap();
    let etcd = r
        .intermediates
        .iter()
        .find(|i| i.realm == mk_pki::Realm::Etcd)
        .unwrap();
    assert_eq!(etcd.state, IntermediateState::Expiring);
    assert!(std::fs::read_to_string(&metrics)
        .unwrap()
        .contains("mk_pki_intermediate_needs_root{realm=\"etcd\"} 1"));
    assert_eq!(r.renewed().len(), 3);
    // Day 91: expired; renewal fails loudly and leaves the files alone.
    let before = snapshot(&root);
    let r = renew_node(&opts, t0() + Duration::days(91), &mut rec).unwrap();
    assert_eq!(r.intermediates[0].state, IntermediateState::Expired);
    assert_eq!(r.failures(), 3);
    for l in &r.leaves {
        if let LeafOutcome::Failed { error } = &l.outcome {
            assert!(
                error.contains("expired") && error.contains("offline root"),
                "{error}"
            );
        }
    }
    assert_eq!(snapshot(&root), before);
    assert!(std::fs::read_to_string(&metrics)
        .unwrap()
        .contains("mk_pki_renew_failures 3"));
}

/// First boot hands keys to service accounts (etcd reads etcd/server.key as
/// uid 401, mode 0600); a renewal that wrote them back as root would lock
/// etcd out of its own key at the next restart.
#[test]
fn renewal_keeps_each_files_owner_and_mode() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let f = fixture(ClusterConfig::new(DOMAIN), t0());
    let cp = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    let root = f.issue(&cp, t0());
    let plan = plan_node(&f.pki.config, &cp);
    let leaf = plan
        .leaves
        .iter()
        .find(|l| l.renewed_by == RenewedBy::Node && l.key_path != l.cert_path)
        .expect("a node-renewed leaf with a separate key");
    let key = root.join(leaf.key_path.trim_start_matches('/'));
    let cert = root.join(leaf.cert_path.trim_start_matches('/'));
    std::os::unix::fs::chown(&key, Some(401), Some(401)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    std::os::unix::fs::chown(&cert, Some(401), Some(402)).unwrap();
    let before = std::fs::read(&key).unwrap();

    let life = Duration::days(7) + mk_pki::issue::BACKDATE;
    let nb = t0() - mk_pki::issue::BACKDATE;
    let opts = RenewOptions {
        root: root.clone(),
        metrics_file: None,
    };
    let r = renew_node(&opts, nb + life * 0.7, &mut Recorder::default()).unwrap();
    assert!(r.renewed().contains(&leaf.id.as_str()), "{:?}", r.renewed());
    assert_ne!(std::fs::read(&key).unwrap(), before, "key not renewed");
    let km = std::fs::metadata(&key).unwrap();
    assert_eq!((km.uid(), km.gid(), km.mode() & 0o7777), (401, 401, 0o400));
    let cm = std::fs::metadata(&cert).unwrap();
    assert_eq!((cm.uid(), cm.gid(), cm.mode() & 0o7777), (401, 402, 0o644));
}
