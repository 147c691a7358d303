//! The `mk-node` binary end to end on a file-backed disk (`--disk
//! disk.raw --cmdline FILE`): update, status, mark-good, and a refused
//! bundle that changes no byte. The synthetic disk and bundles are
//! mk-slots' test helpers (crates/slots/tests/common).

#[path = "../../crates/slots/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn mk_node(args: &[&str], disk: &Path, cmdline: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mk-node"))
        .args(args)
        .arg("--disk")
        .arg(disk)
        .arg("--cmdline")
        .arg(cmdline)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn update_status_mark_good_on_a_disk_image() {
    let d = tempfile::tempdir().unwrap();
    let disk = build(
        d.path(),
        "disk.raw",
        &Spec {
            version: "1.0.0",
            root_mib: 16,
            with_root_b: true,
        },
    );
    let v2 = build(
        d.path(),
        "v2.raw",
        &Spec {
            version: "2.0.0",
            root_mib: 16,
            with_root_b: true,
        },
    );
    let sk = mk_bundle::SecretKey::generate().unwrap();
    let iso = bundle(d.path(), "v2.iso", &v2.path, &sk);
    let pub_file = d.path().join("mk.pub");
    std::fs::write(&pub_file, sk.public_key().to_file_text()).unwrap();
    let other = d.path().join("other.pub");
    std::fs::write(
        &other,
        mk_bundle::SecretKey::generate()
            .unwrap()
            .public_key()
            .to_file_text(),
    )
    .unwrap();
    let cmdline = |slot: &str| {
        let f = d.path().join(format!("cmdline-{slot}"));
        let p = part(&disk.path, &format!("root-{slot}"));
        std::fs::write(
            &f,
            format!("root=PARTUUID={} mk.slot={slot} ro\n", p.partuuid),
        )
        .unwrap();
        f
    };
    let (on_a, on_b) = (cmdline("a"), cmdline("b"));
    let iso_s = iso.to_str().unwrap();

    // Untrusted key: exit 1, the reason, no byte changed.
    let before = sha_file(&disk.path);
    let o = mk_node(
        &[
            "update",
            "--bundle",
            iso_s,
            "--trust",
            other.to_str().unwrap(),
        ],
        &disk.path,
        &on_a,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("bundle check failed, nothing was written"),
        "{}",
        text(&o)
    );
    assert_eq!(sha_file(&disk.path), before);

    let o = mk_node(
        &[
            "update",
            "--bundle",
            iso_s,
            "--trust",
            pub_file.to_str().unwrap(),
        ],
        &disk.path,
        &on_a,
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("slot b now holds version 2.0.0"), "{out}");
    assert!(out.contains("MB/s"), "{out}");
    assert_eq!(
        grubenv_list(&disk.path, disk.esp_offset),
        "mk_default=a\nmk_next=b\nmk_tries=3\n"
    );

    let o = mk_node(&["status"], &disk.path, &on_b);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("slot b: version 2.0.0, root-b"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("[running, next, 3 tries left]"),
        "{}",
        text(&o)
    );

    let o = mk_node(&["mark-good"], &disk.path, &on_b);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("slot b is now the default"),
        "{}",
        text(&o)
    );
    assert_eq!(
        grubenv_list(&disk.path, disk.esp_offset),
        "mk_default=b\nmk_next=\nmk_tries=0\n"
    );
}
