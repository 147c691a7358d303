//! mk-netconf: node networking from the role config (`spec.network`,
//! `spec.hosts`) as NetworkManager keyfiles and /etc/hosts text. Pure: the
//! host's interfaces come in as data ([`HostInterface`]), files come out as
//! text; mk-nodeconf puts them in a plan and mk-firstboot writes them.
//!
//! Keyfiles keep to keys NetworkManager 1.12 (CentOS 7.6) reads, so the
//! same files work there and on newer releases: `[connection]` id, uuid,
//! type, interface-name, autoconnect, autoconnect-priority, master,
//! slave-type; `[ethernet]`
//! mac-address, mtu; `[bond]` mode, miimon; `[vlan]` id, parent; `[ipv4]`
//! method, address1.., gateway, dns, dns-search, may-fail; `[ipv6]`
//! method=ignore (`disabled` only exists from 1.20). Newer names
//! (`controller`, `port-type`) are avoided: 1.12 does not know them.

#[cfg(feature = "testing")]
pub mod testing;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mk_roleconfig::names::IfAddress;
use mk_roleconfig::select::normalize_mac;
use mk_roleconfig::{HostEntry, NetworkSpec};
use sha2::{Digest, Sha256};

/// Where first boot writes the keyfiles: on the state partition (the root
/// is read-only). The node overlay's NetworkManager.conf.d snippet points
/// `[keyfile] path=` here.
pub const KEYFILE_DIR: &str = "/var/lib/mk/etc/NetworkManager/system-connections";
/// /etc/hosts on the state partition (the image links /etc/hosts here).
pub const HOSTS_FILE: &str = "/var/lib/mk/etc/hosts";
/// Prefix of every connection mk writes, so that they are told apart from
/// the installer's.
pub const ID_PREFIX: &str = "mk-";

/// An interface of this host, from /sys/class/net.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInterface {
    pub name: String,
    /// Lower case, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
}

/// Why no keyfiles could be made for this host, naming the config field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct NetError {
    pub field: String,
    pub message: String,
}

/// One NetworkManager connection profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyfile {
    /// `mk-<link name>`.
    pub id: String,
    /// Absolute path on the node, under [`KEYFILE_DIR`].
    pub path: String,
    pub contents: String,
}

