//! What the registry tests share: OCI layouts made by umoci (an independent
//! tool), and reading what they hold.
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn run(cmd: &mut Command) -> Output {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is it installed?)"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Files of one tag: (path in the image, content).
pub type Files<'a> = Vec<(&'a str, Vec<u8>)>;

/// An OCI layout at `dir` made by umoci. Each tag starts from the previous
/// tag's image (the first from an empty one) and adds one layer per file
/// (path in the image, content): the tags share layers but name different
/// manifests.
pub fn umoci_layout(dir: &Path, tags: &[(&str, Files)]) -> PathBuf {
    let layout = dir.to_path_buf();
    let src = dir.with_extension("src");
    std::fs::create_dir_all(&src).unwrap();
    run(Command::new("umoci")
        .arg("init")
        .arg("--layout")
        .arg(&layout));
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    let mut n = 0;
    for (i, (tag, files)) in tags.iter().enumerate() {
        if i == 0 {
            run(Command::new("umoci").args(["new", "--image", &image(tag)]));
        } else {
            run(Command::new("umoci").args(["tag", "--image", &image(tags[i - 1].0), tag]));
        }
        for (target, content) in files {
            n += 1;
            let f = src.join(format!("f{n}"));
            std::fs::write(&f, content).unwrap();
            run(Command::new("umoci")
                .args(["insert", "--image", &image(tag)])
                .arg(&f)
                .arg(target));
        }
    }
    layout
}

/// `sha256:<hex>` of the manifest `tag` names in the layout's index.json.
pub fn tag_digest(layout: &Path, tag: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {}", layout.display()))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

pub use mk_registry::testing::manifest_blobs;

/// Deterministic filler bytes (not compressible to nothing, so layers are real).
pub fn bytes(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Every file under `root` (relative path, bytes), sorted; panics on a
/// symlink (the bundle refuses them).
pub fn tree_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            let p = e.path();
            assert!(!t.is_symlink(), "symlink {}", p.display());
            if t.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
