//! Credentials that live minutes and never touch a disk: first boot's API
//! step needs `system:masters` once, to create the `kubeadm:cluster-admins`
//! binding that makes admin.conf work. kubeadm keeps a super-admin.conf on
//! disk for that; we mint the credential in memory with the node's own
//! kubernetes intermediate and drop it when the step ends, so no file on
//! any node bypasses RBAC.

use std::path::Path;

use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::cert::{self, CertInfo};
use crate::issue::{self, Ca, IssueError};
use crate::keys::{pem_encode, PrivateKey};
use crate::plan::{LeafSpec, Reload, RenewedBy, Usage};
use crate::{fsio, Realm};

/// The host's intermediate of `realm` under `root` (`<base>-intermediate.{crt,key}`).
pub fn node_intermediate(root: &Path, realm: Realm) -> Result<Ca, String> {
    let base = realm.node_ca_base();
    let under = |p: String| root.join(p.trim_start_matches('/'));
    let cp = under(format!("{base}-intermediate.crt"));
    let kp = under(format!("{base}-intermediate.key"));
    let text = fsio::read_to_string(&cp).map_err(|e| e.to_string())?;
    let info = cert::parse_pem(&text, &cp.display().to_string()).map_err(|e| e.to_string())?;
    let ktext = fsio::read_to_string(&kp).map_err(|e| e.to_string())?;
    let key = PrivateKey::from_pkcs8_pem(&ktext).map_err(|e| format!("{}: {e}", kp.display()))?;
    Ca::new(info, key, &cp.display().to_string()).map_err(|e| e.to_string())
}

/// A client certificate held in memory only.
pub struct Credential {
    pub info: CertInfo,
    /// The certificate followed by its intermediate, as TLS sends it.
    pub chain_pem: String,
    pub key_pem: Zeroizing<String>,
}

/// A client certificate `CN=common_name, O=organizations...` signed by `ca`,
/// valid from now (backdated like every leaf, for clock skew) for
/// `lifetime`, with a fresh key of the CA's algorithm.
pub fn client(
    ca: &Ca,
    common_name: &str,
    organizations: &[&str],
    now: OffsetDateTime,
    lifetime: Duration,
) -> Result<Credential, IssueError> {
    let key = PrivateKey::generate(ca.key.algorithm()).map_err(|e| IssueError::Invalid {
        id: common_name.into(),
        message: format!("generating a key: {e}"),
    })?;
    let realm = ca.info.realm.ok_or_else(|| IssueError::Invalid {
        id: common_name.into(),
        message: format!("issuing CA {:?} names no realm (OU)", ca.info.subject),
    })?;
    let spec = LeafSpec {
        id: common_name.into(),
        realm,
        common_name: common_name.into(),
        organizations: organizations.iter().map(|o| o.to_string()).collect(),
        usages: vec![Usage::ClientAuth],
        dns_names: vec![],
        ip_addresses: vec![],
        algorithm: ca.key.algorithm(),
        lifetime_days: 1,
        cert_path: String::new(),
        key_path: String::new(),
        renewed_by: RenewedBy::Admin,
        reload: Reload::Nothing,
    };
    let info = issue::leaf_ending(ca, &spec, &key, now, now + lifetime)?;
    let chain_pem = format!("{}{}", pem_encode("CERTIFICATE", &info.der), ca.cert_pem());
    Ok(Credential {
        info,
        chain_pem,
        key_pem: key.to_pkcs8_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;

    #[test]
    fn a_short_lived_masters_credential_chains_to_the_intermediate() {
        let now = OffsetDateTime::now_utc();
        let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let r = issue::root(Realm::Kubernetes, &rk, now, 3650).unwrap();
        let root = Ca::new(r, rk, "root").unwrap();
        let ik = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let i = issue::intermediate(
            &root,
            Realm::Kubernetes,
            "cp1.example.com",
            Some(&["example.com".to_string()]),
            &ik,
            now,
            90,
        )
        .unwrap();
        let inter = Ca::new(i, ik, "intermediate").unwrap();
        let c = client(
            &inter,
            "mk-firstboot",
            &["system:masters"],
            now,
            Duration::minutes(30),
        )
        .unwrap();
        assert_eq!(c.info.common_name, "mk-firstboot");
        assert_eq!(c.info.organizations, vec!["system:masters".to_string()]);
        let life = c.info.not_after - now;
        assert!(
            life <= Duration::minutes(30) && life > Duration::minutes(29),
            "{life}"
        );
        assert_eq!(c.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(c.key_pem.contains("BEGIN PRIVATE KEY"));
        assert_eq!(c.info.issuer, inter.info.subject);
    }
}
