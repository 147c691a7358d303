//! The kubelet-serving CSR approver (`mk-firstboot approve-csrs`, run every
//! minute on control planes by mk-csr-approver.timer; docs/pki.md).
//!
//! kube-controller-manager approves kubelet *client* CSRs itself; nothing
//! in Kubernetes approves `kubernetes.io/kubelet-serving` ones. One pass
//! lists the CSRs, and for each pending serving CSR applies
//! [`mk_pki::csr::review_kubelet_serving`] against the Node its requester
//! (`system:node:<name>`) names: approve when every rule holds; otherwise
//! leave it pending and say why (never deny: see docs/pki.md, "Kubelet
//! serving certificates"). A pending CSR is reviewed again at the next
//! pass, so one whose Node is not registered yet, or whose Node's
//! addresses lag, is approved as soon as the Node agrees.
//!
//! [`decide`] is the pure selection; [`pass`] the requests; [`run`] the
//! command: an in-memory `CN=mk:csr-approver` credential (no group, bound
//! by RBAC to approving this signer only) minted by the node's kubernetes
//! intermediate, valid 15 minutes, never written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mk_kubeapi::decide::{csr_decided, CSR_COLLECTION};
use mk_kubeapi::{ApiClient, ApiError, Credentials};
use mk_pki::csr::{
    review_kubelet_serving, CsrSpec, NodeAddresses, Review, KUBELET_SERVING_SIGNER,
    NODE_USER_PREFIX,
};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

/// The user the approver's credential names (CN, no O): RBAC lets it
/// read CSRs and Nodes and approve for kubelet-serving, nothing more.
pub const USER: &str = mk_cluster::rbac::CSR_APPROVER_USER;
/// The `reason` of our Approved condition (kubectl's is `KubectlApprove`).
pub const APPROVAL_REASON: &str = "MkNodeNamesMatch";
/// The credential outlives a pass (bounded by [`Options::timeout`]) and
/// is worthless soon after.
pub const CREDENTIAL_LIFETIME: time::Duration = time::Duration::minutes(15);
/// The collection of Nodes.
pub const NODES: &str = "/api/v1/nodes";
/// Where the control plane's kubeconfigs name the local apiserver
/// (`https://<node name>:6443`, a name its certificate carries).
pub const LOCAL_KUBECONFIG: &str = "/etc/kubernetes/controller-manager.conf";
/// The cluster CA the apiserver's certificate chains to.
pub const CA: &str = "/etc/kubernetes/pki/ca.crt";

/// What to do with one pending kubelet-serving CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every rule holds against its Node.
    Approve,
    /// No Node of the requester's name yet: left pending, reviewed again at
    /// the next pass.
    WaitForNode { node: String },
    /// A rule is broken: left pending (not denied), with one reason per
    /// broken rule.
    Refused { reasons: Vec<String> },
}

/// The verdict on one CSR, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub csr: String,
    /// `spec.username`, for messages.
    pub requester: String,
    pub verdict: Verdict,
}

/// Whether `csr` is ours to review: signer kubelet-serving, no Approved,
/// Denied or Failed condition.
pub fn pending_serving(csr: &Value) -> bool {
    csr.pointer("/spec/signerName").and_then(Value::as_str) == Some(KUBELET_SERVING_SIGNER)
        && csr_decided(csr).is_none()
}

