//! mk-cri-probe (issue 16) against real containerd with its CRI plugin on
//! (Debian's containerd and runc, in a scratch root: `Containerd::start_cri`),
//! with the fixture etcd and pause images imported as a node imports them:
//! an etcd static pod shaped like first boot's (host network, user 401,
//! read-only root, no privilege escalation, capabilities dropped, seccomp
//! RuntimeDefault, read-only hostPath directory and file, a writable data
//! directory, an emptyDir /tmp, an exec probe) runs, and every check the
//! probe makes passes: etcd runs as 401:401, writes to / are refused with
//! EROFS, the mounts are readable and read-only or writable as the manifest
//! says, etcdctl (the probe's program) answers. Then crafted failures: a
//! missing image, a missing `Directory` hostPath and a command that writes
//! to / each make the probe report ok=false and exit 1, while a one-shot
//! command that exits 0 passes.
//!
//! This host has SELinux off: labels are printed, not judged (the QEMU boot
//! test runs the same probe enforcing). Needs root, containerd and runc,
//! and what the fixture images need (containers.rs).

use mk_qemu_tests::containerd::{systemd_is_init, Containerd, K8S_NAMESPACE as NS};
use mk_qemu_tests::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// containerd with the CRI plugin and the fixture etcd and pause images.
fn containerd_with_images() -> (Containerd, String) {
    let images = containers::shared_node_fixture_images();
    let etcd = images.image("etcd").clone();
    let pause = images.image("pause").clone();
    let cd = Containerd::start_cri(&pause.reference);
    for b in [&etcd, &pause] {
        let out = cd.ctr_ok(&["-n", NS, "images", "import", b.archive.to_str().unwrap()]);
        eprintln!("{out}");
    }
    (cd, etcd.reference)
}

struct ProbeRun {
    code: Option<i32>,
    stdout: String,
    /// (pod, check) -> (ok, detail)
    checks: BTreeMap<(String, String), (bool, String)>,
}

impl ProbeRun {
    fn get(&self, pod: &str, check: &str) -> &(bool, String) {
        self.checks
            .get(&(pod.to_string(), check.to_string()))
            .unwrap_or_else(|| panic!("no check {check} of pod {pod}:\n{}", self.stdout))
    }
    fn ok(&self, pod: &str, check: &str) -> &str {
        let (ok, detail) = self.get(pod, check);
        assert!(
            ok,
            "{pod} {check} failed: {detail}\nall output:\n{}",
            self.stdout
        );
        detail
    }
    fn failed(&self, pod: &str, check: &str) -> &str {
        let (ok, detail) = self.get(pod, check);
        assert!(
            !ok,
            "{pod} {check} should fail: {detail}\nall output:\n{}",
            self.stdout
        );
        detail
    }
}

fn probe(cd: &Containerd, manifests: &Path, work: &Path, extra: &[&str]) -> ProbeRun {
    let driver = if systemd_is_init() {
        "systemd"
    } else {
        "cgroupfs"
    };
    let out = Command::new(env!("CARGO_BIN_EXE_mk-cri-probe"))
        .arg("--socket")
        .arg(&cd.socket)
        .arg("--manifests")
        .arg(manifests)
        .arg("--work-dir")
        .arg(work)
        .args([
            "--cgroup-driver",
            driver,
            "--settle",
            "3",
            "--timeout",
            "300",
        ])
        .args(extra)
        .output()
        .expect("mk-cri-probe");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("mk-cri-probe ({}):\n{stdout}{stderr}", out.status);
    let mut checks = BTreeMap::new();
    for l in stdout.lines() {
        let Some(rest) = l.strip_prefix("MK-CRI pod=") else {
            continue;
        };
        let (pod, rest) = rest.split_once(" check=").expect("check=");
        let (check, rest) = rest.split_once(" ok=").expect("ok=");
        let (ok, detail) = rest.split_once(" detail=").expect("detail=");
        checks.insert(
            (pod.to_string(), check.to_string()),
            (ok == "true", detail.to_string()),
        );
    }
    if !out.status.success() || stdout.contains("ok=false") {
        eprintln!("containerd's log:\n{}", cd.log_text());
    }
    ProbeRun {
        code: out.status.code(),
        stdout,
        checks,
    }
}

