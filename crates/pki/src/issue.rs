//! Signing: roots, per-host intermediates and leaves, with the checks that
//! keep bad certificates from ever being written (IP SANs, names outside the
//! issuer's constraints, realm mix-ups, expired issuers).
//!
//! Realm marking: every CA's subject is `CN=<name>, O=mk, OU=<realm>`, so a
//! leaf's realm is its issuer's OU. Chains are root -> host intermediate
//! (pathlen 0) -> leaf.

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyIdMethod, KeyUsagePurpose, NameConstraints,
    SanType, SerialNumber,
};
use std::net::IpAddr;

use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::cert::{self, CertError, CertInfo};
use crate::entropy::{self, EntropyError};
use crate::keys::{pem_encode, PrivateKey};
use crate::names::{self, NameError};
use crate::plan::{LeafSpec, RenewedBy, Usage};
use crate::realm::Realm;

/// Certificates start this much before "now": clocks across a cluster are
/// never exactly in step, and a certificate from a node a minute ahead must
/// not be "not yet valid" on its peers.
pub const BACKDATE: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("{id}: {error}")]
    Name { id: String, error: NameError },
    #[error("{id}: the issuing CA {issuer:?} expired on {not_after} (now {now}); it needs renewing with its offline root first")]
    IssuerExpired {
        id: String,
        issuer: String,
        not_after: OffsetDateTime,
        now: OffsetDateTime,
    },
    #[error("{id}: the issuing CA {issuer:?} is not valid before {not_before} (now {now})")]
    IssuerNotYetValid {
        id: String,
        issuer: String,
        not_before: OffsetDateTime,
        now: OffsetDateTime,
    },
    #[error("{id}: belongs to realm {expected} but the issuing CA is of realm {found}")]
    RealmMismatch {
        id: String,
        expected: Realm,
        found: String,
    },
    #[error("{what}: the private key does not belong to the certificate")]
    KeyMismatch { what: String },
    #[error("{what}: is not a CA certificate")]
    NotCa { what: String },
    #[error("{id}: {message}")]
    Invalid { id: String, message: String },
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error(transparent)]
    Entropy(#[from] EntropyError),
    #[error("{id}: encoding the certificate: {error}")]
    Encode { id: String, error: rcgen::Error },
}

/// A CA that can sign: its certificate and its key.
pub struct Ca {
    pub info: CertInfo,
    pub key: PrivateKey,
}

impl Ca {
    /// Pair a CA certificate with its key, checking that they belong together.
    pub fn new(info: CertInfo, key: PrivateKey, what: &str) -> Result<Ca, IssueError> {
        if !info.is_ca {
            return Err(IssueError::NotCa { what: what.into() });
        }
        if !info.matches_key(&key, what)? {
            return Err(IssueError::KeyMismatch { what: what.into() });
        }
        Ok(Ca { info, key })
    }

    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.info.der)
    }

    fn check_valid(&self, id: &str, now: OffsetDateTime) -> Result<(), IssueError> {
        if now > self.info.not_after {
            return Err(IssueError::IssuerExpired {
                id: id.into(),
                issuer: self.info.subject.clone(),
                not_after: self.info.not_after,
                now,
            });
        }
        if now < self.info.not_before {
            return Err(IssueError::IssuerNotYetValid {
                id: id.into(),
                issuer: self.info.subject.clone(),
                not_before: self.info.not_before,
                now,
            });
        }
        Ok(())
    }

    /// The rcgen issuer for this CA. The subject is rebuilt the way
    /// [`ca_name`] built it, and [`encode_signed`] checks that the result
    /// names this CA byte for byte (Go matches issuer to subject on raw
    /// bytes).
    fn issuer(&self, id: &str) -> Result<rcgen::Issuer<'static, &PrivateKey>, IssueError> {
        let realm = self.info.realm.ok_or_else(|| IssueError::Invalid {
            id: id.into(),
            message: format!("issuing CA {:?} names no realm (OU)", self.info.subject),
        })?;
        let mut p = CertificateParams::default();
        p.distinguished_name = ca_name(&self.info.common_name, realm);
        p.key_identifier_method = KeyIdMethod::PreSpecified(self.key.key_id());
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(rcgen::Issuer::new(p, &self.key))
    }

    fn raw_subject(&self) -> Vec<u8> {
        X509Certificate::from_der(&self.info.der)
            .map(|(_, x)| x.subject().as_raw().to_vec())
            .unwrap_or_default()
    }
}

