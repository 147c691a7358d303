//! Our ISO writer and reader, with xorriso as the judge; hostile images.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{make_staging, options, pattern, run, xorriso_extents};
use mk_bundle::iso::{self, EntryKind, IsoError, IsoImage, IsoOptions, NameSource};

fn iso_options() -> IsoOptions {
    IsoOptions {
        volume_label: "MK_TEST".into(),
        source_date_epoch: 1_700_000_000,
        ..Default::default()
    }
}

/// A tree exercising the reader: deep directories (Rock Ridge relocation),
/// a 200-byte name (Rock Ridge continuation areas), UTF-8, an empty file,
/// an empty directory, a symlink.
fn tricky_tree(root: &Path) {
    make_staging(root, 3);
    let deep = root.join("a/b/c/d/e/f/g/h/i/j");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("leaf.txt"), "deep").unwrap();
    std::fs::write(root.join(format!("{}.rpm", "n".repeat(200))), "long").unwrap();
    std::os::unix::fs::symlink("repo", root.join("link")).unwrap();
}

/// Every path in the image, as xorriso lists it (directories too).
fn xorriso_paths(iso: &Path) -> Vec<String> {
    let out = run(Command::new("xorriso")
        .arg("-no_rc")
        .arg("-indev")
        .arg(iso)
        .args(["-find", "/"]));
    let mut v: Vec<String> = out
        .lines()
        .map(|l| l.trim_matches('\'').trim_start_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    v.sort();
    v
}

#[test]
fn reader_lists_what_xorriso_lists_with_the_same_extents_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    tricky_tree(&tree);
    let iso_path = dir.path().join("t.iso");
    iso::write(&tree, &iso_path, &iso_options()).unwrap();

    let image = iso::open_file(std::fs::File::open(&iso_path).unwrap()).unwrap();
    assert_eq!(image.name_source(), NameSource::RockRidge);
    assert_eq!(image.volume_id(), "MK_TEST");
    let entries = image.list().unwrap();
    let mut ours: Vec<String> = entries.iter().map(|e| e.path.clone()).collect();
    ours.sort();
    assert_eq!(ours, xorriso_paths(&iso_path));

    let kinds: BTreeMap<&str, EntryKind> =
        entries.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    assert_eq!(kinds["link"], EntryKind::Symlink);
    assert_eq!(kinds["registry"], EntryKind::Directory);
    assert_eq!(kinds["a/b/c/d/e/f/g/h/i/j"], EntryKind::Directory);

    let theirs = xorriso_extents(&iso_path);
    let files: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .collect();
    assert_eq!(files.len(), theirs.len());
    for e in files {
        let (offset, size) = theirs[&e.path];
        assert_eq!(e.size, size, "{}", e.path);
        if size > 0 {
            assert_eq!(e.extents[0].offset, offset, "{}", e.path);
        }
        let data = image.read_file(e, u64::MAX).unwrap();
        assert_eq!(
            data,
            std::fs::read(tree.join(&e.path)).unwrap(),
            "{}",
            e.path
        );
    }
}

#[test]
fn relocated_deep_directories_appear_at_their_place() {
    // mkisofs-style images move directories deeper than 8 levels into
    // rr_moved and link them back with Rock Ridge CL/RE entries.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    tricky_tree(&tree);
    let iso_path = dir.path().join("reloc.iso");
    run(Command::new("xorriso")
        .args([
            "-no_rc",
            "-as",
            "mkisofs",
            "-quiet",
            "-r",
            "-rr_reloc_dir",
            "rr_moved",
        ])
        .args(["-input-charset", "UTF-8", "-o"])
        .arg(&iso_path)
        .arg(&tree));
    let raw = std::fs::read(&iso_path).unwrap();
    assert!(
        raw.windows(8).any(|w| w == b"RR_MOVED"),
        "xorriso did not relocate"
    );
    let image = iso::open_file(std::fs::File::open(&iso_path).unwrap()).unwrap();
    let entries = image.list().unwrap();
    let mut ours: Vec<String> = entries.iter().map(|e| e.path.clone()).collect();
    ours.sort();
    assert_eq!(ours, xorriso_paths(&iso_path));
    let leaf = entries
        .iter()
        .find(|e| e.path == "a/b/c/d/e/f/g/h/i/j/leaf.txt")
        .unwrap();
    assert_eq!(image.read_file(leaf, 100).unwrap(), b"deep");
}

