//! `mk-compose image-build`: bad input is refused before anything is
//! written, with an error naming the file, the field or the digests.
//! Building real images (root, fixture distribution) is tested in
//! qemu-tests/tests/container_build.rs.

mod common;
use common::*;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A minimal, valid OCI image layout with one empty (uncompressed) layer,
/// written by hand so that this test judges the builder against the
/// format, not against our own writer. Returns the manifest digest.
fn tiny_layout(dir: &Path) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> String {
        let d = sha(data);
        std::fs::write(blobs.join(&d[7..]), data).unwrap();
        d
    };
    let layer = vec![0u8; 1024]; // an empty tar: two zero blocks
    let layer_d = put(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{layer_d}"]}}}}"#
    );
    let config_d = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_d}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_d}","size":1024}}]}}"#,
        config.len()
    );
    let manifest_d = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_d}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"7"}}}}]}}"#,
            manifest.len()
        ),
    )
    .unwrap();
    manifest_d
}

struct Case {
    _dir: tempfile::TempDir,
    root: PathBuf,
    base_digest: String,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join("repo")).unwrap();
        std::fs::create_dir(root.join("base")).unwrap();
        let base_digest = tiny_layout(&root.join("base"));
        Case {
            _dir: dir,
            root,
            base_digest,
        }
    }

    /// Writes images/x/image.yaml with `body` and runs image-build on it
    /// (with `extra` arguments); must fail; `--out` must not exist after.
    fn fails(&self, body: &str, extra: &[&str]) -> String {
        let img = self.root.join("images/x");
        std::fs::create_dir_all(&img).unwrap();
        std::fs::write(img.join("image.yaml"), body).unwrap();
        let out = self.root.join("out");
        let e = run_err(
            mk().arg("image-build")
                .arg(&img)
                .arg("--repo")
                .arg(self.root.join("repo"))
                .arg("--out")
                .arg(&out)
                .arg("--archive")
                .arg(self.root.join("x.tar"))
                .args(extra)
                .env("SOURCE_DATE_EPOCH", "1700000000"),
        );
        assert!(!out.exists(), "--out was created: {e}");
        assert!(
            !self.root.join("x.tar").exists(),
            "--archive was created: {e}"
        );
        // No work directory left beside the output either.
        let left: Vec<String> = names(&self.root)
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        e
    }

    fn recipe(&self, base: &str, tail: &str) -> String {
        format!(
            "name: x\nversion: \"1\"\nbase:\n{base}packages: [etcd-server]\nuser: \"401:401\"\nentrypoint: [/usr/bin/etcd]\nrevision: test\n{tail}"
        )
    }
}