/// The verdict on every pending kubelet-serving CSR of `csrs` (list items),
/// given the cluster's `nodes` (list items). Other signers' CSRs and
/// decided ones are not in the result. Pure.
pub fn decide(csrs: &[Value], nodes: &[Value]) -> Vec<Decision> {
    // A Node that does not read is a reason against its CSRs, not an error
    // of the pass.
    let mut by_name: BTreeMap<&str, Result<NodeAddresses, String>> = BTreeMap::new();
    for n in nodes {
        if let Some(name) = n.pointer("/metadata/name").and_then(Value::as_str) {
            by_name.insert(name, NodeAddresses::from_node_json(n));
        }
    }
    let mut out = Vec::new();
    for csr in csrs.iter().filter(|c| pending_serving(c)) {
        // The apiserver names every object; an unnamed one cannot be acted on.
        let Some(name) = csr.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        let spec = match csr.get("spec").map(CsrSpec::deserialize) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                out.push(refused(name, "", vec![format!("spec does not read: {e}")]));
                continue;
            }
            None => {
                out.push(refused(name, "", vec!["spec is missing".into()]));
                continue;
            }
        };
        let requester = spec.username.clone();
        let Some(node) = requester.strip_prefix(NODE_USER_PREFIX) else {
            out.push(refused(
                name,
                &requester,
                vec![format!(
                    "requester {requester:?} is not a node, expected \
                     \"{NODE_USER_PREFIX}<node name>\""
                )],
            ));
            continue;
        };
        let verdict = match by_name.get(node) {
            None => Verdict::WaitForNode {
                node: node.to_string(),
            },
            Some(Err(e)) => Verdict::Refused {
                reasons: vec![format!("Node {node} does not read: {e}")],
            },
            Some(Ok(addresses)) => match review_kubelet_serving(&spec, addresses) {
                Review::Approve => Verdict::Approve,
                Review::Deny { reasons } => Verdict::Refused { reasons },
                // Filtered on the signer above; kept total all the same.
                Review::NotOurs => continue,
            },
        };
        out.push(Decision {
            csr: name.to_string(),
            requester,
            verdict,
        });
    }
    out
}

fn refused(csr: &str, requester: &str, reasons: Vec<String>) -> Decision {
    Decision {
        csr: csr.to_string(),
        requester: requester.to_string(),
        verdict: Verdict::Refused { reasons },
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// CSR names approved.
    pub approved: Vec<String>,
    /// (CSR, Node) whose Node is not registered yet.
    pub waiting: Vec<(String, String)>,
    /// (CSR, reasons) left pending because they break the rule.
    pub refused: Vec<(String, Vec<String>)>,
    /// (CSR, error) whose approval request failed; retried next pass.
    pub failed: Vec<(String, String)>,
}

impl PassReport {
    /// One line per CSR approved, waiting or failed. Refusals are not
    /// repeated here: [`pass`] logs each as a warning with its reasons.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for c in &self.approved {
            s.push_str(&format!("approved CSR {c}\n"));
        }
        for (c, n) in &self.waiting {
            s.push_str(&format!(
                "pending CSR {c}: Node {n} is not registered yet; reviewed again next pass\n"
            ));
        }
        for (c, e) in &self.failed {
            s.push_str(&format!("FAILED to approve CSR {c}: {e}\n"));
        }
        s
    }
}

/// One pass: list the CSRs, read the Nodes if any serving CSR is pending,
/// approve what [`decide`] approves. A failed approval is reported and
/// the pass goes on; a failed list is an error. Every request is bounded
/// by the client's request timeout.
pub async fn pass(client: &ApiClient) -> Result<PassReport, ApiError> {
    let csrs = client.list_json(CSR_COLLECTION, None).await?;
    let mut report = PassReport::default();
    if !csrs.iter().any(pending_serving) {
        tracing::debug!(csrs = csrs.len(), "no pending kubelet serving CSR");
        return Ok(report);
    }
    let nodes = client.list_json(NODES, None).await?;
    let live: BTreeMap<&str, &Value> = csrs
        .iter()
        .filter_map(|c| Some((c.pointer("/metadata/name")?.as_str()?, c)))
        .collect();
    for d in decide(&csrs, &nodes) {
        match d.verdict {
            Verdict::Approve => {
                let csr = live[d.csr.as_str()];
                match client.approve_csr(&d.csr, csr, APPROVAL_REASON).await {
                    Ok(_) => report.approved.push(d.csr),
                    Err(e) => {
                        tracing::warn!(csr = %d.csr, requester = %d.requester, error = %e,
                            "approving the kubelet serving CSR failed; retried next pass");
                        report.failed.push((d.csr, e.to_string()));
                    }
                }
            }
            Verdict::WaitForNode { node } => {
                tracing::info!(csr = %d.csr, node, "no such Node yet: CSR left pending");
                report.waiting.push((d.csr, node));
            }
            Verdict::Refused { reasons } => {
                tracing::warn!(
                    csr = %d.csr,
                    requester = %d.requester,
                    reasons = %reasons.join("; "),
                    "kubelet serving CSR not approved: its names are not exactly the Node's; \
                     left pending (kube-controller-manager deletes it after 24 h)"
                );
                report.refused.push((d.csr, reasons));
            }
        }
    }
    Ok(report)
}

