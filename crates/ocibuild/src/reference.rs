//! Image names and references, by the grammar of the OCI distribution
//! reference (github.com/distribution/reference, what containerd, the
//! kubelet and skopeo parse):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]          host: domain-name | IPv4 | "[" IPv6 "]"
//! domain-name:= component ( "." component )*   component: [A-Za-z0-9] ([A-Za-z0-9-]* [A-Za-z0-9])?
//! path       := path-component ( "/" path-component )*
//! path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! ```
//!
//! The first `/`-separated part is the registry host when it holds a `.`
//! or a `:`, is `localhost`, or has upper-case letters (the rule Docker
//! and containerd use to tell `registry.k8s.io/etcd` from `library/etcd`);
//! otherwise the whole name is the path. A name is at most 255 characters.
//! Pure functions; errors say which part is wrong and what a good one
//! looks like.

/// What a good name looks like, for error messages.
const NAME_FORM: &str = "a name is [HOST[:PORT]/]PATH, e.g. registry.k8s.io/kube-apiserver, localhost:5000/etcd or etcd";

/// Maximum length of a name (distribution's NameTotalLengthMax).
pub const NAME_MAX: usize = 255;

/// A checked name, split into its registry host (if any) and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'a> {
    /// `registry.k8s.io`, `localhost:5000`; `None` for a bare path.
    pub domain: Option<&'a str>,
    /// `kube-apiserver`, `coredns/coredns`.
    pub path: &'a str,
}

/// A checked reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference<'a> {
    pub name: Name<'a>,
    pub tag: Option<&'a str>,
    /// `sha256:…` (any `algorithm:hex` the grammar allows).
    pub digest: Option<&'a str>,
}

/// `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?`.
fn domain_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

/// `host[:port]`.
fn check_domain(d: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!(
            "registry host `{d}`: {why}; expected a domain name or IP address with an optional :PORT, e.g. registry.k8s.io or localhost:5000"
        )
    };
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // [IPv6]:port
        let (v6, after) = rest.split_once(']').ok_or_else(|| bad("`[` without `]`"))?;
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(bad("not an IPv6 address in brackets"));
        }
        match after {
            "" => (None, None),
            p => (
                None,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("unexpected text after `]`"))?,
                ),
            ),
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(h) = host {
        if h.is_empty() {
            return Err(bad("empty host"));
        }
        if let Some(c) = h.split('.').find(|c| !domain_component_ok(c)) {
            return Err(bad(&format!(
                "`{c}` is not a domain label (letters, digits and inner `-`)"
            )));
        }
    }
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!("port `{p}` is not a number")));
        }
    }
    Ok(())
}

/// Splits a name into domain and path by Docker's rule (see the module
/// documentation). Pure, unchecked.
fn split_domain(s: &str) -> (Option<&str>, &str) {
    match s.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, s),
    }
}

/// Checks an image name (no tag, no digest): `[HOST[:PORT]/]PATH`.
pub fn check_name(s: &str) -> Result<Name<'_>, String> {
    if s.is_empty() {
        return Err(format!("empty name; {NAME_FORM}"));
    }
    if s.len() > NAME_MAX {
        return Err(format!(
            "`{s}`: {} characters; a name has at most {NAME_MAX}",
            s.len()
        ));
    }
    let (domain, path) = split_domain(s);
    if let Some(d) = domain {
        check_domain(d).map_err(|m| format!("`{s}`: {m}"))?;
    }
    if path.is_empty() {
        return Err(format!(
            "`{s}`: no path after the registry host; {NAME_FORM}"
        ));
    }
    // Path components and tags: the registry's grammar
    // (mk_registry::names), one for the names images are built under and
    // the names the registry tree serves.
    for c in path.split('/') {
        if mk_registry::names::component_ok(c) {
            continue;
        }
        let hint = if c.is_empty() {
            "empty path component (`//`, or a `/` at either end)".to_string()
        } else if c.contains([':', '@']) {
            format!(
                "path component `{c}`: a name carries no tag or digest (`:` and `@` start them)"
            )
        } else {
            format!(
                "path component `{c}`: expected lower-case letters and digits separated by `.`, `_`, `__` or `-`"
            )
        };
        return Err(format!("`{s}`: {hint}; {NAME_FORM}"));
    }
    Ok(Name { domain, path })
}

/// OCI/Docker tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
/// Checked by [`mk_registry::names::check_tag`]; the error says it in a
/// recipe's words.
pub fn check_tag(s: &str) -> Result<(), String> {
    if mk_registry::names::check_tag(s).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "`{s}`: expected a tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)"
        ))
    }
}

/// `algorithm:hex` with the grammar's algorithm characters and at least
/// 32 hex digits; `sha256` needs exactly 64 lower-case ones.
fn check_digest(d: &str) -> Result<(), String> {
    let (alg, hex) = d
        .split_once(':')
        .ok_or_else(|| format!("digest `{d}`: expected ALGORITHM:HEX, e.g. sha256:<64 hex>"))?;
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let hex_ok = hex.len() >= 32
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !alg_ok || !hex_ok || (alg == "sha256" && hex.len() != 64) {
        return Err(format!(
            "digest `{d}`: expected ALGORITHM:HEX, e.g. sha256:<64 lower-case hex digits>"
        ));
    }
    Ok(())
}

