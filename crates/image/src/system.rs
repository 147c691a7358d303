//! Effects inside the installed root, each run with the target's own tools
//! chrooted into it (private mount namespace, /dev and /proc mounted):
//! enabling units, kickstart %post scripts (in a new, empty network
//! namespace: builds are offline), the initramfs (the target's dracut).

use crate::ImageError;
use mk_install::chroot::{self, Mount};
use mk_kickstart::Kickstart;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Output, Stdio};

/// Runs `program args` chrooted into `root`; `offline`: in a new network
/// namespace (only a down loopback device).
pub fn run_in_root(
    root: &Path,
    what: &str,
    program: &str,
    args: &[String],
    env: &[(&str, String)],
    offline: bool,
) -> Result<Output, ImageError> {
    let spawn = |e: std::io::Error| ImageError::Step {
        step: what.to_string(),
        message: format!(
            "cannot run {program} in {}: {e} (is the program, or its #! interpreter, installed?)",
            root.display()
        ),
    };
    let mut cmd = chroot::command(root, &Mount::dev_proc(root), program, args).map_err(spawn)?;
    for (k, v) in env {
        cmd.env(k, v);
    }
    if offline {
        // SAFETY: one raw system call between fork and exec, no allocation.
        unsafe {
            cmd.pre_exec(|| {
                rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET)?;
                Ok(())
            });
        }
    }
    cmd.stdin(Stdio::null()).output().map_err(spawn)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn unit_exists(root: &Path, unit: &str) -> bool {
    [
        "etc/systemd/system",
        "usr/lib/systemd/system",
        "lib/systemd/system",
    ]
    .iter()
    .any(|d| root.join(d).join(unit).exists())
}

fn unit_name(s: &str) -> String {
    if s.contains('.') {
        s.to_string()
    } else {
        format!("{s}.service")
    }
}

