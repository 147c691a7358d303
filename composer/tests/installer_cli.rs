//! `mk-compose installer`: the ISO boots by BIOS and UEFI (xorriso's El
//! Torito report), is a signed bundle (`mk-compose verify`; a flipped byte
//! fails it), is reproducible, carries the install step (bsdtar lists its
//! cpio) and an image that mk-node install's reader writes back onto a
//! disk byte for byte. The raw disk is mk-slots' synthetic one plus shim
//! and GRUB stand-ins on its ESP and a root holding the host's GRUB i386-pc
//! modules (grub-pc-bin) and C library.

mod common;
#[path = "../../crates/slots/tests/common/mod.rs"]
mod slots_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{extract_iso, keygen, mk, run_err, run_ok};

const MIB: u64 = 1 << 20;

fn synthetic_image(root: &Path) -> PathBuf {
    let raw = slots_common::build(
        root,
        "node.raw",
        &slots_common::Spec {
            version: "3.1.0",
            root_mib: 16,
            with_root_b: true,
        },
    );
    let esp = raw.esp_offset;
    slots_common::run(slots_common::mtools("mmd", &raw.path, esp).arg("::EFI/BOOT"));
    for (name, fill) in [("BOOTX64.EFI", 1u8), ("grubx64.efi", 2u8)] {
        let f = root.join(name);
        std::fs::write(&f, vec![fill; 300_000]).unwrap();
        slots_common::run(
            slots_common::mtools("mcopy", &raw.path, esp)
                .arg(&f)
                .arg(format!("::EFI/BOOT/{name}")),
        );
    }
    // root-a: GRUB's i386-pc files, the C library (mk-node's NEEDED) with
    // the loader behind a symlink, as Debian has it.
    let tree = root.join("tree");
    let libdir = tree.join("lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&libdir).unwrap();
    std::fs::create_dir_all(tree.join("lib64")).unwrap();
    std::fs::create_dir_all(tree.join("usr/lib/grub")).unwrap();
    for lib in ["libc.so.6", "ld-linux-x86-64.so.2"] {
        std::fs::copy(
            Path::new("/lib/x86_64-linux-gnu").join(lib),
            libdir.join(lib),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink(
        "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        tree.join("lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    slots_common::run(
        Command::new("cp")
            .args(["-r", "/usr/lib/grub/i386-pc"])
            .arg(tree.join("usr/lib/grub/")),
    );
    let root_a = slots_common::part(&raw.path, "root-a");
    slots_common::run(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(&tree)
            .args(["-E", &format!("offset={}", root_a.offset)])
            .arg(&raw.path)
            .arg(format!("{}k", root_a.size / 1024))
            .env("E2FSPROGS_FAKE_TIME", "1700000000"),
    );
    raw.path
}

fn installer(root: &Path, raw: &Path, out: &Path) -> Command {
    let mut c = mk();
    c.arg("installer")
        .arg("--image")
        .arg(raw)
        .arg("--bundle-dir")
        .arg(root.join("bundle"))
        .args(["--mk-node", "/usr/bin/true"])
        .args(["--disk", "/dev/disk/by-id/virtio-NODE1"])
        .arg("--key")
        .arg(root.join("keys/mk.key"))
        .arg("--password-file")
        .arg(root.join("pw"))
        .arg("--out")
        .arg(out)
        .env("SOURCE_DATE_EPOCH", "1700000000");
    c
}

#[test]
fn installer_iso_boots_both_ways_is_signed_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    keygen(root);
    let raw = synthetic_image(root);
    std::fs::create_dir_all(root.join("bundle/repo")).unwrap();
    std::fs::write(root.join("bundle/repo/hello.rpm"), "not really an rpm").unwrap();
    std::fs::write(
        root.join("bundle/MANIFEST"),
        "replaced by the installer's own",
    )
    .unwrap();

    let iso = root.join("out/mk-install.iso");
    std::fs::create_dir_all(root.join("out")).unwrap();
    let out = run_ok(&mut installer(root, &raw, &iso));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("installer for mk 3.1.0"), "{stdout}");

    // Both boot images, as a CentOS DVD has them.
    let report = run_ok(
        Command::new("xorriso")
            .args(["-indev"])
            .arg(&iso)
            .args(["-report_el_torito", "plain"]),
    );
    let report = String::from_utf8_lossy(&report.stdout);
    let boot_lines: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("El Torito boot img :"))
        .collect();
    assert!(
        boot_lines
            .iter()
            .any(|l| l.contains("BIOS") && l.contains("y ")),
        "{report}"
    );
    assert!(boot_lines.iter().any(|l| l.contains("UEFI")), "{report}");
    // The hybrid MBR: GRUB's boot code and an MBR partition table.
    let bytes = std::fs::read(&iso).unwrap();
    assert_eq!(&bytes[510..512], &[0x55, 0xaa]);
    let mbr = std::fs::read("/usr/lib/grub/i386-pc/boot_hybrid.img").unwrap();
    assert_eq!(
        bytes[..0x40],
        mbr[..0x40],
        "GRUB's hybrid MBR code starts the ISO"
    );

    run_ok(
        mk().arg("verify")
            .arg(&iso)
            .arg("--trust")
            .arg(root.join("keys/mk.pub")),
    );

    // Same inputs, same bytes.
    let again = root.join("out/again.iso");
    run_ok(&mut installer(root, &raw, &again));
    let second = std::fs::read(&again).unwrap();
    let diff: Vec<usize> = (0..bytes.len().min(second.len()))
        .filter(|&i| bytes[i] != second[i])
        .collect();
    assert!(
        second.len() == bytes.len() && diff.is_empty(),
        "two builds differ: {} bytes at {:?}",
        diff.len(),
        &diff[..diff.len().min(40)]
    );

    let tree = root.join("x");
    extract_iso(&iso, &tree);
    let cfg = std::fs::read_to_string(tree.join("boot/grub/grub.cfg")).unwrap();
    assert!(
        cfg.contains("mk.install.disk=/dev/disk/by-id/virtio-NODE1")
            && cfg.contains("/boot/mk-install.cpio"),
        "{cfg}"
    );
    assert!(std::fs::read_to_string(tree.join("repo/hello.rpm")).unwrap() == "not really an rpm");
    let listing = run_ok(
        Command::new("bsdtar")
            .arg("-tvf")
            .arg(tree.join("boot/mk-install.cpio")),
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    for f in [
        "etc/systemd/system/mk-install.service",
        "etc/systemd/system/initrd.target.wants/mk-install.service -> ../mk-install.service",
        "usr/lib/mk-install/mk-node",
        "usr/lib/mk-install/libc.so.6",
        "usr/lib/mk-install/ld-linux-x86-64.so.2",
        "etc/mk/install.pub",
    ] {
        assert!(listing.contains(f), "{f} missing:\n{listing}");
    }
    // The loader came through the symlink: the real file's bytes.
    let ld = std::fs::read("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").unwrap();
    let cpio = std::fs::read(tree.join("boot/mk-install.cpio")).unwrap();
    assert!(cpio.windows(ld.len()).any(|w| w == ld.as_slice()));
    // The UEFI image holds shim, GRUB and the forwarder.
    let efi = tree.join("boot/efiboot.img");
    let dir_listing = run_ok(
        Command::new("mdir")
            .args(["-/", "-b", "-i"])
            .arg(&efi)
            .arg("::"),
    );
    let dir_listing = String::from_utf8_lossy(&dir_listing.stdout);
    for f in [
        "EFI/BOOT/BOOTX64.EFI",
        "EFI/BOOT/grubx64.efi",
        "EFI/debian/grub.cfg",
        "EFI/centos/grub.cfg",
    ] {
        assert!(dir_listing.contains(f), "{f} missing:\n{dir_listing}");
    }
    run_ok(Command::new("fsck.vfat").arg("-n").arg(&efi));

    // What mk-node install reads from the ISO is the image, byte for byte.
    let pk = mk_bundle::PublicKey::from_file(&root.join("keys/mk.pub")).unwrap();
    let media = mk_installer::media::open(&iso, Some(&pk)).unwrap();
    let disk = root.join("disk");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(std::fs::metadata(&raw).unwrap().len() + 8 * MIB)
        .unwrap();
    mk_installer::write::install(
        &disk,
        media.reader,
        &media.info.spec(),
        &mk_installer::write::Options { grow_state: true },
    )
    .unwrap();
    let root_a = slots_common::part(&raw, "root-a");
    assert_eq!(
        slots_common::sha_range(&raw, root_a.offset, root_a.size),
        slots_common::sha_range(&disk, root_a.offset, root_a.size)
    );
    let v = run_ok(Command::new("sgdisk").arg("-v").arg(&disk));
    assert!(String::from_utf8_lossy(&v.stdout).contains("No problems found"));

    // A flipped byte in a signed file fails verification.
    let mut bad = bytes.clone();
    let at = bad.windows(9).position(|w| w == b"menuentry").unwrap();
    bad[at] = b'M';
    let bad_iso = root.join("out/bad.iso");
    std::fs::write(&bad_iso, bad).unwrap();
    let err = run_err(
        mk().arg("verify")
            .arg(&bad_iso)
            .arg("--trust")
            .arg(root.join("keys/mk.pub")),
    );
    assert!(err.contains("boot/grub/grub.cfg"), "{err}");
}

#[test]
fn an_image_without_grub_i386_pc_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    keygen(root);
    let raw = slots_common::build(
        root,
        "node.raw",
        &slots_common::Spec {
            version: "3.1.0",
            root_mib: 16,
            with_root_b: false,
        },
    );
    std::fs::create_dir_all(root.join("bundle")).unwrap();
    let iso = root.join("mk-install.iso");
    let err = run_err(&mut installer(root, &raw.path, &iso));
    assert!(
        err.contains("EFI/BOOT/BOOTX64.EFI") && err.contains("node.raw"),
        "{err}"
    );
    assert!(!iso.exists());
    let leftovers: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".mk-installer"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind");
}
