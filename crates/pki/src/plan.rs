//! Which certificates a host gets, with kubeadm's subjects and usages
//! (Kubernetes 1.30, cmd/kubeadm/app/phases/certs and kubeconfig), our paths,
//! who renews each, and what must reload it. Pure: no keys, no files.

use serde::{Deserialize, Serialize};

use crate::config::{ClusterConfig, NodeSpec, Role};
use crate::keys::KeyAlgorithm;
use crate::realm::Realm;

/// Extended key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    ServerAuth,
    ClientAuth,
}

/// Who keeps a leaf fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenewedBy {
    /// `mk-firstboot renew`, with the host's own intermediate.
    Node,
    /// The kubelet's own certificate rotation (CSR API); we only issue the
    /// first certificate, so the node needs no CA key for it.
    Kubelet,
    /// Nobody on the node: only the admin renews it, by re-running
    /// `pki issue-node` (the kubelet's re-bootstrap credential).
    Admin,
}

/// What has to happen after a leaf file is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reload {
    /// The consumer reads the file again by itself: etcd loads its
    /// certificates on every TLS handshake, kube-apiserver watches its
    /// serving certificate, client-go reloads certificate files a kubeconfig
    /// points at.
    Nothing,
    /// The consumer reads the file only at start: restart the static pod's
    /// container (the kubelet starts it again).
    RestartStaticPod(String),
}

/// One leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafSpec {
    /// Stable identifier, kubeadm's base name where it has one (`apiserver`,
    /// `etcd/server`).
    pub id: String,
    pub realm: Realm,
    pub common_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    pub usages: Vec<Usage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// Only the apiserver's: the kubernetes Service address and the API VIP
    /// ([`ClusterConfig::apiserver_ips`]); its intermediate permits exactly
    /// these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<std::net::IpAddr>,
    pub algorithm: KeyAlgorithm,
    pub lifetime_days: u32,
    /// Absolute path on the node: the leaf followed by the intermediate.
    pub cert_path: String,
    /// Absolute path of the key; equal to `cert_path` for combined PEM files
    /// (the kubelet's `kubelet-client-current.pem`).
    pub key_path: String,
    pub renewed_by: RenewedBy,
    pub reload: Reload,
}

/// A per-host intermediate the host's leaves chain to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntermediateSpec {
    pub realm: Realm,
    /// The node gets the key only where it signs on its own: leaves it renews,
    /// or the controller-manager's CSR signers on control-plane nodes.
    pub ship_key: bool,
    pub root_path: String,
    pub cert_path: String,
    pub key_path: String,
}

/// Everything PKI a host gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    pub host: String,
    pub intermediates: Vec<IntermediateSpec>,
    pub leaves: Vec<LeafSpec>,
    /// Control-plane nodes get the cluster's service-account key pair.
    pub service_account: Option<ServiceAccountPaths>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountPaths {
    pub key_path: String,
    pub pub_path: String,
}

pub const PKI: &str = "/etc/kubernetes/pki";
pub const KUBELET_PKI: &str = "/var/lib/kubelet/pki";
/// Where the node finds this plan (written by `pki issue-node`).
pub const MANIFEST_PATH: &str = "/etc/mk/pki.yaml";
/// The kubelet's client certificate link (its certificate manager's layout:
/// `kubelet-client-current.pem` -> `kubelet-client-<stamp>.pem`).
pub const KUBELET_CLIENT_CURRENT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";

