//! The one call into the planner (mk-nodeconf), with this host's facts.

use std::net::IpAddr;

use mk_nodeconf::{HostFacts, Plan};
use mk_roleconfig::NodeConfig;

pub fn plan(
    config_digest: &str,
    config: &NodeConfig,
    addresses: Vec<IpAddr>,
) -> Result<Plan, String> {
    let facts = HostFacts {
        addresses,
        ..HostFacts::default()
    };
    mk_nodeconf::plan(config_digest, config, &facts).map_err(|e| e.to_string())
}
