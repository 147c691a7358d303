//! Calico, the pod network (R33), rendered from the role config: the
//! objects of Calico's own manifest (`calico.yaml`, Kubernetes API
//! datastore, no Typha) for the release pinned in
//! [`mk_nodeconf::versions::CALICO`], written here from that manifest's
//! structure rather than copied, with mk's settings:
//!
//! - `spec.cluster.calico.mode`: `ipip` = IP-in-IP between subnets only
//!   (CrossSubnet), `vxlan` = VXLAN between subnets only, `bgp` = no
//!   encapsulation (BIRD routes the pod CIDR);
//! - `spec.cluster.calico.mtu`: the workload plane's interface MTU, from
//!   which the encapsulation overhead is subtracted (absent: Calico detects);
//! - the default IP pool is `spec.cluster.podCIDR`;
//! - calico-node picks its address inside the workload plane (R30).
//!
//! Calico's CustomResourceDefinitions ([`CRD_NAMES`]: the 19
//! `*.crd.projectcalico.org` ones calico-node and kube-controllers read and
//! write, and AdminNetworkPolicy) are rendered here too, first in
//! [`objects`], with deliberately open schemas: see [`crds`].

use serde_json::{json, Value};

use mk_nodeconf::versions::{Versions, CALICO};
use mk_roleconfig::names::Cidr;
use mk_roleconfig::{CalicoMode, CalicoSpec};

use crate::{ApiObject, ClusterError, Inputs};

const NS: &str = "kube-system";
const RBAC: &str = "rbac.authorization.k8s.io/v1";
const NODE: &str = "calico-node";
const CNI_PLUGIN: &str = "calico-cni-plugin";
const CONTROLLERS: &str = "calico-kube-controllers";
const CONFIG: &str = "calico-config";

/// The CRDs the pinned Calico release reads and writes: without them
/// calico-node never becomes ready and pods get no addresses.
pub const CRD_NAMES: &[&str] = &[
    "bgpconfigurations.crd.projectcalico.org",
    "bgpfilters.crd.projectcalico.org",
    "bgppeers.crd.projectcalico.org",
    "blockaffinities.crd.projectcalico.org",
    "caliconodestatuses.crd.projectcalico.org",
    "clusterinformations.crd.projectcalico.org",
    "felixconfigurations.crd.projectcalico.org",
    "globalnetworkpolicies.crd.projectcalico.org",
    "globalnetworksets.crd.projectcalico.org",
    "hostendpoints.crd.projectcalico.org",
    "ipamblocks.crd.projectcalico.org",
    "ipamconfigs.crd.projectcalico.org",
    "ipamhandles.crd.projectcalico.org",
    "ippools.crd.projectcalico.org",
    "ipreservations.crd.projectcalico.org",
    "kubecontrollersconfigurations.crd.projectcalico.org",
    "networkpolicies.crd.projectcalico.org",
    "networksets.crd.projectcalico.org",
    "tiers.crd.projectcalico.org",
    // Felix of v3.29 also enforces the upstream AdminNetworkPolicy API,
    // which Calico's manifest ships as a CRD.
    "adminnetworkpolicies.policy.networking.k8s.io",
];

/// Whether a CRD's objects live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Namespaced => "Namespaced",
            Scope::Cluster => "Cluster",
        }
    }
}

