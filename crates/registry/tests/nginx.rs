//! The registry tree, served by real nginx with the shipped rules
//! (overlays/registry/.../registry-api.conf, included verbatim) over TLS
//! with a certificate from mk-pki's registry realm (the set-up:
//! `mk_registry::testing`, feature `testing`), pulled by skopeo with
//! verification on; the API's edges checked with curl.

mod common;
use common::{bytes, manifest_blobs, run, tag_digest, tree_files, umoci_layout};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use mk_registry::testing::{pki, Nginx};
use mk_registry::{write_registry, Image};
use sha2::{Digest, Sha256};

/// A response as curl (verifying the server against `ca`) saw it.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn curl(ca: &Path, method: &str, url: &str, work: &Path) -> Response {
    let headers = work.join("curl.headers");
    let body = work.join("curl.body");
    let _ = std::fs::remove_file(&body);
    let mut c = Command::new("curl");
    c.args(["-sS", "--path-as-is", "--cacert"])
        .arg(ca)
        .arg("-D")
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"]);
    if method == "HEAD" {
        c.arg("-I");
    } else {
        c.args(["-X", method]);
    }
    let o = run(c.arg(url));
    let status = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    let headers = std::fs::read_to_string(&headers)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

fn skopeo(work: &Path) -> Command {
    let policy = work.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    let mut c = Command::new("skopeo");
    c.arg("--policy").arg(policy);
    c
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[test]
fn nginx_serves_the_tree_read_only_to_skopeo_over_verified_tls() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let etcd = umoci_layout(
        &work.join("etcd"),
        &[
            ("3.5.0", vec![("/usr/bin/etcd", bytes(1, 300_000))]),
            ("3.5.1", vec![("/usr/bin/etcdctl", bytes(2, 100_000))]),
        ],
    );
    let pause = umoci_layout(
        &work.join("pause"),
        &[("3.9", vec![("/pause", bytes(3, 20_000))])],
    );
    let tree = work.join("registry");
    let summary = write_registry(
        &[
            Image {
                repository: "etcd".into(),
                layout: etcd.clone(),
            },
            Image {
                repository: "kube/pause".into(),
                layout: pause.clone(),
            },
        ],
        &tree,
    )
    .unwrap();
    assert_eq!(summary.tags["etcd"]["3.5.1"], tag_digest(&etcd, "3.5.1"));
    assert!(tree_files(&tree).iter().all(|(p, _)| !p.contains(':')));

    let certs = work.join("certs");
    let tls = pki(work, &certs, "localhost");
    let ca = tls.ca.clone();
    let nginx = Nginx::start(&work.join("nginx"), &tree, &tls);

    // skopeo, verifying the server against the registry realm's root.
    let want = tag_digest(&etcd, "3.5.0");
    let o = run(skopeo(work)
        .args(["inspect", "--tls-verify=true", "--cert-dir"])
        .arg(&certs)
        .arg(nginx.docker("etcd:3.5.0")));
    let inspect: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(inspect["Digest"], want.as_str(), "{inspect}");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1, "{inspect}");
    let o = run(skopeo(work)
        .args(["inspect", "--raw", "--cert-dir"])
        .arg(&certs)
        .arg(nginx.docker("etcd:3.5.0")));
    assert_eq!(
        o.stdout,
        std::fs::read(etcd.join("blobs/sha256").join(&want[7..])).unwrap()
    );

    // Copy by tag and by digest: same manifest digest, same blobs.
    let want1 = tag_digest(&etcd, "3.5.1");
    for (src, dest) in [
        ("etcd:3.5.1".to_string(), "bytag"),
        (format!("etcd@{want1}"), "bydigest"),
    ] {
        let out = work.join(dest);
        run(skopeo(work)
            .args(["copy", "--src-tls-verify=true", "--src-cert-dir"])
            .arg(&certs)
            .arg(nginx.docker(&src))
            .arg(format!("oci:{}:copied", out.display())));
        assert_eq!(tag_digest(&out, "copied"), want1, "{src}");
        assert_eq!(
            manifest_blobs(&out, &want1),
            manifest_blobs(&etcd, &want1),
            "{src}"
        );
        run(Command::new("umoci")
            .args(["stat", "--image"])
            .arg(format!("{}:copied", out.display())));
    }
    // The other repository, whose blobs are its own.
    let pause_digest = tag_digest(&pause, "3.9");
    let o = run(skopeo(work)
        .args(["inspect", "--cert-dir"])
        .arg(&certs)
        .arg(nginx.docker("kube/pause:3.9")));
    let inspect: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(inspect["Digest"], pause_digest.as_str());

    // Without the registry CA, skopeo refuses the server: verification is on.
    let empty = work.join("no-certs");
    std::fs::create_dir_all(&empty).unwrap();
    let o = skopeo(work)
        .args(["inspect", "--cert-dir"])
        .arg(&empty)
        .arg(nginx.docker("etcd:3.5.0"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("certificate"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // An unknown tag is not found, for skopeo and on the wire.
    let o = skopeo(work)
        .args(["inspect", "--cert-dir"])
        .arg(&certs)
        .arg(nginx.docker("etcd:9.9.9"))
        .output()
        .unwrap();
    assert!(!o.status.success());

    let get = |method: &str, path: &str| curl(&ca, method, &nginx.url(path), work);
    let r = get("GET", "/v2/");
    assert_eq!((r.status, r.text().as_str()), (200, "{}"));
    assert_eq!(
        r.header("Docker-Distribution-API-Version"),
        Some("registry/2.0")
    );
    let r = get("GET", "/v2/_catalog");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "{\"repositories\":[\"etcd\",\"kube/pause\"]}\n");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let r = get("GET", "/v2/etcd/tags/list");
    assert_eq!(
        r.text(),
        "{\"name\":\"etcd\",\"tags\":[\"3.5.0\",\"3.5.1\"]}\n"
    );

    // Manifests: by tag and by digest, HEAD and GET, with their media type
    // and digest.
    let manifest = std::fs::read(etcd.join("blobs/sha256").join(&want1[7..])).unwrap();
    for path in [
        "/v2/etcd/manifests/3.5.1".to_string(),
        format!("/v2/etcd/manifests/{want1}"),
    ] {
        for method in ["HEAD", "GET"] {
            let r = get(method, &path);
            assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
            assert_eq!(
                r.header("Content-Type"),
                Some(OCI_MANIFEST),
                "{method} {path}"
            );
            assert_eq!(r.header("Docker-Content-Digest"), Some(want1.as_str()));
            assert_eq!(
                r.header("Docker-Distribution-API-Version"),
                Some("registry/2.0")
            );
            assert_eq!(
                r.header("Content-Length"),
                Some(manifest.len().to_string().as_str())
            );
            if method == "GET" {
                assert_eq!(r.body, manifest);
            }
        }
    }
    // Blobs: the bytes whose digest the URL names.
    for digest in manifest_blobs(&etcd, &want1) {
        let r = get("GET", &format!("/v2/etcd/blobs/{digest}"));
        assert_eq!(r.status, 200, "{digest}");
        assert_eq!(
            format!("sha256:{}", hex::encode(Sha256::digest(&r.body))),
            digest
        );
        assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
        assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    }

    // Not found, in the registry's error format.
    let etcd_layer = manifest_blobs(&etcd, &want1).pop().unwrap();
    for (path, code) in [
        ("/v2/etcd/manifests/9.9.9".to_string(), "MANIFEST_UNKNOWN"),
        (
            format!("/v2/etcd/manifests/sha256:{}", "0".repeat(64)),
            "MANIFEST_UNKNOWN",
        ),
        ("/v2/nope/manifests/3.5.1".to_string(), "MANIFEST_UNKNOWN"),
        ("/v2/nope/tags/list".to_string(), "NAME_UNKNOWN"),
        // Scoped to the repository: etcd's content is not pause's.
        (
            format!("/v2/kube/pause/manifests/{want1}"),
            "MANIFEST_UNKNOWN",
        ),
        (format!("/v2/kube/pause/blobs/{etcd_layer}"), "BLOB_UNKNOWN"),
        (
            format!("/v2/etcd/blobs/sha256:{}", "0".repeat(64)),
            "BLOB_UNKNOWN",
        ),
        // The tree itself is not served.
        (format!("/blobs/sha256/{}", &etcd_layer[7..]), "NOT_FOUND"),
        ("/catalog.json".to_string(), "NOT_FOUND"),
        ("/repositories/etcd/_tags.json".to_string(), "NOT_FOUND"),
        // (an internal location: nginx refuses it with that location's error)
        (
            "/repositories/etcd/_tags/3.5.1/".to_string(),
            "MANIFEST_UNKNOWN",
        ),
        (format!("/_mk/blobs/{}", &etcd_layer[7..]), "BLOB_UNKNOWN"),
        (
            "/v2/etcd/manifests/../../../etc/passwd".to_string(),
            "NOT_FOUND",
        ),
    ] {
        let r = get("GET", &path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(r.text().contains(code), "{path}: {}", r.text());
        assert_eq!(r.header("Content-Type"), Some("application/json"), "{path}");
    }

    // Read-only: every method but GET and HEAD is refused.
    for method in ["PUT", "POST", "DELETE", "PATCH"] {
        for path in [
            "/v2/etcd/manifests/3.5.1".to_string(),
            format!("/v2/etcd/blobs/{etcd_layer}"),
            "/v2/etcd/blobs/uploads/".to_string(),
        ] {
            let r = get(method, &path);
            assert_eq!(r.status, 405, "{method} {path}: {}", r.text());
            assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        }
    }
    // Still there, unchanged.
    assert_eq!(get("GET", "/v2/etcd/manifests/3.5.1").body, manifest);

    // Plain HTTP on the port is refused (nginx answers 400, serves nothing).
    let mut s = TcpStream::connect(("127.0.0.1", nginx.port)).unwrap();
    s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(!answer.contains("{}"), "{answer}");
}

/// The fixture etcd image (built from the fixture distribution's RPMs by
/// mk-ocibuild), served as `etcd` and pulled by skopeo: digest unchanged.
#[test]
fn fixture_etcd_image_pulls_through_nginx_with_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::create_dir_all(work.join("images")).unwrap();
    let built = mk_qemu_tests::containers::fixture_etcd(&work.join("images"));
    let tree = work.join("registry");
    write_registry(
        &[Image {
            repository: "etcd".into(),
            layout: built.layout.clone(),
        }],
        &tree,
    )
    .unwrap();
    let certs = work.join("certs");
    let tls = pki(work, &certs, "localhost");
    let nginx = Nginx::start(&work.join("nginx"), &tree, &tls);

    let reference = format!("etcd:{}", built.ref_name);
    let o = run(skopeo(work)
        .args(["inspect", "--tls-verify=true", "--cert-dir"])
        .arg(&certs)
        .arg(nginx.docker(&reference)));
    let inspect: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        inspect["Digest"],
        built.manifest_digest.as_str(),
        "{inspect}"
    );
    let out = work.join("pulled");
    run(skopeo(work)
        .args(["copy", "--src-tls-verify=true", "--src-cert-dir"])
        .arg(&certs)
        .arg(nginx.docker(&reference))
        .arg(format!("oci:{}:{}", out.display(), built.ref_name)));
    assert_eq!(tag_digest(&out, &built.ref_name), built.manifest_digest);
    assert_eq!(
        manifest_blobs(&out, &built.manifest_digest),
        manifest_blobs(&built.layout, &built.manifest_digest)
    );
    // umoci reads the pulled image back.
    run(Command::new("umoci").args(["stat", "--image"]).arg(format!(
        "{}:{}",
        out.display(),
        built.ref_name
    )));
}
