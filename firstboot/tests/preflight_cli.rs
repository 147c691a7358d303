//! The preflight in `mk-firstboot plan` and `apply` (issue 16): a plan
//! whose static pod could not start on the node under `--root` is listed
//! by `plan` and refused by `apply` before anything is written. Plans are
//! given with `--plan` so that the pod is exactly the one under test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Two workers (a NodeConfigList); `--node w1.example.com` picks one.
const WORKERS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/site/node-config.yaml"
);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A node root: unsigned configs allowed (the plan adds no account),
/// and an empty image archive directory: the image bakes no etcd.
fn root(dir: &Path) -> PathBuf {
    let r = dir.join("root");
    std::fs::create_dir_all(r.join("usr/share/mk/images")).unwrap();
    std::fs::create_dir_all(r.join("etc/mk")).unwrap();
    std::fs::write(r.join("etc/mk/allow-unsigned-config"), "").unwrap();
    // w1's NIC: `apply --node` still checks the item's `match`.
    std::fs::create_dir_all(r.join("sys/class/net/eth0")).unwrap();
    std::fs::write(r.join("sys/class/net/eth0/address"), "52:54:00:00:00:11\n").unwrap();
    r
}

/// A plan writing one etcd static pod; `mounted`: its data directory is
/// mounted into the container.
fn plan(dir: &Path, mounted: bool) -> PathBuf {
    let mounts = if mounted {
        serde_json::json!([{ "name": "data", "mountPath": "/var/lib/etcd" }])
    } else {
        serde_json::json!([])
    };
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": "etcd", "namespace": "kube-system" },
        "spec": {
            "containers": [{
                "name": "etcd",
                "image": "registry.k8s.io/etcd:3.5.12-0",
                "command": ["etcd", "--data-dir=/var/lib/etcd"],
                "volumeMounts": mounts,
            }],
            "volumes": [{ "name": "data", "hostPath": { "path": "/var/lib/etcd", "type": "DirectoryOrCreate" } }],
        },
    });
    let p = serde_json::json!({
        "configDigest": "",
        "steps": [{"name": "staticpods", "inputDigest": "sha256:s1", "actions": [
            {"action": "ensureDir", "path": "/etc/kubernetes/manifests", "mode": 0o700, "owner": {"uid": 0, "gid": 0}},
            {"action": "writeFile", "path": "/etc/kubernetes/manifests/etcd.yaml",
             "contents": pod.to_string(), "mode": 0o600, "owner": {"uid": 0, "gid": 0}}
        ]}]
    });
    let path = dir.join(if mounted { "good.json" } else { "bad.json" });
    std::fs::write(&path, serde_json::to_vec(&p).unwrap()).unwrap();
    path
}

fn run(cmd: &str, root: &Path, plan: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mk-firstboot"))
        .arg(cmd)
        .arg("--root")
        .arg(root)
        .args(["--config", WORKERS, "--node", "w1.example.com", "--plan"])
        .arg(plan)
        .output()
        .unwrap()
}

/// Every path under `root` with its bytes (directories: empty).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p.clone());
                out.insert(p, Vec::new());
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn plan_lists_and_apply_refuses_pods_that_cannot_start() {
    let t = tempfile::tempdir().unwrap();
    let root = root(t.path());
    let bad = plan(t.path(), false);
    let before = snapshot(&root);

    let out = run("plan", &root, &bad);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    for want in [
        "total: 2 changes (nothing was changed)",
        "preflight: 2 problem(s); apply would refuse this config:",
        "  pod `etcd`: spec.containers[0].command[1] (--data-dir=/var/lib/etcd): not under any volumeMount of container `etcd`",
        "  pod `etcd`: spec.containers[0].image (registry.k8s.io/etcd:3.5.12-0): not among the image's baked archives (it bakes none)",
    ] {
        assert!(stdout.contains(want), "{want}\n{stdout}");
    }

    let out = run("apply", &root, &bad);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mk-firstboot: config refused:\n  preflight: 2 problem(s)")
            && stderr
                .contains("pod `etcd`: spec.containers[0].image (registry.k8s.io/etcd:3.5.12-0)")
            && stderr.ends_with("mk-firstboot: nothing was changed\n"),
        "{stderr}"
    );
    // Only report.json (and the directories it needs) appeared; it says why.
    let mut after = snapshot(&root);
    let report = root.join("var/lib/mk-firstboot/report.json");
    let text_of = String::from_utf8(after.remove(&report).expect("report.json")).unwrap();
    for d in ["var", "var/lib", "var/lib/mk-firstboot"] {
        after.remove(&root.join(d));
    }
    assert_eq!(after, before, "apply wrote something else");
    assert!(
        text_of.contains("\"outcome\": \"refused\"") && text_of.contains("preflight: 2 problem(s)"),
        "{text_of}"
    );

    // The pod mounts what it names, and the images come from the
    // registry (no archive directory): applied.
    std::fs::remove_dir(root.join("usr/share/mk/images")).unwrap();
    let good = plan(t.path(), true);
    let out = run("plan", &root, &good);
    assert!(
        out.status.success()
            && text(&out.stdout).contains("preflight: the static pods (etcd) find what they need"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = run("apply", &root, &good);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(root.join("etc/kubernetes/manifests/etcd.yaml").is_file());
}
