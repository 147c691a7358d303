//! Kickstart `network` lines mapped to mk's network model (mk-netconf, the
//! model first boot writes from the role config's `spec.network`), for
//! images that carry a fixed network setup: the same NetworkManager
//! keyfiles, the same keys (NetworkManager 1.12). What the model cannot say
//! is refused, naming the line, instead of dropped.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use mk_netconf::{Keyfile, LinkAddressing};
use mk_roleconfig::{InterfaceSpec, NetworkSpec};

use crate::model::{BootProto, Network};

/// `network` lines as keyfiles (R19 `header` at the top of each), sorted
/// by profile id. A line with `--device=NAME` selects that interface, with
/// `--device=MAC` the interface with that MAC, without `--device` any
/// Ethernet device (profile `mk-ks-any`). Errors read `line N: ...`.
pub fn keyfiles(networks: &[Network], header: &str) -> Result<Vec<Keyfile>, String> {
    let mut spec = NetworkSpec::default();
    let mut ip: BTreeMap<String, LinkAddressing> = BTreeMap::new();
    let mut any = None;
    for (i, n) in networks.iter().enumerate() {
        let err = |m: String| format!("line {}: `network`: {m}", n.line);
        let addressing = addressing(n).map_err(err)?;
        match n.device.as_deref() {
            None => any = Some(addressing),
            Some(d) => {
                let (name, mac) = match mk_roleconfig::select::normalize_mac(d) {
                    // Profile name only: MAC-selected profiles carry no
                    // interface name.
                    Some(mac) => (format!("ks{i}"), Some(mac)),
                    None => {
                        mk_roleconfig::names::check_ifname(d)
                            .map_err(|m| err(format!("--device: {m}")))?;
                        (d.to_string(), None)
                    }
                };
                if let Some(m) = n.mtu {
                    if !(576..=9216).contains(&m) {
                        return Err(err(format!("--mtu={m}: expected 576-9216")));
                    }
                }
                spec.interfaces.push(InterfaceSpec {
                    name: name.clone(),
                    mac_address: mac,
                    mtu: n.mtu,
                });
                ip.insert(name, addressing);
            }
        }
    }
    let mut out = mk_netconf::keyfiles_with(&spec, &ip, header);
    if let Some(a) = any {
        out.push(mk_netconf::any_ethernet_keyfile("ks-any", &a, header));
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
