//! Reading certificates back (x509-parser): what `pki list`, renewal and the
//! issuing checks need to know about an existing certificate.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::keys::KeyAlgorithm;
use crate::realm::Realm;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{what}: not a PEM certificate ({why})")]
    NotPem { what: String, why: String },
    #[error("{what}: no CERTIFICATE block")]
    Empty { what: String },
    #[error("{what}: corrupt certificate: {why}")]
    Malformed { what: String, why: String },
}

/// The facts about one certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    #[serde(skip)]
    pub der: Vec<u8>,
    pub subject: String,
    pub common_name: String,
    pub organizations: Vec<String>,
    pub issuer: String,
    /// From the subject's OU (CAs) or the issuer's OU (leaves); see
    /// [`crate::issue`].
    pub realm: Option<Realm>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub is_ca: bool,
    pub path_len: Option<u32>,
    /// Permitted DNS subtrees, if the certificate carries name constraints.
    pub permitted_dns: Option<Vec<String>>,
    /// Permitted iPAddress subtrees (`10.96.0.1/32`), if any: a CA's leaves
    /// may name IP addresses inside these only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permitted_ips: Vec<String>,
    pub server_auth: bool,
    pub client_auth: bool,
    /// The subject key's algorithm, if one mk makes.
    pub key_algorithm: Option<KeyAlgorithm>,
}

impl CertInfo {
    /// Whether `key` is the private half of this certificate's subject key.
    pub fn matches_key(
        &self,
        key: &crate::keys::PrivateKey,
        what: &str,
    ) -> Result<bool, CertError> {
        let (_, x) = X509Certificate::from_der(&self.der).map_err(|e| CertError::Malformed {
            what: what.into(),
            why: e.to_string(),
        })?;
        Ok(x.public_key().raw == key.public_key_der().as_slice())
    }

    pub fn is_self_signed(&self) -> bool {
        self.subject == self.issuer
    }

    /// Whole days left at `now` (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }
}

/// `sha256:<hex>` of a DER certificate's SubjectPublicKeyInfo (tag and
/// length included): kubeadm's CA cert hash (`spec.join.caCertHashes`,
/// `--discovery-token-ca-cert-hash`), the same as `openssl x509 -pubkey
/// -noout | openssl pkey -pubin -outform der | sha256sum`. It pins the key,
/// not the certificate, so a re-issued CA with the same key still matches.
pub fn spki_sha256(cert_der: &[u8], what: &str) -> Result<String, CertError> {
    let (_, x) = X509Certificate::from_der(cert_der).map_err(|e| CertError::Malformed {
        what: what.into(),
        why: e.to_string(),
    })?;
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(x.public_key().raw))
    ))
}

fn ou_realm(name: &x509_parser::x509::X509Name<'_>) -> Option<Realm> {
    name.iter_organizational_unit()
        .filter_map(|a| a.as_str().ok())
        .find_map(|s| s.parse().ok())
}

/// Parse one DER certificate. `what` names the error in errors.
pub fn parse_der(der: &[u8], what: &str) -> Result<CertInfo, CertError> {
    let malformed = |why: String| CertError::Malformed {
        what: what.to_string(),
        why,
    };
    let (rest, x) = X509Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed("trailing bytes after the certificate".into()));
    }
    let cn = x
        .subject()
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .next()
        .unwrap_or_default()
        .to_string();
    let organizations = x
        .subject()
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    let mut permitted_dns = None;
    let mut permitted_ips = Vec::new();
    let mut is_ca = false;
    let mut path_len = None;
    let (mut server_auth, mut client_auth) = (false, false);
    for ext in x.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    match n {
                        GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                        GeneralName::IPAddress(b) => ip_addresses.push(ip_string(b)),
                        _ => {}
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) => {
                is_ca = bc.ca;
                path_len = bc.path_len_constraint;
            }
            ParsedExtension::NameConstraints(nc) => {
                let p: Vec<String> = nc
                    .permitted_subtrees
                    .iter()
                    .flatten()
                    .filter_map(|s| match &s.base {
                        GeneralName::DNSName(d) => Some(d.to_string()),
                        _ => None,
                    })
                    .collect();
                // Permitted subtrees of another type (iPAddress) leave DNS
                // names unconstrained (RFC 5280 4.2.1.10).
                let any_dns = nc
                    .permitted_subtrees
                    .iter()
                    .flatten()
                    .any(|s| matches!(s.base, GeneralName::DNSName(_)));
                if any_dns {
                    permitted_dns = Some(p);
                }
                permitted_ips = nc
                    .permitted_subtrees
                    .iter()
                    .flatten()
                    .filter_map(|s| match &s.base {
                        GeneralName::IPAddress(b) => ip_subtree(b),
                        _ => None,
                    })
                    .collect();
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                server_auth = eku.server_auth;
                client_auth = eku.client_auth;
            }
            _ => {}
        }
    }
    let realm = if is_ca {
        ou_realm(x.subject())
    } else {
        ou_realm(x.issuer())
    };
    let spki = &x.public_key().algorithm;
    let key_algorithm = KeyAlgorithm::from_spki_oids(
        &spki.algorithm.to_id_string(),
        spki.parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string())
            .as_deref(),
    );
    Ok(CertInfo {
        der: der.to_vec(),
        subject: x.subject().to_string(),
        common_name: cn,
        organizations,
        issuer: x.issuer().to_string(),
        realm,
        dns_names,
        ip_addresses,
        serial: x.raw_serial_as_string(),
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        is_ca,
        path_len,
        permitted_dns,
        permitted_ips,
        server_auth,
        client_auth,
        key_algorithm,
    })
}

