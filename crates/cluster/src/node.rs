//! The node's own Node object: what kubeadm's mark-control-plane phase
//! adds, and the role config's labels the kubelet may not set itself.
//!
//! Applying it: `spec.taints` is an atomic list for server-side apply (the
//! Node type declares no list keys), so an apply with this body owns the
//! whole list and, forced, would drop taints other managers set (e.g. the
//! node lifecycle controller's `node.kubernetes.io/not-ready`). The kubelet
//! already registers the taint (`--register-with-taints`); the applier
//! should send the taint only when it is missing, merged into the list it
//! read, as kubeadm's read-modify-patch does.

use std::collections::BTreeMap;

use mk_roleconfig::Role;
use serde_json::json;

use crate::{ApiObject, Inputs};

/// kubeadm's control-plane role label.
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";
/// Keeps control planes out of external load balancers' backends (kubeadm).
pub const EXCLUDE_FROM_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// Taint key of a control plane that runs no workloads.
pub const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";

/// The Node apply configuration for this node. A control plane gets
/// kubeadm's two labels, the taint `node-role.kubernetes.io/control-plane:
/// NoSchedule` unless it also has the worker role, and the API-only labels
/// of `spec.labels`. Any other node gets just its API-only labels, or
/// `None` when there are none.
pub fn control_plane(inputs: &Inputs) -> Option<ApiObject> {
    let spec = &inputs.config.spec;
    let mut labels: BTreeMap<String, String> = mk_nodeconf::api_only_labels(&spec.labels);
    let mut rest = json!({});
    if spec.is_control_plane() {
        labels.insert(CONTROL_PLANE_LABEL.into(), String::new());
        labels.insert(EXCLUDE_FROM_LB_LABEL.into(), String::new());
        if !spec.roles.contains(&Role::Worker) {
            rest = json!({ "spec": { "taints": [
                { "effect": "NoSchedule", "key": CONTROL_PLANE_TAINT },
            ] } });
        }
    } else if labels.is_empty() {
        return None;
    }
    Some(ApiObject::new(
        "v1",
        "Node",
        "nodes",
        None,
        &inputs.config.metadata.name,
        json!({ "labels": labels }),
        rest,
    ))
}

/// `obj` without `spec.taints`, and the taints it carried. What is applied
/// is the labels alone: `spec.taints` is atomic (see the module doc), and
/// the kubelet registers the taint itself; the taints are then checked on
/// the live Node with [`missing_taints`].
pub fn split_taints(obj: &ApiObject) -> (ApiObject, Vec<serde_json::Value>) {
    let mut labels_only = obj.clone();
    let taints = labels_only
        .body
        .as_object_mut()
        .and_then(|b| b.remove("spec"))
        .and_then(|mut s| s.get_mut("taints").map(serde_json::Value::take))
        .and_then(|t| t.as_array().cloned())
        .unwrap_or_default();
    (labels_only, taints)
}

/// The wanted taints (`key:effect`) that the live Node lacks.
pub fn missing_taints(wanted: &[serde_json::Value], live_node: &serde_json::Value) -> Vec<String> {
    let live = live_node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    wanted
        .iter()
        .filter(|w| {
            !live
                .iter()
                .any(|l| l["key"] == w["key"] && l["effect"] == w["effect"])
        })
        .map(|w| {
            format!(
                "{}:{}",
                w["key"].as_str().unwrap_or_default(),
                w["effect"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_are_split_off_and_checked_on_the_live_node() {
        let obj = ApiObject::new(
            "v1",
            "Node",
            "nodes",
            None,
            "cp1.example.com",
            json!({"labels": {CONTROL_PLANE_LABEL: ""}}),
            json!({"spec": {"taints": [{"effect": "NoSchedule", "key": CONTROL_PLANE_TAINT}]}}),
        );
        let (labels, taints) = split_taints(&obj);
        assert!(labels.body.get("spec").is_none());
        assert_eq!(labels.body["metadata"]["labels"][CONTROL_PLANE_LABEL], "");
        assert_eq!(taints.len(), 1);
        let registered = json!({"spec": {"taints": [
            {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
            {"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"},
        ]}});
        assert!(missing_taints(&taints, &registered).is_empty());
        assert_eq!(
            missing_taints(&taints, &json!({"spec": {}})),
            ["node-role.kubernetes.io/control-plane:NoSchedule"]
        );
    }
}
