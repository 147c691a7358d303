//! Checking an installed root with its own rpm (`rpm -qa`, `rpm -Va`), and
//! listing files no package owns (R18).
//!
//! Unowned entries are classified:
//! - a file, symlink or other non-directory no package owns is a failure,
//!   unless a pattern allows it;
//! - a directory no package owns, with nothing owned below it, is a
//!   failure too (something made it besides rpm), unless allowed;
//! - a directory no package owns that holds owned entries is an *implicit
//!   directory*: rpm creates missing parents of the files it installs, and
//!   `rpm -V` does not track them. They are reported, not failed (they show
//!   up when the package owning the directory is not in the set).
//!
//! Owned paths are compared after resolving their parent directories
//! inside the root, because packages name files through symlinks
//! (`/lib64/libc.so.6` is `/usr/lib64/libc.so.6` on disk).

use crate::chroot::{self, Mount};
use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Paths the install step itself creates; never reported.
pub const ALWAYS_ALLOWED: &[&str] = &[
    // The rpmdb: Berkeley DB files, its environment (__db.*) and lock files.
    "/var/lib/rpm/**",
    // Mount points of the chroot; empty once the install's namespace ends.
    "/dev/**",
    "/proc/**",
    "/sys/**",
];

/// State that CentOS 7 package scriptlets create during installation, as
/// measured on the el7-base fixture (httpd's closure). Pass it in
/// [`crate::InstallOptions::allowed_unowned`] for CentOS targets.
pub const CENTOS7_SCRIPTLET_STATE: &[&str] = &[
    // useradd/groupadd (shadow-utils) in %pre scriptlets: backups and lock.
    "/etc/passwd-",
    "/etc/group-",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/.pwd.lock",
    // alternatives(8) links and state (p11-kit-trust, nss %post).
    "/etc/alternatives/**",
    "/var/lib/alternatives/**",
    "/usr/lib64/p11-kit-trust.so",
    // update-mime-database cache (shared-mime-info %post).
    "/usr/share/mime/**",
    // NSS certificate database created by openldap's %post.
    "/etc/openldap/certs/**",
    // Runtime state (util-linux %post: /run/blkid); /run is a tmpfs at boot.
    "/run/**",
];

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{}: running `{command}` in a chroot", root.display())]
    Spawn {
        root: PathBuf,
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("{}: `{command}` failed ({status}):\n{output}", root.display())]
    Failed {
        root: PathBuf,
        command: String,
        status: String,
        output: String,
    },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Runs the root's own `/usr/bin/rpm ARGS` chrooted into it, with `/dev`
/// and `/proc` mounted; returns the output whatever the exit status.
pub fn rpm_in_root(root: &Path, args: &[&str]) -> Result<Output, VerifyError> {
    let command = format!("rpm {}", args.join(" "));
    let spawn = |source| VerifyError::Spawn {
        root: root.to_path_buf(),
        command: command.clone(),
        source,
    };
    chroot::command(root, &Mount::dev_proc(root), "/usr/bin/rpm", args)
        .map_err(spawn)?
        .output()
        .map_err(spawn)
}

fn checked(root: &Path, args: &[&str]) -> Result<String, VerifyError> {
    let out = rpm_in_root(root, args)?;
    if !out.status.success() {
        return Err(VerifyError::Failed {
            root: root.to_path_buf(),
            command: format!("rpm {}", args.join(" ")),
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `rpm -qa` query format: NEVRA fields, tab-separated.
const QA_FORMAT: &str = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n";

/// NEVRAs from [`QA_FORMAT`] output, in [`mk_rpmrepo::Package::nevra`]'s
/// spelling (no epoch when none or 0), sorted. Pure.
pub fn parse_qa(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let [n, e, v, r, a] = f[..] else { return None };
            let epoch = match e {
                "(none)" | "0" | "" => String::new(),
                e => format!("{e}:"),
            };
            Some(format!("{n}-{epoch}{v}-{r}.{a}"))
        })
        .collect();
    v.sort();
    v
}

/// The packages the root's rpmdb lists.
pub fn installed_packages(root: &Path) -> Result<Vec<String>, VerifyError> {
    Ok(parse_qa(&checked(root, &["-qa", "--qf", QA_FORMAT])?))
}

/// `rpm -Va` problem lines (missing or altered files; dependency problems
/// unless `nodeps`). Empty when the root verifies clean.
pub fn rpm_verify(root: &Path, nodeps: bool) -> Result<Vec<String>, VerifyError> {
    let mut args = vec!["-Va"];
    if nodeps {
        args.push("--nodeps");
    }
    let out = rpm_in_root(root, &args)?;
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if !out.status.success() && lines.is_empty() {
        lines.push(format!("rpm -Va exited with {}", out.status));
    }
    Ok(lines)
}

/// Every path the rpmdb lists (files, directories, ghosts).
pub fn owned_paths(root: &Path) -> Result<Vec<String>, VerifyError> {
    let out = checked(root, &["-qa", "--qf", "[%{FILENAMES}\\n]"])?;
    Ok(out.lines().map(str::to_owned).collect())
}

/// Whether `path` matches `pattern`: equal, or `pattern` is `P/**` and
/// `path` is `P` or below it. Pure.
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix("/**") {
        Some(prefix) => {
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        }
        None => pattern == path,
    }
}

/// Result of [`find_unowned`]; paths are absolute inside the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unowned {
    /// Unowned entries not allowed by any pattern: the check fails.
    pub failures: Vec<String>,
    /// Unowned directories that hold owned entries.
    pub implicit_dirs: Vec<String>,
    /// Unowned entries an allow pattern covered.
    pub allowed: Vec<String>,
}

