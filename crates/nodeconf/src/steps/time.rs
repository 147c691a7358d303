//! Time (issue 12, "Clock sanity"): chrony follows the site's NTP servers
//! (`spec.ntpServers`). The file lives on the state partition (the root is
//! read-only); chronyd reads it through the mk-firstboot package's drop-in
//! `chronyd.service.d/10-mk.conf` (`chronyd -f CONFIG $OPTIONS`), which also
//! starts chronyd after first boot, failed or not (docs/firstboot.md, Time).

use std::net::IpAddr;

use serde_json::json;

use crate::action::{Owner, Step};
use crate::plan::{config_error, Ctx, PlanError};
use crate::render::{hash_header, write};

pub const NAME: &str = "time";
/// chronyd's configuration (`chronyd -f`), on the state partition. Shipped
/// by the node overlay with the label chronyd may read (docs/image.md).
pub const CONFIG: &str = "/var/lib/mk/etc/chrony.conf";

/// What CentOS 7's own `/etc/chrony.conf` sets besides its servers, with
/// its comments: these matter for a server that must keep time across
/// reboots and start from a wrong clock.
const SETTINGS: &str = "\
# Record the rate at which the system clock gains or loses time.
driftfile /var/lib/chrony/drift

# Allow the system clock to be stepped in the first three updates
# if its offset is larger than 1 second: a node that booted with a wrong
# clock steps it early instead of slewing it for hours.
makestep 1.0 3

# Enable kernel synchronization of the real-time clock (RTC).
rtcsync

# Specify directory for log files.
logdir /var/log/chrony
";

pub(crate) fn step(ctx: &Ctx) -> Result<Step, PlanError> {
    let servers = &ctx.spec.ntp_servers;
    // Validation (mk-roleconfig) already refuses anything else; checked
    // again because every entry becomes a line of chronyd's configuration.
    for (i, s) in servers.iter().enumerate() {
        if s.parse::<IpAddr>().is_err() {
            mk_roleconfig::names::check_dns_name(s).map_err(|m| {
                config_error(
                    format!("spec.ntpServers[{i}]"),
                    format!("neither an IP address nor a DNS name: {m}"),
                )
            })?;
        }
    }
    let inputs = json!({ "ntpServers": servers });
    Ok(super::make(NAME, inputs, |digest| {
        let mut conf = hash_header(NAME, digest);
        conf.push_str("# The site's NTP servers (spec.ntpServers), in the role config's order.\n");
        if servers.is_empty() {
            conf.push_str(
                "# None given: no server or pool line. chronyd then has no source: it keeps\n\
                 # the clock running (with the drift file's correction) and never steps it.\n\
                 # An air-gapped site names its own servers in spec.ntpServers.\n",
            );
        }
        for s in servers {
            conf.push_str(&format!("server {s} iburst\n"));
        }
        conf.push('\n');
        conf.push_str(SETTINGS);
        vec![write(CONFIG, conf.into_bytes(), 0o644, Owner::ROOT)]
    }))
}
