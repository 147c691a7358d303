//! Building boxes from synthetic disks, judged by tar, qemu-img and cmp:
//! the box's layout, reproducibility, and the refusals (not an image, a
//! damaged qcow2, no Vagrant marker, an existing output).

mod common;

use std::process::Command;

use common::*;
use mk_vagrantbox::{build, Error, Format};

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn raw_image_becomes_a_libvirt_box_with_the_same_disk() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_disk(dir.path(), "node.raw", true);
    let out = dir.path().join("mk.box");
    let r = build(&options(&raw, &out)).unwrap();
    assert_eq!(r.format, Format::Raw);
    assert_eq!(r.virtual_size, 64 << 20);
    assert_eq!(r.sha256, mk_durable::sha256_file(&out).unwrap());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o644
    );

    // The archive as tar lists it: three members, sorted, owned by 0/0.
    let list = Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(&out)
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    let names: Vec<_> = list
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(names, ["Vagrantfile", "box.img", "metadata.json"], "{list}");
    for l in list.lines() {
        assert!(l.starts_with("-rw-r--r-- 0/0"), "{l}");
        assert!(
            l.contains("2023-11-14"),
            "mtime from SOURCE_DATE_EPOCH: {l}"
        );
    }

    let x = dir.path().join("x");
    untar(&out, &x);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(x.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(
        meta,
        serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": 1})
    );
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(x.join("box.img"))
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 64 << 20);
    // Same sectors as the raw image (qemu-img compare exits 0).
    run(Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "qcow2"])
        .arg(&raw)
        .arg(x.join("box.img")));
    let vf = std::fs::read_to_string(x.join("Vagrantfile")).unwrap();
    assert!(vf.contains("libvirt.disk_bus = \"virtio\""), "{vf}");
    // Ruby parses it.
    run(Command::new("ruby").arg("-c").arg(x.join("Vagrantfile")));
    // Nothing left beside the output but what the test made.
    assert_eq!(
        listing(dir.path()),
        ["mk.box", "node.raw", "node.raw.tree", "x"]
    );
}

#[test]
fn same_inputs_give_identical_boxes_and_qcow2_input_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_disk(dir.path(), "node.raw", true);
    let a = dir.path().join("a.box");
    let b = dir.path().join("b.box");
    build(&options(&raw, &a)).unwrap();
    // Different mtime of the input: same box.
    run(Command::new("touch").arg(&raw));
    build(&options(&raw, &b)).unwrap();
    run(Command::new("cmp").arg(&a).arg(&b));

    let q = to_qcow2(&raw);
    let c = dir.path().join("c.box");
    let r = build(&options(&q, &c)).unwrap();
    assert_eq!(r.format, Format::Qcow2);
    let x = dir.path().join("x");
    untar(&c, &x);
    run(Command::new("cmp").arg(&q).arg(x.join("box.img")));

    // Another SOURCE_DATE_EPOCH changes only the tar headers' mtime.
    let d = dir.path().join("d.box");
    let mut o = options(&raw, &d);
    o.source_date_epoch = None;
    build(&o).unwrap();
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&d).unwrap());
}

#[test]
fn image_without_the_vagrant_marker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_disk(dir.path(), "prod.raw", false);
    let out = dir.path().join("mk.box");
    let e = build(&options(&raw, &out)).unwrap_err();
    assert!(matches!(e, Error::NotVagrantBuild { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("prod.raw"), "{msg}");
    assert!(msg.contains("/usr/lib/mk/vagrant-build"), "{msg}");
    assert!(msg.contains("vagrant/overlay"), "{msg}");
    assert!(!out.exists());
    assert_eq!(listing(dir.path()), ["prod.raw", "prod.raw.tree"]);

    // A GPT without root-a (another disk) is named as such.
    let q = to_qcow2(&raw);
    run(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(&q)
        .arg(dir.path().join("other.raw")));
    let other = dir.path().join("other.raw");
    run(Command::new("sgdisk").args(["-c", "3:data"]).arg(&other));
    let e = build(&options(&other, &out)).unwrap_err().to_string();
    assert!(
        e.contains("other.raw") && e.contains("no partition named \"root-a\""),
        "{e}"
    );
}

#[test]
fn bad_inputs_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mk.box");

    let missing = dir.path().join("missing.qcow2");
    let e = build(&options(&missing, &out)).unwrap_err().to_string();
    assert!(
        e.contains("missing.qcow2") && e.contains("No such file"),
        "{e}"
    );

    let text = dir.path().join("notes.img");
    std::fs::write(&text, "not a disk image\n").unwrap();
    let e = build(&options(&text, &out)).unwrap_err().to_string();
    assert!(
        e.contains("notes.img") && e.contains("neither a qcow2"),
        "{e}"
    );

    // A qcow2 whose header was damaged after the magic (L1 table offset
    // past the end): qemu-img check refuses it.
    let raw = raw_disk(dir.path(), "node.raw", true);
    let q = to_qcow2(&raw);
    let mut bytes = std::fs::read(&q).unwrap();
    bytes[40..48].copy_from_slice(&(1u64 << 40).to_be_bytes());
    let bad = dir.path().join("tampered.qcow2");
    std::fs::write(&bad, &bytes).unwrap();
    let e = build(&options(&bad, &out)).unwrap_err().to_string();
    assert!(
        e.contains("tampered.qcow2") && e.contains("qemu-img check"),
        "{e}"
    );

    // A truncated qcow2.
    let cut = dir.path().join("cut.qcow2");
    std::fs::write(&cut, &std::fs::read(&q).unwrap()[..100_000]).unwrap();
    let e = build(&options(&cut, &out)).unwrap_err().to_string();
    assert!(e.contains("cut.qcow2"), "{e}");

    // A qcow2 overlay needs its backing file: refused.
    let overlay = dir.path().join("overlay.qcow2");
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&q)
        .arg(&overlay));
    let e = build(&options(&overlay, &out)).unwrap_err().to_string();
    assert!(
        e.contains("overlay.qcow2") && e.contains("backing file"),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn an_existing_output_is_replaced_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_disk(dir.path(), "node.raw", true);
    let out = dir.path().join("mk.box");
    std::fs::write(&out, "keep me").unwrap();
    let e = build(&options(&raw, &out)).unwrap_err();
    assert!(matches!(e, Error::Exists { .. }), "{e:?}");
    assert!(e.to_string().contains("mk.box") && e.to_string().contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");

    let mut o = options(&raw, &out);
    o.force = true;
    build(&o).unwrap();
    assert_ne!(std::fs::read(&out).unwrap(), b"keep me");
    assert_eq!(listing(dir.path()), ["mk.box", "node.raw", "node.raw.tree"]);
}
