//! `mk-compose bundle --node-image NODE.raw`: the node image's root, boot
//! files and image.json land in /image/ under the signed MANIFEST (so
//! `mk-compose verify` covers them); a raw file that is no node disk is
//! refused, naming it, and no ISO is written. The raw disk is mk-slots'
//! synthetic one (crates/slots/tests/common: sgdisk, mtools, mke2fs).

mod common;
#[path = "../../crates/slots/tests/common/mod.rs"]
mod slots_common;

use common::{bundle, extract_iso, keygen, mk, names, run_err, run_ok};

#[test]
fn node_image_is_bundled_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rpms = root.join("rpms");
    std::fs::create_dir_all(&rpms).unwrap();
    for p in mk_synthrpm::example::example_packages() {
        p.write_to_dir(&rpms).unwrap();
    }
    keygen(root);
    std::fs::write(root.join("node.ks"), "%packages\nexample-etcd\n%end\n").unwrap();
    let raw = slots_common::build(
        root,
        "node.raw",
        &slots_common::Spec {
            version: "2.1.0",
            root_mib: 16,
            with_root_b: true,
        },
    );

    let out = run_ok(
        bundle(root, &rpms, &root.join("node.ks"), &root.join("out/a.iso"))
            .arg("--node-image")
            .arg(&raw.path),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("version 2.1.0"), "{stdout}");
    run_ok(
        mk().arg("verify")
            .arg(root.join("out/a.iso"))
            .arg("--trust")
            .arg(root.join("keys/mk.pub")),
    );
    let tree = root.join("tree");
    extract_iso(&root.join("out/a.iso"), &tree);
    assert_eq!(
        names(&tree.join("image")),
        [
            "image.json",
            "initramfs.img",
            "root.img.zst",
            "slot.cfg",
            "vmlinuz"
        ]
    );
    let manifest = std::fs::read_to_string(tree.join("MANIFEST")).unwrap();
    for f in [
        "image.json",
        "initramfs.img",
        "root.img.zst",
        "slot.cfg",
        "vmlinuz",
    ] {
        assert!(
            manifest.contains(&format!("  image/{f}\n")),
            "{f} not in MANIFEST"
        );
    }
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tree.join("image/image.json")).unwrap()).unwrap();
    assert_eq!(info["version"], "2.1.0");
    assert_eq!(info["root"]["size"], 16 * 1024 * 1024);
    assert_eq!(info["kernel_version"], "6.1.0-2.1.0-amd64");

    // Not a node disk: named, and no ISO.
    let junk = root.join("junk.raw");
    std::fs::write(&junk, vec![0u8; 1 << 20]).unwrap();
    let e = run_err(
        bundle(root, &rpms, &root.join("node.ks"), &root.join("out/b.iso"))
            .arg("--node-image")
            .arg(&junk),
    );
    assert!(e.contains("junk.raw"), "{e}");
    assert!(!root.join("out/b.iso").exists());
}
