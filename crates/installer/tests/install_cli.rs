//! `mk-node install`'s run (mk_installer::cli::run) on a fake sysfs tree, a
//! /dev of image files and a signed installer ISO made with mk-bundle; and
//! crafted sysfs trees.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use mk_installer::cli::{run, InstallArgs, Outcome};
use mk_installer::media::InstallInfo;
use mk_installer::sysfs;
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;

struct Disk<'a> {
    name: &'a str,
    mib: u64,
    serial: Option<&'a str>,
    removable: bool,
}

fn sysfs_tree(root: &Path, dev: &Path, disks: &[Disk]) {
    for d in disks {
        let dir = root.join("block").join(d.name);
        std::fs::create_dir_all(dir.join("device")).unwrap();
        std::fs::write(dir.join("size"), format!("{}\n", d.mib * MIB / 512)).unwrap();
        std::fs::write(
            dir.join("removable"),
            if d.removable { "1\n" } else { "0\n" },
        )
        .unwrap();
        std::fs::write(dir.join("ro"), "0\n").unwrap();
        std::fs::write(dir.join("device/model"), "QEMU HARDDISK   \n").unwrap();
        if let Some(s) = d.serial {
            std::fs::write(dir.join("serial"), format!("{s}\n")).unwrap();
        }
        File::create(dev.join(d.name))
            .unwrap()
            .set_len(d.mib * MIB)
            .unwrap();
    }
    // Virtual devices are not disks.
    std::fs::create_dir_all(root.join("block/loop0")).unwrap();
    std::fs::write(root.join("block/loop0/size"), "999999999\n").unwrap();
}

/// A signed installer ISO carrying a 40 MiB synthetic image.
fn installer_iso(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let raw = dir.join("node.raw");
    File::create(&raw).unwrap().set_len(40 * MIB).unwrap();
    let out = Command::new("sgdisk")
        .args([
            "-n", "1:1M:+8M", "-c", "1:esp", "-n", "2:0:+8M", "-c", "2:root-a", "-n", "3:0:0",
            "-c", "3:state",
        ])
        .arg(&raw)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut f = std::fs::OpenOptions::new().write(true).open(&raw).unwrap();
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(2 * MIB)).unwrap();
    f.write_all(&[0x5a; 4 << 20]).unwrap();
    drop(f);
    let bytes = std::fs::read(&raw).unwrap();
    let staging = dir.join("staging");
    std::fs::create_dir_all(staging.join("install")).unwrap();
    std::fs::write(
        staging.join("install/disk.raw.zst"),
        zstd::encode_all(&bytes[..], 3).unwrap(),
    )
    .unwrap();
    let info = InstallInfo {
        format: 1,
        file: "disk.raw.zst".into(),
        compression: "zstd".into(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        version: "1.2.3".into(),
    };
    std::fs::write(
        staging.join("install/image.json"),
        serde_json::to_vec(&info).unwrap(),
    )
    .unwrap();
    let sk = mk_bundle::SecretKey::generate().unwrap();
    let iso = dir.join("mk-install.iso");
    mk_bundle::finish_bundle(
        &staging,
        &iso,
        &sk,
        &mk_bundle::BundleOptions {
            name: "mk-install".into(),
            version: "1.2.3".into(),
            volume_label: "MK-INSTALL".into(),
            source_date_epoch: 1_700_000_000,
        },
    )
    .unwrap();
    let key = dir.join("install.pub");
    std::fs::write(&key, sk.public_key().to_file_text()).unwrap();
    (iso, key, bytes)
}

fn args(extra: &[&str], base: &Path, iso: &Path, key: &Path) -> InstallArgs {
    let mut v: Vec<String> = vec!["mk-node install".into()];
    for (k, p) in [
        ("--media", iso),
        ("--trust", key),
        ("--sysfs", &base.join("sys")),
        ("--dev-dir", &base.join("dev")),
        ("--cmdline", &base.join("cmdline")),
    ] {
        v.push(k.into());
        v.push(p.display().to_string());
    }
    v.extend(extra.iter().map(|s| s.to_string()));
    InstallArgs::try_parse_from(v).unwrap()
}

