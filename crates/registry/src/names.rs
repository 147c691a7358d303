//! The registry API's grammar for repository names, tags and digests
//! (distribution spec), checked before anything becomes a path: every name
//! that passes is a safe relative path (no `..`, no `/` at either end, no
//! `:`), so the tree and nginx's locations agree on it.

/// Why a name, tag or digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("repository name {0:?}: expected lower-case path components of [a-z0-9] separated by `.`, `_`, `__` or `-` runs, joined by `/` (at most 255 characters), e.g. `etcd` or `kube/apiserver`")]
    Repository(String),
    #[error("tag {0:?}: expected [A-Za-z0-9_] then up to 127 of [A-Za-z0-9_.-]")]
    Tag(String),
    #[error("digest {0:?}: expected sha256:<64 lower-case hex digits> (the only algorithm this registry serves)")]
    Digest(String),
}

/// A repository name: `component(/component)*`, each component
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn check_repository(name: &str) -> Result<(), NameError> {
    let bad = || NameError::Repository(name.to_string());
    if name.is_empty() || name.len() > 255 {
        return Err(bad());
    }
    for component in name.split('/') {
        if !component_ok(component) {
            return Err(bad());
        }
    }
    Ok(())
}

/// One path component of a repository name,
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` (also what mk-ocibuild checks the
/// path of an image name with).
pub fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    // Separators between alphanumeric runs: `.`, `_`, `__`, or any run of `-`.
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), NameError> {
    let b = tag.as_bytes();
    let first = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let rest = |x: u8| first(x) || x == b'.' || x == b'-';
    if b.is_empty() || b.len() > 128 || !first(b[0]) || !b[1..].iter().all(|&x| rest(x)) {
        return Err(NameError::Tag(tag.to_string()));
    }
    Ok(())
}

/// The hex part of a `sha256:<hex>` digest.
pub fn sha256_hex(digest: &str) -> Result<&str, NameError> {
    match digest.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|x| x.is_ascii_digit() || (b'a'..=b'f').contains(&x)) =>
        {
            Ok(h)
        }
        _ => Err(NameError::Digest(digest.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in [
            "etcd",
            "kube/apiserver",
            "a.b_c__d---e/f0",
            "library/busybox",
            "x",
        ] {
            check_repository(ok).unwrap();
        }
        for bad in [
            "", "Etcd", "/etcd", "etcd/", "a//b", "..", "a/../b", "a..b", "_a", "a_", "a___b",
            "a:b", "a b", ".hidden", "a/_tags",
        ] {
            assert_eq!(
                check_repository(bad),
                Err(NameError::Repository(bad.into())),
                "{bad:?}"
            );
        }
        check_repository(&"a".repeat(255)).unwrap();
        check_repository(&"a".repeat(256)).unwrap_err();
    }

    #[test]
    fn tags() {
        for ok in ["3.5.12-0", "v1.30.6", "latest", "_x", "A"] {
            check_tag(ok).unwrap();
        }
        for bad in ["", ".x", "-x", "..", "a/b", "a:b", "a b"] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
        check_tag(&"a".repeat(128)).unwrap();
        check_tag(&"a".repeat(129)).unwrap_err();
    }

    #[test]
    fn digests() {
        let h = "a".repeat(64);
        assert_eq!(sha256_hex(&format!("sha256:{h}")).unwrap(), h);
        for bad in [
            format!("sha512:{h}"),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:../{}", "a".repeat(61)),
            h.clone(),
        ] {
            assert!(sha256_hex(&bad).is_err(), "{bad:?}");
        }
    }
}
