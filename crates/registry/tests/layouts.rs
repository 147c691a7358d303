//! mk-registry on layouts made by umoci: the tree is deterministic, shares
//! blobs, replaces an old tree whole, and bad layouts are refused with an
//! error naming the file and what is wrong, leaving nothing behind.

mod common;
use common::{bytes, manifest_blobs, tag_digest, tree_files, umoci_layout};

use std::path::{Path, PathBuf};

use mk_registry::{write_registry, Image};

fn image(name: &str, layout: &Path) -> Image {
    Image {
        repository: name.into(),
        layout: layout.to_path_buf(),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn two_tag_layout(dir: &Path) -> PathBuf {
    umoci_layout(
        dir,
        &[
            ("1.0", vec![("/a", bytes(10, 40_000))]),
            ("1.1", vec![("/b", bytes(11, 30_000))]),
        ],
    )
}

#[test]
fn same_inputs_same_tree_blobs_once_and_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let a = two_tag_layout(&dir.path().join("a"));
    let inputs = [image("app", &a), image("mirror/app", &a)];
    let out1 = dir.path().join("out1");
    let out2 = dir.path().join("out2");
    std::fs::create_dir_all(&out1).unwrap();
    std::fs::create_dir_all(&out2).unwrap();
    let s = write_registry(&inputs, &out1.join("registry")).unwrap();
    write_registry(&inputs, &out2.join("registry")).unwrap();
    let t1 = tree_files(&out1.join("registry"));
    assert_eq!(t1, tree_files(&out2.join("registry")));

    // Each blob once, though two repositories (and two tags) use it.
    let d10 = tag_digest(&a, "1.0");
    let d11 = tag_digest(&a, "1.1");
    let mut blobs: Vec<String> = manifest_blobs(&a, &d10)
        .into_iter()
        .chain(manifest_blobs(&a, &d11))
        .map(|d| format!("blobs/sha256/{}", &d[7..]))
        .collect();
    blobs.sort();
    blobs.dedup();
    let stored: Vec<&String> = t1
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with("blobs/"))
        .collect();
    assert_eq!(stored, blobs.iter().collect::<Vec<_>>());
    assert_eq!(s.written.blobs, blobs.len());
    // Stored blobs are the layout's bytes.
    for (p, content) in &t1 {
        if let Some(hex) = p.strip_prefix("blobs/sha256/") {
            assert_eq!(
                content,
                &std::fs::read(a.join("blobs/sha256").join(hex)).unwrap()
            );
        }
    }
    // Manifests once, tagged in both repositories.
    for d in [&d10, &d11] {
        let m = format!("manifests/sha256/{}.oci-manifest", &d[7..]);
        let (_, content) = t1.iter().find(|(p, _)| *p == m).unwrap();
        assert_eq!(
            content,
            &std::fs::read(a.join("blobs/sha256").join(&d[7..])).unwrap()
        );
    }
    assert!(t1
        .iter()
        .any(|(p, _)| *p == format!("repositories/mirror/app/_tags/1.1/{}", &d11[7..])));
    assert_eq!(s.tags["mirror/app"]["1.0"], d10);
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&out1.join("registry")), 0o755);
    assert_eq!(mode(&out1.join("registry/catalog.json")), 0o644);

    // Writing again replaces the whole tree: no stale repository, no
    // leftovers beside it.
    let b = umoci_layout(
        &dir.path().join("b"),
        &[("2", vec![("/c", bytes(12, 1000))])],
    );
    write_registry(&[image("other", &b)], &out1.join("registry")).unwrap();
    assert_eq!(names(&out1), ["registry"]);
    assert_eq!(names(&out1.join("registry/repositories")), ["other"]);
    assert!(!tree_files(&out1.join("registry"))
        .iter()
        .any(|(p, _)| p.contains(&d10[7..])));

    // No images: an empty catalog.
    let empty = dir.path().join("empty");
    write_registry(&[], &empty).unwrap();
    assert_eq!(
        tree_files(&empty),
        [(
            "catalog.json".to_string(),
            b"{\"repositories\":[]}\n".to_vec()
        )]
    );
}

/// Runs mk-registry on `images` into a fresh directory; returns the error
/// text and checks that nothing was left there.
fn refused(images: &[Image]) -> String {
    let out = tempfile::tempdir().unwrap();
    let e = write_registry(images, &out.path().join("registry")).unwrap_err();
    assert!(names(out.path()).is_empty(), "{:?}", names(out.path()));
    // What mk-compose prints: the error and its causes.
    format!("{:#}", anyhow::Error::new(e))
}

