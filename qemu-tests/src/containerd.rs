//! The host's containerd (Debian package) as a child process in a scratch
//! root, for tests that import and run our images with real containerd
//! and runc (issue 4): its own config with root, state and socket inside
//! the scratch directory, so it never touches a system containerd. On drop:
//! tasks killed and removed, containerd stopped, leftover shims (found by
//! our socket path on their command line) killed, mounts under the scratch
//! directory unmounted, the directory removed.
//!
//! Needs root, the apt packages containerd and runc, and cgroups (CI runs
//! as root on a normal host).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The containerd namespace of the kubelet's CRI (pods run there) and of
/// the images a node imports for it.
pub const K8S_NAMESPACE: &str = "k8s.io";

/// A running containerd.
pub struct Containerd {
    dir: Option<tempfile::TempDir>,
    child: Child,
    /// gRPC socket (`ctr -a`).
    pub socket: PathBuf,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
}

/// The config: everything under `dir`; no metrics or debug endpoints, and
/// no CRI plugin (it would read the host's CNI config and open a streaming
/// port; `ctr` does not need it).
fn config(dir: &Path) -> String {
    format!(
        "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\n[grpc]\n  address = \"{d}/containerd.sock\"\n\n[ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\n[debug]\n  address = \"\"\n\n[metrics]\n  address = \"\"\n",
        d = dir.display()
    )
}

/// The config with the CRI plugin on (issue 16: tests/cri.rs drives it
/// with mk-cri-probe): as on nodes (runc, SystemdCgroup when systemd is
/// this host's init, else cgroupfs; SELinux off, as on this host), its
/// state, CNI dirs and streaming server (loopback, any port) kept in `dir`.
/// `restrict_oom_score_adj`: sandboxes get -998 and critical pods -997,
/// which a test host may not grant (runc: `failed to update
/// /proc/self/oom_score_adj: Permission denied`); clamped to containerd's own.
fn cri_config(dir: &Path, sandbox_image: &str, systemd_cgroup: bool) -> String {
    let base = config(dir).replace("disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n", "");
    format!(
        "{base}\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"{sandbox_image}\"\n  enable_selinux = false\n  restrict_oom_score_adj = true\n  stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n\n  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n    default_runtime_name = \"runc\"\n\n    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n      runtime_type = \"io.containerd.runc.v2\"\n\n      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n        SystemdCgroup = {systemd_cgroup}\n\n  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n    bin_dir = \"{d}/cni/bin\"\n    conf_dir = \"{d}/cni/net.d\"\n",
        d = dir.display()
    )
}

/// Whether systemd is PID 1 here (containerd then manages cgroups through
/// it, as on nodes).
pub fn systemd_is_init() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
}

impl Containerd {
    /// Starts containerd in a new scratch directory (under
    /// target/qemu-tests/scratch: real disk, overlayfs-capable) and waits
    /// until `ctr version` answers on its socket.
    pub fn start() -> Containerd {
        Self::start_with(config)
    }

