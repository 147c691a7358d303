//! How a node is re-imaged: the inventory's driver, run from the admin's
//! machine with a bounded time, its output logged.
//!
//! - `ssh`: OpenSSH with the node's host key pinned (a known_hosts file of
//!   the inventory, StrictHostKeyChecking=yes, no agent or password
//!   prompts), running the configured remote command (`mk-node update`).
//!   With `--bundle`, it first streams the bundle over the same ssh
//!   settings to the node (`.part`, umask 077), checks its SHA-256 there
//!   against the one taken on the admin's machine, renames it, and only
//!   then runs the command with `{bundle}` replaced by its path
//!   ([`ssh_plan`]: the invocations, pure; [`reimage`] runs them).
//! - `command`: a site's own program (PXE + IPMI re-install), with the node
//!   in `MK_ROLLOUT_NODE`, its role in `MK_ROLLOUT_ROLE`, the target
//!   version in `MK_ROLLOUT_IMAGE_VERSION` and, with `--bundle`, the local
//!   bundle in `MK_ROLLOUT_BUNDLE` and its SHA-256 in
//!   `MK_ROLLOUT_BUNDLE_SHA256`.
//!
//! The `qemu` driver (tests) is not implemented yet.

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracing::info;

use crate::bundle::NewBundle;
use crate::inventory::{CommandDriver, Driver, NodeEntry, SshDriver, Timeouts, BUNDLE_PLACEHOLDER};

/// Output kept for the error message (the tail).
const KEEP_OUTPUT: usize = 4096;

/// The ssh(1) arguments that run `remote` on `d`'s node.
pub fn ssh_args(d: &SshDriver, remote: &str) -> Vec<OsString> {
    let mut a: Vec<OsString> = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
        .iter()
        .map(OsString::from)
        .collect();
    let mut known = OsString::from("UserKnownHostsFile=");
    known.push(&d.known_hosts);
    a.extend([OsString::from("-o"), known]);
    // No other known_hosts file is consulted.
    a.extend(
        [
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=30",
        ]
        .map(OsString::from),
    );
    if let Some(port) = d.port {
        a.extend([OsString::from("-p"), port.to_string().into()]);
    }
    if let Some(id) = &d.identity {
        a.extend([OsString::from("-i"), id.clone().into_os_string()]);
        a.extend(["-o", "IdentitiesOnly=yes"].map(OsString::from));
    }
    a.extend([OsString::from("-l"), d.user.clone().into()]);
    a.extend([OsString::from("--"), d.host.clone().into(), remote.into()]);
    a
}

/// Quotes `s` for the remote POSIX shell that ssh hands the command to.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// What a step of the ssh driver is bounded by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `timeouts.copy`.
    Copy,
    /// `timeouts.reimage`.
    Reimage,
}

/// One ssh(1) run of the ssh driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The step, for logs and the stop message.
    pub step: String,
    /// The arguments of `ssh`.
    pub args: Vec<OsString>,
    /// A local file sent as ssh's stdin (the bundle), or nothing.
    pub stdin: Option<PathBuf>,
    pub bound: Bound,
}

