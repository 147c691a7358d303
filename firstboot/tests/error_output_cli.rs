//! How `mk-firstboot` reports a refused config: the reason, each cause once
//! (the operating system's error once), and that nothing was changed.

use std::process::Command;

/// Runs a command that must refuse its config; checks the frame, that no
/// line is said twice, and that `path` is followed by `os_error` once.
fn refused_once(args: &[&std::ffi::OsStr], path: &std::path::Path, os_error: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_mk-firstboot"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("mk-firstboot: config refused:\n"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("mk-firstboot: nothing was changed\n"),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        assert!(!lines[..i].contains(l), "`{l}` is said twice:\n{stderr}");
    }
    let message = os_error.split(" (os error").next().unwrap();
    assert_eq!(stderr.matches(message).count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("  {}\n  caused by: {os_error}\n", path.display())),
        "{stderr}"
    );
}

#[test]
fn a_config_that_cannot_be_read_is_refused_with_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let config = dir.path().join("node-config.yaml");
    std::fs::create_dir_all(&root).unwrap();
    // A directory where the config file should be: read(2) says EISDIR.
    std::fs::create_dir(&config).unwrap();
    for cmd in ["apply", "plan"] {
        refused_once(
            &[
                cmd.as_ref(),
                "--root".as_ref(),
                root.as_os_str(),
                "--config".as_ref(),
                config.as_os_str(),
            ],
            &config,
            "Is a directory (os error 21)",
        );
    }
}

#[test]
fn a_trust_path_that_is_not_a_directory_is_refused_with_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node-config.yaml");
    std::fs::write(&config, "kind: NodeConfig\n").unwrap();
    refused_once(
        &[
            "plan".as_ref(),
            "--root".as_ref(),
            dir.path().as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
            "--trust".as_ref(),
            config.as_os_str(),
        ],
        &config,
        "Not a directory (os error 20)",
    );
}