fn serial() -> Result<SerialNumber, EntropyError> {
    // 128 random bits, positive and of fixed length (CA/B Forum asks >= 64).
    let mut b = entropy::bytes::<16>()?;
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&b))
}

fn base_params(
    key: &PrivateKey,
    now: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, IssueError> {
    let mut p = CertificateParams::default();
    p.not_before = now - BACKDATE;
    p.not_after = not_after;
    p.serial_number = Some(serial()?);
    p.key_identifier_method = KeyIdMethod::PreSpecified(key.key_id());
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

fn ca_name(cn: &str, realm: Realm) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "mk");
    dn.push(DnType::OrganizationalUnitName, realm.name());
    dn
}

fn encode_signed(
    id: &str,
    ca: &Ca,
    r: Result<rcgen::Certificate, rcgen::Error>,
) -> Result<CertInfo, IssueError> {
    let info = encode(id, r)?;
    let (_, x) = X509Certificate::from_der(&info.der).map_err(|e| CertError::Malformed {
        what: id.into(),
        why: e.to_string(),
    })?;
    if x.issuer().as_raw() != ca.raw_subject().as_slice() {
        return Err(IssueError::Invalid {
            id: id.into(),
            message: format!(
                "issuer name does not encode like the CA's subject {:?} (CA not made by mk?)",
                ca.info.subject
            ),
        });
    }
    Ok(info)
}

fn encode(id: &str, r: Result<rcgen::Certificate, rcgen::Error>) -> Result<CertInfo, IssueError> {
    let c = r.map_err(|error| IssueError::Encode {
        id: id.into(),
        error,
    })?;
    Ok(cert::parse_der(c.der(), id)?)
}

/// Self-signed root of `realm`, valid `days` from `now`. pathlen 1: it signs
/// intermediates only.
pub fn root(
    realm: Realm,
    key: &PrivateKey,
    now: OffsetDateTime,
    days: u32,
) -> Result<CertInfo, IssueError> {
    let mut p = base_params(key, now, now + Duration::days(days.into()))?;
    p.distinguished_name = ca_name(realm.root_common_name(), realm);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let id = format!("{realm} root");
    encode(&id, p.self_signed(key))
}

/// Intermediate of `realm` for one host, signed by the realm's root:
/// pathlen 0, DNS names constrained to `permitted` (if any), no IP addresses
/// at all unless the realm [allows them](Realm::allows_ip_addresses). It
/// never outlives the root.
pub fn intermediate(
    root: &Ca,
    realm: Realm,
    host: &str,
    permitted: Option<&[String]>,
    key: &PrivateKey,
    now: OffsetDateTime,
    days: u32,
) -> Result<CertInfo, IssueError> {
    intermediate_with_ips(root, realm, host, permitted, &[], key, now, days)
}

