//! Certificates and keys carried in `spec.certificates`: which file names
//! exist, what each must hold, and checks of the PEM itself (syntax,
//! expiry, no IP addresses in subjectAltName but the apiserver's kubernetes
//! Service address and API VIP: R28).

use std::net::IpAddr;

use mk_pki::Realm;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// One or more certificates (leaf, then its intermediate).
    Certificate,
    /// Exactly one unencrypted private key.
    PrivateKey,
    /// One public key (`sa.pub`).
    PublicKey,
    /// Certificate(s) and their key in one file (kubelet's
    /// `kubelet-client-current.pem`).
    CertificateAndKey,
}

/// Every file name `spec.certificates` accepts: kubeadm's names under
/// /etc/kubernetes/pki, mk's per-host intermediates
/// (`<ca>-intermediate.{crt,key}`, see docs/pki.md) and, with a `kubelet/`
/// prefix, files under /var/lib/kubelet/pki.
pub const KNOWN_FILE_NAMES: &[&str] = &[
    "ca.crt",
    "ca.key",
    "etcd/ca.crt",
    "etcd/ca.key",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "kubelet-serving-ca.crt",
    "registry-ca.crt",
    "ingress-ca.crt",
    "ca-intermediate.crt",
    "ca-intermediate.key",
    "etcd/ca-intermediate.crt",
    "etcd/ca-intermediate.key",
    "front-proxy-ca-intermediate.crt",
    "front-proxy-ca-intermediate.key",
    "kubelet-serving-ca-intermediate.crt",
    "kubelet-serving-ca-intermediate.key",
    "registry-ca-intermediate.crt",
    "registry-ca-intermediate.key",
    "ingress-ca-intermediate.crt",
    "ingress-ca-intermediate.key",
    "apiserver.crt",
    "apiserver.key",
    "apiserver-kubelet-client.crt",
    "apiserver-kubelet-client.key",
    "apiserver-etcd-client.crt",
    "apiserver-etcd-client.key",
    "front-proxy-client.crt",
    "front-proxy-client.key",
    "controller-manager.crt",
    "controller-manager.key",
    "scheduler.crt",
    "scheduler.key",
    "admin.crt",
    "admin.key",
    "etcd/server.crt",
    "etcd/server.key",
    "etcd/peer.crt",
    "etcd/peer.key",
    "etcd/healthcheck-client.crt",
    "etcd/healthcheck-client.key",
    "sa.key",
    "sa.pub",
    "kubelet/kubelet-client-current.pem",
    "kubelet/kubelet.crt",
    "kubelet/kubelet.key",
    // Re-bootstrap credential (CN mk:bootstrap:<node>, system:bootstrappers):
    // creates a CSR when the kubelet's own client certificate is missing or
    // expired (bootstrap-kubelet.conf).
    "kubelet/bootstrap-client.crt",
    "kubelet/bootstrap-client.key",
];

/// The CA roots whose certificate any node may carry, and whether kubeadm
/// also has a key for it (`ca.key` style, discouraged by R24).
const ROOTS: &[(&str, bool)] = &[
    ("ca", true),
    ("etcd/ca", true),
    ("front-proxy-ca", true),
    ("kubelet-serving-ca", false),
    ("registry-ca", false),
    ("ingress-ca", false),
];

/// The realms a control plane must be able to sign in (issue and renew its
/// own leaves, or kubeadm-style with the CA key).
pub const CONTROL_PLANE_CAS: &[&str] = &["ca", "etcd/ca", "front-proxy-ca"];

pub fn kind_of(name: &str) -> Option<FileKind> {
    if !KNOWN_FILE_NAMES.contains(&name) {
        return None;
    }
    Some(if name == "sa.pub" {
        FileKind::PublicKey
    } else if name.ends_with(".pem") {
        FileKind::CertificateAndKey
    } else if name.ends_with(".key") {
        FileKind::PrivateKey
    } else {
        FileKind::Certificate
    })
}

/// Whether the file may be on a node without a control-plane role: root
/// certificates (public) and the kubelet's own files. Workers get no CA key,
/// no intermediate and no control-plane credential (docs/pki.md).
pub fn allowed_on_worker(name: &str) -> bool {
    name.starts_with("kubelet/")
        || ROOTS
            .iter()
            .any(|(root, _)| name.strip_suffix(".crt") == Some(root))
}

