//! The kubelet-serving CSR approver (`mk-firstboot approve-csrs`) against
//! mk-kubeapi's mock apiserver, which answers like kube-apiserver v1.28.7
//! (calls/f1, f2, f3). The CSRs are real PKCS#10 requests (rcgen) shaped
//! like the kubelet's: `CN=system:node:<node>, O=system:nodes`, the node's
//! DNS name and IP address.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mk_firstboot::approver::{self, PassReport, APPROVAL_REASON};
use mk_kubeapi::decide::APPROVAL_MESSAGE;
use mk_kubeapi::ApiClient;
use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use serde_json::{json, Value};

const SERVING: &str = "kubernetes.io/kubelet-serving";
const CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const NODE: &str = "cp1.example.com";
/// calls/f1's request names this address.
const IP: &str = "198.18.0.10";

/// base64 of the PEM of a CSR as a kubelet makes it, for `node` with
/// `dns` and `ips`.
fn request(node: &str, dns: &[&str], ips: &[&str]) -> String {
    let mut p =
        CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>()).unwrap();
    for ip in ips {
        p.subject_alt_names
            .push(SanType::IpAddress(ip.parse().unwrap()));
    }
    p.distinguished_name
        .push(DnType::OrganizationName, "system:nodes");
    p.distinguished_name
        .push(DnType::CommonName, format!("system:node:{node}"));
    let key = KeyPair::generate().unwrap();
    base64(p.serialize_request(&key).unwrap().pem().unwrap().as_bytes())
}

fn base64(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = u32::from(c[0]) << 16
            | u32::from(*c.get(1).unwrap_or(&0)) << 8
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A kubelet's serving CSR as the apiserver holds it (f1's answer, but
/// requested by the node).
fn node_csr(name: &str, node: &str, dns: &[&str], ips: &[&str]) -> Value {
    mock::csr(
        name,
        SERVING,
        &request(node, dns, ips),
        &format!("system:node:{node}"),
        &["system:nodes", "system:authenticated"],
    )
}

fn the_node() -> Value {
    mock::node(NODE, &[("InternalIP", IP), ("Hostname", NODE)])
}

struct Api {
    mock: mock::Mock,
    client: ApiClient,
    _pki: mock::Pki,
}

async fn setup() -> Api {
    let pki = mock::pki();
    let mock = mock::Mock::start(&pki).await;
    let client = mk_kubeapi::client(&pki.credentials(&mock.url()))
        .unwrap()
        .with_timing(Duration::from_secs(5), Duration::from_millis(100));
    Api {
        mock,
        client,
        _pki: pki,
    }
}

impl Api {
    fn put_csr(&self, csr: &Value) {
        let name = csr["metadata"]["name"].as_str().unwrap();
        self.mock.put(&mock::csr_path(name), csr.clone());
    }

    fn put_node(&self, node: &Value) {
        let name = node["metadata"]["name"].as_str().unwrap();
        self.mock
            .put(&format!("/api/v1/nodes/{name}"), node.clone());
    }

    fn status(&self, csr: &str) -> Value {
        self.mock.get(&mock::csr_path(csr)).unwrap()["status"].clone()
    }

    fn puts(&self) -> Vec<mock::Recorded> {
        self.mock
            .take_requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }
}

/// What the pass logs, at every level.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// One pass, with what it logged.
async fn pass_logged(api: &Api) -> (PassReport, String) {
    let logs = Logs::default();
    let w = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    // Current-thread test runtime: the pass runs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let report = approver::pass(&api.client).await.unwrap();
    (report, logs.text())
}

#[tokio::test]
async fn a_kubelets_own_names_are_approved_as_kubectl_would() {
    let api = setup().await;
    let live = node_csr("csr-cp1-serving", NODE, &[NODE], &[IP]);
    api.put_csr(&live);
    api.put_node(&the_node());

    let (report, _) = pass_logged(&api).await;
    assert_eq!(report.approved, ["csr-cp1-serving"], "{report:?}");
    assert!(report.refused.is_empty() && report.waiting.is_empty() && report.failed.is_empty());

    let requests = api.mock.take_requests();
    let calls: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "GET",
                "/apis/certificates.k8s.io/v1/certificatesigningrequests"
            ),
            ("GET", "/api/v1/nodes"),
            (
                "PUT",
                "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-cp1-serving/approval"
            ),
        ]
    );
    // f2, call 3: the live object (kind and apiVersion too, resourceVersion
    // kept), with one Approved condition.
    let put = &requests[2];
    assert_eq!(put.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_str(&put.body).unwrap();
    let mut want = live.clone();
    want["status"] = json!({"conditions": [{
        "type": "Approved",
        "status": "True",
        "reason": APPROVAL_REASON,
        "message": APPROVAL_MESSAGE,
        "lastUpdateTime": body["status"]["conditions"][0]["lastUpdateTime"],
        "lastTransitionTime": null,
    }]});
    assert_eq!(body, want);
    assert_eq!(body["metadata"]["resourceVersion"], "475");
    assert_eq!(
        api.status("csr-cp1-serving")["conditions"][0]["type"],
        "Approved"
    );

    // Decided now: the next pass reads the CSRs and nothing else.
    let (report, _) = pass_logged(&api).await;
    assert_eq!(report, PassReport::default());
    let paths: Vec<String> = api
        .mock
        .take_requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        paths,
        ["/apis/certificates.k8s.io/v1/certificatesigningrequests"]
    );
}

