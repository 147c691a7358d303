//! Keyfiles judged by NetworkManager itself: `nmcli --offline connection
//! modify` reads each from stdin with NetworkManager's keyfile parser,
//! verifies the profile (it refuses to write an invalid one) and prints
//! what it understood. The parser drops values it does not accept with only
//! a warning, so every key we wrote must come back with its value.

use std::collections::BTreeMap;

use mk_netconf::testing::nm_reads;
use mk_netconf::{check_host, connection_uuid, hosts_file, keyfiles, HostInterface};
use mk_roleconfig::{HostEntry, NetworkSpec};

fn spec(yaml: &str) -> NetworkSpec {
    serde_norway::from_str(yaml).unwrap()
}

/// A rack node: two NICs by MAC in an LACP bond, a VLAN per plane on it,
/// a third NIC by name on DHCP for the workload plane.
const RACK: &str = r#"
interfaces:
  - {name: nic0, macAddress: "52:54:00:AA:00:01", mtu: 9000}
  - {name: nic1, macAddress: "52:54:00:aa:00:02", mtu: 9000}
  - {name: eth2}
bonds:
  - {name: bond0, mode: 802.3ad, members: [nic0, nic1], mtu: 9000}
vlans:
  - {name: bond0.100, id: 100, parent: bond0}
  - {name: bond0.200, id: 200, parent: bond0, mtu: 1500}
planes:
  control: {link: bond0.100, address: 10.0.1.11/24, gateway: 10.0.1.1, dns: [10.0.0.53, 10.0.0.54], search: [example.com, lab.example.com]}
  etcd: {link: bond0.200, address: 10.0.2.11/24}
  workload: {link: eth2, dhcp: true, dns: [10.0.0.53]}
"#;

/// (section, key) -> value, comments and blank lines skipped.
fn ini(text: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.insert((section.clone(), k.to_string()), v.to_string());
        }
    }
    out
}

/// Values NetworkManager's writer leaves out because they are its defaults
/// (we write them so that a reader of the file need not know them).
const DEFAULTS: &[(&str, &str, &str)] = &[("connection", "autoconnect", "true")];

/// Asserts NetworkManager accepted `ours` and kept every value of it.
fn judged(ours: &str) {
    let theirs = nm_reads(ours).unwrap_or_else(|e| panic!("NetworkManager refused:\n{ours}\n{e}"));
    let (want, got) = (ini(ours), ini(&theirs));
    for ((sec, key), value) in &want {
        // NetworkManager 1.42 writes the gateway into address1 (`,gw`).
        if key == "gateway" {
            let a1 = &got[&(sec.clone(), "address1".to_string())];
            assert!(a1.ends_with(&format!(",{value}")), "{ours}\n--\n{theirs}");
            continue;
        }
        // NetworkManager omits values equal to its defaults.
        if DEFAULTS.contains(&(sec.as_str(), key.as_str(), value.as_str())) {
            continue;
        }
        let back = got.get(&(sec.clone(), key.clone()));
        let same = back.is_some_and(|b| {
            let b = b.split(',').next().unwrap();
            b.eq_ignore_ascii_case(value)
        });
        assert!(
            same,
            "[{sec}] {key}={value} was dropped or changed ({back:?}):\n{ours}\n--\n{theirs}"
        );
    }
}

#[test]
fn every_keyfile_of_a_rack_node_is_read_by_networkmanager_as_written() {
    let files = keyfiles(&spec(RACK), "# header\n");
    let ids: Vec<&str> = files.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "mk-bond0",
            "mk-bond0.100",
            "mk-bond0.200",
            "mk-eth2",
            "mk-nic0",
            "mk-nic1"
        ]
    );
    for k in &files {
        judged(&k.contents);
        assert!(k.path.starts_with(mk_netconf::KEYFILE_DIR));
    }
    let by = |id: &str| &files.iter().find(|k| k.id == id).unwrap().contents;
    let nic0 = ini(by("mk-nic0"));
    assert_eq!(nic0[&("connection".into(), "master".into())], "bond0");
    assert_eq!(
        nic0[&("ethernet".into(), "mac-address".into())],
        "52:54:00:AA:00:01"
    );
    assert!(!nic0.contains_key(&("connection".into(), "interface-name".into())));
    assert!(!nic0.contains_key(&("ipv4".into(), "method".into())));
    let vlan = ini(by("mk-bond0.100"));
    assert_eq!(
        vlan[&("vlan".into(), "parent".into())],
        connection_uuid("bond0")
    );
    assert_eq!(vlan[&("ipv4".into(), "address1".into())], "10.0.1.11/24");
    assert_eq!(vlan[&("ipv4".into(), "dns".into())], "10.0.0.53;10.0.0.54;");
    assert_eq!(
        ini(by("mk-eth2"))[&("ipv4".into(), "method".into())],
        "auto"
    );
    assert_eq!(
        ini(by("mk-bond0"))[&("ipv4".into(), "method".into())],
        "disabled"
    );
}

