//! Syntax of names and networks: DNS names (mk-dnsname's rule: RFC 1123,
//! never IP addresses, R28), Kubernetes label keys and values, CIDRs.

use std::fmt;
use std::net::IpAddr;

pub use mk_dnsname::IP_NOT_NAME;

/// Checks a DNS name by mk's one rule (mk-dnsname, shared with the PKI).
pub fn check_dns_name(name: &str) -> Result<(), String> {
    mk_dnsname::check_dns_name(name).map_err(|e| e.to_string())
}

/// One RFC 1123 label: 1-63 of `a-z 0-9 -`, alphanumeric at both ends.
pub fn check_dns_label(label: &str) -> Result<(), String> {
    mk_dnsname::check_dns_label(label).map_err(|e| e.to_string())
}

/// Whether `name` is `domain` or below it.
pub fn within_domain(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// Kubernetes label name / value part: at most 63 of `A-Z a-z 0-9 - _ .`,
/// alphanumeric at both ends.
fn check_label_word(s: &str, what: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err(format!(
            "{what} {s:?} is {} characters, at most 63",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{what} {s:?} contains {c:?}: only letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !s.is_empty() && (!alnum(s.chars().next()) || !alnum(s.chars().last())) {
        return Err(format!(
            "{what} {s:?} must start and end with a letter or digit"
        ));
    }
    Ok(())
}

/// A label key: `[prefix/]name`, prefix a DNS subdomain.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        check_dns_name(p).map_err(|e| format!("label key {key:?}: prefix: {e}"))?;
    }
    if name.is_empty() {
        return Err(format!("label key {key:?}: the name part is empty"));
    }
    check_label_word(name, "label key name")
}

pub fn check_label_value(value: &str) -> Result<(), String> {
    check_label_word(value, "label value")
}

/// A network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let all = if width == 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        all & !((1u128 << (width - prefix)) - 1) & all
    }
}

/// `ADDR/PREFIX` split and parsed, the prefix at least `min_prefix`;
/// `missing` says what was expected when there is no `/`.
fn parse_prefixed(s: &str, min_prefix: u8, missing: &str) -> Result<(IpAddr, u8), String> {
    let Some((a, p)) = s.split_once('/') else {
        return Err(format!("{s:?} {missing}"));
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("{s:?}: {a:?} is not an IP address"))?;
    let width = bits(addr).1;
    let prefix: u8 = p
        .parse()
        .ok()
        .filter(|p| *p >= min_prefix && *p <= width)
        .ok_or_else(|| {
            format!("{s:?}: prefix length {p:?} is not a number {min_prefix}-{width}")
        })?;
    Ok((addr, prefix))
}

/// The network `addr/prefix` lies in.
fn network_of(addr: IpAddr, prefix: u8) -> Cidr {
    let (v, w) = bits(addr);
    let net = v & mask(prefix, w);
    let addr = match addr {
        IpAddr::V4(_) => IpAddr::V4((net as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(net.into()),
    };
    Cidr { addr, prefix }
}

impl Cidr {
    /// Parses `ADDR/PREFIX`; host bits must be zero (a typo otherwise).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) =
            parse_prefixed(s, 0, "is not in CIDR notation (expected e.g. 10.0.1.0/24)")?;
        let net = network_of(addr, prefix);
        if net.addr != addr {
            return Err(format!(
                "{s:?} has host bits set; the network is {}/{prefix}",
                net.addr
            ));
        }
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (n, w) = bits(self.addr);
        let (v, w2) = bits(ip);
        w == w2 && (v & mask(self.prefix, w)) == n
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let shorter = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let longer = if std::ptr::eq(shorter, self) {
            other
        } else {
            self
        };
        shorter.contains(longer.addr)
    }
}

/// An interface address with its prefix length, `10.0.1.11/24`: the host
/// bits are the point here, unlike [`Cidr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddress {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for IfAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl IfAddress {
    /// Parses `ADDR/PREFIX` (prefix required: a static address without it
    /// would silently get a /32 or /128).
    pub fn parse(s: &str) -> Result<IfAddress, String> {
        let (addr, prefix) =
            parse_prefixed(s, 1, "lacks a prefix length (expected e.g. 10.0.1.11/24)")?;
        Ok(IfAddress { addr, prefix })
    }

    /// The network the address lies in.
    pub fn network(&self) -> Cidr {
        network_of(self.addr, self.prefix)
    }
}

/// A kernel interface name: 1-15 bytes (IFNAMSIZ - 1) of
/// `A-Z a-z 0-9 _ - .`, not `.` or `..` (the kernel refuses those and `/`,
/// `:` and spaces; the narrower set keeps names safe in file names too).
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "{name:?} is not an interface name: 1-15 characters"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not an interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "{name:?} is not an interface name: {c:?} is not one of A-Z a-z 0-9 _ - ."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        check_dns_name("cp1.example.com").unwrap();
        check_dns_name("a").unwrap();
        check_dns_name("1a.example.com").unwrap();
        for (bad, what) in [
            ("10.0.0.1", IP_NOT_NAME),
            ("::1", IP_NOT_NAME),
            ("[fe80::1]", IP_NOT_NAME),
            ("10.0.0.300", "all digits"),
            ("CP1.example.com", "lower case"),
            ("cp1..example.com", "empty label"),
            ("-cp1.example.com", "start and end"),
            ("cp1.example.com.", "trailing dot"),
            ("cp_1.example.com", "'_'"),
            ("", "empty"),
        ] {
            let e = check_dns_name(bad).unwrap_err();
            assert!(e.contains(what), "{bad}: {e}");
        }
        let long = format!("{}.com", "a".repeat(64));
        assert!(check_dns_name(&long).unwrap_err().contains("at most 63"));
        assert!(within_domain("a.example.com", "example.com"));
        assert!(within_domain("example.com", "example.com"));
        assert!(!within_domain("aexample.com", "example.com"));
    }

    #[test]
    fn labels() {
        check_label_key("topology.kubernetes.io/zone").unwrap();
        check_label_key("node-role.kubernetes.io/control-plane").unwrap();
        check_label_key("rack").unwrap();
        check_label_value("").unwrap();
        check_label_value("Rack_1.a").unwrap();
        assert!(check_label_key("Topology.io/zone").is_err());
        assert!(check_label_key("x/").is_err());
        assert!(check_label_key("a/b/c").unwrap_err().contains("'/'"));
        assert!(check_label_value("-a").is_err());
        assert!(check_label_value(&"a".repeat(64)).is_err());
        assert!(check_label_value("a b").is_err());
    }

    #[test]
    fn cidrs() {
        let a = Cidr::parse("10.0.0.0/16").unwrap();
        let b = Cidr::parse("10.0.1.0/24").unwrap();
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().overlaps(&c));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(!v6.overlaps(&a));
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.1/24")
            .unwrap_err()
            .contains("the network is 10.0.0.0/24"));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("host/24").is_err());
        Cidr::parse("10.0.0.7/32").unwrap();
        Cidr::parse("::/0").unwrap();
    }
}