/// Enables the kickstart's `services --enabled` and `extra` units (each must
/// exist), disables `--disabled` ones that exist, and sets
/// multi-user.target as the default, with the target's systemctl.
pub fn configure_services(
    root: &Path,
    ks: &Kickstart,
    extra: &[String],
) -> Result<usize, ImageError> {
    let mut enable: Vec<String> = extra.to_vec();
    let mut disable = Vec::new();
    if let Some(s) = &ks.services {
        enable.extend(s.enabled.iter().map(|u| unit_name(u)));
        disable.extend(s.disabled.iter().map(|u| unit_name(u)));
    }
    let mut seen = std::collections::BTreeSet::new();
    enable.retain(|u| seen.insert(u.clone()));
    let missing: Vec<&String> = enable.iter().filter(|u| !unit_exists(root, u)).collect();
    if !missing.is_empty() {
        let line = ks.services.as_ref().map_or(0, |s| s.line);
        return Err(ImageError::Step {
            step: "services".into(),
            message: format!(
                "units to enable that no installed package ships: {} (kickstart `services` line {line}; add their packages to %packages)",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let systemctl = |args: Vec<String>| -> Result<(), ImageError> {
        let o = run_in_root(root, "services", "/usr/bin/systemctl", &args, &[], true)?;
        if !o.status.success() {
            return Err(ImageError::Step {
                step: "services".into(),
                message: format!(
                    "systemctl {} failed ({}):\n{}",
                    args.join(" "),
                    o.status,
                    text(&o)
                ),
            });
        }
        Ok(())
    };
    if !enable.is_empty() {
        let mut a = vec!["enable".to_string()];
        a.extend(enable.iter().cloned());
        systemctl(a)?;
    }
    let present: Vec<String> = disable
        .into_iter()
        .filter(|u| unit_exists(root, u))
        .collect();
    if !present.is_empty() {
        let mut a = vec!["disable".to_string()];
        a.extend(present.iter().cloned());
        systemctl(a)?;
    }
    systemctl(vec!["set-default".into(), "multi-user.target".into()])?;
    tracing::info!(
        enabled = enable.len(),
        disabled = present.len(),
        "units configured"
    );
    Ok(enable.len())
}

/// Runs the kickstart's %post scripts in order, chrooted and offline. Their
/// output goes to `log_dir/post-N.log` (outside the image: a log file in
/// the root would be a file no package owns). `--erroronfail` scripts that
/// fail stop the build; others log a warning, as anaconda does.
pub fn run_post_scripts(
    root: &Path,
    ks: &Kickstart,
    log_dir: &Path,
    epoch: u64,
) -> Result<(), ImageError> {
    for (i, post) in ks.post.iter().enumerate() {
        if post.nochroot {
            return Err(ImageError::Step {
                step: "%post".into(),
                message: format!(
                    "kickstart line {}: `%post --nochroot` would run on the build host; image builds run %post only inside the image",
                    post.line
                ),
            });
        }
        let interp = post.interpreter.clone().unwrap_or_else(|| "/bin/sh".into());
        let rel = format!("tmp/.mk-post-{i}");
        let script = root.join(&rel);
        if let Some(parent) = script.parent() {
            std::fs::create_dir_all(parent).map_err(ImageError::io(parent))?;
        }
        std::fs::write(&script, &post.body).map_err(ImageError::io(&script))?;
        let o = run_in_root(
            root,
            "%post",
            &interp,
            &[format!("/{rel}")],
            &[("SOURCE_DATE_EPOCH", epoch.to_string())],
            true,
        );
        let _ = std::fs::remove_file(&script);
        let o = o?;
        let log = log_dir.join(format!("post-{i}.log"));
        let _ = std::fs::write(&log, text(&o));
        if !o.status.success() {
            let message = format!(
                "%post at kickstart line {} failed ({}); output:\n{}",
                post.line,
                o.status,
                text(&o)
            );
            if post.erroronfail {
                return Err(ImageError::Step {
                    step: "%post".into(),
                    message,
                });
            }
            tracing::warn!("{message}");
        } else {
            tracing::info!(line = post.line, log = %log.display(), "%post ran");
        }
    }
    Ok(())
}

/// Builds the initramfs for `kver` with the target's dracut, generic (not
/// host-only: the build host is not the node), reproducible when dracut
/// supports it; the image is written to `out` (outside the root).
pub fn make_initramfs(root: &Path, kver: &str, out: &Path, epoch: u64) -> Result<(), ImageError> {
    let started = std::time::Instant::now();
    let help = run_in_root(
        root,
        "initramfs",
        "/usr/bin/dracut",
        &["--help".into()],
        &[],
        true,
    )?;
    let reproducible = text(&help).contains("--reproducible");
    let rel = "var/tmp/.mk-initramfs.img";
    let mut args: Vec<String> = vec![
        "--force".into(),
        "--no-hostonly".into(),
        "--no-hostonly-cmdline".into(),
        "--kver".into(),
        kver.into(),
        "--add-drivers".into(),
        "virtio_blk virtio_pci virtio_scsi sd_mod ext4 vfat".into(),
        "--tmpdir".into(),
        "/var/tmp".into(),
        "--gzip".into(),
    ];
    if reproducible {
        args.push("--reproducible".into());
    }
    args.push(format!("/{rel}"));
    let o = run_in_root(
        root,
        "initramfs",
        "/usr/bin/dracut",
        &args,
        &[("SOURCE_DATE_EPOCH", epoch.to_string())],
        true,
    )?;
    let produced = root.join(rel);
    if !o.status.success() || !produced.is_file() {
        let _ = std::fs::remove_file(&produced);
        return Err(ImageError::Step {
            step: "initramfs".into(),
            message: format!("dracut failed ({}):\n{}", o.status, text(&o)),
        });
    }
    std::fs::rename(&produced, out).map_err(ImageError::io(out))?;
    tracing::info!(
        kver,
        reproducible,
        bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0),
        secs = started.elapsed().as_secs_f32(),
        "initramfs built with the target's dracut"
    );
    Ok(())
}

/// Caches that record the build host's inode numbers and times (ldconfig's
/// aux-cache): removed, they would make the image differ build to build;
/// the tools recreate them on the node.
pub const UNREPRODUCIBLE_CACHES: &[&str] = &["var/cache/ldconfig/aux-cache"];

/// Removes [`UNREPRODUCIBLE_CACHES`].
pub fn remove_unreproducible_caches(root: &Path) -> Result<(), ImageError> {
    for f in UNREPRODUCIBLE_CACHES {
        let p = root.join(f);
        match std::fs::remove_file(&p) {
            Ok(()) => tracing::debug!(path = %p.display(), "removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io(&p)(e)),
        }
    }
    Ok(())
}

/// An empty /etc/machine-id: every node gets its own at boot (systemd
/// mounts a transient one on a read-only root), none is baked in.
pub fn reset_machine_id(root: &Path) -> Result<(), ImageError> {
    let p = root.join("etc/machine-id");
    std::fs::write(&p, b"").map_err(ImageError::io(&p))?;
    Ok(())
}

/// How a path looks in the root (not following a final symlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathKind {
    Missing,
    Dir,
    File,
    Symlink(String),
    Other,
}

impl std::fmt::Display for PathKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathKind::Missing => write!(f, "missing"),
            PathKind::Dir => write!(f, "a directory"),
            PathKind::File => write!(f, "a regular file"),
            PathKind::Symlink(t) => write!(f, "a symlink to {t}"),
            PathKind::Other => write!(f, "a special file"),
        }
    }
}

