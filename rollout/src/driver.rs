//! How a node is re-imaged: the inventory's driver, run from the admin's
//! machine with a bounded time, its output logged.
//!
//! - `ssh`: OpenSSH with the node's host key pinned (a known_hosts file of
//!   the inventory, StrictHostKeyChecking=yes, no agent or password
//!   prompts), running the configured remote command (`mk-node update`).
//! - `command`: a site's own program (PXE + IPMI re-install), with the node
//!   in `MK_ROLLOUT_NODE`, its role in `MK_ROLLOUT_ROLE` and the target
//!   version in `MK_ROLLOUT_IMAGE_VERSION`.
//!
//! The `qemu` driver (tests) is not implemented yet.

use std::ffi::OsString;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracing::info;

use crate::inventory::{Driver, NodeEntry, SshDriver};

/// Output kept for the error message (the tail).
const KEEP_OUTPUT: usize = 4096;

/// The ssh(1) arguments for `d`.
pub fn ssh_args(d: &SshDriver) -> Vec<OsString> {
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
    a.extend([
        OsString::from("--"),
        d.host.clone().into(),
        d.command.clone().into(),
    ]);
    a
}

/// The command that re-images `node`.
pub fn command(node: &NodeEntry, image_version: &str) -> Command {
    let mut c = match &node.driver {
        Driver::Ssh(d) => {
            let mut c = Command::new("ssh");
            c.args(ssh_args(d));
            c
        }
        Driver::Command(d) => {
            let mut c = Command::new(&d.program);
            c.args(&d.args);
            c
        }
    };
    c.env("MK_ROLLOUT_NODE", &node.name)
        .env("MK_ROLLOUT_ROLE", node.role.to_string())
        .env("MK_ROLLOUT_IMAGE_VERSION", image_version);
    c
}

/// Runs the driver for `node`, at most `timeout` (then it is killed).
/// Each output line is logged; the error has the exit status and the
/// output's tail.
pub fn reimage(node: &NodeEntry, image_version: &str, timeout: Duration) -> Result<(), String> {
    let mut cmd = command(node, image_version);
    let shown = format!("{:?}", cmd);
    info!(node = %node.name, command = %shown, "re-imaging");
    run_bounded(&mut cmd, timeout, &node.name).map_err(|e| format!("driver {shown}: {e}"))
}

fn run_bounded(cmd: &mut Command, timeout: Duration, node: &str) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    // Its own process group, so that a timeout kills the script's children
    // too (they would otherwise hold the output pipes open).
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
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
    use crate::inventory::{CommandDriver, Role};
    use std::path::PathBuf;

    #[test]
    fn ssh_pins_the_host_key_and_never_prompts() {
        let d = SshDriver {
            host: "cp1.example.com".into(),
            user: "root".into(),
            port: Some(2222),
            known_hosts: PathBuf::from("/site/known_hosts"),
            identity: Some(PathBuf::from("/site/id_ed25519")),
            command: "mk-node update /var/tmp/b.mkb".into(),
        };
        let a: Vec<String> = ssh_args(&d)
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

    #[test]
    fn command_driver_gets_the_node_and_is_bounded() {
        let n = node("sh", &["-c", "test \"$MK_ROLLOUT_NODE/$MK_ROLLOUT_ROLE/$MK_ROLLOUT_IMAGE_VERSION\" = w1/worker/v2"]);
        reimage(&n, "v2", Duration::from_secs(10)).unwrap();
        let e = reimage(&n, "v3", Duration::from_secs(10)).unwrap_err();
        assert!(e.contains("exit status: 1"), "{e}");
        let n = node("sh", &["-c", "echo ipmi says no >&2; exit 4"]);
        let e = reimage(&n, "v2", Duration::from_secs(10)).unwrap_err();
        assert!(e.contains("exit status: 4; output: ipmi says no"), "{e}");
        let n = node("sleep", &["30"]);
        let started = Instant::now();
        let e = reimage(&n, "v2", Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("killed after 300ms"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = reimage(&node("/nonexistent/x", &[]), "v2", Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("cannot start"), "{e}");
    }
}