/// Checks a reference `NAME[:TAG][@DIGEST]`.
pub fn check_reference(s: &str) -> Result<Reference<'_>, String> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            check_digest(d).map_err(|m| format!("`{s}`: {m}"))?;
            (r, Some(d))
        }
        None => (s, None),
    };
    // A `:` after the last `/` starts the tag (one before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        check_tag(t).map_err(|m| format!("`{s}`: tag {m}"))?;
    }
    let name = check_name(name).map_err(|m| format!("reference `{s}`: {m}"))?;
    Ok(Reference { name, tag, digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_a_registry_host() {
        for (s, domain, path) in [
            ("etcd", None, "etcd"),
            ("library/etcd", None, "library/etcd"),
            (
                "registry.k8s.io/kube-apiserver",
                Some("registry.k8s.io"),
                "kube-apiserver",
            ),
            (
                "registry.k8s.io/coredns/coredns",
                Some("registry.k8s.io"),
                "coredns/coredns",
            ),
            ("localhost:5000/etcd", Some("localhost:5000"), "etcd"),
            ("localhost/etcd", Some("localhost"), "etcd"),
            ("10.0.0.1:5000/a/b", Some("10.0.0.1:5000"), "a/b"),
            ("[::1]:5000/etcd", Some("[::1]:5000"), "etcd"),
            ("Registry.Example/etcd", Some("Registry.Example"), "etcd"),
            (
                "my-registry.example:443/a.b_c__d---e/f0",
                Some("my-registry.example:443"),
                "a.b_c__d---e/f0",
            ),
            // No slash: the whole name is a path (dots are separators).
            ("registry.k8s.io", None, "registry.k8s.io"),
        ] {
            let n = check_name(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!((n.domain, n.path), (domain, path), "{s}");
        }
    }

    #[test]
    fn bad_names_say_which_part_is_wrong() {
        for (s, want) in [
            ("", "empty name"),
            ("Etcd", "path component `Etcd`"),
            ("registry.k8s.io/Etcd", "path component `Etcd`"),
            ("registry.k8s.io/", "no path after the registry host"),
            ("registry.k8s.io//etcd", "empty path component"),
            ("etcd/", "empty path component"),
            ("/etcd", "empty path component"),
            ("a..b", "path component `a..b`"),
            ("_a", "path component `_a`"),
            ("a___b", "path component `a___b`"),
            ("etcd:3.5", "a name carries no tag or digest"),
            (
                "registry.k8s.io/etcd:3.5",
                "a name carries no tag or digest",
            ),
            ("localhost:port/etcd", "port `port` is not a number"),
            ("localhost:/etcd", "port `` is not a number"),
            ("-bad.example/etcd", "`-bad` is not a domain label"),
            ("bad_host.example/etcd", "`bad_host` is not a domain label"),
            ("[zz]:5000/etcd", "not an IPv6 address"),
            ("a b/etcd", "path component `a b`"),
        ] {
            let e = check_name(s).unwrap_err();
            assert!(e.contains(want), "{s:?}: want {want:?} in {e}");
        }
        let long = format!("registry.example/{}", "a".repeat(250));
        assert!(check_name(&long).unwrap_err().contains("at most 255"));
        check_name(&"a".repeat(255)).unwrap();
    }

    #[test]
    fn references() {
        let r = check_reference("registry.k8s.io/etcd:3.5.12-0").unwrap();
        assert_eq!(r.name.domain, Some("registry.k8s.io"));
        assert_eq!(r.name.path, "etcd");
        assert_eq!(r.tag, Some("3.5.12-0"));
        let r = check_reference("localhost:5000/etcd").unwrap();
        assert_eq!((r.name.domain, r.tag), (Some("localhost:5000"), None));
        let r = check_reference("localhost:5000/etcd:v1").unwrap();
        assert_eq!(r.tag, Some("v1"));
        let d = format!("sha256:{}", "a".repeat(64));
        let s = format!("registry.k8s.io/pause:3.9@{d}");
        let r = check_reference(&s).unwrap();
        assert_eq!((r.tag, r.digest), (Some("3.9"), Some(d.as_str())));
        assert_eq!(check_reference("etcd:3.5").unwrap().tag, Some("3.5"));
        for (s, want) in [
            ("registry.k8s.io/etcd:", "tag ``"),
            ("registry.k8s.io/etcd:.x", "tag `.x`"),
            ("registry.k8s.io/Etcd:1", "path component `Etcd`"),
            ("etcd@sha256:abc", "digest `sha256:abc`"),
            ("etcd@md5", "digest `md5`"),
        ] {
            let e = check_reference(s).unwrap_err();
            assert!(e.contains(want), "{s:?}: want {want:?} in {e}");
        }
    }
}