/// The file name the kubelet's certificate manager (client-go
/// `certificate.FileStore`) gives a certificate + key pair it stores:
/// `<prefix>-YYYY-MM-DD-HH-MM-SS.pem` (UTC), `<prefix>-current.pem` being a
/// link to it.
pub fn kubelet_dated_name(prefix: &str, at: time::OffsetDateTime) -> String {
    let t = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{prefix}-{:04}-{:02}-{:02}-{:02}-{:02}-{:02}.pem",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// kubeadm 1.29+ group for admin.conf and apiserver-kubelet-client (bound to
/// cluster-admin by kubeadm; no longer system:masters).
pub const CLUSTER_ADMINS: &str = "kubeadm:cluster-admins";

/// The kubelet's re-bootstrap credential (docs/pki.md, "Power-offs and
/// renewal"): used through `--bootstrap-kubeconfig` only when the kubelet's
/// own client certificate is missing or expired.
pub const BOOTSTRAP_CLIENT_ID: &str = "kubelet-bootstrap-client";
pub const BOOTSTRAP_CLIENT_CERT: &str = "/var/lib/kubelet/pki/bootstrap-client.crt";
pub const BOOTSTRAP_CLIENT_KEY: &str = "/var/lib/kubelet/pki/bootstrap-client.key";
/// Kubernetes' group of bootstrapping kubelets (what bootstrap tokens get).
pub const BOOTSTRAPPERS: &str = "system:bootstrappers";
/// The group the cluster binds to `system:node-bootstrapper` (create CSRs,
/// nothing else) and to kubelet-client CSR auto-approval.
pub const NODE_RECOVERY_GROUP: &str = "system:bootstrappers:mk:node-recovery";

/// User name of `node`'s re-bootstrap credential.
pub fn bootstrap_user(node: &str) -> String {
    format!("mk:bootstrap:{node}")
}

/// What must happen when the leaf `id` is replaced: the same for every node,
/// so that a plan derived from the certificates on a node (no manifest)
/// reloads exactly what `plan_node` would.
pub fn reload_of(id: &str) -> Reload {
    match id {
        // kube-apiserver reads its client certificates only at start.
        "apiserver-kubelet-client" | "apiserver-etcd-client" | "front-proxy-client" => {
            Reload::RestartStaticPod("kube-apiserver".into())
        }
        _ => Reload::Nothing,
    }
}

/// A leaf file a node may hold, whatever made it: the table a node uses to
/// find its leaves when it has no manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFile {
    pub id: &'static str,
    pub realm: Realm,
    pub cert_path: &'static str,
    pub key_path: &'static str,
    pub renewed_by: RenewedBy,
}

/// Every leaf [`plan_node`] can plan, by kubeadm's file names.
pub const LEAF_FILES: &[LeafFile] = {
    use Realm::{Etcd, FrontProxy, KubeletServing, Kubernetes};
    use RenewedBy::{Admin, Kubelet, Node};
    const fn f(
        id: &'static str,
        realm: Realm,
        cert_path: &'static str,
        key_path: &'static str,
        renewed_by: RenewedBy,
    ) -> LeafFile {
        LeafFile {
            id,
            realm,
            cert_path,
            key_path,
            renewed_by,
        }
    }
    &[
        f(
            "apiserver",
            Kubernetes,
            "/etc/kubernetes/pki/apiserver.crt",
            "/etc/kubernetes/pki/apiserver.key",
            Node,
        ),
        f(
            "apiserver-kubelet-client",
            Kubernetes,
            "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
            "/etc/kubernetes/pki/apiserver-kubelet-client.key",
            Node,
        ),
        f(
            "apiserver-etcd-client",
            Etcd,
            "/etc/kubernetes/pki/apiserver-etcd-client.crt",
            "/etc/kubernetes/pki/apiserver-etcd-client.key",
            Node,
        ),
        f(
            "front-proxy-client",
            FrontProxy,
            "/etc/kubernetes/pki/front-proxy-client.crt",
            "/etc/kubernetes/pki/front-proxy-client.key",
            Node,
        ),
        f(
            "controller-manager",
            Kubernetes,
            "/etc/kubernetes/pki/controller-manager.crt",
            "/etc/kubernetes/pki/controller-manager.key",
            Node,
        ),
        f(
            "scheduler",
            Kubernetes,
            "/etc/kubernetes/pki/scheduler.crt",
            "/etc/kubernetes/pki/scheduler.key",
            Node,
        ),
        f(
            "admin",
            Kubernetes,
            "/etc/kubernetes/pki/admin.crt",
            "/etc/kubernetes/pki/admin.key",
            Node,
        ),
        f(
            "etcd/server",
            Etcd,
            "/etc/kubernetes/pki/etcd/server.crt",
            "/etc/kubernetes/pki/etcd/server.key",
            Node,
        ),
        f(
            "etcd/peer",
            Etcd,
            "/etc/kubernetes/pki/etcd/peer.crt",
            "/etc/kubernetes/pki/etcd/peer.key",
            Node,
        ),
        f(
            "etcd/healthcheck-client",
            Etcd,
            "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
            "/etc/kubernetes/pki/etcd/healthcheck-client.key",
            Node,
        ),
        f(
            "kubelet-client",
            Kubernetes,
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
            Kubelet,
        ),
        f(
            "kubelet-serving",
            KubeletServing,
            "/var/lib/kubelet/pki/kubelet.crt",
            "/var/lib/kubelet/pki/kubelet.key",
            Kubelet,
        ),
        f(
            BOOTSTRAP_CLIENT_ID,
            Kubernetes,
            BOOTSTRAP_CLIENT_CERT,
            BOOTSTRAP_CLIENT_KEY,
            Admin,
        ),
    ]
};

