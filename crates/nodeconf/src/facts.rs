//! What the planner needs to know about this host that the role config does
//! not say: its interface addresses (R30: each service binds to the host's
//! address inside its plane), which CA-trust directories its image has
//! (mounted into the control-plane pods only where they exist, as kubeadm
//! does), and, for a control plane joining an existing etcd cluster, the
//! members it joins.

use std::net::IpAddr;

use mk_roleconfig::names::Cidr;
use serde::{Deserialize, Serialize};

use crate::PlanError;

/// Facts about this host, gathered by the applier (mk-firstboot) before
/// planning. Plain data so that plans are tested without a host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostFacts {
    /// Every address configured on the host's interfaces (loopback
    /// included or not: it never lies inside a plane).
    pub addresses: Vec<IpAddr>,
    /// For a joining control plane (`control-plane` role): the members of
    /// the etcd cluster it joins, as `etcd member list` shows them after the
    /// applier added this node as a learner. Ignored on the bootstrap node,
    /// which creates the cluster with itself as the only member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub etcd_members: Vec<EtcdMember>,
    /// Which of kubeadm's CA-trust directories ([`CA_TRUST_DIRS`]) exist
    /// on the host as directories (symlinks followed inside the node's
    /// root), as absolute paths. kube-apiserver and kube-controller-manager
    /// mount exactly these, read-only; paths not in [`CA_TRUST_DIRS`] are
    /// ignored. The root is read-only, so nothing may be created for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_dirs: Vec<String>,
    /// The host's network interfaces (/sys/class/net: name and MAC), for
    /// `spec.network`'s selection by MAC or name. None: not known (a plan
    /// made away from the node); the selection is then not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<NetInterface>>,
}

/// One network interface of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInterface {
    /// Kernel name, e.g. `eth0`.
    pub name: String,
    /// `aa:bb:cc:dd:ee:ff`, lower case.
    pub mac: String,
}

impl HostFacts {
    /// [`HostFacts::interfaces`] as mk-netconf takes them.
    pub fn host_interfaces(&self) -> Option<Vec<mk_netconf::HostInterface>> {
        self.interfaces.as_ref().map(|v| {
            v.iter()
                .map(|i| mk_netconf::HostInterface {
                    name: i.name.clone(),
                    mac: i.mac.to_ascii_lowercase(),
                })
                .collect()
        })
    }
}

/// kubeadm's CA-trust host mounts of kube-apiserver and
/// kube-controller-manager (cmd/kubeadm/app/phases/controlplane/volumes.go):
/// (volume name, host path). kubeadm always mounts `/etc/ssl/certs` and the
/// others when they exist; mk mounts each only when the host has it
/// ([`HostFacts::trust_dirs`]).
pub const CA_TRUST_DIRS: &[(&str, &str)] = &[
    ("ca-certs", "/etc/ssl/certs"),
    ("etc-ca-certificates", "/etc/ca-certificates"),
    ("etc-pki", "/etc/pki"),
    (
        "usr-local-share-ca-certificates",
        "/usr/local/share/ca-certificates",
    ),
    ("usr-share-ca-certificates", "/usr/share/ca-certificates"),
];

/// One etcd member, by DNS name (R28).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcdMember {
    /// Member name (the node name of the control plane it runs on).
    pub name: String,
    /// Peer URL, `https://<dns name>:2380`.
    pub peer_url: String,
}

/// A plane of the role config, with this host's address in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaneAddress {
    /// `control`, `workload` or `etcd`.
    pub plane: &'static str,
    /// The YAML path of the CIDR that defined it.
    pub field: &'static str,
    pub cidr: Cidr,
    pub address: IpAddr,
}

/// This host's address in each plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    pub control: PlaneAddress,
    pub workload: PlaneAddress,
    pub etcd: PlaneAddress,
}

/// Picks this host's address in `cidr`. The keepalived VIP (which may sit
/// on this host's interface while it is the VRRP master) is never picked:
/// services bind to the host's own address. Several candidates: the lowest,
/// so that the choice does not depend on interface order.
pub(crate) fn pick(
    plane: &'static str,
    field: &'static str,
    cidr_text: &str,
    facts: &HostFacts,
    vip: Option<IpAddr>,
) -> Result<PlaneAddress, PlanError> {
    let cidr = Cidr::parse(cidr_text).map_err(|message| PlanError::Config {
        field: field.into(),
        message,
    })?;
    let mut candidates: Vec<IpAddr> = facts
        .addresses
        .iter()
        .copied()
        .filter(|a| cidr.contains(*a) && Some(*a) != vip)
        .collect();
    candidates.sort();
    match candidates.first() {
        Some(address) => Ok(PlaneAddress {
            plane,
            field,
            cidr,
            address: *address,
        }),
        None => Err(PlanError::NoAddressInPlane {
            plane,
            cidr: cidr.to_string(),
            seen: facts.addresses.clone(),
        }),
    }
}

/// This host's address in the control plane (the apiserver's
/// `--advertise-address`), chosen as the plan chooses it; for steps that
/// run after first boot and talk to the local apiserver.
pub fn control_address(
    spec: &mk_roleconfig::NodeSpec,
    addresses: &[IpAddr],
) -> Result<IpAddr, PlanError> {
    let vip = spec
        .cluster
        .api_endpoint
        .vip
        .as_deref()
        .and_then(|v| v.parse().ok());
    let facts = HostFacts {
        addresses: addresses.to_vec(),
        ..HostFacts::default()
    };
    pick(
        "control",
        "spec.planes.control.cidr",
        &spec.planes.control.cidr,
        &facts,
        vip,
    )
    .map(|p| p.address)
}
