//! `spec.network` and `spec.hosts`: each kind of bad input gives one error
//! naming its field; a rack layout (bond, VLANs, DHCP) is valid; configs
//! without them are unchanged.

mod common;

use common::{now, single_server};
use mk_roleconfig::{validate, ConfigError, NodeConfig, NodeSpec, Plane};

fn errors(cfg: &NodeConfig) -> Vec<String> {
    match validate(cfg, now()) {
        Ok(()) => vec![],
        Err(e) => e.iter().map(ConfigError::to_string).collect(),
    }
}

fn one_error(cfg: &NodeConfig, path: &str, what: &str) {
    let e = errors(cfg);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    assert!(
        e[0].starts_with(&format!("{path}: ")) && e[0].contains(what),
        "expected `{path}: ...{what}...`, got {:?}",
        e[0]
    );
}

/// The doc's single server, on three planes, with `network` from YAML.
fn with_network(dir: &std::path::Path, yaml: &str) -> NodeConfig {
    let mut cfg = single_server(dir);
    set_planes(&mut cfg.spec);
    cfg.spec.network = Some(serde_norway::from_str(yaml).unwrap());
    cfg
}

fn set_planes(s: &mut NodeSpec) {
    s.planes.control.cidr = "10.0.0.0/24".into();
    s.planes.workload = Some(Plane {
        cidr: "10.0.8.0/24".into(),
    });
    s.planes.etcd = Some(Plane {
        cidr: "10.0.0.0/24".into(),
    });
}

const RACK: &str = r#"
interfaces:
  - {name: nic0, macAddress: "52:54:00:AA:00:01"}
  - {name: nic1, macAddress: "52:54:00:aa:00:02"}
  - {name: eth2, mtu: 9000}
bonds:
  - {name: bond0, mode: 802.3ad, members: [nic0, nic1]}
vlans:
  - {name: bond0.100, id: 100, parent: bond0}
planes:
  control: {link: bond0.100, address: 10.0.0.11/24, gateway: 10.0.0.1, dns: [10.0.0.53], search: [example.com]}
  etcd: {link: bond0.100, address: 10.0.0.11/24}
  workload: {link: eth2, dhcp: true}
"#;

#[test]
fn a_rack_layout_is_valid_and_configs_without_network_are_unchanged() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(errors(&with_network(d.path(), RACK)), Vec::<String>::new());
    let plain = single_server(d.path());
    assert_eq!(plain.spec.network, None);
    assert!(plain.spec.hosts.is_empty());
    assert_eq!(errors(&plain), Vec::<String>::new());
}

#[test]
fn parsed_from_yaml_with_hosts() {
    let d = tempfile::tempdir().unwrap();
    let _ = d;
    let mut doc = common::doc_example();
    doc.push_str(
        "  network:\n    interfaces: [{name: eth0}]\n    planes:\n      control: {link: eth0, address: 10.0.0.11/24}\n  hosts:\n    - {address: 10.0.0.11, names: [cp1.example.com]}\n",
    );
    let cfg = mk_roleconfig::parse_node_config(doc.as_bytes(), "node.yaml").unwrap();
    assert_eq!(cfg.spec.hosts[0].names, ["cp1.example.com"]);
    assert_eq!(
        cfg.spec
            .network
            .unwrap()
            .planes
            .control
            .unwrap()
            .address
            .as_deref(),
        Some("10.0.0.11/24")
    );
}

