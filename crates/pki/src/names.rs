//! DNS names in certificates: the one name rule (mk-dnsname: syntax and
//! the no-IP rule, R28) and RFC 5280 DNS name constraints.

pub use mk_dnsname::{check_dns_name, DnsNameError};

/// Why a name cannot go into a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not a DNS name by mk's one rule (mk-dnsname, shared with the role
    /// config), IP addresses included (R28).
    #[error(transparent)]
    Dns(#[from] DnsNameError),
    #[error("{name:?} is outside the issuing CA's name constraints (permitted: {permitted})")]
    OutsideConstraints { name: String, permitted: String },
}

/// RFC 5280 4.2.1.10: `name` is within DNS subtree `base` if it equals it or
/// ends with `.base`; a base starting with '.' matches subdomains only.
pub fn within_subtree(name: &str, base: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let base = base.to_ascii_lowercase();
    if base.is_empty() {
        return true;
    }
    if let Some(sub) = base.strip_prefix('.') {
        return name.ends_with(&format!(".{sub}"));
    }
    name == base || name.ends_with(&format!(".{base}"))
}

/// Check `name` against permitted subtrees (`None`: unconstrained).
pub fn check_constraints(name: &str, permitted: Option<&[String]>) -> Result<(), NameError> {
    match permitted {
        None => Ok(()),
        Some(p) if p.iter().any(|b| within_subtree(name, b)) => Ok(()),
        Some(p) => Err(NameError::OutsideConstraints {
            name: name.to_string(),
            permitted: p.join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_sans_are_refused_with_r28() {
        for ip in ["10.0.0.1", "::1", "fe80::1", "[::1]", "127.0.0.1"] {
            let e = check_dns_name(ip).unwrap_err();
            assert!(matches!(e, DnsNameError::IpAddress(_)), "{ip}: {e}");
            assert!(e.to_string().contains("R28"));
        }
    }

    #[test]
    fn dns_syntax() {
        for ok in [
            "cp1.example.com",
            "localhost",
            "kubernetes.default.svc.cluster.local",
            "a-b.c1",
        ] {
            check_dns_name(ok).unwrap();
        }
        for bad in [
            "",
            "*.example.com",
            "Cp1.example.com",
            "a..b",
            "-a.b",
            "a_b.c",
            "10.1",
            "x.123",
        ] {
            assert!(check_dns_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subtrees() {
        assert!(within_subtree("cp1.example.com", "example.com"));
        assert!(within_subtree("example.com", "example.com"));
        assert!(!within_subtree("badexample.com", "example.com"));
        assert!(!within_subtree("example.com", ".example.com"));
        assert!(within_subtree("a.example.com", ".example.com"));
        assert!(!within_subtree(
            "kubernetes.default.svc.cluster.local",
            "kubernetes.default.svc"
        ));
        let p = vec!["example.com".to_string(), "localhost".to_string()];
        check_constraints("localhost", Some(&p)).unwrap();
        let e = check_constraints("evil.org", Some(&p)).unwrap_err();
        assert!(e.to_string().contains("evil.org") && e.to_string().contains("example.com"));
        check_constraints("evil.org", None).unwrap();
    }
}
