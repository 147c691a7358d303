//! Images written by mk-oci, judged by skopeo and umoci.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use mk_oci::*;

fn config() -> ImageConfig {
    ImageConfig {
        user: Some("2379:2379".into()),
        entrypoint: Some(vec!["/usr/bin/tool".into()]),
        cmd: Some(vec!["--flag".into()]),
        env: vec![
            "PATH=/usr/bin:/bin".into(),
            "ETCD_DATA_DIR=/var/lib/etcd".into(),
        ],
        exposed_ports: vec!["2379/tcp".into(), "2380".into()],
        workdir: Some("/var/lib/etcd".into()),
        labels: BTreeMap::from([
            (
                "org.opencontainers.image.title".to_string(),
                "sample".to_string(),
            ),
            (
                "org.opencontainers.image.version".to_string(),
                "1.0".to_string(),
            ),
        ]),
        source_date_epoch: EPOCH,
        ..Default::default()
    }
}

/// Writes the sample tree (built at `tmp/tree` with `mtime`) as a
/// one-layer image into `tmp/layout`, named `v1`.
fn build(
    tmp: &Path,
    mtime: i64,
    compression: Compression,
) -> (Layout, Descriptor, LayerDescriptor) {
    let tree = tmp.join("tree");
    sample_tree(&tree, mtime);
    let layout = Layout::create(&tmp.join("layout")).unwrap();
    let layer = write_layer_from_tree(&tree, compression, EPOCH, &layout).unwrap();
    let manifest = write_image(
        &layout,
        None,
        std::slice::from_ref(&layer),
        &config(),
        Some("v1"),
    )
    .unwrap();
    (layout, manifest, layer)
}

fn check_with_real_tools(compression: Compression) {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, manifest, layer) = build(tmp.path(), EPOCH as i64 + 1000, compression);
    let dir = layout.path().to_str().unwrap();

    // skopeo reads the layout: same digest, same config.
    let inspect = skopeo_inspect(&format!("oci:{dir}:v1"), false);
    assert_eq!(inspect["Digest"], manifest.digest.to_string());
    assert_eq!(inspect["Layers"][0], layer.digest.to_string());
    assert_eq!(
        inspect["Labels"]["org.opencontainers.image.title"],
        "sample"
    );
    assert_eq!(inspect["Created"], "2023-11-14T22:13:20Z");
    let cfg = skopeo_inspect(&format!("oci:{dir}:v1"), true);
    assert_eq!(cfg["config"]["User"], "2379:2379");
    assert_eq!(cfg["config"]["Entrypoint"][0], "/usr/bin/tool");
    assert_eq!(cfg["config"]["WorkingDir"], "/var/lib/etcd");
    assert!(cfg["config"]["ExposedPorts"]["2380/tcp"].is_object());
    assert_eq!(cfg["rootfs"]["diff_ids"][0], layer.diff_id.to_string());

    // Our own reader agrees.
    let img = layout.image_by_ref("v1").unwrap();
    assert_eq!(img.manifest_digest, manifest.digest);
    assert_eq!(img.layers[0].media_type, compression.media_type());

    // umoci unpacks the same files, modes, owners and symlinks, and so do we.
    let source = tree_lines(&tmp.path().join("tree"), false);
    assert!(
        source
            .iter()
            .any(|l| l.starts_with("usr/bin/capped ") && l.contains("security.capability=")),
        "{source:?}"
    );
    let (umoci_layout, umoci_ref) = if compression == Compression::Zstd {
        // umoci 0.4.7 (Debian) cannot read zstd layers: let skopeo
        // decompress ours and recompress them as gzip, keeping diff_ids.
        let copy = tmp.path().join("gzip-copy");
        run(std::process::Command::new("skopeo")
            .args(["copy", "--dest-compress", "--dest-compress-format", "gzip"])
            .arg(format!("oci:{dir}:v1"))
            .arg(format!("oci:{}:v1", copy.display())));
        let copied = skopeo_inspect(&format!("oci:{}:v1", copy.display()), true);
        assert_eq!(copied["rootfs"]["diff_ids"][0], layer.diff_id.to_string());
        (copy, "v1")
    } else {
        (layout.path().to_path_buf(), "v1")
    };
    let rootfs = umoci_unpack(&umoci_layout, umoci_ref, &tmp.path().join("bundle"));
    assert_eq!(tree_lines(&rootfs, false), source);
    let ours = tmp.path().join("ours");
    let stats = unpack_image(&layout, &img, &ours).unwrap();
    assert_eq!(stats.hardlinks, 1);
    assert_eq!(tree_lines(&ours, true), tree_lines(&rootfs, true));
    // mtimes were clamped to SOURCE_DATE_EPOCH.
    let lines = tree_lines(&ours, true);
    let passwd = lines.iter().find(|l| l.starts_with("etc/passwd ")).unwrap();
    assert!(passwd.ends_with(&format!("t={EPOCH}")), "{passwd}");

    // The OCI archive reads the same in skopeo and in Layout::open.
    let archive = tmp.path().join("image.tar");
    write_archive(layout.path(), &archive).unwrap();
    let inspect = skopeo_inspect(&format!("oci-archive:{}:v1", archive.display()), false);
    assert_eq!(inspect["Digest"], manifest.digest.to_string());
    let from_archive = Layout::open(&archive).unwrap();
    let img2 = from_archive.image_by_ref("v1").unwrap();
    assert_eq!(img2, img);
    // An archive skopeo wrote reads too, same image.
    let skopeo_archive = tmp.path().join("skopeo.tar");
    run(std::process::Command::new("skopeo")
        .args(["copy", "--preserve-digests"])
        .arg(format!("oci:{dir}:v1"))
        .arg(format!("oci-archive:{}:v1", skopeo_archive.display())));
    let theirs = Layout::open(&skopeo_archive).unwrap();
    assert_eq!(
        theirs.image_by_ref("v1").unwrap().manifest_digest,
        manifest.digest
    );
    let ours2 = tmp.path().join("ours2");
    unpack_image(&from_archive, &img2, &ours2).unwrap();
    assert_eq!(tree_lines(&ours2, true), tree_lines(&ours, true));
}