#[test]
fn joliet_and_plain_iso9660_trees_are_read_without_rock_ridge() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_staging(&tree, 4);
    let joliet = dir.path().join("j.iso");
    run(Command::new("xorriso")
        .args(["-no_rc", "-as", "mkisofs", "-quiet", "--norock", "-J"])
        .args(["-joliet-long", "-input-charset", "UTF-8", "-o"])
        .arg(&joliet)
        .arg(&tree));
    let image = iso::open_file(std::fs::File::open(&joliet).unwrap()).unwrap();
    assert_eq!(image.name_source(), NameSource::Joliet);
    let files: Vec<String> = image
        .list()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| e.path)
        .collect();
    assert!(
        files.contains(&"kickstart/données-é.txt".to_string()),
        "{files:?}"
    );
    assert!(
        files.contains(&"repo/repodata/repomd.xml".to_string()),
        "{files:?}"
    );

    let plain = dir.path().join("p.iso");
    run(Command::new("xorriso")
        .args(["-no_rc", "-as", "mkisofs", "-quiet", "--norock", "-o"])
        .arg(&plain)
        .arg(&tree));
    let image = iso::open_file(std::fs::File::open(&plain).unwrap()).unwrap();
    assert_eq!(image.name_source(), NameSource::Iso9660);
    let entries = image.list().unwrap();
    let files = entries.iter().filter(|e| e.kind == EntryKind::File).count();
    assert_eq!(files, 8);
    let ks = entries
        .iter()
        // 8.3 names at the default ISO level 1.
        .find(|e| e.path == "KICKSTAR/NODE.KS")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(
        image.read_file(ks, 1 << 20).unwrap(),
        std::fs::read(tree.join("kickstart/node.ks")).unwrap()
    );
}

#[test]
fn same_tree_gives_identical_bytes_despite_other_dates_modes_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (sk, _) = common::key_in(dir.path(), "mk");
    let first = dir.path().join("staging-one");
    let second = dir.path().join("elsewhere/staging-two");
    make_staging(&first, 9);
    make_staging(&second, 9);
    // Other mtimes, atimes and permissions on the second copy.
    for rel in ["repo/repodata/repomd.xml", "kickstart/node.ks", "repo"] {
        let p = second.join(rel);
        let f = std::fs::File::options()
            .write(!p.is_dir())
            .read(true)
            .open(&p)
            .unwrap();
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
            .unwrap();
    }
    std::fs::set_permissions(
        second.join("kickstart/node.ks"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let a = dir.path().join("a.iso");
    let b = dir.path().join("b.iso");
    mk_bundle::finish_bundle(&first, &a, &sk, &options()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    mk_bundle::finish_bundle(&second, &b, &sk, &options()).unwrap();
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(
        a == b,
        "ISOs differ at byte {:?}",
        a.iter().zip(&b).position(|(x, y)| x != y)
    );
}

/// The same files created in another order (so with other inode numbers
/// and directory order) give the same bytes.
#[test]
fn same_files_created_in_another_order_give_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..40).map(|i| format!("d{}/f{i:02}", i % 3)).collect();
    let make = |root: &Path, order: &mut dyn Iterator<Item = &String>| {
        for n in order {
            let p = root.join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            // Over one block each, so that the data order shows in the image.
            std::fs::write(&p, n.repeat(400)).unwrap();
        }
    };
    let (first, second) = (dir.path().join("one"), dir.path().join("two"));
    make(&first, &mut names.iter());
    make(&second, &mut names.iter().rev());
    let ino = |root: &Path, n: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(root.join(n)).unwrap().ino()
    };
    assert!(
        (ino(&first, &names[0]) < ino(&first, &names[1]))
            != (ino(&second, &names[0]) < ino(&second, &names[1])),
        "the two trees should allocate inodes in opposite orders"
    );
    let (a, b) = (dir.path().join("a.iso"), dir.path().join("b.iso"));
    iso::write(&first, &a, &iso_options()).unwrap();
    iso::write(&second, &b, &iso_options()).unwrap();
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(
        a == b,
        "ISOs differ at byte {:?}",
        a.iter().zip(&b).position(|(x, y)| x != y)
    );
}

#[test]
fn failed_write_leaves_nothing_in_the_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_staging(&tree, 5);
    // Beyond xorriso's 400 GiB file limit (sparse: costs no disk).
    let f = std::fs::File::create(tree.join("repo/huge.rpm")).unwrap();
    f.set_len(401 << 30).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let e = iso::write(&tree, &out_dir.join("b.iso"), &iso_options()).unwrap_err();
    assert!(e.to_string().contains("huge.rpm"), "{e}");
    assert_eq!(common::dir_names(&out_dir), Vec::<String>::new());
}

// ---- hostile images -------------------------------------------------------