fn ip_string(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap()).to_string(),
        _ => hex::encode(b),
    }
}

/// A name-constraint iPAddress (address then mask, RFC 5280 4.2.1.10) as
/// `address/prefix`; `None` for a mask that is not a prefix.
fn ip_subtree(b: &[u8]) -> Option<String> {
    let (addr, mask) = b.split_at(b.len() / 2);
    if addr.len() != 4 && addr.len() != 16 {
        return None;
    }
    let ones: u32 = mask.iter().map(|m| m.count_ones()).sum();
    let contiguous = mask
        .iter()
        .flat_map(|m| (0..8).rev().map(move |i| m >> i & 1))
        .skip(ones as usize)
        .all(|bit| bit == 0);
    contiguous.then(|| format!("{}/{ones}", ip_string(addr)))
}

/// Whether `ip` lies inside the `address/prefix` subtree `cidr` (as
/// [`CertInfo::permitted_ips`] lists them). Different families never match.
pub fn ip_in_subtree(ip: std::net::IpAddr, cidr: &str) -> bool {
    let Some((net, prefix)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(prefix)) = (net.parse::<std::net::IpAddr>(), prefix.parse::<u32>()) else {
        return false;
    };
    let bits = |a: std::net::IpAddr| match a {
        std::net::IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32),
        std::net::IpAddr::V6(a) => (u128::from(a), 128),
    };
    let ((a, wa), (n, wn)) = (bits(ip), bits(net));
    if wa != wn || prefix > wn {
        return false;
    }
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    a & mask == n & mask
}

/// All CERTIFICATE blocks of a PEM text, in order (other blocks skipped).
pub fn parse_pem_chain(text: &str, what: &str) -> Result<Vec<CertInfo>, CertError> {
    let blocks = pem::parse_many(text).map_err(|e| CertError::NotPem {
        what: what.into(),
        why: e.to_string(),
    })?;
    let certs: Vec<CertInfo> = blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| parse_der(b.contents(), what))
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(CertError::Empty { what: what.into() });
    }
    Ok(certs)
}

/// The first certificate of a PEM text.
pub fn parse_pem(text: &str, what: &str) -> Result<CertInfo, CertError> {
    Ok(parse_pem_chain(text, what)?.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{pem_encode, PrivateKey};
    use std::process::Command;

    /// kubeadm's documented pipeline, with the real openssl.
    fn openssl_hash(pem_path: &std::path::Path) -> String {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl x509 -pubkey -noout -in '{}' | openssl pkey -pubin -outform der | sha256sum",
                pem_path.display()
            ))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8(o.stdout).unwrap();
        format!("sha256:{}", out.split_whitespace().next().unwrap())
    }

    #[test]
    fn spki_sha256_equals_openssls() {
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("SKIP: no openssl command");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut pems = Vec::new();
        // The keys mk makes, on roots as mk issues them.
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let key = PrivateKey::generate(alg).unwrap();
            let root =
                crate::issue::root(Realm::Kubernetes, &key, OffsetDateTime::now_utc(), 3).unwrap();
            let path = dir.path().join(format!("{alg}.crt"));
            std::fs::write(&path, pem_encode("CERTIFICATE", &root.der)).unwrap();
            pems.push(path);
        }
        // RSA, as kubeadm makes its CA (the hash a kubeadm cluster prints).
        let rsa = dir.path().join("rsa.crt");
        let o = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3",
            ])
            .args(["-subj", "/CN=kubernetes", "-keyout"])
            .arg(dir.path().join("rsa.key"))
            .arg("-out")
            .arg(&rsa)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        pems.push(rsa);
        for path in &pems {
            let der = parse_pem(&std::fs::read_to_string(path).unwrap(), "ca")
                .unwrap()
                .der;
            let h = spki_sha256(&der, "ca").unwrap();
            assert_eq!(h, openssl_hash(path), "{}", path.display());
            assert_eq!(h.len(), "sha256:".len() + 64);
        }
    }

    #[test]
    fn spki_sha256_of_truncated_der_is_an_error() {
        for der in [&[0x30, 0x82, 0xff][..], &[0x30, 0x03, 0x30, 0x01, 0x02]] {
            let e = spki_sha256(der, "ca.crt").unwrap_err();
            assert!(
                e.to_string().starts_with("ca.crt: corrupt certificate"),
                "{e}"
            );
        }
    }
}