/// What `mk-firstboot approve-csrs` is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// Node root: the intermediate, ca.crt and the kubeconfig are under it.
    pub root: PathBuf,
    /// The apiserver URL; default the local one of [`LOCAL_KUBECONFIG`].
    pub server: Option<String>,
    /// Bound of the whole pass.
    pub timeout: Duration,
}

/// The `server:` of a kubeconfig (the one cluster mk writes).
pub fn kubeconfig_server(text: &str) -> Option<String> {
    let servers: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server:"))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\''))
        .filter(|v| !v.is_empty())
        .collect();
    match servers.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// The approver's credential for `server`: `CN=mk:csr-approver` from the
/// node's kubernetes intermediate, in memory only.
pub fn credentials(root: &Path, server: &str, now: OffsetDateTime) -> Result<Credentials, String> {
    let ca_path = under(root, CA);
    let ca_pem = std::fs::read_to_string(&ca_path).map_err(|e| {
        format!(
            "{}: {e} (the cluster CA, expected on a control plane)",
            ca_path.display()
        )
    })?;
    let ca = mk_pki::ephemeral::node_intermediate(root, mk_pki::Realm::Kubernetes).map_err(|e| {
        format!("the node's kubernetes intermediate (needed to mint the approver's credential): {e}")
    })?;
    let c = mk_pki::ephemeral::client(&ca, USER, &[], now, CREDENTIAL_LIFETIME)
        .map_err(|e| format!("minting the {USER} credential: {e}"))?;
    Ok(Credentials {
        server: server.to_string(),
        tls_server_name: None,
        ca_pem,
        cert_chain_pem: c.chain_pem,
        key_pem: c.key_pem,
    })
}

/// `mk-firstboot approve-csrs`: one bounded pass on a current-thread runtime.
pub fn run(opts: &Options) -> Result<PassReport, String> {
    let server = match &opts.server {
        Some(s) => s.clone(),
        None => {
            let path = under(&opts.root, LOCAL_KUBECONFIG);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "{}: {e} (it names the local apiserver; give --server on a node without it)",
                    path.display()
                )
            })?;
            kubeconfig_server(&text).ok_or_else(|| {
                format!(
                    "{}: expected exactly one `server:` (the local apiserver's URL)",
                    path.display()
                )
            })?
        }
    };
    let creds = credentials(&opts.root, &server, OffsetDateTime::now_utc())?;
    let (rt, client) = crate::cluster::api_client(&creds)?;
    rt.block_on(async {
        match tokio::time::timeout(opts.timeout, pass(&client)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "the pass against {server} did not finish within {:?}",
                opts.timeout
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn csr(name: &str, signer: &str, user: &str, conditions: Value) -> Value {
        json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "1"},
            "spec": {
                "request": "not a request", "signerName": signer,
                "usages": ["server auth"], "username": user, "groups": ["system:nodes"],
            },
            "status": {"conditions": conditions},
        })
    }

    fn node(name: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}})
    }

    #[test]
    fn only_pending_kubelet_serving_csrs_are_reviewed() {
        let csrs = [
            csr("a", KUBELET_SERVING_SIGNER, "system:node:n1", json!(null)),
            csr(
                "b",
                "kubernetes.io/kube-apiserver-client-kubelet",
                "system:node:n1",
                json!(null),
            ),
            csr(
                "c",
                KUBELET_SERVING_SIGNER,
                "system:node:n1",
                json!([{"type": "Approved", "status": "True"}]),
            ),
            csr(
                "d",
                KUBELET_SERVING_SIGNER,
                "system:node:n1",
                json!([{"type": "Denied", "status": "True"}]),
            ),
            csr(
                "e",
                KUBELET_SERVING_SIGNER,
                "system:node:n1",
                json!([{"type": "Failed", "status": "True"}]),
            ),
        ];
        let d = decide(&csrs, &[node("n1")]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].csr, "a");
        assert!(
            pending_serving(&csrs[0]) && !pending_serving(&csrs[1]) && !pending_serving(&csrs[2])
        );
    }

    #[test]
    fn a_csr_of_an_unregistered_node_waits() {
        let csrs = [csr(
            "a",
            KUBELET_SERVING_SIGNER,
            "system:node:n2",
            json!([]),
        )];
        assert_eq!(
            decide(&csrs, &[node("n1")])[0].verdict,
            Verdict::WaitForNode { node: "n2".into() }
        );
        assert_eq!(
            decide(&csrs, &[])[0].verdict,
            Verdict::WaitForNode { node: "n2".into() }
        );
    }

    #[test]
    fn a_non_node_requester_or_broken_request_is_refused_with_reasons() {
        let csrs = [
            csr(
                "admin",
                KUBELET_SERVING_SIGNER,
                "kubernetes-admin",
                json!([]),
            ),
            csr(
                "garbage",
                KUBELET_SERVING_SIGNER,
                "system:node:n1",
                json!([]),
            ),
        ];
        let d = decide(&csrs, &[node("n1")]);
        let Verdict::Refused { reasons } = &d[0].verdict else {
            panic!("{d:?}")
        };
        assert!(
            reasons[0].contains("\"kubernetes-admin\" is not a node"),
            "{reasons:?}"
        );
        assert_eq!(d[0].requester, "kubernetes-admin");
        let Verdict::Refused { reasons } = &d[1].verdict else {
            panic!("{d:?}")
        };
        assert!(
            reasons.iter().any(|r| r.contains("spec.request")),
            "{reasons:?}"
        );
        // A spec that does not read at all.
        let mut bad = csr("bad", KUBELET_SERVING_SIGNER, "system:node:n1", json!([]));
        bad["spec"]["usages"] = json!("server auth");
        assert!(
            matches!(&decide(&[bad], &[])[0].verdict, Verdict::Refused { reasons } if reasons[0].contains("spec does not read"))
        );
    }

    #[test]
    fn an_unreadable_node_refuses_its_csrs() {
        let csrs = [csr(
            "a",
            KUBELET_SERVING_SIGNER,
            "system:node:n1",
            json!([]),
        )];
        let broken = json!({"metadata": {"name": "n1"}, "status": {"addresses": "10.0.0.1"}});
        assert!(
            matches!(&decide(&csrs, &[broken])[0].verdict, Verdict::Refused { reasons } if reasons[0].contains("Node n1"))
        );
    }

    #[test]
    fn the_local_apiserver_is_read_from_the_kubeconfig() {
        let text = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority: /etc/kubernetes/pki/ca.crt\n    server: https://cp1.example.com:6443\n  name: lab\n";
        assert_eq!(
            kubeconfig_server(text).as_deref(),
            Some("https://cp1.example.com:6443")
        );
        assert_eq!(
            kubeconfig_server("server: 'https://a:1'\n").as_deref(),
            Some("https://a:1")
        );
        assert_eq!(kubeconfig_server("clusters: []\n"), None);
        assert_eq!(
            kubeconfig_server("server: https://a\nserver: https://b\n"),
            None
        );
    }

    #[test]
    fn the_summary_names_each_csr() {
        let r = PassReport {
            approved: vec!["a".into()],
            waiting: vec![("b".into(), "n2".into())],
            refused: vec![("c".into(), vec!["x".into(), "y".into()])],
            failed: vec![("d".into(), "HTTP 403".into())],
        };
        let s = r.summary();
        for want in [
            "approved CSR a\n",
            "CSR b: Node n2",
            "FAILED to approve CSR d: HTTP 403",
        ] {
            assert!(s.contains(want), "{s}");
        }
        assert!(!s.contains("CSR c"), "{s}");
    }
}
