//! The one call into the planner (mk-nodeconf), with this host's facts.

use std::net::IpAddr;
use std::path::Path;

use mk_nodeconf::{HostFacts, Plan};
use mk_roleconfig::NodeConfig;

/// `root`: the node root apply works on; the CA-trust directories are
/// looked up under it.
pub fn plan(
    config_digest: &str,
    config: &NodeConfig,
    addresses: Vec<IpAddr>,
    root: &Path,
) -> Result<Plan, String> {
    let facts = HostFacts {
        addresses,
        trust_dirs: crate::facts::trust_dirs(root),
        ..HostFacts::default()
    };
    mk_nodeconf::plan(config_digest, config, &facts).map_err(|e| e.to_string())
}
