//! The RBAC kubeadm 1.28.7 creates in its upload-config and bootstrap-token
//! phases (cmd/kubeadm/app/phases/{uploadconfig,bootstraptoken/node,
//! bootstraptoken/clusterinfo}), plus `kubeadm:node-proxier` (addon
//! kube-proxy; its Role and RoleBinding `kube-proxy` are in [`kubeproxy`])
//! and `kubeadm:cluster-admins` (kubeadm 1.29+), and mk's bindings for the
//! kubelets' re-bootstrap credential (`mk:node-recovery-*`) and for the
//! kubelet-serving CSR approver (`mk:kubelet-serving-approver`).
//!
//! Left out on purpose: Role/RoleBinding `kubeadm:kubeadm-certs`, which
//! let joining control planes read the uploaded CA keys; mk never uploads
//! them (R24).
//!
//! [`kubeproxy`]: crate::kubeproxy

use serde_json::{json, Value};

use mk_pki::plan::NODE_RECOVERY_GROUP;

use crate::tokens::DEFAULT_NODE_TOKEN_GROUP;
use crate::{ApiObject, ClusterError, Inputs};

const RBAC: &str = "rbac.authorization.k8s.io/v1";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The group the kubelets' client certificates carry.
const NODES_GROUP: &str = "system:nodes";
/// The group of admin.conf's user (kubeadm 1.29+), bound to `cluster-admin`
/// instead of putting admin.conf in `system:masters`, which bypasses RBAC.
pub const CLUSTER_ADMINS_GROUP: &str = "kubeadm:cluster-admins";

/// The user of `mk-firstboot approve-csrs`' in-memory credential (CN, no O):
/// it may approve kubelet serving CSRs and nothing else.
pub const CSR_APPROVER_USER: &str = "mk:csr-approver";
/// Its ClusterRole and ClusterRoleBinding.
pub const CSR_APPROVER_ROLE: &str = "mk:kubelet-serving-approver";

/// Every RBAC object above, Roles before the bindings that name them.
pub fn objects(_inputs: &Inputs) -> Result<Vec<ApiObject>, ClusterError> {
    let token = DEFAULT_NODE_TOKEN_GROUP;
    Ok(vec![
        // First: from here on admin.conf works, whatever fails later.
        cluster_role_binding(
            CLUSTER_ADMINS_GROUP,
            "cluster-admin",
            vec![group(CLUSTER_ADMINS_GROUP)],
        ),
        // upload-config: joining nodes read kubeadm-config and kubelet-config
        // (with their bootstrap token, then as nodes).
        read_configmap_role(
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            "kubeadm-config",
        ),
        role_binding(
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            vec![group(token), group(NODES_GROUP)],
        ),
        read_configmap_role("kube-system", "kubeadm:kubelet-config", "kubelet-config"),
        role_binding(
            "kube-system",
            "kubeadm:kubelet-config",
            vec![group(NODES_GROUP), group(token)],
        ),
        // bootstrap-token: `kubeadm join` checks whether a Node of its name exists.
        ApiObject::new(
            RBAC,
            "ClusterRole",
            "clusterroles",
            None,
            "kubeadm:get-nodes",
            json!({}),
            json!({ "rules": [{ "apiGroups": [""], "resources": ["nodes"], "verbs": ["get"] }] }),
        ),
        cluster_role_binding("kubeadm:get-nodes", "kubeadm:get-nodes", vec![group(token)]),
        // Bootstrapping kubelets may create CSRs ...
        cluster_role_binding(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            vec![group(token)],
        ),
        // ... which the csrapprover controller approves for them ...
        cluster_role_binding(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![group(token)],
        ),
        // ... and for nodes renewing their own client certificate.
        cluster_role_binding(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![group(NODES_GROUP)],
        ),
        // Discovery: anyone may read cluster-info (its JWS signatures are
        // what a joining node trusts, not the connection).
        read_configmap_role(
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            "cluster-info",
        ),
        role_binding(
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            vec![json!({ "apiGroup": RBAC_GROUP, "kind": "User", "name": "system:anonymous" })],
        ),
        // addon kube-proxy: the kube-proxy service account gets node-proxier.
        cluster_role_binding(
            "kubeadm:node-proxier",
            "system:node-proxier",
            vec![
                json!({ "kind": "ServiceAccount", "name": "kube-proxy", "namespace": "kube-system" }),
            ],
        ),
        // mk's re-bootstrap credential (docs/pki.md, "Power-offs and
        // renewal"): a worker back after its client certificate expired
        // asks for a new one with it, as a bootstrap token would.
        cluster_role_binding(
            "mk:node-recovery-bootstrap",
            "system:node-bootstrapper",
            vec![group(NODE_RECOVERY_GROUP)],
        ),
        cluster_role_binding(
            "mk:node-recovery-autoapprove",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![group(NODE_RECOVERY_GROUP)],
        ),
        // The kubelet-serving CSR approver (docs/pki.md).
        csr_approver_role(),
        csr_approver_binding(),
    ])
}

