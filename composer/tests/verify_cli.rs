//! `mk-compose verify` as a site runs it, on bundles made by the library
//! the `bundle` command uses.

mod common;
use common::{mk, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mk_bundle::{finish_bundle, BundleOptions, SecretKey};

struct Fixture {
    _dir: tempfile::TempDir,
    iso: PathBuf,
    trusted: PathBuf,
    key: SecretKey,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    for (path, len) in [
        ("repo/a-1.0-1.el7.x86_64.rpm", 200_000usize),
        ("repo/repodata/repomd.xml", 2_000),
        ("kickstart/node.ks", 500),
    ] {
        let p = staging.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            (0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>(),
        )
        .unwrap();
    }
    std::fs::create_dir_all(staging.join("registry")).unwrap();
    let key = SecretKey::generate().unwrap();
    let trusted = dir.path().join("mk.pub");
    std::fs::write(&trusted, key.public_key().to_file_text()).unwrap();
    let iso = dir.path().join("mk.iso");
    finish_bundle(
        &staging,
        &iso,
        &key,
        &BundleOptions {
            name: "mk".into(),
            version: "0.1.0".into(),
            volume_label: "MK_0.1.0".into(),
            source_date_epoch: 1_600_000_000,
        },
    )
    .unwrap();
    Fixture {
        _dir: dir,
        iso,
        trusted,
        key,
    }
}

fn verify(iso: &Path, trust: &Path) -> Output {
    mk().arg("verify")
        .arg(iso)
        .arg("--trust")
        .arg(trust)
        .output()
        .unwrap()
}

/// Where xorriso (not our reader) says a file's data is.
fn data_offset(iso: &Path, path: &str) -> u64 {
    let out = Command::new("xorriso")
        .arg("-no_rc")
        .arg("-indev")
        .arg(iso)
        .args(["-find", path, "-exec", "report_lba"])
        .output()
        .expect("xorriso is installed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.starts_with("File data lba:"))
        .unwrap_or_else(|| panic!("no report for {path}: {stdout}"));
    let lba: u64 = line.split(',').nth(1).unwrap().trim().parse().unwrap();
    lba * 2048
}

#[test]
fn good_bundle_passes_with_a_summary() {
    let f = fixture();
    let o = verify(&f.iso, &f.trusted);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("OK "), "{}", text(&o));
    assert!(out.contains(": 3 files"), "{}", text(&o));
    assert!(out.contains(&f.key.key_id().to_string()), "{}", text(&o));
    assert!(
        out.contains("trusted comment: mk-bundle name=mk version=0.1.0"),
        "{}",
        text(&o)
    );
}

#[test]
fn tampered_bundle_fails_naming_the_file() {
    let f = fixture();
    let offset = data_offset(&f.iso, "/repo/a-1.0-1.el7.x86_64.rpm") + 1000;
    let mut bytes = std::fs::read(&f.iso).unwrap();
    bytes[offset as usize] ^= 0x80;
    std::fs::write(&f.iso, bytes).unwrap();
    let o = verify(&f.iso, &f.trusted);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("NOT a valid bundle"), "{}", text(&o));
    assert!(
        err.contains("changed: repo/a-1.0-1.el7.x86_64.rpm: sha256 is"),
        "{}",
        text(&o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("OK"),
        "{}",
        text(&o)
    );
}

#[test]
fn untrusted_key_fails_naming_both_key_ids() {
    let f = fixture();
    let stranger = SecretKey::generate().unwrap().public_key();
    let other = f.iso.with_file_name("other.pub");
    std::fs::write(&other, stranger.to_file_text()).unwrap();
    let o = verify(&f.iso, &other);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("signed by key ID {}", f.key.key_id())),
        "{}",
        text(&o)
    );
    assert!(err.contains(&stranger.key_id().to_string()), "{}", text(&o));
    assert!(err.contains("other.pub"), "{}", text(&o));
}

#[test]
fn bad_inputs_are_named() {
    let f = fixture();
    let o = verify(&f.iso.with_file_name("missing.iso"), &f.trusted);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing.iso"),
        "{}",
        text(&o)
    );

    let garbage = f.iso.with_file_name("garbage.pub");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let o = verify(&f.iso, &garbage);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("garbage.pub"),
        "{}",
        text(&o)
    );

    let o = mk().args(["verify", "--help"]).output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("Examples:"));
}
