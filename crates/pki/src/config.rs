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
            algorithm: KeyAlgorithm::default(),
            ed25519_where_supported: false,
            lifetimes: Lifetimes::default(),
        }
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
}