/// Calico's own CRDs: (plural, kind, scope), all in [`CALICO_GROUP`]
/// version `v1`; the singular is the lower-cased kind, the list kind the
/// kind + `List`, as in Calico's libcalico-go/config/crd files (written
/// here from our knowledge of them, not copied). Only NetworkPolicy and
/// NetworkSet live in a namespace; their Global* twins, and everything
/// else, are cluster-wide.
const CALICO_CRDS: &[(&str, &str, Scope)] = &[
    ("bgpconfigurations", "BGPConfiguration", Scope::Cluster),
    ("bgpfilters", "BGPFilter", Scope::Cluster),
    ("bgppeers", "BGPPeer", Scope::Cluster),
    ("blockaffinities", "BlockAffinity", Scope::Cluster),
    // Its `status` is written through the main resource: Calico's CRDs
    // have no status subresource, so neither do these.
    ("caliconodestatuses", "CalicoNodeStatus", Scope::Cluster),
    ("clusterinformations", "ClusterInformation", Scope::Cluster),
    ("felixconfigurations", "FelixConfiguration", Scope::Cluster),
    (
        "globalnetworkpolicies",
        "GlobalNetworkPolicy",
        Scope::Cluster,
    ),
    ("globalnetworksets", "GlobalNetworkSet", Scope::Cluster),
    ("hostendpoints", "HostEndpoint", Scope::Cluster),
    ("ipamblocks", "IPAMBlock", Scope::Cluster),
    ("ipamconfigs", "IPAMConfig", Scope::Cluster),
    ("ipamhandles", "IPAMHandle", Scope::Cluster),
    ("ippools", "IPPool", Scope::Cluster),
    ("ipreservations", "IPReservation", Scope::Cluster),
    (
        "kubecontrollersconfigurations",
        "KubeControllersConfiguration",
        Scope::Cluster,
    ),
    ("networkpolicies", "NetworkPolicy", Scope::Namespaced),
    ("networksets", "NetworkSet", Scope::Namespaced),
    ("tiers", "Tier", Scope::Cluster),
];

/// The upstream AdminNetworkPolicy API (kubernetes-sigs/network-policy-api),
/// which Calico's manifest ships as a CRD and Felix of v3.29 watches at
/// `v1alpha1`.
const ANP_GROUP: &str = "policy.networking.k8s.io";
const ANP_VERSION: &str = "v1alpha1";
/// `*.k8s.io` groups are protected: the apiserver refuses a CRD there
/// without this annotation naming the API review that approved the group.
/// The link is the one network-policy-api's CRD generator set for its
/// v0.1.x bundles (pull/93); unsure whether the bundle Calico v3.29 ships
/// (v0.1.5?) names another. The apiserver only checks that it is a URL.
const ANP_APPROVAL: &str = "https://github.com/kubernetes-sigs/network-policy-api/pull/93";

/// The CRDs calico-node and calico-kube-controllers need, rendered by mk:
/// one per [`CRD_NAMES`] entry, in that order.
///
/// The schemas are deliberately open: `apiVersion`, `kind` and `metadata`
/// as usual, `spec` and `status` objects with
/// `x-kubernetes-preserve-unknown-fields`, so whatever Calico's
/// controllers write is stored untouched. The field-level validation of
/// Calico's own (generated, several thousand lines) CRDs is left out:
///
/// - mk may not carry Calico's upstream YAML, and no bundle carries Calico
///   yet, so the schemas would have to be re-typed by hand and kept in
///   step with every Calico release (a wrong one would make the apiserver
///   prune or refuse what calico-node writes: worse than none);
/// - calico-node and kube-controllers validate their own resources when
///   they read them (libcalico-go's validator), which is where Calico's
///   semantics live anyway;
/// - the price: an admin writing a Calico resource by hand gets no
///   server-side schema error for a typo (an unknown or mistyped field is
///   stored and then ignored or refused by Calico), and `kubectl explain`
///   shows nothing for them. docs/kubeadm-differences.md says so.
///
/// Names are `<plural>.<group>`; no status subresources (Calico writes
/// `status` with the object), except AdminNetworkPolicy's, as upstream.
pub fn crds() -> Vec<ApiObject> {
    let mut v: Vec<ApiObject> = CALICO_CRDS
        .iter()
        .map(|(plural, kind, scope)| {
            crd(CALICO_GROUP, "v1", plural, kind, *scope, false, json!({}))
        })
        .collect();
    v.push(crd(
        ANP_GROUP,
        ANP_VERSION,
        "adminnetworkpolicies",
        "AdminNetworkPolicy",
        Scope::Cluster,
        true,
        json!({"annotations": {"api-approved.kubernetes.io": ANP_APPROVAL}}),
    ));
    v
}