#[tokio::test]
async fn names_that_are_not_the_nodes_stay_pending_with_the_reason_logged() {
    let api = setup().await;
    api.put_node(&the_node());
    api.put_csr(&node_csr(
        "csr-other-dns",
        NODE,
        &[NODE, "other.example.com"],
        &[IP],
    ));
    api.put_csr(&node_csr(
        "csr-other-ip",
        NODE,
        &[NODE],
        &[IP, "198.18.0.99"],
    ));
    // Another node's name, asked for with this node's identity.
    api.put_csr(&node_csr("csr-other-node", NODE, &["cp2.example.com"], &[]));

    let (report, logs) = pass_logged(&api).await;
    assert!(report.approved.is_empty(), "{report:?}");
    let refused: Vec<&str> = report.refused.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(refused, ["csr-other-dns", "csr-other-ip", "csr-other-node"]);
    for (csr, names) in [
        ("csr-other-dns", "other.example.com"),
        ("csr-other-ip", "198.18.0.99"),
        ("csr-other-node", "cp2.example.com"),
    ] {
        let line = logs
            .lines()
            .find(|l| l.contains(csr))
            .unwrap_or_else(|| panic!("{csr} not logged: {logs}"));
        assert!(line.contains("WARN"), "{line}");
        assert!(
            line.contains(names) && line.contains("is not the node's"),
            "{line}"
        );
        assert!(line.contains("system:node:cp1.example.com"), "{line}");
        assert_eq!(api.status(csr), json!({}), "{csr} was changed");
    }
    // Neither approved nor denied: nothing written.
    assert!(api.puts().is_empty());
}

#[tokio::test]
async fn other_signers_and_decided_csrs_are_left_alone() {
    let api = setup().await;
    api.put_node(&the_node());
    // A kubelet client CSR: kube-controller-manager's to approve.
    let mut client = node_csr("csr-client", NODE, &[], &[]);
    client["spec"]["signerName"] = json!(CLIENT_KUBELET);
    client["spec"]["usages"] = json!(["digital signature", "client auth"]);
    api.put_csr(&client);
    let mut approved = node_csr("csr-approved", NODE, &[NODE], &[IP]);
    approved["status"] = json!({"conditions": [{"type": "Approved", "status": "True",
        "reason": "KubectlApprove", "lastUpdateTime": "2026-12-06T22:44:33Z",
        "lastTransitionTime": "2026-12-06T22:44:33Z"}]});
    api.put_csr(&approved);
    let mut denied = node_csr("csr-denied", NODE, &[NODE], &[IP]);
    denied["status"] = json!({"conditions": [{"type": "Denied", "status": "True"}]});
    api.put_csr(&denied);

    let (report, _) = pass_logged(&api).await;
    assert_eq!(report, PassReport::default());
    // Nothing pending of ours: not even the Nodes are read.
    let paths: Vec<String> = api
        .mock
        .take_requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        paths,
        ["/apis/certificates.k8s.io/v1/certificatesigningrequests"]
    );
    assert_eq!(api.status("csr-client"), json!({}));
    assert_eq!(api.status("csr-approved"), approved["status"]);
    assert_eq!(api.status("csr-denied"), denied["status"]);

    // With a pending serving CSR beside them, still only that one is touched.
    api.put_csr(&node_csr("csr-new", NODE, &[NODE], &[IP]));
    let (report, _) = pass_logged(&api).await;
    assert_eq!(report.approved, ["csr-new"]);
    let puts = api.puts();
    assert_eq!(puts.len(), 1);
    assert!(puts[0].path.ends_with("/csr-new/approval"), "{puts:?}");
}

