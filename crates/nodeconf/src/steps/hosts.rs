//! /etc/hosts from `spec.hosts`, for sites without DNS for the cluster's
//! names (R28 holds: names, not addresses, go into certificates and URLs;
//! this only makes them resolve). Written on the state partition
//! ([`mk_netconf::HOSTS_FILE`]), which the node overlay's `etc-hosts.mount`
//! binds over /etc/hosts: the root is read-only and /etc/hosts is the
//! distribution's package's file (CentOS `setup`). Always planned: without
//! `spec.hosts` the file holds the distribution's localhost lines only, so
//! that removing `spec.hosts` from a config brings /etc/hosts back to them.

use mk_roleconfig::NodeSpec;
use serde_json::json;

use crate::action::{Owner, Step};
use crate::render::{hash_header, write};

pub const NAME: &str = "hosts";

pub(crate) fn step(spec: &NodeSpec) -> Step {
    let hosts = &spec.hosts;
    let inputs = json!({ "hosts": hosts });
    super::make(NAME, inputs, |digest| {
        let text = mk_netconf::hosts_file(hosts, &hash_header(NAME, digest));
        vec![write(
            mk_netconf::HOSTS_FILE,
            text.into_bytes(),
            0o644,
            Owner::ROOT,
        )]
    })
}
