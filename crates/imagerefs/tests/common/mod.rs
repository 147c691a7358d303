//! What the tests share: the example configs, and registry trees written by
//! mk-registry (the project's own writer) from small OCI layouts made here.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mk_roleconfig::{Document, NodeConfig};

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/site");

/// The configs of one example file.
pub fn example(name: &str) -> Vec<NodeConfig> {
    let path = format!("{EXAMPLES}/{name}");
    let bytes = std::fs::read(&path).unwrap();
    match mk_roleconfig::parse_document(&bytes, &path).unwrap() {
        Document::Single(c) => vec![*c],
        Document::List(l) => l.items,
    }
}

pub const RECIPE_IMAGES: &[(&str, &str)] = mk_imagerefs::testing::RECIPE_IMAGES;

/// See `mk_imagerefs::testing::registry_tree`.
pub fn registry(work: &Path, images: &[(&str, &str)]) -> (PathBuf, Vec<String>) {
    mk_imagerefs::testing::registry_tree(work, images)
}
