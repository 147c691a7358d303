//! mk-imagerefs: every container image a node will ask containerd for, and
//! whether the bundle's registry has it (issue 11: nothing pulled from
//! outside).
//!
//! [`gather`] plans the node exactly as first boot does (mk-nodeconf) and
//! the cluster's API objects as the bootstrap control plane applies them
//! (mk-cluster), then **reads the planned files and objects**: `image`
//! fields of static pods and pod templates, containerd's `sandbox_image`,
//! the kubelet's `--pod-infra-container-image`, and any token in any
//! planned text that names a registry host with a tag or digest. Nothing is
//! re-derived from the version table, so a reference hidden in a planned
//! file is listed like any other. [`check`] decides for each reference
//! whether a registry tree ([`RegistryView`]: a bundle ISO or an unpacked
//! tree) serves it under the name containerd asks its mirror for.
//!
//! Pure apart from [`RegistryView`]'s reading of the ISO or tree.

pub mod check;
pub mod reference;
pub mod scan;
pub mod testing;
pub mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use mk_cluster::ApiObject;
use mk_nodeconf::steps::{containerd, kubelet};
use mk_nodeconf::{Action, HostFacts};
use mk_roleconfig::names::Cidr;
use mk_roleconfig::{NodeConfig, Role};
use serde_json::Value;

pub use check::{check, check_with, Checked, Report, Status};
pub use view::{RegistryView, ViewError};

/// One image reference and everything on the node that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// As written where it is used (`registry.k8s.io/pause:3.9`).
    pub reference: String,
    /// The files and objects that name it, sorted:
    /// `/etc/kubernetes/manifests/etcd.yaml containers[etcd]`,
    /// `/etc/containerd/config.toml sandbox_image`,
    /// `DaemonSet kube-system/calico-node initContainers[install-cni]`.
    pub used_by: Vec<String>,
}

/// What [`gather`] found for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeImages {
    /// The node's name (`metadata.name`).
    pub node: String,
    /// Every reference, sorted by reference.
    pub images: Vec<ImageRef>,
    /// Registry hosts containerd sends to the bundle's registry, read from
    /// the planned `certs.d/<host>/hosts.toml` files; `_default` means
    /// every host.
    pub mirrored_hosts: BTreeSet<String>,
    /// Certificate files the config does not deliver yet (`mk-compose
    /// config-drive` adds them), planned with placeholders: no image
    /// reference depends on certificate contents.
    pub placeholders: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RefsError {
    #[error("{node}: {field}: {message}")]
    Config {
        node: String,
        field: String,
        message: String,
    },
    #[error("{node}: planning the node to read its image references: {source}")]
    Plan {
        node: String,
        #[source]
        source: mk_nodeconf::PlanError,
    },
    #[error("{node}: planning the cluster's API objects to read their images: {source}")]
    Cluster {
        node: String,
        #[source]
        source: mk_cluster::ClusterError,
    },
    #[error("{node}: planned file {path}: {message}")]
    File {
        node: String,
        path: String,
        message: String,
    },
}

/// containerd 1.6's built-in `sandbox_image` (CRI plugin default), used when
/// its config.toml names none: a hidden reference of exactly the kind this
/// crate exists to catch.
pub const CONTAINERD_DEFAULT_SANDBOX: &str = "registry.k8s.io/pause:3.6";