/// The file that must accompany `name`, if any: a leaf or intermediate
/// needs both halves; a root key needs its certificate (but a root
/// certificate alone is normal).
pub fn partner_of(name: &str) -> Option<String> {
    if (name.starts_with("kubelet/") && name.ends_with(".pem")) || name.starts_with("sa.") {
        return match name {
            "sa.key" => Some("sa.pub".into()),
            "sa.pub" => Some("sa.key".into()),
            _ => None,
        };
    }
    let (base, ext) = name.rsplit_once('.')?;
    let is_root = ROOTS.iter().any(|(r, _)| *r == base);
    match (ext, is_root) {
        ("crt", true) => None,
        ("key", _) => Some(format!("{base}.crt")),
        ("crt", false) => Some(format!("{base}.key")),
        _ => None,
    }
}

/// Checks one file's PEM text: the blocks `kind` requires, each
/// certificate parseable, not expired at `now`, and without IP SANs.
/// Returns every problem found.
pub fn check_pem(text: &str, kind: FileKind, now: OffsetDateTime) -> Vec<String> {
    check_pem_at(text, kind, now, false, &[])
}

/// The IP addresses the certificate file `name` may name: for
/// `apiserver.crt` only, the kubernetes Service address (first address of
/// `service_cidr`, which in-cluster clients connect to and verify) and the
/// API VIP if one is configured (R28, R31). Unparseable inputs contribute
/// nothing: validation reports them on their own fields.
pub fn allowed_ips(name: &str, service_cidr: &str, vip: Option<&str>) -> Vec<IpAddr> {
    if name != "apiserver.crt" {
        return vec![];
    }
    mk_pki::config::service_ip(service_cidr)
        .ok()
        .into_iter()
        .chain(vip.and_then(|v| v.parse().ok()))
        .collect()
}

/// [`check_pem`] (or with `renewable`, [`check_pem_renewable`]) that lets
/// the certificates name the addresses `allowed` ([`allowed_ips`]).
pub fn check_pem_allowing(
    text: &str,
    kind: FileKind,
    now: OffsetDateTime,
    renewable: bool,
    allowed: &[IpAddr],
) -> Vec<String> {
    check_pem_at(text, kind, now, renewable, allowed)
}

/// [`check_pem`] for a leaf the node renews itself before anything uses it
/// (docs/pki.md, "Power-offs and renewal"): the first certificate may have
/// expired; the ones after it (its intermediate) may not.
pub fn check_pem_renewable(text: &str, kind: FileKind, now: OffsetDateTime) -> Vec<String> {
    check_pem_at(text, kind, now, true, &[])
}

/// Node path of a `spec.certificates` name: `kubelet/...` under
/// /var/lib/kubelet/pki, the rest under /etc/kubernetes/pki.
pub fn node_path(name: &str) -> String {
    use mk_pki::plan::{KUBELET_PKI, PKI};
    match name.strip_prefix("kubelet/") {
        Some(rest) => format!("{KUBELET_PKI}/{rest}"),
        None => format!("{PKI}/{name}"),
    }
}

/// The realm whose host intermediate signs `name` (for a root or an
/// intermediate: its own), from mk-pki's tables of node files; the
/// kubernetes realm for what they do not list (`sa.key`).
pub fn realm_of(name: &str) -> Realm {
    let node = node_path(name);
    let ca = Realm::ALL.into_iter().find(|r| {
        let base = r.node_ca_base();
        node.strip_prefix(base).is_some_and(|rest| {
            matches!(
                rest,
                ".crt" | ".key" | "-intermediate.crt" | "-intermediate.key"
            )
        })
    });
    ca.or_else(|| {
        mk_pki::plan::LEAF_FILES
            .iter()
            .find(|f| f.cert_path == node || f.key_path == node)
            .map(|f| f.realm)
    })
    .unwrap_or(Realm::Kubernetes)
}

/// The `spec.certificates` name (without `.crt`/`.key`) of the host
/// intermediate of `realm`: `ca-intermediate`, `etcd/ca-intermediate`, ...
pub fn intermediate_name(realm: Realm) -> String {
    let base = realm.node_ca_base();
    let rel = base
        .strip_prefix(mk_pki::plan::PKI)
        .unwrap_or(base)
        .trim_start_matches('/');
    format!("{rel}-intermediate")
}

/// A host intermediate (`<ca>-intermediate.crt`) or a root certificate.
pub fn is_ca_file(name: &str) -> bool {
    name.contains("-intermediate.")
        || ROOTS.iter().any(|(root, _)| {
            name.strip_suffix(".crt") == Some(root) || name.strip_suffix(".key") == Some(root)
        })
}

