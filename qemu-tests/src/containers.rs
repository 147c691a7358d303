//! The fixture container images (issues 4, 16): a tiny base built from
//! fixture RPMs (`base: scratch`, rpm included), an etcd image built on it
//! with the fixture etcd RPMs, and stand-ins for the other images a
//! control-plane node's static pods name (kube-apiserver,
//! kube-controller-manager, kube-scheduler, pause: the base plus nothing,
//! running `sleep infinity` as the component's user), from the recipes in
//! qemu-tests/fixture-images, with mk-ocibuild (what `mk-compose
//! image-build` runs). Every image but the base is named and tagged as the
//! Kubernetes 1.30 manifests ask (`registry.k8s.io/NAME:TAG`).
//!
//! Needs root and the fixture distribution (built or reused from
//! target/fixture-distro; the first build downloads Debian packages).

use std::path::{Path, PathBuf};

/// SOURCE_DATE_EPOCH of the fixture images.
pub const EPOCH: u64 = 1_700_000_000;

/// A built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The OCI image layout.
    pub layout: PathBuf,
    /// The same image as an OCI archive (for `ctr images import`).
    pub archive: PathBuf,
    /// Its ref name in the layout (`oci:LAYOUT:REF`), the recipe's version.
    pub ref_name: String,
    /// `name:version`, e.g. `registry.k8s.io/etcd:3.5.12-0`.
    pub reference: String,
    /// `sha256:…` of the manifest.
    pub manifest_digest: String,
    /// The layout was already there, built from the same inputs.
    pub reused: bool,
}

/// The fixture distribution's repository (built or reused).
pub fn fixture_repo() -> PathBuf {
    let ws = crate::workspace();
    mk_fixture_distro::build(&mk_fixture_distro::Options {
        list: ws.join("qemu-tests/fixture-distro/packages.txt"),
        cache_dir: ws.join("target/fixture-distro"),
    })
    .unwrap_or_else(|e| panic!("fixture distribution: {e}"))
}

/// The recipe directory of fixture image `name`.
pub fn recipe_dir(name: &str) -> PathBuf {
    crate::workspace()
        .join("qemu-tests/fixture-images")
        .join(name)
}

/// Options for building fixture recipe `name` into `dir/<name>` (layout)
/// and `dir/<name>.oci.tar` (archive).
pub fn options(name: &str, dir: &Path, repo: &Path) -> mk_ocibuild::BuildOptions {
    mk_ocibuild::BuildOptions {
        recipe: recipe_dir(name),
        repos: vec![repo.to_path_buf()],
        out: dir.join(name),
        archive: Some(dir.join(format!("{name}.oci.tar"))),
        source_date_epoch: EPOCH,
        allowed_unowned: crate::fixture_allowed_unowned(),
        ..Default::default()
    }
}

fn built(b: mk_ocibuild::Built) -> Built {
    Built {
        layout: b.layout,
        archive: b.archive.expect("archive requested"),
        ref_name: b.ref_name,
        reference: b.reference,
        manifest_digest: b.manifest_digest,
        reused: b.reused,
    }
}

/// Builds the fixture base into `dir/base` (layout) and
/// `dir/base.oci.tar`.
pub fn fixture_base(dir: &Path) -> Built {
    let repo = fixture_repo();
    let b = mk_ocibuild::build(&options("base", dir, &repo))
        .unwrap_or_else(|e| panic!("fixture base image: {e}"));
    built(b)
}

/// Builds the fixture base into `dir/base` and the etcd image on it into `dir/etcd` and `dir/etcd.oci.tar`.
pub fn fixture_etcd(dir: &Path) -> Built {
    let base = fixture_base(dir);
    fixture_etcd_on(dir, &base)
}

/// Builds the etcd image on an already built fixture `base`.
pub fn fixture_etcd_on(dir: &Path, base: &Built) -> Built {
    fixture_image_on("etcd", dir, base)
}