/// [`intermediate`] that also permits exactly the addresses `permitted_ips`
/// (each as a /32 or /128 subtree; [`Realm::permitted_ips`]): leaves may
/// then name those and no other IP address.
#[allow(clippy::too_many_arguments)]
pub fn intermediate_with_ips(
    root: &Ca,
    realm: Realm,
    host: &str,
    permitted: Option<&[String]>,
    permitted_ips: &[IpAddr],
    key: &PrivateKey,
    now: OffsetDateTime,
    days: u32,
) -> Result<CertInfo, IssueError> {
    let id = format!("{realm} intermediate for {host}");
    names::check_dns_name(host).map_err(|error| IssueError::Name {
        id: id.clone(),
        error: error.into(),
    })?;
    check_realm(&id, realm, root)?;
    root.check_valid(&id, now)?;
    let not_after = (now + Duration::days(days.into())).min(root.info.not_after);
    let mut p = base_params(key, now, not_after)?;
    p.distinguished_name = ca_name(&format!("{} {host}", realm.root_common_name()), realm);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let host_prefix = |ip: &IpAddr| if ip.is_ipv4() { 32 } else { 128 };
    p.name_constraints = Some(NameConstraints {
        permitted_subtrees: permitted
            .unwrap_or_default()
            .iter()
            .map(|d| GeneralSubtree::DnsName(d.clone()))
            .chain(permitted_ips.iter().map(|ip| {
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*ip, host_prefix(ip)))
            }))
            .collect(),
        // R28: no certificate below this CA may name an IP address, except
        // the kubelet's serving certificates (its CSR always carries the
        // node's addresses). With no permitted IP subtree, IPs are then
        // unconstrained (RFC 5280 4.2.1.10); the CSR approver checks them.
        // With permitted addresses, an IP SAN must be one of them; excluding
        // their whole family as well would void them (exclusion wins), so
        // only a family with no permitted address is excluded.
        excluded_subtrees: if realm.allows_ip_addresses() {
            vec![]
        } else {
            let mut v = Vec::new();
            if !permitted_ips.iter().any(IpAddr::is_ipv4) {
                v.push(GeneralSubtree::IpAddress(CidrSubnet::V4([0; 4], [0; 4])));
            }
            if !permitted_ips.iter().any(IpAddr::is_ipv6) {
                v.push(GeneralSubtree::IpAddress(CidrSubnet::V6([0; 16], [0; 16])));
            }
            v
        },
    });
    encode_signed(&id, root, p.signed_by(key, &root.issuer(&id)?))
}

fn check_realm(id: &str, realm: Realm, ca: &Ca) -> Result<(), IssueError> {
    if ca.info.realm != Some(realm) {
        return Err(IssueError::RealmMismatch {
            id: id.into(),
            expected: realm,
            found: ca
                .info
                .realm
                .map(|r| r.to_string())
                .unwrap_or_else(|| "none".into()),
        });
    }
    Ok(())
}

/// Check a leaf request against the issuing CA without signing anything.
pub fn check_leaf(ca: &Ca, spec: &LeafSpec, now: OffsetDateTime) -> Result<(), IssueError> {
    check_realm(&spec.id, spec.realm, ca)?;
    ca.check_valid(&spec.id, now)?;
    if spec.organizations.iter().any(|o| o.is_empty()) {
        return Err(IssueError::Invalid {
            id: spec.id.clone(),
            message: "empty organization (O)".into(),
        });
    }
    if spec.usages.is_empty() {
        return Err(IssueError::Invalid {
            id: spec.id.clone(),
            message: "no usage (server-auth / client-auth)".into(),
        });
    }
    for n in &spec.dns_names {
        let named = |error| IssueError::Name {
            id: spec.id.clone(),
            error,
        };
        names::check_dns_name(n).map_err(|e| named(e.into()))?;
        names::check_constraints(n, ca.info.permitted_dns.as_deref()).map_err(named)?;
    }
    for ip in &spec.ip_addresses {
        if !ip_permitted(&ca.info, *ip) {
            return Err(IssueError::Invalid {
                id: spec.id.clone(),
                message: format!(
                    "IP address {ip}: the issuing CA {:?} permits {}; certificates name DNS \
                     names only, but for the apiserver's kubernetes Service address and API VIP \
                     (R28). After changing pki.yaml's service_cidr or api_vip, re-sign the \
                     intermediate (mk-compose pki intermediate)",
                    ca.info.subject,
                    if ca.info.permitted_ips.is_empty() {
                        "no IP address".to_string()
                    } else {
                        format!("only {}", ca.info.permitted_ips.join(", "))
                    }
                ),
            });
        }
    }
    Ok(())
}

/// Whether a leaf of `ca` may name `ip`: inside one of its permitted
/// iPAddress subtrees, or anything in a realm that
/// [allows IP addresses](Realm::allows_ip_addresses).
pub fn ip_permitted(ca: &CertInfo, ip: IpAddr) -> bool {
    ca.realm.is_some_and(Realm::allows_ip_addresses)
        || ca.permitted_ips.iter().any(|c| cert::ip_in_subtree(ip, c))
}

/// Leaf for `spec`, signed by the host's intermediate `ca`. It never outlives
/// the intermediate.
pub fn leaf(
    ca: &Ca,
    spec: &LeafSpec,
    key: &PrivateKey,
    now: OffsetDateTime,
) -> Result<CertInfo, IssueError> {
    leaf_ending(
        ca,
        spec,
        key,
        now,
        now + Duration::days(spec.lifetime_days.into()),
    )
}