fn crd(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    scope: Scope,
    status_subresource: bool,
    meta: Value,
) -> ApiObject {
    let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    let mut ver = json!({
        "name": version,
        "served": true,
        "storage": true,
        "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": open,
                "status": open,
            },
        }},
    });
    if status_subresource {
        ver["subresources"] = json!({"status": {}});
    }
    ApiObject::new(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        None,
        &format!("{plural}.{group}"),
        meta,
        json!({"spec": {
            "group": group,
            "names": {
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": kind.to_lowercase(),
            },
            "scope": scope.as_str(),
            "versions": [ver],
        }}),
    )
}

/// Which of [`CRD_NAMES`] are missing from `present` (names of
/// CustomResourceDefinitions: those [`crds`] renders, or a cluster's), as
/// one error naming them all.
pub fn check_crds(present: &[String]) -> Result<(), ClusterError> {
    let missing: Vec<&str> = CRD_NAMES
        .iter()
        .copied()
        .filter(|n| !present.iter().any(|p| p == n))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ClusterError::Config {
        path: "customresourcedefinitions".into(),
        message: format!(
            "Calico {CALICO} needs {} CRDs that are missing: {}",
            missing.len(),
            missing.join(", ")
        ),
    })
}

/// Bytes each encapsulation adds to a packet: the veth and tunnel MTU is
/// the interface MTU less this (IPv4 outer header; VXLAN adds UDP, VXLAN
/// and the inner Ethernet header).
pub fn overhead(mode: CalicoMode) -> u32 {
    match mode {
        CalicoMode::Ipip => 20,
        CalicoMode::Vxlan => 50,
        CalicoMode::Bgp => 0,
    }
}

/// The smallest MTU IPv4 guarantees; a pod interface below it is a typo.
const MIN_MTU: u32 = 576;
/// The largest MTU an Ethernet-like interface can have.
const MAX_MTU: u32 = 65535;

/// `veth_mtu` of calico-config: the MTU of pod interfaces and tunnels, or
/// 0 when `spec.cluster.calico.mtu` is absent (Calico then detects the
/// host interfaces' MTU and subtracts the overhead itself). Even in
/// CrossSubnet mode every pod gets the encapsulated MTU, as Calico's own
/// detection does: a pod cannot know which peers are across a subnet.
pub fn veth_mtu(calico: &CalicoSpec) -> Result<u32, ClusterError> {
    let Some(mtu) = calico.mtu else {
        return Ok(0);
    };
    let over = overhead(calico.mode);
    if !(MIN_MTU + over..=MAX_MTU).contains(&mtu) {
        return Err(ClusterError::Config {
            path: "spec.cluster.calico.mtu".into(),
            message: format!(
                "{mtu} is not an interface MTU for mode {} (expected {}-{MAX_MTU}: the workload plane's interface MTU, e.g. 1500 or 9000; Calico subtracts {over} bytes of encapsulation)",
                calico.mode.as_str(),
                MIN_MTU + over
            ),
        });
    }
    Ok(mtu - over)
}