fn setup(disks: &[Disk]) -> (tempfile::TempDir, PathBuf, PathBuf, Vec<u8>) {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("dev")).unwrap();
    sysfs_tree(&d.path().join("sys"), &d.path().join("dev"), disks);
    let (iso, key, raw) = installer_iso(d.path());
    (d, iso, key, raw)
}

#[test]
fn the_only_fixed_disk_receives_the_image() {
    let (d, iso, key, raw) = setup(&[
        Disk {
            name: "sdb",
            mib: 64,
            serial: Some("USB-STICK"),
            removable: true,
        },
        Disk {
            name: "vda",
            mib: 64,
            serial: Some("NODE1"),
            removable: false,
        },
    ]);
    std::fs::write(
        d.path().join("cmdline"),
        "BOOT_IMAGE=/boot/vmlinuz console=ttyS0\n",
    )
    .unwrap();
    match run(&args(&[], d.path(), &iso, &key)).unwrap() {
        Outcome::Installed {
            disk,
            version,
            report,
        } => {
            assert_eq!((disk.name.as_str(), version.as_str()), ("vda", "1.2.3"));
            assert_eq!(report.partitions.len(), 3);
        }
        Outcome::DryRun { .. } => panic!("not a dry run"),
    }
    let target = d.path().join("dev/vda");
    let out = Command::new("sgdisk")
        .arg("-v")
        .arg(&target)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("No problems found"));
    let got = std::fs::read(&target).unwrap();
    assert_eq!(
        got[2 * MIB as usize..18 * MIB as usize],
        raw[2 * MIB as usize..18 * MIB as usize]
    );
}

#[test]
fn the_kernel_argument_and_the_kickstart_name_the_disk() {
    let (d, iso, key, _) = setup(&[
        Disk {
            name: "vda",
            mib: 64,
            serial: Some("NODE1"),
            removable: false,
        },
        Disk {
            name: "vdb",
            mib: 64,
            serial: Some("NODE2"),
            removable: false,
        },
    ]);
    let cmdline = d.path().join("cmdline");
    std::fs::write(&cmdline, "quiet\n").unwrap();
    let e = run(&args(&["--dry-run"], d.path(), &iso, &key))
        .err()
        .unwrap();
    assert!(
        e.contains("2 disks could receive the image")
            && e.contains("/dev/vda  64.0 MiB (67108864 bytes)  serial NODE1  model QEMU HARDDISK")
            && e.contains("serial NODE2"),
        "{e}"
    );

    std::fs::write(
        &cmdline,
        "quiet mk.install.disk=/dev/disk/by-id/virtio-NODE2\n",
    )
    .unwrap();
    let Outcome::DryRun { disk, .. } = run(&args(&["--dry-run"], d.path(), &iso, &key)).unwrap()
    else {
        panic!()
    };
    assert_eq!(disk.name, "vdb");
    // --disk wins over the kernel argument.
    let Outcome::DryRun { disk, .. } = run(&args(
        &["--dry-run", "--disk", "NODE1"],
        d.path(),
        &iso,
        &key,
    ))
    .unwrap() else {
        panic!()
    };
    assert_eq!(disk.name, "vda");

    let ks = d.path().join("node.ks");
    std::fs::write(
        &ks,
        "ignoredisk --only-use=vdb\nclearpart --all --initlabel\n",
    )
    .unwrap();
    std::fs::write(&cmdline, format!("mk.install.ks={}\n", ks.display())).unwrap();
    let Outcome::DryRun { disk, .. } = run(&args(&["--dry-run"], d.path(), &iso, &key)).unwrap()
    else {
        panic!()
    };
    assert_eq!(disk.name, "vdb");
    // Dry runs wrote nothing.
    for n in ["vda", "vdb"] {
        assert!(std::fs::read(d.path().join("dev").join(n))
            .unwrap()
            .iter()
            .all(|&b| b == 0));
    }
}

