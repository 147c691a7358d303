//! Backups of real etcd 3.4 (Debian etcd-server) with mTLS certificates
//! from mk-pki, names resolved through a private hosts file only
//! (mk-etcdmember's `testing` set-up): keys in, a backup through the real
//! code path, etcd's own `etcdctl snapshot status` agreeing with what we
//! report, keep-N pruning, the restore procedure of docs/etcd-backup.md
//! (one member, and a whole cluster of three), refusals: a wrong CA, and
//! broken snapshot streams from a fake gateway that presents etcd's own
//! certificate. Needs root, etcd, etcdctl, unshare, mount.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mk_etcdbackup::{backup, files, verify_file, Error, Options};
use mk_etcdmember::testing::*;
use serde_json::{json, Value};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/etcd-backup.md");

fn endpoint(i: usize) -> String {
    format!("https://{}:2379", name(i))
}

/// The shell block after `<!-- tested: NAME -->` in docs/etcd-backup.md.
fn doc_block(marker: &str) -> String {
    let doc = std::fs::read_to_string(DOC).unwrap();
    let after = doc
        .split(&format!("<!-- tested: {marker} -->"))
        .nth(1)
        .unwrap_or_else(|| panic!("docs/etcd-backup.md: no block marked {marker}"));
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, b)| b.split_once("```"))
        .map(|(b, _)| b.to_string())
        .expect("a ```sh block");
    block
}

/// Runs the documented restore of `snapshot` for member `i` into a new
/// directory, with `initial` as `INITIAL_CLUSTER`.
fn restore_as_documented(c: &Cluster, i: usize, snapshot: &Path, initial: &str) -> PathBuf {
    let restored = c.dir.path().join(format!("etcd.restored{i}"));
    let out = Command::new("sh")
        .arg("-c")
        .arg(doc_block("restore"))
        .env("SNAPSHOT", snapshot)
        .env("RESTORED", &restored)
        .env("NODE", name(i))
        .env("PEER_URL", peer_url(i))
        .env("INITIAL_CLUSTER", initial)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "restore of cp{i}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    restored
}

