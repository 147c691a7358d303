//! mk-nodeconf: the node's desired state as data. `plan` turns a role config
//! and the facts of this host into steps of actions (files to write, users
//! to ensure); mk-firstboot applies them. Nothing here touches the node, so
//! every file first boot would write is tested without root or a VM.

pub mod action;
pub mod facts;
pub mod plan;
pub mod render;
pub mod steps;
pub mod users;
pub mod versions;

pub use action::{Action, Owner, Plan, Step};
pub use facts::{EtcdMember, HostFacts, NetInterface, CA_TRUST_DIRS};
/// Keyfile and hosts paths, for the applier (mk-firstboot).
pub use mk_netconf;
pub use plan::{plan, plan_network, PlanError};
pub use steps::kubelet::{api_only_labels, kubelet_configuration};
