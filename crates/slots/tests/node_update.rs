//! `mk-node update` / `mark-good` / `status` (mk_slots::update) against a
//! file-backed disk built with the real tools, and bundles made by
//! `mk_slots::node_image::stage` + mk-bundle. Judges: mk_bundle::verify,
//! grub-editenv, mcopy, e2fsck, fsck.vfat; bad bundles are checked to change
//! no byte of the disk.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use mk_slots::node_image::ImageInfo;
use mk_slots::plan::MarkGood;
use mk_slots::update::{self, Node};

fn node(disk: &Path, cmdline: String) -> Node {
    Node {
        disk: disk.to_path_buf(),
        cmdline,
        esp_mount: None,
    }
}

fn booted_on(disk: &Path, slot: &str) -> String {
    let p = part(disk, &format!("root-{slot}"));
    format!(
        "BOOT_IMAGE=/mk/{slot}/vmlinuz root=PARTUUID={} mk.slot={slot} ro panic=10\n",
        p.partuuid
    )
}

fn key() -> (mk_bundle::SecretKey, mk_bundle::PublicKey) {
    let sk = mk_bundle::SecretKey::generate().unwrap();
    let pk = sk.public_key();
    (sk, pk)
}

/// The ESP is still a clean FAT file system (fsck.vfat -n on its bytes).
fn fsck_esp(disk: &Path) {
    let esp = part(disk, "esp");
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("esp.img");
    let mut src = std::fs::File::open(disk).unwrap();
    use std::io::{Read, Seek, SeekFrom};
    src.seek(SeekFrom::Start(esp.offset)).unwrap();
    let mut bytes = vec![0u8; esp.size as usize];
    src.read_exact(&mut bytes).unwrap();
    std::fs::write(&f, bytes).unwrap();
    run(Command::new("fsck.vfat").arg("-n").arg(&f));
}

#[test]
fn bundle_carries_the_node_image_under_the_manifest() {
    let d = tempfile::tempdir().unwrap();
    let raw = build(
        d.path(),
        "v2.raw",
        &Spec {
            version: "2.0.0",
            root_mib: 16,
            with_root_b: true,
        },
    );
    let (sk, pk) = key();
    let iso = bundle(d.path(), "v2.iso", &raw.path, &sk);
    let report = mk_bundle::verify(&iso, &pk).unwrap();
    assert_eq!(report.files, 5, "image/ holds five files");
    let info: ImageInfo = serde_json::from_slice(
        &std::fs::read(d.path().join("v2.iso.staging/image/image.json")).unwrap(),
    )
    .unwrap();
    let root_a = part(&raw.path, "root-a");
    assert_eq!(info.version, "2.0.0");
    assert_eq!(info.kernel_version.as_deref(), Some("6.1.0-2.0.0-amd64"));
    assert_eq!(info.root.size, root_a.size);
    assert_eq!(
        info.root.sha256,
        sha_range(&raw.path, root_a.offset, root_a.size)
    );
    // The compressed root decompresses to exactly the partition's bytes.
    let zst = std::fs::read(d.path().join("v2.iso.staging/image/root.img.zst")).unwrap();
    assert!(
        zst.len() < (root_a.size / 4) as usize,
        "{} bytes compressed",
        zst.len()
    );
    let plain = zstd::decode_all(&zst[..]).unwrap();
    assert_eq!(plain.len() as u64, root_a.size);
    // The standard tools agree: minisign and sha256sum over the extracted tree.
    let x = d.path().join("x");
    run(Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&iso)
        .args(["-extract", "/"])
        .arg(&x));
    assert_eq!(
        std::fs::read(x.join("image/slot.cfg")).unwrap(),
        esp_read(&raw.path, raw.esp_offset, "mk/a/slot.cfg")
    );
    run(Command::new("sha256sum")
        .args(["--strict", "-c", "MANIFEST"])
        .current_dir(&x));
}