/// An etcd static pod as first boot writes it (crates/nodeconf
/// staticpods.rs), with host paths in `dir` and plain HTTP on free
/// loopback ports (no certificates needed; another etcd may hold 2379).
fn etcd_manifest(dir: &Path, image: &str) -> String {
    let (client, peer) = (free_port(), free_port());
    let data = dir.join("var/lib/etcd");
    let certs = dir.join("etc/kubernetes/pki/etcd");
    let conf = dir.join("etc/kubernetes/etcd-probe.conf");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(401), Some(401)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), "not a certificate\n").unwrap();
    std::fs::set_permissions(certs.join("ca.crt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&conf, "kind: Config\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let curl = format!("http://127.0.0.1:{client}");
    let purl = format!("http://127.0.0.1:{peer}");
    let flags = [
        format!("--advertise-client-urls={curl}"),
        "--data-dir=/var/lib/etcd".to_string(),
        format!("--initial-advertise-peer-urls={purl}"),
        format!("--initial-cluster=probe={purl}"),
        format!("--listen-client-urls={curl}"),
        format!("--listen-peer-urls={purl}"),
        "--name=probe".to_string(),
    ];
    let endpoints = format!("--endpoints={curl}");
    let command: Vec<&str> = std::iter::once("etcd")
        .chain(flags.iter().map(String::as_str))
        .collect();
    cri::manifest::sample_etcd(
        image,
        dir,
        &command,
        &[
            "etcdctl",
            &endpoints,
            "--dial-timeout=5s",
            "endpoint",
            "health",
        ],
    )
}

/// A small pod on `image` with a read-only root (for the crafted cases).
fn small_manifest(name: &str, image: &str, host_dir: &Path, host_type: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: kube-system}}
spec:
  hostNetwork: true
  securityContext: {{runAsUser: 401, runAsGroup: 401, runAsNonRoot: true, fsGroup: 401, seccompProfile: {{type: RuntimeDefault}}}}
  containers:
  - name: {name}
    image: {image}
    command: [sleep, infinity]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL]}}
    volumeMounts:
    - {{name: data, mountPath: /data, readOnly: true}}
  volumes:
  - {{name: data, hostPath: {{path: {dir}, type: {host_type}}}}}
"#,
        dir = host_dir.display()
    )
}

fn no_cri_containers_left(cd: &Containerd) {
    let left = cd.ctr_ok(&["-n", NS, "containers", "ls", "-q"]);
    assert!(
        left.trim().is_empty(),
        "the probe left containers behind:\n{left}"
    );
}

