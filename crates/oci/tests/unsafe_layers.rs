//! Crafted hostile or broken layers: each is refused with an error naming
//! the member or blob, and nothing is written outside the unpack root.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::EPOCH;
use mk_oci::*;

enum M<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A tar built header by header with raw names, so `..` and absolute
/// paths get through (the tar crate's path setters refuse them).
fn raw_tar(members: &[M<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(EPOCH);
        h.set_mode(0o644);
        h.set_size(0);
        let (name, data): (&str, &[u8]) = match *m {
            M::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                (n, d)
            }
            M::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, b"")
            }
            M::Symlink(n, target) | M::Hardlink(n, target) => {
                h.set_entry_type(if matches!(m, M::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                let gnu = h.as_gnu_mut().unwrap();
                gnu.linkname[..target.len()].copy_from_slice(target.as_bytes());
                (n, b"")
            }
        };
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

struct Case {
    _tmp: tempfile::TempDir,
    top: PathBuf,
    root: PathBuf,
    sentinel: PathBuf,
    layout: Layout,
}

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().to_path_buf();
        let sentinel = top.join("sentinel");
        fs::create_dir(&sentinel).unwrap();
        fs::write(sentinel.join("file"), b"sentinel").unwrap();
        let layout = Layout::create(&top.join("layout")).unwrap();
        Case {
            root: top.join("root"),
            sentinel,
            layout,
            top,
            _tmp: tmp,
        }
    }

    /// Stores `blob` as a layer of an image named `ref_name`.
    fn image(&self, blob: &[u8], media_type: &str, diff_id: Digest, ref_name: &str) -> Image {
        let d = self.layout.put_blob(media_type, blob).unwrap();
        let layer = LayerDescriptor {
            digest: d.digest,
            diff_id,
            size: d.size,
            media_type: d.media_type,
            entries: 0,
            uncompressed_size: 0,
        };
        let cfg = ImageConfig {
            source_date_epoch: EPOCH,
            ..Default::default()
        };
        write_image(&self.layout, None, &[layer], &cfg, Some(ref_name)).unwrap();
        self.layout.image_by_ref(ref_name).unwrap()
    }

    /// Unpacks a tar layer made of `members`; returns the error text.
    fn refused(&self, members: &[M<'_>]) -> String {
        let tar = raw_tar(members);
        let img = self.image(&tar, spec::MEDIA_TYPE_LAYER_TAR, Digest::of(&tar), "bad");
        let err = unpack_image(&self.layout, &img, &self.root).expect_err("layer must be refused");
        self.assert_outside_untouched();
        err.to_string()
    }

    /// Nothing beside the root changed: the sentinel holds exactly its
    /// file, and the top directory only what the test created.
    fn assert_outside_untouched(&self) {
        let names = |p: &Path| {
            let mut v: Vec<String> = fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&self.sentinel), vec!["file"]);
        assert_eq!(fs::read(self.sentinel.join("file")).unwrap(), b"sentinel");
        let top = names(&self.top);
        assert!(
            top.iter()
                .all(|n| ["layout", "root", "sentinel"].contains(&n.as_str())),
            "{top:?}"
        );
        assert!(!Path::new("/evil").exists());
    }
}

fn assert_names(err: &str, parts: &[&str]) {
    eprintln!("refused as expected: {err}");
    for p in parts {
        assert!(err.contains(p), "error {err:?} should mention {p:?}");
    }
}

#[test]
fn dotdot_member_is_refused() {
    let c = Case::new();
    let err = c.refused(&[M::File("ok", b"ok"), M::File("../sentinel/evil", b"x")]);
    assert_names(&err, &["\"../sentinel/evil\"", "'..'"]);
    let err = c.refused(&[M::File("a/../../sentinel/evil", b"x")]);
    assert_names(&err, &["a/../../sentinel/evil"]);
}

#[test]
fn relative_symlink_escape_is_refused() {
    let c = Case::new();
    let err = c.refused(&[M::Symlink("a", "../sentinel"), M::File("a/evil", b"x")]);
    assert_names(
        &err,
        &["\"a/evil\"", "symlink /a -> ../sentinel", "out of the root"],
    );
    // Through a chain of links, each inside the root.
    let c = Case::new();
    let err = c.refused(&[
        M::Dir("d/"),
        M::Symlink("d/b", "../../sentinel"),
        M::Symlink("a", "d/b"),
        M::File("a/evil", b"x"),
    ]);
    assert_names(&err, &["\"a/evil\"", "out of the root"]);
}

#[test]
fn absolute_symlink_escape_is_refused() {
    let c = Case::new();
    let abs = c.sentinel.to_str().unwrap().to_string();
    let err = c.refused(&[M::Symlink("x", &abs), M::File("x/evil", b"x")]);
    assert_names(&err, &["\"x/evil\"", "absolute"]);
    // `y -> /` then `y/<path of the sentinel>/evil`, the /etc/passwd attack.
    let c = Case::new();
    let through = format!("y{}/evil", c.sentinel.display());
    let err = c.refused(&[M::Symlink("y", "/"), M::File(&through, b"x")]);
    assert_names(&err, &[&through, "symlink /y -> /"]);
}

#[test]
fn hardlink_escape_is_refused() {
    let c = Case::new();
    let err = c.refused(&[M::Hardlink("h", "../sentinel/file")]);
    assert_names(&err, &["\"h\"", "hardlink target"]);
    let c = Case::new();
    let abs = c.sentinel.to_str().unwrap().to_string();
    let err = c.refused(&[M::Symlink("s", &abs), M::Hardlink("h", "s/file")]);
    assert_names(&err, &["\"h\"", "absolute"]);
    // An absolute hardlink target names a path in the root, not the host.
    let c = Case::new();
    let err = c.refused(&[M::Hardlink("h", &format!("{}/file", c.sentinel.display()))]);
    assert_names(&err, &["\"h\"", "does not exist in the root"]);
}