#[test]
fn update_writes_slot_b_then_mark_good_makes_it_the_default() {
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
    let (sk, pk) = key();
    let iso = bundle(d.path(), "v2.iso", &v2.path, &sk);
    let on_a = node(&disk.path, booted_on(&disk.path, "a"));

    let status = update::status(&on_a).unwrap();
    assert!(status.contains("slot a: version 1.0.0, root-a"), "{status}");
    assert!(status.contains("[running, default]"), "{status}");
    assert!(status.contains("slot b: version (empty)"), "{status}");

    let clusters = || run(mtools("mshowfat", &disk.path, disk.esp_offset).arg("::EFI/mk/grubenv"));
    let grubenv_clusters = clusters();
    let done = update::update(&on_a, &iso, &pk).unwrap();
    // Rewritten in place: the same clusters GRUB's save_env writes through.
    assert_eq!(clusters(), grubenv_clusters);
    assert_eq!((done.slot.as_str(), done.version.as_str()), ("b", "2.0.0"));
    eprintln!(
        "slot write: {} MB in {:.3} s = {:.0} MB/s (image file), read-back {:.3} s",
        done.write.bytes / 1_000_000,
        done.write.write_seconds,
        done.write.write_mb_s(),
        done.write.verify_seconds
    );
    // root-b now holds v2's root-a, byte for byte; root-a is untouched v1.
    let (a2, b1, a1) = (
        part(&v2.path, "root-a"),
        part(&disk.path, "root-b"),
        part(&disk.path, "root-a"),
    );
    assert_eq!(
        sha_range(&disk.path, b1.offset, b1.size),
        sha_range(&v2.path, a2.offset, a2.size)
    );
    assert_ne!(
        sha_range(&disk.path, a1.offset, a1.size),
        sha_range(&disk.path, b1.offset, b1.size)
    );
    // e2fsck judges the written slot.
    let rootb = d.path().join("rootb.ext4");
    std::fs::write(&rootb, {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&disk.path).unwrap();
        f.seek(SeekFrom::Start(b1.offset)).unwrap();
        let mut v = vec![0; b1.size as usize];
        f.read_exact(&mut v).unwrap();
        v
    })
    .unwrap();
    run(Command::new("e2fsck").args(["-f", "-n"]).arg(&rootb));
    for f in ["vmlinuz", "initramfs.img", "slot.cfg"] {
        assert_eq!(
            esp_read(&disk.path, disk.esp_offset, &format!("mk/b/{f}")),
            esp_read(&v2.path, v2.esp_offset, &format!("mk/a/{f}")),
            "mk/b/{f}"
        );
    }
    assert_eq!(
        grubenv_list(&disk.path, disk.esp_offset),
        "mk_default=a\nmk_next=b\nmk_tries=3\n"
    );
    fsck_esp(&disk.path);

    // A second update before the reboot is refused, and changes nothing.
    let before = sha_file(&disk.path);
    let e = update::update(&on_a, &iso, &pk).unwrap_err().to_string();
    assert!(e.contains("waiting for its trial boot"), "{e}");
    // mark-good on the old slot leaves the pending update alone.
    assert!(matches!(
        update::mark_good(&on_a).unwrap(),
        MarkGood::Nothing(_)
    ));
    assert_eq!(sha_file(&disk.path), before);

    // Rebooted into b (GRUB counted one try): mark-good promotes it.
    let on_b = node(&disk.path, booted_on(&disk.path, "b"));
    let promoted = update::mark_good(&on_b).unwrap();
    assert!(matches!(promoted, MarkGood::Promote { .. }), "{promoted:?}");
    assert_eq!(
        grubenv_list(&disk.path, disk.esp_offset),
        "mk_default=b\nmk_next=\nmk_tries=0\n"
    );
    let status = update::status(&on_b).unwrap();
    assert!(status.contains("slot b: version 2.0.0, root-b"), "{status}");
    assert!(status.contains("[running, default]"), "{status}");
    // Idempotent: a second mark-good writes nothing.
    let before = sha_file(&disk.path);
    assert!(matches!(
        update::mark_good(&on_b).unwrap(),
        MarkGood::Nothing(_)
    ));
    assert_eq!(sha_file(&disk.path), before);
    fsck_esp(&disk.path);
}