/// What `mk-firstboot approve-csrs` needs: read CSRs and Nodes, approve for
/// the kubelet-serving signer only. No deny: it leaves what it will not
/// approve pending (docs/pki.md).
fn csr_approver_role() -> ApiObject {
    ApiObject::new(
        RBAC,
        "ClusterRole",
        "clusterroles",
        None,
        CSR_APPROVER_ROLE,
        json!({}),
        json!({ "rules": [
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["certificatesigningrequests"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["certificatesigningrequests/approval"],
                "verbs": ["update"],
            },
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["signers"],
                "resourceNames": [mk_pki::csr::KUBELET_SERVING_SIGNER],
                "verbs": ["approve"],
            },
            { "apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"] },
        ] }),
    )
}

fn csr_approver_binding() -> ApiObject {
    cluster_role_binding(
        CSR_APPROVER_ROLE,
        CSR_APPROVER_ROLE,
        vec![json!({ "apiGroup": RBAC_GROUP, "kind": "User", "name": CSR_APPROVER_USER })],
    )
}

fn group(name: &str) -> Value {
    json!({ "apiGroup": RBAC_GROUP, "kind": "Group", "name": name })
}

/// A Role allowing `get` on one ConfigMap.
fn read_configmap_role(namespace: &str, name: &str, configmap: &str) -> ApiObject {
    ApiObject::new(
        RBAC,
        "Role",
        "roles",
        Some(namespace),
        name,
        json!({}),
        json!({ "rules": [{
            "apiGroups": [""],
            "resourceNames": [configmap],
            "resources": ["configmaps"],
            "verbs": ["get"],
        }] }),
    )
}

/// A RoleBinding to the Role of the same name.
fn role_binding(namespace: &str, name: &str, subjects: Vec<Value>) -> ApiObject {
    ApiObject::new(
        RBAC,
        "RoleBinding",
        "rolebindings",
        Some(namespace),
        name,
        json!({}),
        json!({
            "roleRef": { "apiGroup": RBAC_GROUP, "kind": "Role", "name": name },
            "subjects": subjects,
        }),
    )
}

fn cluster_role_binding(name: &str, cluster_role: &str, subjects: Vec<Value>) -> ApiObject {
    ApiObject::new(
        RBAC,
        "ClusterRoleBinding",
        "clusterrolebindings",
        None,
        name,
        json!({}),
        json!({
            "roleRef": { "apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": cluster_role },
            "subjects": subjects,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csr_approver_may_approve_kubelet_serving_only() {
        let role = csr_approver_role();
        let rules = role.body["rules"].as_array().unwrap();
        let signers: Vec<&Value> = rules
            .iter()
            .filter(|r| r["resources"] == json!(["signers"]))
            .collect();
        assert_eq!(signers.len(), 1);
        assert_eq!(
            signers[0]["resourceNames"],
            json!(["kubernetes.io/kubelet-serving"])
        );
        assert_eq!(signers[0]["verbs"], json!(["approve"]));
        // Nothing that writes anything but the approval subresource.
        for r in rules {
            for v in r["verbs"].as_array().unwrap() {
                let v = v.as_str().unwrap();
                let write_ok = r["resources"] == json!(["certificatesigningrequests/approval"])
                    && v == "update"
                    || r["resources"] == json!(["signers"]) && v == "approve";
                assert!(["get", "list", "watch"].contains(&v) || write_ok, "{r}");
            }
        }
        let binding = csr_approver_binding();
        assert_eq!(binding.name, "mk:kubelet-serving-approver");
        assert_eq!(
            binding.body["subjects"],
            json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mk:csr-approver" }])
        );
        assert_eq!(binding.body["roleRef"]["name"], role.name);
    }
}