    /// [`Containerd::start`] with the CRI plugin on ([`cri_config`]);
    /// waits until `ctr plugins ls` reports it ok. Pods run in namespace
    /// k8s.io; the sandbox image must be imported there.
    pub fn start_cri(sandbox_image: &str) -> Containerd {
        let c = Self::start_with(|d| cri_config(d, sandbox_image, systemd_is_init()));
        let t = Instant::now();
        loop {
            let plugins = String::from_utf8_lossy(&c.ctr(&["plugins", "ls"]).stdout).into_owned();
            if plugins.lines().any(|l| {
                l.contains("io.containerd.grpc.v1")
                    && l.contains(" cri ")
                    && l.trim_end().ends_with("ok")
            }) {
                return c;
            }
            if t.elapsed() > Duration::from_secs(30) {
                panic!(
                    "containerd's CRI plugin is not ok:\n{plugins}\n{}",
                    c.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn start_with(config: impl FnOnce(&Path) -> String) -> Containerd {
        let dir = crate::scratch("containerd.");
        let d = dir.path().to_path_buf();
        let cfg = d.join("config.toml");
        std::fs::write(&cfg, config(&d)).unwrap();
        let log = d.join("containerd.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("containerd (apt package containerd)");
        let mut c = Containerd {
            dir: Some(dir),
            child,
            socket: d.join("containerd.sock"),
            log,
        };
        let started = Instant::now();
        loop {
            if c.socket.exists() && c.ctr(&["version"]).status.success() {
                break;
            }
            if let Ok(Some(status)) = c.child.try_wait() {
                panic!("containerd exited ({status}):\n{}", c.log_text());
            }
            if started.elapsed() > Duration::from_secs(30) {
                panic!(
                    "containerd did not answer on {} within 30 s:\n{}",
                    c.socket.display(),
                    c.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!(
            "containerd up on {} after {:.1} s",
            c.socket.display(),
            started.elapsed().as_secs_f32()
        );
        c
    }

    /// The scratch directory (config, root, state, socket, log).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("live").path()
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// `ctr -a SOCKET ARGS...`, run to completion.
    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("-a")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr (apt package containerd)")
    }

    /// [`Containerd::ctr`] that must succeed; returns stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let o = self.ctr(args);
        assert!(
            o.status.success(),
            "ctr {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Kills and removes every task and container in every namespace.
    fn remove_all(&self) {
        let nss =
            String::from_utf8_lossy(&self.ctr(&["namespaces", "ls", "-q"]).stdout).into_owned();
        for ns in nss.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let tasks = String::from_utf8_lossy(&self.ctr(&["-n", ns, "tasks", "ls", "-q"]).stdout)
                .into_owned();
            for t in tasks.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let _ = self.ctr(&["-n", ns, "tasks", "kill", "-a", "-s", "SIGKILL", t]);
                // The task must have exited before it can be deleted.
                for _ in 0..50 {
                    if self
                        .ctr(&["-n", ns, "tasks", "rm", "-f", t])
                        .status
                        .success()
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            let cs =
                String::from_utf8_lossy(&self.ctr(&["-n", ns, "containers", "ls", "-q"]).stdout)
                    .into_owned();
            for c in cs.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let _ = self.ctr(&["-n", ns, "containers", "rm", c]);
            }
        }
    }
}

/// Pids of processes whose command line mentions `needle` (our shims).
fn pids_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Mount points at or below `dir`, deepest first.
fn mounts_below(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .map(str::to_string)
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.remove_all();
        // SIGTERM lets containerd close its store; then make sure.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let Some(dir) = self.dir.take() else { return };
        let sock = self.socket.display().to_string();
        for pid in pids_mentioning(&sock) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        for m in mounts_below(dir.path()) {
            let _ = Command::new("umount").args(["-l", &m]).status();
        }
        if let Err(e) = dir.close() {
            eprintln!("containerd scratch directory not fully removed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_everything_in_the_scratch_directory() {
        let c = config(Path::new("/s/x"));
        assert!(c.contains("root = \"/s/x/root\""));
        assert!(c.contains("state = \"/s/x/state\""));
        assert!(c.contains("address = \"/s/x/containerd.sock\""));
        assert!(!c.contains("/var/lib/containerd") && !c.contains("/run/containerd"));
    }

    #[test]
    fn cri_config_enables_the_plugin_in_the_scratch_directory() {
        let c = cri_config(Path::new("/s/x"), "registry.k8s.io/pause:3.9", true);
        assert!(!c.contains("disabled_plugins"), "{c}");
        assert!(c.contains("sandbox_image = \"registry.k8s.io/pause:3.9\""));
        assert!(c.contains("SystemdCgroup = true"));
        assert!(c.contains("conf_dir = \"/s/x/cni/net.d\""));
        assert!(!c.contains("/var/lib/containerd") && !c.contains("/etc/cni"));
    }
}