#[tokio::test]
async fn a_csr_waits_for_its_node_and_is_approved_once_it_registers() {
    let api = setup().await;
    api.put_csr(&node_csr("csr-early", NODE, &[NODE], &[IP]));
    let (report, _) = pass_logged(&api).await;
    assert_eq!(
        report.waiting,
        [("csr-early".to_string(), NODE.to_string())],
        "{report:?}"
    );
    assert!(report.approved.is_empty() && report.refused.is_empty());
    assert!(api.puts().is_empty());
    assert_eq!(api.status("csr-early"), json!({}));

    // The kubelet registers; the next pass approves.
    api.put_node(&the_node());
    let (report, _) = pass_logged(&api).await;
    assert_eq!(report.approved, ["csr-early"], "{report:?}");
}

#[tokio::test]
async fn a_conflicting_approval_is_retried_once() {
    let api = setup().await;
    api.put_node(&the_node());
    api.put_csr(&node_csr("csr-raced", NODE, &[NODE], &[IP]));
    api.mock.approval_race(&mock::csr_path("csr-raced"), 1);
    let (report, logs) = pass_logged(&api).await;
    assert_eq!(report.approved, ["csr-raced"], "{report:?}");
    assert!(logs.contains("HTTP 409"), "{logs}");
    let calls: Vec<(String, String)> = api
        .mock
        .take_requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .skip(2)
        .collect();
    let path = mock::csr_path("csr-raced");
    assert_eq!(
        calls,
        [
            ("PUT".to_string(), format!("{path}/approval")),
            ("GET".to_string(), path.clone()),
            ("PUT".to_string(), format!("{path}/approval")),
        ]
    );
    assert_eq!(api.status("csr-raced")["conditions"][0]["type"], "Approved");

    // Raced twice: reported as failed (exit 1), left for the next pass.
    api.put_csr(&node_csr("csr-raced-twice", NODE, &[NODE], &[IP]));
    api.mock
        .approval_race(&mock::csr_path("csr-raced-twice"), 2);
    let (report, _) = pass_logged(&api).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].1.contains("409"), "{report:?}");
    assert_eq!(api.status("csr-raced-twice"), json!({}));
    let (report, _) = pass_logged(&api).await;
    assert_eq!(report.approved, ["csr-raced-twice"]);
}

#[test]
fn the_command_names_what_it_lacks() {
    let root = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mk-firstboot"))
            .arg("approve-csrs")
            .arg("--root")
            .arg(root.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("controller-manager.conf"), "{err}");

    let k = root.path().join("etc/kubernetes");
    std::fs::create_dir_all(k.join("pki")).unwrap();
    std::fs::write(
        k.join("controller-manager.conf"),
        "clusters:\n- cluster:\n    server: https://cp1.example.com:6443\n",
    )
    .unwrap();
    std::fs::write(k.join("pki/ca.crt"), "").unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kubernetes intermediate") && err.contains("ca-intermediate"),
        "{err}"
    );
}

// mk-kubeapi's mock apiserver, as tests/end_to_end.rs includes it.
#[path = "../../crates/kubeapi/tests/mock/mod.rs"]
mod mock;
