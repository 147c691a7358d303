//! Certificate realms (R22): each has its own root and per-host intermediates,
//! so that a certificate from one realm is never accepted by another.

use serde::{Deserialize, Serialize};

/// A trust domain with its own root CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Realm {
    /// etcd server, peer and client certificates.
    Etcd,
    /// The Kubernetes API: apiserver serving, component and user clients.
    Kubernetes,
    /// The aggregation layer's requestheader client (front-proxy-client).
    FrontProxy,
    /// Kubelet serving certificates (kubeadm self-signs these per node; we
    /// give them a realm so the apiserver can verify kubelets).
    KubeletServing,
    /// The bundle's container registry served from control-plane nodes.
    Registry,
    /// Ingress controllers' default certificates (application names).
    Ingress,
}

impl Realm {
    pub const ALL: [Realm; 6] = [
        Realm::Etcd,
        Realm::Kubernetes,
        Realm::FrontProxy,
        Realm::KubeletServing,
        Realm::Registry,
        Realm::Ingress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Realm::Etcd => "etcd",
            Realm::Kubernetes => "kubernetes",
            Realm::FrontProxy => "front-proxy",
            Realm::KubeletServing => "kubelet-serving",
            Realm::Registry => "registry",
            Realm::Ingress => "ingress",
        }
    }

    /// Common name of the root: kubeadm's CA names where kubeadm has one.
    pub fn root_common_name(self) -> &'static str {
        match self {
            Realm::Etcd => "etcd-ca",
            Realm::Kubernetes => "kubernetes",
            Realm::FrontProxy => "front-proxy-ca",
            Realm::KubeletServing => "kubelet-serving-ca",
            Realm::Registry => "registry-ca",
            Realm::Ingress => "ingress-ca",
        }
    }

    /// Where the realm's CA files sit on a node, without extension: kubeadm's
    /// names under /etc/kubernetes/pki (`ca`, `front-proxy-ca`, `etcd/ca`).
    /// The root certificate is `<base>.crt`, this host's intermediate
    /// `<base>-intermediate.{crt,key}`.
    pub fn node_ca_base(self) -> &'static str {
        match self {
            Realm::Etcd => "/etc/kubernetes/pki/etcd/ca",
            Realm::Kubernetes => "/etc/kubernetes/pki/ca",
            Realm::FrontProxy => "/etc/kubernetes/pki/front-proxy-ca",
            Realm::KubeletServing => "/etc/kubernetes/pki/kubelet-serving-ca",
            Realm::Registry => "/etc/kubernetes/pki/registry-ca",
            Realm::Ingress => "/etc/kubernetes/pki/ingress-ca",
        }
    }

    /// DNS subtrees an intermediate of this realm may issue for, or `None`
    /// where the realm cannot be constrained (ingress serves application
    /// names the cluster does not own). Every intermediate but
    /// kubelet-serving's also excludes all IP addresses but its
    /// [`Realm::permitted_ips`] (R28, see [`Realm::allows_ip_addresses`]).
    pub fn permitted_dns(self, cluster: &crate::ClusterConfig) -> Option<Vec<String>> {
        let d = cluster.domain.clone();
        match self {
            // kubeadm puts `localhost` on etcd server and peer certificates.
            Realm::Etcd => Some(vec![d, "localhost".into()]),
            // The apiserver's in-cluster service names, each as narrow a
            // subtree as DNS constraints allow (a subtree is a suffix).
            Realm::Kubernetes => Some(vec![
                d,
                "localhost".into(),
                "kubernetes".into(),
                "kubernetes.default".into(),
                "kubernetes.default.svc".into(),
                format!("kubernetes.default.svc.{}", cluster.service_domain),
            ]),
            Realm::FrontProxy | Realm::KubeletServing | Realm::Registry => Some(vec![d]),
            Realm::Ingress => None,
        }
    }
}

impl Realm {
    /// The only IP addresses an intermediate of this realm may sign for
    /// (as /32 or /128 permitted subtrees): for kubernetes, the
    /// `kubernetes` Service's ClusterIP and the API VIP, which in-cluster
    /// clients and VIP users connect to and verify (the one place a protocol
    /// forces an IP SAN, R28). Virtual addresses: a host's address change
    /// reissues nothing. Empty for every other realm.
    pub fn permitted_ips(self, cluster: &crate::ClusterConfig) -> Vec<std::net::IpAddr> {
        match self {
            Realm::Kubernetes => cluster.apiserver_ips(),
            _ => vec![],
        }
    }

    /// Whether this realm's intermediates may sign certificates naming IP
    /// addresses. Only kubelet-serving: the kubelet always puts the node's
    /// addresses into its serving-certificate CSR (serverTLSBootstrap, a
    /// template we cannot change), and the approver admits a CSR only if its
    /// names are exactly the node's. Every other realm excludes all IPv4
    /// and IPv6 addresses (R28), but for its [`Realm::permitted_ips`].
    pub fn allows_ip_addresses(self) -> bool {
        self == Realm::KubeletServing
    }
}

impl std::fmt::Display for Realm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Realm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Realm::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Realm::ALL.iter().map(|r| r.name()).collect();
                format!("unknown realm {s:?}: expected one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Realm::ALL {
            assert_eq!(r.name().parse::<Realm>().unwrap(), r);
        }
        assert!("kube".parse::<Realm>().unwrap_err().contains("front-proxy"));
    }
}