/// The ssh invocations that re-image a node through `d`: without a bundle
/// just the command; with one, copy (stdin = the bundle, into `.part`
/// under umask 077), check the SHA-256 on the node and rename, then the
/// command with `{bundle}` replaced. Each runs only when the one before
/// succeeded, so a damaged copy never reaches the command, and the final
/// path only ever holds a checked bundle.
pub fn ssh_plan(d: &SshDriver, bundle: Option<&NewBundle>) -> Vec<Invocation> {
    let Some(b) = bundle else {
        return vec![Invocation {
            step: "run the update command".into(),
            args: ssh_args(d, &d.command),
            stdin: None,
            bound: Bound::Reimage,
        }];
    };
    let path = d.bundle_path();
    let part = format!("{path}.part");
    let dir = match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((dir, _)) => dir,
    };
    let (q_path, q_part, q_dir) = (shell_quote(path), shell_quote(&part), shell_quote(dir));
    let want = b.sha256.hex();
    let copy = format!("umask 077 && mkdir -p {q_dir} && cat > {q_part}");
    // sha256sum (coreutils, on every node) prints "<hex>  -" for stdin.
    let check = format!(
        "sum=$(sha256sum < {q_part}) && sum=${{sum%% *}} && if [ \"$sum\" = {want} ]; \
         then mv -f {q_part} {q_path}; \
         else rm -f {q_part}; echo \"SHA-256 on the node is $sum, expected {want}: the copy is damaged (removed)\" >&2; exit 1; fi"
    );
    let run = d.command.replace(BUNDLE_PLACEHOLDER, &q_path);
    vec![
        Invocation {
            step: format!("copy the bundle to {part} ({} bytes)", b.size),
            args: ssh_args(d, &copy),
            stdin: Some(b.path.clone()),
            bound: Bound::Copy,
        },
        Invocation {
            step: format!("check the bundle's SHA-256 on the node ({path})"),
            args: ssh_args(d, &check),
            stdin: None,
            bound: Bound::Copy,
        },
        Invocation {
            step: "run the update command".into(),
            args: ssh_args(d, &run),
            stdin: None,
            bound: Bound::Reimage,
        },
    ]
}

/// The command driver's program `d` for `node`, with its environment.
pub fn command(
    node: &NodeEntry,
    d: &CommandDriver,
    image_version: &str,
    bundle: Option<&NewBundle>,
) -> Command {
    let mut c = Command::new(&d.program);
    c.args(&d.args)
        .env("MK_ROLLOUT_NODE", &node.name)
        .env("MK_ROLLOUT_ROLE", node.role.to_string())
        .env("MK_ROLLOUT_IMAGE_VERSION", image_version);
    if let Some(b) = bundle {
        c.env("MK_ROLLOUT_BUNDLE", &b.path)
            .env("MK_ROLLOUT_BUNDLE_SHA256", b.sha256.hex());
    }
    c
}

/// Runs the driver for `node`, each run bounded by `timeouts` (then it is
/// killed). Each output line is logged; the error names the step and has
/// the exit status and the output's tail.
pub fn reimage(
    node: &NodeEntry,
    image_version: &str,
    bundle: Option<&NewBundle>,
    timeouts: &Timeouts,
) -> Result<(), String> {
    let d = match &node.driver {
        Driver::Ssh(d) => d,
        Driver::Command(c) => {
            let mut cmd = command(node, c, image_version, bundle);
            let shown = format!("{:?}", cmd);
            info!(node = %node.name, command = %shown, "re-imaging");
            return run_bounded(
                &mut cmd,
                Stdio::null(),
                Duration::from_secs(timeouts.reimage),
                &node.name,
            )
            .map_err(|e| format!("driver {shown}: {e}"));
        }
    };
    for inv in ssh_plan(d, bundle) {
        let mut cmd = Command::new("ssh");
        cmd.args(&inv.args);
        let shown = format!("{:?}", cmd);
        let stdin = match &inv.stdin {
            Some(p) => Stdio::from(
                std::fs::File::open(p)
                    .map_err(|e| format!("{}: {}: {e}", inv.step, p.display()))?,
            ),
            None => Stdio::null(),
        };
        let timeout = Duration::from_secs(match inv.bound {
            Bound::Copy => timeouts.copy,
            Bound::Reimage => timeouts.reimage,
        });
        info!(node = %node.name, step = %inv.step, command = %shown, "re-imaging");
        let started = Instant::now();
        run_bounded(&mut cmd, stdin, timeout, &node.name)
            .map_err(|e| format!("{}: ssh {}: {e}", inv.step, d.host))?;
        if let (Some(b), Some(_)) = (bundle, &inv.stdin) {
            let s = started.elapsed();
            info!(
                node = %node.name,
                "bundle copied in {s:.1?} ({:.1} MB/s)",
                b.size as f64 / 1e6 / s.as_secs_f64().max(1e-9)
            );
        }
    }
    Ok(())
}

