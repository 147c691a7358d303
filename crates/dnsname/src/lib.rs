//! DNS names as mk accepts them, in one place: the role config (host and
//! cluster names, URLs' hosts, label-key prefixes) and the PKI (SANs, name
//! constraints) check names with the same rule and say the same thing.
//!
//! The rule: RFC 1123 host names in lower case (Kubernetes' DNS subdomain),
//! at most 253 characters, labels of 1–63 `a-z 0-9 -` that start and end
//! with a letter or digit, no trailing dot, no wildcard, and never an IP
//! address or anything that reads as one (R28: DNS first).

use std::net::IpAddr;

/// The words every "IP where a name belongs" error carries (R28).
pub const IP_NOT_NAME: &str = "IP address where a DNS name is required";

/// Why a string is not a DNS name. Each message starts with the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsNameError {
    #[error("{0:?}: {IP_NOT_NAME} (R28)")]
    IpAddress(String),
    #[error("empty DNS name")]
    Empty,
    #[error("{name:?}: DNS name is {len} characters, at most 253")]
    TooLong { name: String, len: usize },
    #[error("{0:?}: write the name without a trailing dot")]
    TrailingDot(String),
    #[error("{name:?}: {problem}")]
    Label { name: String, problem: LabelError },
    #[error(
        "{0:?}: the last label is all digits, which reads as an IP address: {IP_NOT_NAME} (R28)"
    )]
    NumericLast(String),
}

/// Why one label (the part between dots) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("empty label (two dots in a row, or a leading dot)")]
    Empty,
    #[error("label {label:?} is {len} characters, at most 63")]
    TooLong { label: String, len: usize },
    #[error("label {0:?} is a wildcard: names are issued and configured one by one")]
    Wildcard(String),
    #[error("label {label:?} contains {found:?}: only a-z, 0-9 and '-' are allowed{hint}", hint = case_hint(*.found))]
    Character { label: String, found: char },
    #[error("label {0:?} must start and end with a letter or digit")]
    Hyphen(String),
}

fn case_hint(found: char) -> &'static str {
    if found.is_ascii_uppercase() {
        " (DNS names here are lower case)"
    } else {
        ""
    }
}

fn is_ip(name: &str) -> bool {
    name.parse::<IpAddr>().is_ok()
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
}

/// Checks one DNS name against mk's rule (see the module documentation).
pub fn check_dns_name(name: &str) -> Result<(), DnsNameError> {
    if is_ip(name) {
        return Err(DnsNameError::IpAddress(name.to_string()));
    }
    if name.is_empty() {
        return Err(DnsNameError::Empty);
    }
    if name.len() > 253 {
        return Err(DnsNameError::TooLong {
            name: name.to_string(),
            len: name.len(),
        });
    }
    if name.ends_with('.') && name.len() > 1 {
        return Err(DnsNameError::TrailingDot(name.to_string()));
    }
    for label in name.split('.') {
        check_dns_label(label).map_err(|problem| DnsNameError::Label {
            name: name.to_string(),
            problem,
        })?;
    }
    // "10.1" is 10.0.0.1 to inet_aton, and "123" is a number to some
    // resolvers: an all-digit last label is never a name here.
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DnsNameError::NumericLast(name.to_string()));
    }
    Ok(())
}

/// Checks one label: 1–63 of `a-z 0-9 -`, a letter or digit at both ends.
pub fn check_dns_label(label: &str) -> Result<(), LabelError> {
    if label.is_empty() {
        return Err(LabelError::Empty);
    }
    if label.len() > 63 {
        return Err(LabelError::TooLong {
            label: label.to_string(),
            len: label.len(),
        });
    }
    if label == "*" {
        return Err(LabelError::Wildcard(label.to_string()));
    }
    if let Some(found) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(LabelError::Character {
            label: label.to_string(),
            found,
        });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(LabelError::Hyphen(label.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_pass() {
        for ok in [
            "cp1.example.com",
            "localhost",
            "a",
            "1a.example.com",
            "a-b.c1",
            "kubernetes.default.svc.cluster.local",
        ] {
            check_dns_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        check_dns_name(&format!("{}.com", "a".repeat(63))).unwrap();
    }

    #[test]
    fn every_refusal_names_the_name_and_the_reason() {
        for (bad, what) in [
            ("10.0.0.1", IP_NOT_NAME),
            ("::1", IP_NOT_NAME),
            ("[fe80::1]", IP_NOT_NAME),
            ("127.0.0.1", "R28"),
            ("10.0.0.300", "all digits"),
            ("10.1", "all digits"),
            ("x.123", "all digits"),
            ("123", "all digits"),
            ("CP1.example.com", "lower case"),
            ("cp1..example.com", "empty label"),
            (".example.com", "empty label"),
            ("-cp1.example.com", "start and end"),
            ("cp1-.example.com", "start and end"),
            ("cp1.example.com.", "trailing dot"),
            ("cp_1.example.com", "'_'"),
            ("*.example.com", "wildcard"),
            ("", "empty"),
        ] {
            let e = check_dns_name(bad).unwrap_err().to_string();
            assert!(e.contains(what), "{bad:?}: {e}");
            if !bad.is_empty() {
                assert!(e.contains(&format!("{bad:?}")), "{bad:?} not named: {e}");
            }
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(check_dns_name(&long_label)
            .unwrap_err()
            .to_string()
            .contains("at most 63"));
        let long_name = vec!["a".repeat(60); 5].join(".");
        assert!(check_dns_name(&long_name)
            .unwrap_err()
            .to_string()
            .contains("at most 253"));
    }
}
