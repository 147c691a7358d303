//! `spec.network` and `spec.hosts`: links that exist, bonds with members,
//! VLAN ids in range, plane addresses inside their planes and not
//! overlapping on one link. Whether a MAC matches an interface of this
//! machine is a fact of the host: the planner checks it (mk-nodeconf).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::Errors;
use crate::names::{self, Cidr, IfAddress};
use crate::select::normalize_mac;
use crate::types::{NodeSpec, PlaneNetwork};

/// Bounds on untrusted input: far above any rack's needs.
pub const MAX_LINKS: usize = 64;
pub const MAX_HOSTS: usize = 4096;
/// glibc's resolver (CentOS 7) uses at most 3 name servers; more would be
/// silently ignored.
pub const MAX_DNS: usize = 3;
/// glibc before 2.26 (CentOS 7 has 2.17) reads at most 6 search domains.
pub const MAX_SEARCH: usize = 6;
pub const MTU: std::ops::RangeInclusive<u32> = 576..=9216;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Interface,
    Bond,
    Vlan,
}

fn mtu(path: String, m: Option<u32>, e: &mut Errors) {
    if let Some(m) = m {
        if !MTU.contains(&m) {
            e.add(
                path,
                format!(
                    "{m} is not an MTU mk accepts ({}-{})",
                    MTU.start(),
                    MTU.end()
                ),
            );
        }
    }
}

fn define<'a>(
    links: &mut BTreeMap<&'a str, (Kind, String)>,
    name: &'a str,
    kind: Kind,
    path: String,
    e: &mut Errors,
) {
    e.check(format!("{path}.name"), names::check_ifname(name));
    if let Some((_, first)) = links.get(name) {
        e.add(
            format!("{path}.name"),
            format!("{name:?} is already defined at {first}"),
        );
    } else {
        links.insert(name, (kind, path));
    }
}

pub(super) fn check(s: &NodeSpec, p: &str, e: &mut Errors) {
    let Some(net) = &s.network else { return };
    let np = format!("{p}spec.network");
    let total = net.interfaces.len() + net.bonds.len() + net.vlans.len();
    if total > MAX_LINKS {
        e.add(
            &np,
            format!("{total} links (interfaces, bonds, VLANs); at most {MAX_LINKS}"),
        );
        return;
    }
    // Every link by name, with where it was defined.
    let mut links: BTreeMap<&str, (Kind, String)> = BTreeMap::new();
    let mut macs: BTreeMap<String, usize> = BTreeMap::new();
    for (i, itf) in net.interfaces.iter().enumerate() {
        let ip = format!("{np}.interfaces[{i}]");
        define(&mut links, &itf.name, Kind::Interface, ip.clone(), e);
        if let Some(m) = &itf.mac_address {
            match normalize_mac(m) {
                None => e.add(
                    format!("{ip}.macAddress"),
                    format!("{m:?} is not a MAC address (expected aa:bb:cc:dd:ee:ff)"),
                ),
                Some(n) => {
                    if let Some(j) = macs.insert(n, i) {
                        e.add(
                            format!("{ip}.macAddress"),
                            format!("{m} also selects {np}.interfaces[{j}]"),
                        );
                    }
                }
            }
        }
        mtu(format!("{ip}.mtu"), itf.mtu, e);
    }
    for (i, b) in net.bonds.iter().enumerate() {
        define(
            &mut links,
            &b.name,
            Kind::Bond,
            format!("{np}.bonds[{i}]"),
            e,
        );
    }
    for (i, v) in net.vlans.iter().enumerate() {
        define(
            &mut links,
            &v.name,
            Kind::Vlan,
            format!("{np}.vlans[{i}]"),
            e,
        );
    }
    // Bond members: interfaces, each in one bond.
    let mut member_of: BTreeMap<&str, String> = BTreeMap::new();
    for (i, b) in net.bonds.iter().enumerate() {
        let bp = format!("{np}.bonds[{i}]");
        if b.members.is_empty() {
            e.add(
                format!("{bp}.members"),
                format!(
                    "bond {:?} has no members: list the `interfaces` names it aggregates",
                    b.name
                ),
            );
        }
        for (j, m) in b.members.iter().enumerate() {
            let mp = format!("{bp}.members[{j}]");
            match links.get(m.as_str()) {
                None => e.add(
                    mp,
                    format!("{m:?} is not the name of an entry of {np}.interfaces"),
                ),
                Some((k, _)) if *k != Kind::Interface => e.add(
                    mp,
                    format!("{m:?} is a bond or VLAN; bond members are interfaces"),
                ),
                Some(_) => {
                    if let Some(other) = member_of.insert(m, bp.clone()) {
                        e.add(mp, format!("{m:?} is already a member of {other}"));
                    }
                }
            }
        }
        mtu(format!("{bp}.mtu"), b.mtu, e);
    }
    let mut vlan_ids: BTreeMap<(&str, u32), usize> = BTreeMap::new();
    for (i, v) in net.vlans.iter().enumerate() {
        let vp = format!("{np}.vlans[{i}]");
        if !(1..=4094).contains(&v.id) {
            e.add(
                format!("{vp}.id"),
                format!(
                    "{} is out of range: VLAN ids are 1-4094 (0 and 4095 are reserved)",
                    v.id
                ),
            );
        }
        match links.get(v.parent.as_str()) {
            None => e.add(
                format!("{vp}.parent"),
                format!(
                    "{:?} is not the name of an entry of {np}.interfaces or {np}.bonds",
                    v.parent
                ),
            ),
            Some((Kind::Vlan, _)) => e.add(
                format!("{vp}.parent"),
                format!(
                    "{:?} is a VLAN; VLANs are tagged on an interface or a bond",
                    v.parent
                ),
            ),
            Some(_) => {
                if let Some(b) = member_of.get(v.parent.as_str()) {
                    e.add(
                        format!("{vp}.parent"),
                        format!(
                            "{:?} is a member of {b}: tag the VLAN on the bond",
                            v.parent
                        ),
                    );
                }
            }
        }
        if let Some(j) = vlan_ids.insert((v.parent.as_str(), v.id), i) {
            e.add(
                format!("{vp}.id"),
                format!("VLAN {} on {:?} is also {np}.vlans[{j}]", v.id, v.parent),
            );
        }
        mtu(format!("{vp}.mtu"), v.mtu, e);
    }
    planes(s, p, &np, &links, &member_of, e);
}