/// What `path` (absolute, in the node's view) is in `root`.
pub fn path_kind(root: &Path, path: &str) -> PathKind {
    let p = root.join(path.trim_start_matches('/'));
    match std::fs::symlink_metadata(&p) {
        Err(_) => PathKind::Missing,
        Ok(m) if m.file_type().is_symlink() => PathKind::Symlink(
            std::fs::read_link(&p)
                .map(|t| t.display().to_string())
                .unwrap_or_default(),
        ),
        Ok(m) if m.is_dir() => PathKind::Dir,
        Ok(m) if m.is_file() => PathKind::File,
        Ok(_) => PathKind::Other,
    }
}

/// What `path` is once its symlinks are followed inside `root` (absolute
/// targets are the root's, not the build host's; at most 40 links):
/// [`mk_preflight::root::resolve`], the one resolver for node roots. A
/// path that cannot exist (a link loop, a file where a directory is
/// expected) is [`PathKind::Missing`].
pub fn resolved_kind(root: &Path, path: &str) -> PathKind {
    use mk_preflight::tree::Resolved;
    use mk_preflight::Kind;
    match mk_preflight::root::resolve(root, path) {
        Resolved::Found {
            kind: Kind::Directory,
            ..
        } => PathKind::Dir,
        Resolved::Found {
            kind: Kind::File { .. },
            ..
        } => PathKind::File,
        Resolved::Found { .. } => PathKind::Other,
        Resolved::Missing { .. } | Resolved::Broken { .. } => PathKind::Missing,
    }
}

/// The package owning `path` in the root's rpm database (`rpm -qf`, the
/// root's own rpm), or `None`.
pub fn rpm_owner(root: &Path, path: &str) -> Option<String> {
    let o = mk_install::verify::rpm_in_root(
        root,
        &[
            "-qf",
            "--qf",
            "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n",
            path,
        ],
    )
    .ok()?;
    if !o.status.success() {
        return None;
    }
    let owners: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    (!owners.is_empty()).then(|| owners.join(", "))
}

/// Paths every node needs in its root, what they must be, and where
/// CentOS gets them from (for the error).
struct Needed {
    path: &'static str,
    ok: fn(&Path) -> bool,
    what: &'static str,
    why: &'static str,
    fix: &'static str,
}

const NEEDED: &[Needed] = &[
    Needed {
        path: "/var/run",
        ok: |root| {
            matches!(path_kind(root, "/var/run"), PathKind::Symlink(t) if t == "/run" || t == "../run")
        },
        what: "a symlink to /run (or ../run)",
        why: "on a node /var is the persistent state partition and /run a tmpfs: daemons and clients must meet on one path (the kubelet's /var/run/containerd/containerd.sock is containerd's /run/containerd/containerd.sock), and nothing stale may survive a reboot",
        fix: "CentOS's `filesystem` package ships /var/run -> ../run; the package that ships it must ship that link instead",
    },
    Needed {
        path: "/etc/hosts",
        ok: |root| resolved_kind(root, "/etc/hosts") == PathKind::File,
        what: "a file",
        why: "the kubelet mounts the host's /etc/hosts into host-network pods, and name lookups of localhost need it",
        fix: "CentOS's `setup` package ships it: add `setup` to %packages",
    },
    Needed {
        path: "/etc/resolv.conf",
        ok: |root| {
            matches!(
                path_kind(root, "/etc/resolv.conf"),
                PathKind::File | PathKind::Symlink(_)
            )
        },
        what: "a file, or a symlink to one written at run time",
        why: "the kubelet reads it for pods' DNS (and mounts it into host-network pods); pod sandboxes fail without it",
        fix: "no CentOS package ships it (the network configuration writes it); on mk's read-only root overlays/node ships it as a link to /var/lib/mk/etc/resolv.conf on the state partition: add overlays/node to the recipe's overlays",
    },
    Needed {
        path: "/etc/ssl/certs",
        ok: |root| resolved_kind(root, "/etc/ssl/certs") == PathKind::Dir,
        what: "a directory (CentOS: a link to ../pki/tls/certs)",
        why: "the CA trust store the static pods' and the node's TLS clients read",
        fix: "CentOS's `ca-certificates` package ships it: add `ca-certificates` to %packages",
    },
];

