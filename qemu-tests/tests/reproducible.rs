//! R4: the same inputs give the same image bytes, whether built cold, in
//! another directory with other input mtimes, or copied from the cache.

use mk_qemu_tests::*;
use std::process::Command;

fn build(recipe: std::path::PathBuf, cache: Option<std::path::PathBuf>) -> mk_image::Report {
    mk_image::build(&mk_image::BuildOptions {
        recipe,
        cache_dir: cache,
        allowed_unowned: fixture_allowed_unowned(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("image build: {e:?}"))
}

fn sha256(p: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn same_inputs_same_bytes_cold_elsewhere_and_cached() {
    init_logs();
    let a = scratch("repro-a.");
    let inputs = example_inputs_in(a.path());
    let b = scratch("repro-b.");
    let cache = scratch("repro-cache.");
    let ra = write_recipe(a.path(), &inputs, |ks| ks, "1GiB");
    let rb = write_recipe(b.path(), &inputs, |ks| ks, "1GiB");
    // Different mtimes of the inputs (and different directories).
    let old = std::fs::File::options()
        .write(true)
        .open(b.path().join("node.ks"))
        .unwrap();
    old.set_modified(
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000),
    )
    .unwrap();

    let cold = build(ra, Some(cache.path().to_path_buf()));
    assert!(!cold.cache_hit);
    let elsewhere = build(rb.clone(), None);
    assert!(!elsewhere.cache_hit);
    let raw_a = a.path().join("out/node.raw");
    let raw_b = b.path().join("out/node.raw");
    // Judged by sha256sum over the files, not by our own report.
    let sum_a = sha256(&raw_a);
    assert_eq!(sum_a, sha256(&raw_b), "two cold builds differ");
    assert_eq!(sum_a, cold.raw_sha256);
    assert_eq!(
        sha256(&a.path().join("out/node.qcow2")),
        sha256(&b.path().join("out/node.qcow2"))
    );
    // Each build holds about a gigabyte: free what is no longer compared
    // (CI machines can be short of disk). a/mk-repo stays: every recipe
    // here installs from it.
    std::fs::remove_dir_all(a.path().join("out")).unwrap();

    // A rebuild with the cache: a hit, the same bytes.
    std::fs::remove_file(&raw_b).unwrap();
    let cached = build(rb, Some(cache.path().to_path_buf()));
    assert!(cached.cache_hit, "unchanged inputs must hit the cache");
    assert_eq!(sha256(&raw_b), sum_a);
    std::fs::remove_dir_all(b.path().join("out")).unwrap();

    // A changed input (the kickstart) misses the cache.
    let c = scratch("repro-c.");
    let rc = write_recipe(
        c.path(),
        &inputs,
        |ks| ks.replace("test -s", "test -f"),
        "1GiB",
    );
    let changed = build(rc, Some(cache.path().to_path_buf()));
    assert!(!changed.cache_hit);
    assert_ne!(changed.key, cold.key);
}
