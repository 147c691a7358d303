//! `mk-firstboot apply` and `plan` as the unit and the admin run them, on a
//! node root in a temp directory: config drives (FAT by mtools, ISO by
//! xorriso, found through a fake /sys), signatures, idempotency (the second
//! run writes only the report), kill -9 at every point, failure policy, and
//! refusal of bad configs with the tree left byte-identical.
//!
//! Plans are given with the applier's debugging option `--plan` so that
//! these tests are about the applier; the planner has its own tests.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mk_minisign::SecretKey;

const WORKER: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata:
  name: w1.example.com
spec:
  roles: [worker]
  cluster:
    name: lab
    domain: example.com
    apiEndpoint: {dnsName: api.example.com}
  planes:
    control: {cidr: 10.0.0.0/24}
  join:
    token: abcdef.0123456789abcdef
    caCertHashes:
      - sha256:7d2e6c1f0b4f1f5e8a9c3b2d1e0f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f
";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mk-firstboot"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Site {
    dir: tempfile::TempDir,
    key: SecretKey,
}

impl Site {
    fn new() -> Site {
        Site {
            dir: tempfile::tempdir().unwrap(),
            key: SecretKey::generate().unwrap(),
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A node root: account files, the trusted key, a NIC.
    fn root(&self, name: &str) -> PathBuf {
        let r = self.p(name);
        for d in [
            "etc/mk/config-trust",
            "sys/class/net/eth0",
            "sys/class/block",
            "dev",
            "proc",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
        std::fs::write(r.join("etc/shadow"), "root:*::0:99999:7:::\n").unwrap();
        std::fs::write(r.join("etc/gshadow"), "root:::\n").unwrap();
        std::fs::write(
            r.join("etc/mk/config-trust/admin.pub"),
            self.key.public_key().to_file_text(),
        )
        .unwrap();
        std::fs::write(r.join("sys/class/net/eth0/address"), "52:54:00:00:00:11\n").unwrap();
        std::fs::write(r.join("proc/cmdline"), "ro quiet\n").unwrap();
        r
    }

    fn sign(&self, config: &str) -> String {
        self.key
            .sign(config.as_bytes(), "test", "test")
            .to_file_text()
    }

    /// A directory holding the two files a drive carries.
    fn drive_tree(&self, config: &str, signed: bool) -> PathBuf {
        let t = self.p("drive-tree");
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("node-config.yaml"), config).unwrap();
        if signed {
            std::fs::write(t.join("node-config.yaml.minisig"), self.sign(config)).unwrap();
        }
        t
    }

    /// FAT image made by hand with mtools.
    fn fat_drive(&self, config: &str, signed: bool, label: &str) -> PathBuf {
        let tree = self.drive_tree(config, signed);
        let img = self.p("fat.img");
        let _ = std::fs::remove_file(&img);
        run(Command::new("mformat")
            .args(["-C", "-i"])
            .arg(&img)
            .args(["-T", "4096", "-v", label, "::"])
            .env("MTOOLS_SKIP_CHECK", "1"));
        for f in std::fs::read_dir(&tree).unwrap() {
            let f = f.unwrap().path();
            run(Command::new("mcopy")
                .arg("-i")
                .arg(&img)
                .arg(&f)
                .arg("::/")
                .env("MTOOLS_SKIP_CHECK", "1"));
        }
        img
    }

    /// ISO image made by xorriso (Rock Ridge + Joliet, as config-drive does).
    fn iso_drive(&self, config: &str) -> PathBuf {
        let tree = self.drive_tree(config, true);
        let img = self.p("drive.iso");
        run(Command::new("xorriso")
            .args([
                "-as",
                "mkisofs",
                "-quiet",
                "-r",
                "-J",
                "-V",
                "MK-CONFIG",
                "-o",
            ])
            .arg(&img)
            .arg(&tree));
        img
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
}

/// Plugs `device` (an image file or a block device) into the fake /sys and
/// /dev of `root` as `name`.
fn plug(root: &Path, name: &str, device: &Path) {
    let d = root.join("sys/class/block").join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("size"), "8192\n").unwrap();
    std::fs::write(
        d.join("uevent"),
        format!("MAJOR=8\nDEVNAME={name}\nDEVTYPE=disk\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink(device, root.join("dev").join(name)).unwrap();
}

fn write_plan(path: &Path, plan: &serde_json::Value) -> PathBuf {
    std::fs::write(path, serde_json::to_vec(plan).unwrap()).unwrap();
    path.to_path_buf()
}

fn plan_json(key_contents: &str) -> serde_json::Value {
    serde_json::json!({
        "configDigest": "",
        "steps": [
            {"name": "users", "inputDigest": "sha256:u1", "actions": [
                {"action": "ensureGroup", "name": "etcd", "gid": 401},
                {"action": "ensureUser", "name": "etcd", "uid": 401, "gid": 401, "home": "/var/lib/etcd", "comment": "etcd key-value store"}
            ]},
            {"name": "dirs", "inputDigest": "sha256:d1", "actions": [
                {"action": "ensureDir", "path": "/var/lib/etcd", "mode": 0o700, "owner": {"uid": 401, "gid": 401}}
            ]},
            {"name": "pki", "inputDigest": format!("sha256:{}", key_contents.len()), "actions": [
                {"action": "writeFile", "path": "/etc/kubernetes/pki/etcd/server.key", "contents": key_contents, "mode": 0o600, "owner": {"uid": 401, "gid": 401}},
                {"action": "writeFile", "path": "/etc/kubernetes/pki/etcd/server.crt", "contents": "CERT\n", "mode": 0o644, "owner": {"uid": 0, "gid": 0}}
            ]}
        ]
    })
}

fn apply(root: &Path, plan: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("apply")
        .arg("--root")
        .arg(root)
        .arg("--plan")
        .arg(plan)
        .args(extra)
        .output()
        .unwrap()
}

/// Every path under `root` with type, mode, owner, inode, mtime and
/// content digest, leaving out `except`.
fn snapshot(root: &Path, except: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, except: &[&str], out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if !except.contains(&rel.as_str()) {
                let content = if m.is_file() {
                    use sha2::Digest;
                    hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap()))
                } else if m.file_type().is_symlink() {
                    format!("-> {}", std::fs::read_link(&p).unwrap().display())
                } else {
                    String::new()
                };
                out.insert(
                    rel,
                    format!(
                        "{:o} {}:{} ino {} mtime {}.{} {}",
                        m.mode(),
                        m.uid(),
                        m.gid(),
                        m.ino(),
                        m.mtime(),
                        m.mtime_nsec(),
                        content
                    ),
                );
            }
            if m.is_dir() {
                walk(base, &p, except, out);
            }
        }
    }
    walk(root, root, except, &mut out);
    out
}

