//! CoreDNS as kubeadm's `addon coredns` phase creates it: ServiceAccount,
//! ClusterRole and ClusterRoleBinding `system:coredns`, the Corefile
//! ConfigMap, the Deployment and the `kube-dns` Service at the cluster DNS
//! address (the 10th address of the service CIDR, which the kubelets'
//! `clusterDNS` names). Differences from kubeadm are in
//! docs/kubeadm-differences.md.

use serde_json::{json, Value};

use mk_nodeconf::steps::kubelet::cluster_dns;
use mk_nodeconf::steps::staticpods::SERVICE_DOMAIN;
use mk_nodeconf::versions::Versions;

use crate::{securitycontext, ApiObject, ClusterError, Inputs};

const NS: &str = "kube-system";
const NAME: &str = "coredns";
/// kubeadm keeps kube-dns's label and Service name, which other tools look
/// for.
const APP: &str = "kube-dns";
const RBAC: &str = "rbac.authorization.k8s.io/v1";
const CLUSTER_ROLE: &str = "system:coredns";

/// The user and group of mk's CoreDNS image (images/coredns): no host
/// account (R12).
pub const UID: u32 = 406;

/// The port CoreDNS listens on in its pod; the `kube-dns` Service maps
/// port 53 to it. kubeadm's CoreDNS binds 53 with NET_BIND_SERVICE added,
/// which a non-root process loses at the exec of its entrypoint (no ambient
/// capabilities in Kubernetes; upstream's image sets a file capability on
/// its binary, mk's RPM-built one has none), and CentOS 7's kernel 3.10 has
/// no `net.ipv4.ip_unprivileged_port_start`. An unprivileged port needs
/// neither.
pub const DNS_PORT: u16 = 1053;

/// kubeadm's replica count.
const REPLICAS: u32 = 2;

/// CoreDNS's objects in apply order: account and RBAC, Corefile, then the
/// Deployment that uses them and its Service.
pub fn objects(inputs: &Inputs) -> Result<Vec<ApiObject>, ClusterError> {
    let spec = &inputs.config.spec;
    let versions = Versions::resolve(&spec.cluster.kubernetes_version)?;
    let dns = cluster_dns(&spec.cluster.service_cidr)?;

    let sa = ApiObject::service_account(NS, NAME);
    let role = ApiObject::new(
        RBAC,
        "ClusterRole",
        "clusterroles",
        None,
        CLUSTER_ROLE,
        json!({}),
        json!({"rules": [
            {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        ]}),
    );
    let binding = ApiObject::new(
        RBAC,
        "ClusterRoleBinding",
        "clusterrolebindings",
        None,
        CLUSTER_ROLE,
        json!({}),
        json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NS}],
        }),
    );
    let config = ApiObject::new(
        "v1",
        "ConfigMap",
        "configmaps",
        Some(NS),
        NAME,
        json!({}),
        json!({"data": {"Corefile": corefile(SERVICE_DOMAIN)}}),
    );
    let deployment = ApiObject::new(
        "apps/v1",
        "Deployment",
        "deployments",
        Some(NS),
        NAME,
        json!({"labels": {"k8s-app": APP}}),
        json!({"spec": {
            "replicas": REPLICAS,
            // One replica may be down at a time: with two, DNS keeps
            // answering during a rollout (kubeadm's).
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "selector": {"matchLabels": {"k8s-app": APP}},
            "template": {
                "metadata": {"labels": {"k8s-app": APP}},
                "spec": pod_spec(&versions.coredns_image()),
            },
        }}),
    );
    let service = ApiObject::new(
        "v1",
        "Service",
        "services",
        Some(NS),
        APP,
        json!({
            "labels": {
                "k8s-app": APP,
                "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS",
            },
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        }),
        json!({"spec": {
            "selector": {"k8s-app": APP},
            // The address every kubelet's clusterDNS names.
            "clusterIP": dns.to_string(),
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": DNS_PORT},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": DNS_PORT},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
        }}),
    );
    Ok(vec![sa, role, binding, config, deployment, service])
}

fn pod_spec(image: &str) -> Value {
    json!({
        "priorityClassName": "system-cluster-critical",
        "serviceAccountName": NAME,
        // Spread the replicas over nodes where there are several.
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {
                "labelSelector": {"matchExpressions": [{"key": "k8s-app", "operator": "In", "values": [APP]}]},
                "topologyKey": "kubernetes.io/hostname",
            },
        }]}},
        // A single server (R5) has only a tainted control plane at first.
        "tolerations": [
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        ],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        // The node's resolver, not CoreDNS itself: `forward . /etc/resolv.conf`.
        "dnsPolicy": "Default",
        "securityContext": securitycontext::non_root_pod(UID),
        "containers": [{
            "name": NAME,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "resources": {
                "limits": {"memory": "170Mi"},
                "requests": {"cpu": "100m", "memory": "70Mi"},
            },
            "args": ["-conf", "/etc/coredns/Corefile"],
            "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": true}],
            "ports": [
                {"containerPort": DNS_PORT, "name": "dns", "protocol": "UDP"},
                {"containerPort": DNS_PORT, "name": "dns-tcp", "protocol": "TCP"},
                {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
            ],
            // Non-root on an unprivileged port (DNS_PORT): no capability.
            "securityContext": securitycontext::confined_container(),
            // `health` (8080) and `ready` (8181) plugins of the Corefile.
            "livenessProbe": {
                "httpGet": {"path": "/health", "port": 8080, "scheme": "HTTP"},
                "initialDelaySeconds": 60,
                "timeoutSeconds": 5,
                "successThreshold": 1,
                "failureThreshold": 5,
            },
            "readinessProbe": {
                "httpGet": {"path": "/ready", "port": 8181, "scheme": "HTTP"},
            },
        }],
        "volumes": [{
            "name": "config-volume",
            "configMap": {"name": NAME, "items": [{"key": "Corefile", "path": "Corefile"}]},
        }],
    })
}

/// kubeadm's Corefile for the service domain (`cluster.local`), served on
/// [`DNS_PORT`].
pub fn corefile(service_domain: &str) -> String {
    format!(
        r#".:{DNS_PORT} {{
    errors
    health {{
       lameduck 5s
    }}
    ready
    kubernetes {service_domain} in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus :9153
    forward . /etc/resolv.conf {{
       max_concurrent 1000
    }}
    cache 30
    loop
    reload
    loadbalance
}}
"#
    )
}
