//! `mk-rollout apply` and its Kubernetes calls against the mock apiserver
//! of crates/kubeapi/tests/mock (answers as kube-apiserver v1.28.7 in
//! shared/reference/kubeadm-1.28.7/calls: a-cordon, b-uncordon, c7/c9
//! evictions with a PodDisruptionBudget, d-get-node), every request
//! asserted; the `command` driver is a script whose "re-install" the test
//! plays as the node's first boot (version label and Ready).

#[path = "../../crates/kubeapi/tests/mock/mod.rs"]
mod mock;
// Signed test bundles and the fake ssh.
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mock::{Mock, Pki, Recorded};
use serde_json::{json, Value};

fn node(name: &str, version: &str, ready: bool) -> Value {
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {
            "name": name, "uid": format!("node-{name}"), "resourceVersion": "300",
            "creationTimestamp": mock::CREATED,
            "labels": {"kubernetes.io/hostname": name, "mk.dev/image-version": version},
        },
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                            "reason": "KubeletReady"}],
            "nodeInfo": {"osImage": format!("mk {version}")},
        },
    })
}

fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{name}")
}

/// Method, path, query, content type and body of each request.
fn summary(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter()
        .map(|r| {
            format!(
                "{} {}{} [{}] {}",
                r.method,
                r.path,
                r.query
                    .as_ref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default(),
                r.content_type.as_deref().unwrap_or("-"),
                r.body
            )
        })
        .collect()
}

#[tokio::test]
async fn cordon_drain_uncordon_as_kubectl_does() {
    let pki = mock::pki();
    let m = Mock::start(&pki).await;
    m.put(&node_path("w1"), node("w1", "v1", true));
    let app = mock::pod_path("default", "demo-1");
    m.put(
        &app,
        mock::pod("default", "demo-1", "w1", Some("ReplicaSet"), false),
    );
    m.put(
        &mock::pod_path("kube-system", "proxy-x"),
        mock::pod("kube-system", "proxy-x", "w1", Some("DaemonSet"), false),
    );
    m.put(
        &mock::pod_path("kube-system", "etcd-w1"),
        mock::pod("kube-system", "etcd-w1", "w1", Some("Node"), true),
    );
    m.put(
        &mock::pod_path("default", "elsewhere"),
        mock::pod("default", "elsewhere", "w2", None, false),
    );
    m.refuse_evictions(&app, 2, "demo-pdb");

    let client = mk_kubeapi::client(&pki.credentials(&m.url()))
        .unwrap()
        .with_timing(Duration::from_secs(5), Duration::from_millis(20));
    let n = client.set_unschedulable("w1", true).await.unwrap();
    assert_eq!(n["spec"]["unschedulable"], json!(true));
    let evicted = mk_rollout::kube::drain(
        &client,
        "w1",
        Duration::from_secs(10),
        Duration::from_millis(20),
    )
    .await
    .unwrap();
    assert_eq!(evicted, 1);
    let n = client.set_unschedulable("w1", false).await.unwrap();
    assert!(n["spec"].get("unschedulable").is_none(), "{n}");

    let list = "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dw1 [-] ";
    let evict = "POST /api/v1/namespaces/default/pods/demo-1/eviction [application/json] \
        {\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"demo-1\",\"namespace\":\"default\"}}";
    assert_eq!(
        summary(&m.take_requests()),
        vec![
            "PATCH /api/v1/nodes/w1 [application/strategic-merge-patch+json] {\"spec\":{\"unschedulable\":true}}",
            list, evict, list, evict, list, evict, list,
            "PATCH /api/v1/nodes/w1 [application/strategic-merge-patch+json] {\"spec\":{\"unschedulable\":null}}",
        ]
    );
    // The DaemonSet and mirror pods stay, so does the other node's pod.
    assert!(m.get(&app).is_none());
    assert!(m.get(&mock::pod_path("kube-system", "proxy-x")).is_some());
    assert!(m.get(&mock::pod_path("kube-system", "etcd-w1")).is_some());
    assert!(m.get(&mock::pod_path("default", "elsewhere")).is_some());
}