#[test]
fn networkmanager_catches_what_the_judge_is_for() {
    // The judge must be able to fail: NetworkManager drops a VLAN id out of
    // range with a warning only, and refuses a bond without interface-name.
    let bad_vlan = "[connection]\nid=x\nuuid=9e2a1c36-0b4b-5a3e-8c5e-111111111111\ntype=vlan\n\
                    interface-name=v\n\n[vlan]\nid=5000\nparent=eth0\n";
    let r = std::panic::catch_unwind(|| judged(bad_vlan));
    assert!(r.is_err());
    let bad_bond = "[connection]\nid=x\nuuid=9e2a1c36-0b4b-5a3e-8c5e-111111111111\ntype=bond\n";
    assert!(nm_reads(bad_bond).is_err());
}

#[test]
fn planes_sharing_a_link_share_one_profile() {
    let net = spec(
        r#"
interfaces: [{name: eth0}]
planes:
  control: {link: eth0, address: 10.0.1.11/24, gateway: 10.0.1.1}
  workload: {link: eth0, address: 10.0.1.11/24}
  etcd: {link: eth0, address: 10.0.3.11/24}
"#,
    );
    let files = keyfiles(&net, "");
    assert_eq!(files.len(), 1);
    let k = ini(&files[0].contents);
    assert_eq!(k[&("ipv4".into(), "address1".into())], "10.0.1.11/24");
    assert_eq!(k[&("ipv4".into(), "address2".into())], "10.0.3.11/24");
    assert!(!k.contains_key(&("ipv4".into(), "address3".into())));
    assert_eq!(k[&("connection".into(), "interface-name".into())], "eth0");
    judged(&files[0].contents);
}

#[test]
fn rendering_is_deterministic_and_uuids_are_stable() {
    let a = keyfiles(&spec(RACK), "# h\n");
    let b = keyfiles(&spec(RACK), "# h\n");
    assert_eq!(a, b);
    assert_eq!(connection_uuid("bond0"), connection_uuid("bond0"));
    assert_ne!(connection_uuid("bond0"), connection_uuid("bond1"));
    // RFC 4122 shape: version 5, variant 10.
    let u = connection_uuid("eth0");
    assert_eq!(u.len(), 36);
    assert_eq!(&u[14..15], "5");
    assert!("89ab".contains(&u[19..20]));
}

#[test]
fn a_mac_matching_no_interface_names_the_field() {
    let host = [HostInterface {
        name: "eth0".into(),
        mac: "52:54:00:aa:00:01".into(),
    }];
    let net = spec(RACK);
    let e = check_host(&net, Some(&host)).unwrap_err();
    assert_eq!(e.field, "spec.network.interfaces[1].macAddress");
    assert!(e.message.contains("eth0 (52:54:00:aa:00:01)"), "{e}");
    // Unknown host interfaces (planning away from the node): not checked.
    assert!(check_host(&net, None).is_ok());
    let all = [
        host[0].clone(),
        HostInterface {
            name: "eth1".into(),
            mac: "52:54:00:aa:00:02".into(),
        },
        HostInterface {
            name: "eth2".into(),
            mac: "52:54:00:aa:00:03".into(),
        },
    ];
    assert!(check_host(&net, Some(&all)).is_ok());
    let e = check_host(&net, Some(&all[..2])).unwrap_err();
    assert_eq!(e.field, "spec.network.interfaces[2].name");
}

#[test]
fn hosts_file_keeps_localhost_and_lists_entries_in_order() {
    let entries = vec![
        HostEntry {
            address: "10.0.1.11".into(),
            names: vec!["cp1.example.com".into(), "cp1-etcd.example.com".into()],
        },
        HostEntry {
            address: "fd00::12".into(),
            names: vec!["cp2.example.com".into()],
        },
    ];
    let h = hosts_file(&entries, "# header\n");
    assert!(h.starts_with("# header\n127.0.0.1   localhost "));
    assert!(h.contains("\n::1         localhost "));
    assert!(h.ends_with(
        "10.0.1.11   cp1.example.com cp1-etcd.example.com\nfd00::12    cp2.example.com\n"
    ));
    // getent (glibc's files backend) reads it: resolve through a private
    // copy is not possible without root, so parse as glibc does: address,
    // then names separated by blanks.
    for line in h.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut w = line.split_whitespace();
        assert!(
            w.next().unwrap().parse::<std::net::IpAddr>().is_ok(),
            "{line}"
        );
        assert!(w.next().is_some(), "{line}");
    }
}
