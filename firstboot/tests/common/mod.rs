//! Shared by the first-boot tests that run the whole path with real tools
//! (end_to_end.rs, etcd_join.rs): the admin's side (`mk-compose pki
//! init|intermediate|issue-node`, `keygen`, `config-drive`), a node root with
//! fake /sys, /dev and /proc, and `mk-firstboot` itself; and the local TLS
//! server of the HTTPS tests ([`tls`]).
#![allow(dead_code)]

pub mod tls;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const DOMAIN: &str = "example.test";

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Names an mk-compose already built by [`mk_compose_path`], for a child
/// test process (etcd_join.rs re-runs itself in namespaces without network).
pub const MK_COMPOSE_ENV: &str = "MK_FIRSTBOOT_TEST_MK_COMPOSE";

/// mk-compose from this workspace, built with the cargo (and profile) that
/// built this test, so it is never stale.
pub fn mk_compose() -> Command {
    Command::new(mk_compose_path())
}

/// [`mk_compose`]'s binary: [`MK_COMPOSE_ENV`] when set, else built once.
pub fn mk_compose_path() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(built) = std::env::var_os(MK_COMPOSE_ENV) {
            return PathBuf::from(built);
        }
        let dir = Path::new(env!("CARGO_BIN_EXE_mk-firstboot"))
            .parent()
            .unwrap()
            .to_path_buf();
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "-q", "-p", "mk-compose", "--bin", "mk-compose"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|n| n == "release") {
            cargo.arg("--release");
        }
        ok(&mut cargo);
        dir.join("mk-compose")
    })
}

pub fn firstboot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mk-firstboot"))
}

/// The admin's side: a PKI, a signing key, issued node trees.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new() -> Site {
        let s = Site {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(s.p("root-password"), "root password for the test\n").unwrap();
        std::fs::write(s.p("key-password"), "key password for the test\n").unwrap();
        let root_pw = || std::fs::File::open(s.p("root-password")).unwrap();
        ok(mk_compose()
            .args(["pki", "init", "--dir"])
            .arg(s.p("pki"))
            .args(["--domain", DOMAIN, "--api-endpoint", "api.example.test"])
            .args(["--password-fd", "0"])
            .stdin(root_pw()));
        ok(mk_compose()
            .args(["keygen", "--out-dir"])
            .arg(s.p("keys"))
            .arg("--password-file")
            .arg(s.p("key-password")));
        s
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// intermediate + issue-node for `name` with pki `roles`; returns the
    /// issued tree.
    pub fn issue(&self, name: &str, roles: &str, realms: &[&str]) -> PathBuf {
        let node = self.p(&format!("{name}.node.yaml"));
        std::fs::write(
            &node,
            format!("name: {name}\ncluster_domain: {DOMAIN}\nroles: [{roles}]\n"),
        )
        .unwrap();
        let mut cmd = mk_compose();
        cmd.args(["pki", "intermediate", "--dir"])
            .arg(self.p("pki"))
            .args(["--host", name]);
        for r in realms {
            cmd.args(["--realm", r]);
        }
        ok(cmd
            .args(["--password-fd", "0"])
            .stdin(std::fs::File::open(self.p("root-password")).unwrap()));
        let out = self.p(&format!("issued/{name}"));
        ok(mk_compose()
            .args(["pki", "issue-node", "--dir"])
            .arg(self.p("pki"))
            .arg("--node")
            .arg(&node)
            .arg("--out")
            .arg(&out));
        out
    }

    /// A signed drive image for `config` with the `issued` tree's
    /// certificates.
    pub fn drive(&self, name: &str, config: &str, issued: &Path, format: &str) -> PathBuf {
        let cfg = self.p(&format!("{name}.yaml"));
        std::fs::write(&cfg, config).unwrap();
        let img = self.p(&format!("{name}.{format}"));
        let out = ok(mk_compose()
            .args(["config-drive", "--config"])
            .arg(&cfg)
            .arg("--pki-dir")
            .arg(issued)
            .arg("--key")
            .arg(self.p("keys/mk.key"))
            .arg("--password-file")
            .arg(self.p("key-password"))
            .arg("--out")
            .arg(&img)
            .args(["--format", format])
            .env("SOURCE_DATE_EPOCH", "1700000000"));
        assert!(
            text(&out.stdout).contains("signed by"),
            "{}",
            text(&out.stdout)
        );
        img
    }

    /// A node root as the image has it: account files, firewalld's own
    /// settings file (package firewalld), the trusted key, a NIC with
    /// `mac`, and `drive` plugged in as vdb.
    pub fn node_root(&self, name: &str, mac: &str, drive: &Path) -> PathBuf {
        let r = self.p(name);
        for d in [
            "etc/mk/config-trust",
            "etc/firewalld",
            "sys/class/net/eth0",
            "sys/class/block/vdb",
            "dev",
            "proc",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        for (f, t) in [
            ("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"),
            ("etc/group", "root:x:0:\n"),
            ("etc/shadow", "root:*::0:99999:7:::\n"),
            ("etc/gshadow", "root:::\n"),
            ("proc/cmdline", "ro quiet\n"),
            ("sys/class/block/vdb/size", "8192\n"),
            (
                "sys/class/block/vdb/uevent",
                "MAJOR=252\nDEVNAME=vdb\nDEVTYPE=disk\n",
            ),
        ] {
            std::fs::write(r.join(f), t).unwrap();
        }
        std::fs::write(r.join("sys/class/net/eth0/address"), format!("{mac}\n")).unwrap();
        std::fs::copy(
            self.p("keys/mk.pub"),
            r.join("etc/mk/config-trust/admin.pub"),
        )
        .unwrap();
        std::fs::copy(
            "/etc/firewalld/firewalld.conf",
            r.join("etc/firewalld/firewalld.conf"),
        )
        .expect("/etc/firewalld/firewalld.conf (Debian package firewalld)");
        std::os::unix::fs::symlink(drive, r.join("dev/vdb")).unwrap();
        r
    }
}

pub fn apply(root: &Path, address: &str) -> Output {
    firstboot()
        .arg("apply")
        .arg("--root")
        .arg(root)
        .args(["--address", address])
        .output()
        .unwrap()
}

/// Every path under `root` (but /sys, /dev, /proc): type, mode, owner,
/// inode, mtime, content digest.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if ["sys", "dev", "proc"].contains(&rel.as_str()) {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let content = if m.is_file() {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap()))
            } else {
                String::new()
            };
            out.insert(
                rel,
                format!(
                    "{:o} {}:{} ino {} mtime {}.{} {content}",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    m.ino(),
                    m.mtime(),
                    m.mtime_nsec()
                ),
            );
            if m.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

pub fn report(root: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root.join("var/lib/mk-firstboot/report.json")).unwrap())
        .unwrap()
}

/// (step, changed) of the last run.
pub fn changed_steps(root: &Path) -> Vec<(String, u64)> {
    report(root)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["changed"].as_u64().unwrap(),
            )
        })
        .filter(|(_, c)| *c > 0)
        .collect()
}
