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
