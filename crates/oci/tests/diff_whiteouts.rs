//! A base image, changes on top (deletions, replacements, edits), a diff
//! layer with whiteouts: our unpacker and umoci give the same tree.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use common::*;
use mk_oci::*;

#[test]
fn diff_layer_with_whiteouts_unpacks_like_umoci() {
    for compression in [Compression::Gzip, Compression::None] {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let tree = t.join("tree");
        sample_tree(&tree, EPOCH as i64 - 50);
        fs::create_dir_all(tree.join("data/sub")).unwrap();
        fs::write(tree.join("data/sub/x"), b"x").unwrap();
        fs::write(tree.join("data/keep"), b"keep").unwrap();
        fs::write(tree.join("will-be-dir"), b"file").unwrap();

        let base_layout = Layout::create(&t.join("base")).unwrap();
        let base_layer = write_layer_from_tree(&tree, compression, EPOCH, &base_layout).unwrap();
        let cfg = ImageConfig {
            source_date_epoch: EPOCH,
            ..Default::default()
        };
        write_image(&base_layout, None, &[base_layer], &cfg, Some("base")).unwrap();
        let base = base_layout.image_by_ref("base").unwrap();

        // As the image builder does: unpack the base, snapshot, change, diff.
        let root = t.join("root");
        unpack_image(&base_layout, &base, &root).unwrap();
        let before = TreeSnapshot::scan(&root).unwrap();
        fs::remove_file(root.join("etc/shadow")).unwrap();
        fs::remove_dir_all(root.join("data/sub")).unwrap();
        fs::write(root.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::set_permissions(root.join("usr/bin/tool"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::remove_dir_all(root.join("var/lib/etcd")).unwrap();
        fs::write(root.join("var/lib/etcd"), b"dir became a file").unwrap();
        fs::remove_file(root.join("will-be-dir")).unwrap();
        fs::create_dir(root.join("will-be-dir")).unwrap();
        fs::write(root.join("will-be-dir/inside"), b"in").unwrap();
        fs::remove_file(root.join("bin")).unwrap();
        symlink("usr/bin/tool", root.join("bin")).unwrap();
        fs::write(root.join("etc/new"), b"new").unwrap();
        std::os::unix::fs::chown(root.join("etc/new"), Some(4242), Some(4343)).unwrap();

        let changes = snapshot::diff(&before, &root).unwrap();
        let out = Layout::create(&t.join("out")).unwrap();
        let layer = write_layer(&root, &changes, compression, EPOCH, &out).unwrap();
        let img_cfg = ImageConfig {
            user: Some("1000:1000".into()),
            source_date_epoch: EPOCH,
            ..Default::default()
        };
        let manifest = write_image(
            &out,
            Some(Base {
                layout: &base_layout,
                image: &base,
            }),
            std::slice::from_ref(&layer),
            &img_cfg,
            Some("next"),
        )
        .unwrap();

        // The layer holds exactly the changes, deletions as whiteouts.
        let members = layer_members(&out.blob_path(&layer.digest), &layer.media_type);
        let mut want: Vec<&str> = vec![
            "bin",
            "data/.wh.sub",
            "etc/.wh.shadow",
            "etc/new",
            "etc/passwd",
            "usr/bin/tool",
            "usr/bin/tool-again",
            "var/lib/etcd",
            "will-be-dir/",
            "will-be-dir/inside",
        ];
        want.sort();
        let mut got = members.clone();
        got.sort();
        assert_eq!(got, want);

        // skopeo sees base layer + new layer.
        let inspect = skopeo_inspect(&format!("oci:{}:next", out.path().display()), false);
        assert_eq!(inspect["Digest"], manifest.digest.to_string());
        assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2);

        let image = out.image_by_ref("next").unwrap();
        let ours = t.join("ours");
        let stats = unpack_image(&out, &image, &ours).unwrap();
        assert_eq!(stats.whiteouts, 2);
        assert!(!ours.join("etc/shadow").exists());
        assert!(!ours.join("data/sub").exists());
        assert!(ours.join("data/keep").exists());
        let rootfs = umoci_unpack(out.path(), "next", &t.join("bundle"));
        assert_eq!(
            tree_lines(&ours, true),
            tree_lines(&rootfs, true),
            "{compression:?}"
        );
        // And both equal the tree the diff was taken from.
        assert_eq!(
            tree_lines(&ours, false),
            tree_lines(&root, false),
            "{compression:?}"
        );
    }
}

#[test]
fn opaque_whiteout_hides_lower_entries_only() {
    // Layer 1: d/{a,b}; layer 2: d/.wh..wh..opq + d/c  =>  d/{c}.
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::create(&tmp.path().join("l")).unwrap();
    let mut layers = Vec::new();
    for members in [
        vec![("d/", None), ("d/a", Some(&b"a"[..])), ("d/b", Some(b"b"))],
        vec![
            ("d/", None),
            ("d/.wh..wh..opq", Some(&b""[..])),
            ("d/c", Some(b"c")),
        ],
    ] {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(EPOCH);
            match data {
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, name, std::io::empty()).unwrap();
                }
                Some(d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(d.len() as u64);
                    b.append_data(&mut h, name, d).unwrap();
                }
            }
        }
        let bytes = b.into_inner().unwrap();
        let d = layout.put_blob(spec::MEDIA_TYPE_LAYER_TAR, &bytes).unwrap();
        layers.push(LayerDescriptor {
            digest: d.digest,
            diff_id: d.digest,
            size: d.size,
            media_type: d.media_type,
            entries: 3,
            uncompressed_size: d.size,
        });
    }
    let cfg = ImageConfig {
        source_date_epoch: EPOCH,
        ..Default::default()
    };
    write_image(&layout, None, &layers, &cfg, Some("opq")).unwrap();
    let img = layout.image_by_ref("opq").unwrap();
    let ours = tmp.path().join("ours");
    unpack_image(&layout, &img, &ours).unwrap();
    let names: Vec<_> = fs::read_dir(ours.join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["c"]);
    let rootfs = umoci_unpack(layout.path(), "opq", &tmp.path().join("bundle"));
    assert_eq!(tree_lines(&ours, true), tree_lines(&rootfs, true));
}