/// A stable connection UUID from the link name (the same name always gives
/// the same profile), shaped as an RFC 4122 version-5-style UUID.
pub fn connection_uuid(link: &str) -> String {
    let d = Sha256::digest(format!("mk.dev/network/{link}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Checks the interfaces the config selects against this host's:
/// `host` None means unknown (planning away from the node), and nothing is
/// checked.
pub fn check_host(net: &NetworkSpec, host: Option<&[HostInterface]>) -> Result<(), NetError> {
    let Some(host) = host else { return Ok(()) };
    for (i, itf) in net.interfaces.iter().enumerate() {
        match &itf.mac_address {
            Some(m) => {
                let want = normalize_mac(m).unwrap_or_else(|| m.to_ascii_lowercase());
                if !host.iter().any(|h| h.mac == want) {
                    return Err(NetError {
                        field: format!("spec.network.interfaces[{i}].macAddress"),
                        message: format!(
                            "no interface of this host has MAC address {m}; it has: {}",
                            seen(host)
                        ),
                    });
                }
            }
            None => {
                if !host.iter().any(|h| h.name == itf.name) {
                    return Err(NetError {
                        field: format!("spec.network.interfaces[{i}].name"),
                        message: format!(
                            "this host has no interface {:?} (and no macAddress selects one); \
                             it has: {}",
                            itf.name,
                            seen(host)
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

fn seen(host: &[HostInterface]) -> String {
    if host.is_empty() {
        return "none".into();
    }
    host.iter()
        .map(|h| format!("{} ({})", h.name, h.mac))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Addressing of one link (IPv4; IPv6 is ignored on every profile).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkAddressing {
    pub dhcp: bool,
    /// `ADDR/PREFIX`, in order.
    pub addresses: Vec<String>,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
    pub search: Vec<String>,
    /// Where the addressing comes from (a comment in the keyfile), e.g.
    /// `planes: control, etcd`.
    pub source: String,
    /// `autoconnect=false` when set (kickstart `--onboot=no`).
    pub manual_start: bool,
    /// The image's own default (kickstart `network`): autoconnect priority
    /// [`IMAGE_PRIORITY`] instead of [`CONFIG_PRIORITY`], so that for a
    /// device both name, the role config's profile wins.
    pub image_default: bool,
}

/// Autoconnect priority of the role config's profiles: above an
/// installer's ifcfg-rh profiles and the image's defaults (0).
pub const CONFIG_PRIORITY: i32 = 10;
/// Autoconnect priority of the image's default profiles (kickstart
/// `network`): NetworkManager's default, below [`CONFIG_PRIORITY`].
pub const IMAGE_PRIORITY: i32 = 0;

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// The keyfiles for `net`, one per link, sorted by id. `header` is the
/// comment block (R19) put at the top of each. The config must have passed
/// mk-roleconfig's validation; what it guarantees is relied on here.
pub fn keyfiles(net: &NetworkSpec, header: &str) -> Vec<Keyfile> {
    keyfiles_with(net, &plane_addressing(net), header)
}

/// Each link's addressing, merged from the planes placed on it.
pub fn plane_addressing(net: &NetworkSpec) -> BTreeMap<String, LinkAddressing> {
    let mut ip: BTreeMap<String, LinkAddressing> = BTreeMap::new();
    let mut planes: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (plane, pn) in net.planes.iter() {
        planes.entry(pn.link.clone()).or_default().push(plane);
        let l = ip.entry(pn.link.clone()).or_default();
        l.dhcp |= pn.dhcp;
        if let Some(a) = &pn.address {
            // Normalised text (`10.0.1.11/24`), so planes sharing one
            // address written differently still give one address line.
            let a = IfAddress::parse(a)
                .map(|a| a.to_string())
                .unwrap_or(a.clone());
            push_unique(&mut l.addresses, &a);
        }
        if pn.gateway.is_some() && l.gateway.is_none() {
            l.gateway = pn.gateway.clone();
        }
        for d in &pn.dns {
            push_unique(&mut l.dns, d);
        }
        for s in &pn.search {
            push_unique(&mut l.search, s);
        }
    }
    for (link, p) in planes {
        if let Some(l) = ip.get_mut(&link) {
            l.source = format!("planes: {}", p.join(", "));
        }
    }
    ip
}

/// [`keyfiles`] with the links' addressing given (by link name); links
/// without an entry come up without addresses.
pub fn keyfiles_with(
    net: &NetworkSpec,
    ip: &BTreeMap<String, LinkAddressing>,
    header: &str,
) -> Vec<Keyfile> {
    let bond_of = |name: &str| {
        net.bonds
            .iter()
            .find(|b| b.members.iter().any(|m| m == name))
    };
    let mut out = Vec::new();
    for itf in &net.interfaces {
        let mut k = String::new();
        match bond_of(&itf.name) {
            Some(b) => {
                connection(&mut k, header, &itf.name, "ethernet", None, None);
                // A bond member: no addressing of its own.
                writeln!(k, "master={}\nslave-type=bond", b.name).unwrap();
                ethernet(&mut k, itf.mac_address.as_deref(), itf.mtu);
            }
            None => {
                // Selected by MAC: no interface-name, so that the profile
                // follows the NIC whatever the kernel names it.
                let ifname = itf.mac_address.is_none().then_some(itf.name.as_str());
                connection(
                    &mut k,
                    header,
                    &itf.name,
                    "ethernet",
                    ifname,
                    ip.get(&itf.name),
                );
                ethernet(&mut k, itf.mac_address.as_deref(), itf.mtu);
                addressing(&mut k, ip.get(itf.name.as_str()));
            }
        }
        out.push(keyfile(&itf.name, k));
    }
    for b in &net.bonds {
        let mut k = String::new();
        connection(
            &mut k,
            header,
            &b.name,
            "bond",
            Some(&b.name),
            ip.get(&b.name),
        );
        // miimon=100: link monitoring, as NetworkManager's and RHEL's
        // documentation set it; without it a dead member is never noticed.
        writeln!(k, "\n[bond]\nmiimon=100\nmode={}", b.mode.as_str()).unwrap();
        if b.mtu.is_some() {
            ethernet(&mut k, None, b.mtu);
        }
        addressing(&mut k, ip.get(b.name.as_str()));
        out.push(keyfile(&b.name, k));
    }
    for v in &net.vlans {
        let mut k = String::new();
        connection(
            &mut k,
            header,
            &v.name,
            "vlan",
            Some(&v.name),
            ip.get(&v.name),
        );
        // The parent by its profile's UUID: a MAC-selected parent has no
        // fixed interface name.
        writeln!(
            k,
            "\n[vlan]\nid={}\nparent={}",
            v.id,
            connection_uuid(&v.parent)
        )
        .unwrap();
        if v.mtu.is_some() {
            ethernet(&mut k, None, v.mtu);
        }
        addressing(&mut k, ip.get(v.name.as_str()));
        out.push(keyfile(&v.name, k));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Which Ethernet device an image profile is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// Whichever is there (kickstart `network` without `--device`).
    Any,
    /// By kernel name.
    Name(String),
    /// By MAC address, whatever the kernel names it.
    Mac(String),
}

/// A profile of the image's own network setup (kickstart `network`), for
/// an Ethernet device. `name` names the profile only (`mk-NAME`, its own
/// UUID): never one of the role config's links, whose profiles first boot
/// writes beside it.
pub fn ethernet_keyfile(
    name: &str,
    device: &Device,
    mtu: Option<u32>,
    ip: &LinkAddressing,
    header: &str,
) -> Keyfile {
    let mut k = String::new();
    let ifname = match device {
        Device::Name(n) => Some(n.as_str()),
        Device::Any | Device::Mac(_) => None,
    };
    connection(&mut k, header, name, "ethernet", ifname, Some(ip));
    let mac = match device {
        Device::Mac(m) => Some(m.as_str()),
        Device::Any | Device::Name(_) => None,
    };
    ethernet(&mut k, mac, mtu);
    addressing(&mut k, Some(ip));
    keyfile(name, k)
}

fn keyfile(link: &str, contents: String) -> Keyfile {
    let id = format!("{ID_PREFIX}{link}");
    Keyfile {
        path: format!("{KEYFILE_DIR}/{id}.nmconnection"),
        id,
        contents,
    }
}

fn connection(
    k: &mut String,
    header: &str,
    link: &str,
    kind: &str,
    ifname: Option<&str>,
    ip: Option<&LinkAddressing>,
) {
    k.push_str(header);
    writeln!(
        k,
        "[connection]\nid={ID_PREFIX}{link}\nuuid={}\ntype={kind}",
        connection_uuid(link)
    )
    .unwrap();
    if let Some(n) = ifname {
        writeln!(k, "interface-name={n}").unwrap();
    }
    // autoconnect: up at every boot, before first boot reads addresses.
    // The priority makes these profiles win over an installer's
    // (ifcfg-rh, priority 0) for the same device.
    let auto = !ip.is_some_and(|i| i.manual_start);
    let priority = if ip.is_some_and(|i| i.image_default) {
        IMAGE_PRIORITY
    } else {
        CONFIG_PRIORITY
    };
    writeln!(k, "autoconnect={auto}\nautoconnect-priority={priority}").unwrap();
}

fn ethernet(k: &mut String, mac: Option<&str>, mtu: Option<u32>) {
    if mac.is_none() && mtu.is_none() {
        return;
    }
    k.push_str("\n[ethernet]\n");
    if let Some(m) = mac {
        let m = normalize_mac(m).unwrap_or_else(|| m.to_string());
        writeln!(k, "mac-address={}", m.to_ascii_uppercase()).unwrap();
    }
    if let Some(m) = mtu {
        writeln!(k, "mtu={m}").unwrap();
    }
}

/// `[ipv4]`/`[ipv6]`. A link without a plane is brought up without
/// addresses (a VLAN's parent, say).
fn addressing(k: &mut String, ip: Option<&LinkAddressing>) {
    k.push_str("\n[ipv4]\n");
    match ip {
        None => k.push_str("method=disabled\n"),
        Some(ip) => {
            if !ip.source.is_empty() {
                writeln!(k, "# {}", ip.source).unwrap();
            }
            if ip.dhcp {
                k.push_str("method=auto\n");
            } else {
                k.push_str("method=manual\n");
                for (i, a) in ip.addresses.iter().enumerate() {
                    writeln!(k, "address{}={a}", i + 1).unwrap();
                }
                if let Some(g) = &ip.gateway {
                    writeln!(k, "gateway={g}").unwrap();
                }
            }
            if !ip.dns.is_empty() {
                writeln!(k, "dns={};", ip.dns.join(";")).unwrap();
            }
            if !ip.search.is_empty() {
                writeln!(k, "dns-search={};", ip.search.join(";")).unwrap();
            }
            // The planes' address is required: the connection is only up
            // when IPv4 is.
            k.push_str("may-fail=false\n");
        }
    }
    k.push_str("\n[ipv6]\nmethod=ignore\n");
}

/// /etc/hosts: the localhost lines CentOS 7's `setup` package ships, then
/// `entries` in the role config's order. `header` is `#` comment lines.
pub fn hosts_file(entries: &[HostEntry], header: &str) -> String {
    let mut s = String::from(header);
    s.push_str(
        "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n\
         ::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n",
    );
    if !entries.is_empty() {
        s.push_str("\n# spec.hosts of the role config.\n");
    }
    for e in entries {
        writeln!(s, "{:<11} {}", e.address, e.names.join(" ")).unwrap();
    }
    s
}
