//! The Kubernetes side of one node's upgrade, through mk-kubeapi: cordon,
//! drain through the Eviction API, wait until the node is back on the new
//! image, uncordon. The judgements (which pods to evict, whether a Node is
//! back) are pure functions, tested without an apiserver.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mk_kubeapi::{ApiClient, Eviction};
use serde_json::Value;
use tracing::{debug, info, warn};

/// The label first boot sets from the image recipe's `version` (/usr/lib/mk/image-release).
pub const VERSION_LABEL: &str = "mk.dev/image-version";

/// Why a pod is left on a draining node, as `kubectl drain
/// --ignore-daemonsets` leaves them: DaemonSet pods (their controller
/// ignores unschedulable and would recreate them) and mirror pods (the
/// kubelet's static pods: the API cannot evict them).
pub fn left_alone(pod: &Value) -> Option<&'static str> {
    let meta = &pod["metadata"];
    if meta
        .pointer("/annotations/kubernetes.io~1config.mirror")
        .is_some()
    {
        return Some("mirror pod");
    }
    let daemonset = meta["ownerReferences"].as_array().is_some_and(|o| {
        o.iter()
            .any(|r| r["kind"] == "DaemonSet" && r["controller"] == Value::Bool(true))
    });
    daemonset.then_some("DaemonSet pod")
}

fn pod_id(pod: &Value) -> String {
    format!(
        "{}/{}",
        pod["metadata"]["namespace"].as_str().unwrap_or(""),
        pod["metadata"]["name"].as_str().unwrap_or("")
    )
}

/// Whether the Node is back: condition Ready True and the version label
/// equal to `version`. `Err` says what was seen instead.
pub fn node_back(node: &Value, version: &str) -> Result<(), String> {
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"].as_str().unwrap_or("?").to_string());
    let label = node["metadata"]["labels"][VERSION_LABEL].as_str();
    let os_image = node["status"]["nodeInfo"]["osImage"].as_str().unwrap_or("");
    let seen = format!(
        "Ready={}, {VERSION_LABEL}={}, osImage {:?}",
        ready.as_deref().unwrap_or("unknown"),
        label.map_or("(no label)".to_string(), str::to_string),
        os_image
    );
    if ready.as_deref() == Some("True") && label == Some(version) {
        Ok(())
    } else {
        Err(seen)
    }
}

/// Evicts every pod from `node` except those [`left_alone`], retrying
/// refusals (429: a PodDisruptionBudget) every `poll` until `timeout`;
/// returns when no such pod is left on the node. The error says which pods
/// remain and the last refusal.
pub async fn drain(
    client: &ApiClient,
    node: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<usize, String> {
    let started = Instant::now();
    let mut evicted = 0usize;
    let mut refusals: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let pods = client.pods_on_node(node).await.map_err(|e| e.to_string())?;
        let mut left = Vec::new();
        for p in &pods {
            let id = pod_id(p);
            if let Some(why) = left_alone(p) {
                debug!(node, pod = %id, why, "left on the node");
                continue;
            }
            // A pod being deleted is waited for, not evicted again.
            if p["metadata"]["deletionTimestamp"].is_string() {
                left.push(id);
                continue;
            }
            let ns = p["metadata"]["namespace"].as_str().unwrap_or("");
            let name = p["metadata"]["name"].as_str().unwrap_or("");
            match client.evict(ns, name).await.map_err(|e| e.to_string())? {
                Eviction::Evicted => {
                    info!(node, pod = %id, "evicted");
                    refusals.remove(&id);
                    evicted += 1;
                }
                Eviction::Gone => {
                    refusals.remove(&id);
                }
                Eviction::Refused(why) => {
                    if refusals.insert(id.clone(), why.clone()).is_none() {
                        warn!(node, pod = %id, why, "eviction refused; retrying");
                    }
                    left.push(id);
                }
            }
        }
        if left.is_empty() && refusals.is_empty() {
            // Evicted pods may still be terminating: look once more.
            let still = client
                .pods_on_node(node)
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .filter(|p| left_alone(p).is_none())
                .count();
            if still == 0 {
                return Ok(evicted);
            }
        }
        if started.elapsed() >= timeout {
            let why: Vec<String> = refusals.iter().map(|(p, w)| format!("{p}: {w}")).collect();
            return Err(format!(
                "drain not finished after {:?}: pods left: {}{}",
                timeout,
                left.join(", "),
                if why.is_empty() {
                    String::new()
                } else {
                    format!("; evictions refused: {}", why.join("; "))
                }
            ));
        }
        tokio::time::sleep(poll.min(timeout.saturating_sub(started.elapsed()))).await;
    }
}

/// Polls the Node until [`node_back`] holds or `timeout` passes.
pub async fn wait_back(
    client: &ApiClient,
    node: &str,
    version: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    let path = format!("/api/v1/nodes/{node}");
    loop {
        let seen = match client.get_json(&path).await {
            Ok(n) => match node_back(&n, version) {
                Ok(()) => return Ok(started.elapsed()),
                Err(seen) => seen,
            },
            Err(e) => e.to_string(),
        };
        if started.elapsed() >= timeout {
            return Err(format!(
                "not back on image version {version} after {timeout:?}; last seen: {seen}"
            ));
        }
        debug!(node, seen, "not back yet");
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn daemonset_and_mirror_pods_stay() {
        let ds =
            json!({"metadata": {"ownerReferences": [{"kind": "DaemonSet", "controller": true}]}});
        assert_eq!(left_alone(&ds), Some("DaemonSet pod"));
        let mirror = json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}});
        assert_eq!(left_alone(&mirror), Some("mirror pod"));
        let rs =
            json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "controller": true}]}});
        assert_eq!(left_alone(&rs), None);
        assert_eq!(left_alone(&json!({"metadata": {}})), None);
    }

    #[test]
    fn back_needs_ready_and_the_new_version() {
        let node = |ready: &str, v: Option<&str>| {
            let mut n = json!({"metadata": {"labels": {}}, "status": {
                "conditions": [{"type": "Ready", "status": ready}],
                "nodeInfo": {"osImage": "CentOS Linux 7 (Core)"}}});
            if let Some(v) = v {
                n["metadata"]["labels"][VERSION_LABEL] = json!(v);
            }
            n
        };
        assert_eq!(node_back(&node("True", Some("v2")), "v2"), Ok(()));
        let e = node_back(&node("True", Some("v1")), "v2").unwrap_err();
        assert_eq!(
            e,
            "Ready=True, mk.dev/image-version=v1, osImage \"CentOS Linux 7 (Core)\""
        );
        assert!(node_back(&node("False", Some("v2")), "v2").is_err());
        let e = node_back(&node("True", None), "v2").unwrap_err();
        assert!(e.contains("(no label)"), "{e}");
    }
}