/// The planes' addresses: each on a known link, inside its plane, and not
/// overlapping another plane's address on the same link.
fn planes(
    s: &NodeSpec,
    p: &str,
    np: &str,
    links: &BTreeMap<&str, (Kind, String)>,
    member_of: &BTreeMap<&str, String>,
    e: &mut Errors,
) {
    let net = s.network.as_ref().expect("called with a network");
    let plane_cidr = |plane: &str| -> Option<Cidr> {
        let text = match plane {
            "control" => Some(&s.planes.control.cidr),
            "workload" => s.planes.workload.as_ref().map(|x| &x.cidr),
            _ => s.planes.etcd.as_ref().map(|x| &x.cidr),
        };
        text.and_then(|t| Cidr::parse(t).ok())
    };
    // (plane path, link, address) of each static address, and DHCP links.
    let mut statics: Vec<(String, &str, IfAddress)> = Vec::new();
    let mut dhcp: BTreeMap<&str, String> = BTreeMap::new();
    let mut gateways: BTreeMap<bool, (IpAddr, String)> = BTreeMap::new(); // by is_ipv4
    for (plane, pn) in net.planes.iter() {
        let pp = format!("{np}.planes.{plane}");
        let PlaneNetwork {
            link,
            dhcp: is_dhcp,
            address,
            gateway,
            dns,
            search,
        } = pn;
        match links.get(link.as_str()) {
            None => e.add(
                format!("{pp}.link"),
                format!("{link:?} is not the name of an interface, bond or VLAN of {np}"),
            ),
            Some(_) => {
                if let Some(b) = member_of.get(link.as_str()) {
                    e.add(
                        format!("{pp}.link"),
                        format!("{link:?} is a member of {b}: put the address on the bond"),
                    );
                }
            }
        }
        let mut own: Option<IfAddress> = None;
        match (is_dhcp, address) {
            (true, Some(_)) => e.add(
                format!("{pp}.address"),
                "give either `dhcp: true` or a static `address`, not both",
            ),
            (false, None) => e.add(
                &pp,
                "no address: give a static `address` (e.g. 10.0.1.11/24) or `dhcp: true`",
            ),
            (true, None) => {
                dhcp.insert(link, pp.clone());
                if gateway.is_some() {
                    e.add(
                        format!("{pp}.gateway"),
                        "with `dhcp: true` the gateway comes from DHCP",
                    );
                }
            }
            (false, Some(a)) => match IfAddress::parse(a) {
                Err(m) => e.add(format!("{pp}.address"), m),
                Ok(ifa) => {
                    if let Some(cidr) = plane_cidr(plane) {
                        if !cidr.contains(ifa.addr) {
                            e.add(
                                format!("{pp}.address"),
                                format!(
                                    "{ifa} is outside the {plane} plane {cidr} \
                                     ({p}spec.planes.{plane}.cidr): services of that plane \
                                     bind to the address inside it (R30)"
                                ),
                            );
                        }
                    }
                    if ifa.network().addr == ifa.addr && ifa.network().prefix < 31 {
                        e.add(
                            format!("{pp}.address"),
                            format!("{ifa} is the network's own address, not a host's"),
                        );
                    }
                    own = Some(ifa);
                    statics.push((pp.clone(), link, ifa));
                }
            },
        }
        if let Some(g) = gateway {
            match g.parse::<IpAddr>() {
                Err(_) => e.add(
                    format!("{pp}.gateway"),
                    format!("{g:?} is not an IP address"),
                ),
                Ok(gw) => {
                    if let Some(ifa) = own {
                        if !ifa.network().contains(gw) || gw == ifa.addr {
                            e.add(
                                format!("{pp}.gateway"),
                                format!(
                                    "{gw} is not another host in {ifa}'s network {}",
                                    ifa.network()
                                ),
                            );
                        }
                    }
                    if let Some((other, op)) = gateways.get(&gw.is_ipv4()) {
                        if *other != gw {
                            e.add(
                                format!("{pp}.gateway"),
                                format!(
                                    "{op}.gateway is already the default gateway ({other}); \
                                     a node has one default route per address family"
                                ),
                            );
                        }
                    } else {
                        gateways.insert(gw.is_ipv4(), (gw, pp.clone()));
                    }
                }
            }
        }
        if dns.len() > MAX_DNS {
            e.add(
                format!("{pp}.dns"),
                format!("{} servers; the resolver uses at most {MAX_DNS}", dns.len()),
            );
        }
        for (i, d) in dns.iter().enumerate() {
            if d.parse::<IpAddr>().is_err() {
                e.add(
                    format!("{pp}.dns[{i}]"),
                    format!("{d:?} is not an IP address"),
                );
            }
        }
        if search.len() > MAX_SEARCH {
            e.add(
                format!("{pp}.search"),
                format!(
                    "{} domains; CentOS 7's resolver reads at most {MAX_SEARCH}",
                    search.len()
                ),
            );
        }
        for (i, d) in search.iter().enumerate() {
            e.check(format!("{pp}.search[{i}]"), names::check_dns_name(d));
        }
    }
    for (pp, link, _) in &statics {
        if let Some(dp) = dhcp.get(link) {
            e.add(
                format!("{pp}.address"),
                format!("{dp} takes {link:?}'s address from DHCP; a link is either DHCP or static"),
            );
        }
    }
    // Two planes on one link: the same address (the planes are one
    // network) or networks apart. On different links: never one address.
    for (i, (pa, la, a)) in statics.iter().enumerate() {
        for (pb, lb, b) in &statics[..i] {
            if la == lb {
                if a == b {
                    continue;
                }
                if a.network().overlaps(&b.network()) {
                    e.add(
                        format!("{pa}.address"),
                        format!(
                            "{a} overlaps {pb}.address ({b}) on link {la:?}: planes on one \
                             link share one address or use networks apart"
                        ),
                    );
                }
            } else if a.addr == b.addr {
                e.add(
                    format!("{pa}.address"),
                    format!("{} is also {pb}.address, on link {lb:?}", a.addr),
                );
            }
        }
    }
}

