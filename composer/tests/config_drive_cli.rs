//! `mk-compose config-drive`: a signed drive that fsck.vfat accepts,
//! labelled MK-CONFIG (blkid), whose signature minisign verifies, the same
//! bytes on every run; ISO with the same files; bad configs refused with
//! nothing written.

mod common;
use common::{mk, run_err, run_ok};

use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/site/node-config.yaml"
);

fn keys(dir: &Path) {
    std::fs::write(dir.join("pw"), "a long enough password\n").unwrap();
    run_ok(
        mk().args(["keygen", "--out-dir"])
            .arg(dir.join("keys"))
            .arg("--password-file")
            .arg(dir.join("pw")),
    );
}

fn drive(dir: &Path, config: &Path, out: &str, format: &str) -> Command {
    let mut c = mk();
    c.arg("config-drive")
        .arg("--config")
        .arg(config)
        .arg("--key")
        .arg(dir.join("keys/mk.key"))
        .arg("--password-file")
        .arg(dir.join("pw"))
        .arg("--out")
        .arg(dir.join(out))
        .args(["--format", format])
        .env("SOURCE_DATE_EPOCH", "1700000000");
    c
}

fn tool(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn fat_and_iso_drives_are_signed_clean_and_reproducible() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    keys(dir);
    let example = PathBuf::from(EXAMPLE);
    run_ok(&mut drive(dir, &example, "a.img", "fat"));
    run_ok(&mut drive(dir, &example, "b.img", "fat"));
    assert_eq!(
        std::fs::read(dir.join("a.img")).unwrap(),
        std::fs::read(dir.join("b.img")).unwrap()
    );
    tool(Command::new("fsck.vfat").arg("-n").arg(dir.join("a.img")));
    let blkid = tool(
        Command::new("blkid")
            .args(["-o", "export"])
            .arg(dir.join("a.img")),
    );
    assert!(blkid.contains("LABEL=MK-CONFIG\n"), "{blkid}");
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    tool(
        Command::new("mcopy")
            .arg("-i")
            .arg(dir.join("a.img"))
            .args(["::/node-config.yaml", "::/node-config.yaml.minisig"])
            .arg(&out)
            .env("MTOOLS_SKIP_CHECK", "1"),
    );
    assert_eq!(
        std::fs::read(out.join("node-config.yaml")).unwrap(),
        std::fs::read(EXAMPLE).unwrap()
    );
    let v = tool(
        Command::new("minisign")
            .arg("-Vm")
            .arg(out.join("node-config.yaml"))
            .arg("-p")
            .arg(dir.join("keys/mk.pub")),
    );
    assert!(v.contains("Trusted comment: mk role config sha256:"), "{v}");
    assert!(v.contains("w1.example.com,w2.example.com"), "{v}");

    run_ok(&mut drive(dir, &example, "c.iso", "iso"));
    run_ok(&mut drive(dir, &example, "d.iso", "iso"));
    assert_eq!(
        std::fs::read(dir.join("c.iso")).unwrap(),
        std::fs::read(dir.join("d.iso")).unwrap()
    );
    let blkid = tool(
        Command::new("blkid")
            .args(["-o", "export"])
            .arg(dir.join("c.iso")),
    );
    assert!(
        blkid.contains("LABEL=MK-CONFIG\n") && blkid.contains("TYPE=iso9660"),
        "{blkid}"
    );
    let iso_out = dir.join("iso-out");
    tool(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(dir.join("c.iso"))
            .args(["-extract", "/"])
            .arg(&iso_out),
    );
    let v = tool(
        Command::new("minisign")
            .arg("-Vm")
            .arg(iso_out.join("node-config.yaml"))
            .arg("-p")
            .arg(dir.join("keys/mk.pub")),
    );
    assert!(
        v.contains("Signature and comment signature verified"),
        "{v}"
    );
}

#[test]
fn a_bad_config_is_refused_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    keys(dir);
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(EXAMPLE).unwrap().replacen(
            "name: w1.example.com",
            "name: 10.0.0.11",
            1,
        ),
    )
    .unwrap();
    let err = run_err(&mut drive(dir, &bad, "x.img", "fat"));
    assert!(
        err.contains(
            "items[0].metadata.name: \"10.0.0.11\": IP address where a DNS name is required"
        ),
        "{err}"
    );
    assert!(err.contains("no drive written"), "{err}");
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("x.img") || n.starts_with('.')),
        "{names:?}"
    );
}
