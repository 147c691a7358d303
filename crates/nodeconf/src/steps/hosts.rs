//! /etc/hosts from `spec.hosts`, for sites without DNS for the cluster's
//! names (R28 holds: names, not addresses, go into certificates and URLs;
//! this only makes them resolve). Written on the state partition
//! ([`mk_netconf::HOSTS_FILE`]); the image links /etc/hosts there as it
//! does /etc/resolv.conf. Planned only when `spec.hosts` is given.

use mk_roleconfig::NodeSpec;
use serde_json::json;

use crate::action::{Owner, Step};
use crate::render::{hash_header, write};

pub const NAME: &str = "hosts";

pub(crate) fn step(spec: &NodeSpec) -> Option<Step> {
    let hosts = &spec.hosts;
    if hosts.is_empty() {
        return None;
    }
    let inputs = json!({ "hosts": hosts });
    Some(super::make(NAME, inputs, |digest| {
        let text = mk_netconf::hosts_file(hosts, &hash_header(NAME, digest));
        vec![write(
            mk_netconf::HOSTS_FILE,
            text.into_bytes(),
            0o644,
            Owner::ROOT,
        )]
    }))
}