/// The placeholder certificate every missing `.crt`/`.pem` is planned with
/// (self-signed, its key thrown away; CN says what it is). The planner reads
/// dates from some certificates (the kubelet's dated file names, the
/// controller-manager's signing duration), so it must parse.
const PLACEHOLDER_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBuTCCAWCgAwIBAgIBATAKBggqhkjOPQQDAjA7MTkwNwYDVQQDDDBtay1pbWFn
ZXJlZnMgcGxhY2Vob2xkZXIsIG5vdCBhIHJlYWwgY2VydGlmaWNhdGUwIBcNMjYx
MjA3MTA0MjUwWhgPMjEyNjExMTMxMDQyNTBaMDsxOTA3BgNVBAMMMG1rLWltYWdl
cmVmcyBwbGFjZWhvbGRlciwgbm90IGEgcmVhbCBjZXJ0aWZpY2F0ZTBZMBMGByqG
SM49AgEGCCqGSM49AwEHA0IABHq4dD39WZf2kJZhlAnl4ClP6RRucAJlcgDna/+l
Pxkwf2wRC257uip3Lr/xYTbIPMMDzfLp7MTC1nTZEpWHazajUzBRMB0GA1UdDgQW
BBROovaLXbnwx7w5tSrmjQShS9s8jTAfBgNVHSMEGDAWgBROovaLXbnwx7w5tSrm
jQShS9s8jTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIGpsYM1x
6w3CbKJauNOKJrG2LDaHtHV5CvXyvQMFkNkmAiBNyv3noCoMBhQUuHlfvThWqloh
GK3FSwa7AbWmslImvQ==
-----END CERTIFICATE-----
";
const PLACEHOLDER_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\ncGxhY2Vob2xkZXI=\n-----END PRIVATE KEY-----\n";
const PLACEHOLDER_PUB: &str =
    "-----BEGIN PUBLIC KEY-----\ncGxhY2Vob2xkZXI=\n-----END PUBLIC KEY-----\n";

/// `sha256:` of nothing in particular: plans record the config digest, and
/// no step's output depends on it.
const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The references of `config`'s node, sorted (see [`gather`]).
pub fn references(config: &NodeConfig) -> Result<Vec<ImageRef>, RefsError> {
    gather(config).map(|n| n.images)
}

/// Plans `config`'s node and the cluster's API objects and reads every
/// image reference out of them.
///
/// The node is planned on a made-up host whose addresses are the first
/// usable one of each plane's CIDR (never the VIP). Certificates the config
/// does not deliver yet are filled with placeholders (listed in
/// [`NodeImages::placeholders`]). The API objects are those the bootstrap
/// control plane applies, planned from this config as if it were the
/// bootstrap node: their DaemonSets run on every node and their
/// Deployments on any, so every node may pull their images.
pub fn gather(config: &NodeConfig) -> Result<NodeImages, RefsError> {
    let node = config.metadata.name.clone();
    let (config, placeholders) = with_placeholders(config);
    let joining = config.spec.roles.contains(&Role::ControlPlane)
        && !config.spec.roles.contains(&Role::BootstrapControlPlane);
    let facts = HostFacts {
        addresses: host_addresses(&config)?,
        // A joining control plane's etcd flags list the members it joins;
        // its images do not depend on who they are.
        etcd_members: if joining {
            vec![mk_nodeconf::EtcdMember {
                name: node.clone(),
                peer_url: format!("https://{node}:2380"),
            }]
        } else {
            Vec::new()
        },
        ..HostFacts::default()
    };
    let plan = mk_nodeconf::plan(DIGEST, &config, &facts).map_err(|source| RefsError::Plan {
        node: node.clone(),
        source,
    })?;
    // The cluster's API objects, as the bootstrap control plane plans them.
    let mut boot = config.clone();
    boot.spec.roles = vec![Role::BootstrapControlPlane];
    let cluster = mk_cluster::plan(&mk_cluster::Inputs {
        config: &boot,
        ca_pem: PLACEHOLDER_CERT,
        now: time::OffsetDateTime::UNIX_EPOCH,
    })
    .map_err(|source| RefsError::Cluster {
        node: node.clone(),
        source,
    })?;
    let objects: Vec<ApiObject> = cluster.objects.into_iter().chain(cluster.node).collect();
    let mut images = from_plans(&node, &plan, &objects)?;
    images.placeholders = placeholders;
    Ok(images)
}