/// The state that matters (content, mode, owner), without inodes and times.
fn state(root: &Path) -> BTreeMap<String, String> {
    snapshot(root, &["var/lib/mk-firstboot/report.json"])
        .into_iter()
        .map(|(k, v)| {
            let mut parts = v.splitn(7, ' ');
            let mode = parts.next().unwrap().to_string();
            let owner = parts.next().unwrap().to_string();
            let content = v.splitn(7, ' ').nth(6).unwrap_or("").to_string();
            (k, format!("{mode} {owner} {content}"))
        })
        .collect()
}

#[test]
fn fat_drive_applies_then_second_run_writes_only_the_report() {
    let s = Site::new();
    let root = s.root("root");
    plug(&root, "vdb", &s.fat_drive(WORKER, true, "MK-CONFIG"));
    let plan = write_plan(&s.p("plan.json"), &plan_json("KEY-1\n"));

    let out = apply(&root, &plan, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("w1.example.com from config drive"),
        "{stdout}"
    );
    assert!(stdout.contains("(FAT)"), "{stdout}");
    assert!(
        stdout.contains(&format!("signed by {}", s.key.key_id())),
        "{stdout}"
    );
    assert!(stdout.contains("total: 5 changes"), "{stdout}");
    assert!(std::fs::read_to_string(root.join("etc/passwd"))
        .unwrap()
        .contains("etcd:x:401:401:etcd key-value store:/var/lib/etcd:/sbin/nologin\n"));
    assert!(std::fs::read_to_string(root.join("etc/shadow"))
        .unwrap()
        .ends_with("etcd:!!:::::::\n"));
    assert!(std::fs::read_to_string(root.join("etc/gshadow"))
        .unwrap()
        .ends_with("etcd:!::\n"));
    let key = root.join("etc/kubernetes/pki/etcd/server.key");
    let m = std::fs::metadata(&key).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o600, 401, 401));
    assert_eq!(std::fs::read(&key).unwrap(), b"KEY-1\n");
    let m = std::fs::metadata(root.join("var/lib/etcd")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o700, 401));
    assert_eq!(
        std::fs::metadata(root.join("etc/kubernetes"))
            .unwrap()
            .mode()
            & 0o7777,
        0o755
    );
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("var/lib/mk-firstboot/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["totalChanges"], 5);
    assert_eq!(report["steps"][2]["name"], "pki");
    assert_eq!(report["steps"][2]["changed"], 2);
    assert_eq!(report["outcome"], "ok");

    // Second run: same config, nothing differs, only the report is written.
    // (The state directory's mtime moves with the report's rename.)
    let only_report = ["var/lib/mk-firstboot/report.json", "var/lib/mk-firstboot"];
    let before = snapshot(&root, &only_report);
    let out = apply(&root, &plan, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("total: 0 changes"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(snapshot(&root, &only_report), before);
    assert!(before.contains_key("var/lib/mk-firstboot/journal.json"));

    // A changed input re-applies only the step that depends on it.
    let plan2 = write_plan(&s.p("plan2.json"), &plan_json("KEY-2\n"));
    let out = apply(&root, &plan2, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("var/lib/mk-firstboot/report.json")).unwrap(),
    )
    .unwrap();
    let changed: Vec<(String, u64, bool)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["changed"].as_u64().unwrap(),
                s["inputsChanged"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("users".into(), 0, false),
            ("dirs".into(), 0, false),
            ("pki".into(), 1, true)
        ]
    );
    assert_eq!(std::fs::read(&key).unwrap(), b"KEY-2\n");
}