impl NodePlan {
    pub fn realms(&self) -> Vec<Realm> {
        self.intermediates.iter().map(|i| i.realm).collect()
    }

    pub fn intermediate(&self, realm: Realm) -> Option<&IntermediateSpec> {
        self.intermediates.iter().find(|i| i.realm == realm)
    }

    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("NodePlan serialises")
    }
}

struct Builder<'a> {
    cluster: &'a ClusterConfig,
    leaves: Vec<LeafSpec>,
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    fn leaf(
        &mut self,
        id: &str,
        realm: Realm,
        cn: &str,
        orgs: &[&str],
        usages: &[Usage],
        dns: Vec<String>,
        ed25519_ok: bool,
        paths: (String, String),
        renewed_by: RenewedBy,
    ) {
        let algorithm = if ed25519_ok && self.cluster.ed25519_where_supported {
            KeyAlgorithm::Ed25519
        } else {
            self.cluster.algorithm
        };
        self.leaves.push(LeafSpec {
            id: id.into(),
            realm,
            common_name: cn.into(),
            organizations: orgs.iter().map(|s| s.to_string()).collect(),
            usages: usages.to_vec(),
            dns_names: dns,
            ip_addresses: vec![],
            algorithm,
            lifetime_days: self.cluster.lifetimes.leaf_days,
            cert_path: paths.0,
            key_path: paths.1,
            renewed_by,
            reload: reload_of(id),
        });
    }
}

fn pair(dir: &str, base: &str) -> (String, String) {
    (format!("{dir}/{base}.crt"), format!("{dir}/{base}.key"))
}

