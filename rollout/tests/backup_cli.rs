//! `mk-rollout backup` against real etcd 3.4 with mTLS (mk-etcdmember's
//! `testing` set-up: certificates from mk-pki, names from a private hosts
//! file; the binary runs inside that namespace): the file it writes
//! verifies with `etcdctl snapshot status`, `--keep` prunes only the
//! member's own snapshots, refusals exit 1 with the reason and leave
//! nothing. Needs root, etcd, etcdctl, unshare, mount.

use std::path::Path;
use std::process::{Command, Output};

use mk_etcdmember::testing::*;
use serde_json::Value;

fn rollout(c: &Cluster, cacert: &str, dir: &Path, extra: &[&str]) -> Output {
    let p = c.pki(1);
    Command::new(env!("CARGO_BIN_EXE_mk-rollout"))
        .arg("backup")
        .args(["--endpoint", &format!("https://{}:2379", name(1))])
        .arg("--cacert")
        .arg(p.join(cacert))
        .arg("--cert")
        .arg(p.join("apiserver-etcd-client.crt"))
        .arg("--key")
        .arg(p.join("apiserver-etcd-client.key"))
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn snapshots(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn mk_rollout_backup_writes_a_snapshot_etcdctl_accepts() {
    if !in_namespace("mk_rollout_backup_writes_a_snapshot_etcdctl_accepts", 68) {
        return;
    }
    let mut c = Cluster::new(1, false);
    c.bootstrap(1);
    c.put_keys(1, "cli/", 1000, 200);
    let dir = c.dir.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("README"), b"site notes").unwrap();

    let out = rollout(&c, "etcd/ca.crt", &dir, &["--keep", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    eprint!("{stdout}");
    // Logged through tracing on stderr; the summary on stdout.
    assert!(stderr.contains("etcd snapshot: written"), "{stderr}");
    let files = snapshots(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    let first = files
        .iter()
        .find(|f| f.starts_with("etcd-"))
        .unwrap()
        .clone();
    assert!(
        stdout.contains(&format!("written to {}", dir.join(&first).display()))
            && stdout.contains("kept 1 snapshot(s) of cp1.example.test"),
        "{stdout}"
    );
    // What it printed is what etcd's own tool reads from the file.
    let st = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(dir.join(&first))
        .output()
        .unwrap();
    assert!(st.status.success());
    let st: Value = serde_json::from_slice(&st.stdout).unwrap();
    for (field, label) in [
        ("revision", "revision "),
        ("totalKey", ""),
        ("hash", "hash "),
    ] {
        let n = st[field].as_u64().unwrap();
        let want = if label.is_empty() {
            format!("{n} keys")
        } else {
            format!("{label}{n}")
        };
        assert!(stdout.contains(&want), "{want} not in {stdout}");
    }
    let v = mk_etcdbackup::verify_file(&dir.join(&first)).unwrap();
    assert_eq!(st["totalKey"].as_u64(), Some(v.status.total_key));

    // --keep 1: the next run replaces it; the foreign file stays.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = rollout(&c, "etcd/ca.crt", &dir, &["--keep", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("removed {}", dir.join(&first).display())),
        "{stdout}"
    );
    let files = snapshots(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.contains(&"README".to_string()) && !files.contains(&first));

    // The kubernetes CA for etcd's: refused, exit 1, the reason on
    // stderr, nothing new in the directory.
    let before = snapshots(&dir);
    let out = rollout(&c, "ca.crt", &dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mk-rollout backup: etcd https://cp1.example.test:2379: ")
            && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    assert_eq!(snapshots(&dir), before);
    // A usage error is clap's (exit 2).
    let out = rollout(&c, "etcd/ca.crt", &dir, &["--keep", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The figure in docs/etcd-backup.md: `mk-rollout backup` of a larger
/// database, timed from outside the process. Ignored by default (a minute
/// of filling); run with
/// `cargo nextest run -p mk-rollout --release --run-ignored only figure`.
#[test]
#[ignore]
fn figure_backup_of_200k_keys() {
    if !in_namespace("figure_backup_of_200k_keys", 69) {
        return;
    }
    const KEYS: usize = 200_000;
    let mut c = Cluster::new(1, false);
    c.bootstrap(1);
    c.put_keys(1, "f/", KEYS, 512);
    let dir = c.dir.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let t = std::time::Instant::now();
    let out = rollout(&c, "etcd/ca.crt", &dir, &[]);
    let ours = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved = c.dir.path().join("etcdctl.db");
    let t = std::time::Instant::now();
    let (ok, msg) = c.etcdctl(1, 1, &format!("snapshot save {}", saved.display()));
    assert!(ok, "{msg}");
    let theirs = t.elapsed();
    // The gateway alone: the same stream read by curl and thrown away.
    let p = c.pki(1);
    let t = std::time::Instant::now();
    let curl = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-X", "POST", "-d", "{}"])
        .arg("--cacert")
        .arg(p.join("etcd/ca.crt"))
        .arg("--cert")
        .arg(p.join("apiserver-etcd-client.crt"))
        .arg("--key")
        .arg(p.join("apiserver-etcd-client.key"))
        .arg(format!("https://{}:2379/v3/maintenance/snapshot", name(1)))
        .status();
    let gateway = t.elapsed();
    eprintln!(
        "FIGURE: curl of the gateway's snapshot stream to /dev/null: {:.2} s ({curl:?})",
        gateway.as_secs_f64()
    );
    let file = snapshots(&dir).pop().unwrap();
    eprintln!(
        "FIGURE: {KEYS} keys of 512 bytes, {} byte snapshot: mk-rollout backup {:.2} s \
         (process start to exit: TLS, stream, fsync, verify, rename), etcdctl snapshot save {:.2} s\n{}{}",
        std::fs::metadata(dir.join(file)).unwrap().len(),
        ours.as_secs_f64(),
        theirs.as_secs_f64(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
