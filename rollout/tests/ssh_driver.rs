//! The `ssh` driver against a real OpenSSH server (sshd on 127.0.0.1 with
//! its own host key): the remote command runs when the pinned host key
//! matches; a different or missing pinned key refuses to connect and runs
//! nothing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

mod common;

use mk_rollout::driver::reimage;
use mk_rollout::inventory::{Driver, NodeEntry, Role, SshDriver, Timeouts};

fn secs(n: u64) -> Timeouts {
    Timeouts {
        drain: n,
        copy: n,
        reimage: n,
        ready: n,
    }
}

struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn start(dir: &Path) -> (Sshd, u16) {
    keygen(&dir.join("host_key"));
    keygen(&dir.join("client_key"));
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n\
             UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\n",
            d = dir.display()
        ),
    )
    .unwrap();
    // Privilege separation directory of a root sshd.
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .spawn()
        .expect("sshd (openssh-server, .ci/setup)");
    let sshd = Sshd(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "sshd did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (sshd, port)
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn node(dir: &Path, port: u16, known_hosts: PathBuf) -> NodeEntry {
    NodeEntry {
        name: "cp1.example.com".into(),
        role: Role::ControlPlane,
        driver: Driver::Ssh(SshDriver {
            host: "127.0.0.1".into(),
            user: user(),
            port: Some(port),
            known_hosts,
            identity: Some(dir.join("client_key")),
            command: format!(
                "echo updated > {}/ran && echo mk-node update done",
                dir.display()
            ),
            bundle_path: None,
        }),
    }
}

#[test]
fn ssh_runs_the_command_only_with_the_pinned_host_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_sshd, port) = start(dir);
    let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
    let ran = dir.join("ran");

    // A different key pinned for that host: refused, nothing runs.
    keygen(&dir.join("other_key"));
    let other_pub = std::fs::read_to_string(dir.join("other_key.pub")).unwrap();
    let wrong = dir.join("known_hosts_wrong");
    std::fs::write(&wrong, format!("[127.0.0.1]:{port} {other_pub}")).unwrap();
    let e = reimage(&node(dir, port, wrong), "v2", None, &secs(30)).unwrap_err();
    assert!(e.contains("Host key verification failed"), "{e}");
    assert!(!ran.exists());

    // Nothing pinned: refused too (no trust on first use).
    let empty = dir.join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    let e = reimage(&node(dir, port, empty), "v2", None, &secs(30)).unwrap_err();
    assert!(e.contains("Host key verification failed"), "{e}");
    assert!(!ran.exists());

    // The right key: the command runs.
    let pinned = dir.join("known_hosts");
    std::fs::write(&pinned, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
    reimage(&node(dir, port, pinned), "v2", None, &secs(30)).unwrap();
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "updated\n");
}

#[test]
fn ssh_carries_the_bundle_over_the_pinned_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_sshd, port) = start(dir);
    let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
    let pinned = dir.join("known_hosts");
    std::fs::write(&pinned, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
    let key = common::key(dir, "mk");
    let iso = common::bundle(dir, "mk-2.iso", Some("2.0.0"), 32 << 20, &key);
    let b = mk_rollout::bundle::check(&iso, &key.public).unwrap();
    let mut n = node(dir, port, pinned);
    let remote = dir.join("node/var/lib/mk/update/bundle.iso");
    if let Driver::Ssh(s) = &mut n.driver {
        s.bundle_path = Some(remote.display().to_string());
        s.command = format!("sha256sum {{bundle}} > {}/ran", dir.display());
    }
    let started = Instant::now();
    reimage(&n, "2.0.0", Some(&b), &secs(60)).unwrap();
    let took = started.elapsed();
    eprintln!(
        "carried {} bytes through sshd (copy, check, command) in {took:.2?}: {:.0} MB/s",
        b.size,
        b.size as f64 / 1e6 / took.as_secs_f64()
    );
    assert_eq!(
        std::fs::read(&remote).unwrap(),
        std::fs::read(&iso).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("ran")).unwrap(),
        format!("{}  {}\n", b.sha256.hex(), remote.display())
    );
}