/// Reads every image reference out of a node's plan and the API objects
/// applied in its cluster (what [`gather`] does once it has planned them;
/// public so that a crafted plan can be checked).
pub fn from_plans(
    node: &str,
    plan: &mk_nodeconf::Plan,
    objects: &[ApiObject],
) -> Result<NodeImages, RefsError> {
    let node = node.to_string();
    let mut found = Found::default();
    let mut files: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for step in &plan.steps {
        for a in &step.actions {
            if let Action::WriteFile { path, contents, .. } = a {
                files.insert(path.as_str(), contents.as_slice());
            }
        }
    }
    let file_err = |path: &str, message: String| RefsError::File {
        node: node.clone(),
        path: path.to_string(),
        message,
    };
    let mut mirrored_hosts = BTreeSet::new();
    let mut config_path = None;
    let mut saw_containerd = false;
    for (&path, &bytes) in &files {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json") {
            let docs = yaml_documents(text).map_err(|m| file_err(path, m))?;
            for doc in &docs {
                for f in scan::image_fields(doc) {
                    found.structural(f.reference, path, &f.place);
                }
            }
        }
        if path == containerd::CONFIG {
            saw_containerd = true;
            let mut sandbox = false;
            for (table, key, value) in scan::toml_strings(text) {
                if key == "sandbox_image" || key.ends_with("_image") {
                    sandbox |= key == "sandbox_image";
                    found.structural(value, path, &key);
                } else if key == "config_path" && table.ends_with(".registry") {
                    config_path = Some(value);
                }
            }
            if !sandbox {
                found.structural(
                    CONTAINERD_DEFAULT_SANDBOX.to_string(),
                    path,
                    "sandbox_image (not set: containerd's built-in default)",
                );
            }
        }
        if path == kubelet::FLAGS {
            for r in scan::pod_infra_flag(text) {
                found.structural(r, path, "--pod-infra-container-image");
            }
        }
        for r in scan::text_references(text) {
            found.text(r, path);
        }
    }
    if !saw_containerd {
        return Err(file_err(
            containerd::CONFIG,
            "not in the plan: cannot tell which image containerd uses for pod sandboxes".into(),
        ));
    }
    if let Some(dir) = &config_path {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        for (&path, &bytes) in &files {
            let Some(host) = path
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix("/hosts.toml"))
            else {
                continue;
            };
            let text = String::from_utf8_lossy(bytes);
            if text.lines().any(|l| l.trim_start().starts_with("[host.")) {
                mirrored_hosts.insert(host.to_string());
            }
        }
    }

    for o in objects {
        let id = o.id();
        for f in scan::image_fields(&o.body) {
            found.structural(f.reference, &id, &f.place);
        }
        let mut texts = Vec::new();
        scan::strings(&o.body, &mut texts);
        for t in texts {
            for r in scan::text_references(&t) {
                found.text(r, &id);
            }
        }
    }
    Ok(NodeImages {
        node,
        images: found.into_refs(),
        mirrored_hosts,
        placeholders: Vec::new(),
    })
}

