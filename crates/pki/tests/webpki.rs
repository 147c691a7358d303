//! rustls' verifier (webpki) accepts each chain for the names it was issued
//! for, with the right usage, and refuses it for any other name and for the
//! wrong realm.

mod common;

use common::*;
use mk_pki::config::{ClusterConfig, Role};
use mk_pki::plan::{plan_node, Usage};
use mk_pki::Realm;
use rustls_pki_types::{CertificateDer, DnsName, ServerName, UnixTime};
use time::OffsetDateTime;
use webpki::{anchor_from_trusted_cert, EndEntityCert, KeyUsage, ALL_VERIFICATION_ALGS};

#[test]
fn chains_are_valid_for_their_names_only() {
    let now = OffsetDateTime::now_utc();
    let mut cfg = ClusterConfig::new(DOMAIN);
    cfg.ed25519_where_supported = true;
    let f = fixture(cfg, now);
    let at =
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.unix_timestamp() as u64));
    let roots: Vec<(Realm, Vec<u8>)> = Realm::ALL
        .iter()
        .map(|r| {
            (
                *r,
                der_certs(&std::fs::read_to_string(f.pki.root_cert_path(*r)).unwrap()).remove(0),
            )
        })
        .collect();
    let cp1 = node("cp1", &[Role::ControlPlane, Role::Etcd]);
    let cp2 = node("cp2", &[Role::ControlPlane, Role::Etcd]);
    let out1 = f.issue(&cp1, now);
    f.issue(&cp2, now);
    let mut checked = 0;
    for leaf in &plan_node(&f.pki.config, &cp1).leaves {
        let chain = der_certs(
            &std::fs::read_to_string(out1.join(leaf.cert_path.trim_start_matches('/'))).unwrap(),
        );
        let leaf_der = CertificateDer::from(chain[0].clone());
        let inter = [CertificateDer::from(chain[1].clone())];
        let ee = EndEntityCert::try_from(&leaf_der).unwrap();
        let usage = if leaf.usages.contains(&Usage::ServerAuth) {
            KeyUsage::server_auth()
        } else {
            KeyUsage::client_auth()
        };
        for (realm, root) in &roots {
            let root_der = CertificateDer::from(root.clone());
            let anchors = [anchor_from_trusted_cert(&root_der).unwrap()];
            let r = ee
                .verify_for_usage(
                    ALL_VERIFICATION_ALGS,
                    &anchors,
                    &inter,
                    at,
                    usage,
                    None,
                    None,
                )
                .map(|_| ());
            if *realm == leaf.realm {
                r.unwrap_or_else(|e| panic!("{}: {e:?}", leaf.id));
            } else {
                assert!(r.is_err(), "{} accepted under the {realm} root", leaf.id);
            }
        }
        if leaf.usages.contains(&Usage::ServerAuth) {
            for n in &leaf.dns_names {
                let name = ServerName::DnsName(DnsName::try_from(n.as_str()).unwrap());
                ee.verify_is_valid_for_subject_name(&name)
                    .unwrap_or_else(|e| panic!("{} for {n}: {e:?}", leaf.id));
            }
            // The other control plane's name, and a name outside the domain.
            for other in [cp2.name.as_str(), "cp1.example.org", "example.test"] {
                let name = ServerName::DnsName(DnsName::try_from(other).unwrap());
                assert!(
                    ee.verify_is_valid_for_subject_name(&name).is_err(),
                    "{} valid for {other}",
                    leaf.id
                );
            }
            let ip = ServerName::IpAddress("127.0.0.1".try_into().unwrap());
            assert!(
                ee.verify_is_valid_for_subject_name(&ip).is_err(),
                "{}: valid for an IP",
                leaf.id
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "server certificates checked: {checked}");
}
