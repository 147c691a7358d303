//! A role change with the real planner: a single server (bootstrap control
//! plane + worker) is given a worker-only config. What the control plane
//! had (static pods, kubeconfigs, keys, encryption config) is removed,
//! except a file someone edited since first boot wrote it, which is left
//! in place and named in the report. `plan` shows the removals first; a run
//! killed before its removals leaves them to the next run.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DOMAIN: &str = "example.test";
const CP: &str = "cp1.example.test";

const BASE: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata:
  name: cp1.example.test
spec:
  cluster:
    name: lab
    domain: example.test
    apiEndpoint: {dnsName: api.example.test}
  planes:
    control: {cidr: 10.0.0.0/24}
";

const CP_EXTRA: &str = "  roles: [bootstrap-control-plane, worker]
  encryptionAtRest:
    provider: secretbox
    keys:
      - name: key1
        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A control plane's files from a fresh mk-pki, keyed as
/// `spec.certificates` keys them.
fn issued(dir: &Path) -> BTreeMap<String, String> {
    use mk_pki::config::{ClusterConfig, NodeSpec, Role};
    use mk_pki::store::PkiDir;
    let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let mut cfg = ClusterConfig::new(DOMAIN);
    cfg.api_endpoint = Some(format!("api.{DOMAIN}"));
    let pki_dir = dir.join("pki");
    PkiDir::init(&pki_dir, &cfg, &mk_pki::Realm::ALL, b"pw", now).unwrap();
    let pki = PkiDir::open(&pki_dir).unwrap();
    let node = NodeSpec {
        name: CP.into(),
        cluster_domain: DOMAIN.into(),
        dns_names: vec![],
        roles: vec![Role::ControlPlane, Role::Etcd, Role::Worker],
    };
    for r in mk_pki::plan::plan_node(&pki.config, &node).realms() {
        pki.intermediate(CP, r, b"pw", now, None).unwrap();
    }
    let bundle = pki
        .issue_node(&node, "node.yaml", &dir.join("issued"), now)
        .unwrap();
    bundle
        .files
        .into_iter()
        .filter_map(|(path, data, _)| {
            let key = if let Some(k) = path.strip_prefix("/etc/kubernetes/pki/") {
                k.to_string()
            } else {
                format!("kubelet/{}", path.strip_prefix("/var/lib/kubelet/pki/")?)
            };
            Some((key, String::from_utf8(data).unwrap()))
        })
        .collect()
}

/// The config file: `BASE`, the role part, the certificates.
fn config(dir: &Path, name: &str, roles: &str, certs: &BTreeMap<String, String>) -> PathBuf {
    let mut y = format!("{BASE}{roles}  certificates:\n");
    for (k, pem) in certs {
        y.push_str(&format!("    \"{k}\": |\n"));
        for l in pem.lines() {
            y.push_str(&format!("      {l}\n"));
        }
    }
    let p = dir.join(name);
    std::fs::write(&p, y).unwrap();
    p
}

fn root(dir: &Path) -> PathBuf {
    let r = dir.join("root");
    std::fs::create_dir_all(r.join("etc/mk")).unwrap();
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    // This test is about the plan change, not signatures.
    std::fs::write(r.join("etc/mk/allow-unsigned-config"), "").unwrap();
    r
}

fn firstboot(cmd: &str, root: &Path, config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mk-firstboot"));
    c.arg(cmd)
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(config)
        .args(["--address", "10.0.0.11"]);
    c
}

fn applied(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn report(root: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root.join("var/lib/mk-firstboot/report.json")).unwrap())
        .unwrap()
}