#[test]
fn bad_layouts_are_refused_with_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let a = two_tag_layout(&dir.path().join("a"));
    let d11 = tag_digest(&a, "1.1");
    let layer = manifest_blobs(&a, &d11).pop().unwrap();
    let copy = |name: &str| {
        let to = dir.path().join(name);
        common::run(std::process::Command::new("cp").arg("-a").arg(&a).arg(&to));
        to
    };

    // A layer whose bytes changed after the manifest was written.
    let corrupt = copy("corrupt");
    let p = corrupt.join("blobs/sha256").join(&layer[7..]);
    let mut b = std::fs::read(&p).unwrap();
    let last = b.len() - 1;
    b[last] ^= 1;
    std::fs::write(&p, b).unwrap();
    let e = refused(&[image("app", &corrupt)]);
    assert!(
        e.contains(&p.display().to_string()) && e.contains("hashes to"),
        "{e}"
    );
    assert!(e.contains(&layer), "{e}");

    // A layer missing.
    let missing = copy("missing");
    std::fs::remove_file(missing.join("blobs/sha256").join(&layer[7..])).unwrap();
    let e = refused(&[image("app", &missing)]);
    assert!(e.contains(&layer) && e.contains("missing"), "{e}");
    assert!(e.contains(&format!("layers[1] of {d11}")), "{e}");

    // A manifest whose bytes changed.
    let bad_manifest = copy("bad-manifest");
    let p = bad_manifest.join("blobs/sha256").join(&d11[7..]);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"layers\"", "\"layers\" ");
    std::fs::write(&p, text).unwrap();
    let e = refused(&[image("app", &bad_manifest)]);
    assert!(e.contains(&p.display().to_string()), "{e}");

    // index.json: no tags, a tag that is no tag, a non-manifest media type.
    let edit_index = |name: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let l = copy(name);
        let p = l.join("index.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        l
    };
    let untagged = edit_index("untagged", &|v| {
        for m in v["manifests"].as_array_mut().unwrap() {
            m.as_object_mut().unwrap().remove("annotations");
        }
    });
    let e = refused(&[image("app", &untagged)]);
    assert!(
        e.contains("index.json") && e.contains("no manifest carries a tag"),
        "{e}"
    );
    let bad_tag = edit_index("bad-tag", &|v| {
        v["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"] = "a:b".into();
    });
    let e = refused(&[image("app", &bad_tag)]);
    assert!(
        e.contains("manifests[1].annotations") && e.contains("\"a:b\""),
        "{e}"
    );
    let layer_type = edit_index("layer-type", &|v| {
        v["manifests"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into();
    });
    let e = refused(&[image("app", &layer_type)]);
    assert!(
        e.contains("manifests[0]") && e.contains("not an image manifest or index"),
        "{e}"
    );
    let sha512 = edit_index("sha512", &|v| {
        v["manifests"][0]["digest"] = format!("sha512:{}", "a".repeat(128)).into();
    });
    let e = refused(&[image("app", &sha512)]);
    assert!(e.contains("sha256:<64"), "{e}");

    // Not a layout at all.
    let e = refused(&[image("app", dir.path())]);
    assert!(e.contains("oci-layout"), "{e}");

    // One tag of one repository naming two different images.
    let b = umoci_layout(
        &dir.path().join("b"),
        &[("1.0", vec![("/z", bytes(13, 500))])],
    );
    let e = refused(&[image("app", &a), image("app", &b)]);
    assert!(e.contains("repository app: tag 1.0 is given twice"), "{e}");
    // The same tag in two repositories is fine.
    let out = tempfile::tempdir().unwrap();
    write_registry(
        &[image("app", &a), image("app2", &b)],
        &out.path().join("r"),
    )
    .unwrap();

    // A repository name that is not one.
    let e = refused(&[image("App", &a)]);
    assert!(e.contains("repository name \"App\""), "{e}");
}

#[test]
fn image_arguments() {
    let i: Image = "kube/etcd=images/etcd/out".parse().unwrap();
    assert_eq!(i, image("kube/etcd", Path::new("images/etcd/out")));
    for bad in ["images/etcd", "Etcd=x", "etcd=", "=x", "../x=y"] {
        assert!(bad.parse::<Image>().is_err(), "{bad}");
    }
}
