//! Pure checks on what goes into a package header, so that bad input fails
//! with a message naming the field or path instead of an rpm crate error (or,
//! worse, a package that `rpm` refuses at install time).

/// Why a package name, version, release or arch is refused, or `None`.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("must not be empty");
    }
    if name.starts_with('-') {
        return Some("must not start with '-'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    {
        return Some("expected only letters, digits and . _ + -");
    }
    None
}

/// Version and release: no '-' (it separates them in NVR), no ':' (epoch).
/// `~` needs rpm ≥ 4.10 and `^` rpm ≥ 4.15; both are allowed, callers that
/// target CentOS 7 avoid `^`.
pub fn version_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("must not be empty");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._+~^".contains(c))
    {
        return Some("expected only letters, digits and . _ + ~ ^ (no '-' or ':')");
    }
    None
}

pub fn arch_problem(arch: &str) -> Option<&'static str> {
    if arch.is_empty() || !arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some("expected an RPM arch such as x86_64 or noarch");
    }
    None
}

/// An installed path: absolute, normalised (no `.`/`..` components, no
/// empty components, no trailing `/`), not `/` itself, and printable in
/// `rpm -ql` output (no NUL or newline).
pub fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("must be absolute (start with /)");
    }
    if path == "/" {
        return Some("the root directory itself cannot be packaged");
    }
    if path.contains(['\0', '\n', '\r']) {
        return Some("must not contain NUL or line breaks");
    }
    if path.ends_with('/') {
        return Some("must not end with /");
    }
    for comp in path[1..].split('/') {
        match comp {
            "" => return Some("must not contain empty components (//)"),
            "." | ".." => return Some("must not contain . or .. components"),
            _ => {}
        }
    }
    None
}

/// User and group names as rpm stores them in the header.
pub fn owner_problem(name: &str) -> Option<&'static str> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == ':' || c == '\0')
    {
        return Some("expected a non-empty user or group name without spaces or ':'");
    }
    None
}

/// A dependency name: a package or capability name, a file path, or
/// `name(arg)`; no whitespace (rpm would split it).
pub fn dep_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.chars().any(|c| c.is_whitespace() || c == '\0') {
        return Some("name contains whitespace");
    }
    if name.starts_with('(') {
        return Some("rich dependencies are not supported (rpm 4.11 cannot read them)");
    }
    None
}

/// `[epoch:]version[-release]`.
pub fn evr_problem(evr: &str) -> Option<&'static str> {
    let rest = match evr.split_once(':') {
        Some((e, rest)) => {
            if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
                return Some("epoch before ':' must be a number");
            }
            rest
        }
        None => evr,
    };
    let (v, r) = match rest.rsplit_once('-') {
        Some((v, r)) => (v, Some(r)),
        None => (rest, None),
    };
    if version_problem(v).is_some() {
        return Some(
            "expected [epoch:]version[-release] with version of letters, digits and . _ + ~ ^",
        );
    }
    if let Some(r) = r {
        if version_problem(r).is_some() {
            return Some(
                "expected [epoch:]version[-release] with release of letters, digits and . _ + ~ ^",
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(path_problem("/usr/bin/x"), None);
        assert!(path_problem("usr/bin/x").is_some());
        assert!(path_problem("/").is_some());
        assert!(path_problem("/usr//bin").is_some());
        assert!(path_problem("/usr/bin/").is_some());
        assert!(path_problem("/usr/../etc/shadow").is_some());
        assert!(path_problem("/usr/./bin").is_some());
        assert!(path_problem("/a\nb").is_some());
        // Dots inside names are fine.
        assert_eq!(path_problem("/etc/..hidden/.x"), None);
    }

    #[test]
    fn versions() {
        assert_eq!(version_problem("1.2.3~rc1"), None);
        assert_eq!(version_problem("2.17+git1"), None);
        assert!(version_problem("1.0-1").is_some());
        assert!(version_problem("1:1.0").is_some());
        assert!(version_problem("1 0").is_some());
        assert!(version_problem("").is_some());
    }

    #[test]
    fn evrs() {
        assert_eq!(evr_problem("1.0"), None);
        assert_eq!(evr_problem("2:1.0-3.el7"), None);
        assert!(evr_problem("x:1.0").is_some());
        assert!(evr_problem("1.0 -1").is_some());
        assert!(evr_problem("1.0-").is_some());
    }

    #[test]
    fn names() {
        assert_eq!(name_problem("libstdc++6"), None);
        assert_eq!(name_problem("mk-firstboot"), None);
        assert!(name_problem("a b").is_some());
        assert!(name_problem("-x").is_some());
        assert!(name_problem("a/b").is_some());
        assert_eq!(arch_problem("x86_64"), None);
        assert!(arch_problem("x86-64").is_some());
        assert!(owner_problem("root user").is_some());
        assert!(dep_name_problem("(a or b)").is_some());
        assert_eq!(dep_name_problem("rpmlib(PayloadIsXz)"), None);
    }
}
