//! `--bundle` through the ssh driver with a fake `ssh` on PATH
//! (common::fake_ssh), so that what the driver asks of a node is checked
//! without a network. The real sshd is in ssh_driver.rs.

mod common;

use std::path::{Path, PathBuf};

use mk_rollout::bundle::{self, NewBundle};
use mk_rollout::driver::reimage;
use mk_rollout::inventory::{Driver, NodeEntry, Role, SshDriver, Timeouts};

struct Fake {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    bundle: NewBundle,
    node: NodeEntry,
    /// Where the bundle goes on the "node".
    remote: PathBuf,
}

fn setup() -> Fake {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (path, log) = common::fake_ssh(&dir);
    // nextest runs each test in its own process: PATH is this test's own.
    std::env::set_var("PATH", path);
    std::env::set_var("FAKE_SSH_DIR", &log);
    let key = common::key(&dir, "mk");
    let iso = common::bundle(&dir, "mk-2.iso", Some("2.0.0"), 3 << 20, &key);
    let bundle = bundle::check(&iso, &key.public).unwrap();
    // A quote in the path: the remote shell must get it quoted.
    let remote = dir.join("node/var/lib/mk/it's/bundle.iso");
    let node = NodeEntry {
        name: "w1.example.com".into(),
        role: Role::Worker,
        driver: Driver::Ssh(SshDriver {
            host: "w1.example.com".into(),
            user: "root".into(),
            port: None,
            known_hosts: dir.join("known_hosts"),
            identity: None,
            command: format!("echo {{bundle}} > {}/ran", dir.display()),
            bundle_path: Some(remote.display().to_string()),
        }),
    };
    Fake {
        _tmp: tmp,
        dir,
        bundle,
        node,
        remote,
    }
}

fn timeouts() -> Timeouts {
    Timeouts {
        drain: 30,
        copy: 30,
        reimage: 30,
        ready: 30,
    }
}

fn argv(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log/argv"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn the_bundle_arrives_byte_identical_and_the_command_gets_its_path() {
    let f = setup();
    reimage(&f.node, "2.0.0", Some(&f.bundle), &timeouts()).unwrap();
    // What arrived is the bundle, byte for byte, at its final path only.
    assert_eq!(
        std::fs::read(&f.remote).unwrap(),
        std::fs::read(&f.bundle.path).unwrap()
    );
    let part = f.remote.with_file_name("bundle.iso.part");
    assert!(!part.exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&f.remote).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "umask 077: {mode:o}");
    // The command got that path.
    assert_eq!(
        std::fs::read_to_string(f.dir.join("ran")).unwrap(),
        format!("{}\n", f.remote.display())
    );
    // Three ssh runs, each with the pinned settings; only the copy had the
    // bundle as stdin.
    let runs = argv(&f.dir);
    assert_eq!(runs.len(), 3, "{runs:?}");
    for r in &runs {
        assert!(
            r.starts_with(&format!(
                "-o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}/known_hosts \
                 -o GlobalKnownHostsFile=/dev/null",
                f.dir.display()
            )),
            "{r}"
        );
        assert!(r.contains(" -l root -- w1.example.com "), "{r}");
    }
    assert!(runs[0].contains("umask 077 && mkdir -p") && runs[0].contains("cat >"));
    assert!(runs[1].contains(&f.bundle.sha256.hex()) && runs[1].contains("sha256sum"));
    assert!(runs[2].contains(" echo '") && runs[2].contains("'\\''s/bundle.iso'"));
    assert_eq!(
        std::fs::read(f.dir.join("log/stdin-0")).unwrap().len() as u64,
        f.bundle.size
    );
    assert!(std::fs::read(f.dir.join("log/stdin-1")).unwrap().is_empty());
}

#[test]
fn a_damaged_copy_stops_before_the_command() {
    let f = setup();
    std::env::set_var("FAKE_SSH_DAMAGE", "1");
    let e = reimage(&f.node, "2.0.0", Some(&f.bundle), &timeouts()).unwrap_err();
    assert!(
        e.starts_with("check the bundle's SHA-256 on the node"),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "expected {}: the copy is damaged",
            f.bundle.sha256.hex()
        )),
        "{e}"
    );
    assert!(!f.dir.join("ran").exists(), "the command ran");
    assert!(!f.remote.exists());
    assert!(!f.remote.with_file_name("bundle.iso.part").exists());
    assert_eq!(argv(&f.dir).len(), 2);
}

#[test]
fn a_failed_copy_stops_naming_the_step() {
    let f = setup();
    std::env::set_var("FAKE_SSH_FAIL_COPY", "1");
    let e = reimage(&f.node, "2.0.0", Some(&f.bundle), &timeouts()).unwrap_err();
    assert!(e.starts_with("copy the bundle to "), "{e}");
    assert!(
        e.contains("ssh w1.example.com: exit status: 255; output: Connection reset by peer"),
        "{e}"
    );
    assert_eq!(argv(&f.dir).len(), 1);
    assert!(!f.dir.join("ran").exists());
}
