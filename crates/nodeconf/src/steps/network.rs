//! Networking (issue 14): NetworkManager keyfiles for `spec.network`'s
//! interfaces, bonds, VLANs and plane addresses (mk-netconf renders them),
//! on the state partition where the node overlay's
//! `NetworkManager/conf.d/10-mk.conf` points NetworkManager (`[keyfile]
//! path=`): the root is read-only. Planned only when the config has
//! `spec.network`: without it nothing is written and networking stays as
//! the image or installer left it.

use mk_roleconfig::NodeSpec;
use serde_json::json;

use crate::action::{Owner, Step};
use crate::facts::HostFacts;
use crate::plan::{config_error, PlanError};
use crate::render::{dir, hash_header, write};

pub const NAME: &str = "network";
/// The keyfile directory and its parent, both made by this step.
pub const DIRS: [&str; 2] = ["/var/lib/mk/etc/NetworkManager", mk_netconf::KEYFILE_DIR];

pub(crate) fn step(spec: &NodeSpec, facts: &HostFacts) -> Result<Option<Step>, PlanError> {
    let Some(net) = &spec.network else {
        return Ok(None);
    };
    // A MAC or interface name this host lacks is refused before anything
    // is written.
    mk_netconf::check_host(net, facts.host_interfaces().as_deref())
        .map_err(|e| config_error(e.field, e.message))?;
    // Only the config: which NIC a MAC selects does not change the files
    // (profiles match by MAC), so renaming NICs re-applies nothing.
    let inputs = json!({ "network": net });
    Ok(Some(super::make(NAME, inputs, |digest| {
        let header = hash_header(NAME, digest);
        let mut actions = vec![
            dir(DIRS[0], 0o755, Owner::ROOT),
            // Private: profiles may come to hold secrets (802.1X).
            dir(DIRS[1], 0o700, Owner::ROOT),
        ];
        for k in mk_netconf::keyfiles(net, &header) {
            // 0600: NetworkManager ignores keyfiles others can read or write.
            actions.push(write(k.path, k.contents.into_bytes(), 0o600, Owner::ROOT));
        }
        actions
    })))
}

/// The connection ids the network step writes, in activation order
/// (interfaces and bonds before the VLANs on them), for `nmcli connection
/// up`.
pub fn connection_ids(step: &Step) -> Vec<String> {
    let mut ids: Vec<String> = step
        .actions
        .iter()
        .filter_map(|a| match a {
            crate::Action::WriteFile { path, .. } => path
                .strip_prefix(mk_netconf::KEYFILE_DIR)
                .and_then(|p| p.strip_prefix('/'))
                .and_then(|p| p.strip_suffix(".nmconnection"))
                .map(str::to_string),
            _ => None,
        })
        .collect();
    ids.sort_by_key(|id| (id.contains('.'), id.clone()));
    ids
}