#[test]
fn each_bad_field_is_named() {
    let d = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str, &str)] = &[
        // (replace in RACK, with, path, message part)
        (
            "members: [nic0, nic1]",
            "members: []",
            "spec.network.bonds[0].members",
            "has no members",
        ),
        (
            "id: 100",
            "id: 4095",
            "spec.network.vlans[0].id",
            "VLAN ids are 1-4094",
        ),
        (
            "id: 100",
            "id: 0",
            "spec.network.vlans[0].id",
            "out of range",
        ),
        (
            "\"52:54:00:aa:00:02\"",
            "\"52:54:00:aa:00\"",
            "spec.network.interfaces[1].macAddress",
            "not a MAC address",
        ),
        (
            "\"52:54:00:aa:00:02\"",
            "\"52:54:00:AA:00:01\"",
            "spec.network.interfaces[1].macAddress",
            "also selects spec.network.interfaces[0]",
        ),
        (
            "parent: bond0",
            "parent: bond9",
            "spec.network.vlans[0].parent",
            "not the name of an entry",
        ),
        (
            "parent: bond0",
            "parent: nic0",
            "spec.network.vlans[0].parent",
            "tag the VLAN on the bond",
        ),
        (
            "members: [nic0, nic1]",
            "members: [nic0, bond0.100]",
            "spec.network.bonds[0].members[1]",
            "bond members are interfaces",
        ),
        (
            "etcd: {link: bond0.100, address: 10.0.0.11/24}",
            "etcd: {link: bond0.100, address: 10.0.0.12/24}",
            "spec.network.planes.etcd.address",
            "overlaps spec.network.planes.control.address (10.0.0.11/24) on link \"bond0.100\"",
        ),
        (
            "address: 10.0.0.11/24, gateway: 10.0.0.1",
            "address: 10.0.9.11/24, gateway: 10.0.9.1",
            "spec.network.planes.control.address",
            "outside the control plane 10.0.0.0/24",
        ),
        (
            "gateway: 10.0.0.1",
            "gateway: 10.0.1.1",
            "spec.network.planes.control.gateway",
            "not another host in 10.0.0.11/24's network",
        ),
        (
            "workload: {link: eth2, dhcp: true}",
            "workload: {link: eth2, dhcp: true, address: 10.0.8.11/24}",
            "spec.network.planes.workload.address",
            "not both",
        ),
        (
            "workload: {link: eth2, dhcp: true}",
            "workload: {link: eth3, dhcp: true}",
            "spec.network.planes.workload.link",
            "\"eth3\" is not the name",
        ),
        (
            "workload: {link: eth2, dhcp: true}",
            "workload: {link: eth2}",
            "spec.network.planes.workload",
            "no address",
        ),
        (
            "address: 10.0.0.11/24, gateway",
            "address: 10.0.0.11, gateway",
            "spec.network.planes.control.address",
            "lacks a prefix length",
        ),
        (
            "dns: [10.0.0.53]",
            "dns: [ns1.example.com]",
            "spec.network.planes.control.dns[0]",
            "not an IP address",
        ),
        (
            "{name: eth2, mtu: 9000}",
            "{name: eth2, mtu: 100}",
            "spec.network.interfaces[2].mtu",
            "not an MTU",
        ),
        (
            "{name: eth2, mtu: 9000}",
            "{name: eth2, mtu: 9000}\n  - {name: this-name-is-too-long}",
            "spec.network.interfaces[3].name",
            "1-15 characters",
        ),
        (
            "{name: eth2, mtu: 9000}",
            "{name: eth2, mtu: 9000}\n  - {name: nic0}",
            "spec.network.interfaces[3].name",
            "already defined at spec.network.interfaces[0]",
        ),
    ];
    for (from, to, path, what) in cases {
        assert!(RACK.contains(from), "{from}");
        let cfg = with_network(d.path(), &RACK.replacen(from, to, 1));
        one_error(&cfg, path, what);
    }
}

#[test]
fn bad_hosts_entries_are_named() {
    let d = tempfile::tempdir().unwrap();
    let mut cfg = single_server(d.path());
    cfg.spec.hosts = serde_norway::from_str(
        "[{address: 10.0.0.11, names: [cp1.example.com]}, {address: 10.0.0.300, names: [x.example.com]}]",
    )
    .unwrap();
    one_error(&cfg, "spec.hosts[1].address", "not an IP address");
    cfg.spec.hosts = serde_norway::from_str("[{address: 10.0.0.11, names: []}]").unwrap();
    one_error(&cfg, "spec.hosts[0].names", "no names");
    cfg.spec.hosts = serde_norway::from_str(
        "[{address: 10.0.0.11, names: [a.example.com]}, {address: 10.0.0.11, names: [b.example.com]}]",
    )
    .unwrap();
    one_error(&cfg, "spec.hosts[1].address", "also spec.hosts[0]");
    cfg.spec.hosts =
        serde_norway::from_str("[{address: 10.0.0.11, names: [\"bad_name\"]}]").unwrap();
    one_error(&cfg, "spec.hosts[0].names[0]", "");
}