/// [`leaf`] ending at `wanted` (or with its intermediate, if that comes
/// first) instead of after `spec.lifetime_days`: for credentials that live
/// minutes ([`crate::ephemeral`]).
pub fn leaf_ending(
    ca: &Ca,
    spec: &LeafSpec,
    key: &PrivateKey,
    now: OffsetDateTime,
    wanted: OffsetDateTime,
) -> Result<CertInfo, IssueError> {
    check_leaf(ca, spec, now)?;
    // Re-bootstrap credentials are meant to end with their intermediate.
    if wanted > ca.info.not_after && spec.renewed_by != RenewedBy::Admin {
        tracing::warn!(
            leaf = spec.id,
            issuer = ca.info.subject,
            "leaf shortened to end with its intermediate on {}",
            ca.info.not_after
        );
    }
    let mut p = base_params(key, now, wanted.min(ca.info.not_after))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, spec.common_name.as_str());
    // Kubernetes takes every O as a group. rcgen keeps one value per
    // attribute type, so further O's go in under the same OID spelt as a
    // custom type: each becomes its own RDN, as Go and OpenSSL write them.
    for (i, o) in spec.organizations.iter().enumerate() {
        let ty = if i == 0 {
            DnType::OrganizationName
        } else {
            DnType::CustomDnType(vec![2, 5, 4, 10])
        };
        dn.push(ty, o.as_str());
    }
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    // ECDSA and Ed25519 keys only sign; keyEncipherment (kubeadm sets it for
    // RSA key transport) does not apply.
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = spec
        .usages
        .iter()
        .map(|u| match u {
            Usage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        })
        .collect();
    p.subject_alt_names = spec
        .dns_names
        .iter()
        .map(|n| {
            n.as_str()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| IssueError::Invalid {
                    id: spec.id.clone(),
                    message: format!("SAN {n:?}: {e}"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    p.subject_alt_names
        .extend(spec.ip_addresses.iter().copied().map(SanType::IpAddress));
    encode_signed(&spec.id, ca, p.signed_by(key, &ca.issuer(&spec.id)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyAlgorithm;
    use crate::plan::Reload;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn chain(realm: Realm) -> (Ca, Ca) {
        let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let r = root(realm, &rk, now(), 3650).unwrap();
        let root = Ca::new(r, rk, "root").unwrap();
        let ik = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let permitted = realm.permitted_dns(&crate::ClusterConfig::new("example.com"));
        let i = intermediate(
            &root,
            realm,
            "cp1.example.com",
            permitted.as_deref(),
            &ik,
            now(),
            90,
        )
        .unwrap();
        let inter = Ca::new(i, ik, "intermediate").unwrap();
        (root, inter)
    }

    fn spec(realm: Realm, names: &[&str]) -> LeafSpec {
        LeafSpec {
            id: "etcd/server".into(),
            realm,
            common_name: "cp1.example.com".into(),
            organizations: vec![],
            usages: vec![Usage::ServerAuth, Usage::ClientAuth],
            dns_names: names.iter().map(|s| s.to_string()).collect(),
            ip_addresses: vec![],
            algorithm: KeyAlgorithm::EcdsaP256,
            lifetime_days: 7,
            cert_path: "/x.crt".into(),
            key_path: "/x.key".into(),
            renewed_by: RenewedBy::Node,
            reload: Reload::Nothing,
        }
    }

    #[test]
    fn chain_fields() {
        let (root, inter) = chain(Realm::Etcd);
        assert!(root.info.is_self_signed() && root.info.path_len == Some(1));
        assert_eq!(root.info.realm, Some(Realm::Etcd));
        assert_eq!(inter.info.path_len, Some(0));
        assert_eq!(inter.info.issuer, root.info.subject);
        assert_eq!(
            inter.info.permitted_dns.as_deref(),
            Some(&["example.com".to_string(), "localhost".to_string()][..])
        );
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let l = leaf(
            &inter,
            &spec(Realm::Etcd, &["cp1.example.com", "localhost"]),
            &k,
            now(),
        )
        .unwrap();
        assert_eq!(l.realm, Some(Realm::Etcd));
        assert!(l.server_auth && l.client_auth && !l.is_ca);
        assert_eq!(l.not_after, now() + Duration::days(7));
        assert_eq!(l.not_before, now() - BACKDATE);
    }

    #[test]
    fn refusals() {
        let (_, inter) = chain(Realm::Etcd);
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let e = leaf(
            &inter,
            &spec(Realm::Etcd, &["cp1.example.com", "10.0.0.1"]),
            &k,
            now(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                IssueError::Name {
                    error: NameError::Dns(names::DnsNameError::IpAddress(_)),
                    ..
                }
            ),
            "{e}"
        );
        let e = leaf(&inter, &spec(Realm::Etcd, &["cp1.evil.org"]), &k, now()).unwrap_err();
        assert!(
            matches!(
                e,
                IssueError::Name {
                    error: NameError::OutsideConstraints { .. },
                    ..
                }
            ),
            "{e}"
        );
        let e = leaf(
            &inter,
            &spec(Realm::Kubernetes, &["cp1.example.com"]),
            &k,
            now(),
        )
        .unwrap_err();
        assert!(matches!(e, IssueError::RealmMismatch { .. }), "{e}");
        let later = now() + Duration::days(91);
        let e = leaf(&inter, &spec(Realm::Etcd, &["cp1.example.com"]), &k, later).unwrap_err();
        assert!(matches!(e, IssueError::IssuerExpired { .. }), "{e}");
        assert!(e.to_string().contains("offline root"));
    }

    #[test]
    fn ip_sans_only_inside_the_intermediates_permitted_addresses() {
        let (root, _) = chain(Realm::Kubernetes);
        let ik = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let svc: IpAddr = "10.96.0.1".parse().unwrap();
        let i = intermediate_with_ips(
            &root,
            Realm::Kubernetes,
            "cp1.example.com",
            Some(&["example.com".into()]),
            &[svc],
            &ik,
            now(),
            90,
        )
        .unwrap();
        assert_eq!(i.permitted_ips, ["10.96.0.1/32"]);
        let inter = Ca::new(i, ik, "intermediate").unwrap();
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut sp = spec(Realm::Kubernetes, &["cp1.example.com"]);
        sp.ip_addresses = vec![svc];
        let l = leaf(&inter, &sp, &k, now()).unwrap();
        assert_eq!(l.ip_addresses, ["10.96.0.1"]);
        assert_eq!(l.dns_names, ["cp1.example.com"]);
        for other in ["10.96.0.2", "fd00::1"] {
            sp.ip_addresses = vec![other.parse().unwrap()];
            let e = leaf(&inter, &sp, &k, now()).unwrap_err().to_string();
            assert!(e.contains(other) && e.contains("only 10.96.0.1/32"), "{e}");
        }
        // An intermediate without permitted addresses refuses every IP.
        let (_, etcd) = chain(Realm::Etcd);
        let mut sp = spec(Realm::Etcd, &["cp1.example.com"]);
        sp.ip_addresses = vec![svc];
        let e = check_leaf(&etcd, &sp, now()).unwrap_err().to_string();
        assert!(
            e.contains("permits no IP address") && e.contains("R28"),
            "{e}"
        );
        assert!(cert::ip_in_subtree(svc, "10.96.0.0/12"));
        assert!(!cert::ip_in_subtree(svc, "10.112.0.0/12"));
        assert!(!cert::ip_in_subtree(
            "::a60:1".parse().unwrap(),
            "10.96.0.1/32"
        ));
    }

    #[test]
    fn leaf_is_cut_at_the_intermediate_end() {
        let (_, inter) = chain(Realm::Etcd);
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let t = now() + Duration::days(88);
        let l = leaf(&inter, &spec(Realm::Etcd, &["cp1.example.com"]), &k, t).unwrap();
        assert_eq!(l.not_after, inter.info.not_after);
    }

    #[test]
    fn ca_key_must_match() {
        let (root, _) = chain(Realm::Etcd);
        let other = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let e = Ca::new(root.info.clone(), other, "root.crt").err().unwrap();
        assert!(matches!(e, IssueError::KeyMismatch { .. }));
    }
}