/// `spec.hosts`: /etc/hosts lines.
pub(super) fn hosts(s: &NodeSpec, p: &str, e: &mut Errors) {
    let hp = format!("{p}spec.hosts");
    if s.hosts.len() > MAX_HOSTS {
        e.add(
            &hp,
            format!("{} entries; at most {MAX_HOSTS}", s.hosts.len()),
        );
        return;
    }
    let mut seen: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for (i, h) in s.hosts.iter().enumerate() {
        let ep = format!("{hp}[{i}]");
        match h.address.parse::<IpAddr>() {
            Err(_) => e.add(
                format!("{ep}.address"),
                format!("{:?} is not an IP address", h.address),
            ),
            Ok(a) => {
                if let Some(j) = seen.insert(a, i) {
                    e.add(
                        format!("{ep}.address"),
                        format!("{a} is also {hp}[{j}]: list all its names in one entry"),
                    );
                }
            }
        }
        if h.names.is_empty() {
            e.add(
                format!("{ep}.names"),
                "no names: give at least one DNS name",
            );
        }
        if h.names.len() > 32 {
            e.add(format!("{ep}.names"), "more than 32 names on one line");
        }
        for (j, n) in h.names.iter().enumerate() {
            e.check(format!("{ep}.names[{j}]"), names::check_dns_name(n));
        }
    }
}
