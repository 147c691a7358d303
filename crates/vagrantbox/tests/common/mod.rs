//! A small synthetic node disk (no image build): a GPT with `esp` and
//! `root-a` (sgdisk), an ext4 root written by `mke2fs -d` straight into
//! the partition, optionally holding the Vagrant build marker.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const ROOT_START: u64 = 18432;

pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 64 MiB raw disk at `dir/name`; with `marker`, the root holds
/// /usr/lib/mk/vagrant-build as vagrant/overlay ships it.
pub fn raw_disk(dir: &Path, name: &str, marker: bool) -> PathBuf {
    let img = dir.join(name);
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    run(Command::new("sgdisk")
        .args(["-U", "11111111-2222-3333-4444-555555555555"])
        .args(["-n", "1:2048:+8M", "-c", "1:esp", "-t", "1:ef00"])
        .args([
            "-n",
            &format!("3:{ROOT_START}:+32M"),
            "-c",
            "3:root-a",
            "-t",
            "3:8304",
        ])
        .args(["-u", "1:aaaaaaaa-0000-0000-0000-000000000001"])
        .args(["-u", "3:aaaaaaaa-0000-0000-0000-000000000003"])
        .arg(&img));
    let tree = dir.join(format!("{name}.tree"));
    std::fs::create_dir_all(tree.join("usr/lib/mk")).unwrap();
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/os-release"), "ID=mk-test\n").unwrap();
    if marker {
        std::fs::write(
            tree.join("usr/lib/mk/vagrant-build"),
            format!("{}\n", mk_vagrantbox::marker::MARKER_HEADER),
        )
        .unwrap();
    }
    run(Command::new("mke2fs")
        .args([
            "-q",
            "-F",
            "-t",
            "ext4",
            "-U",
            "aaaaaaaa-0000-0000-0000-0000000000ff",
        ])
        .arg("-E")
        .arg(format!("offset={}", ROOT_START * 512))
        .arg("-d")
        .arg(&tree)
        .arg(&img)
        .arg("32M")
        .env("E2FSPROGS_FAKE_TIME", "1700000000"));
    img
}

pub fn to_qcow2(raw: &Path) -> PathBuf {
    let q = raw.with_extension("qcow2");
    run(Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(raw)
        .arg(&q));
    q
}

pub fn options(image: &Path, out: &Path) -> mk_vagrantbox::Options {
    mk_vagrantbox::Options {
        image: image.to_path_buf(),
        out: out.to_path_buf(),
        name: "mk-test".into(),
        force: false,
        source_date_epoch: Some(1_700_000_000),
    }
}

/// Unpacks a box with GNU tar (the real tool), into `dir`.
pub fn untar(boxfile: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(boxfile)
        .arg("-C")
        .arg(dir));
}
