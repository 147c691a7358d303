//! Shared helpers for the bundle's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mk_bundle::{BundleOptions, KdfParams, SecretKey};

/// A staging tree shaped like a bundle, with content derived from `seed`.
pub fn make_staging(root: &Path, seed: u8) {
    let files: &[(&str, usize)] = &[
        ("repo/bash-4.2.46-34.el7.x86_64.rpm", 70_000),
        ("repo/kernel-3.10.0-957.el7.x86_64.rpm", 300_000),
        ("repo/repodata/repomd.xml", 3_000),
        ("repo/repodata/primary.xml.gz", 20_000),
        ("kickstart/node.ks", 1_200),
        ("kickstart/empty.cfg", 0),
        // Longer than Joliet's 64 characters.
        (
            "repo/java-1.8.0-openjdk-headless-1.8.0.412.b08-1.el7_9.x86_64-with-a-long-suffix.rpm",
            5_000,
        ),
        ("kickstart/données-é.txt", 10),
    ];
    for (i, (path, len)) in files.iter().enumerate() {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, pattern(*len, seed.wrapping_add(i as u8))).unwrap();
    }
    std::fs::create_dir_all(root.join("registry")).unwrap();
}

/// Deterministic bytes that differ per seed.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

pub fn options() -> BundleOptions {
    BundleOptions {
        name: "mk-test".into(),
        version: "1.2.3".into(),
        volume_label: "MK_TEST_1.2.3".into(),
        source_date_epoch: 1_700_000_000,
    }
}

/// A throwaway key pair written as minisign files; returns (key, pub path).
pub fn key_in(dir: &Path, name: &str) -> (SecretKey, PathBuf) {
    let sk = SecretKey::generate().unwrap();
    let pub_path = dir.join(format!("{name}.pub"));
    std::fs::write(&pub_path, sk.public_key().to_file_text()).unwrap();
    std::fs::write(
        dir.join(format!("{name}.key")),
        sk.to_encrypted_file_text(b"test password", KdfParams::INTERACTIVE)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    (sk, pub_path)
}

/// Runs a tool, panicking with its stderr on failure; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is the tool installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Data extents of every file as xorriso reports them: path → (byte offset, size).
pub fn xorriso_extents(iso: &Path) -> std::collections::BTreeMap<String, (u64, u64)> {
    let out = run(Command::new("xorriso")
        .arg("-no_rc")
        .arg("-indev")
        .arg(iso)
        .args(["-find", "/", "-type", "f", "-exec", "report_lba"]));
    let mut map = std::collections::BTreeMap::new();
    for line in out.lines().filter(|l| l.starts_with("File data lba:")) {
        // File data lba:  0 ,       33 ,        1 ,        2 , '/MANIFEST'
        let fields: Vec<&str> = line["File data lba:".len()..].splitn(5, ',').collect();
        let lba: u64 = fields[1].trim().parse().unwrap();
        let size: u64 = fields[3].trim().parse().unwrap();
        let path = fields[4].trim().trim_matches('\'');
        map.insert(path.trim_start_matches('/').to_string(), (lba * 2048, size));
    }
    map
}

/// Names in `dir` (to check nothing half-written was left).
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