fn check_pem_at(
    text: &str,
    kind: FileKind,
    now: OffsetDateTime,
    leaf_may_expire: bool,
    allowed: &[IpAddr],
) -> Vec<String> {
    let mut problems = Vec::new();
    let blocks = match pem::parse_many(text) {
        Ok(b) => b,
        Err(e) => return vec![format!("malformed PEM: {e}")],
    };
    if blocks.is_empty() {
        return vec!["no PEM block (expected -----BEGIN ...----- lines)".into()];
    }
    let (mut certs, mut keys, mut pubs) = (0, 0, 0);
    for (i, block) in blocks.iter().enumerate() {
        let n = i + 1;
        match block.tag() {
            "CERTIFICATE" => {
                certs += 1;
                let skip_expiry = leaf_may_expire && certs == 1;
                problems.extend(
                    check_certificate(block.contents(), now, skip_expiry, allowed).map(|e| {
                        if blocks.len() > 1 {
                            format!("certificate {n}: {e}")
                        } else {
                            e
                        }
                    }),
                );
            }
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => keys += 1,
            "ENCRYPTED PRIVATE KEY" => problems.push(format!(
                "block {n} is an encrypted private key: node keys are delivered unencrypted \
                 (the config is protected by its signature and the drive); root keys never \
                 belong in a role config"
            )),
            "PUBLIC KEY" => pubs += 1,
            other => problems.push(format!("block {n}: unexpected PEM block {other:?}")),
        }
    }
    let want = |ok: bool, what: &str, problems: &mut Vec<String>| {
        if !ok {
            problems.push(format!("expected {what}"));
        }
    };
    match kind {
        FileKind::Certificate => want(
            certs >= 1 && keys == 0 && pubs == 0,
            &format!("certificates only (found {certs} certificate(s), {keys} key(s), {pubs} public key(s))"),
            &mut problems,
        ),
        FileKind::PrivateKey => want(
            keys == 1 && certs == 0 && pubs == 0,
            &format!("exactly one private key (found {keys} key(s), {certs} certificate(s), {pubs} public key(s))"),
            &mut problems,
        ),
        FileKind::PublicKey => want(
            pubs == 1 && certs == 0 && keys == 0,
            &format!("exactly one PUBLIC KEY block (found {pubs} public key(s), {keys} private key(s), {certs} certificate(s))"),
            &mut problems,
        ),
        FileKind::CertificateAndKey => want(
            certs >= 1 && keys == 1 && pubs == 0,
            &format!("certificate(s) and one private key (found {certs} certificate(s), {keys} key(s))"),
            &mut problems,
        ),
    }
    problems
}

fn check_certificate(
    der: &[u8],
    now: OffsetDateTime,
    skip_expiry: bool,
    allowed: &[IpAddr],
) -> Option<String> {
    let (rest, cert) = match x509_parser::parse_x509_certificate(der) {
        Ok(c) => c,
        Err(e) => return Some(format!("not a valid X.509 certificate: {e}")),
    };
    if !rest.is_empty() {
        return Some(format!(
            "{} bytes of garbage after the certificate",
            rest.len()
        ));
    }
    let subject = cert.subject().to_string();
    let not_after = cert.validity().not_after.to_datetime();
    if not_after <= now && !skip_expiry {
        return Some(format!(
            "certificate {subject:?} expired at {}",
            rfc3339(not_after)
        ));
    }
    match cert.subject_alternative_name() {
        Ok(Some(san)) => {
            let ips: Vec<String> = san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::IPAddress(b) => Some(b),
                    _ => None,
                })
                .filter(|b| !ip_of(b).is_some_and(|ip| allowed.contains(&ip)))
                .map(|b| ip_text(b))
                .collect();
            if !ips.is_empty() {
                let except = if allowed.is_empty() {
                    String::new()
                } else {
                    let a: Vec<String> = allowed.iter().map(IpAddr::to_string).collect();
                    format!(
                        ", but for the kubernetes Service address and API VIP ({})",
                        a.join(", ")
                    )
                };
                return Some(format!(
                    "certificate {subject:?} names IP address(es) {} in subjectAltName: \
                     certificates carry DNS names only (R28){except}",
                    ips.join(", ")
                ));
            }
        }
        Ok(None) => {}
        Err(e) => return Some(format!("certificate {subject:?}: bad subjectAltName: {e}")),
    }
    None
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

fn ip_text(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).expect("4")).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16")).to_string(),
        _ => format!("{b:02x?}"),
    }
}

