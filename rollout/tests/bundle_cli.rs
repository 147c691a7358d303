//! `mk-rollout plan|apply --bundle --trust` as a user runs them: a good
//! bundle gives the target version; a flipped byte, a wrong key, a bundle
//! without a node image or another version than the inventory's stop
//! before anything else happens (no driver runs, no state is written).

mod common;

use std::path::Path;
use std::process::Command;

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mk-rollout"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An inventory whose only driver would leave a mark if it ran; the
/// apiserver is unreachable, so `apply` could not get far anyway.
fn inventory(dir: &Path, image_version: Option<&str>) {
    let version = image_version.map_or(String::new(), |v| format!("image_version: {v}\n"));
    std::fs::write(
        dir.join("site.yaml"),
        format!(
            "{version}apiserver: {{server: \"https://127.0.0.1:9\", ca: ca, cert: crt, key: key}}\n\
             nodes:\n  - name: w1\n    role: worker\n    driver: {{command: {{program: touch, args: [{}/ran], wipes_disk: false}}}}\n",
            dir.display()
        ),
    )
    .unwrap();
}

fn untouched(dir: &Path) {
    assert!(!dir.join("ran").exists(), "a driver ran");
    assert!(
        !dir.join("site.yaml.rollout.json").exists(),
        "state written"
    );
}

#[test]
fn plan_takes_the_version_from_a_verified_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = common::key(dir, "mk");
    common::bundle(dir, "mk-2.iso", Some("2.0.0"), 4096, &key);
    inventory(dir, None);
    let (code, out, err) = run(
        dir,
        &[
            "plan",
            "--inventory",
            "site.yaml",
            "--bundle",
            "mk-2.iso",
            "--trust",
            "mk.pub",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "Bundle {}/mk-2.iso: node image version 2.0.0, ",
            dir.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("Rollout to image version 2.0.0: 1 node(s)"),
        "{out}"
    );
    // Without the bundle the inventory has no version.
    let (code, _, err) = run(dir, &["plan", "--inventory", "site.yaml"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("site.yaml: image_version \"\": missing or empty (and no --bundle gives it)"),
        "{err}"
    );
    // --bundle needs --trust.
    let (code, _, err) = run(
        dir,
        &["plan", "--inventory", "site.yaml", "--bundle", "mk-2.iso"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--trust"), "{err}");
}

#[test]
fn a_bad_bundle_stops_apply_before_anything_happens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = common::key(dir, "mk");
    let stranger = common::key(dir, "stranger");
    let iso = common::bundle(dir, "mk-2.iso", Some("2.0.0"), 4096, &key);
    common::bundle(dir, "plain.iso", None, 0, &key);
    inventory(dir, Some("2.0.0"));
    let apply = |bundle: &str, trust: &str| {
        run(
            dir,
            &[
                "apply",
                "--inventory",
                "site.yaml",
                "--bundle",
                bundle,
                "--trust",
                trust,
            ],
        )
    };

    // Signed by another key.
    let (code, _, err) = apply("mk-2.iso", "stranger.pub");
    assert_eq!(code, 1);
    assert!(
        err.contains("--bundle: check failed, no node was touched"),
        "{err}"
    );
    assert!(
        err.contains(&stranger.secret.key_id().to_string()) || err.contains("key"),
        "{err}"
    );
    untouched(dir);

    // No node image.
    let (code, _, err) = apply("plain.iso", "mk.pub");
    assert_eq!(code, 1);
    assert!(
        err.contains("plain.iso: has no image/image.json: it was made without --node-image"),
        "{err}"
    );
    untouched(dir);

    // Another version than the inventory's: both named.
    inventory(dir, Some("1.9.0"));
    let (code, _, err) = apply("mk-2.iso", "mk.pub");
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "site.yaml:1: image_version \"1.9.0\", but the bundle {}/mk-2.iso carries version \"2.0.0\"",
            dir.display()
        )),
        "{err}"
    );
    untouched(dir);

    // A flipped byte in one file.
    inventory(dir, Some("2.0.0"));
    common::flip_byte(&iso, b"packages\n");
    let (code, _, err) = apply("mk-2.iso", "mk.pub");
    assert_eq!(code, 1);
    assert!(
        err.contains("--bundle: check failed, no node was touched"),
        "{err}"
    );
    assert!(err.contains("changed: repo/README: sha256 is "), "{err}");
    untouched(dir);
}
