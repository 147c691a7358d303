//! mk-cri-probe: starts each static pod of a manifest directory through
//! containerd's CRI, as a kubelet would, and checks its containers' user,
//! mounts, read-only root and SELinux labels (issue 16). A test tool: the
//! boot tests copy it into the guest. See mk_qemu_tests::cri.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mk_qemu_tests::cri::config::CgroupDriver;
use mk_qemu_tests::cri::probe::{self, Options};

/// Start static pods through the CRI as a kubelet would, and check them.
///
/// For each Pod manifest: hostPath volumes are checked (and created, for
/// the *OrCreate types) as the kubelet does, the images must be in the
/// runtime's store, then RunPodSandbox, CreateContainer and StartContainer
/// with the manifest's host network, security contexts, mounts and
/// command. After --settle, each running container is checked through
/// ContainerStatus and ExecSync: uid, gid and groups, no_new_privs,
/// capabilities, seccomp, a read-only root, each mount readable and
/// read-only or writable as the manifest says, its SELinux context (judged
/// against the policy's lxc_contexts when SELinux is enabled) and that its
/// exec probes' programs run. One line per check:
/// `MK-CRI pod=<name> check=<what> ok=<true|false> detail=<...>`, then
/// `MK-CRI done failures=<N>`; exit status 1 when a check failed.
/// Everything started is stopped and removed at the end unless --keep.
///
/// Example: mk-cri-probe --socket /run/containerd/containerd.sock
/// --manifests /etc/kubernetes/manifests --pod etcd
#[derive(Parser, Debug)]
#[command(name = "mk-cri-probe", version)]
struct Args {
    /// containerd's gRPC socket (the CRI is served on it).
    #[arg(long, default_value = "/run/containerd/containerd.sock")]
    socket: PathBuf,
    /// Directory of static pod manifests (every file not starting with `.`).
    #[arg(long, default_value = "/etc/kubernetes/manifests")]
    manifests: PathBuf,
    /// Only this pod (metadata.name); repeatable. Default: every manifest.
    #[arg(long = "pod", value_name = "NAME")]
    pods: Vec<String>,
    /// POD='COMMAND ARGS...' (shell words): run this instead of the
    /// manifest's command and args. A command that exits 0 passes the
    /// state check; exec checks are then skipped. Repeatable.
    #[arg(long = "command-override", value_name = "POD=COMMAND")]
    overrides: Vec<String>,
    /// Host-side pod files (emptyDirs, /etc/hosts copies, logs), as the
    /// kubelet's root directory.
    #[arg(long, default_value = "/var/lib/mk-cri-probe")]
    work_dir: PathBuf,
    /// containerd's cgroup driver (SystemdCgroup = true: systemd), which
    /// decides the form of the pods' cgroup parent.
    #[arg(long, default_value = "systemd", value_parser = parse_driver)]
    cgroup_driver: CgroupDriver,
    /// Seconds the containers run before they are checked.
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Overall deadline in seconds for starting and checking (cleanup has
    /// two more minutes).
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Leave the sandboxes, containers and pod files in place (the next
    /// run removes them).
    #[arg(long)]
    keep: bool,
}

fn parse_driver(s: &str) -> Result<CgroupDriver, String> {
    s.parse()
}

fn main() {
    let args = Args::parse();
    let mut overrides = BTreeMap::new();
    for o in &args.overrides {
        let Some((pod, cmd)) = o.split_once('=') else {
            eprintln!("mk-cri-probe: --command-override {o:?}: expected POD=COMMAND");
            std::process::exit(2);
        };
        let words = match shlex::split(cmd) {
            Some(w) if !w.is_empty() => w,
            _ => {
                eprintln!("mk-cri-probe: --command-override {o:?}: not a command (shell words)");
                std::process::exit(2);
            }
        };
        overrides.insert(pod.to_string(), words);
    }
    let opts = Options {
        socket: args.socket,
        manifests: args.manifests,
        pods: args.pods,
        overrides,
        work_dir: args.work_dir,
        cgroup_driver: args.cgroup_driver,
        settle: Duration::from_secs(args.settle),
        timeout: Duration::from_secs(args.timeout),
        keep: args.keep,
    };
    let failures = probe::run(&opts);
    std::process::exit(if failures == 0 { 0 } else { 1 });
}
