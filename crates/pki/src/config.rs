//! The two small YAML documents the PKI reads: the cluster settings that
//! `pki init` records (`pki.yaml`), and a node description (`node.yaml`).
//!
//! node.yaml (the first-boot issue extends this into the full role config):
//!
//! ```yaml
//! # Kubernetes node name and etcd member name; also the host's main DNS name.
//! name: cp1.example.com
//! # The cluster's DNS domain: every name below must be inside it.
//! cluster_domain: example.com
//! # Further DNS names of this host (optional). No IP addresses (R28).
//! dns_names: [cp1-etcd.example.com]
//! # Any of: control-plane, etcd, worker.
//! roles: [control-plane, etcd]
//! ```

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::keys::KeyAlgorithm;
use crate::names::{self, NameError};

/// Reading or validating pki.yaml / node.yaml failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: field `{field}`: {error}")]
    Name {
        path: String,
        field: &'static str,
        error: NameError,
    },
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        path: String,
        field: &'static str,
        message: String,
    },
}

fn default_service_domain() -> String {
    "cluster.local".into()
}

/// kubeadm's default service subnet.
fn default_service_cidr() -> String {
    "10.96.0.0/12".into()
}

/// The `kubernetes` Service's ClusterIP: the first address after the network
/// address of `cidr` (`10.96.0.1` for `10.96.0.0/12`), which the apiserver
/// allocates to it and in-cluster clients connect to. `cidr` must be an IPv4
/// or IPv6 network address with its prefix length.
pub fn service_ip(cidr: &str) -> Result<IpAddr, String> {
    let expected = "expected an IPv4 or IPv6 network such as 10.96.0.0/12";
    let (addr, prefix) = cidr
        .split_once('/')
        .ok_or_else(|| format!("{cidr:?} has no prefix length: {expected}"))?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{cidr:?}: {addr:?} is not an IP address: {expected}"))?;
    let width: u32 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = prefix.parse().ok().filter(|p| *p < width).ok_or_else(|| {
        format!(
            "{cidr:?}: prefix length {prefix:?} is not 0 to {}: {expected}",
            width - 1
        )
    })?;
    let (bits, host_mask) = match addr {
        // prefix < 32 here, so the shift cannot overflow.
        IpAddr::V4(a) => (u128::from(u32::from(a)), (1u128 << (32 - prefix)) - 1),
        IpAddr::V6(a) => (
            u128::from(a),
            if prefix == 0 {
                u128::MAX
            } else {
                (1u128 << (128 - prefix)) - 1
            },
        ),
    };
    if bits & host_mask != 0 {
        return Err(format!(
            "{cidr:?} is not a network address (host bits set): {expected}"
        ));
    }
    Ok(match addr {
        IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from((bits + 1) as u32)),
        IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(bits + 1)),
    })
}

/// Lifetimes in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    /// Roots live long and stay offline.
    pub root_days: u32,
    /// Per-host intermediates: medium-lived, re-signed with the offline root.
    pub intermediate_days: u32,
    /// Leaves: days, renewed on the node at two thirds of their life (R23).
    pub leaf_days: u32,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            root_days: 3650,
            intermediate_days: 90,
            leaf_days: 7,
        }
    }
}

/// Cluster-wide PKI settings, written by `pki init` as pki.yaml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The cluster's DNS domain: host names live under it, and intermediates
    /// are name-constrained to it.
    pub domain: String,
    /// Kubernetes' service DNS domain (kubelet `clusterDomain`).
    #[serde(default = "default_service_domain")]
    pub service_domain: String,
    /// DNS name clients use for the apiserver (VIP or load balancer), if any;
    /// it goes into every apiserver certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    /// Kubernetes' service ClusterIP range: its first address, the
    /// `kubernetes` Service's, is the one IP address apiserver certificates
    /// name (in-cluster clients connect to it and verify it).
    #[serde(default = "default_service_cidr")]
    pub service_cidr: String,
    /// The keepalived virtual IP of the API (R31), if any: apiserver
    /// certificates name it too, for clients that connect to the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_vip: Option<IpAddr>,
    /// Key algorithm for roots, intermediates and leaves.
    #[serde(default)]
    pub algorithm: KeyAlgorithm,
    /// Use Ed25519 for leaves whose every consumer accepts it (etcd, Go
    /// clients of the apiserver), whatever `algorithm` says.
    #[serde(default)]
    pub ed25519_where_supported: bool,
    #[serde(default)]
    pub lifetimes: Lifetimes,
}