fn differences(root: &Path) -> Vec<String> {
    report(root)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["differences"].as_array().cloned().unwrap_or_default())
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_control_plane_made_a_worker_loses_what_only_the_control_plane_had() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = issued(tmp.path());
    let worker_certs: BTreeMap<String, String> = certs
        .iter()
        .filter(|(k, _)| mk_roleconfig::pki::allowed_on_worker(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(worker_certs.contains_key("ca.crt"));
    let cp = config(tmp.path(), "cp.yaml", CP_EXTRA, &certs);
    let worker = config(
        tmp.path(),
        "worker.yaml",
        "  roles: [worker]\n",
        &worker_certs,
    );
    let root = root(tmp.path());
    let at = |p: &str| root.join(p);

    applied(firstboot("apply", &root, &cp).output().unwrap());
    let cp_only = [
        "etc/kubernetes/manifests/etcd.yaml",
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        "etc/kubernetes/manifests/kube-controller-manager.yaml",
        "etc/kubernetes/manifests/kube-scheduler.yaml",
        "etc/kubernetes/admin.conf",
        "etc/kubernetes/controller-manager.conf",
        "etc/kubernetes/encryption/config.yaml",
        "etc/kubernetes/pki/apiserver.key",
        "etc/kubernetes/pki/sa.key",
        "etc/kubernetes/pki/etcd/server.key",
        "etc/kubernetes/pki/ca-intermediate.key",
        "etc/firewalld/services/mk-etcd.xml",
    ];
    for f in cp_only {
        assert!(at(f).is_file(), "{f}");
    }
    // Someone's edit to a file that is about to leave the plan.
    let edited = at("etc/kubernetes/scheduler.conf");
    let mut s = std::fs::read_to_string(&edited).unwrap();
    s.push_str("# kept by the site\n");
    std::fs::write(&edited, &s).unwrap();

    // `plan` with the worker config shows the removals, changing nothing.
    let out = text(&firstboot("plan", &root, &worker).output().unwrap().stdout);
    assert!(
        out.contains("  - /etc/kubernetes/manifests/etcd.yaml: removed (no longer planned)"),
        "{out}"
    );
    assert!(!out.contains("scheduler.conf"), "{out}");
    assert!(at("etc/kubernetes/manifests/etcd.yaml").is_file());

    // The worker run killed at its third crash point (in the pki step,
    // before any removal): the next run still removes everything.
    let out = firstboot("apply", &root, &worker)
        .env("MK_FIRSTBOOT_TEST_KILL_AT", "3")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(9), "{}", text(&out.stderr));
    assert!(at("etc/kubernetes/manifests/etcd.yaml").is_file());
    applied(firstboot("apply", &root, &worker).output().unwrap());
    for f in cp_only {
        assert!(!at(f).exists(), "{f} still there");
    }
    let d = differences(&root);
    assert!(
        d.contains(
            &"- /etc/kubernetes/manifests/kube-apiserver.yaml: removed (no longer planned)"
                .to_string()
        ),
        "{d:?}"
    );
    assert!(
        d.contains(&"! /etc/kubernetes/scheduler.conf: no longer planned, but changed since mk-firstboot wrote it: left in place".to_string()),
        "{d:?}"
    );
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), s);
    // What the worker still needs is there.
    for f in [
        "etc/kubernetes/kubelet.conf",
        "etc/kubernetes/pki/ca.crt",
        "var/lib/kubelet/config.yaml",
        "etc/firewalld/zones/mk-control.xml",
    ] {
        assert!(at(f).is_file(), "{f}");
    }
    // The kubelet's client pair: a link to its dated file, both kept.
    let current = std::fs::read_link(at("var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap();
    assert!(
        at(current.strip_prefix("/").unwrap().to_str().unwrap()).is_file(),
        "{current:?}"
    );
    let steps: Vec<(String, String)> = report(&root)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        steps.contains(&("staticpods".into(), "applied".into())),
        "{steps:?}"
    );
    // The journal forgot them: the next run has nothing to do.
    let journal = std::fs::read_to_string(at("var/lib/mk-firstboot/journal.json")).unwrap();
    assert!(!journal.contains("kube-apiserver.yaml"), "{journal}");
    assert!(!journal.contains("scheduler.conf"), "{journal}");
    let out = applied(firstboot("apply", &root, &worker).output().unwrap());
    assert!(out.contains("total: 0 changes"), "{out}");
    assert!(edited.is_file());
}