#[test]
fn help_shows_an_example() {
    let o = run_ok(mk().args(["image-build", "--help"]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("mk-compose image-build images/etcd"), "{out}");
    assert!(out.contains("--base-digest"), "{out}");
}

#[test]
fn a_base_with_another_digest_is_refused_naming_both() {
    let c = Case::new();
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let body = c.recipe(&format!("  layout: ../../base\n  digest: {wrong}\n"), "");
    let e = c.fails(&body, &[]);
    assert!(e.contains(&wrong), "{e}");
    assert!(e.contains(&c.base_digest), "{e}");
    assert!(e.contains("pin"), "{e}");

    // --base-digest overrides the recipe: the wrong pin given on the
    // command line is refused the same way.
    let ok_in_recipe = c.recipe(
        &format!("  layout: ../../base\n  digest: {}\n", c.base_digest),
        "",
    );
    let e = c.fails(&ok_in_recipe, &["--base-digest", &wrong]);
    assert!(e.contains(&wrong) && e.contains(&c.base_digest), "{e}");
}

#[test]
fn a_base_without_digest_is_refused() {
    let c = Case::new();
    let e = c.fails(&c.recipe("  layout: ../../base\n", ""), &[]);
    assert!(e.contains("images/x/image.yaml: base: no digest"), "{e}");
    assert!(e.contains("--base-digest"), "{e}");
}

#[test]
fn a_recipe_asking_for_non_rpm_files_is_refused() {
    let c = Case::new();
    let base = format!("  layout: ../../base\n  digest: {}\n", c.base_digest);
    for (tail, field) in [
        (
            "files:\n  - src: etcd.conf\n    dest: /etc/etcd.conf\n",
            "files",
        ),
        (
            "download: https://github.com/etcd-io/etcd/releases/etcd.tar.gz\n",
            "download",
        ),
        ("url: http://example.com/etcd\n", "url"),
    ] {
        let e = c.fails(&c.recipe(&base, tail), &[]);
        assert!(
            e.contains(&format!("image.yaml: {field}: images only add RPMs")),
            "{e}"
        );
    }
    let e = c.fails(
        &c.recipe(
            "  archive: https://example.com/centos.tar\n  digest: sha256:00\n",
            "",
        ),
        &[],
    );
    assert!(e.contains("base.archive") && e.contains("is a URL"), "{e}");
}

#[test]
fn root_user_is_refused() {
    let c = Case::new();
    let base = format!("  layout: ../../base\n  digest: {}\n", c.base_digest);
    let body = c.recipe(&base, "").replace("\"401:401\"", "\"0:0\"");
    let e = c.fails(&body, &[]);
    assert!(e.contains("image.yaml: user: `0:0`"), "{e}");
    assert!(e.contains("non-root"), "{e}");
}

#[test]
fn an_unknown_package_is_named() {
    let c = Case::new();
    let base = format!("  layout: ../../base\n  digest: {}\n", c.base_digest);
    let body = c
        .recipe(&base, "")
        .replace("[etcd-server]", "[etcd-server-nosuch]");
    let e = c.fails(&body, &[]);
    assert!(
        e.contains("image.yaml: packages[0]: no package matches `etcd-server-nosuch`"),
        "{e}"
    );
}

#[test]
fn a_build_time_is_required() {
    let c = Case::new();
    let img = c.root.join("images/x");
    std::fs::create_dir_all(&img).unwrap();
    let base = format!("  layout: ../../base\n  digest: {}\n", c.base_digest);
    std::fs::write(img.join("image.yaml"), c.recipe(&base, "")).unwrap();
    let e = run_err(
        mk().arg("image-build")
            .arg(&img)
            .arg("--repo")
            .arg(c.root.join("repo"))
            .arg("--out")
            .arg(c.root.join("out"))
            .env_remove("SOURCE_DATE_EPOCH"),
    );
    assert!(e.contains("SOURCE_DATE_EPOCH"), "{e}");
    assert!(!c.root.join("out").exists());
}

#[test]
fn a_base_without_rpm_is_refused() {
    // Needs root (the base is unpacked with owners, rpm runs in a chroot).
    let c = Case::new();
    mk_synthrpm::SynthPackage::new("etcd-server", "3.4.23", "1")
        .file("/usr/bin/etcd", "#!/bin/sh\n", 0o755)
        .write_to_dir(&c.root.join("repo"))
        .unwrap();
    let base = format!("  layout: ../../base\n  digest: {}\n", c.base_digest);
    let e = c.fails(&c.recipe(&base, ""), &[]);
    assert!(e.contains("the base image has no /usr/bin/rpm"), "{e}");
}

#[test]
fn an_out_that_is_not_a_layout_is_left_alone() {
    let c = Case::new();
    let img = c.root.join("images/x");
    std::fs::create_dir_all(&img).unwrap();
    let base = format!("  layout: ../../base\n  digest: {}\n", c.base_digest);
    std::fs::write(img.join("image.yaml"), c.recipe(&base, "")).unwrap();
    mk_synthrpm::SynthPackage::new("etcd-server", "3.4.23", "1")
        .write_to_dir(&c.root.join("repo"))
        .unwrap();
    let out = c.root.join("precious");
    std::fs::write(&out, "keep me").unwrap();
    let e = run_err(
        mk().arg("image-build")
            .arg(&img)
            .arg("--repo")
            .arg(c.root.join("repo"))
            .arg("--out")
            .arg(&out)
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    assert!(
        e.contains(&format!(
            "{}: exists and is not an OCI image layout",
            out.display()
        )),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
}

/// A flipped byte in a base layer is found before anything else: the
/// recipe also asks for a package no repository has, which resolution
/// would stop at. Said once, naming the layer and both digests.
#[test]
fn a_corrupt_base_layer_is_refused_before_resolution() {
    let c = Case::new();
    let layer_d = sha(&[0u8; 1024]);
    let blob = c.root.join("base/blobs/sha256").join(&layer_d[7..]);
    let mut data = std::fs::read(&blob).unwrap();
    data[100] ^= 1;
    std::fs::write(&blob, &data).unwrap();
    let base = format!("  layout: ../../base\n  digest: {}\n", c.base_digest);
    let body = c
        .recipe(&base, "")
        .replace("[etcd-server]", "[etcd-server-nosuch]");
    let e = c.fails(&body, &[]);
    assert!(e.contains(&format!("layer 1 of 1 ({layer_d})")), "{e}");
    assert!(
        e.contains(&format!("content hashes to {}", sha(&data))),
        "{e}"
    );
    assert_eq!(e.matches("is corrupt").count(), 1, "{e}");
    assert!(!e.contains("etcd-server-nosuch"), "resolution ran: {e}");
    assert!(!e.contains("packages resolved"), "resolution ran: {e}");
}

/// A `docker save` archive (what vendors ship) is refused with the one
/// command that converts it, and what that command writes is accepted.
#[test]
fn a_docker_save_archive_is_refused_with_the_command_that_converts_it() {
    let c = Case::new();
    let docker = c.root.join("docker.tar");
    run_ok(
        std::process::Command::new("skopeo")
            .arg("copy")
            .arg(format!("oci:{}:7", c.root.join("base").display()))
            .arg(format!("docker-archive:{}:centos:7", docker.display())),
    );
    let recipe = |archive: &str, digest: &str| {
        c.recipe(&format!("  archive: {archive}\n  digest: {digest}\n"), "")
            .replace("[etcd-server]", "[etcd-server-nosuch]")
    };
    let e = c.fails(&recipe("../../docker.tar", &c.base_digest), &[]);
    assert!(
        e.contains("is a `docker save` archive (docker-archive format"),
        "{e}"
    );
    let command: Vec<&str> = e
        .split("convert it with: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no command in: {e}"))
        .split_whitespace()
        .collect();
    let [prog, args @ ..] = command.as_slice() else {
        panic!("{e}")
    };
    assert_eq!(
        (*prog, args.len(), args[0], args[2]),
        ("skopeo", 3, "copy", "oci-archive:OUT.tar"),
        "{e}"
    );
    assert!(args[1].starts_with("docker-archive:") && args[1].ends_with("docker.tar"));
    run_ok(
        std::process::Command::new(prog)
            .args(args)
            .current_dir(&c.root),
    );
    let inspect = run_ok(
        std::process::Command::new("skopeo")
            .args(["inspect", "--format", "{{.Digest}}", "oci-archive:OUT.tar"])
            .current_dir(&c.root),
    );
    let digest = String::from_utf8(inspect.stdout).unwrap();
    // Accepted: the build gets past the base to the packages.
    let e = c.fails(&recipe("../../OUT.tar", digest.trim()), &[]);
    assert!(
        e.contains("packages[0]: no package matches `etcd-server-nosuch`"),
        "{e}"
    );

    // The same archive unpacked into a directory, given as `layout:`.
    let unpacked = c.root.join("docker-dir");
    std::fs::create_dir(&unpacked).unwrap();
    run_ok(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&unpacked)
            .arg("-xf")
            .arg(&docker),
    );
    let recipe = c
        .recipe(
            &format!(
                "  layout: ../../docker-dir
  digest: {}
",
                c.base_digest
            ),
            "",
        )
        .replace("[etcd-server]", "[etcd-server-nosuch]");
    let e = c.fails(&recipe, &[]);
    assert!(e.contains("holds an unpacked `docker save` archive"), "{e}");
    let command = e
        .split("convert it with: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no command in: {e}"));
    assert!(command.contains("docker-archive:FILE.tar"), "{e}");
    std::fs::remove_file(c.root.join("OUT.tar")).unwrap();
    run_ok(
        std::process::Command::new("sh")
            .args(["-c", command])
            .current_dir(&c.root),
    );
    assert!(c.root.join("OUT.tar").is_file());
}
