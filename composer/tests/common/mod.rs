//! What the CLI tests share: running `mk-compose` and reading what it said.
#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;
use std::process::{Command, Output};

pub fn mk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mk-compose"))
}

/// Status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}\n{}", text(&o));
    o
}

/// Runs a command that must fail; returns its stderr.
pub fn run_err(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(!o.status.success(), "{cmd:?} should fail\n{}", text(&o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// File names in a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A directory of the real CentOS fixtures (`../shared/fixtures/NAME`).
pub fn fixture(name: &str) -> std::path::PathBuf {
    mk_fixtures::fixture(name)
}

/// A password file `root/pw` and a key pair in `root/keys/` (mk.key, mk.pub).
pub fn keygen(root: &Path) {
    std::fs::write(root.join("pw"), "a long enough password\n").unwrap();
    run_ok(
        mk().args(["keygen", "--out-dir"])
            .arg(root.join("keys"))
            .arg("--password-file")
            .arg(root.join("pw")),
    );
}

/// `mk-compose bundle` of `repo` and `kickstart`, signed with [`keygen`]'s
/// key from `root`, into `out`, at a fixed SOURCE_DATE_EPOCH.
pub fn bundle(root: &Path, repo: &Path, kickstart: &Path, out: &Path) -> Command {
    let mut c = mk();
    c.arg("bundle")
        .arg("--repo")
        .arg(repo)
        .arg("--kickstart")
        .arg(kickstart)
        .arg("--key")
        .arg(root.join("keys/mk.key"))
        .arg("--password-file")
        .arg(root.join("pw"))
        .arg("--out")
        .arg(out)
        .env("SOURCE_DATE_EPOCH", "1700000000");
    c
}

/// Extracts an ISO's whole tree into `dest` with xorriso.
pub fn extract_iso(iso: &Path, dest: &Path) {
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", "/"])
            .arg(dest),
    );
}
