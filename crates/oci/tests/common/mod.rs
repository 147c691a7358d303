//! Shared helpers for mk-oci's integration tests: sample trees, running
//! the real tools (skopeo, umoci), comparing trees.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use mk_oci::{EntryKind, TreeSnapshot};

pub const EPOCH: u64 = 1_700_000_000;

/// Sets a path's atime and mtime without following symlinks.
pub fn set_mtime(path: &Path, secs: i64) {
    let ts = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn write(root: &Path, rel: &str, data: &[u8], mode: u32, uid: u32, gid: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn dir(root: &Path, rel: &str, mode: u32, uid: u32, gid: u32) {
    let p = root.join(rel);
    fs::create_dir_all(&p).unwrap();
    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A small root filesystem with the cases layers must carry: modes
/// (setuid, 0600, 0700 dir), numeric owners, relative and absolute
/// symlinks, a hardlink, an empty directory, a path longer than 100
/// bytes and a long symlink target. Every mtime is set to `mtime`.
pub fn sample_tree(root: &Path, mtime: i64) {
    fs::create_dir_all(root).unwrap();
    dir(root, "etc", 0o755, 0, 0);
    write(
        root,
        "etc/passwd",
        b"root:x:0:0::/root:/bin/sh\netcd:x:2379:2379::/var/lib/etcd:/sbin/nologin\n",
        0o644,
        0,
        0,
    );
    write(root, "etc/shadow", b"root:*::0:::::\n", 0o600, 0, 0);
    dir(root, "usr/bin", 0o755, 0, 0);
    write(root, "usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o755, 0, 0);
    write(root, "usr/bin/suid", b"\x7fELF fake", 0o4755, 0, 0);
    fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-again")).unwrap();
    symlink("usr/bin", root.join("bin")).unwrap();
    symlink("/usr/bin/tool", root.join("usr/bin/abs-link")).unwrap();
    dir(root, "var/lib/etcd", 0o700, 2379, 2379);
    write(
        root,
        "var/lib/etcd/member.db",
        &vec![7u8; 70_000],
        0o640,
        2379,
        2379,
    );
    dir(root, "empty", 0o755, 0, 0);
    dir(root, "tmp", 0o1777, 0, 0);
    let long = format!("opt/{}/{}", "d".repeat(60), "f".repeat(60));
    write(root, &long, b"long name\n", 0o644, 1000, 1001);
    let long_target = format!("/{}", "t".repeat(150));
    symlink(&long_target, root.join("opt/long-target")).unwrap();
    write(root, "usr/bin/capped", b"\x7fELF capped", 0o755, 0, 0);
    run(Command::new("setcap")
        .arg("cap_net_bind_service=+ep")
        .arg(root.join("usr/bin/capped")));
    set_all_mtimes(root, mtime);
}

pub fn set_all_mtimes(root: &Path, mtime: i64) {
    let snap = TreeSnapshot::scan(root).unwrap();
    // Children first, so setting a file's time doesn't bump its directory.
    for p in snap.entries.keys().rev() {
        set_mtime(&root.join(p), mtime);
    }
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn skopeo_inspect(transport_ref: &str, config: bool) -> serde_json::Value {
    let mut c = Command::new("skopeo");
    c.arg("inspect");
    if config {
        c.arg("--config");
    }
    c.arg(transport_ref);
    serde_json::from_str(&run(&mut c)).unwrap()
}

/// `umoci unpack --image DIR:REF BUNDLE`; returns BUNDLE/rootfs.
pub fn umoci_unpack(layout: &Path, reference: &str, bundle: &Path) -> PathBuf {
    run(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{reference}", layout.display()))
        .arg(bundle));
    bundle.join("rootfs")
}

/// A tree's snapshot as comparable lines; mtimes included only when asked
/// (and never for directories, whose times differ between unpackers'
/// orders of work, nor for the root).
pub fn tree_lines(root: &Path, with_mtime: bool) -> Vec<String> {
    let snap = TreeSnapshot::scan(root).unwrap();
    snap.entries
        .iter()
        .map(|(p, e)| {
            let kind = match &e.kind {
                EntryKind::Dir => "dir".to_string(),
                EntryKind::File { size, sha256 } => format!("file {size} {sha256}"),
                EntryKind::Symlink { target } => format!("link -> {}", target.display()),
                other => format!("{other:?}"),
            };
            let t = if with_mtime && e.kind != EntryKind::Dir {
                format!(" t={}", e.mtime)
            } else {
                String::new()
            };
            let x: String = e
                .xattrs
                .iter()
                .map(|(k, v)| format!(" {k}={}", hex(v)))
                .collect();
            format!(
                "{} {kind} {:o} {}:{}{x}{t}",
                p.display(),
                e.mode,
                e.uid,
                e.gid
            )
        })
        .collect()
}

/// Names of the members of a layer blob (decompressed by media type).
pub fn layer_members(path: &Path, media_type: &str) -> Vec<String> {
    let f = fs::File::open(path).unwrap();
    let r: Box<dyn std::io::Read> = if media_type.ends_with("+gzip") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else if media_type.ends_with("+zstd") {
        Box::new(zstd::Decoder::new(f).unwrap())
    } else {
        Box::new(f)
    };
    let mut ar = tar::Archive::new(r);
    ar.entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect()
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}