#[tokio::test]
async fn drain_times_out_naming_the_budget() {
    let pki = mock::pki();
    let m = Mock::start(&pki).await;
    let app = mock::pod_path("default", "demo-1");
    m.put(
        &app,
        mock::pod("default", "demo-1", "w1", Some("ReplicaSet"), false),
    );
    m.refuse_evictions(&app, 1000, "demo-pdb");
    let client = mk_kubeapi::client(&pki.credentials(&m.url())).unwrap();
    let e = mk_rollout::kube::drain(
        &client,
        "w1",
        Duration::from_millis(300),
        Duration::from_millis(50),
    )
    .await
    .unwrap_err();
    assert!(e.starts_with("drain not finished after 300ms: pods left: default/demo-1; evictions refused: default/demo-1: Cannot evict pod as it would violate the pod's disruption budget. (reason TooManyRequests) (The disruption budget demo-pdb needs 2 healthy pods and has 2 currently)"), "{e}");
    assert!(m.get(&app).is_some());
}

struct Site {
    dir: tempfile::TempDir,
    inventory: PathBuf,
}

/// An inventory of two workers (batch 1) re-imaged by a script that
/// leaves a file per node (and, once, kills mk-rollout mid-step).
fn site(pki: &Pki, url: &str) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.crt"), &pki.ca_pem).unwrap();
    std::fs::write(d.join("admin.crt"), &pki.client_pem).unwrap();
    std::fs::write(d.join("admin.key"), &pki.client_key_pem).unwrap();
    let script = d.join("reinstall.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         set -e\n\
         cd \"$(dirname \"$0\")\"\n\
         echo \"reinstalling $MK_ROLLOUT_NODE ($MK_ROLLOUT_ROLE) to $MK_ROLLOUT_IMAGE_VERSION\"\n\
         if [ -e crash-once ]; then rm crash-once; kill -9 $PPID; sleep 5; fi\n\
         touch \"reimaged-$MK_ROLLOUT_NODE\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let inventory = d.join("inventory.yaml");
    std::fs::write(
        &inventory,
        format!(
            "image_version: v2\n\
             worker_batch: 1\n\
             apiserver: {{server: \"{url}\", ca: ca.crt, cert: admin.crt, key: admin.key}}\n\
             timeouts: {{drain: 5, reimage: 10, ready: 2}}\n\
             nodes:\n\
             \x20 - name: w1\n    role: worker\n    driver: {{command: {{program: ./reinstall.sh, wipes_disk: false}}}}\n\
             \x20 - name: w2\n    role: worker\n    driver: {{command: {{program: ./reinstall.sh, wipes_disk: false}}}}\n"
        ),
    )
    .unwrap();
    Site { dir, inventory }
}

