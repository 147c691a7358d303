//! `mk-compose bundle --image NAME=LAYOUT`: the images land in the ISO's
//! registry/, the signed MANIFEST covers every registry file, and
//! `mk-compose verify` accepts the result.

mod common;
use common::{keygen, mk, run_err, run_ok};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An OCI layout made by umoci with tags `1.0` (one layer) and `1.1` (one
/// more), garbage-collected: every blob belongs to a tag.
fn layout(dir: &Path) -> PathBuf {
    let image = |tag: &str| format!("{}:{tag}", dir.display());
    run_ok(Command::new("umoci").arg("init").arg("--layout").arg(dir));
    run_ok(Command::new("umoci").args(["new", "--image", &image("1.0")]));
    let src = dir.with_extension("src");
    std::fs::create_dir_all(&src).unwrap();
    for (i, tag) in ["1.0", "1.1"].into_iter().enumerate() {
        if i > 0 {
            run_ok(Command::new("umoci").args(["tag", "--image", &image("1.0"), tag]));
        }
        let f = src.join(tag);
        std::fs::write(&f, format!("layer {tag}\n").repeat(5000)).unwrap();
        run_ok(
            Command::new("umoci")
                .args(["insert", "--image", &image(tag)])
                .arg(&f)
                .arg(format!("/opt/{tag}")),
        );
    }
    // Drop what the intermediate steps left (umoci keeps old manifests).
    run_ok(Command::new("umoci").args(["gc", "--layout"]).arg(dir));
    dir.to_path_buf()
}

/// Every blob digest (`sha256:<hex>`) of the layout.
fn layout_blobs(layout: &Path) -> BTreeSet<String> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect()
}

#[test]
fn bundle_with_images_verifies_and_carries_every_blob() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rpms = root.join("rpms");
    std::fs::create_dir_all(&rpms).unwrap();
    for p in mk_synthrpm::example::example_packages() {
        p.write_to_dir(&rpms).unwrap();
    }
    keygen(root);
    std::fs::write(root.join("node.ks"), "%packages\nexample-etcd\n%end\n").unwrap();
    let etcd = layout(&root.join("etcd-layout"));
    let bundle = |out: &str, images: &[String]| {
        let mut c = mk();
        c.arg("bundle")
            .arg("--repo")
            .arg(&rpms)
            .arg("--kickstart")
            .arg(root.join("node.ks"))
            .arg("--key")
            .arg(root.join("keys/mk.key"))
            .arg("--password-file")
            .arg(root.join("pw"))
            .arg("--out")
            .arg(root.join(out))
            .env("SOURCE_DATE_EPOCH", "1700000000");
        for i in images {
            c.arg("--image").arg(i);
        }
        c
    };
    // The second name is deep enough that ISO 9660 relocates directories
    // (more than 8 levels): Rock Ridge keeps the tree as written.
    let images = [
        format!("etcd={}", etcd.display()),
        format!("mirror/k8s/io/kube/etcd={}", etcd.display()),
    ];
    let o = run_ok(&mut bundle("out/a.iso", &images));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("4 container image tags"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let iso = root.join("out/a.iso");
    run_ok(
        mk().arg("verify")
            .arg(&iso)
            .arg("--trust")
            .arg(root.join("keys/mk.pub")),
    );

    // xorriso, reading the ISO, lists every blob of the layout once.
    let o = run_ok(Command::new("xorriso").args(["-indev"]).arg(&iso).args([
        "-find",
        "/registry",
        "-type",
        "f",
    ]));
    let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim().trim_matches('\'').to_string())
        .collect();
    let in_iso: BTreeSet<String> = listed
        .iter()
        .filter_map(|p| {
            p.strip_prefix("/registry/blobs/sha256/")
                .or_else(|| {
                    p.strip_prefix("/registry/manifests/sha256/")
                        .and_then(|f| f.strip_suffix(".oci-manifest"))
                })
                .map(|h| format!("sha256:{h}"))
        })
        .collect();
    assert_eq!(in_iso, layout_blobs(&etcd), "{listed:#?}");
    let blob_files = listed
        .iter()
        .filter(|p| p.starts_with("/registry/blobs/"))
        .count();
    assert_eq!(blob_files + 2, layout_blobs(&etcd).len(), "2 manifests");

    // The signed MANIFEST names exactly the files of registry/.
    let tree = root.join("tree");
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&iso)
            .args(["-extract", "/"])
            .arg(&tree),
    );
    let manifest = std::fs::read_to_string(tree.join("MANIFEST")).unwrap();
    let in_manifest: BTreeSet<String> = manifest
        .lines()
        .filter_map(|l| l.split_once("  ").map(|(_, p)| format!("/{p}")))
        .filter(|p| p.starts_with("/registry/"))
        .collect();
    assert_eq!(in_manifest, listed.iter().cloned().collect());
    assert!(in_manifest.contains("/registry/repositories/mirror/k8s/io/kube/etcd/_tags.json"));
    let catalog = std::fs::read_to_string(tree.join("registry/catalog.json")).unwrap();
    assert_eq!(
        catalog,
        "{\"repositories\":[\"etcd\",\"mirror/k8s/io/kube/etcd\"]}\n"
    );

    // The SBOM lists every tag with the manifest digest the registry serves.
    let doc =
        mk_sbom::Document::from_json(&std::fs::read(tree.join("sbom.spdx.json")).unwrap()).unwrap();
    let listed_images: Vec<_> = doc
        .packages
        .iter()
        .filter(|p| p.primary_package_purpose.as_deref() == Some("CONTAINER"))
        .collect();
    assert_eq!(listed_images.len(), 4, "{listed_images:#?}");
    for p in listed_images {
        let tag = p.version_info.as_deref().unwrap();
        let served = std::fs::read_dir(
            tree.join("registry/repositories")
                .join(&p.name)
                .join("_tags")
                .join(tag),
        )
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
        assert_eq!(
            p.sha256(),
            Some(&*served.to_string_lossy()),
            "{}:{tag}",
            p.name
        );
        assert!(
            p.purl().unwrap().starts_with("pkg:oci/etcd@sha256%3A"),
            "{:?}",
            p.purl()
        );
    }

    // Reproducible with images too.
    run_ok(&mut bundle("out/b.iso", &images));
    assert!(std::fs::read(&iso).unwrap() == std::fs::read(root.join("out/b.iso")).unwrap());

    // A layout that is not there: a clear error, no ISO.
    let e = run_err(&mut bundle(
        "out/c.iso",
        &[format!("etcd={}", root.join("nope").display())],
    ));
    assert!(e.contains("nope/oci-layout"), "{e}");
    assert!(!root.join("out/c.iso").exists());
    let e = run_err(&mut bundle("out/c.iso", &["Etcd=x".to_string()]));
    assert!(e.contains("repository name \"Etcd\""), "{e}");
}