fn small_iso(dir: &Path) -> Vec<u8> {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub/inner")).unwrap();
    std::fs::write(tree.join("f.bin"), pattern(5000, 1)).unwrap();
    std::fs::write(tree.join("sub/g.bin"), pattern(3000, 2)).unwrap();
    std::fs::write(tree.join("sub/inner/h.bin"), pattern(100, 3)).unwrap();
    let iso_path = dir.join("s.iso");
    iso::write(&tree, &iso_path, &iso_options()).unwrap();
    std::fs::read(iso_path).unwrap()
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Byte offset of the primary tree's record named `iso_name` (ISO 9660
/// name, e.g. `SUB`) in the directory at `dir_block`.
fn find_record(img: &[u8], dir_block: u32, dir_size: u32, iso_name: &[u8]) -> usize {
    let start = dir_block as usize * 2048;
    let mut pos = start;
    while pos < start + dir_size as usize {
        let len = img[pos] as usize;
        if len == 0 {
            pos = (pos / 2048 + 1) * 2048;
            continue;
        }
        let name = &img[pos + 33..pos + 33 + img[pos + 32] as usize];
        if name.starts_with(iso_name) {
            return pos;
        }
        pos += len;
    }
    panic!("no record {iso_name:?}");
}

fn root(img: &[u8]) -> (u32, u32) {
    let pvd = 16 * 2048;
    (le32(img, pvd + 156 + 2), le32(img, pvd + 156 + 10))
}

fn set_both_endian(img: &mut [u8], at: usize, v: u32) {
    img[at..at + 4].copy_from_slice(&v.to_le_bytes());
    img[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn truncated_images_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let img = small_iso(dir.path());
    let e = iso::list_files(&img[..img.len() / 2]).unwrap_err();
    assert!(matches!(e, IsoError::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    let e = iso::list_files(&img[..17 * 2048]).unwrap_err();
    assert!(matches!(e, IsoError::NotIso(_)), "{e}");
    let e = iso::list_files(&img[..100]).unwrap_err();
    assert!(matches!(e, IsoError::NotIso(_)), "{e}");
}

#[test]
fn directory_loop_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = small_iso(dir.path());
    let (root_block, root_size) = root(&img);
    let sub = find_record(&img, root_block, root_size, b"SUB");
    // "sub" now points back at the root directory.
    set_both_endian(&mut img, sub + 2, root_block);
    set_both_endian(&mut img, sub + 10, root_size);
    let e = iso::list_files(&img).unwrap_err();
    assert!(e.to_string().contains("directory loop"), "{e}");
    assert!(e.to_string().starts_with("sub"), "{e}");
}

#[test]
fn empty_root_directory_is_an_error() {
    // Found by fuzzing (fuzz/fuzz_targets/iso_read.rs): a root of size 0.
    let dir = tempfile::tempdir().unwrap();
    let mut img = small_iso(dir.path());
    set_both_endian(&mut img, 16 * 2048 + 156 + 10, 0);
    let e = iso::list_files(&img).unwrap_err();
    assert!(e.to_string().contains("bad length 0"), "{e}");
}

#[test]
fn extents_past_the_end_and_huge_sizes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let clean = small_iso(dir.path());
    let (root_block, root_size) = root(&clean);
    let f = find_record(&clean, root_block, root_size, b"F.BIN");

    let mut img = clean.clone();
    set_both_endian(&mut img, f + 10, u32::MAX);
    let e = iso::list_files(&img).unwrap_err();
    assert!(e.to_string().starts_with("f.bin: data extent"), "{e}");

    let mut img = clean.clone();
    set_both_endian(&mut img, f + 2, u32::MAX - 1);
    let e = iso::list_files(&img).unwrap_err();
    assert!(e.to_string().contains("past the end of the image"), "{e}");

    let sub = find_record(&clean, root_block, root_size, b"SUB");
    let mut img = clean.clone();
    set_both_endian(&mut img, sub + 10, u32::MAX);
    let e = iso::list_files(&img).unwrap_err();
    assert!(e.to_string().starts_with("sub: directory claims"), "{e}");

    // The untouched image is fine, so the errors above came from the edits.
    assert_eq!(iso::list_files(&clean).unwrap().len(), 5);
}

#[test]
fn random_corruption_never_panics_or_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let clean = small_iso(dir.path());
    // Everything before the first file's data: descriptors and directories.
    let (root_block, _) = root(&clean);
    let meta_end = clean.len().min((root_block as usize + 16) * 2048);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut ok, mut err) = (0, 0);
    let started = std::time::Instant::now();
    for _ in 0..3000 {
        let mut img = clean.clone();
        for _ in 0..1 + next() % 8 {
            let at = 16 * 2048 + (next() as usize) % (meta_end - 16 * 2048);
            img[at] = next() as u8;
        }
        match IsoImage::open(img.as_slice()).and_then(|i| {
            for e in i.list()? {
                if e.kind == EntryKind::File {
                    i.read_file(&e, 1 << 20)?;
                }
            }
            Ok(())
        }) {
            Ok(()) => ok += 1,
            Err(_) => err += 1,
        }
    }
    assert!(err > 0 && ok > 0, "ok {ok}, err {err}");
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
}
