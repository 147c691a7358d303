//! Signed test bundles as `mk-compose bundle` makes them (mk_bundle's
//! finish_bundle: MANIFEST, MANIFEST.minisig, ISO by xorriso), with a node
//! image's image/image.json (mk_slots' ImageInfo) or without one.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mk_slots::node_image::{ImageInfo, RootInfo};

pub struct TestKey {
    pub secret: mk_bundle::SecretKey,
    /// The public key file (`--trust`).
    pub public: PathBuf,
}

pub fn key(dir: &Path, name: &str) -> TestKey {
    let secret = mk_bundle::SecretKey::generate().unwrap();
    let public = dir.join(format!("{name}.pub"));
    std::fs::write(&public, secret.public_key().to_file_text()).unwrap();
    TestKey { secret, public }
}

/// A signed bundle `dir/name`: image/image.json naming `version` (none
/// when `None`) and an image/root.img.zst of `filler` pseudo-random bytes
/// (its content does not matter to mk-rollout, only that it arrives
/// unchanged).
pub fn bundle(
    dir: &Path,
    name: &str,
    version: Option<&str>,
    filler: usize,
    key: &TestKey,
) -> PathBuf {
    let staging = dir.join(format!("{name}.staging"));
    std::fs::create_dir_all(staging.join("repo")).unwrap();
    std::fs::write(staging.join("repo/README"), "packages\n").unwrap();
    if let Some(v) = version {
        std::fs::create_dir_all(staging.join("image")).unwrap();
        let info = ImageInfo {
            format: 1,
            version: v.into(),
            root: RootInfo {
                file: "root.img.zst".into(),
                compression: "zstd".into(),
                size: 1 << 20,
                sha256: "00".repeat(32),
            },
            kernel_version: None,
        };
        std::fs::write(
            staging.join("image/image.json"),
            serde_json::to_vec_pretty(&info).unwrap(),
        )
        .unwrap();
        // xorshift: incompressible, reproducible.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes: Vec<u8> = (0..filler)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(staging.join("image/root.img.zst"), bytes).unwrap();
    }
    let out = dir.join(name);
    mk_bundle::finish_bundle(
        &staging,
        &out,
        &key.secret,
        &mk_bundle::BundleOptions {
            name: "mk".into(),
            version: version.unwrap_or("none").into(),
            volume_label: "MK_BUNDLE".into(),
            source_date_epoch: 1_700_000_000,
        },
    )
    .unwrap();
    out
}

/// Flips one byte of `file` inside the ISO (the payload of `needle`'s
/// first occurrence).
pub fn flip_byte(iso: &Path, needle: &[u8]) {
    let mut bytes = std::fs::read(iso).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in the ISO");
    bytes[at] ^= 0x01;
    std::fs::write(iso, bytes).unwrap();
}

/// A fake `ssh`: logs one line per run with every argument (to
/// `$FAKE_SSH_DIR/argv`) and the stdin it got (`$FAKE_SSH_DIR/stdin-<n>`),
/// then runs the remote command locally with `sh -c`, as sshd would.
/// `FAKE_SSH_FAIL_COPY` makes the copy fail as a dropped connection does;
/// `FAKE_SSH_DAMAGE` adds a byte to what arrives.
pub const FAKE_SSH: &str = r#"#!/bin/sh
# Logs one line per run: every argument, then the remote command.
n=$(ls "$FAKE_SSH_DIR" | grep -c '^stdin-')
printf '%s\n' "$*" >> "$FAKE_SSH_DIR/argv"
while [ "$1" != "--" ]; do shift; done
shift; shift
case "$*" in
  *"cat >"*) if [ -n "$FAKE_SSH_FAIL_COPY" ]; then echo "Connection reset by peer" >&2; exit 255; fi ;;
esac
# A damaged link: one byte more than was sent.
if [ -n "$FAKE_SSH_DAMAGE" ]; then
  { cat; printf x; } | tee "$FAKE_SSH_DIR/stdin-$n" | sh -c "$*"
else
  tee "$FAKE_SSH_DIR/stdin-$n" | sh -c "$*"
fi
"#;

/// Installs [`FAKE_SSH`] as `dir/bin/ssh`; returns the PATH that finds it
/// first and the log directory (for `FAKE_SSH_DIR`).
pub fn fake_ssh(dir: &Path) -> (String, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let ssh = bin.join("ssh");
    std::fs::write(&ssh, FAKE_SSH).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.join("log");
    std::fs::create_dir_all(&log).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    (format!("{}:{path}", bin.display()), log)
}