/// The certificate of `certificates` (file name -> PEM, as in
/// `spec.certificates`) that begins last: its file name, subject and
/// notBefore. A node whose clock is before it has a clock that is wrong
/// (first boot says so rather than let TLS fail). Blocks that do not parse
/// are skipped: validation reports them.
pub fn latest_not_before(
    certificates: &std::collections::BTreeMap<String, String>,
) -> Option<(String, String, OffsetDateTime)> {
    let mut latest: Option<(String, String, OffsetDateTime)> = None;
    for (file, text) in certificates {
        let Ok(blocks) = pem::parse_many(text) else {
            continue;
        };
        for block in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
            let Ok((_, cert)) = x509_parser::parse_x509_certificate(block.contents()) else {
                continue;
            };
            let not_before = cert.validity().not_before.to_datetime();
            if latest.as_ref().is_none_or(|(_, _, t)| not_before > *t) {
                latest = Some((file.clone(), cert.subject().to_string(), not_before));
            }
        }
    }
    latest
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_partners() {
        assert_eq!(kind_of("sa.pub"), Some(FileKind::PublicKey));
        assert_eq!(kind_of("etcd/peer.key"), Some(FileKind::PrivateKey));
        assert_eq!(
            kind_of("kubelet/kubelet-client-current.pem"),
            Some(FileKind::CertificateAndKey)
        );
        assert_eq!(kind_of("apiserve.crt"), None);
        assert_eq!(partner_of("ca.crt"), None);
        assert_eq!(partner_of("ca.key").as_deref(), Some("ca.crt"));
        assert_eq!(
            partner_of("etcd/peer.crt").as_deref(),
            Some("etcd/peer.key")
        );
        assert_eq!(
            partner_of("ca-intermediate.crt").as_deref(),
            Some("ca-intermediate.key")
        );
        assert_eq!(partner_of("sa.key").as_deref(), Some("sa.pub"));
        assert_eq!(partner_of("kubelet/kubelet-client-current.pem"), None);
        assert_eq!(
            partner_of("kubelet/bootstrap-client.crt").as_deref(),
            Some("kubelet/bootstrap-client.key")
        );
        assert_eq!(
            partner_of("kubelet/bootstrap-client.key").as_deref(),
            Some("kubelet/bootstrap-client.crt")
        );
        assert!(allowed_on_worker("kubelet/bootstrap-client.key"));
        assert!(allowed_on_worker("ca.crt"));
        assert!(allowed_on_worker("kubelet/kubelet.key"));
        assert!(!allowed_on_worker("ca.key"));
        assert!(!allowed_on_worker("ca-intermediate.crt"));
        assert!(!allowed_on_worker("sa.key"));
        for name in KNOWN_FILE_NAMES {
            if let Some(p) = partner_of(name) {
                assert!(KNOWN_FILE_NAMES.contains(&p.as_str()), "{name} -> {p}");
            }
        }
    }

    #[test]
    fn realms_and_intermediates_from_mk_pkis_tables() {
        for (name, realm) in [
            ("apiserver.crt", Realm::Kubernetes),
            ("apiserver-etcd-client.key", Realm::Etcd),
            ("etcd/peer.crt", Realm::Etcd),
            ("etcd/ca-intermediate.crt", Realm::Etcd),
            ("front-proxy-client.crt", Realm::FrontProxy),
            ("front-proxy-ca.crt", Realm::FrontProxy),
            ("kubelet/kubelet.crt", Realm::KubeletServing),
            ("kubelet-serving-ca-intermediate.key", Realm::KubeletServing),
            ("kubelet/kubelet-client-current.pem", Realm::Kubernetes),
            ("kubelet/bootstrap-client.crt", Realm::Kubernetes),
            ("registry-ca-intermediate.crt", Realm::Registry),
            ("sa.key", Realm::Kubernetes),
        ] {
            assert_eq!(realm_of(name), realm, "{name}");
        }
        assert_eq!(intermediate_name(Realm::Kubernetes), "ca-intermediate");
        assert_eq!(intermediate_name(Realm::Etcd), "etcd/ca-intermediate");
        assert_eq!(
            intermediate_name(Realm::FrontProxy),
            "front-proxy-ca-intermediate"
        );
        for realm in Realm::ALL {
            let crt = format!("{}.crt", intermediate_name(realm));
            assert!(KNOWN_FILE_NAMES.contains(&crt.as_str()), "{crt}");
        }
        assert_eq!(
            node_path("kubelet/kubelet.crt"),
            "/var/lib/kubelet/pki/kubelet.crt"
        );
        assert_eq!(node_path("etcd/ca.crt"), "/etc/kubernetes/pki/etcd/ca.crt");
    }

    #[test]
    fn pem_shapes() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let e = check_pem("hello", FileKind::Certificate, now);
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("no PEM block"), "{e:?}");
        let bad = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let e = check_pem(bad, FileKind::Certificate, now);
        assert!(e[0].contains("malformed PEM"), "{e:?}");
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = check_pem(junk, FileKind::Certificate, now);
        assert!(e[0].contains("not a valid X.509 certificate"), "{e:?}");
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(check_pem(key, FileKind::PrivateKey, now).is_empty());
        let e = check_pem(key, FileKind::Certificate, now);
        assert!(e[0].contains("expected certificates only"), "{e:?}");
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = check_pem(enc, FileKind::PrivateKey, now);
        assert!(e[0].contains("encrypted private key"), "{e:?}");
    }
}