impl ClusterConfig {
    pub fn new(domain: &str) -> Self {
        ClusterConfig {
            domain: domain.to_string(),
            service_domain: default_service_domain(),
            api_endpoint: None,
            service_cidr: default_service_cidr(),
            api_vip: None,
            algorithm: KeyAlgorithm::default(),
            ed25519_where_supported: false,
            lifetimes: Lifetimes::default(),
        }
    }

    /// The IP addresses every apiserver certificate names, and the only ones
    /// the kubernetes realm's intermediates permit: the `kubernetes`
    /// Service's ClusterIP, then the VIP if one is configured. Empty only if
    /// `service_cidr` is invalid (which [`ClusterConfig::validate`] refuses).
    pub fn apiserver_ips(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = service_ip(&self.service_cidr).into_iter().collect();
        if let Some(vip) = self.api_vip {
            if !v.contains(&vip) {
                v.push(vip);
            }
        }
        v
    }

    /// Check names and lifetimes; `path` names the error in errors.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let name = |field, n: &str| {
            names::check_dns_name(n).map_err(|error| ConfigError::Name {
                path: path.to_string(),
                field,
                error: error.into(),
            })
        };
        name("domain", &self.domain)?;
        name("service_domain", &self.service_domain)?;
        if let Some(api) = &self.api_endpoint {
            name("api_endpoint", api)?;
            if !names::within_subtree(api, &self.domain) {
                return Err(ConfigError::Invalid {
                    path: path.into(),
                    field: "api_endpoint",
                    message: format!("{api:?} is not inside the cluster domain {:?}", self.domain),
                });
            }
        }
        service_ip(&self.service_cidr).map_err(|message| ConfigError::Invalid {
            path: path.into(),
            field: "service_cidr",
            message,
        })?;
        if let Some(vip) = self.api_vip {
            if vip.is_unspecified() || vip.is_loopback() || vip.is_multicast() {
                return Err(ConfigError::Invalid {
                    path: path.into(),
                    field: "api_vip",
                    message: format!(
                        "{vip} is not a unicast host address (expected the keepalived virtual IP)"
                    ),
                });
            }
        }
        let l = &self.lifetimes;
        let bad = |field, message: String| {
            Err(ConfigError::Invalid {
                path: path.into(),
                field,
                message,
            })
        };
        if l.leaf_days == 0 || l.intermediate_days == 0 || l.root_days == 0 {
            return bad("lifetimes", "lifetimes must be at least one day".into());
        }
        if l.leaf_days >= l.intermediate_days {
            return bad(
                "lifetimes.leaf_days",
                format!(
                    "{} days is not shorter than the intermediates' {} days",
                    l.leaf_days, l.intermediate_days
                ),
            );
        }
        if l.intermediate_days >= l.root_days {
            return bad(
                "lifetimes.intermediate_days",
                format!(
                    "{} days is not shorter than the roots' {} days",
                    l.intermediate_days, l.root_days
                ),
            );
        }
        Ok(())
    }

    pub fn from_yaml(text: &str, path: &str) -> Result<Self, ConfigError> {
        let c: ClusterConfig = serde_norway::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        c.validate(path)?;
        Ok(c)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_yaml(&read(path)?, &path.display().to_string())
    }

    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("ClusterConfig serialises")
    }
}

/// What a node does; decides which certificates it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ControlPlane,
    Etcd,
    Worker,
}

/// A node as the PKI sees it (node.yaml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    pub cluster_domain: String,
    #[serde(default)]
    pub dns_names: Vec<String>,
    pub roles: Vec<Role>,
}