#[test]
fn the_etcd_static_pod_runs_through_the_cri_as_its_user_read_only() {
    init_logs();
    let work = scratch("cri-etcd.");
    let (cd, etcd) = containerd_with_images();
    let manifests = work.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    let host = work.path().join("host");
    std::fs::write(manifests.join("etcd.yaml"), etcd_manifest(&host, &etcd)).unwrap();

    let r = probe(&cd, &manifests, &work.path().join("pods"), &[]);
    r.ok("-", "runtime");
    r.ok("etcd", "manifest");
    r.ok("etcd", "hostpath:etcd-data");
    assert!(r.ok("etcd", "image").starts_with(&etcd));
    assert!(r.ok("etcd", "sandbox").contains("kubepods"));
    r.ok("etcd", "create");
    r.ok("etcd", "start");
    assert!(r.ok("etcd", "state").starts_with("CONTAINER_RUNNING"));
    assert!(r.ok("etcd", "uid").starts_with("401 "));
    assert!(r.ok("etcd", "gid").starts_with("401 "));
    r.ok("etcd", "groups");
    assert!(r.ok("etcd", "no-new-privs").starts_with("NoNewPrivs 1"));
    assert!(r
        .ok("etcd", "capabilities")
        .contains("CapEff 0000000000000000"));
    assert!(r.ok("etcd", "seccomp").starts_with("Seccomp 2"));
    assert!(r
        .ok("etcd", "read-only-root")
        .contains("Read-only file system"));
    r.ok("etcd", "mount-read:/etc/kubernetes/pki/etcd");
    assert!(r
        .ok("etcd", "mount-read-only:/etc/kubernetes/pki/etcd")
        .contains("Read-only file system"));
    r.ok("etcd", "mount-read:/etc/kubernetes/etcd-probe.conf");
    r.ok("etcd", "mount-read-only:/etc/kubernetes/etcd-probe.conf");
    r.ok("etcd", "mount-read:/var/lib/etcd");
    r.ok("etcd", "mount-writable:/var/lib/etcd");
    r.ok("etcd", "mount-writable:/tmp");
    r.ok("etcd", "mount-read:/etc/hosts");
    r.ok("etcd", "mount-writable:/dev/termination-log");
    // SELinux is off here: printed only.
    r.ok("etcd", "selinux-labels");
    r.ok("etcd", "selinux-process");
    // etcdctl, the probe's program, is in the image and etcd answers it.
    assert!(
        r.ok("etcd", "probe-liveness").contains("exit 0"),
        "{}",
        r.stdout
    );
    r.ok("etcd", "cleanup");
    assert!(r.stdout.contains("MK-CRI done failures=0"), "{}", r.stdout);
    assert_eq!(r.code, Some(0));
    // etcd wrote its data where it may, as its user.
    let member = host.join("var/lib/etcd/member");
    assert!(member.is_dir(), "no etcd data in the data directory");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&member).unwrap()),
        401
    );
    no_cri_containers_left(&cd);
}

#[test]
fn the_probe_reports_crafted_failures() {
    init_logs();
    let work = scratch("cri-fail.");
    let (cd, etcd) = containerd_with_images();
    let manifests = work.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    let dir = work.path().join("host-dir");
    std::fs::create_dir(&dir).unwrap();
    let w = |name: &str, text: String| {
        std::fs::write(manifests.join(format!("{name}.yaml")), text).unwrap()
    };
    w(
        "missing-image",
        small_manifest(
            "missing-image",
            "registry.k8s.io/mk-no-such-image:1",
            &dir,
            "Directory",
        ),
    );
    w(
        "missing-dir",
        small_manifest(
            "missing-dir",
            &etcd,
            &work.path().join("absent"),
            "Directory",
        ),
    );
    w(
        "writes-root",
        small_manifest("writes-root", &etcd, &dir, "Directory"),
    );
    w(
        "one-shot",
        small_manifest("one-shot", &etcd, &dir, "Directory"),
    );
    w(
        "not-a-pod",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n".into(),
    );

    let r = probe(
        &cd,
        &manifests,
        &work.path().join("pods"),
        &[
            "--command-override",
            "writes-root=touch /mk-written",
            "--command-override",
            "one-shot=true",
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(r
        .failed("missing-image", "image")
        .contains("not in the runtime's image store"));
    assert!(!r.stdout.contains("pod=missing-image check=sandbox"));
    let d = r.failed("missing-dir", "hostpath:data");
    assert!(d.contains("absent") && d.contains("Directory"), "{d}");
    let d = r.failed("writes-root", "state");
    assert!(
        d.contains("CONTAINER_EXITED") && d.contains("Read-only file system"),
        "{d}"
    );
    assert!(r.ok("one-shot", "state").contains("exit code 0"));
    r.ok("one-shot", "exec");
    r.failed("not-a-pod.yaml", "manifest");
    r.ok("writes-root", "cleanup");
    r.ok("one-shot", "cleanup");
    let failures = r.checks.values().filter(|(ok, _)| !ok).count();
    assert!(
        r.stdout
            .contains(&format!("MK-CRI done failures={failures}")),
        "{}",
        r.stdout
    );
    assert_eq!(failures, 4, "{}", r.stdout);
    no_cri_containers_left(&cd);
}