/// The certificates `node` gets in `cluster`.
pub fn plan_node(cluster: &ClusterConfig, node: &NodeSpec) -> NodePlan {
    use Usage::{ClientAuth, ServerAuth};
    let mut b = Builder {
        cluster,
        leaves: Vec::new(),
    };
    let host_names = node.all_names();

    if node.has(Role::ControlPlane) {
        // kubeadm GetAPIServerAltNames, minus the hosts' IP addresses (R28).
        let mut dns = host_names.clone();
        dns.extend(
            [
                "kubernetes".to_string(),
                "kubernetes.default".into(),
                "kubernetes.default.svc".into(),
                format!("kubernetes.default.svc.{}", cluster.service_domain),
                "localhost".into(),
            ]
            .into_iter()
            .chain(cluster.api_endpoint.clone()),
        );
        dedup(&mut dns);
        // Served to every kind of client (kubectl, Java, Python, browsers):
        // stays on the cluster algorithm.
        b.leaf(
            "apiserver",
            Realm::Kubernetes,
            "kube-apiserver",
            &[],
            &[ServerAuth],
            dns,
            false,
            pair(PKI, "apiserver"),
            RenewedBy::Node,
        );
        // The one IP SAN a protocol forces (R28): in-cluster clients connect
        // to the kubernetes Service's ClusterIP and verify it; VIP users
        // likewise. Both virtual: a host's address change reissues nothing.
        if let Some(l) = b.leaves.last_mut() {
            l.ip_addresses = cluster.apiserver_ips();
        }
        b.leaf(
            "apiserver-kubelet-client",
            Realm::Kubernetes,
            "kube-apiserver-kubelet-client",
            &[CLUSTER_ADMINS],
            &[ClientAuth],
            vec![],
            true,
            pair(PKI, "apiserver-kubelet-client"),
            RenewedBy::Node,
        );
        b.leaf(
            "apiserver-etcd-client",
            Realm::Etcd,
            "kube-apiserver-etcd-client",
            &[],
            &[ClientAuth],
            vec![],
            true,
            pair(PKI, "apiserver-etcd-client"),
            RenewedBy::Node,
        );
        // Presented to aggregated API servers written in any language.
        b.leaf(
            "front-proxy-client",
            Realm::FrontProxy,
            "front-proxy-client",
            &[],
            &[ClientAuth],
            vec![],
            false,
            pair(PKI, "front-proxy-client"),
            RenewedBy::Node,
        );
        // kubeadm embeds these in controller-manager.conf, scheduler.conf and
        // admin.conf; we keep them as files the kubeconfigs point at, so that
        // renewal never rewrites a kubeconfig and client-go picks them up.
        b.leaf(
            "controller-manager",
            Realm::Kubernetes,
            "system:kube-controller-manager",
            &[],
            &[ClientAuth],
            vec![],
            true,
            pair(PKI, "controller-manager"),
            RenewedBy::Node,
        );
        b.leaf(
            "scheduler",
            Realm::Kubernetes,
            "system:kube-scheduler",
            &[],
            &[ClientAuth],
            vec![],
            true,
            pair(PKI, "scheduler"),
            RenewedBy::Node,
        );
        // kubectl is not only Go: stays on the cluster algorithm.
        b.leaf(
            "admin",
            Realm::Kubernetes,
            "kubernetes-admin",
            &[CLUSTER_ADMINS],
            &[ClientAuth],
            vec![],
            false,
            pair(PKI, "admin"),
            RenewedBy::Node,
        );
    }
    if node.has(Role::Etcd) {
        // kubeadm GetEtcdAltNames / GetEtcdPeerAltNames minus the IPs; CN is
        // the node name; server and peer both carry both usages (etcd#9785).
        let mut dns = host_names.clone();
        dns.push("localhost".into());
        dedup(&mut dns);
        let mut peer = host_names.clone();
        peer.push("localhost".into());
        dedup(&mut peer);
        let etcd = format!("{PKI}/etcd");
        b.leaf(
            "etcd/server",
            Realm::Etcd,
            &node.name,
            &[],
            &[ServerAuth, ClientAuth],
            dns,
            true,
            pair(&etcd, "server"),
            RenewedBy::Node,
        );
        b.leaf(
            "etcd/peer",
            Realm::Etcd,
            &node.name,
            &[],
            &[ServerAuth, ClientAuth],
            peer,
            true,
            pair(&etcd, "peer"),
            RenewedBy::Node,
        );
        b.leaf(
            "etcd/healthcheck-client",
            Realm::Etcd,
            "kube-etcd-healthcheck-client",
            &[],
            &[ClientAuth],
            vec![],
            true,
            pair(&etcd, "healthcheck-client"),
            RenewedBy::Node,
        );
    }
    // Every node runs a kubelet. Client: kubeadm's kubelet.conf identity.
    // Serving: what serverTLSBootstrap would request. Both rotate through the
    // kubelet's own CSR-based rotation afterwards.
    let current = format!("{KUBELET_PKI}/kubelet-client-current.pem");
    b.leaf(
        "kubelet-client",
        Realm::Kubernetes,
        &format!("system:node:{}", node.name),
        &["system:nodes"],
        &[ClientAuth],
        vec![],
        false,
        (current.clone(), current),
        RenewedBy::Kubelet,
    );
    b.leaf(
        "kubelet-serving",
        Realm::KubeletServing,
        &format!("system:node:{}", node.name),
        &["system:nodes"],
        &[ServerAuth],
        host_names,
        false,
        pair(KUBELET_PKI, "kubelet"),
        RenewedBy::Kubelet,
    );
    // Every node: the re-bootstrap credential, for a kubelet whose client
    // certificate expired while the node was off. It can only create CSRs;
    // it lives as long as the host's intermediate (issue::leaf ends it
    // there), beyond which only the admin can help the node anyway.
    b.leaf(
        BOOTSTRAP_CLIENT_ID,
        Realm::Kubernetes,
        &bootstrap_user(&node.name),
        &[BOOTSTRAPPERS, NODE_RECOVERY_GROUP],
        &[ClientAuth],
        vec![],
        false,
        (BOOTSTRAP_CLIENT_CERT.into(), BOOTSTRAP_CLIENT_KEY.into()),
        RenewedBy::Admin,
    );
    if let Some(l) = b.leaves.last_mut() {
        l.lifetime_days = cluster.lifetimes.intermediate_days;
    }

    let mut intermediates: Vec<IntermediateSpec> = Vec::new();
    for leaf in &b.leaves {
        let signs_here = leaf.renewed_by == RenewedBy::Node
            // The controller-manager's kubelet-client and kubelet-serving
            // CSR signers (--cluster-signing-kubelet-*-file).
            || (node.has(Role::ControlPlane)
                && matches!(leaf.realm, Realm::Kubernetes | Realm::KubeletServing));
        match intermediates.iter_mut().find(|i| i.realm == leaf.realm) {
            Some(i) => i.ship_key |= signs_here,
            None => {
                let base = leaf.realm.node_ca_base();
                intermediates.push(IntermediateSpec {
                    realm: leaf.realm,
                    ship_key: signs_here,
                    root_path: format!("{base}.crt"),
                    cert_path: format!("{base}-intermediate.crt"),
                    key_path: format!("{base}-intermediate.key"),
                });
            }
        }
    }
    intermediates.sort_by_key(|i| i.realm);

    NodePlan {
        host: node.name.clone(),
        intermediates,
        leaves: b.leaves,
        service_account: node.has(Role::ControlPlane).then(|| ServiceAccountPaths {
            key_path: format!("{PKI}/sa.key"),
            pub_path: format!("{PKI}/sa.pub"),
        }),
    }
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|n| seen.insert(n.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(roles: &[Role]) -> NodeSpec {
        NodeSpec {
            name: "cp1.example.com".into(),
            cluster_domain: "example.com".into(),
            dns_names: vec![],
            roles: roles.to_vec(),
        }
    }

    fn leaf<'a>(p: &'a NodePlan, id: &str) -> &'a LeafSpec {
        p.leaves
            .iter()
            .find(|l| l.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
    }

    #[test]
    fn control_plane_gets_kubeadm_subjects_and_usages() {
        let mut c = ClusterConfig::new("example.com");
        c.api_endpoint = Some("api.example.com".into());
        let p = plan_node(&c, &node(&[Role::ControlPlane, Role::Etcd]));
        let a = leaf(&p, "apiserver");
        assert_eq!(a.common_name, "kube-apiserver");
        assert_eq!(a.usages, vec![Usage::ServerAuth]);
        for n in [
            "cp1.example.com",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "api.example.com",
        ] {
            assert!(a.dns_names.iter().any(|d| d == n), "{n}");
        }
        let k = leaf(&p, "apiserver-kubelet-client");
        assert_eq!(
            (k.common_name.as_str(), k.organizations.clone()),
            (
                "kube-apiserver-kubelet-client",
                vec![CLUSTER_ADMINS.to_string()]
            )
        );
        assert_eq!(leaf(&p, "apiserver-etcd-client").realm, Realm::Etcd);
        assert_eq!(leaf(&p, "front-proxy-client").realm, Realm::FrontProxy);
        assert_eq!(
            leaf(&p, "controller-manager").common_name,
            "system:kube-controller-manager"
        );
        assert_eq!(leaf(&p, "scheduler").common_name, "system:kube-scheduler");
        assert_eq!(leaf(&p, "admin").common_name, "kubernetes-admin");
        let s = leaf(&p, "etcd/server");
        assert_eq!(s.common_name, "cp1.example.com");
        assert_eq!(s.usages, vec![Usage::ServerAuth, Usage::ClientAuth]);
        assert!(s.dns_names.contains(&"localhost".to_string()));
        assert_eq!(
            leaf(&p, "etcd/healthcheck-client").common_name,
            "kube-etcd-healthcheck-client"
        );
        let kc = leaf(&p, "kubelet-client");
        assert_eq!(kc.common_name, "system:node:cp1.example.com");
        assert_eq!(kc.organizations, vec!["system:nodes"]);
        assert_eq!(kc.renewed_by, RenewedBy::Kubelet);
        assert!(p.service_account.is_some());
        // Control planes sign: every realm's key ships.
        assert!(
            p.intermediates.iter().all(|i| i.ship_key),
            "{:?}",
            p.intermediates
        );
        // No leaf carries anything that looks like an IP.
        for l in &p.leaves {
            for n in &l.dns_names {
                crate::names::check_dns_name(n).unwrap();
            }
        }
    }

    #[test]
    fn worker_gets_kubelet_certificates_and_no_ca_key() {
        let p = plan_node(&ClusterConfig::new("example.com"), &node(&[Role::Worker]));
        let ids: Vec<&str> = p.leaves.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["kubelet-client", "kubelet-serving", BOOTSTRAP_CLIENT_ID]
        );
        assert!(p.intermediates.iter().all(|i| !i.ship_key));
        assert!(p.service_account.is_none());
    }

    #[test]
    fn re_bootstrap_credential_can_only_bootstrap() {
        let mut c = ClusterConfig::new("example.com");
        c.lifetimes.intermediate_days = 60;
        let p = plan_node(&c, &node(&[Role::Worker]));
        let b = leaf(&p, BOOTSTRAP_CLIENT_ID);
        assert_eq!(b.common_name, "mk:bootstrap:cp1.example.com");
        assert_eq!(
            b.organizations,
            vec![
                "system:bootstrappers",
                "system:bootstrappers:mk:node-recovery"
            ]
        );
        assert_eq!(b.usages, vec![Usage::ClientAuth]);
        assert_eq!(b.realm, Realm::Kubernetes);
        assert_eq!(b.renewed_by, RenewedBy::Admin);
        assert_eq!(b.lifetime_days, 60);
        assert_eq!(b.cert_path, "/var/lib/kubelet/pki/bootstrap-client.crt");
        assert_eq!(b.key_path, "/var/lib/kubelet/pki/bootstrap-client.key");
        // Not a reason to ship a CA key to a worker.
        assert!(p.intermediates.iter().all(|i| !i.ship_key));
    }

    /// The table a node without manifest derives its plan from must say
    /// what plan_node says, leaf by leaf.
    #[test]
    fn leaf_file_table_matches_the_plan() {
        let p = plan_node(
            &ClusterConfig::new("example.com"),
            &node(&[Role::ControlPlane, Role::Etcd, Role::Worker]),
        );
        assert_eq!(p.leaves.len(), LEAF_FILES.len());
        for l in &p.leaves {
            let f = LEAF_FILES
                .iter()
                .find(|f| f.id == l.id)
                .unwrap_or_else(|| panic!("{} not in LEAF_FILES", l.id));
            assert_eq!(
                (f.realm, f.cert_path, f.key_path, f.renewed_by),
                (
                    l.realm,
                    l.cert_path.as_str(),
                    l.key_path.as_str(),
                    l.renewed_by
                ),
                "{}",
                l.id
            );
        }
        assert_eq!(
            leaf(&p, "front-proxy-client").reload,
            Reload::RestartStaticPod("kube-apiserver".into())
        );
        assert_eq!(leaf(&p, "etcd/server").reload, Reload::Nothing);
    }

    #[test]
    fn ed25519_only_where_every_consumer_takes_it() {
        let mut c = ClusterConfig::new("example.com");
        c.ed25519_where_supported = true;
        let p = plan_node(&c, &node(&[Role::ControlPlane, Role::Etcd]));
        assert_eq!(leaf(&p, "etcd/peer").algorithm, KeyAlgorithm::Ed25519);
        assert_eq!(leaf(&p, "apiserver").algorithm, KeyAlgorithm::EcdsaP256);
        assert_eq!(
            leaf(&p, "front-proxy-client").algorithm,
            KeyAlgorithm::EcdsaP256
        );
    }
}
