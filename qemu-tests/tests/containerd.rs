//! The fixture etcd image (qemu-tests/fixture-images/etcd, built by
//! mk-ocibuild) run by real containerd and runc (Debian packages) in a
//! scratch root (issue 4): `ctr images import` of its OCI archive names it
//! `registry.k8s.io/etcd:3.5.12-0` with our manifest digest; `ctr run
//! --read-only` starts etcd as the image's non-root user (401:401, R12)
//! with a read-only root filesystem (R14), a writable data directory and
//! every setting as a flag (`--data-dir`: the image sets no ETCD_*
//! variable a flag would shadow, issue 16); etcd answers on localhost, and
//! `etcdctl`, what the static pod's exec probes run, works inside the
//! running container. Then the
//! node's import script (overlays/node, mk-image-import.service) against
//! the same containerd: imports, is idempotent on a second run, and fails
//! loudly on a corrupt archive.
//!
//! Needs root, apt packages containerd and runc, and what the fixture
//! distribution needs (containers.rs).

use mk_qemu_tests::containerd::{Containerd, K8S_NAMESPACE as NS};
use mk_qemu_tests::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ID: &str = "mk-etcd-test";

/// `GET path` over plain HTTP/1.0 on localhost: (status line, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((status, body))
}

/// (uid, gid) lines of /proc/PID/status: real, effective, saved, fs.
fn ids(pid: u32) -> (String, String) {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let get = |k: &str| {
        st.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    (get("Uid:"), get("Gid:"))
}

fn import_script(cd: &Containerd, images: &Path, records: &Path) -> (bool, String) {
    let out = Command::new("sh")
        .arg(workspace().join("overlays/node/root/usr/libexec/mk/image-import"))
        .env("CONTAINERD_ADDRESS", &cd.socket)
        .env("MK_IMAGES_DIR", images)
        .env("MK_IMAGE_RECORDS", records)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn containerd_runs_the_fixture_etcd_image_read_only_as_non_root() {
    init_logs();
    let work = scratch("containerd-etcd.");
    // Built once per target dir and shared; read, not modified.
    let (_, etcd) = containers::shared_fixture_images();
    let archive = etcd.archive.to_str().unwrap().to_string();
    let cd = Containerd::start();

    let out = cd.ctr_ok(&["-n", NS, "images", "import", &archive]);
    eprintln!("{out}");
    let ls = cd.ctr_ok(&["-n", NS, "images", "ls"]);
    // REF TYPE DIGEST SIZE PLATFORMS LABELS
    let listed = ls.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 2 && f[0] == etcd.reference && f[2] == etcd.manifest_digest
    });
    assert!(
        listed,
        "`ctr images ls` does not list {} with digest {}:\n{ls}\n(an `import-<date>:TAG` name means the archive names the image only by its tag: its index.json entry needs the annotation io.containerd.image.name = the full reference; see docs/image.md, \"Container images on nodes\")",
        etcd.reference, etcd.manifest_digest
    );

    // Data directory: the only writable path, owned by etcd's user.
    let data = work.path().join("etcd-data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(401), Some(401)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (client, peer) = (free_port(), free_port());
    let mount = format!(
        "type=bind,src={},dst=/var/lib/etcd,options=rbind:rw",
        data.display()
    );
    let etcd_log = work.path().join("etcd.log");
    let log_uri = format!("file://{}", etcd_log.display());
    let curl = format!("http://127.0.0.1:{client}");
    let purl = format!("http://127.0.0.1:{peer}");
    let cluster = format!("t={purl}");
    cd.ctr_ok(&[
        "-n",
        NS,
        "run",
        "-d",
        "--read-only",
        "--net-host",
        "--log-uri",
        &log_uri,
        "--mount",
        &mount,
        &etcd.reference,
        ID,
        "/usr/bin/etcd",
        // Flags only, as the static pod passes them: the image sets no
        // ETCD_DATA_DIR (etcd exits when a variable and a flag both set
        // the data directory).
        "--data-dir",
        "/var/lib/etcd",
        "--name",
        "t",
        "--listen-client-urls",
        &curl,
        "--advertise-client-urls",
        &curl,
        "--listen-peer-urls",
        &purl,
        "--initial-advertise-peer-urls",
        &purl,
        "--initial-cluster",
        &cluster,
    ]);

    // etcd answers.
    let started = Instant::now();
    let health = loop {
        match http_get(client, "/health") {
            Ok((status, body)) if status.contains(" 200 ") => break body,
            _ if started.elapsed() > Duration::from_secs(60)
                || cd.ctr_ok(&["-n", NS, "tasks", "ls"]).contains("STOPPED") =>
            {
                let tasks = cd.ctr(&["-n", NS, "tasks", "ls"]);
                panic!(
                    "etcd does not answer on {curl}/health ({:.0} s); tasks:\n{}\netcd's output:\n{}",
                    started.elapsed().as_secs_f32(),
                    String::from_utf8_lossy(&tasks.stdout),
                    String::from_utf8_lossy(&std::fs::read(&etcd_log).unwrap_or_default())
                );
            }
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    };
    assert!(health.contains("\"health\":\"true\""), "{health}");
    let (_, version) = http_get(client, "/version").unwrap();
    assert!(version.contains("etcdserver"), "{version}");
    eprintln!("etcd answers: {health} {version}");

    // The image's environment sets no etcd setting: the manifest's flags
    // are the only source (issue 16).
    let info: serde_json::Value =
        serde_json::from_str(&cd.ctr_ok(&["-n", NS, "containers", "info", ID])).unwrap();
    let env: Vec<&str> = info["Spec"]["process"]["env"]
        .as_array()
        .unwrap_or_else(|| panic!("no process env: {}", info["Spec"]["process"]))
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        !env.iter().any(|e| e.starts_with("ETCD_")),
        "the etcd image sets ETCD_* variables, which shadow the manifest's flags: {env:?}"
    );

    // etcdctl, what the etcd pod's exec probes run, is in the image and
    // reaches this etcd from inside the container (as the image's user).
    let v = cd.ctr_ok(&[
        "-n",
        NS,
        "tasks",
        "exec",
        "--exec-id",
        "etcdctl-version",
        ID,
        "etcdctl",
        "version",
    ]);
    assert!(v.contains("etcdctl version:"), "{v}");
    let health = cd.ctr(&[
        "-n",
        NS,
        "tasks",
        "exec",
        "--exec-id",
        "etcdctl-health",
        ID,
        "etcdctl",
        "--endpoints",
        &curl,
        "endpoint",
        "health",
    ]);
    let health_text = format!(
        "{}{}",
        String::from_utf8_lossy(&health.stdout),
        String::from_utf8_lossy(&health.stderr)
    );
    assert!(
        health.status.success() && health_text.contains("is healthy"),
        "etcdctl endpoint health in the container: {}\n{health_text}",
        health.status
    );
    eprintln!(
        "etcdctl in the container: {}",
        v.lines().next().unwrap_or("")
    );

    // Its process runs as 401:401 (the image config's User; ctr 1.6 has no
    // --user for run).
    let tasks = cd.ctr_ok(&["-n", NS, "tasks", "ls"]);
    let pid: u32 = tasks
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&ID)).then(|| f[1].parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no task {ID}:\n{tasks}"));
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "etcd"
    );
    assert_eq!(
        ids(pid),
        ("401 401 401 401".into(), "401 401 401 401".into()),
        "etcd's uid/gid"
    );
    // etcd wrote its data where it may.
    assert!(data.join("member").is_dir(), "no etcd data in the data dir");

    // The root filesystem is read-only: the OCI spec says so, and a write
    // fails with EROFS even as root inside the container (as 401 it would
    // fail on permissions first, proving nothing).
    assert_eq!(
        info["Spec"]["root"]["readonly"],
        serde_json::Value::Bool(true),
        "spec root: {}",
        info["Spec"]["root"]
    );
    let w = cd.ctr(&[
        "-n",
        NS,
        "tasks",
        "exec",
        "--exec-id",
        "rootwrite",
        "--user",
        "0",
        ID,
        "/usr/bin/touch",
        "/mk-write-probe",
    ]);
    let w_text = format!(
        "{}{}",
        String::from_utf8_lossy(&w.stdout),
        String::from_utf8_lossy(&w.stderr)
    );
    assert!(!w.status.success(), "writing / succeeded: {w_text}");
    assert!(w_text.contains("Read-only file system"), "{w_text}");
    // The data directory is writable by etcd's user.
    cd.ctr_ok(&[
        "-n",
        NS,
        "tasks",
        "exec",
        "--exec-id",
        "datawrite",
        ID,
        "/usr/bin/touch",
        "/var/lib/etcd/mk-write-probe",
    ]);
    let probe = std::fs::metadata(data.join("mk-write-probe")).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&probe),
            std::os::unix::fs::MetadataExt::gid(&probe)
        ),
        (401, 401)
    );

    // The node's import script (mk-image-import.service) on this containerd.
    let images = work.path().join("images");
    let records = work.path().join("records");
    std::fs::create_dir(&images).unwrap();
    std::fs::copy(&etcd.archive, images.join("etcd.tar")).unwrap();
    let line = format!("{} {}", etcd.reference, etcd.manifest_digest);
    let (ok, text) = import_script(&cd, &images, &records);
    assert!(ok, "first import failed:\n{text}");
    assert!(
        text.contains(&format!("mk-image-import: imported {line} from etcd.tar")),
        "{text}"
    );
    let (ok, text) = import_script(&cd, &images, &records);
    assert!(ok, "second import failed:\n{text}");
    assert!(
        text.contains(&format!("mk-image-import: present {line}")) && !text.contains("importing"),
        "the second run should find the image present:\n{text}"
    );
    // A corrupt archive fails the unit, naming it; the good one stays.
    let bytes = std::fs::read(&etcd.archive).unwrap();
    std::fs::write(images.join("broken.tar"), &bytes[..bytes.len() / 2]).unwrap();
    let (ok, text) = import_script(&cd, &images, &records);
    assert!(!ok, "a corrupt archive must fail the import:\n{text}");
    assert!(
        text.contains("FAILED to import") && text.contains("broken.tar"),
        "{text}"
    );
    assert!(
        text.contains(&format!("mk-image-import: present {line}")),
        "{text}"
    );
}

