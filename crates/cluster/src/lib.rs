//! What the Kubernetes API of an mk cluster holds: the objects kubeadm's
//! post-init phases create (upload-config, mark-control-plane,
//! bootstrap-token, addon kube-proxy and coredns), plus Calico, planned from
//! a role config. Pure: no cluster, no network; `mk-kubeapi` applies them
//! with server-side apply, and tests compare them with what real kubeadm
//! 1.28.7 created (../shared/reference/kubeadm-1.28.7/api/).

pub mod calico;
pub mod coredns;
pub mod discovery;
pub mod kubeproxy;
pub mod node;
pub mod object;
pub mod rbac;
mod securitycontext;
pub mod tokens;
pub mod uploadconfig;

pub use object::ApiObject;

use mk_roleconfig::NodeConfig;
use time::OffsetDateTime;

/// What the objects are planned from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The bootstrap control plane's role config.
    pub config: &'a NodeConfig,
    /// PEM of the cluster CA (`/etc/kubernetes/pki/ca.crt`): the
    /// `certificate-authority-data` of cluster-info's kubeconfig.
    pub ca_pem: &'a str,
    /// Now: expired bootstrap tokens are left out.
    pub now: OffsetDateTime,
}

/// Why the objects could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A role-config field cannot be turned into objects (path, message).
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error(transparent)]
    Plan(#[from] mk_nodeconf::PlanError),
}

/// Everything the API step applies from one node's role config.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterPlan {
    /// Cluster-wide objects, in apply order. Only the bootstrap control
    /// plane applies them: one node owns the cluster's objects, so nodes
    /// whose configs differ cannot take turns rewriting them.
    pub objects: Vec<ApiObject>,
    /// The node's own control-plane labels, taint and the labels its
    /// kubelet may not set itself; applied once the kubelet registered it.
    pub node: Option<ApiObject>,
    /// Where objects mk-firstboot applied earlier and no longer plans are
    /// deleted (a token dropped from the config).
    pub prune: Vec<Prune>,
}

/// A kind whose mk-firstboot-owned objects not in `keep` are deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prune {
    pub api_version: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub field_selector: Option<String>,
    pub keep: Vec<String>,
}

/// The API step's plan for the node `inputs.config` describes.
pub fn plan(inputs: &Inputs) -> Result<ClusterPlan, ClusterError> {
    let spec = &inputs.config.spec;
    let node = node::control_plane(inputs);
    if !spec
        .roles
        .contains(&mk_roleconfig::Role::BootstrapControlPlane)
    {
        return Ok(ClusterPlan {
            objects: vec![],
            node,
            prune: vec![],
        });
    }
    let mut objects = Vec::new();
    objects.extend(rbac::objects(inputs)?);
    objects.extend(uploadconfig::objects(inputs)?);
    objects.extend(tokens::objects(inputs)?);
    objects.extend(kubeproxy::objects(inputs)?);
    objects.extend(coredns::objects(inputs)?);
    objects.extend(calico::objects(inputs)?);
    let keep = objects
        .iter()
        .filter(|o| o.kind == "Secret" && o.name.starts_with("bootstrap-token-"))
        .map(|o| o.name.clone())
        .collect();
    Ok(ClusterPlan {
        objects,
        node,
        prune: vec![Prune {
            api_version: "v1".into(),
            plural: "secrets".into(),
            namespace: Some("kube-system".into()),
            field_selector: Some("type=bootstrap.kubernetes.io/token".into()),
            keep,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata: {name: cp1.example.com}
spec:
  roles: [ROLES]
  cluster:
    name: lab
    domain: example.com
    apiEndpoint: {dnsName: api.example.com}
  planes:
    control: {cidr: 10.0.0.0/24}
  labels: {node-role.kubernetes.io/edge: \"\"}
TOKENS";

    fn config(roles: &str, tokens: &str) -> mk_roleconfig::NodeConfig {
        let yaml = CONFIG.replace("ROLES", roles).replace("TOKENS", tokens);
        mk_roleconfig::parse_node_config(yaml.as_bytes(), "t.yaml").unwrap()
    }

    fn plan_for(c: &mk_roleconfig::NodeConfig) -> ClusterPlan {
        plan(&Inputs {
            config: c,
            ca_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            now: time::macros::datetime!(2026-12-07 00:00 UTC),
        })
        .unwrap()
    }

    #[test]
    fn only_the_bootstrap_node_owns_the_cluster_objects() {
        let tokens = "  bootstrapTokens:
    - {token: abcdef.0123456789abcdef, expires: \"2026-12-08T00:00:00Z\"}
    - {token: zzzzzz.0123456789abcdef, expires: \"2026-12-01T00:00:00Z\"}
";
        let boot = plan_for(&config("bootstrap-control-plane", tokens));
        let ids: Vec<String> = boot.objects.iter().map(ApiObject::id).collect();
        for want in [
            "ClusterRoleBinding kubeadm:cluster-admins",
            "ConfigMap kube-system/kubeadm-config",
            "ConfigMap kube-public/cluster-info",
            "Secret kube-system/bootstrap-token-abcdef",
            "DaemonSet kube-system/kube-proxy",
            "Deployment kube-system/coredns",
            "DaemonSet kube-system/calico-node",
        ] {
            assert!(ids.iter().any(|i| i == want), "{want} missing: {ids:?}");
        }
        // The expired token is neither applied nor kept from pruning.
        assert!(!ids.iter().any(|i| i.contains("zzzzzz")));
        assert_eq!(boot.prune[0].keep, ["bootstrap-token-abcdef"]);
        // The binding that makes admin.conf work comes first of all.
        assert_eq!(ids[0], "ClusterRoleBinding kubeadm:cluster-admins");
        assert!(ids
            .iter()
            .any(|i| i == "ClusterRoleBinding mk:node-recovery-bootstrap"));
        let node = boot.node.unwrap();
        assert_eq!(
            node.body["metadata"]["labels"]["node-role.kubernetes.io/edge"],
            ""
        );

        // A joining control plane marks only itself.
        let join = plan_for(&config("control-plane", ""));
        assert!(join.objects.is_empty() && join.prune.is_empty());
        assert!(join.node.is_some());
    }
}
