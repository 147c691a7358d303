//! The one call into the planner (mk-nodeconf), with this host's facts.

use std::net::IpAddr;
use std::path::Path;

use mk_nodeconf::{HostFacts, Plan};
use mk_roleconfig::NodeConfig;

use crate::etcdjoin;

/// `root`: the node root apply works on; the CA-trust directories are
/// looked up under it. A joining control plane is made an etcd learner
/// first (see [`crate::etcdjoin`]).
pub fn plan(
    config_digest: &str,
    config: &NodeConfig,
    addresses: Vec<IpAddr>,
    root: &Path,
) -> Result<(Plan, Option<etcdjoin::JoinReport>), String> {
    plan_with(config_digest, config, addresses, root, etcdjoin::Mode::Join)
}

/// [`plan`], saying what planning may do to etcd: `plan` (the preview)
/// should pass [`etcdjoin::Mode::ReadOnly`]. Returns what joining etcd did
/// too, for report.json.
pub fn plan_with(
    config_digest: &str,
    config: &NodeConfig,
    addresses: Vec<IpAddr>,
    root: &Path,
    etcd: etcdjoin::Mode,
) -> Result<(Plan, Option<etcdjoin::JoinReport>), String> {
    let membership = etcdjoin::etcd_members(config, root, etcd)?;
    let facts = HostFacts {
        addresses,
        etcd_members: membership.members,
        trust_dirs: crate::facts::trust_dirs(root),
        interfaces: crate::facts::interfaces(root),
    };
    let plan = mk_nodeconf::plan(config_digest, config, &facts).map_err(|e| e.to_string())?;
    Ok((plan, membership.report))
}