/// Calico's objects in apply order: the CRDs first (calico-node and
/// kube-controllers create and watch their resources at start), then
/// configuration, accounts and RBAC before the workloads that use them.
pub fn objects(inputs: &Inputs) -> Result<Vec<ApiObject>, ClusterError> {
    let spec = &inputs.config.spec;
    let versions = Versions::resolve(&spec.cluster.kubernetes_version)?;
    let calico = &spec.cluster.calico;
    let pod_cidr = ipv4_cidr("spec.cluster.podCIDR", &spec.cluster.pod_cidr)?;
    let (workload_path, workload) = match &spec.planes.workload {
        Some(p) => ("spec.planes.workload.cidr", &p.cidr),
        None => ("spec.planes.control.cidr", &spec.planes.control.cidr),
    };
    let workload = ipv4_cidr(workload_path, workload)?;
    let mtu = veth_mtu(calico)?;

    let mut v = crds();
    v.push(config_map(calico.mode, mtu));
    for name in [CONTROLLERS, NODE, CNI_PLUGIN] {
        v.push(ApiObject::service_account(NS, name));
    }
    for (name, rules) in [
        (CONTROLLERS, controllers_rules()),
        (NODE, node_rules()),
        (CNI_PLUGIN, cni_plugin_rules()),
    ] {
        v.push(ApiObject::new(
            RBAC,
            "ClusterRole",
            "clusterroles",
            None,
            name,
            json!({}),
            json!({"rules": rules}),
        ));
    }
    for name in [CONTROLLERS, NODE, CNI_PLUGIN] {
        v.push(ApiObject::new(
            RBAC,
            "ClusterRoleBinding",
            "clusterrolebindings",
            None,
            name,
            json!({}),
            json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NS}],
            }),
        ));
    }
    v.push(node_daemonset(&versions, calico.mode, &pod_cidr, &workload));
    v.push(controllers_deployment(&versions));
    // Calico's: a drain (R7) may evict the single controller.
    v.push(ApiObject::new(
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        Some(NS),
        CONTROLLERS,
        json!({"labels": {"k8s-app": CONTROLLERS}}),
        json!({"spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"k8s-app": CONTROLLERS}},
        }}),
    ));
    Ok(v)
}

fn ipv4_cidr(path: &str, value: &str) -> Result<Cidr, ClusterError> {
    let c = Cidr::parse(value).map_err(|message| ClusterError::Config {
        path: path.into(),
        message,
    })?;
    // Calico is set up for IPv4 only (FELIX_IPV6SUPPORT=false).
    if !c.addr.is_ipv4() {
        return Err(ClusterError::Config {
            path: path.into(),
            message: format!("{value:?}: Calico is set up for IPv4 only"),
        });
    }
    Ok(c)
}

/// calico_backend: BIRD (BGP) carries routes for ipip and bgp; VXLAN mode
/// needs no BGP at all.
pub fn backend(mode: CalicoMode) -> &'static str {
    match mode {
        CalicoMode::Ipip | CalicoMode::Bgp => "bird",
        CalicoMode::Vxlan => "vxlan",
    }
}

fn config_map(mode: CalicoMode, mtu: u32) -> ApiObject {
    // The CNI configuration install-cni writes to /etc/cni/net.d; it fills
    // in the __PLACEHOLDERS__ on each node.
    let cni = r#"{
  "name": "k8s-pod-network",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "calico",
      "log_level": "info",
      "log_file_path": "/var/log/calico/cni/cni.log",
      "datastore_type": "kubernetes",
      "nodename": "__KUBERNETES_NODE_NAME__",
      "mtu": __CNI_MTU__,
      "ipam": {
          "type": "calico-ipam"
      },
      "policy": {
          "type": "k8s"
      },
      "kubernetes": {
          "kubeconfig": "__KUBECONFIG_FILEPATH__"
      }
    },
    {
      "type": "portmap",
      "snat": true,
      "capabilities": {"portMappings": true}
    }
  ]
}"#;
    ApiObject::new(
        "v1",
        "ConfigMap",
        "configmaps",
        Some(NS),
        CONFIG,
        json!({}),
        json!({"data": {
            // No Typha: Felix talks to the apiserver itself (fine below
            // ~50 nodes, Calico's advice).
            "typha_service_name": "none",
            "calico_backend": backend(mode),
            "veth_mtu": mtu.to_string(),
            "cni_network_config": cni,
        }}),
    )
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

const CALICO_GROUP: &str = "crd.projectcalico.org";