#[test]
fn bad_bundles_and_disks_change_no_byte() {
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
    let big = build(
        d.path(),
        "big.raw",
        &Spec {
            version: "2.0.0",
            root_mib: 24,
            with_root_b: true,
        },
    );
    let no_b = build(
        d.path(),
        "nob.raw",
        &Spec {
            version: "1.0.0",
            root_mib: 16,
            with_root_b: false,
        },
    );
    let (sk, pk) = key();
    let good = bundle(d.path(), "v2.iso", &v2.path, &sk);
    let too_big = bundle(d.path(), "big.iso", &big.path, &sk);

    // One flipped byte inside image/slot.cfg's data in the ISO.
    let flipped = d.path().join("flipped.iso");
    std::fs::copy(&good, &flipped).unwrap();
    let entries = mk_bundle::iso::open_file(std::fs::File::open(&flipped).unwrap())
        .unwrap()
        .list()
        .unwrap();
    let cfg = entries.iter().find(|e| e.path == "image/slot.cfg").unwrap();
    let mut bytes = std::fs::read(&flipped).unwrap();
    bytes[cfg.extents[0].offset as usize + 5] ^= 1;
    std::fs::write(&flipped, bytes).unwrap();
    let (_, other_pk) = key();

    let cases: [(&str, &Path, &Path, &mk_bundle::PublicKey, &str); 4] = [
        ("flipped byte", &disk.path, &flipped, &pk, "image/slot.cfg"),
        (
            "untrusted key",
            &disk.path,
            &good,
            &other_pk,
            "bundle check failed",
        ),
        (
            "root too big",
            &disk.path,
            &too_big,
            &pk,
            "slot too small: root-b is 16777216 bytes, the new root is 25165824 bytes",
        ),
        (
            "no root-b",
            &no_b.path,
            &good,
            &pk,
            "has no partition root-b",
        ),
    ];
    for (what, target, iso, key, expect) in cases {
        let before = sha_file(target);
        let e = update::update(&node(target, booted_on(target, "a")), iso, key).unwrap_err();
        let text = format!(
            "{e}: {:?}",
            std::error::Error::source(&e).map(|s| s.to_string())
        );
        assert!(text.contains(expect), "{what}: {text}");
        assert_eq!(sha_file(target), before, "{what}: the disk changed");
    }
}

/// Figures for the report: slot write and read-back throughput, bundle
/// staging, for a root of MK_SLOT_MIB MiB (default 1024) that is 60% data.
/// `MK_SLOT_MIB=1024 cargo nextest run -p mk-slots --run-ignored only --no-capture slot_write_figures`
#[test]
#[ignore = "figures: writes a few GB to the temp dir"]
fn slot_write_figures() {
    let mib: u64 = std::env::var("MK_SLOT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let d = tempfile::tempdir().unwrap();
    let spec = |version| Spec {
        version,
        root_mib: mib,
        with_root_b: true,
    };
    let disk = build(d.path(), "disk.raw", &spec("1.0.0"));
    let v2 = build_with_data(d.path(), "v2.raw", &spec("2.0.0"), mib * 6 / 10);
    let (sk, pk) = key();
    let t = std::time::Instant::now();
    let iso = bundle(d.path(), "v2.iso", &v2.path, &sk);
    let staged = t.elapsed().as_secs_f64();
    let zst = std::fs::metadata(d.path().join("v2.iso.staging/image/root.img.zst"))
        .unwrap()
        .len();
    let t = std::time::Instant::now();
    let done = update::update(&node(&disk.path, booted_on(&disk.path, "a")), &iso, &pk).unwrap();
    let total = t.elapsed().as_secs_f64();
    eprintln!(
        "root {mib} MiB ({} MiB data): bundle staged+signed {staged:.1} s, root.img.zst {} MB; \
         mk-node update {total:.1} s in all: slot write {:.1} s = {:.0} MB/s (decompress+write+fsync), read-back {:.1} s",
        mib * 6 / 10,
        zst / 1_000_000,
        done.write.write_seconds,
        done.write.write_mb_s(),
        done.write.verify_seconds
    );
}

#[test]
fn a_second_mk_node_waits_for_the_first() {
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
    let (sk, pk) = key();
    let iso = bundle(d.path(), "v2.iso", &v2.path, &sk);
    // Another process's lock on the disk.
    let held = std::fs::File::open(&disk.path).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let before = sha_file(&disk.path);
    let on_a = node(&disk.path, booted_on(&disk.path, "a"));
    let e = update::update(&on_a, &iso, &pk).unwrap_err().to_string();
    assert!(e.contains("another mk-node"), "{e}");
    let e = update::mark_good(&on_a).unwrap_err().to_string();
    assert!(e.contains("another mk-node"), "{e}");
    assert_eq!(sha_file(&disk.path), before);
    drop(held);
    update::update(&on_a, &iso, &pk).unwrap();
}
