//! kube-proxy as kubeadm's `addon kube-proxy` phase creates it: its
//! ServiceAccount, the Role and RoleBinding that let joining nodes read its
//! ConfigMap, the ConfigMap (`config.conf`, `kubeconfig.conf`) and the
//! DaemonSet. The ClusterRoleBinding `kubeadm:node-proxier` is in
//! [`crate::rbac`]. Differences from kubeadm are in
//! docs/kubeadm-differences.md.

use serde_json::{json, Value};

use mk_nodeconf::versions::Versions;
use mk_roleconfig::names::Cidr;

use crate::{ApiObject, ClusterError, Inputs};

const NS: &str = "kube-system";
const NAME: &str = "kube-proxy";
const RBAC: &str = "rbac.authorization.k8s.io/v1";

/// Where the DaemonSet mounts the ConfigMap (kubeadm's path).
const CONFIG_DIR: &str = "/var/lib/kube-proxy";

/// The group kubeadm's bootstrap tokens authenticate as: joining nodes read
/// the kube-proxy ConfigMap with it.
pub const BOOTSTRAP_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// kube-proxy's objects in apply order: account and RBAC, configuration,
/// then the DaemonSet that uses them.
pub fn objects(inputs: &Inputs) -> Result<Vec<ApiObject>, ClusterError> {
    let spec = &inputs.config.spec;
    let versions = Versions::resolve(&spec.cluster.kubernetes_version)?;
    let pod_cidr = cidr("spec.cluster.podCIDR", &spec.cluster.pod_cidr)?;
    let (workload_path, workload) = match &spec.planes.workload {
        Some(p) => ("spec.planes.workload.cidr", &p.cidr),
        None => ("spec.planes.control.cidr", &spec.planes.control.cidr),
    };
    let workload = cidr(workload_path, workload)?;
    let endpoint = &spec.cluster.api_endpoint;
    let server = format!("https://{}:{}", endpoint.dns_name, endpoint.port);

    let sa = ApiObject::service_account(NS, NAME);
    let role = ApiObject::new(
        RBAC,
        "Role",
        "roles",
        Some(NS),
        NAME,
        json!({}),
        json!({"rules": [{
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [NAME],
            "verbs": ["get"],
        }]}),
    );
    let binding = ApiObject::new(
        RBAC,
        "RoleBinding",
        "rolebindings",
        Some(NS),
        NAME,
        json!({}),
        json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": BOOTSTRAP_GROUP}],
        }),
    );
    // No `kubeadm.kubernetes.io/component-config.hash` annotation: only
    // `kubeadm upgrade` reads it, and mk upgrades by re-imaging (R6).
    let config = ApiObject::new(
        "v1",
        "ConfigMap",
        "configmaps",
        Some(NS),
        NAME,
        json!({"labels": {"app": NAME}}),
        json!({"data": {
            "config.conf": config_conf(&pod_cidr, &workload),
            "kubeconfig.conf": kubeconfig_conf(&server),
        }}),
    );
    let daemonset = ApiObject::new(
        "apps/v1",
        "DaemonSet",
        "daemonsets",
        Some(NS),
        NAME,
        json!({"labels": {"k8s-app": NAME}}),
        json!({"spec": {
            "selector": {"matchLabels": {"k8s-app": NAME}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"k8s-app": NAME}},
                "spec": pod_spec(&versions.kube_proxy_image()),
            },
        }}),
    );
    Ok(vec![sa, role, binding, config, daemonset])
}

fn cidr(path: &str, value: &str) -> Result<Cidr, ClusterError> {
    Cidr::parse(value).map_err(|message| ClusterError::Config {
        path: path.into(),
        message,
    })
}

fn pod_spec(image: &str) -> Value {
    json!({
        "priorityClassName": "system-node-critical",
        "hostNetwork": true,
        "serviceAccountName": NAME,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        // Every node, whatever its taints (kubeadm's).
        "tolerations": [{"operator": "Exists"}],
        "containers": [{
            "name": NAME,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            // mk's image installs the RPM's /usr/bin/kube-proxy
            // (kubeadm's image: /usr/local/bin/kube-proxy).
            "command": [
                "/usr/bin/kube-proxy",
                format!("--config={CONFIG_DIR}/config.conf"),
                "--hostname-override=$(NODE_NAME)",
            ],
            "env": [{
                "name": "NODE_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
            }],
            // kubeadm's `privileged: true`, as root: the one exception to
            // R12 besides calico-node, the other programmer of the host's
            // netfilter. A non-root kube-proxy cannot work: the iptables,
            // ipset and conntrack it runs lose added capabilities at exec
            // (Kubernetes sets no ambient capabilities, and the tools have
            // no file capabilities); /run/xtables.lock is root's; and it
            // sets sysctls (route_localnet, conntrack) under /proc/sys,
            // read-only in unprivileged containers. The root file system
            // stays read-only (R14). The image's user (405) is overridden.
            "securityContext": {
                "privileged": true,
                "runAsUser": 0,
                "runAsGroup": 0,
                "readOnlyRootFilesystem": true,
            },
            "volumeMounts": [
                {"mountPath": CONFIG_DIR, "name": NAME},
                {"mountPath": "/run/xtables.lock", "name": "xtables-lock"},
                {"mountPath": "/lib/modules", "name": "lib-modules", "readOnly": true},
            ],
        }],
        "volumes": [
            {"name": NAME, "configMap": {"name": NAME}},
            // Shared with the host's iptables users (firewalld, Calico):
            // the lock serialises their rule updates. /run is a tmpfs, so
            // FileOrCreate works on the read-only root.
            {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
            {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
        ],
    })
}

/// `config.conf`: kubeadm 1.28's KubeProxyConfiguration as it uploads it
/// (every field written, zero values meaning kube-proxy's defaults), with
/// `clusterCIDR` the pod network and NodePorts only on the workload plane.
pub fn config_conf(pod_cidr: &Cidr, workload: &Cidr) -> String {
    format!(
        r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: {CONFIG_DIR}/kubeconfig.conf
  qps: 0
clusterCIDR: {pod_cidr}
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: ""
mode: ""
nodePortAddresses:
- {workload}
oomScoreAdj: null
portRange: ""
showHiddenMetricsForVersion: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
"#
    )
    .trim_end()
    .to_string()
}

/// `kubeconfig.conf`: kubeadm's, with the pod's service-account token and
/// CA, and the API endpoint by DNS name (R28).
pub fn kubeconfig_conf(server: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"#
    )
}