fn controllers_rules() -> Value {
    json!([
        // Nodes are watched to clean up after deleted ones.
        rule(&[""], &["nodes"], &["watch", "list", "get"]),
        // IPAM garbage collection checks that pods still exist.
        rule(&[""], &["pods"], &["get", "list", "watch"]),
        rule(&[CALICO_GROUP], &["ipreservations"], &["list"]),
        rule(
            &[CALICO_GROUP],
            &["blockaffinities", "ipamblocks", "ipamhandles"],
            &["get", "list", "create", "update", "delete", "watch"],
        ),
        // Pools map blocks to IP pools.
        rule(&[CALICO_GROUP], &["ippools"], &["list", "watch"]),
        rule(
            &[CALICO_GROUP],
            &["hostendpoints"],
            &["get", "list", "create", "update", "delete", "watch"]
        ),
        rule(
            &[CALICO_GROUP],
            &["clusterinformations"],
            &["get", "list", "create", "update", "watch"]
        ),
        // Its own configuration (a default is created when missing).
        rule(
            &[CALICO_GROUP],
            &["kubecontrollersconfigurations"],
            &["get", "list", "create", "update", "watch"]
        ),
    ])
}

fn node_rules() -> Value {
    let crds_read = [
        "globalfelixconfigs",
        "felixconfigurations",
        "bgppeers",
        "bgpfilters",
        "globalbgpconfigs",
        "bgpconfigurations",
        "ippools",
        "ipreservations",
        "ipamblocks",
        "globalnetworkpolicies",
        "globalnetworksets",
        "networkpolicies",
        "networksets",
        "clusterinformations",
        "hostendpoints",
        "blockaffinities",
        "caliconodestatuses",
        "tiers",
    ];
    json!([
        // calico-node mints the CNI plugin's tokens (kubeconfig in
        // /etc/cni/net.d), for that account only.
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": [CNI_PLUGIN], "verbs": ["create"]},
        rule(&[""], &["pods", "nodes", "namespaces"], &["get"]),
        // Service-based policy rules.
        rule(&["discovery.k8s.io"], &["endpointslices"], &["watch", "list"]),
        // Service advertisement (watch, list), Typha discovery (get).
        rule(&[""], &["endpoints", "services"], &["watch", "list", "get"]),
        // kubeadm's pod CIDR detection reads kubeadm-config.
        rule(&[""], &["configmaps"], &["get"]),
        // Clears NodeNetworkUnavailable; keeps its annotations.
        rule(&[""], &["nodes/status"], &["patch", "update"]),
        rule(&["networking.k8s.io"], &["networkpolicies"], &["watch", "list"]),
        rule(&["policy.networking.k8s.io"], &["adminnetworkpolicies"], &["watch", "list"]),
        rule(&[""], &["pods", "namespaces", "serviceaccounts"], &["list", "watch"]),
        // The CNI plugin records pod IPs.
        rule(&[""], &["pods/status"], &["patch"]),
        rule(&[CALICO_GROUP], &crds_read, &["get", "list", "watch"]),
        // Default tiers, pools and configuration created at start.
        rule(&[CALICO_GROUP], &["tiers"], &["create"]),
        rule(
            &[CALICO_GROUP],
            &["ippools", "felixconfigurations", "clusterinformations"],
            &["create", "update"],
        ),
        rule(&[CALICO_GROUP], &["caliconodestatuses"], &["update"]),
        rule(&[""], &["nodes"], &["get", "list", "watch"]),
        rule(&[CALICO_GROUP], &["bgpconfigurations", "bgppeers"], &["create", "update"]),
        // IPAM allocations.
        rule(
            &[CALICO_GROUP],
            &["blockaffinities", "ipamblocks", "ipamhandles"],
            &["get", "list", "create", "update", "delete"],
        ),
        rule(&[CALICO_GROUP], &["ipamconfigs"], &["get", "create"]),
        // confd watches affinities for route aggregation.
        rule(&[CALICO_GROUP], &["blockaffinities"], &["watch"]),
        // upgrade-ipam looks at the DaemonSet.
        rule(&["apps"], &["daemonsets"], &["get"]),
    ])
}