/// Every fixture image a control-plane node runs (etcd and the stand-ins
/// for kube-apiserver, kube-controller-manager, kube-scheduler and pause)
/// is imported under the reference the 1.30 manifests name, and its
/// entrypoint starts and stays up as the image's user with a read-only
/// root filesystem.
#[test]
fn containerd_runs_every_fixture_node_image_as_its_user() {
    init_logs();
    let all = containers::shared_node_fixture_images();
    let cd = Containerd::start();
    for (recipe, b) in &all.images {
        cd.ctr_ok(&["-n", NS, "images", "import", b.archive.to_str().unwrap()]);
        let ls = cd.ctr_ok(&["-n", NS, "images", "ls", "-q"]);
        assert!(
            ls.lines().any(|l| l.trim() == b.reference),
            "{recipe}: {} not imported:\n{ls}",
            b.reference
        );
        if recipe == "etcd" {
            // Runs with its flags in the test above.
            continue;
        }
        let id = format!("mk-{recipe}-test");
        cd.ctr_ok(&["-n", NS, "run", "-d", "--read-only", &b.reference, &id]);
        let started = Instant::now();
        let pid: u32 = loop {
            let tasks = cd.ctr_ok(&["-n", NS, "tasks", "ls"]);
            let line = tasks
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|f| f.first() == Some(&id.as_str()))
                .unwrap_or_default();
            if line.get(2) == Some(&"RUNNING") {
                break line[1].parse().unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{recipe}: task not running:\n{tasks}"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim(), "sleep", "{recipe}");
        let want = match recipe.as_str() {
            "kube-apiserver" => 402,
            "kube-controller-manager" => 403,
            "kube-scheduler" => 404,
            "pause" => 65535,
            other => panic!("unexpected fixture image {other}"),
        };
        let ids_want = format!("{want} {want} {want} {want}");
        assert_eq!(ids(pid), (ids_want.clone(), ids_want), "{recipe}: uid/gid");
        eprintln!("{recipe}: {} runs as {want}", b.reference);
    }
}