impl NodeSpec {
    /// All DNS names of the host, its node name first, without duplicates.
    pub fn all_names(&self) -> Vec<String> {
        let mut v = vec![self.name.clone()];
        for n in &self.dns_names {
            if !v.contains(n) {
                v.push(n.clone());
            }
        }
        v
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let name = |field, n: &str| {
            names::check_dns_name(n).map_err(|error| ConfigError::Name {
                path: path.to_string(),
                field,
                error: error.into(),
            })
        };
        name("cluster_domain", &self.cluster_domain)?;
        for (field, n) in std::iter::once(("name", &self.name))
            .chain(self.dns_names.iter().map(|n| ("dns_names", n)))
        {
            name(field, n)?;
            if !names::within_subtree(n, &self.cluster_domain) {
                return Err(ConfigError::Invalid {
                    path: path.into(),
                    field,
                    message: format!(
                        "{n:?} is not inside the cluster domain {:?}",
                        self.cluster_domain
                    ),
                });
            }
        }
        if self.roles.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.into(),
                field: "roles",
                message: "at least one of control-plane, etcd, worker".into(),
            });
        }
        Ok(())
    }

    pub fn from_yaml(text: &str, path: &str) -> Result<Self, ConfigError> {
        let n: NodeSpec = serde_norway::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        n.validate(path)?;
        Ok(n)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_yaml(&read(path)?, &path.display().to_string())
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.display().to_string(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_yaml_parses() {
        let n = NodeSpec::from_yaml(
            "name: cp1.example.com\ncluster_domain: example.com\ndns_names: [cp1-etcd.example.com]\nroles: [control-plane, etcd]\n",
            "node.yaml",
        )
        .unwrap();
        assert_eq!(
            n.all_names(),
            vec!["cp1.example.com", "cp1-etcd.example.com"]
        );
        assert!(n.has(Role::Etcd) && !n.has(Role::Worker));
    }

    #[test]
    fn node_yaml_errors_name_file_and_field() {
        let e = NodeSpec::from_yaml(
            "name: cp1.example.com\ncluster_domain: example.com\ndns_names: [10.0.0.5]\nroles: [worker]\n",
            "n.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("n.yaml") && e.contains("dns_names") && e.contains("R28"),
            "{e}"
        );
        let e = NodeSpec::from_yaml(
            "name: cp1.other.org\ncluster_domain: example.com\nroles: [worker]\n",
            "n.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`name`") && e.contains("example.com"), "{e}");
        let e = NodeSpec::from_yaml(
            "name: a.example.com\ncluster_domain: example.com\nroles: [master]\n",
            "n.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("n.yaml") && e.contains("roles"), "{e}");
        let e = NodeSpec::from_yaml(
            "name: a.example.com\ncluster_domain: example.com\nroles: []\n",
            "n.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("roles"), "{e}");
    }

    #[test]
    fn cluster_yaml_round_trip_and_lifetime_checks() {
        let mut c = ClusterConfig::new("example.com");
        c.api_endpoint = Some("api.example.com".into());
        let back = ClusterConfig::from_yaml(&c.to_yaml(), "pki.yaml").unwrap();
        assert_eq!(back, c);
        c.lifetimes.leaf_days = 90;
        let e = c.validate("pki.yaml").unwrap_err().to_string();
        assert!(e.contains("leaf_days"), "{e}");
    }

    #[test]
    fn service_cidr_and_vip() {
        // pki.yaml files written before these fields keep loading.
        let c = ClusterConfig::from_yaml("domain: example.com\n", "pki.yaml").unwrap();
        assert_eq!(c.service_cidr, "10.96.0.0/12");
        assert_eq!(c.apiserver_ips(), ["10.96.0.1".parse::<IpAddr>().unwrap()]);
        let mut c = ClusterConfig::new("example.com");
        c.service_cidr = "fd00:10:96::/112".into();
        c.api_vip = Some("192.168.1.10".parse().unwrap());
        let back = ClusterConfig::from_yaml(&c.to_yaml(), "pki.yaml").unwrap();
        assert_eq!(back, c);
        assert_eq!(
            back.apiserver_ips(),
            [
                "fd00:10:96::1".parse::<IpAddr>().unwrap(),
                "192.168.1.10".parse().unwrap()
            ]
        );
        assert_eq!(service_ip("10.0.0.0/8").unwrap().to_string(), "10.0.0.1");
        assert_eq!(service_ip("0.0.0.0/0").unwrap().to_string(), "0.0.0.1");
        assert_eq!(service_ip("::/0").unwrap().to_string(), "::1");
        for bad in [
            "10.96.0.0",
            "10.96.0.1/12",
            "10.96.0.0/32",
            "10.96.0.0/x",
            "svc/12",
            "::/128",
        ] {
            c.service_cidr = bad.into();
            let e = c.validate("pki.yaml").unwrap_err().to_string();
            assert!(
                e.contains("pki.yaml") && e.contains("service_cidr") && e.contains(bad),
                "{bad}: {e}"
            );
        }
        let e =
            ClusterConfig::from_yaml("domain: example.com\napi_vip: api.example.com\n", "p.yaml")
                .unwrap_err()
                .to_string();
        assert!(e.contains("p.yaml") && e.contains("api_vip"), "{e}");
    }
}