fn cni_plugin_rules() -> Value {
    json!([
        rule(&[""], &["pods", "nodes", "namespaces"], &["get"]),
        rule(&[""], &["pods/status"], &["patch"]),
        rule(
            &[CALICO_GROUP],
            &[
                "blockaffinities",
                "ipamblocks",
                "ipamhandles",
                "clusterinformations",
                "ippools",
                "ipreservations",
                "ipamconfigs",
            ],
            &["get", "list", "create", "update", "delete"],
        ),
    ])
}

fn env(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn env_config(name: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"configMapKeyRef": {"name": CONFIG, "key": key}}})
}

fn env_node_name(name: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})
}

/// Lets an admin point Calico at the apiserver directly (Calico's optional
/// `kubernetes-services-endpoint` ConfigMap; mk creates none).
fn services_endpoint() -> Value {
    json!([{"configMapRef": {"name": "kubernetes-services-endpoint", "optional": true}}])
}

/// The calico-node container's environment for the role config.
pub fn node_env(mode: CalicoMode, pod_cidr: &Cidr, workload: &Cidr) -> Vec<Value> {
    // R33: encapsulation only across subnets, never Always.
    let ipip = if mode == CalicoMode::Ipip {
        "CrossSubnet"
    } else {
        "Never"
    };
    let vxlan = if mode == CalicoMode::Vxlan {
        "CrossSubnet"
    } else {
        "Never"
    };
    vec![
        env("DATASTORE_TYPE", "kubernetes"),
        env("WAIT_FOR_DATASTORE", "true"),
        env_node_name("NODENAME"),
        env_config("CALICO_NETWORKING_BACKEND", "calico_backend"),
        env("CLUSTER_TYPE", "k8s,bgp"),
        env("IP", "autodetect"),
        // R30: the node's address (BGP peering, tunnel endpoint) is the
        // one in the workload plane, not whatever the default route uses.
        env("IP_AUTODETECTION_METHOD", &format!("cidr={workload}")),
        env("CALICO_IPV4POOL_IPIP", ipip),
        env("CALICO_IPV4POOL_VXLAN", vxlan),
        env("CALICO_IPV6POOL_VXLAN", "Never"),
        // Tunnel devices get the veth MTU (0: detected).
        env_config("FELIX_IPINIPMTU", "veth_mtu"),
        env_config("FELIX_VXLANMTU", "veth_mtu"),
        env_config("FELIX_WIREGUARDMTU", "veth_mtu"),
        // The default pool, created once when no pool exists.
        env("CALICO_IPV4POOL_CIDR", &pod_cidr.to_string()),
        // Logs to stdout only (`kubectl logs`).
        env("CALICO_DISABLE_FILE_LOGGING", "true"),
        // Pods may reach their own host (kubelet probes, hostNetwork
        // services); host endpoint policy is not used.
        env("FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT"),
        env("FELIX_IPV6SUPPORT", "false"),
        // Felix's health endpoint (localhost:9099) for the probes below.
        env("FELIX_HEALTHENABLED", "true"),
    ]
}

