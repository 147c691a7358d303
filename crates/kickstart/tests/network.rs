//! Kickstart `network` lines as NetworkManager keyfiles (the model first
//! boot writes from `spec.network`), judged by NetworkManager's own parser
//! (`nmcli --offline`, NetworkManager >= 1.40); what the model cannot say
//! is refused naming the line.

use std::path::Path;

use mk_kickstart::network::keyfiles;
use mk_kickstart::Kickstart;

fn nm_reads(keyfile: &str) -> String {
    mk_netconf::testing::nm_reads(keyfile)
        .unwrap_or_else(|e| panic!("NetworkManager refused:\n{keyfile}\n{e}"))
}

fn networks(ks: &str) -> Vec<mk_kickstart::Network> {
    Kickstart::parse("t.ks", ks)
        .unwrap_or_else(|e| panic!("{e}"))
        .networks
}

#[test]
fn the_shipped_kickstarts_network_line_is_a_dhcp_profile_for_any_ethernet_device() {
    let ks = Kickstart::read(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kickstart/centos-7.6-node.ks"),
    )
    .unwrap();
    let files = keyfiles(&ks.networks, "# header\n").unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].id, "mk-ks-any");
    let k = &files[0].contents;
    assert!(!k.contains("interface-name"), "{k}");
    assert!(k.contains("\n[ipv4]\n# kickstart network, line "), "{k}");
    let back = nm_reads(k);
    assert!(back.contains("\nmethod=auto\n"), "{back}");
    // The image's default: below the role config's profiles (priority 10),
    // which win for the devices they name.
    assert!(k.contains("\nautoconnect-priority=0\n"), "{k}");
    assert!(
        !back.contains("autoconnect-priority=1"),
        "NetworkManager's default (0) is not written back: {back}"
    );
    assert!(
        back.contains("[ipv6]\nmethod=ignore\n") || back.contains("[ipv6]\naddr-gen-mode"),
        "{back}"
    );
}

#[test]
fn static_lines_by_name_and_by_mac() {
    let n = networks(
        "network --device=eth0 --bootproto=static --ip=10.0.1.11 --netmask=255.255.255.0 --gateway=10.0.1.1 --nameserver=10.0.0.53,10.0.0.54 --noipv6 --mtu=9000\n\
         network --device=52:54:00:AA:00:02 --bootproto=dhcp --onboot=no --noipv6\n",
    );
    let files = keyfiles(&n, "").unwrap();
    let ids: Vec<&str> = files.iter().map(|k| k.id.as_str()).collect();
    // `ks-` names: never a role config link's profile (`mk-<link>`), which
    // first boot writes into the same directory.
    assert_eq!(ids, ["mk-ks-525400aa0002", "mk-ks-eth0"]);
    let eth0 = nm_reads(&files[1].contents);
    for want in [
        "interface-name=eth0",
        "mtu=9000",
        "address1=10.0.1.11/24,10.0.1.1",
        "dns=10.0.0.53;10.0.0.54;",
        "method=manual",
    ] {
        assert!(eth0.contains(want), "{want}\n{eth0}");
    }
    let ks1 = nm_reads(&files[0].contents);
    for want in [
        "mac-address=52:54:00:AA:00:02",
        "autoconnect=false",
        "method=auto",
    ] {
        assert!(ks1.contains(want), "{want}\n{ks1}");
    }
    assert!(!ks1.contains("interface-name"), "{ks1}");
}

#[test]
fn what_the_model_cannot_say_is_refused_naming_the_line() {
    for (ks, want) in [
        ("network --bootproto=dhcp\n", "line 1: `network`: mk's profiles configure IPv4 only"),
        (
            "network --bootproto=dhcp --noipv6 --hostname=n1.example.com\n",
            "--hostname is not supported",
        ),
        (
            "\nnetwork --device=eth0 --bootproto=static --ip=10.0.1.11 --netmask=255.0.255.0 --noipv6\n",
            "line 2: `network`: --netmask=255.0.255.0 is not a contiguous netmask",
        ),
        (
            "network --device=eth0 --bootproto=static --ip=10.0.1.11 --netmask=24 --gateway=10.0.2.1 --noipv6\n",
            "--gateway=10.0.2.1 is not another host in 10.0.1.11/24's network",
        ),
        (
            "network --device=eth0 --bootproto=dhcp --noipv6 --mtu=100\n",
            "--mtu=100: expected 576-9216",
        ),
        (
            "network --device=52:54:00:AA:00:02 --bootproto=dhcp --noipv6\n\
             network --device=52:54:00:aa:00:02 --bootproto=dhcp --noipv6\n",
            "line 2: `network`: the same device as line 1 (profile mk-ks-525400aa0002)",
        ),
    ] {
        let e = keyfiles(&networks(ks), "").unwrap_err();
        assert!(e.contains(want), "{want}: {e}");
    }
}
