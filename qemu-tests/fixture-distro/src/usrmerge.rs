//! Merged /usr. Bookworm packages still ship files below /bin, /sbin,
//! /lib and /lib64; the installed root is merged-usr (`/bin -> usr/bin`,
//! owned as symlinks by the synthetic `filesystem` package). Every path
//! below those is moved to its /usr twin, and the top-level directory
//! entries themselves are dropped, so rpm never sees one path as both a
//! directory (from a Debian package) and a symlink (from `filesystem`), and
//! every file has one canonical path for `rpm -V`. Pure.

/// Top-level directories that are symlinks into /usr.
pub const MERGED: &[(&str, &str)] = &[
    ("/bin", "usr/bin"),
    ("/sbin", "usr/sbin"),
    ("/lib", "usr/lib"),
    ("/lib32", "usr/lib32"),
    ("/lib64", "usr/lib64"),
    ("/libx32", "usr/libx32"),
];

/// Whether `path` is one of the merged top-level directories.
pub fn is_merged_top(path: &str) -> bool {
    MERGED.iter().any(|(top, _)| *top == path)
}

/// The canonical path of `path` (itself when not below a merged directory).
pub fn canonical(path: &str) -> String {
    for (top, usr) in MERGED {
        if let Some(rest) = path.strip_prefix(top) {
            if rest.is_empty() || rest.starts_with('/') {
                return format!("/{usr}{rest}");
            }
        }
    }
    path.to_owned()
}

/// The relative path from directory `from_dir` to `to` (both absolute).
fn relative(from_dir: &str, to: &str) -> String {
    let a: Vec<&str> = from_dir.split('/').filter(|c| !c.is_empty()).collect();
    let b: Vec<&str> = to.split('/').filter(|c| !c.is_empty()).collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<&str> = std::iter::repeat_n("..", a.len() - common).collect();
    parts.extend(&b[common..]);
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// The target a relative symlink needs after moving from `orig` to `new`
/// to point at the same file; absolute targets are kept (they resolve
/// through the merged symlinks).
pub fn relocated_target(orig: &str, new: &str, target: &str) -> String {
    if target.starts_with('/') || orig == new {
        return target.to_owned();
    }
    match crate::deb::resolve_link(orig, target) {
        Some(abs) => {
            let abs = canonical(&abs);
            let dir = new
                .rsplit_once('/')
                .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
            relative(dir, &abs)
        }
        None => target.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths() {
        assert_eq!(canonical("/bin/sh"), "/usr/bin/sh");
        assert_eq!(
            canonical("/lib/x86_64-linux-gnu/libc.so.6"),
            "/usr/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(
            canonical("/lib64/ld-linux-x86-64.so.2"),
            "/usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(canonical("/library/x"), "/library/x");
        assert_eq!(canonical("/usr/bin/x"), "/usr/bin/x");
        assert!(is_merged_top("/sbin"));
        assert!(!is_merged_top("/sbin/x"));
    }

    #[test]
    fn relative_links_follow_the_move() {
        // /bin/x -> ../usr/bin/y would become /usr/usr/bin/y if kept.
        assert_eq!(
            relocated_target("/bin/x", "/usr/bin/x", "../usr/bin/y"),
            "y"
        );
        assert_eq!(relocated_target("/bin/x", "/usr/bin/x", "y"), "y");
        assert_eq!(
            relocated_target(
                "/lib/x86_64-linux-gnu/a.so",
                "/usr/lib/x86_64-linux-gnu/a.so",
                "a.so.1"
            ),
            "a.so.1"
        );
        assert_eq!(
            relocated_target("/sbin/x", "/usr/sbin/x", "../bin/y"),
            "../bin/y"
        );
        assert_eq!(
            relocated_target("/sbin/x", "/usr/sbin/x", "/bin/y"),
            "/bin/y"
        );
    }
}