/// Canonical form of owned paths: parent directories resolved inside
/// `root` (as the root's own programs would see them).
fn canonical_owned(root: &Path, owned: &[String]) -> Result<HashSet<String>, VerifyError> {
    let io_err = |source| VerifyError::Io {
        path: root.to_path_buf(),
        source,
    };
    let root_fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(e.into()))?;
    let real_root = std::fs::canonicalize(root).map_err(io_err)?;
    let mut dirs: HashMap<&str, Option<String>> = HashMap::new();
    let mut out = HashSet::with_capacity(owned.len() * 2);
    for p in owned {
        out.insert(p.clone());
        let Some((dir, name)) = p.rsplit_once('/') else {
            continue;
        };
        let canon = dirs.entry(dir).or_insert_with(|| {
            let rel = dir.trim_start_matches('/');
            let rel = if rel.is_empty() { "." } else { rel };
            let fd = openat2(
                &root_fd,
                rel,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            )
            .ok()?;
            let host = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
            let inside = host.strip_prefix(&real_root).ok()?;
            Some(format!("/{}", inside.to_str()?).replace("//", "/"))
        });
        if let Some(c) = canon {
            let c = if c == "/" {
                format!("/{name}")
            } else {
                format!("{c}/{name}")
            };
            out.insert(c);
        }
    }
    Ok(out)
}

/// Lists what in `root` no package owns (see the module docs), given the
/// rpmdb's paths. `allowed` adds to [`ALWAYS_ALLOWED`].
pub fn find_unowned(
    root: &Path,
    owned: &[String],
    allowed: &[String],
) -> Result<Unowned, VerifyError> {
    let owned = canonical_owned(root, owned)?;
    let patterns: Vec<&str> = ALWAYS_ALLOWED
        .iter()
        .copied()
        .chain(allowed.iter().map(String::as_str))
        .collect();
    let mut result = Unowned::default();
    walk(root, "", &owned, &patterns, &mut result)?;
    result.failures.sort();
    result.implicit_dirs.sort();
    result.allowed.sort();
    Ok(result)
}

/// Returns whether anything at or below `rel` is owned.
fn walk(
    root: &Path,
    rel: &str,
    owned: &HashSet<String>,
    patterns: &[&str],
    out: &mut Unowned,
) -> Result<bool, VerifyError> {
    let dir = root.join(rel.trim_start_matches('/'));
    let io_err = |source| VerifyError::Io {
        path: dir.clone(),
        source,
    };
    let mut names = BTreeSet::new();
    for e in std::fs::read_dir(&dir).map_err(io_err)? {
        names.insert(e.map_err(io_err)?.file_name());
    }
    let mut any_owned = false;
    for name in names {
        let path = format!("{rel}/{}", name.to_string_lossy());
        let meta =
            std::fs::symlink_metadata(root.join(path.trim_start_matches('/'))).map_err(io_err)?;
        let is_owned = owned.contains(&path);
        let below = meta.is_dir() && walk(root, &path, owned, patterns, out)?;
        any_owned |= is_owned || below;
        if is_owned {
            continue;
        }
        if meta.is_dir() && below {
            out.implicit_dirs.push(path);
        } else if patterns.iter().any(|p| pattern_matches(p, &path)) {
            if !ALWAYS_ALLOWED.iter().any(|p| pattern_matches(p, &path)) {
                out.allowed.push(path);
            }
        } else {
            out.failures.push(path);
        }
    }
    Ok(any_owned)
}

/// A scriptlet rpm reported as failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptletFailure {
    /// `%pre`, `%post`, `%pretrans` ...
    pub scriptlet: String,
    /// NEVRA as rpm printed it.
    pub package: String,
    /// rpm's line.
    pub line: String,
}

/// Scriptlet failures in rpm's output (`error: %pre(foo-1-1.noarch)
/// scriptlet failed, exit status 1`; `warning:` for %post in rpm 4.11).
/// Pure.
pub fn parse_scriptlet_failures(output: &str) -> Vec<ScriptletFailure> {
    output
        .lines()
        .filter(|l| l.contains("scriptlet failed"))
        .filter_map(|l| {
            let start = l.find('%')?;
            let rest = &l[start..];
            let open = rest.find('(')?;
            let close = rest[open..].find(')')? + open;
            Some(ScriptletFailure {
                scriptlet: rest[..open].to_owned(),
                package: rest[open + 1..close].to_owned(),
                line: l.trim().to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qa_lines_become_nevras() {
        let out = "bash\t(none)\t4.2.46\t34.el7\tx86_64\ndbus\t1\t1.10.24\t15.el7\tx86_64\n";
        assert_eq!(
            parse_qa(out),
            ["bash-4.2.46-34.el7.x86_64", "dbus-1:1.10.24-15.el7.x86_64"]
        );
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("/var/lib/rpm/**", "/var/lib/rpm"));
        assert!(pattern_matches("/var/lib/rpm/**", "/var/lib/rpm/Packages"));
        assert!(!pattern_matches("/var/lib/rpm/**", "/var/lib/rpmstate"));
        assert!(pattern_matches("/etc/passwd-", "/etc/passwd-"));
        assert!(!pattern_matches("/etc/passwd-", "/etc/passwd"));
    }

    #[test]
    fn scriptlet_failures_name_the_package() {
        let out = "Preparing packages...\nerror: %pre(bad-1-1.noarch) scriptlet failed, exit status 3\nerror: bad-1-1.noarch: install failed\nwarning: %post(w-2-1.x86_64) scriptlet failed, exit status 1\n";
        let f = parse_scriptlet_failures(out);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].scriptlet, "%pre");
        assert_eq!(f[0].package, "bad-1-1.noarch");
        assert_eq!(f[1].scriptlet, "%post");
        assert_eq!(f[1].package, "w-2-1.x86_64");
    }
}