/// References by where they were found: structural finds name their
/// field; a text find is kept only where no field of the same file or
/// object gave the same reference.
#[derive(Default)]
struct Found {
    /// reference -> source -> places (empty set: found by the text scan only)
    by_ref: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Found {
    fn structural(&mut self, reference: String, source: &str, place: &str) {
        self.by_ref
            .entry(reference)
            .or_default()
            .entry(source.to_string())
            .or_default()
            .insert(place.to_string());
    }

    fn text(&mut self, reference: String, source: &str) {
        self.by_ref
            .entry(reference)
            .or_default()
            .entry(source.to_string())
            .or_default();
    }

    fn into_refs(self) -> Vec<ImageRef> {
        self.by_ref
            .into_iter()
            .map(|(reference, sources)| {
                let mut used_by = Vec::new();
                for (source, places) in sources {
                    if places.is_empty() {
                        used_by.push(source);
                    } else {
                        used_by.extend(places.into_iter().map(|p| format!("{source} {p}")));
                    }
                }
                ImageRef { reference, used_by }
            })
            .collect()
    }
}

/// Every YAML document of a file, as JSON values (R19 headers are comments).
fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The first usable address of each plane's CIDR that is not the VIP.
fn host_addresses(config: &NodeConfig) -> Result<Vec<IpAddr>, RefsError> {
    let spec = &config.spec;
    let vip: Option<IpAddr> = spec
        .cluster
        .api_endpoint
        .vip
        .as_deref()
        .and_then(|v| v.parse().ok());
    let mut planes = vec![("spec.planes.control.cidr", &spec.planes.control.cidr)];
    if let Some(p) = &spec.planes.workload {
        planes.push(("spec.planes.workload.cidr", &p.cidr));
    }
    if let Some(p) = &spec.planes.etcd {
        planes.push(("spec.planes.etcd.cidr", &p.cidr));
    }
    let mut out = Vec::new();
    for (field, text) in planes {
        let cidr = Cidr::parse(text).map_err(|message| RefsError::Config {
            node: config.metadata.name.clone(),
            field: field.into(),
            message,
        })?;
        let a = first_host(cidr, vip).ok_or_else(|| RefsError::Config {
            node: config.metadata.name.clone(),
            field: field.into(),
            message: format!("{cidr}: no address besides the VIP"),
        })?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

fn first_host(cidr: Cidr, vip: Option<IpAddr>) -> Option<IpAddr> {
    let (base, width): (u128, u32) = match cidr.addr {
        IpAddr::V4(a) => (u32::from(a).into(), 32),
        IpAddr::V6(a) => (a.into(), 128),
    };
    let size_bits = width - u32::from(cidr.prefix);
    let count: u128 = if size_bits >= 128 {
        u128::MAX
    } else {
        1u128 << size_bits
    };
    // Skip the network address where the network has room for hosts.
    let start = if count > 2 { 1 } else { 0 };
    (start..count.min(start + 3))
        .map(|i| match cidr.addr {
            IpAddr::V4(_) => IpAddr::V4(((base + i) as u32).into()),
            IpAddr::V6(_) => IpAddr::V6((base + i).into()),
        })
        .find(|a| Some(*a) != vip)
}

/// `config` with every certificate file its role may hold and it lacks
/// filled with a placeholder, and the names filled.
fn with_placeholders(config: &NodeConfig) -> (NodeConfig, Vec<String>) {
    use mk_roleconfig::pki::{allowed_on_worker, kind_of, FileKind, KNOWN_FILE_NAMES};
    let mut c = config.clone();
    let cp = c.spec.is_control_plane();
    let mut filled = Vec::new();
    for &name in KNOWN_FILE_NAMES {
        if c.spec.certificates.contains_key(name) || !(cp || allowed_on_worker(name)) {
            continue;
        }
        let text = match kind_of(name) {
            Some(FileKind::Certificate) => PLACEHOLDER_CERT.to_string(),
            Some(FileKind::CertificateAndKey) => format!("{PLACEHOLDER_CERT}{PLACEHOLDER_KEY}"),
            Some(FileKind::PrivateKey) => PLACEHOLDER_KEY.to_string(),
            Some(FileKind::PublicKey) => PLACEHOLDER_PUB.to_string(),
            None => continue,
        };
        c.spec.certificates.insert(name.to_string(), text);
        filled.push(name.to_string());
    }
    (c, filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_hosts() {
        let c = |s: &str| Cidr::parse(s).unwrap();
        assert_eq!(
            first_host(c("10.0.0.0/24"), None),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            first_host(c("10.0.0.0/24"), Some("10.0.0.1".parse().unwrap())),
            Some("10.0.0.2".parse().unwrap())
        );
        assert_eq!(
            first_host(c("10.0.0.7/32"), None),
            Some("10.0.0.7".parse().unwrap())
        );
        assert_eq!(
            first_host(c("10.0.0.7/32"), Some("10.0.0.7".parse().unwrap())),
            None
        );
        assert_eq!(
            first_host(c("fd00::/64"), None),
            Some("fd00::1".parse().unwrap())
        );
    }
}