#[test]
fn whiteout_outside_the_root_is_refused() {
    let c = Case::new();
    let err = c.refused(&[M::File("../.wh.sentinel", b"")]);
    assert_names(&err, &["\"../.wh.sentinel\""]);
    let c = Case::new();
    let err = c.refused(&[M::Symlink("w", "../sentinel"), M::File("w/.wh.file", b"")]);
    assert_names(&err, &["\"w/.wh.file\"", "out of the root"]);
}

#[test]
fn existing_symlink_is_replaced_not_written_through() {
    let c = Case::new();
    let target = format!("{}/file", c.sentinel.display());
    let tar = raw_tar(&[M::Symlink("f", &target), M::File("f", b"overwrite")]);
    let img = c.image(&tar, spec::MEDIA_TYPE_LAYER_TAR, Digest::of(&tar), "ok");
    unpack_image(&c.layout, &img, &c.root).unwrap();
    c.assert_outside_untouched();
    assert_eq!(fs::read(c.root.join("f")).unwrap(), b"overwrite");
}

#[test]
fn device_nodes_are_skipped() {
    let c = Case::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(EPOCH);
    h.set_size(0);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    b.append_data(&mut h, "dev-null", std::io::empty()).unwrap();
    let tar = b.into_inner().unwrap();
    let img = c.image(&tar, spec::MEDIA_TYPE_LAYER_TAR, Digest::of(&tar), "dev");
    let stats = unpack_image(&c.layout, &img, &c.root).unwrap();
    assert_eq!(stats.skipped_devices, 1);
    assert!(!c.root.join("dev-null").exists());
}

#[test]
fn corrupt_and_truncated_blobs_are_refused() {
    let c = Case::new();
    let tar = raw_tar(&[M::File("a", b"hello world")]);
    let img = c.image(&tar, spec::MEDIA_TYPE_LAYER_TAR, Digest::of(&tar), "v");
    let blob = c.layout.blob_path(&img.layers[0].digest);
    let digest = img.layers[0].digest.to_string();

    // Same size, different content.
    let mut bytes = tar.clone();
    bytes[512] ^= 1;
    fs::write(&blob, &bytes).unwrap();
    let err = unpack_image(&c.layout, &img, &c.root)
        .unwrap_err()
        .to_string();
    assert_names(
        &err,
        &[&digest, "hashes to", c.layout.path().to_str().unwrap()],
    );
    assert!(!c.root.join("a").exists());

    // Truncated.
    fs::write(&blob, &tar[..700]).unwrap();
    let err = unpack_image(&c.layout, &img, &c.root)
        .unwrap_err()
        .to_string();
    assert_names(&err, &[&digest, "size is 700 bytes"]);

    // Missing.
    fs::remove_file(&blob).unwrap();
    let err = unpack_image(&c.layout, &img, &c.root)
        .unwrap_err()
        .to_string();
    assert_names(&err, &[&digest, "missing"]);

    // A corrupt manifest or config is refused when the image is read.
    let cfg_blob = c.layout.blob_path(&img.manifest.config.digest);
    fs::write(&cfg_blob, b"{}").unwrap();
    let err = c.layout.image_by_ref("v").unwrap_err().to_string();
    assert_names(&err, &[&img.manifest.config.digest.to_string()]);
    c.assert_outside_untouched();
}

#[test]
fn truncated_stream_and_wrong_diff_id_are_refused() {
    // A gzip stream cut short, stored under its own (correct) digest.
    let c = Case::new();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let tar = raw_tar(&[M::File("big", &big)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let cut = &gz[..gz.len() / 2];
    let img = c.image(cut, spec::MEDIA_TYPE_LAYER_GZIP, Digest::of(&tar), "cut");
    let err = unpack_image(&c.layout, &img, &c.root)
        .unwrap_err()
        .to_string();
    assert_names(&err, &[&img.layers[0].digest.to_string()]);
    c.assert_outside_untouched();

    // A layer whose content is not what the config's diff_id says.
    let c = Case::new();
    let tar = raw_tar(&[M::File("a", b"a")]);
    let img = c.image(
        &tar,
        spec::MEDIA_TYPE_LAYER_TAR,
        Digest::of(b"something else"),
        "diffid",
    );
    let err = unpack_image(&c.layout, &img, &c.root)
        .unwrap_err()
        .to_string();
    assert_names(
        &err,
        &["diff_id", &Digest::of(b"something else").to_string()],
    );
}

#[test]
fn layouts_and_refs_errors_name_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Layout::open(tmp.path()).unwrap_err().to_string();
    assert_names(&err, &[tmp.path().to_str().unwrap(), "oci-layout"]);
    let junk = tmp.path().join("junk.tar");
    fs::write(&junk, b"not a tar at all, just text").unwrap();
    let err = Layout::open(&junk).unwrap_err().to_string();
    assert_names(&err, &["junk.tar"]);
    let l = Layout::create(&tmp.path().join("l")).unwrap();
    let err = l.image_by_ref("nope").unwrap_err().to_string();
    assert_names(&err, &["\"nope\""]);
    let err = l.image(&Digest::of(b"x")).unwrap_err().to_string();
    assert_names(&err, &[&Digest::of(b"x").to_string(), "missing"]);
}
