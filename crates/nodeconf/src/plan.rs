//! `plan`: the role config and the host's facts in, every step first boot
//! applies out. Pure: no clock, no files, no host lookups.

use std::net::IpAddr;

use mk_roleconfig::{NodeConfig, NodeSpec, Role};

use crate::action::{Plan, Step};
use crate::facts::{self, Addresses, HostFacts};
use crate::steps;
use crate::versions::Versions;

/// Why no plan could be made. Each names the config field (YAML path) or
/// the plane it is about.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "no address of this host lies in the {plane} plane {cidr} (spec.planes.{plane}.cidr); \
         addresses seen: {}",
        if seen.is_empty() { "none".to_string() } else { seen.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ") }
    )]
    NoAddressInPlane {
        plane: &'static str,
        cidr: String,
        seen: Vec<IpAddr>,
    },
    #[error("{field}: {message}")]
    Config { field: String, message: String },
}

pub(crate) fn config_error(field: impl Into<String>, message: impl Into<String>) -> PlanError {
    PlanError::Config {
        field: field.into(),
        message: message.into(),
    }
}

/// What every step may read. Steps pick from it and put exactly what they
/// used into their input digest.
pub(crate) struct Ctx<'a> {
    pub spec: &'a NodeSpec,
    pub node: &'a str,
    pub addrs: Addresses,
    pub versions: Versions,
    pub control_plane: bool,
    pub worker: bool,
    pub facts: &'a HostFacts,
}

impl Ctx<'_> {
    pub fn has(&self, cert: &str) -> bool {
        self.spec.certificates.contains_key(cert)
    }

    /// Names of the delivered certificate files (not their contents): what
    /// flags and kubeconfigs point at.
    pub fn cert_names(&self) -> Vec<&str> {
        self.spec.certificates.keys().map(String::as_str).collect()
    }

    /// The DNS name etcd is reached by on its plane. On a single network:
    /// the node name. With a separate etcd plane the node name resolves to
    /// the control-plane address, so the etcd plane needs its own name:
    /// `<first label>-etcd.<rest of the node name>` in `spec.dnsNames`
    /// (docs/kubeadm-differences.md).
    pub fn etcd_dns_name(&self) -> Result<String, PlanError> {
        if self.addrs.etcd.cidr == self.addrs.control.cidr {
            return Ok(self.node.to_string());
        }
        let (first, rest) = self.node.split_once('.').unwrap_or((self.node, ""));
        let want = if rest.is_empty() {
            format!("{first}-etcd")
        } else {
            format!("{first}-etcd.{rest}")
        };
        if self.spec.dns_names.contains(&want) {
            Ok(want)
        } else {
            Err(config_error(
                "spec.dnsNames",
                format!(
                    "the etcd plane ({}) is not the control plane ({}): add {want:?}, the name \
                     that resolves to this host's etcd-plane address ({}), so that etcd peers \
                     and clients reach it by name (R28)",
                    self.addrs.etcd.cidr, self.addrs.control.cidr, self.addrs.etcd.address
                ),
            ))
        }
    }
}

/// The `network` step (only when the config has `spec.network`) and the
/// `hosts` step (always: without `spec.hosts`, the distribution's localhost
/// lines): they need no plane address, so first boot can apply them and
/// bring the links up before it reads the addresses that [`plan`] needs.
/// [`plan`] starts with the same steps.
pub fn plan_network(config: &NodeConfig, facts: &HostFacts) -> Result<Vec<Step>, PlanError> {
    network_steps(&config.spec, facts)
}

fn network_steps(spec: &NodeSpec, facts: &HostFacts) -> Result<Vec<Step>, PlanError> {
    let mut steps = Vec::new();
    steps.extend(steps::network::step(spec, facts)?);
    steps.push(steps::hosts::step(spec));
    Ok(steps)
}

/// Plans every step for `config` on the host described by `facts`.
/// `config_digest` is `sha256:<hex>` of the role-config document as
/// delivered (recorded in the plan; steps use their own input digests).
pub fn plan(
    config_digest: &str,
    config: &NodeConfig,
    facts: &HostFacts,
) -> Result<Plan, PlanError> {
    let spec = &config.spec;
    let vip = match &spec.cluster.api_endpoint.vip {
        Some(v) => Some(v.parse::<IpAddr>().map_err(|_| {
            config_error(
                "spec.cluster.apiEndpoint.vip",
                format!("{v:?} is not an IP address"),
            )
        })?),
        None => None,
    };
    let control = facts::pick(
        "control",
        "spec.planes.control.cidr",
        &spec.planes.control.cidr,
        facts,
        vip,
    )?;
    let workload = match &spec.planes.workload {
        Some(p) => facts::pick("workload", "spec.planes.workload.cidr", &p.cidr, facts, vip)?,
        None => crate::facts::PlaneAddress {
            plane: "workload",
            ..control.clone()
        },
    };
    let etcd = match &spec.planes.etcd {
        Some(p) => facts::pick("etcd", "spec.planes.etcd.cidr", &p.cidr, facts, vip)?,
        None => crate::facts::PlaneAddress {
            plane: "etcd",
            ..control.clone()
        },
    };
    let ctx = Ctx {
        spec,
        node: &config.metadata.name,
        addrs: Addresses {
            control,
            workload,
            etcd,
        },
        versions: Versions::resolve(&spec.cluster.kubernetes_version)?,
        control_plane: spec.is_control_plane(),
        worker: spec.roles.contains(&Role::Worker),
        facts,
    };
    // Networking first: the keyfiles are what brings the planes' addresses
    // up. Absent from the config: no step, nothing written.
    let mut steps = network_steps(spec, facts)?;
    steps.extend([
        // Early: time must come even when a later step fails (halt).
        steps::time::step(&ctx)?,
        steps::users::step(&ctx),
        steps::pki::step(&ctx)?,
        steps::kubeconfig::step(&ctx)?,
        steps::staticpods::step(&ctx)?,
        steps::kubelet::step(&ctx)?,
        steps::containerd::step(&ctx),
        steps::firewall::step(&ctx)?,
    ]);
    Ok(Plan {
        config_digest: config_digest.to_string(),
        steps,
    })
}
