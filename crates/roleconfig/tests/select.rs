//! Machine facts from a fake sysfs tree, and picking this machine's config.

use std::fs;
use std::path::Path;

use mk_roleconfig::{
    check_single, parse_document, select, Document, MachineFacts, NodeConfigList, SelectError,
};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn sysfs(macs: &[(&str, &str)], serial: Option<&str>, uuid: Option<&str>) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "class/net/lo/address", "00:00:00:00:00:00\n");
    for (ifname, mac) in macs {
        write(
            d.path(),
            &format!("class/net/{ifname}/address"),
            &format!("{mac}\n"),
        );
    }
    if let Some(s) = serial {
        write(d.path(), "class/dmi/id/product_serial", &format!("{s}\n"));
    }
    if let Some(u) = uuid {
        write(d.path(), "class/dmi/id/product_uuid", &format!("{u}\n"));
    }
    d
}

fn example() -> NodeConfigList {
    let text = fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/site/node-config.yaml"
    ))
    .unwrap();
    match parse_document(&text, "node-config.yaml").unwrap() {
        Document::List(l) => l,
        other => panic!("expected a list, got {other:?}"),
    }
}

#[test]
fn reads_macs_serial_and_uuid() {
    let d = sysfs(
        &[
            ("eth1", "52:54:00:AA:00:02"),
            ("eth0", "52:54:00:aa:00:01"),
            // InfiniBand: 20-byte link address, not a MAC.
            (
                "ib0",
                "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:0b:0c",
            ),
            ("dummy0", "00:00:00:00:00:00"),
        ],
        Some("CZ1234ABCD"),
        Some("4C4C4544-0042-3510-8052-B4C04F4E4D32"),
    );
    // An interface without an address file (some virtual devices).
    fs::create_dir_all(d.path().join("class/net/tun0")).unwrap();
    let f = MachineFacts::read(d.path()).unwrap();
    assert_eq!(f.macs, vec!["52:54:00:aa:00:01", "52:54:00:aa:00:02"]);
    assert_eq!(f.dmi_serial.as_deref(), Some("CZ1234ABCD"));
    assert_eq!(
        f.system_uuid.as_deref(),
        Some("4c4c4544-0042-3510-8052-b4c04f4e4d32")
    );
}

#[test]
fn missing_dmi_and_placeholders_are_none() {
    let d = sysfs(
        &[("eth0", "52:54:00:00:00:11")],
        Some("To Be Filled By O.E.M."),
        None,
    );
    let f = MachineFacts::read(d.path()).unwrap();
    assert_eq!(f.dmi_serial, None);
    assert_eq!(f.system_uuid, None);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        MachineFacts::read(empty.path()).unwrap(),
        MachineFacts::default()
    );
}

#[test]
fn selects_by_any_listed_mac() {
    let list = example();
    // w1's second NIC only.
    let d = sysfs(&[("eth0", "52:54:00:00:01:11")], None, None);
    let f = MachineFacts::read(d.path()).unwrap();
    assert_eq!(select(&list, &f).unwrap().metadata.name, "w1.example.com");
}

#[test]
fn selects_by_serial_and_uuid_together() {
    let list = example();
    let d = sysfs(
        &[("eth0", "52:54:00:99:99:99")],
        Some("CZ1234ABCD"),
        Some("4C4C4544-0042-3510-8052-B4C04F4E4D32"),
    );
    let f = MachineFacts::read(d.path()).unwrap();
    assert_eq!(select(&list, &f).unwrap().metadata.name, "w2.example.com");
    // Same serial, other board UUID: every criterion must hold.
    let d = sysfs(
        &[("eth0", "52:54:00:99:99:99")],
        Some("CZ1234ABCD"),
        Some("4c4c4544-0000-0000-0000-000000000001"),
    );
    let f = MachineFacts::read(d.path()).unwrap();
    assert!(matches!(
        select(&list, &f),
        Err(SelectError::NoMatch { .. })
    ));
}

#[test]
fn no_match_lists_what_the_machine_has() {
    let list = example();
    let d = sysfs(&[("eth0", "52:54:00:99:99:99")], Some("XYZ"), None);
    let f = MachineFacts::read(d.path()).unwrap();
    let e = select(&list, &f).unwrap_err().to_string();
    assert_eq!(
        e,
        "no config in the list matches this machine (MAC addresses: 52:54:00:99:99:99; \
         DMI serial: XYZ; system UUID: none); the list has: w1.example.com (macAddresses \
         52:54:00:00:00:11, 52:54:00:00:01:11); w2.example.com (dmiSerial CZ1234ABCD and \
         systemUUID 4c4c4544-0042-3510-8052-b4c04f4e4d32)"
    );
}

#[test]
fn several_matches_name_them() {
    let list = example();
    let d = sysfs(
        &[("eth0", "52:54:00:00:00:11")],
        Some("CZ1234ABCD"),
        Some("4c4c4544-0042-3510-8052-b4c04f4e4d32"),
    );
    let f = MachineFacts::read(d.path()).unwrap();
    let e = select(&list, &f).unwrap_err();
    assert_eq!(
        e,
        SelectError::Ambiguous {
            facts: f.to_string(),
            names: vec!["w1.example.com".into(), "w2.example.com".into()],
        }
    );
    assert!(e.to_string().contains("w1.example.com, w2.example.com"));
}

#[test]
fn single_config_with_another_machines_selector_is_refused() {
    let list = example();
    let cfg = &list.items[0];
    let d = sysfs(&[("eth0", "52:54:00:99:99:99")], None, None);
    let f = MachineFacts::read(d.path()).unwrap();
    let e = check_single(cfg, &f).unwrap_err().to_string();
    assert!(
        e.starts_with("the config for w1.example.com is for another machine"),
        "{e}"
    );
    let mut any = cfg.clone();
    any.selector = None;
    assert!(check_single(&any, &f).is_ok());
}

#[test]
fn unreadable_dmi_file_is_an_error_naming_it() {
    // A directory where the file should be: read fails with something other
    // than "not found" (as a permission error would for a non-root user).
    let d = sysfs(&[], None, None);
    let p = d.path().join("class/dmi/id/product_serial");
    fs::create_dir_all(&p).unwrap();
    // As the command line prints it: the path, then the OS error once.
    let e = format!(
        "{:#}",
        anyhow::Error::new(MachineFacts::read(d.path()).unwrap_err())
    );
    assert!(e.starts_with(&format!("{}: ", p.display())), "{e}");
    assert_eq!(e.matches("(os error").count(), 1, "{e}");
}
