//! The fixture distribution, built once per cache key and shared by tests
//! (and by other crates' tests) under the workspace's target/.

use std::path::{Path, PathBuf};

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("mk_fixture_distro=info,mk_install=info")
        .try_init();
}

pub fn fixture_repo() -> PathBuf {
    init_logs();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    mk_fixture_distro::build(&mk_fixture_distro::Options {
        list: here.join("packages.txt"),
        cache_dir: here.join("../../target/fixture-distro"),
    })
    .unwrap_or_else(|e| panic!("building the fixture distribution: {e}"))
}
