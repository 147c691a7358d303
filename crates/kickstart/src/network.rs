//! Kickstart `network` lines mapped to mk's network model (mk-netconf, the
//! model first boot writes from the role config's `spec.network`), for
//! images that carry a fixed network setup: the same NetworkManager
//! keyfiles, the same keys (NetworkManager 1.12). What the model cannot say
//! is refused, naming the line, instead of dropped.

use std::net::{IpAddr, Ipv4Addr};

pub use mk_netconf::Keyfile;
use mk_netconf::{Device, LinkAddressing};

use crate::model::{BootProto, Network};

/// `network` lines as keyfiles (R19 `header` at the top of each), sorted
/// by profile id. A line with `--device=NAME` selects that interface
/// (profile `mk-ks-NAME`), with `--device=MAC` the interface with that MAC
/// (`mk-ks-<MAC without colons>`), without `--device` any Ethernet device
/// (`mk-ks-any`). The `ks-` names keep them apart from the profiles first
/// boot writes from a role config's `spec.network` into the same directory
/// (`mk-<link>`); their lower autoconnect priority
/// ([`mk_netconf::IMAGE_PRIORITY`]) lets those win for the devices they
/// name. Errors read `line N: ...`.
pub fn keyfiles(networks: &[Network], header: &str) -> Result<Vec<Keyfile>, String> {
    let mut out = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for n in networks {
        let err = |m: String| format!("line {}: `network`: {m}", n.line);
        let addressing = addressing(n).map_err(err)?;
        let (name, device) = match n.device.as_deref() {
            None => ("ks-any".to_string(), Device::Any),
            Some(d) => match mk_roleconfig::select::normalize_mac(d) {
                Some(mac) => (format!("ks-{}", mac.replace(':', "")), Device::Mac(mac)),
                None => {
                    mk_roleconfig::names::check_ifname(d)
                        .map_err(|m| err(format!("--device: {m}")))?;
                    (format!("ks-{d}"), Device::Name(d.to_string()))
                }
            },
        };
        if let Some(m) = n.mtu {
            if !(576..=9216).contains(&m) {
                return Err(err(format!("--mtu={m}: expected 576-9216")));
            }
        }
        let id = format!("{}{name}", mk_netconf::ID_PREFIX);
        if let Some((_, line)) = seen.iter().find(|(i, _)| *i == id) {
            return Err(err(format!(
                "the same device as line {line} (profile {id}); one line per device"
            )));
        }
        seen.push((id, n.line));
        out.push(mk_netconf::ethernet_keyfile(
            &name,
            &device,
            n.mtu,
            &addressing,
            header,
        ));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn addressing(n: &Network) -> Result<LinkAddressing, String> {
    if n.hostname.is_some() {
        return Err(
            "--hostname is not supported: the node's name comes from its role config \
             (metadata.name)"
                .into(),
        );
    }
    if !n.noipv6 {
        return Err(
            "mk's profiles configure IPv4 only (IPv6 is ignored); add --noipv6 to say so".into(),
        );
    }
    if n.device.is_none() && n.mtu.is_some() {
        return Err("--mtu needs --device".into());
    }
    let mut a = LinkAddressing {
        dhcp: n.bootproto == BootProto::Dhcp,
        source: format!("kickstart network, line {}", n.line),
        manual_start: n.onboot == Some(false),
        image_default: true,
        ..LinkAddressing::default()
    };
    if n.bootproto == BootProto::Static {
        let ip: Ipv4Addr =
            n.ip.as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(|_| format!("--ip={:?}: expected an IPv4 address", n.ip))?;
        let mask = n.netmask.as_deref().unwrap_or_default();
        let prefix = prefix_of(mask)?;
        a.addresses.push(format!("{ip}/{prefix}"));
        if let Some(g) = &n.gateway {
            let gw: Ipv4Addr = g
                .parse()
                .map_err(|_| format!("--gateway={g}: expected an IPv4 address"))?;
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            if u32::from(gw) & m != u32::from(ip) & m || gw == ip {
                return Err(format!(
                    "--gateway={gw} is not another host in {ip}/{prefix}'s network"
                ));
            }
            a.gateway = Some(gw.to_string());
        }
    } else if n.gateway.is_some() {
        return Err("--gateway needs --bootproto=static (DHCP gives the gateway)".into());
    }
    if n.nameservers.len() > 3 {
        return Err("more than 3 --nameserver: the resolver uses at most 3".into());
    }
    for d in &n.nameservers {
        d.parse::<IpAddr>()
            .map_err(|_| format!("--nameserver={d}: expected an IP address"))?;
        a.dns.push(d.clone());
    }
    Ok(a)
}

/// `255.255.255.0` or `24`: the prefix length; non-contiguous masks refused.
fn prefix_of(mask: &str) -> Result<u32, String> {
    if let Ok(p) = mask.parse::<u32>() {
        if (1..=32).contains(&p) {
            return Ok(p);
        }
    }
    let m: Ipv4Addr = mask
        .parse()
        .map_err(|_| format!("--netmask={mask}: expected e.g. 255.255.255.0 or 24"))?;
    let bits = u32::from(m);
    let p = bits.leading_ones();
    if p == 0 || bits.checked_shl(p).unwrap_or(0) != 0 {
        return Err(format!("--netmask={mask} is not a contiguous netmask"));
    }
    Ok(p)
}