/// Plays first boot: a node whose driver ran comes back Ready with the
/// version `version_of(node)`.
fn boot_nodes(
    m: &std::sync::Arc<Mock>,
    dir: &Path,
    version_of: fn(&str) -> &'static str,
) -> tokio::task::JoinHandle<()> {
    let m = m.clone();
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        loop {
            for name in ["w1", "w2"] {
                let flag = dir.join(format!("reimaged-{name}"));
                if flag.exists() {
                    let _ = std::fs::remove_file(&flag);
                    let mut n = m.get(&node_path(name)).unwrap();
                    n["metadata"]["labels"]["mk.dev/image-version"] = json!(version_of(name));
                    n["status"]["nodeInfo"]["osImage"] = json!(format!("mk {}", version_of(name)));
                    m.put(&node_path(name), n);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

async fn apply(site: &Site) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mk-rollout"))
        .args(["apply", "--poll", "1", "--inventory"])
        .arg(&site.inventory)
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn journal(site: &Site) -> Value {
    let p = site.dir.path().join("inventory.yaml.rollout.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[tokio::test]
async fn apply_survives_a_crash_and_stops_on_a_node_back_on_the_old_version() {
    let pki = mock::pki();
    let m = std::sync::Arc::new(Mock::start(&pki).await);
    m.put(&node_path("w1"), node("w1", "v1", true));
    m.put(&node_path("w2"), node("w2", "v1", true));
    m.put(
        &mock::pod_path("default", "demo-1"),
        mock::pod("default", "demo-1", "w1", Some("ReplicaSet"), false),
    );
    let site = site(&pki, &m.url());
    let d = site.dir.path();

    // 1. mk-rollout is killed while w1's driver runs.
    std::fs::write(d.join("crash-once"), "").unwrap();
    let boot = boot_nodes(&m, d, |n| if n == "w2" { "v1" } else { "v2" });
    let (code, _, err) = apply(&site).await;
    assert_eq!(code, -1, "killed by the driver: {err}");
    assert_eq!(journal(&site)["done"], json!(["drained", "pending"]));
    assert_eq!(
        m.get(&node_path("w1")).unwrap()["spec"]["unschedulable"],
        json!(true)
    );
    assert!(m.get(&node_path("w2")).unwrap()["spec"]
        .get("unschedulable")
        .is_none());
    let reqs = summary(&m.take_requests());
    assert_eq!(reqs.len(), 4, "{reqs:#?}"); // cordon, list, evict, list
    assert!(reqs[0].starts_with("PATCH /api/v1/nodes/w1 [application/strategic-merge-patch+json] {\"spec\":{\"unschedulable\":true}}"));

    // 2. Resumed: w1 is re-imaged again (not cordoned or drained again),
    // comes back on v2 and is uncordoned; w2 comes back on v1: stop.
    let (code, out, err) = apply(&site).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.starts_with("w1: re-image\nw1: wait Ready on the new version\nw1: uncordon\nw2: cordon\nw2: drain\nw2: re-image\nw2: wait Ready on the new version\n"), "{out}");
    assert!(
        err.contains("mk-rollout apply: stopped at node w2, step \"wait Ready on the new version\": not back on image version v2 after 2s; last seen: Ready=True, mk.dev/image-version=v1, osImage \"mk v1\""),
        "{err}"
    );
    assert!(err.contains("no other node was touched"), "{err}");
    assert_eq!(journal(&site)["done"], json!(["done", "reimaged"]));
    assert!(m.get(&node_path("w1")).unwrap()["spec"]
        .get("unschedulable")
        .is_none());
    assert_eq!(
        m.get(&node_path("w2")).unwrap()["spec"]["unschedulable"],
        json!(true)
    );
    let reqs = summary(&m.take_requests());
    assert_eq!(reqs[0], "GET /api/v1/nodes/w1 [-] ");
    assert!(
        reqs.iter()
            .all(|r| !r.contains("nodes/w1 [application") || r.contains("null")),
        "{reqs:#?}"
    );

    // 3. The site fixes w2 (it boots v2 now): apply retries the wait only.
    boot.abort();
    let mut n = m.get(&node_path("w2")).unwrap();
    n["metadata"]["labels"]["mk.dev/image-version"] = json!("v2");
    m.put(&node_path("w2"), n);
    let (code, out, err) = apply(&site).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.starts_with(
            "resuming after the last stop (node w2, step \"wait Ready on the new version\""
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "w2: wait Ready on the new version\nw2: uncordon\nevery node is on image version v2"
        ),
        "{out}"
    );
    assert_eq!(
        summary(&m.take_requests()),
        vec![
            "GET /api/v1/nodes/w2 [-] ",
            "PATCH /api/v1/nodes/w2 [application/strategic-merge-patch+json] {\"spec\":{\"unschedulable\":null}}",
        ]
    );
    assert_eq!(journal(&site)["done"], json!(["done", "done"]));
}

/// `apply --bundle` end to end: the bundle verified, its version the
/// target (the inventory names none), copied to each node through the ssh
/// driver (a fake ssh on PATH), checked there, and the command run on it.
#[tokio::test]
async fn apply_with_a_bundle_carries_it_to_every_node() {
    let pki = mock::pki();
    let m = std::sync::Arc::new(Mock::start(&pki).await);
    m.put(&node_path("w1"), node("w1", "v1", true));
    m.put(&node_path("w2"), node("w2", "v1", true));
    let site = site(&pki, &m.url());
    let d = site.dir.path();
    let key = common::key(d, "mk");
    let iso = common::bundle(d, "mk-2.iso", Some("2.0.0"), 1 << 20, &key);
    let (path, log) = common::fake_ssh(d);
    let ssh = |n: &str| {
        format!(
            "  - name: {n}\n    role: worker\n    driver:\n      ssh:\n        host: {n}.example.com\n        \
             known_hosts: known_hosts\n        bundle_path: {dir}/{n}/bundle.iso\n        \
             command: cmp {{bundle}} {dir}/mk-2.iso && touch {dir}/reimaged-{n}\n",
            dir = d.display()
        )
    };
    std::fs::write(
        &site.inventory,
        format!(
            "apiserver: {{server: \"{}\", ca: ca.crt, cert: admin.crt, key: admin.key}}\n\
             timeouts: {{drain: 5, copy: 10, reimage: 10, ready: 5}}\nnodes:\n{}{}",
            m.url(),
            ssh("w1"),
            ssh("w2")
        ),
    )
    .unwrap();
    let boot = boot_nodes(&m, d, |_| "2.0.0");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mk-rollout"))
        .args([
            "apply",
            "--poll",
            "1",
            "--bundle",
            "mk-2.iso",
            "--trust",
            "mk.pub",
            "--inventory",
        ])
        .arg(&site.inventory)
        .current_dir(d)
        .env("PATH", path)
        .env("FAKE_SSH_DIR", &log)
        .output()
        .await
        .unwrap();
    boot.abort();
    let (out, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.contains("every node is on image version 2.0.0"),
        "{out}\n{err}"
    );
    assert!(
        out.starts_with(&format!(
            "Bundle {}: node image version 2.0.0",
            iso.display()
        )),
        "{out}"
    );
    let bundle = std::fs::read(&iso).unwrap();
    for n in ["w1", "w2"] {
        assert_eq!(
            std::fs::read(d.join(n).join("bundle.iso")).unwrap(),
            bundle,
            "{n}"
        );
    }
    // Three ssh runs per node (copy, check, command), w1's before w2's.
    let argv = std::fs::read_to_string(log.join("argv")).unwrap();
    let hosts: Vec<&str> = argv
        .lines()
        .map(|l| l.split(" -- ").nth(1).unwrap().split(' ').next().unwrap())
        .collect();
    assert_eq!(
        hosts,
        ["w1.example.com"; 3]
            .into_iter()
            .chain(["w2.example.com"; 3])
            .collect::<Vec<_>>()
    );
    let j = journal(&site);
    assert_eq!(j["plan"]["image_version"], json!("2.0.0"));
    assert_eq!(j["bundle"]["version"], json!("2.0.0"));
    assert_eq!(j["bundle"]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn bad_inventory_and_unreachable_apiserver_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.yaml");
    std::fs::write(
        &inv,
        "image_version: v2\nnodes:\n  - name: w1\n    role: worker\n    driver: {command: {program: x, wipes_disk: false}}\n  - name: w1\n    role: worker\n    driver: {command: {program: x, wipes_disk: false}}\n",
    )
    .unwrap();
    for cmd in ["plan", "apply"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mk-rollout"))
            .args([cmd, "--inventory"])
            .arg(&inv)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "mk-rollout {cmd}: {}:6: nodes[1].name: \"w1\" is already nodes[0]",
                inv.display()
            )),
            "{err}"
        );
    }
    // Unreachable apiserver: the first step fails, the state says so.
    let text = "image_version: v2\napiserver: {server: \"https://127.0.0.1:9\", ca: ca, cert: crt, key: key}\nnodes:\n  - name: w1\n    role: worker\n    driver: {command: {program: x, wipes_disk: false}}\n";
    std::fs::write(&inv, text).unwrap();
    let pki = mock::pki();
    std::fs::write(dir.path().join("ca"), &pki.ca_pem).unwrap();
    std::fs::write(dir.path().join("crt"), &pki.client_pem).unwrap();
    std::fs::write(dir.path().join("key"), &pki.client_key_pem).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mk-rollout"))
        .args(["apply", "--inventory"])
        .arg(&inv)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stopped at node w1, step \"cordon\""), "{err}");
    assert!(err.contains("127.0.0.1:9"), "{err}");
}

