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