#[test]
fn gzip_image_reads_in_skopeo_and_umoci() {
    check_with_real_tools(Compression::Gzip);
}

#[test]
fn zstd_image_reads_in_skopeo_and_umoci() {
    check_with_real_tools(Compression::Zstd);
}

#[test]
fn uncompressed_image_reads_in_skopeo_and_umoci() {
    check_with_real_tools(Compression::None);
}

#[test]
fn same_inputs_same_digests() {
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        // Different directories, inodes and (post-epoch) mtimes.
        let (la, ma, _) = build(a.path(), EPOCH as i64 + 10, compression);
        let (lb, mb, _) = build(b.path(), EPOCH as i64 + 99_999, compression);
        assert_eq!(ma.digest, mb.digest, "{compression:?}");
        write_archive(la.path(), &a.path().join("x.tar")).unwrap();
        write_archive(lb.path(), &b.path().join("x.tar")).unwrap();
        assert_eq!(
            std::fs::read(a.path().join("x.tar")).unwrap(),
            std::fs::read(b.path().join("x.tar")).unwrap(),
            "{compression:?} archives differ"
        );
        // A different epoch is a different image.
        let c = tempfile::tempdir().unwrap();
        let tree = c.path().join("tree");
        sample_tree(&tree, EPOCH as i64 + 10);
        let lc = Layout::create(&c.path().join("layout")).unwrap();
        let layer = write_layer_from_tree(&tree, compression, EPOCH + 1, &lc).unwrap();
        let cfg = ImageConfig {
            source_date_epoch: EPOCH + 1,
            ..config()
        };
        let mc = write_image(&lc, None, &[layer], &cfg, Some("v1")).unwrap();
        assert_ne!(mc.digest, ma.digest);
    }
}

#[test]
fn image_index_resolves_to_linux_amd64() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, manifest, _) = build(tmp.path(), EPOCH as i64, Compression::Gzip);
    // A multi-platform index: an arm64 entry (absent blob) and ours.
    let mut amd64 = manifest.clone();
    amd64.platform = Some(spec::Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        os_version: None,
        variant: None,
    });
    let mut arm64 = Descriptor::new(spec::MEDIA_TYPE_MANIFEST, Digest::of(b"arm"), 3);
    arm64.platform = Some(spec::Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        os_version: None,
        variant: None,
    });
    let index = Index {
        manifests: vec![arm64, amd64],
        ..Index::default()
    };
    let idx = layout
        .put_blob(spec::MEDIA_TYPE_INDEX, &spec::to_json(&index))
        .unwrap();
    layout.add_manifest(&idx, Some("multi")).unwrap();
    let img = layout.image(&idx.digest).unwrap();
    assert_eq!(img.manifest_digest, manifest.digest);
    assert_eq!(img.index_digest, Some(idx.digest));
    let by_ref = layout.image_by_ref("multi").unwrap();
    assert_eq!(by_ref, img);
    // skopeo names the index and picks the same manifest (its layers).
    let inspect = skopeo_inspect(&format!("oci:{}:multi", layout.path().display()), false);
    assert_eq!(inspect["Digest"], idx.digest.to_string());
    assert_eq!(inspect["Layers"][0], img.layers[0].digest.to_string());
    // The earlier name still points to the single manifest; re-adding it
    // does not duplicate the entry.
    layout.add_manifest(&manifest, Some("v1")).unwrap();
    let names: Vec<_> = layout
        .images()
        .unwrap()
        .into_iter()
        .map(|i| i.ref_name.unwrap())
        .collect();
    assert_eq!(names, vec!["v1", "multi"]);
}