/// Checks the paths every node needs in its installed root (issue 16):
/// `/var/run` is a link to /run, and `/etc/hosts`, `/etc/resolv.conf`
/// (a file or a link) and `/etc/ssl/certs` exist. `owner` names the
/// package that ships a path (the root's rpm database, [`rpm_owner`]).
/// All problems at once, each naming the path, what it is, its package,
/// why it matters and the fix.
pub fn check_node_paths(
    root: &Path,
    owner: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ImageError> {
    let mut problems = Vec::new();
    for n in NEEDED {
        if (n.ok)(root) {
            continue;
        }
        let kind = path_kind(root, n.path);
        let shipped = match (&kind, owner(n.path)) {
            (PathKind::Missing, _) => String::new(),
            (_, Some(p)) => format!(", shipped by {p}"),
            (_, None) => ", owned by no package".to_string(),
        };
        let resolved = match &kind {
            PathKind::Symlink(_) => format!(" (resolving to {})", resolved_kind(root, n.path)),
            _ => String::new(),
        };
        problems.push(format!(
            "{} is {kind}{resolved}{shipped}; it must be {}: {}. {}",
            n.path, n.what, n.why, n.fix
        ));
    }
    if problems.is_empty() {
        tracing::info!(
            paths = NEEDED.len(),
            "node paths checked (/var/run -> /run, /etc/hosts, /etc/resolv.conf, /etc/ssl/certs)"
        );
        return Ok(());
    }
    Err(ImageError::Step {
        step: "node paths".into(),
        message: format!(
            "{} problem(s) in the installed root:\n  {}",
            problems.len(),
            problems.join("\n  ")
        ),
    })
}

/// Builds GRUB's BIOS core.img with the target's own grub-mkimage
/// (`layout.mkimage`) inside the root: i386-pc, the modules that read the
/// ESP and run the boot script embedded ([`mk_disk::grub::CORE_MODULES`]),
/// and `early_config` embedded (it finds the ESP). Returns its bytes.
pub fn make_core_img(
    root: &Path,
    layout: &crate::boot::GrubLayout,
    early_config: &str,
) -> Result<Vec<u8>, ImageError> {
    let started = std::time::Instant::now();
    let cfg_rel = "var/tmp/.mk-grub-core.cfg";
    let out_rel = "var/tmp/.mk-grub-core.img";
    let cfg = root.join(cfg_rel);
    let out = root.join(out_rel);
    std::fs::write(&cfg, early_config).map_err(ImageError::io(&cfg))?;
    let mut args: Vec<String> = vec![
        "--format".into(),
        "i386-pc".into(),
        "--directory".into(),
        format!("/{}", layout.grub_pc.0),
        "--prefix".into(),
        "/EFI/mk".into(),
        "--config".into(),
        format!("/{cfg_rel}"),
        "--output".into(),
        format!("/{out_rel}"),
    ];
    args.extend(mk_disk::grub::CORE_MODULES.iter().map(|m| m.to_string()));
    let o = run_in_root(root, "grub core.img", layout.mkimage.0, &args, &[], true);
    let _ = std::fs::remove_file(&cfg);
    let o = o?;
    let bytes = std::fs::read(&out);
    let _ = std::fs::remove_file(&out);
    if !o.status.success() {
        return Err(ImageError::Step {
            step: "grub core.img".into(),
            message: format!(
                "{} (package {}) failed ({}):\n{}",
                layout.mkimage.0,
                layout.mkimage.1,
                o.status,
                text(&o)
            ),
        });
    }
    let bytes = bytes.map_err(ImageError::io(&out))?;
    tracing::info!(
        bytes = bytes.len(),
        secs = started.elapsed().as_secs_f32(),
        "GRUB core.img built with the target's grub-mkimage"
    );
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root with everything a node needs, laid out as CentOS 7 has it.
    fn good_root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for dir in [
            "run",
            "var",
            "etc/pki/tls/certs",
            "etc/ssl",
            "var/lib/mk/etc",
        ] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        symlink("../run", r.join("var/run")).unwrap();
        std::fs::write(r.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        symlink("../pki/tls/certs", r.join("etc/ssl/certs")).unwrap();
        // Dangling at build time is fine: written on the node.
        symlink("/var/lib/mk/etc/resolv.conf", r.join("etc/resolv.conf")).unwrap();
        d
    }

    fn no_owner(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_centos_like_root_passes() {
        let d = good_root();
        check_node_paths(d.path(), &no_owner).unwrap();
        // /var/run -> /run (absolute) and a plain resolv.conf are fine too.
        std::fs::remove_file(d.path().join("var/run")).unwrap();
        symlink("/run", d.path().join("var/run")).unwrap();
        std::fs::remove_file(d.path().join("etc/resolv.conf")).unwrap();
        std::fs::write(d.path().join("etc/resolv.conf"), "").unwrap();
        check_node_paths(d.path(), &no_owner).unwrap();
    }

    #[test]
    fn var_run_as_a_directory_names_its_package_and_the_fix() {
        let d = good_root();
        std::fs::remove_file(d.path().join("var/run")).unwrap();
        std::fs::create_dir(d.path().join("var/run")).unwrap();
        let owner = |p: &str| (p == "/var/run").then(|| "base-files-12.4-1.x86_64".to_string());
        let e = check_node_paths(d.path(), &owner).unwrap_err().to_string();
        assert!(
            e.contains("/var/run is a directory, shipped by base-files-12.4-1.x86_64; it must be a symlink to /run"),
            "{e}"
        );
        assert!(
            e.contains("CentOS's `filesystem` package ships /var/run -> ../run"),
            "{e}"
        );
        assert!(e.starts_with("node paths: 1 problem(s)"), "{e}");
        // A link elsewhere is wrong too, and says where it points.
        std::fs::remove_dir(d.path().join("var/run")).unwrap();
        symlink("lib/run", d.path().join("var/run")).unwrap();
        let e = check_node_paths(d.path(), &no_owner)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "/var/run is a symlink to lib/run (resolving to missing), owned by no package"
            ),
            "{e}"
        );
        std::fs::remove_file(d.path().join("var/run")).unwrap();
        let e = check_node_paths(d.path(), &no_owner)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/var/run is missing; it must be"), "{e}");
    }

    #[test]
    fn missing_etc_files_name_the_centos_package() {
        let d = good_root();
        std::fs::remove_file(d.path().join("etc/hosts")).unwrap();
        std::fs::remove_file(d.path().join("etc/resolv.conf")).unwrap();
        std::fs::remove_dir(d.path().join("etc/pki/tls/certs")).unwrap();
        let e = check_node_paths(d.path(), &no_owner)
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 problem(s)"), "{e}");
        assert!(
            e.contains("/etc/hosts is missing") && e.contains("`setup` package ships it"),
            "{e}"
        );
        assert!(
            e.contains("/etc/resolv.conf is missing") && e.contains("add overlays/node"),
            "{e}"
        );
        // A dangling link to the trust store: resolved inside the root.
        assert!(
            e.contains("/etc/ssl/certs is a symlink to ../pki/tls/certs (resolving to missing)")
                && e.contains("`ca-certificates` package ships it"),
            "{e}"
        );
    }

    #[test]
    fn links_resolve_inside_the_root_not_on_the_build_host() {
        let d = good_root();
        let r = d.path();
        // /etc/hosts -> /etc/hosts.real (absolute: the root's, not the host's).
        std::fs::rename(r.join("etc/hosts"), r.join("etc/hosts.real")).unwrap();
        symlink("/etc/hosts.real", r.join("etc/hosts")).unwrap();
        assert_eq!(resolved_kind(r, "/etc/hosts"), PathKind::File);
        // An absolute link to a path only the build host has.
        std::fs::remove_file(r.join("etc/ssl/certs")).unwrap();
        symlink("/proc/self", r.join("etc/ssl/certs")).unwrap();
        assert_eq!(resolved_kind(r, "/etc/ssl/certs"), PathKind::Missing);
        // A loop ends.
        symlink("loop2", r.join("etc/loop1")).unwrap();
        symlink("loop1", r.join("etc/loop2")).unwrap();
        assert_eq!(resolved_kind(r, "/etc/loop1"), PathKind::Missing);
        assert_eq!(resolved_kind(r, "/var/run"), PathKind::Dir);
        assert_eq!(resolved_kind(r, "/var/../etc/hosts"), PathKind::File);
    }
}