#[test]
fn iso_drive_on_a_loop_device_is_found() {
    let s = Site::new();
    let root = s.root("root");
    let iso = s.iso_drive(WORKER);
    let out = Command::new("losetup")
        .args(["-f", "--show", "-r"])
        .arg(&iso)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "losetup (needs root): {}",
        text(&out.stderr)
    );
    let loopdev = text(&out.stdout).trim().to_string();
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
        }
    }
    let _guard = Detach(loopdev.clone());
    // A FAT filesystem with another label is not taken for the drive.
    plug(&root, "sda", &s.fat_drive("not a config", false, "OTHER"));
    plug(&root, "sr0", Path::new(&loopdev));
    let plan = write_plan(&s.p("plan.json"), &plan_json("K\n"));
    let out = apply(&root, &plan, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("sr0 (ISO 9660)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_configs_are_refused_and_the_tree_is_byte_identical() {
    // report.json (and its directory's mtime) is the one thing a refusal
    // changes.
    let only_report = ["var/lib/mk-firstboot/report.json", "var/lib/mk-firstboot"];
    let s = Site::new();
    let root = s.root("root");
    std::fs::create_dir_all(root.join("var/lib/mk-firstboot")).unwrap();
    let plan = write_plan(&s.p("plan.json"), &plan_json("K\n"));
    let cases: Vec<(String, bool, &str)> = vec![
        (
            WORKER.replace("name: w1.example.com", "name: 10.0.0.11"),
            true,
            "metadata.name: \"10.0.0.11\": IP address where a DNS name is required",
        ),
        (
            WORKER.replace("roles: [worker]", "roles: [worker]\n  colour: blue"),
            true,
            "colour",
        ),
        (WORKER.to_string(), false, "the role config is not signed"),
    ];
    for (config, signed, want) in cases {
        let _ = std::fs::remove_file(root.join("dev/vdb"));
        let _ = std::fs::remove_dir_all(root.join("sys/class/block/vdb"));
        let img = s.fat_drive(&config, signed, "MK-CONFIG");
        plug(&root, "vdb", &img);
        let before = snapshot(&root, &only_report);
        let out = apply(&root, &plan, &[]);
        assert_eq!(out.status.code(), Some(1), "{want}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{want}: {err}");
        assert!(err.contains("nothing was changed"), "{err}");
        assert_eq!(snapshot(&root, &only_report), before, "{want}");
        // The one file a refusal writes says why.
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join(only_report[0])).unwrap()).unwrap();
        assert_eq!(report["outcome"], "refused", "{want}");
        let refusal: Vec<&str> = report["refusal"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(refusal.concat().contains(want), "{want}: {report}");
    }
    // A wrong signature (config changed after signing) is refused too.
    let tree = s.drive_tree(WORKER, true);
    std::fs::write(tree.join("node-config.yaml"), WORKER.replace("lab", "lab2")).unwrap();
    let cfg = tree.join("node-config.yaml");
    let _ = std::fs::remove_file(root.join("dev/vdb"));
    let _ = std::fs::remove_dir_all(root.join("sys/class/block/vdb"));
    let before = snapshot(&root, &only_report);
    let out = apply(&root, &plan, &["--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("signature does not match"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(snapshot(&root, &only_report), before);
    // Unsigned is accepted when the image allows it.
    std::fs::write(root.join("etc/mk/allow-unsigned-config"), "").unwrap();
    std::fs::remove_file(tree.join("node-config.yaml.minisig")).unwrap();
    let out = apply(&root, &plan, &["--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("unsigned (allowed by this image)"));
}

#[test]
fn a_drive_without_a_config_is_an_error_not_a_fallthrough() {
    let s = Site::new();
    let root = s.root("root");
    let img = s.p("empty.img");
    run(Command::new("mformat")
        .args(["-C", "-i"])
        .arg(&img)
        .args(["-T", "4096", "-v", "MK-CONFIG", "::"])
        .env("MTOOLS_SKIP_CHECK", "1"));
    plug(&root, "vdb", &img);
    let cfg = s.drive_tree(WORKER, true).join("node-config.yaml");
    let plan = write_plan(&s.p("plan.json"), &plan_json("K\n"));
    let out = apply(&root, &plan, &["--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("vdb (FAT): no node-config.yaml at its root"),
        "{}",
        text(&out.stderr)
    );
    // No source at all.
    let root2 = s.root("root2");
    let out = apply(&root2, &plan, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no role config: no drive labelled MK-CONFIG"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn kill_9_at_every_point_converges() {
    let s = Site::new();
    let cfg = s.drive_tree(WORKER, true).join("node-config.yaml");
    let cfg = cfg.to_str().unwrap().to_string();
    let mut plan = plan_json("KEY\n");
    // A link replacing a file, as the kubelet's `*-current.pem` replace
    // files written by earlier versions.
    plan["steps"][2]["actions"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "action": "symlink",
            "path": "/etc/kubernetes/pki/etcd/current.pem",
            "target": "/etc/kubernetes/pki/etcd/server.crt"
        }));
    let plan = write_plan(&s.p("plan.json"), &plan);
    let old_file = |root: &Path| {
        std::fs::create_dir_all(root.join("etc/kubernetes/pki/etcd")).unwrap();
        std::fs::write(root.join("etc/kubernetes/pki/etcd/current.pem"), "old").unwrap();
    };
    let reference = s.root("reference");
    old_file(&reference);
    let out = apply(&reference, &plan, &["--config", &cfg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = state(&reference);
    let link = &want["etc/kubernetes/pki/etcd/current.pem"];
    assert!(
        link.starts_with("120777 ") && link.ends_with(" -> /etc/kubernetes/pki/etcd/server.crt"),
        "{link}"
    );
    let mut killed = 0;
    for k in 1.. {
        let root = s.root(&format!("k{k}"));
        old_file(&root);
        let out = bin()
            .arg("apply")
            .arg("--root")
            .arg(&root)
            .arg("--plan")
            .arg(&plan)
            .args(["--config", &cfg])
            .env("MK_FIRSTBOOT_TEST_KILL_AT", k.to_string())
            .output()
            .unwrap();
        if out.status.signal() != Some(9) {
            assert!(out.status.success(), "k={k}: {}", text(&out.stderr));
            break;
        }
        killed += 1;
        let out = apply(&root, &plan, &["--config", &cfg]);
        assert!(out.status.success(), "k={k}: {}", text(&out.stderr));
        assert_eq!(state(&root), want, "after kill at point {k}");
        // Converged for good: a third run has nothing to do.
        let out = apply(&root, &plan, &["--config", &cfg]);
        assert!(text(&out.stdout).contains("total: 0 changes"), "k={k}");
    }
    // 6 changing actions, 14 crash points (before each action, before and after each rename).
    assert!(killed >= 13, "only {killed} crash points");
}

#[test]
fn failure_policy_halt_exits_non_zero_continue_exits_zero() {
    let s = Site::new();
    let mut plan = plan_json("K\n");
    // The second step fails: a directory stands where a file belongs.
    plan["steps"][1]["actions"] = serde_json::json!([
        {"action": "writeFile", "path": "/etc/blocked", "contents": "x", "mode": 0o644, "owner": {"uid": 0, "gid": 0}}
    ]);
    let plan = write_plan(&s.p("plan.json"), &plan);
    for (policy, code) in [("halt", 2), ("continue", 0)] {
        let root = s.root(policy);
        std::fs::create_dir_all(root.join("etc/blocked")).unwrap();
        let config = WORKER.replace("  join:", &format!("  failurePolicy: {policy}\n  join:"));
        let cfg = s.drive_tree(&config, true).join("node-config.yaml");
        let out = apply(&root, &plan, &["--config", cfg.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{policy}: {}",
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        assert!(stdout.contains("FAILED step dirs:"), "{stdout}");
        assert!(
            stdout.contains("/etc/blocked: exists but is not a regular file"),
            "{stdout}"
        );
        let report: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join("var/lib/mk-firstboot/report.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(report["outcome"], "failed");
        assert_eq!(report["failurePolicy"], policy);
        assert!(report["steps"][1]["error"]
            .as_str()
            .unwrap()
            .contains("not a regular file"));
        let third = if policy == "halt" {
            "skipped"
        } else {
            "applied"
        };
        assert_eq!(report["steps"][2]["status"], third, "{policy}");
        assert_eq!(
            root.join("etc/kubernetes/pki/etcd/server.key").exists(),
            policy == "continue"
        );
    }
}

#[test]
fn plan_lists_differences_and_changes_nothing() {
    let s = Site::new();
    let root = s.root("root");
    let cfg = s.drive_tree(WORKER, true).join("node-config.yaml");
    let plan = write_plan(&s.p("plan.json"), &plan_json("K\n"));
    std::fs::create_dir_all(root.join("etc/kubernetes/pki/etcd")).unwrap();
    std::fs::write(root.join("etc/kubernetes/pki/etcd/server.crt"), "CERT\n").unwrap();
    std::fs::set_permissions(
        root.join("etc/kubernetes/pki/etcd/server.crt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let before = snapshot(&root, &[]);
    let out = bin()
        .arg("plan")
        .arg("--root")
        .arg(&root)
        .arg("--config")
        .arg(&cfg)
        .arg("--plan")
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for want in [
        "step users: 4 changes",
        "  + group etcd: GID 401",
        "  + user etcd: UID 401, GID 401, home /var/lib/etcd",
        "step dirs: 1 change",
        "  + /var/lib/etcd: directory, mode 0700, owner 401:401",
        "  + /etc/kubernetes/pki/etcd/server.key: 2 bytes, mode 0600, owner 401:401",
        "  ~ /etc/kubernetes/pki/etcd/server.crt: mode 0600 -> 0644",
        "total: 7 changes (nothing was changed)",
    ] {
        assert!(stdout.contains(want), "{want}\n{stdout}");
    }
    assert_eq!(snapshot(&root, &[]), before);
}