/// `etcdctl snapshot status FILE -w json`.
fn etcdctl_status(file: &Path) -> Value {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Keys under `prefix` that member `i` serves.
fn count(c: &Cluster, i: usize, prefix: &str) -> Option<u64> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    let v = c
        .client(i)
        .post(
            &format!("{}:2379", name(i)),
            "/v3/kv/range",
            &json!({ "key": b64.encode(prefix), "range_end": b64.encode(end), "count_only": true }),
        )
        .ok()?;
    Some(
        v.get("count")
            .and_then(Value::as_str)
            .unwrap_or("0")
            .parse()
            .unwrap(),
    )
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn no_progress() -> impl FnMut(u64, Option<u64>) {
    |_, _| {}
}

#[test]
fn a_backup_verifies_with_etcdctl_is_pruned_and_restores() {
    if !in_namespace("a_backup_verifies_with_etcdctl_is_pruned_and_restores", 64) {
        return;
    }
    let mut c = Cluster::new(1, false);
    c.bootstrap(1);
    const KEYS: usize = 20_000;
    let t = Instant::now();
    c.put_keys(1, "k/", KEYS, 512);
    eprintln!("put {KEYS} keys of 512 bytes in {:?}", t.elapsed());

    let dir = c.dir.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let client = mk_etcdbackup::client(
        &c.pki(1).join("etcd/ca.crt"),
        &c.pki(1).join("apiserver-etcd-client.crt"),
        &c.pki(1).join("apiserver-etcd-client.key"),
    )
    .unwrap();
    let mut opts = Options::new(&endpoint(1), &dir);
    opts.keep = 2;
    let mut seen = Vec::new();
    let b = backup(&client, &opts, &mut |got, size| seen.push((got, size)))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    print!("{}", b.summary());
    assert_eq!(b.member, name(1));
    let file_name = b.path.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(
        files::parse_name(&file_name),
        Some((name(1), b.time)),
        "{file_name}"
    );
    assert_eq!(names_in(&dir), std::slice::from_ref(&file_name));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&b.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Progress went up to the database's size.
    let (last, size) = *seen.last().unwrap();
    assert_eq!((Some(last), size), (size, Some(b.verified.size - 32)));

    // etcd's own tool agrees with what we report.
    let st = etcdctl_status(&b.path);
    let ours = &b.verified.status;
    assert_eq!(st["hash"].as_u64(), Some(u64::from(ours.hash)), "{st}");
    assert_eq!(st["revision"].as_i64(), Some(ours.revision), "{st}");
    assert_eq!(st["totalKey"].as_u64(), Some(ours.total_key), "{st}");
    assert_eq!(st["totalSize"].as_u64(), Some(ours.total_size), "{st}");
    assert_eq!(ours.total_size + 32, b.verified.size);
    // The revision is etcd's: 1 when empty, the bootstrap key, then one
    // per transaction of 128.
    assert_eq!(ours.revision as usize, 2 + KEYS.div_ceil(128));
    assert_eq!(verify_file(&b.path).unwrap(), b.verified);

    // The figure: our backup against `etcdctl snapshot save`, same member.
    let t = Instant::now();
    let saved = c.dir.path().join("etcdctl-save.db");
    let (ok, out) = c.etcdctl(1, 1, &format!("snapshot save {}", saved.display()));
    assert!(ok, "{out}");
    let etcdctl_time = t.elapsed();
    let t = Instant::now();
    verify_file(&b.path).unwrap();
    eprintln!(
        "FIGURE: snapshot of {KEYS} keys (512-byte values): {} bytes; mk-etcdbackup (debug build) \
         {:.2} s from stream start to rename, of which verify_file {:.2} s; etcdctl snapshot save {:.2} s ({} bytes)",
        b.verified.size,
        b.elapsed.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        etcdctl_time.as_secs_f64(),
        std::fs::metadata(&saved).unwrap().len()
    );
    std::fs::remove_file(&saved).unwrap();

    // Keep N: older snapshots of this member beyond the newest 2 go;
    // other members' and foreign files stay.
    let old = |m: u8| {
        files::file_name(
            &name(1),
            time::macros::datetime!(2026-01-01 00:00 UTC) + time::Duration::minutes(m.into()),
        )
    };
    let other = files::file_name(&name(9), time::macros::datetime!(2020-01-01 00:00 UTC));
    let foreign = [
        "notes.txt".to_string(),
        "snapshot.db".to_string(),
        format!("{}.bak", old(9)),
        other.clone(),
    ];
    for f in [old(1), old(2), old(3)].iter().chain(&foreign) {
        std::fs::write(dir.join(f), b"not a snapshot").unwrap();
    }
    // The next second: names are per second.
    std::thread::sleep(Duration::from_millis(1100));
    c.put_keys(1, "late/", 10, 16);
    let b2 = backup(&client, &opts, &mut no_progress()).unwrap();
    assert_eq!(b2.kept, 2);
    assert_eq!(
        b2.pruned.snapshots,
        [dir.join(old(3)), dir.join(old(2)), dir.join(old(1))]
    );
    let mut want: Vec<String> = foreign.to_vec();
    want.push(file_name.clone());
    want.push(b2.path.file_name().unwrap().to_str().unwrap().into());
    want.sort();
    assert_eq!(names_in(&dir), want);
    // The newest, for a rollout to check.
    let latest = mk_etcdbackup::latest(&dir).unwrap().unwrap();
    assert_eq!((latest.path, latest.time), (b2.path.clone(), b2.time));

    // Restore as docs/etcd-backup.md says, on a new data directory.
    let restored = restore_as_documented(&c, 1, &b2.path, &format!("{}={}", name(1), peer_url(1)));
    c.kill(1);
    c.start_on(1, &restored, "ignored=https://ignored:2380", "new");
    c.wait(30, "the restored member serves", || {
        count(&c, 1, "k/") == Some(KEYS as u64)
    });
    assert_eq!(count(&c, 1, "late/"), Some(10));
    let ep = format!("{}:2379", name(1));
    let v = c.client(1).get(&ep, b"k/000042").unwrap().unwrap();
    assert_eq!(v.len(), 512);
    assert_eq!(v[1], ((42 * 31 + 7) % 251) as u8);
    // A new cluster: the members list is the restored one alone.
    let (ok, out) = c.etcdctl(1, 1, "member list");
    assert!(
        ok && out.lines().count() == 1 && out.contains(&peer_url(1)),
        "{out}"
    );
}

#[test]
fn a_whole_cluster_is_restored_from_one_snapshot() {
    if !in_namespace("a_whole_cluster_is_restored_from_one_snapshot", 65) {
        return;
    }
    let mut c = Cluster::new(3, false);
    c.bootstrap(1);
    c.put_keys(1, "app/", 300, 100);
    let dir = c.dir.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let b = backup(
        &c.client(1),
        &Options::new(&endpoint(1), &dir),
        &mut no_progress(),
    )
    .unwrap();
    c.kill(1);
    // The same snapshot on all three, each under its own name.
    let initial = (1..=3)
        .map(|i| format!("{}={}", name(i), peer_url(i)))
        .collect::<Vec<_>>()
        .join(",");
    for i in 1..=3 {
        let restored = restore_as_documented(&c, i, &b.path, &initial);
        c.start_on(i, &restored, "ignored=https://ignored:2380", "new");
    }
    for i in 1..=3 {
        c.wait(60, &format!("cp{i} serves the restored keys"), || {
            count(&c, i, "app/") == Some(300)
        });
    }
    let (ok, out) = c.etcdctl(2, 3, "member list");
    assert!(ok && out.matches(", started, ").count() == 3, "{out}");
    // And it takes writes: a quorum of the restored members.
    c.client(2)
        .put(&format!("{}:2379", name(2)), b"after", b"restore")
        .unwrap();
}

#[test]
fn wrong_trust_and_unusable_directories_are_refused() {
    if !in_namespace("wrong_trust_and_unusable_directories_are_refused", 66) {
        return;
    }
    let mut c = Cluster::new(1, false);
    c.bootstrap(1);
    let dir = c.dir.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let p = c.pki(1);
    // The kubernetes realm's CA instead of etcd's: the server is refused.
    let wrong = mk_etcdbackup::client(
        &p.join("ca.crt"),
        &p.join("apiserver-etcd-client.crt"),
        &p.join("apiserver-etcd-client.key"),
    )
    .unwrap();
    let e = backup(
        &wrong,
        &Options::new(&endpoint(1), &dir),
        &mut no_progress(),
    )
    .unwrap_err();
    let m = e.to_string();
    eprintln!("wrong CA: {m}");
    assert!(
        m.starts_with(&format!("etcd {}: ", endpoint(1)))
            && m.contains("invalid peer certificate")
            && m.contains("UnknownIssuer"),
        "{m}"
    );
    // A client certificate of another realm: etcd refuses us.
    let other = mk_etcdbackup::client(
        &p.join("etcd/ca.crt"),
        &p.join("apiserver-kubelet-client.crt"),
        &p.join("apiserver-kubelet-client.key"),
    )
    .unwrap();
    let e = backup(
        &other,
        &Options::new(&endpoint(1), &dir),
        &mut no_progress(),
    )
    .unwrap_err();
    eprintln!("other realm's client: {e}");
    assert!(
        e.to_string()
            .starts_with(&format!("etcd {}: ", endpoint(1))),
        "{e}"
    );
    // Missing files are named.
    let e = mk_etcdbackup::client(&p.join("nope.crt"), &p.join("a"), &p.join("b")).unwrap_err();
    assert!(e.to_string().contains("nope.crt"), "{e}");
    // Plain http is refused (R21).
    let client = c.client(1);
    let e = backup(
        &client,
        &Options::new(&format!("http://{}:2379", name(1)), &dir),
        &mut no_progress(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("https only"), "{e}");
    // A missing directory (an unmounted share) is not created.
    let e = backup(
        &client,
        &Options::new(&endpoint(1), &dir.join("nfs")),
        &mut no_progress(),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Dir { .. }) && e.to_string().contains("mount the backup share"),
        "{e}"
    );
    assert!(!dir.join("nfs").exists());
    // A database over the limit is refused before anything is written.
    let mut opts = Options::new(&endpoint(1), &dir);
    opts.max_size = 4096;
    let e = backup(&client, &opts, &mut no_progress()).unwrap_err();
    assert!(e.to_string().contains("more than the 4096 allowed"), "{e}");
    assert!(names_in(&dir).is_empty(), "{:?}", names_in(&dir));
}

/// What the fake gateway does with a snapshot request.
#[derive(Clone)]
enum Serve {
    /// This body, chunked, then a clean end.
    Body(Vec<u8>),
    /// The first `n` bytes of this body, then the connection drops.
    Cut(Vec<u8>, usize),
    /// The first `n` bytes, then nothing for a long time.
    Stall(Vec<u8>, usize),
    /// etcd's error answer, as the gateway sends it.
    Fail(u16, &'static str),
}

/// A gateway on cp1's address with cp1's etcd server certificate:
/// status and member list as etcd answers them, then what the returned
/// cell says for the snapshot.
fn fake_gateway(c: &Cluster) -> Arc<Mutex<Serve>> {
    let cell = Arc::new(Mutex::new(Serve::Body(Vec::new())));
    let serving = cell.clone();
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let p = c.pki(1).join("etcd");
    let chain = CertificateDer::pem_file_iter(p.join("server.crt"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(p.join("server.key")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(mk_nodetls::provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    );
    let listener = TcpListener::bind((ip(1).as_str(), 2379)).unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let (config, serve) = (config.clone(), serving.lock().unwrap().clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                type Tls = rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>;
                let answer = |tls: &mut Tls, body: String| {
                    let _ = write!(
                        tls,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                };
                match path.as_str() {
                    "/v3/maintenance/status" => answer(
                        &mut tls,
                        json!({ "header": { "member_id": "7" }, "dbSize": "8192", "leader": "7" })
                            .to_string(),
                    ),
                    "/v3/cluster/member/list" => answer(
                        &mut tls,
                        json!({ "members": [{ "ID": "7", "name": name(1),
                            "peerURLs": [peer_url(1)], "clientURLs": [endpoint(1)] }] })
                        .to_string(),
                    ),
                    "/v3/maintenance/snapshot" if matches!(serve, Serve::Fail(..)) => {
                        let Serve::Fail(status, message) = serve else {
                            unreachable!()
                        };
                        let body =
                            json!({ "error": message, "message": message, "code": 14 }).to_string();
                        let _ = write!(
                            tls,
                            "HTTP/1.1 {status} x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                            body.len()
                        );
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    }
                    "/v3/maintenance/snapshot" => {
                        let (body, upto, stall) = match &serve {
                            Serve::Body(b) => (b.clone(), b.len(), false),
                            Serve::Cut(b, n) => (b.clone(), *n, false),
                            Serve::Stall(b, n) => (b.clone(), *n, true),
                            Serve::Fail(..) => unreachable!(),
                        };
                        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                        for piece in body[..upto].chunks(1000) {
                            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                            out.extend_from_slice(piece);
                            out.extend_from_slice(b"\r\n");
                        }
                        let _ = tls.write_all(&out);
                        let _ = tls.flush();
                        if stall {
                            std::thread::sleep(Duration::from_secs(30));
                        } else if upto == body.len() {
                            let _ = tls.write_all(b"0\r\n\r\n");
                            tls.conn.send_close_notify();
                            let _ = tls.flush();
                        }
                        // Cut: the socket closes without close_notify.
                    }
                    _ => answer(&mut tls, "{}".into()),
                }
            });
        }
    });
    cell
}

#[test]
fn broken_snapshot_streams_leave_nothing_behind() {
    if !in_namespace("broken_snapshot_streams_leave_nothing_behind", 67) {
        return;
    }
    let c = Cluster::new(1, false);
    // A database that is not bbolt, sent correctly (its hash is right).
    let junk: Vec<u8> = (0..8192u32).map(|i| (i % 253) as u8).collect();
    let good_stream = mk_etcdbackup::stream::encode(&junk, 4096);
    // The same bytes with one changed, under the original's trailer.
    let mut flipped = junk.clone();
    flipped[5000] ^= 0x20;
    let mut changed = mk_etcdbackup::stream::encode(&flipped, 4096);
    let tail = |s: &[u8]| {
        s.split_inclusive(|&b| b == b'\n')
            .next_back()
            .unwrap()
            .len()
    };
    changed.truncate(changed.len() - tail(&changed));
    changed.extend_from_slice(&good_stream[good_stream.len() - tail(&good_stream)..]);
    let half = good_stream.len() / 2;

    let dir = c.dir.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let cases: [(Serve, &str); 5] = [
        (
            Serve::Fail(503, "etcdserver: no leader"),
            "/v3/maintenance/snapshot: etcdserver: no leader (HTTP 503)",
        ),
        (Serve::Body(good_stream.clone()), "not a bbolt database"),
        (Serve::Body(changed), "SHA-256 trailer"),
        (
            Serve::Cut(good_stream.clone(), half),
            "reading the response",
        ),
        (Serve::Stall(good_stream.clone(), half), "timed out"),
    ];
    let serve = fake_gateway(&c);
    for (case, want) in cases {
        *serve.lock().unwrap() = case;
        let mut opts = Options::new(&endpoint(1), &dir);
        opts.timeout = Duration::from_secs(3);
        opts.step = Duration::from_secs(2);
        let t = Instant::now();
        let e = backup(&c.client(1), &opts, &mut no_progress()).unwrap_err();
        let m = e.to_string();
        eprintln!("refused: {m}");
        assert!(m.contains(want), "want {want:?}: {m}");
        assert!(
            m.contains(&endpoint(1)) || m.contains(&dir.display().to_string()),
            "names the endpoint or file: {m}"
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(
            names_in(&dir).is_empty(),
            "{want}: left {:?}",
            names_in(&dir)
        );
    }
}
