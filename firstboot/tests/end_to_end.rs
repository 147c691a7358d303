//! The whole first-boot path as a site runs it, with the real planner:
//! `mk-compose pki init|intermediate|issue-node` issues a single server
//! (bootstrap control plane + worker) and a worker, `mk-compose
//! config-drive` fills the role configs' certificates, signs them and
//! writes the drives (FAT and ISO 9660), and `mk-firstboot apply` finds the
//! drive through a fake /sys and /dev under a temp node root. Real tools
//! judge the result: kubernetes-validate (PyPI) the static pods,
//! firewall-offline-cmd (Debian firewalld) the firewalld tree, openssl the
//! delivered chains.
//!
//! mk-compose is another package's binary: it is built (or found up to
//! date) with the cargo that builds this test (tests/common, shared with
//! etcd_join.rs).
//!
//! Needs: root (file owners), mtools, xorriso, openssl, firewalld,
//! kubernetes-validate.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

const CP: &str = "cp1.example.test";
const W1: &str = "w1.example.test";
const CP_MAC: &str = "52:54:00:00:00:01";
const W1_MAC: &str = "52:54:00:00:00:02";

const CP_CONFIG: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
match:
  macAddresses: [\"52:54:00:00:00:01\"]
metadata:
  name: cp1.example.test
spec:
  roles: [bootstrap-control-plane, worker]
  cluster:
    name: lab
    domain: example.test
    apiEndpoint: {dnsName: api.example.test}
  planes:
    control: {cidr: 10.0.0.0/24}
  labels:
    topology.kubernetes.io/zone: rack1
  auth:
    oidc:
      issuerURL: https://sso.example.test/realms/lab
      clientID: kubernetes
      groupsClaim: groups
  encryptionAtRest:
    provider: secretbox
    keys:
      - name: key1
        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
";

const W1_CONFIG: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
match:
  macAddresses: [\"52:54:00:00:00:02\"]
metadata:
  name: w1.example.test
spec:
  roles: [worker]
  cluster:
    name: lab
    domain: example.test
    apiEndpoint: {dnsName: api.example.test}
  planes:
    control: {cidr: 10.0.0.0/24}
  labels:
    topology.kubernetes.io/zone: rack2
";

/// The config and signature exactly as on a FAT drive (mtools).
fn from_fat(img: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    for f in ["node-config.yaml", "node-config.yaml.minisig"] {
        ok(Command::new("mcopy")
            .arg("-i")
            .arg(img)
            .arg(format!("::/{f}"))
            .arg(into.join(f))
            .env("MTOOLS_SKIP_CHECK", "1"));
    }
    into.join("node-config.yaml")
}

/// The config and signature exactly as on an ISO drive (xorriso).
fn from_iso(img: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    let mut cmd = Command::new("xorriso");
    cmd.args(["-osirrox", "on", "-indev"]).arg(img);
    for f in ["node-config.yaml", "node-config.yaml.minisig"] {
        cmd.args(["-extract", &format!("/{f}")]).arg(into.join(f));
    }
    ok(cmd.stderr(Stdio::null()));
    into.join("node-config.yaml")
}

/// (uid, gid, mode) of `path` under `root`, following a link as the node
/// would (its absolute target taken under `root`).
fn meta(root: &Path, path: &str) -> (u32, u32, u32) {
    let mut p = root.join(path.trim_start_matches('/'));
    if let Ok(t) = std::fs::read_link(&p) {
        p = root.join(t.strip_prefix("/").unwrap_or(&t));
    }
    let m = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

/// `var/lib/kubelet/pki/<prefix>-current.pem` under `root` is a link to
/// `<prefix>-YYYY-MM-DD-HH-MM-SS.pem` beside it (absolute, as the kubelet's
/// certificate manager makes them), which exists: its node path.
fn kubelet_link(root: &Path, prefix: &str) -> String {
    let link = root.join(format!("var/lib/kubelet/pki/{prefix}-current.pem"));
    let target = std::fs::read_link(&link)
        .unwrap_or_else(|e| panic!("{}: not a symlink: {e}", link.display()))
        .display()
        .to_string();
    let stamp = target
        .strip_prefix(&format!("/var/lib/kubelet/pki/{prefix}-"))
        .and_then(|t| t.strip_suffix(".pem"))
        .unwrap_or_else(|| panic!("{target}"));
    assert!(
        stamp.len() == 19
            && stamp
                .chars()
                .enumerate()
                .all(|(i, c)| if [4, 7, 10, 13, 16].contains(&i) {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }),
        "{target}"
    );
    assert!(root.join(&target[1..]).is_file(), "{target}");
    target
}

fn assert_files(root: &Path, want: &[(&str, u32, u32, u32)]) {
    let mut wrong = Vec::new();
    for (path, uid, gid, mode) in want {
        let got = meta(root, path);
        if got != (*uid, *gid, *mode) {
            wrong.push(format!(
                "{path}: {}:{} {:04o}, want {uid}:{gid} {mode:04o}",
                got.0, got.1, got.2
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn kubernetes_validate(files: &[PathBuf]) {
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .args(files)
        .output()
        .expect("kubernetes-validate (PyPI kubernetes-validate)");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{all}");
    assert_eq!(
        all.matches("passed for resource pod/").count(),
        files.len(),
        "{all}"
    );
}

fn firewall_check(root: &Path) {
    let out = Command::new("firewall-offline-cmd")
        .arg("--system-config")
        .arg(root.join("etc/firewalld"))
        .arg("--check-config")
        .output()
        .expect("firewall-offline-cmd (Debian package firewalld)");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

const PKI: &str = "etc/kubernetes/pki";

#[test]
fn single_server_from_a_signed_config_drive() {
    let site = Site::new();
    let issued = site.issue(
        CP,
        "control-plane, etcd, worker",
        &["etcd", "kubernetes", "front-proxy", "kubelet-serving"],
    );
    let img = site.drive("cp1", CP_CONFIG, &issued, "fat");
    let root = site.node_root("cp1-root", CP_MAC, &img);

    // First boot.
    let out = apply(&root, "10.0.0.11");
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("{CP} from config drive")) && stdout.contains("(FAT)"),
        "{stdout}"
    );
    assert!(stdout.contains("signed by"), "{stdout}");
    let r = report(&root);
    assert_eq!(r["outcome"], "ok", "{r}");
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            // The state partition's /etc/hosts (the distribution's lines:
            // no spec.hosts), bound over /etc/hosts by the image.
            "hosts",
            "time",
            "users",
            "pki",
            "kubeconfig",
            "staticpods",
            "kubelet",
            "containerd",
            "firewall",
            "renew-certificates"
        ]
    );
    // Every step wrote something; the leaves are fresh: nothing to renew.
    for s in r["steps"].as_array().unwrap() {
        let want = if s["name"] == "renew-certificates" {
            "unchanged"
        } else {
            "applied"
        };
        assert_eq!(s["status"], want, "{s}");
    }

    // Service accounts with the documented IDs (docs/node-users.md).
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    for (name, id) in [
        ("etcd", 401),
        ("kube-apiserver", 402),
        ("kube-controller-manager", 403),
        ("kube-scheduler", 404),
    ] {
        assert!(
            passwd
                .lines()
                .any(|l| l.starts_with(&format!("{name}:x:{id}:{id}:"))
                    && l.ends_with(":/sbin/nologin")),
            "{name}: {passwd}"
        );
    }

    // kubeadm's files, with our owners; keys 0600.
    let (etcd, api, cm, sched) = (401, 402, 403, 404);
    assert_files(
        &root,
        &[
            ("etc/kubernetes/admin.conf", 0, 0, 0o600),
            ("etc/kubernetes/kubelet.conf", 0, 0, 0o600),
            ("etc/kubernetes/controller-manager.conf", cm, cm, 0o600),
            ("etc/kubernetes/scheduler.conf", sched, sched, 0o600),
            ("etc/kubernetes/manifests/etcd.yaml", 0, 0, 0o600),
            ("etc/kubernetes/manifests/kube-apiserver.yaml", 0, 0, 0o600),
            (
                "etc/kubernetes/manifests/kube-controller-manager.yaml",
                0,
                0,
                0o600,
            ),
            ("etc/kubernetes/manifests/kube-scheduler.yaml", 0, 0, 0o600),
            ("etc/kubernetes/pki/ca.crt", 0, 0, 0o644),
            ("etc/kubernetes/pki/apiserver.crt", api, api, 0o644),
            ("etc/kubernetes/pki/apiserver.key", api, api, 0o600),
            (
                "etc/kubernetes/pki/apiserver-kubelet-client.crt",
                api,
                api,
                0o644,
            ),
            (
                "etc/kubernetes/pki/apiserver-kubelet-client.key",
                api,
                api,
                0o600,
            ),
            (
                "etc/kubernetes/pki/apiserver-etcd-client.crt",
                api,
                api,
                0o644,
            ),
            (
                "etc/kubernetes/pki/apiserver-etcd-client.key",
                api,
                api,
                0o600,
            ),
            ("etc/kubernetes/pki/front-proxy-ca.crt", 0, 0, 0o644),
            ("etc/kubernetes/pki/front-proxy-client.crt", api, api, 0o644),
            ("etc/kubernetes/pki/front-proxy-client.key", api, api, 0o600),
            ("etc/kubernetes/pki/sa.key", api, cm, 0o640),
            ("etc/kubernetes/pki/sa.pub", api, api, 0o644),
            ("etc/kubernetes/pki/etcd/ca.crt", 0, 0, 0o644),
            ("etc/kubernetes/pki/etcd/server.crt", etcd, etcd, 0o644),
            ("etc/kubernetes/pki/etcd/server.key", etcd, etcd, 0o600),
            ("etc/kubernetes/pki/etcd/peer.crt", etcd, etcd, 0o644),
            ("etc/kubernetes/pki/etcd/peer.key", etcd, etcd, 0o600),
            (
                "etc/kubernetes/pki/etcd/healthcheck-client.crt",
                etcd,
                etcd,
                0o644,
            ),
            (
                "etc/kubernetes/pki/etcd/healthcheck-client.key",
                etcd,
                etcd,
                0o600,
            ),
            // mk's additions (docs/pki.md): per-host intermediates instead
            // of the CA keys, client certificates as files.
            ("etc/kubernetes/pki/ca-intermediate.key", cm, cm, 0o600),
            ("etc/kubernetes/pki/etcd/ca-intermediate.key", 0, 0, 0o600),
            ("etc/kubernetes/pki/controller-manager.key", cm, cm, 0o600),
            ("etc/kubernetes/pki/scheduler.key", sched, sched, 0o600),
            ("etc/kubernetes/pki/admin.key", 0, 0, 0o600),
            ("var/lib/kubelet/config.yaml", 0, 0, 0o644),
            ("var/lib/kubelet/kubeadm-flags.env", 0, 0, 0o644),
            (
                "var/lib/kubelet/pki/kubelet-client-current.pem",
                0,
                0,
                0o600,
            ),
            ("var/lib/kubelet/pki/kubelet.key", 0, 0, 0o600),
            ("var/lib/etcd", etcd, etcd, 0o700),
            ("etc/kubernetes/manifests", 0, 0, 0o700),
        ],
    );
    // The kubelet's certificate manager stores rotated pairs only behind
    // `*-current.pem` links.
    let client = kubelet_link(&root, "kubelet-client");
    let server = kubelet_link(&root, "kubelet-server");
    assert_eq!(meta(&root, &server), (0, 0, 0o600));
    assert_eq!(
        std::fs::read(root.join(&client[1..])).unwrap(),
        std::fs::read(issued.join("var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap()
    );
    // Every key anywhere is 0600 (sa.key 0640: two readers, documented).
    for (path, _) in snapshot(&root) {
        if path.ends_with(".key") && !path.ends_with("/sa.key") {
            assert_eq!(meta(&root, &path).2, 0o600, "{path}");
        }
    }
    // Delivered exactly as issued, and a chain openssl accepts.
    for f in ["apiserver.crt", "etcd/server.key", "sa.pub"] {
        assert_eq!(
            std::fs::read(root.join(PKI).join(f)).unwrap(),
            std::fs::read(issued.join(PKI).join(f)).unwrap(),
            "{f}"
        );
    }
    let pki = root.join(PKI);
    verifies(&root, "ca.crt", "apiserver.crt", None, &[]);
    // In-cluster clients connect to the kubernetes Service address (first
    // of the default service CIDR 10.96.0.0/12) and verify it: the one IP
    // SAN, permitted by the kubernetes intermediate's name constraints.
    let san = ok(Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(pki.join("apiserver.crt")));
    let san = text(&san.stdout);
    assert!(san.contains("IP Address:10.96.0.1"), "{san}");
    assert_eq!(san.matches("IP Address").count(), 1, "{san}");
    verifies(
        &root,
        "ca.crt",
        "apiserver.crt",
        None,
        &["-verify_ip", "10.96.0.1"],
    );
    let wrong = openssl_verify(
        &root,
        "ca.crt",
        "apiserver.crt",
        None,
        &["-verify_ip", "10.96.0.2"],
    );
    assert!(!wrong.status.success(), "10.96.0.2 must not verify");
    verifies(&root, "etcd/ca.crt", "etcd/server.crt", None, &[]);

    // The real judges.
    let manifests: Vec<PathBuf> = [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ]
    .iter()
    .map(|n| root.join(format!("etc/kubernetes/manifests/{n}.yaml")))
    .collect();
    kubernetes_validate(&manifests);
    firewall_check(&root);

    // Second boot: nothing to do, nothing written but the report (the state
    // directory's mtime moves with the report's rename).
    let before = snapshot(&root);
    let out = apply(&root, "10.0.0.11");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("total: 0 changes"),
        "{}",
        text(&out.stdout)
    );
    let after = snapshot(&root);
    let differs: Vec<&String> = after
        .keys()
        .chain(before.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        differs
            .iter()
            .all(|k| *k == "var/lib/mk-firstboot/report.json" || *k == "var/lib/mk-firstboot"),
        "{differs:?}"
    );
    assert!(differs.contains(&&"var/lib/mk-firstboot/report.json".to_string()));

    // A new address in the same plane (DNS updated, R29): only what binds
    // to it, and the certificates keep their bytes and inodes.
    let out = apply(&root, "10.0.0.12");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let changed: Vec<String> = changed_steps(&root).into_iter().map(|(n, _)| n).collect();
    assert_eq!(changed, ["staticpods", "kubelet"]);
    let after_move = snapshot(&root);
    let mut certs = 0;
    for (k, v) in &before {
        if k.starts_with("etc/kubernetes/pki/") || k.starts_with("var/lib/kubelet/pki/") {
            assert_eq!(after_move.get(k), Some(v), "{k} was touched");
            certs += 1;
        }
    }
    assert!(certs > 30, "{certs}");
    let apiserver =
        std::fs::read_to_string(root.join("etc/kubernetes/manifests/kube-apiserver.yaml")).unwrap();
    assert!(apiserver.contains("10.0.0.12"), "{apiserver}");
    assert!(!apiserver.contains("10.0.0.11"), "{apiserver}");
    kubernetes_validate(&manifests);

    // `plan` on the applied root, from the config exactly as on the drive:
    // nothing to do.
    let cfg = from_fat(&img, &site.p("cp1-from-drive"));
    let out = firstboot()
        .arg("plan")
        .arg("--root")
        .arg(&root)
        .arg("--config")
        .arg(&cfg)
        .arg("--trust")
        .arg(root.join("etc/mk/config-trust"))
        .args(["--address", "10.0.0.12"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("signed by"), "{stdout}");
    assert!(
        stdout.contains("total: 0 changes (nothing was changed)"),
        "{stdout}"
    );
    // ... and with the old address, exactly the re-applied files.
    let out = firstboot()
        .arg("plan")
        .arg("--root")
        .arg(&root)
        .arg("--config")
        .arg(&cfg)
        .args(["--address", "10.0.0.11"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("step pki: 0 changes") && stdout.contains("step users: 0 changes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("~ /etc/kubernetes/manifests/kube-apiserver.yaml: content"),
        "{stdout}"
    );
}

#[test]
fn worker_from_an_iso_drive() {
    let site = Site::new();
    let issued = site.issue(W1, "worker", &["kubernetes", "kubelet-serving"]);
    // issue-node gives a worker the cluster root: what the planner needs to
    // check the apiserver (R21).
    assert!(issued.join(PKI).join("ca.crt").is_file());
    let img = site.drive("w1", W1_CONFIG, &issued, "iso");
    let root = site.node_root("w1-root", W1_MAC, &img);

    let out = apply(&root, "10.0.0.21");
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("(ISO 9660)"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(report(&root)["outcome"], "ok");
    assert_files(
        &root,
        &[
            ("etc/kubernetes/kubelet.conf", 0, 0, 0o600),
            ("etc/kubernetes/pki/ca.crt", 0, 0, 0o644),
            ("var/lib/kubelet/config.yaml", 0, 0, 0o644),
            ("var/lib/kubelet/kubeadm-flags.env", 0, 0, 0o644),
            (
                "var/lib/kubelet/pki/kubelet-client-current.pem",
                0,
                0,
                0o600,
            ),
            ("var/lib/kubelet/pki/kubelet.key", 0, 0, 0o600),
        ],
    );
    kubelet_link(&root, "kubelet-client");
    let kubelet_conf = std::fs::read_to_string(root.join("etc/kubernetes/kubelet.conf")).unwrap();
    for want in [
        "server: https://api.example.test:6443",
        "name: system:node:w1.example.test",
        "certificate-authority: /etc/kubernetes/pki/ca.crt",
    ] {
        assert!(kubelet_conf.contains(want), "{want}: {kubelet_conf}");
    }
    // A worker has no control-plane material: no static pods, no keys in
    // /etc/kubernetes/pki, no service accounts.
    let all = snapshot(&root);
    let cp_only: Vec<&String> = all
        .keys()
        .filter(|k| {
            k.starts_with("etc/kubernetes/manifests/")
                || (k.starts_with("etc/kubernetes/pki/") && k.ends_with(".key"))
                || *k == "etc/kubernetes/admin.conf"
                || *k == "var/lib/etcd"
        })
        .collect();
    assert!(cp_only.is_empty(), "{cp_only:?}");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/passwd")).unwrap(),
        "root:x:0:0:root:/root:/bin/bash\n"
    );
    firewall_check(&root);
    let zones: Vec<String> = std::fs::read_dir(root.join("etc/firewalld/zones"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!zones.iter().any(|z| z.contains("etcd")), "{zones:?}");

    // Second boot: nothing.
    let out = apply(&root, "10.0.0.21");
    assert!(
        text(&out.stdout).contains("total: 0 changes"),
        "{}",
        text(&out.stdout)
    );
    let cfg = from_iso(&img, &site.p("w1-from-drive"));
    let out = firstboot()
        .arg("plan")
        .arg("--root")
        .arg(&root)
        .arg("--config")
        .arg(&cfg)
        .arg("--trust")
        .arg(root.join("etc/mk/config-trust"))
        .args(["--address", "10.0.0.21"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("total: 0 changes (nothing was changed)"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// cp1's PKI roles and realms (`pki issue-node`, `pki intermediate`).
const CP_PKI_ROLES: &str = "control-plane, etcd, worker";
const CP_REALMS: &[&str] = &["etcd", "kubernetes", "front-proxy", "kubelet-serving"];

/// cp1 issued, on a FAT drive, after a first boot that succeeded.
fn first_booted_control_plane(site: &Site) -> PathBuf {
    let issued = site.issue(CP, CP_PKI_ROLES, CP_REALMS);
    let img = site.drive("cp1", CP_CONFIG, &issued, "fat");
    let root = site.node_root("cp1-root", CP_MAC, &img);
    let out = apply(&root, "10.0.0.11");
    assert!(out.status.success(), "{}", text(&out.stderr));
    root
}

/// `openssl verify` of the node's leaf file `leaf` (leaf, then its
/// intermediate) against the root `ca`, both under /etc/kubernetes/pki,
/// with `options`; `days` ahead (libfaketime) when given.
fn openssl_verify(
    root: &Path,
    ca: &str,
    leaf: &str,
    days: Option<u32>,
    options: &[&str],
) -> Output {
    let pki = root.join(PKI);
    let mut cmd = match days {
        Some(d) => {
            let mut c = Command::new("faketime");
            c.arg(format!("+{d} days")).arg("openssl");
            c
        }
        None => Command::new("openssl"),
    };
    cmd.arg("verify")
        .args(options)
        .arg("-CAfile")
        .arg(pki.join(ca))
        .arg("-untrusted")
        .arg(pki.join(leaf))
        .arg(pki.join(leaf))
        .output()
        .unwrap()
}

/// [`openssl_verify`] that must succeed.
fn verifies(root: &Path, ca: &str, leaf: &str, days: Option<u32>, options: &[&str]) {
    let out = openssl_verify(root, ca, leaf, days, options);
    assert!(
        out.status.success(),
        "openssl verify {options:?} {leaf}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `mk-firstboot apply` with the clock `days` ahead (libfaketime: the
/// binary's clock_gettime is shifted, nothing else on the machine).
fn apply_days_later(root: &Path, address: &str, days: u32) -> Output {
    Command::new("faketime")
        .arg(format!("+{days} days"))
        .arg(env!("CARGO_BIN_EXE_mk-firstboot"))
        .arg("apply")
        .arg("--root")
        .arg(root)
        .args(["--address", address])
        .output()
        .expect("faketime (Debian package faketime)")
}

/// `openssl x509 -enddate` of a node file, compared with the clock `days`
/// ahead: whether the certificate is still valid then.
fn valid_days_later(root: &Path, path: &str, days: u32) -> bool {
    let out = Command::new("faketime")
        .arg(format!("+{days} days"))
        .args(["openssl", "x509", "-noout", "-checkend", "0", "-in"])
        .arg(root.join(path.trim_start_matches('/')))
        .output()
        .unwrap();
    out.status.success()
}

#[test]
fn a_control_plane_comes_back_after_ten_days_off_and_says_what_to_do_after_a_hundred() {
    let site = Site::new();
    let root = first_booted_control_plane(&site);
    let leaves = [
        "etc/kubernetes/pki/apiserver.crt",
        "etc/kubernetes/pki/apiserver-etcd-client.crt",
        "etc/kubernetes/pki/apiserver-kubelet-client.crt",
        "etc/kubernetes/pki/front-proxy-client.crt",
        "etc/kubernetes/pki/controller-manager.crt",
        "etc/kubernetes/pki/scheduler.crt",
        "etc/kubernetes/pki/admin.crt",
        "etc/kubernetes/pki/etcd/server.crt",
        "etc/kubernetes/pki/etcd/peer.crt",
        "etc/kubernetes/pki/etcd/healthcheck-client.crt",
    ];
    for l in leaves {
        assert!(
            !valid_days_later(&root, l, 10),
            "{l} should have expired by then"
        );
    }

    // Powered off for 10 days: the drive's leaves have expired; the config
    // is accepted and every leaf is renewed before anything starts.
    let out = apply_days_later(&root, "10.0.0.11", 10);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = report(&root);
    assert_eq!(r["outcome"], "ok", "{r}");
    let renew = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "renew-certificates")
        .unwrap_or_else(|| panic!("no renew-certificates step: {r}"))
        .clone();
    assert_eq!(renew["status"], "applied", "{renew}");
    let lines: Vec<&str> = renew["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for l in leaves {
        assert!(
            lines
                .iter()
                .any(|d| d.starts_with(&format!("~ /{l}: renewed"))),
            "{l}: {lines:#?}"
        );
        assert!(
            valid_days_later(&root, l, 10),
            "{l} is not valid 10 days later"
        );
    }
    // The kubelet's client certificate too (its apiserver is a static pod
    // of this very kubelet): a new dated file, the link switched to it.
    assert!(
        lines
            .iter()
            .any(|d| d.starts_with("~ /var/lib/kubelet/pki/kubelet-client-current.pem: renewed")),
        "{lines:#?}"
    );
    let link =
        std::fs::read_link(root.join("var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap();
    let dated = root.join(link.strip_prefix("/").unwrap());
    assert!(
        valid_days_later(
            &root,
            dated.strip_prefix(&root).unwrap().to_str().unwrap(),
            10
        ),
        "{}",
        link.display()
    );
    // The renewed chains verify against the realm's root (at that time).
    verifies(&root, "etcd/ca.crt", "etcd/server.crt", Some(10), &[]);
    // The renewed apiserver certificate keeps the kubernetes Service address.
    verifies(
        &root,
        "ca.crt",
        "apiserver.crt",
        Some(10),
        &["-verify_ip", "10.96.0.1"],
    );
    eprintln!(
        "boot-time renewal of {} leaves: {} ms",
        renew["changed"], renew["durationMs"]
    );

    // The next boot, same drive: nothing goes back to the drive's copies.
    let before = snapshot(&root);
    let out = apply_days_later(&root, "10.0.0.11", 10);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(changed_steps(&root), Vec::<(String, u64)>::new());
    let after = snapshot(&root);
    for l in leaves {
        assert_eq!(before.get(l), after.get(l), "{l} changed on the next boot");
    }
    let r = report(&root);
    let pki = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "pki")
        .unwrap()
        .clone();
    assert!(
        pki["differences"].as_array().unwrap().iter().any(|d| d
            .as_str()
            .unwrap()
            .starts_with("= /etc/kubernetes/pki/apiserver.crt: kept the node's renewal")),
        "{pki}"
    );

    // 100 days: the host's intermediates (90 days) have expired: refused,
    // nothing changed, and the admin is told what to do.
    let before = snapshot(&root);
    let out = apply_days_later(&root, "10.0.0.11", 100);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    for want in [
        "config refused",
        "host intermediate(s) of realm(s)",
        &format!("mk-compose pki intermediate --dir PKI --host {CP} --realm etcd"),
        "mk-compose config-drive",
        "nothing was changed",
    ] {
        assert!(err.contains(want), "`{want}` missing from:\n{err}");
    }
    // report.json (and its directory's mtime) is the one thing a refusal
    // changes, and it says the same as the console.
    let report_only = |mut m: BTreeMap<String, String>| {
        m.remove("var/lib/mk-firstboot/report.json");
        m.remove("var/lib/mk-firstboot");
        m
    };
    assert_eq!(report_only(before), report_only(snapshot(&root)));
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("var/lib/mk-firstboot/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["outcome"], "refused", "{report:#}");
    assert_eq!(report["node"], CP, "{report:#}");
    let refusal: String = report["refusal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for want in [
        "host intermediate(s) of realm(s)",
        &format!("mk-compose pki intermediate --dir PKI --host {CP} --realm etcd"),
    ] {
        assert!(
            refusal.contains(want),
            "`{want}` missing from report.json: {report:#}"
        );
    }
}

#[test]
fn re_signed_intermediates_arrive_on_a_new_drive_and_change_only_certificates() {
    let site = Site::new();
    let root = first_booted_control_plane(&site);
    let old = std::fs::read(root.join("etc/kubernetes/pki/ca-intermediate.crt")).unwrap();

    // The admin re-signs the host's intermediates before they expire,
    // issues the node again and writes a new drive; the node boots with it.
    let issued = site.issue(CP, CP_PKI_ROLES, CP_REALMS);
    let img = site.drive("cp1-new", CP_CONFIG, &issued, "fat");
    std::fs::remove_file(root.join("dev/vdb")).unwrap();
    std::os::unix::fs::symlink(&img, root.join("dev/vdb")).unwrap();
    let out = apply(&root, "10.0.0.11");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let changed = changed_steps(&root);
    assert_eq!(
        changed.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["pki"],
        "only certificates change: {changed:?}"
    );
    let new = std::fs::read(root.join("etc/kubernetes/pki/ca-intermediate.crt")).unwrap();
    assert_ne!(old, new, "the re-signed intermediate was not delivered");
    verifies(&root, "ca.crt", "apiserver.crt", None, &[]);
}

// ---------------------------------------------------------------------------
// The API step (`mk-firstboot cluster`) against a mock of this node's
// apiserver that answers as kube-apiserver 1.28.7 did in
// ../shared/reference/kubeadm-1.28.7/calls/, serving the node's own
// apiserver.crt and trusting its ca.crt for clients.

#[path = "../../crates/kubeapi/tests/mock/mod.rs"]
mod mock;

fn cluster_step(root: &Path, server: &str, ready_timeout: u32) -> Output {
    firstboot()
        .arg("cluster")
        .arg("--root")
        .arg(root)
        .args(["--address", "10.0.0.11", "--server", server])
        .args(["--ready-timeout", &ready_timeout.to_string()])
        .args(["--node-timeout", "5"])
        .output()
        .unwrap()
}

fn api_mock(root: &Path) -> (tokio::runtime::Runtime, mock::Mock) {
    let read = |p: &str| std::fs::read_to_string(root.join(PKI).join(p)).unwrap();
    let pki = mock::Pki::from_node(
        &read("ca.crt"),
        &read("apiserver.crt"),
        &read("apiserver.key"),
    );
    // The mock serves from its own threads while the test waits on the
    // mk-firstboot process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let m = rt.block_on(mock::Mock::start(&pki));
    (rt, m)
}

#[test]
fn the_api_step_makes_the_cluster_objects_once_and_then_sends_no_write() {
    let site = Site::new();
    let config = format!(
        "{CP_CONFIG}  bootstrapTokens:\n    - {{token: abcdef.0123456789abcdef, expires: \"2099-01-01T00:00:00Z\"}}\n"
    );
    let issued = site.issue(CP, CP_PKI_ROLES, CP_REALMS);
    let img = site.drive("cp1-api", &config, &issued, "fat");
    let root = site.node_root("cp1-api-root", CP_MAC, &img);
    let out = apply(&root, "10.0.0.11");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_rt, m) = api_mock(&root);
    // The kubelet registered the node (kubernetes.io/hostname), with the
    // taint it registers with on a control plane that runs workloads: none.
    m.put(
        &format!("/api/v1/nodes/{CP}"),
        serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": CP,
            "labels": {"kubernetes.io/hostname": CP}}}),
    );
    let before = snapshot(&root);

    let out = cluster_step(&root, &m.url(), 30);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let requests = m.take_requests();
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/readyz");
    let patches: Vec<&mock::Recorded> = requests.iter().filter(|r| r.method == "PATCH").collect();
    // Every write is a server-side apply as kubectl sends it (e1).
    for p in &patches {
        assert_eq!(
            p.query.as_deref(),
            Some("fieldManager=mk-firstboot&fieldValidation=Strict&force=false"),
            "{p:?}"
        );
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
    }
    // The binding that makes admin.conf work goes first.
    assert_eq!(
        patches[0].path,
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubeadm:cluster-admins"
    );
    let written: Vec<&str> = patches.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef",
        "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy",
        "/apis/apps/v1/namespaces/kube-system/deployments/coredns",
        "/api/v1/namespaces/kube-system/services/kube-dns",
        "/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/ippools.crd.projectcalico.org",
        // The node's labels, last.
        "/api/v1/nodes/cp1.example.test",
    ] {
        assert!(written.contains(&want), "{want} not applied: {written:#?}");
    }
    assert_eq!(*written.last().unwrap(), "/api/v1/nodes/cp1.example.test");
    let node = m.get(&format!("/api/v1/nodes/{CP}")).unwrap();
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        ""
    );
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], CP);
    let token = m
        .get("/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef")
        .unwrap();
    assert_eq!(token["type"], "bootstrap.kubernetes.io/token");

    let r = report(&root);
    let step = |name: &str| {
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {r:#}"))
            .clone()
    };
    assert_eq!(r["outcome"], "ok", "{r:#}");
    assert_eq!(step("api-ready")["status"], "unchanged");
    let objects = step("api-objects");
    assert_eq!(objects["status"], "applied");
    assert_eq!(
        objects["changed"].as_u64().unwrap() as usize,
        patches.len() - 1
    );
    assert!(objects["differences"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d == "+ ClusterRoleBinding kubeadm:cluster-admins"));
    assert_eq!(step("node-labels")["changed"], 1);
    // First boot's own steps are still there.
    assert_eq!(step("pki")["status"], "applied");

    // The system:masters credential never touched the disk: only the
    // report changed.
    let after = snapshot(&root);
    let changed: Vec<&String> = after
        .keys()
        .chain(before.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed
            .iter()
            .all(|k| *k == "var/lib/mk-firstboot/report.json" || *k == "var/lib/mk-firstboot"),
        "{changed:?}"
    );

    // Again: every object compares equal, nothing is written.
    let out = cluster_step(&root, &m.url(), 30);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = m.take_requests();
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:#?}");
    let r = report(&root);
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(
                |s| s["name"].as_str().unwrap().starts_with("api-") || s["name"] == "node-labels"
            )
            .all(|s| s["changed"] == 0 && s["status"] == "unchanged"),
        "{r:#}"
    );
}

#[test]
fn a_worker_labels_its_own_node_with_the_image_version_as_its_kubelet() {
    let site = Site::new();
    let cp = first_booted_control_plane(&site);
    let issued = site.issue(W1, "worker", &["kubernetes", "kubelet-serving"]);
    let img = site.drive("w1-label", W1_CONFIG, &issued, "fat");
    let root = site.node_root("w1-label-root", W1_MAC, &img);
    let out = apply(&root, "10.0.0.21");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // What mk-compose packages from image.yaml's `version`.
    std::fs::create_dir_all(root.join("usr/lib/mk")).unwrap();
    std::fs::write(
        root.join("usr/lib/mk/image-release"),
        "# Generated by mk-compose\nIMAGE_VERSION=2026.12.2\n",
    )
    .unwrap();
    // The cluster's apiserver (cp1's certificate names api.example.test).
    let (_rt, m) = api_mock(&cp);
    let node_path = format!("/api/v1/nodes/{W1}");
    m.put(
        &node_path,
        serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": W1,
            "labels": {"kubernetes.io/hostname": W1}}}),
    );
    let label = |root: &Path| {
        firstboot()
            .arg("cluster")
            .arg("--root")
            .arg(root)
            .args(["--address", "10.0.0.21", "--server", &m.url()])
            .args(["--node-timeout", "5"])
            .output()
            .unwrap()
    };
    let out = label(&root);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let requests = m.take_requests();
    // No readiness probe, no cluster objects: the Node, then its label.
    assert!(
        requests.iter().all(|r| r.path == node_path),
        "{requests:#?}"
    );
    let patches: Vec<&mock::Recorded> = requests.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "{requests:#?}");
    assert_eq!(
        patches[0].query.as_deref(),
        Some("fieldManager=mk-firstboot&fieldValidation=Strict&force=false")
    );
    assert!(
        patches[0].body.contains("mk.dev/image-version"),
        "{}",
        patches[0].body
    );
    let live = m.get(&node_path).unwrap();
    assert_eq!(
        live["metadata"]["labels"]["mk.dev/image-version"],
        "2026.12.2"
    );
    assert_eq!(live["metadata"]["labels"]["kubernetes.io/hostname"], W1);
    let r = report(&root);
    let step = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "node-labels")
        .unwrap_or_else(|| panic!("{r:#}"))
        .clone();
    assert_eq!(step["status"], "applied", "{step:#}");
    assert_eq!(r["outcome"], "ok");

    // Again: the label is there, nothing is written.
    let out = label(&root);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(m.take_requests().iter().all(|r| r.method == "GET"));

    // An image without a version leaves a worker idle: no request at all.
    std::fs::remove_file(root.join("usr/lib/mk/image-release")).unwrap();
    let out = label(&root);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(m.take_requests().is_empty());
}

#[test]
fn an_apiserver_that_never_gets_ready_fails_the_api_step_with_its_answer() {
    let site = Site::new();
    let root = first_booted_control_plane(&site);
    let (_rt, m) = api_mock(&root);
    m.readyz_never();
    let out = cluster_step(&root, &m.url(), 2);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAILED step api-ready"), "{stdout}");
    let r = report(&root);
    assert_eq!(r["outcome"], "failed");
    let steps = r["steps"].as_array().unwrap();
    let ready = steps.iter().find(|s| s["name"] == "api-ready").unwrap();
    assert!(
        ready["error"].as_str().unwrap().contains("readyz"),
        "{ready:#}"
    );
    for later in ["api-objects", "node-labels"] {
        let s = steps.iter().find(|s| s["name"] == later).unwrap();
        assert_eq!(s["status"], "skipped", "{s:#}");
    }
    // Nothing but the readiness probe was asked.
    assert!(m.take_requests().iter().all(|r| r.path == "/readyz"));
}

#[test]
fn an_apiserver_that_is_not_this_node_is_refused_at_once() {
    let site = Site::new();
    let root = first_booted_control_plane(&site);
    // A server with another CA and a certificate for localhost only.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let m = rt.block_on(mock::Mock::start(&mock::pki()));
    let started = std::time::Instant::now();
    let out = cluster_step(&root, &m.url(), 60);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    // A TLS refusal is not waited out.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let r = report(&root);
    let ready = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "api-ready")
        .unwrap()
        .clone();
    assert_eq!(ready["status"], "failed", "{r:#}");
    assert!(
        ready["error"].as_str().unwrap().contains("TLS"),
        "{ready:#}"
    );
}