fn node_daemonset(
    versions: &Versions,
    mode: CalicoMode,
    pod_cidr: &Cidr,
    workload: &Cidr,
) -> ApiObject {
    let cni_image = versions.calico_image("cni");
    // BIRD runs only with the bird backend; its checks would fail in
    // VXLAN mode.
    let (live, ready): (Vec<&str>, Vec<&str>) = match mode {
        CalicoMode::Vxlan => (vec!["-felix-live"], vec!["-felix-ready"]),
        _ => (
            vec!["-felix-live", "-bird-live"],
            vec!["-felix-ready", "-bird-ready"],
        ),
    };
    let live: Vec<&str> = ["/bin/calico-node"].into_iter().chain(live).collect();
    let ready: Vec<&str> = ["/bin/calico-node"].into_iter().chain(ready).collect();
    let spec = json!({
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "hostNetwork": true,
        // Every node, whatever its taints.
        "tolerations": [
            {"effect": "NoSchedule", "operator": "Exists"},
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
            {"effect": "NoExecute", "operator": "Exists"},
        ],
        "serviceAccountName": NODE,
        // Shorter downtime on a rolling update: the old pod goes at once.
        "terminationGracePeriodSeconds": 0,
        "priorityClassName": "system-node-critical",
        // No `mount-bpffs` init container and no /sys/fs/bpf mount (in
        // Calico's manifest for the eBPF data plane): CentOS 7's 3.10
        // kernel has no eBPF data plane, and a hostPath of type Directory
        // that does not exist would keep the pod from starting.
        "initContainers": [
            {
                // Moves host-local IPAM allocations to Calico IPAM; a no-op
                // on a new cluster, kept for a cluster that had another IPAM.
                "name": "upgrade-ipam",
                "image": cni_image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/opt/cni/bin/calico-ipam", "-upgrade"],
                "envFrom": services_endpoint(),
                "env": [env_node_name("KUBERNETES_NODE_NAME"), env_config("CALICO_NETWORKING_BACKEND", "calico_backend")],
                "volumeMounts": [
                    {"mountPath": "/var/lib/cni/networks", "name": "host-local-net-dir"},
                    {"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir", "readOnly": true},
                ],
                "securityContext": {"privileged": true},
            },
            {
                // Writes 10-calico.conflist and the CNI plugin's kubeconfig
                // to /etc/cni/net.d (on the state partition). The binaries
                // are not copied: /opt/cni/bin is on the read-only root
                // and holds only RPM files (R18); install-cni skips a
                // directory it cannot write.
                "name": "install-cni",
                "image": cni_image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/opt/cni/bin/install"],
                "envFrom": services_endpoint(),
                "env": [
                    env("CNI_CONF_NAME", "10-calico.conflist"),
                    env_config("CNI_NETWORK_CONFIG", "cni_network_config"),
                    env_node_name("KUBERNETES_NODE_NAME"),
                    env_config("CNI_MTU", "veth_mtu"),
                    // Exit when done instead of sleeping (init container).
                    env("SLEEP", "false"),
                    env("UPDATE_CNI_BINARIES", "false"),
                ],
                "volumeMounts": [
                    {"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir", "readOnly": true},
                    {"mountPath": "/host/etc/cni/net.d", "name": "cni-net-dir"},
                ],
                "securityContext": {"privileged": true},
            },
        ],
        "containers": [{
            "name": NODE,
            "image": versions.calico_image("node"),
            "imagePullPolicy": "IfNotPresent",
            "envFrom": services_endpoint(),
            "env": node_env(mode, pod_cidr, workload),
            // Routes, iptables, interfaces, sysctls of the host: privileged
            // as in Calico's manifest (an R12/R14 exception).
            "securityContext": {"privileged": true},
            "resources": {"requests": {"cpu": "250m"}},
            // Tells BIRD's peers to withdraw routes before it goes.
            "lifecycle": {"preStop": {"exec": {"command": ["/bin/calico-node", "-shutdown"]}}},
            "livenessProbe": {
                "exec": {"command": live},
                "periodSeconds": 10,
                "initialDelaySeconds": 10,
                "failureThreshold": 6,
                "timeoutSeconds": 10,
            },
            "readinessProbe": {
                "exec": {"command": ready},
                "periodSeconds": 10,
                "timeoutSeconds": 10,
            },
            "volumeMounts": [
                // Refreshes the CNI plugin's kubeconfig token.
                {"mountPath": "/host/etc/cni/net.d", "name": "cni-net-dir"},
                {"mountPath": "/lib/modules", "name": "lib-modules", "readOnly": true},
                // Shared with kube-proxy and firewalld (R25).
                {"mountPath": "/run/xtables.lock", "name": "xtables-lock"},
                {"mountPath": "/var/run/calico", "name": "var-run-calico"},
                {"mountPath": "/var/lib/calico", "name": "var-lib-calico"},
                {"mountPath": "/var/run/nodeagent", "name": "policysync"},
                {"mountPath": "/var/log/calico/cni", "name": "cni-log-dir", "readOnly": true},
            ],
        }],
        "volumes": [
            {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
            {"name": "var-run-calico", "hostPath": {"path": "/var/run/calico", "type": "DirectoryOrCreate"}},
            {"name": "var-lib-calico", "hostPath": {"path": "/var/lib/calico", "type": "DirectoryOrCreate"}},
            {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
            // Must exist (the kubernetes-cni RPM and mk's Calico CNI RPM):
            // the read-only root cannot create it.
            {"name": "cni-bin-dir", "hostPath": {"path": "/opt/cni/bin", "type": "Directory"}},
            {"name": "cni-net-dir", "hostPath": {"path": "/etc/cni/net.d", "type": "DirectoryOrCreate"}},
            // The CNI plugin's log, written by containerd's calls on the host.
            {"name": "cni-log-dir", "hostPath": {"path": "/var/log/calico/cni", "type": "DirectoryOrCreate"}},
            {"name": "host-local-net-dir", "hostPath": {"path": "/var/lib/cni/networks", "type": "DirectoryOrCreate"}},
            // Per-pod sockets of the policy sync API.
            {"name": "policysync", "hostPath": {"path": "/var/run/nodeagent", "type": "DirectoryOrCreate"}},
        ],
    });
    ApiObject::new(
        "apps/v1",
        "DaemonSet",
        "daemonsets",
        Some(NS),
        NODE,
        json!({"labels": {"k8s-app": NODE}}),
        json!({"spec": {
            "selector": {"matchLabels": {"k8s-app": NODE}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {"metadata": {"labels": {"k8s-app": NODE}}, "spec": spec},
        }}),
    )
}

fn controllers_deployment(versions: &Versions) -> ApiObject {
    ApiObject::new(
        "apps/v1",
        "Deployment",
        "deployments",
        Some(NS),
        CONTROLLERS,
        json!({"labels": {"k8s-app": CONTROLLERS}}),
        json!({"spec": {
            // Only one active instance may run: no surge.
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"k8s-app": CONTROLLERS}},
            "template": {
                "metadata": {"labels": {"k8s-app": CONTROLLERS}},
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    // No `node-role.kubernetes.io/master` toleration
                    // (Calico's): that taint is gone since Kubernetes 1.25.
                    "tolerations": [
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                    ],
                    "serviceAccountName": CONTROLLERS,
                    "priorityClassName": "system-cluster-critical",
                    // R12: the image's non-root user.
                    "securityContext": {
                        "runAsNonRoot": true,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [{
                        "name": CONTROLLERS,
                        "image": versions.calico_image("kube-controllers"),
                        "imagePullPolicy": "IfNotPresent",
                        "env": [
                            // The node controller garbage-collects IPAM of
                            // deleted nodes.
                            env("ENABLED_CONTROLLERS", "node"),
                            env("DATASTORE_TYPE", "kubernetes"),
                        ],
                        // R14; check-status reads what the controllers
                        // write to /status.
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [{"name": "status", "mountPath": "/status"}],
                        "livenessProbe": {
                            "exec": {"command": ["/usr/bin/check-status", "-l"]},
                            "periodSeconds": 10,
                            "initialDelaySeconds": 10,
                            "failureThreshold": 6,
                            "timeoutSeconds": 10,
                        },
                        "readinessProbe": {
                            "exec": {"command": ["/usr/bin/check-status", "-r"]},
                            "periodSeconds": 10,
                        },
                    }],
                    "volumes": [{"name": "status", "emptyDir": {}}],
                },
            },
        }}),
    )
}