/// The figure: orchestration overhead per node (cordon, uncordon, the
/// state machine, the journal's fsyncs; no pods to drain, an instant
/// driver, nodes already back) over ten workers in batches of 5.
#[tokio::test]
async fn orchestration_overhead_per_node() {
    let pki = mock::pki();
    let m = Mock::start(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.crt"), &pki.ca_pem).unwrap();
    std::fs::write(d.join("admin.crt"), &pki.client_pem).unwrap();
    std::fs::write(d.join("admin.key"), &pki.client_key_pem).unwrap();
    let mut text = format!(
        "image_version: v2\nworker_batch: 5\napiserver: {{server: \"{}\", ca: ca.crt, cert: admin.crt, key: admin.key}}\nnodes:\n",
        m.url()
    );
    for i in 0..10 {
        let name = format!("w{i}");
        m.put(&node_path(&name), node(&name, "v2", true));
        text.push_str(&format!(
            "  - name: {name}\n    role: worker\n    driver: {{command: {{program: true, wipes_disk: false}}}}\n"
        ));
    }
    let inventory = d.join("inventory.yaml");
    std::fs::write(&inventory, text).unwrap();
    let (code, out, err) = apply(&Site { dir, inventory }).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let line = out.lines().last().unwrap();
    eprintln!("FIGURE {line}");
    assert!(line.contains("50 actions"), "{line}");
    assert_eq!(
        m.take_requests().len(),
        10 * 5,
        "cordon, list, list, get, uncordon per node"
    );
}