/// Recipe directories (under qemu-tests/fixture-images) of the images a
/// control-plane node runs, built on the fixture base: everything its
/// static pods and containerd's sandbox name.
pub const NODE_IMAGES: &[&str] = &[
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "pause",
];

/// The fixture base and every image of [`NODE_IMAGES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureImages {
    pub base: Built,
    /// (recipe directory, image), in [`NODE_IMAGES`] order.
    pub images: Vec<(String, Built)>,
}

impl FixtureImages {
    /// The image of recipe directory `recipe` (`etcd`, `pause` ...).
    pub fn image(&self, recipe: &str) -> &Built {
        self.images
            .iter()
            .find(|(r, _)| r == recipe)
            .map(|(_, b)| b)
            .unwrap_or_else(|| panic!("no fixture image {recipe} (have {NODE_IMAGES:?})"))
    }

    /// The OCI archives of the node's images (not the base), in
    /// [`NODE_IMAGES`] order: what a node image recipe lists in
    /// `image_archives` to bake them in.
    pub fn archives(&self) -> Vec<PathBuf> {
        self.images.iter().map(|(_, b)| b.archive.clone()).collect()
    }
}

/// Builds image `recipe` of [`NODE_IMAGES`] on an already built fixture
/// `base` into `dir/<recipe>` and `dir/<recipe>.oci.tar`.
pub fn fixture_image_on(recipe: &str, dir: &Path, base: &Built) -> Built {
    image_on(recipe, dir, base, &fixture_repo())
}

fn image_on(recipe: &str, dir: &Path, base: &Built, repo: &Path) -> Built {
    let mut o = options(recipe, dir, repo);
    o.base = Some(base.layout.clone());
    o.base_digest = Some(base.manifest_digest.clone());
    let b = mk_ocibuild::build(&o).unwrap_or_else(|e| panic!("fixture {recipe} image: {e}"));
    built(b)
}

/// Builds the fixture base and every image of [`NODE_IMAGES`] on it into
/// `dir` (each reused when `dir` already holds it from the same inputs).
pub fn fixture_images(dir: &Path) -> FixtureImages {
    let repo = fixture_repo();
    let base = built(
        mk_ocibuild::build(&options("base", dir, &repo))
            .unwrap_or_else(|e| panic!("fixture base image: {e}")),
    );
    let images = NODE_IMAGES
        .iter()
        .map(|r| (r.to_string(), image_on(r, dir, &base, &repo)))
        .collect();
    FixtureImages { base, images }
}

/// Holds the lock of the shared fixture image directory while alive.
struct SharedDir {
    dir: PathBuf,
    _lock: std::fs::File,
}

fn shared_dir() -> SharedDir {
    let dir = crate::workspace().join("target/qemu-tests/fixture-images");
    std::fs::create_dir_all(&dir).unwrap();
    let lock_path = dir.join(".lock");
    let lock = std::fs::File::create(&lock_path).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .unwrap_or_else(|e| panic!("{}: {e}", lock_path.display()));
    SharedDir { dir, _lock: lock }
}

/// Every fixture image ([`fixture_images`]), built once per target dir
/// into target/qemu-tests/fixture-images and reused by later calls (and
/// test processes) while their inputs are unchanged, like
/// [`shared_fixture_images`] (same directory and lock). Callers must not
/// modify them (copy first).
pub fn shared_node_fixture_images() -> FixtureImages {
    let shared = shared_dir();
    fixture_images(&shared.dir)
}

/// The fixture base and etcd images, built into
/// target/qemu-tests/fixture-images and reused by later calls (and test
/// processes) while their inputs are unchanged: mk-ocibuild finds the
/// inputs key in the existing layout and rebuilds nothing. A file lock
/// serialises concurrent callers. Returns (base, etcd); callers must not
/// modify them (copy first).
pub fn shared_fixture_images() -> (Built, Built) {
    let shared = shared_dir();
    let base = fixture_base(&shared.dir);
    let etcd = fixture_etcd_on(&shared.dir, &base);
    drop(shared);
    (base, etcd)
}
