//! kubeadm's upload-config phase: ConfigMaps `kube-system/kubeadm-config`
//! (the ClusterConfiguration, read by `kubeadm join`/`upgrade` and by
//! tools that look for the pod subnet there) and `kube-system/kubelet-config`
//! (the cluster-wide KubeletConfiguration joining kubelets start from).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use mk_nodeconf::steps::pki::PKI;
use mk_nodeconf::steps::staticpods::SERVICE_DOMAIN;
use mk_nodeconf::users::ETCD;
use mk_nodeconf::versions::{Versions, REGISTRY};

use crate::{ApiObject, ClusterError, Inputs};

/// Annotation in which kubeadm records the checksum of a component-config
/// ConfigMap it generated; `kubeadm upgrade` treats a ConfigMap whose
/// checksum does not match as edited by the user.
pub const COMPONENT_CONFIG_HASH: &str = "kubeadm.kubernetes.io/component-config.hash";

/// kubeadm-config, then kubelet-config.
pub fn objects(inputs: &Inputs) -> Result<Vec<ApiObject>, ClusterError> {
    Ok(vec![kubeadm_config(inputs)?, kubelet_config(inputs)?])
}

/// The ClusterConfiguration kubeadm would store for this cluster: its
/// defaults plus our names, version and networks. kubeadm.k8s.io/v1beta3
/// up to Kubernetes 1.30, v1beta4 from 1.31 (the version kubeadm of that
/// minor writes). No extraArgs: mk's control-plane flags live in the
/// static pod manifests, and no kubeadm regenerates them from here.
pub fn cluster_configuration(inputs: &Inputs) -> Result<Value, ClusterError> {
    let cluster = &inputs.config.spec.cluster;
    let versions = Versions::resolve(&cluster.kubernetes_version)?;
    let mut c = json!({
        "apiVersion": "kubeadm.k8s.io/v1beta3",
        "kind": "ClusterConfiguration",
        "apiServer": { "timeoutForControlPlane": "4m0s" },
        "certificatesDir": PKI,
        "clusterName": cluster.name,
        "controlPlaneEndpoint": format!("{}:{}", cluster.api_endpoint.dns_name, cluster.api_endpoint.port),
        "controllerManager": {},
        "dns": {},
        "etcd": { "local": { "dataDir": ETCD.home } },
        "imageRepository": REGISTRY,
        "kubernetesVersion": versions.kubernetes,
        "networking": {
            "dnsDomain": SERVICE_DOMAIN,
            "podSubnet": cluster.pod_cidr,
            "serviceSubnet": cluster.service_cidr,
        },
        "scheduler": {},
    });
    if versions.minor >= 31 {
        // v1beta4 moved timeoutForControlPlane to InitConfiguration's
        // timeouts and added the certificate key type, which for mk-pki's
        // certificates is ECDSA P-256. kubeadm's certificate validity
        // periods are left out: mk-pki, not kubeadm, decides lifetimes.
        c["apiVersion"] = json!("kubeadm.k8s.io/v1beta4");
        c["apiServer"] = json!({});
        c["encryptionAlgorithm"] = json!("ECDSA-P256");
        c["proxy"] = json!({});
    }
    Ok(c)
}

/// ConfigMap `kube-system/kubeadm-config`, key `ClusterConfiguration`.
pub fn kubeadm_config(inputs: &Inputs) -> Result<ApiObject, ClusterError> {
    let yaml = to_yaml(&cluster_configuration(inputs)?);
    Ok(ApiObject::new(
        "v1",
        "ConfigMap",
        "configmaps",
        Some("kube-system"),
        "kubeadm-config",
        json!({}),
        json!({ "data": { "ClusterConfiguration": yaml } }),
    ))
}

/// ConfigMap `kube-system/kubelet-config`, key `kubelet`: the same
/// KubeletConfiguration mk-firstboot writes to /var/lib/kubelet/config.yaml,
/// minus the node's own `address`; signed with kubeadm's checksum
/// annotation, as kubeadm does for configurations it generated.
pub fn kubelet_config(inputs: &Inputs) -> Result<ApiObject, ClusterError> {
    let kubelet = to_yaml(&mk_nodeconf::kubelet_configuration(
        &inputs.config.spec.cluster.service_cidr,
    )?);
    let hash = checksum(&[&kubelet]);
    Ok(ApiObject::new(
        "v1",
        "ConfigMap",
        "configmaps",
        Some("kube-system"),
        "kubelet-config",
        json!({ "annotations": { COMPONENT_CONFIG_HASH: hash } }),
        json!({ "data": { "kubelet": kubelet } }),
    ))
}

/// kubeadm's ChecksumForConfigMap: SHA-256 over the `data` values in the
/// order of their sorted keys (the keys themselves are not hashed).
pub fn checksum(values_by_sorted_key: &[&str]) -> String {
    let mut h = Sha256::new();
    for v in values_by_sorted_key {
        h.update(v.as_bytes());
    }
    format!("sha256:{:x}", h.finalize())
}

fn to_yaml(v: &Value) -> String {
    serde_norway::to_string(v).expect("JSON values serialise as YAML")
}