fn run_bounded(
    cmd: &mut Command,
    stdin: Stdio,
    timeout: Duration,
    node: &str,
) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    // Its own process group, so that a timeout kills the script's children
    // too (they would otherwise hold the output pipes open).
    let mut child = cmd
        .process_group(0)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        let node = node.to_string();
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = r.read_to_end(&mut all);
            let text = String::from_utf8_lossy(&all).into_owned();
            for line in text.lines() {
                info!(node = %node, "driver: {line}");
            }
            text
        })
    })
    .collect();
    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break Some(s),
            None if started.elapsed() >= timeout => {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let mut output = String::new();
    for r in readers {
        output.push_str(&r.join().unwrap_or_default());
    }
    let tail = tail(&output);
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("{s}; output: {tail}")),
        None => Err(format!("killed after {timeout:?}; output: {tail}")),
    }
}

fn tail(s: &str) -> String {
    let s = s.trim();
    if s.len() <= KEEP_OUTPUT {
        return s.to_string();
    }
    let mut cut = s.len() - KEEP_OUTPUT;
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    format!("...{}", &s[cut..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Role;
    use std::path::Path;

    #[test]
    fn ssh_pins_the_host_key_and_never_prompts() {
        let d = SshDriver {
            host: "cp1.example.com".into(),
            user: "root".into(),
            port: Some(2222),
            known_hosts: PathBuf::from("/site/known_hosts"),
            identity: Some(PathBuf::from("/site/id_ed25519")),
            command: "mk-node update /var/tmp/b.mkb".into(),
            bundle_path: None,
        };
        let a: Vec<String> = ssh_args(&d, &d.command)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert_eq!(
            a.join(" "),
            "-o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/site/known_hosts \
             -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=30 -p 2222 -i /site/id_ed25519 \
             -o IdentitiesOnly=yes -l root -- cp1.example.com mk-node update /var/tmp/b.mkb"
        );
    }

    fn node(program: &str, args: &[&str]) -> NodeEntry {
        NodeEntry {
            name: "w1".into(),
            role: Role::Worker,
            driver: Driver::Command(CommandDriver {
                program: program.into(),
                args: args.iter().map(|s| s.to_string()).collect(),
                wipes_disk: true,
            }),
        }
    }

    fn secs(n: u64) -> Timeouts {
        Timeouts {
            drain: n,
            copy: n,
            reimage: n,
            ready: n,
        }
    }

    #[test]
    fn command_driver_gets_the_node_and_is_bounded() {
        let n = node("sh", &["-c", "test \"$MK_ROLLOUT_NODE/$MK_ROLLOUT_ROLE/$MK_ROLLOUT_IMAGE_VERSION\" = w1/worker/v2"]);
        reimage(&n, "v2", None, &secs(10)).unwrap();
        let e = reimage(&n, "v3", None, &secs(10)).unwrap_err();
        assert!(e.contains("exit status: 1"), "{e}");
        let n = node("sh", &["-c", "echo ipmi says no >&2; exit 4"]);
        let e = reimage(&n, "v2", None, &secs(10)).unwrap_err();
        assert!(e.contains("exit status: 4; output: ipmi says no"), "{e}");
        let n = node("sleep", &["30"]);
        let started = Instant::now();
        let e = reimage(&n, "v2", None, &secs(1)).unwrap_err();
        assert!(e.contains("killed after 1s"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = reimage(&node("/nonexistent/x", &[]), "v2", None, &secs(1)).unwrap_err();
        assert!(e.contains("cannot start"), "{e}");
    }

    fn carried() -> NewBundle {
        NewBundle {
            path: PathBuf::from("/admin/mk-2.iso"),
            version: "2.0.0".into(),
            sha256: mk_durable::Digest::of(b"bundle"),
            size: 6,
            trusted_comment: "mk-bundle".into(),
            files: 3,
            checked_in: Duration::ZERO,
        }
    }

    fn ssh(command: &str, bundle_path: Option<&str>) -> SshDriver {
        SshDriver {
            host: "w1".into(),
            user: "root".into(),
            port: None,
            known_hosts: PathBuf::from("/site/kh"),
            identity: None,
            command: command.into(),
            bundle_path: bundle_path.map(String::from),
        }
    }

    fn remote(i: &Invocation) -> String {
        i.args.last().unwrap().clone().into_string().unwrap()
    }

    #[test]
    fn without_a_bundle_the_plan_is_the_command_alone() {
        let d = ssh(
            "mk-node update --bundle /media/b.iso --trust /etc/mk/mk.pub",
            None,
        );
        let p = ssh_plan(&d, None);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].args, ssh_args(&d, &d.command));
        assert_eq!((p[0].stdin.as_ref(), p[0].bound), (None, Bound::Reimage));
    }

    #[test]
    fn with_a_bundle_copy_check_then_the_command_on_its_path() {
        let b = carried();
        let want = b.sha256.hex();
        let d = ssh("mk-node update --bundle {bundle} --trust /etc/mk/mk.pub && systemd-run --on-active=5 systemctl reboot", None);
        let p = ssh_plan(&d, Some(&b));
        assert_eq!(p.len(), 3);
        // The same pinned settings for every run; only the remote command
        // differs.
        for i in &p {
            assert_eq!(
                i.args[..i.args.len() - 1],
                ssh_args(&d, "")[..i.args.len() - 1]
            );
        }
        assert_eq!(p[0].stdin.as_deref(), Some(Path::new("/admin/mk-2.iso")));
        assert_eq!(
            remote(&p[0]),
            "umask 077 && mkdir -p '/var/lib/mk/update' && cat > '/var/lib/mk/update/bundle.iso.part'"
        );
        assert_eq!(p[0].bound, Bound::Copy);
        assert!(p[0].step.contains("6 bytes"), "{}", p[0].step);
        assert_eq!(p[1].stdin, None);
        assert_eq!(p[1].bound, Bound::Copy);
        assert_eq!(
            remote(&p[1]),
            format!(
                "sum=$(sha256sum < '/var/lib/mk/update/bundle.iso.part') && sum=${{sum%% *}} && \
                 if [ \"$sum\" = {want} ]; then mv -f '/var/lib/mk/update/bundle.iso.part' \
                 '/var/lib/mk/update/bundle.iso'; else rm -f '/var/lib/mk/update/bundle.iso.part'; \
                 echo \"SHA-256 on the node is $sum, expected {want}: the copy is damaged (removed)\" >&2; exit 1; fi"
            )
        );
        assert_eq!(
            remote(&p[2]),
            "mk-node update --bundle '/var/lib/mk/update/bundle.iso' --trust /etc/mk/mk.pub && \
             systemd-run --on-active=5 systemctl reboot"
        );
        assert_eq!((p[2].stdin.as_ref(), p[2].bound), (None, Bound::Reimage));
    }

    #[test]
    fn the_bundle_path_is_quoted_for_the_remote_shell() {
        let b = carried();
        let d = ssh("run {bundle}", Some("/srv/it's $HOME/b.iso"));
        let p = ssh_plan(&d, Some(&b));
        assert_eq!(remote(&p[2]), "run '/srv/it'\\''s $HOME/b.iso'");
        assert!(remote(&p[0]).starts_with("umask 077 && mkdir -p '/srv/it'\\''s $HOME' && "));
        // A file at the root has `/` as its directory.
        let d = ssh("run {bundle}", Some("/b.iso"));
        assert!(remote(&ssh_plan(&d, Some(&b))[0]).contains("mkdir -p '/' "));
        let out = Command::new("sh")
            .args(["-c", &format!("printf %s {}", shell_quote("a'b $x \\"))])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "a'b $x \\");
    }

    #[test]
    fn the_command_driver_gets_the_bundle_in_its_environment() {
        let b = carried();
        let script = format!(
            "test \"$MK_ROLLOUT_BUNDLE $MK_ROLLOUT_BUNDLE_SHA256\" = \"/admin/mk-2.iso {}\"",
            b.sha256.hex()
        );
        let n = node("sh", &["-c", &script]);
        reimage(&n, "2.0.0", Some(&b), &secs(10)).unwrap();
        assert!(reimage(&n, "2.0.0", None, &secs(10)).is_err());
    }
}