#[test]
fn the_media_disk_small_disks_and_bad_isos_are_refused() {
    let (d, iso, key, _) = setup(&[
        Disk {
            name: "sr0",
            mib: 64,
            serial: Some("CD"),
            removable: true,
        },
        Disk {
            name: "vda",
            mib: 32,
            serial: Some("NODE1"),
            removable: false,
        },
    ]);
    std::fs::write(d.path().join("cmdline"), "").unwrap();
    // The media is the (file) device dev/sr0.
    std::fs::copy(&iso, d.path().join("dev/sr0")).unwrap();
    let media = d.path().join("dev/sr0");
    let e = run(&args(
        &["--dry-run", "--disk", "/dev/sr0"],
        d.path(),
        &media,
        &key,
    ))
    .err()
    .unwrap();
    assert_eq!(e, "/dev/sr0 holds the install media: it is never a target");
    let e = run(&args(&["--dry-run"], d.path(), &media, &key))
        .err()
        .unwrap();
    assert!(
        e.contains("no disk to install onto")
            && e.contains("/dev/sr0  64.0 MiB")
            && e.contains("(install media)")
            && e.contains("/dev/vda  32.0 MiB"),
        "{e}"
    );
    let e = run(&args(&["--disk", "vda"], d.path(), &media, &key))
        .err()
        .unwrap();
    assert!(e.contains("/dev/vda is 32.0 MiB (33554432 bytes), smaller than the image's 40.0 MiB (41943040 bytes)"), "{e}");

    // A flipped byte in the ISO: the signature check stops it, nothing written.
    let mut bytes = std::fs::read(&iso).unwrap();
    let at = bytes.windows(4).position(|w| w == b"\"sha").unwrap();
    bytes[at + 1] = b'S';
    let bad = d.path().join("bad.iso");
    std::fs::write(&bad, bytes).unwrap();
    let e = run(&args(&["--disk", "sr0"], d.path(), &bad, &key))
        .err()
        .unwrap();
    assert!(e.contains("install/image.json"), "{e}");
    assert!(std::fs::read(d.path().join("dev/vda"))
        .unwrap()
        .iter()
        .all(|&b| b == 0));
}

#[test]
fn crafted_sysfs_trees_are_read_bounded() {
    let d = tempfile::tempdir().unwrap();
    let block = d.path().join("block");
    let long = "x".repeat(200);
    for name in ["sda", "sdb", long.as_str(), "sdc"] {
        std::fs::create_dir_all(block.join(name).join("device")).unwrap();
    }
    // Overflowing size, a huge binary serial, garbage flags.
    std::fs::write(block.join("sda/size"), u64::MAX.to_string()).unwrap();
    let mut junk = vec![0xffu8; 1 << 20];
    junk[..5].copy_from_slice(b"ABC\0\n");
    std::fs::write(block.join("sda/serial"), &junk).unwrap();
    std::fs::write(block.join("sdb/size"), "-5").unwrap();
    std::fs::write(block.join("sdb/removable"), "yes").unwrap();
    std::fs::write(block.join("sdc/size"), "2048\n").unwrap();
    std::fs::write(block.join("sdc/queue"), "not a dir").unwrap();
    let disks = sysfs::scan(d.path()).unwrap();
    let names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["sda", "sdb", "sdc"],
        "the 200-character name is skipped"
    );
    assert_eq!(disks[0].size, None, "u64::MAX sectors overflow");
    assert_eq!(disks[0].serial.as_deref(), Some("ABC"));
    assert_eq!((disks[1].size, disks[1].removable), (None, false));
    assert_eq!(disks[2].size, Some(MIB));
    assert_eq!(disks[2].logical_block, 512);
    let e =
        mk_installer::target::choose(&disks, &mk_installer::target::Request::Auto, None, 2 * MIB)
            .unwrap_err();
    assert!(e.to_string().contains("size unreadable"), "{e}");
}
