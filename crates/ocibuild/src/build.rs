//! The build: recipe → OCI image layout (and optionally an OCI archive).
//!
//! 1. Check everything that can be checked before writing: the recipe, the
//!    base digest pin, the base image itself (its manifest digest must
//!    equal the pin), the repositories and the package resolution. `--out`
//!    is not touched if any of this fails.
//! 2. In a work directory beside `--out` (same file system, removed at the
//!    end whatever happens): the staging root.
//!    - `base: scratch`: mk-install's bootstrap install of the closure into
//!      an empty root (the set must contain rpm); the layer is the tree.
//!    - a base image: its layers are unpacked safely (mk-oci), the tree is
//!      snapshotted, the base's rpmdb is read with its own rpm, the closure
//!      minus what the base has is installed with the image's own rpm in a
//!      chroot (offline), transient files are removed, and the layer is
//!      the difference. Every path the layer adds must belong to a package
//!      (R18), unless allowed.
//! 3. Config (user, entrypoint, cmd, env, ports, workdir, labels,
//!    history) and manifest on top of the base's layers; `index.json`
//!    names the image `<version>`. The layout is renamed to `--out` (an
//!    existing layout there is exchanged atomically, then removed); the
//!    archive is written atomically.
//!
//! Same inputs (recipe, base, packages, SOURCE_DATE_EPOCH, revision) give
//! the same digests: layers are written deterministically by mk-oci, rpm
//! ≥ 4.18 records SOURCE_DATE_EPOCH as install time.

use crate::packages::{self, Located, PackagesError};
use crate::recipe::{Base, BaseSource, Compression, Recipe, RecipeError};
use crate::rootfs::{self, RootfsError};
use mk_install::{InstallError, InstallOptions, InstallPlan};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `images/NAME` or its image.yaml.
    pub recipe: PathBuf,
    /// Repositories (createrepo trees or directories of .rpm), in order.
    pub repos: Vec<PathBuf>,
    /// The OCI image layout to write (a directory).
    pub out: PathBuf,
    /// Also write an OCI archive (tar of the layout) here.
    pub archive: Option<PathBuf>,
    /// Overrides the recipe's base path (a directory is a layout, a file
    /// an archive).
    pub base: Option<PathBuf>,
    /// Overrides (or provides) the recipe's `base.digest`.
    pub base_digest: Option<String>,
    /// SOURCE_DATE_EPOCH: image `created`, history, layer mtimes, rpm's
    /// install time.
    pub source_date_epoch: u64,
    /// Overrides the recipe's `revision`.
    pub revision: Option<String>,
    /// Unowned paths the packages' scriptlets leave that the R18 check
    /// accepts (exact path or `DIR/**`).
    pub allowed_unowned: Vec<String>,
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub layout: PathBuf,
    pub archive: Option<PathBuf>,
    /// `name:version`.
    pub reference: String,
    /// The ref name in `index.json` (`version`): `oci:LAYOUT:REF`.
    pub ref_name: String,
    /// `sha256:…` of the manifest: the image digest.
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digest: String,
    /// Compressed size of the new layer.
    pub layer_size: u64,
    /// Sizes of all layers (base ones included), compressed.
    pub total_layer_size: u64,
    /// NEVRAs the new layer installed (empty when `reused`).
    pub installed: Vec<String>,
    /// `--out` already held this image, built from the same inputs: nothing
    /// was rebuilt (only the archive rewritten, when asked for).
    pub reused: bool,
    pub timings: Timings,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timings {
    pub resolve: Duration,
    pub unpack: Duration,
    pub install: Duration,
    pub layer: Duration,
    pub total: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error("{}: base: no digest to pin the base image to: set `base.digest` in the recipe or pass --base-digest sha256:…", recipe.display())]
    NoBaseDigest { recipe: PathBuf },
    #[error("--base-digest: {0}")]
    BadBaseDigest(String),
    #[error("base image {}: manifest digest is {actual}, but the pin is {expected} (recipe {}): refusing a base that differs from its pin", base.display(), recipe.display())]
    BaseDigestMismatch {
        recipe: PathBuf,
        base: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("base image {}: {message}", base.display())]
    Base { base: PathBuf, message: String },
    /// The base's own error names the file and the blob.
    #[error("base image")]
    BaseImage(#[source] mk_oci::Error),
    #[error(transparent)]
    Packages(#[from] PackagesError),
    #[error("install into the empty root")]
    Install(#[from] InstallError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error("{} path(s) in the new layer belong to no package (R18):\n  {}", paths.len(), paths.join("\n  "))]
    Unowned { paths: Vec<String> },
    #[error("writing the image")]
    Oci(#[from] mk_oci::Error),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Out { path: PathBuf, message: String },
    #[error("no revision for the label org.opencontainers.image.revision: set `revision:` in {} or pass --revision", recipe.display())]
    NoRevision { recipe: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The base after step 1: opened and pinned.
struct OpenedBase {
    layout: mk_oci::Layout,
    image: mk_oci::Image,
    digest: String,
    /// The base's path for the `org.opencontainers.image.base.name`
    /// annotation: only its file name (the directory differs per site).
    name: String,
}

fn open_base(
    recipe_file: &Path,
    recipe: &Recipe,
    opts: &BuildOptions,
) -> Result<Option<OpenedBase>, BuildError> {
    let Base::Image(b) = &recipe.base else {
        return Ok(None);
    };
    if let Some(d) = &opts.base_digest {
        crate::recipe::check_digest(d).map_err(BuildError::BadBaseDigest)?;
    }
    let pin = opts
        .base_digest
        .clone()
        .or_else(|| b.digest.clone())
        .ok_or_else(|| BuildError::NoBaseDigest {
            recipe: recipe_file.to_path_buf(),
        })?;
    let source = match &opts.base {
        Some(p) => BaseSource::from_path(p),
        None => b.source.clone(),
    };
    let path = source.path().to_path_buf();
    let base_err = |message: String| BuildError::Base {
        base: path.clone(),
        message,
    };
    match (&source, std::fs::metadata(&path)) {
        (_, Err(e)) => return Err(base_err(format!("cannot read: {e}"))),
        (BaseSource::Layout(_), Ok(m)) if !m.is_dir() => {
            return Err(base_err("`layout:` must be an OCI layout directory".into()))
        }
        (BaseSource::Archive(_), Ok(m)) if !m.is_file() => {
            return Err(base_err("`archive:` must be an OCI archive file".into()))
        }
        _ => {}
    }
    let layout = mk_oci::Layout::open(&path).map_err(|e| match e {
        mk_oci::Error::DockerArchive { .. } | mk_oci::Error::DockerArchiveDir { .. } => {
            BuildError::BaseImage(e)
        }
        e => base_err(e.to_string()),
    })?;
    let image = match &b.reference {
        Some(r) => layout.image_by_ref(r),
        None => {
            let refs = layout.images().map_err(|e| base_err(e.to_string()))?;
            match refs.as_slice() {
                [one] => layout.image_from_descriptor(&one.descriptor),
                [] => return Err(base_err("index.json lists no image".into())),
                many => {
                    return Err(base_err(format!(
                        "index.json lists {} images: choose one with `base.ref` ({})",
                        many.len(),
                        many.iter()
                            .map(|r| r
                                .ref_name
                                .clone()
                                .unwrap_or_else(|| r.descriptor.digest.to_string()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
        }
    }
    .map_err(|e| base_err(e.to_string()))?;
    let actual = image.manifest_digest.to_string();
    let via_index = image.index_digest.map(|d| d.to_string());
    if actual != pin && via_index.as_deref() != Some(pin.as_str()) {
        return Err(BuildError::BaseDigestMismatch {
            recipe: recipe_file.to_path_buf(),
            base: path.clone(),
            expected: pin,
            actual,
        });
    }
    // Every blob, before resolution or any other work (docs/container-images.md).
    layout
        .verify_layers(&image)
        .map_err(BuildError::BaseImage)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tracing::info!(base = %path.display(), digest = %actual, layers = image.layers.len(), "base image pinned and checked");
    Ok(Some(OpenedBase {
        layout,
        image,
        digest: actual,
        name,
    }))
}

/// Builds the image the recipe describes; see the module docs.
pub fn build(opts: &BuildOptions) -> Result<Built, BuildError> {
    let started = Instant::now();
    let mut timings = Timings::default();
    // 1. Checks before writing anything.
    let (recipe, recipe_file) = Recipe::read(&opts.recipe)?;
    let revision = opts
        .revision
        .clone()
        .or_else(|| recipe.revision.clone())
        .ok_or_else(|| BuildError::NoRevision {
            recipe: recipe_file.clone(),
        })?;
    let base = open_base(&recipe_file, &recipe, opts)?;
    let t = Instant::now();
    let pool = packages::load_pool(&opts.repos)?;
    let closure = packages::resolve_closure(&recipe_file, &recipe.packages, &pool)?;
    let hashes = packages::verify_checksums(&closure)?;
    timings.resolve = t.elapsed();
    tracing::info!(
        requested = recipe.packages.len(),
        closure = closure.len(),
        ms = timings.resolve.as_millis() as u64,
        "packages resolved"
    );
    let out = &opts.out;
    if let Ok(m) = std::fs::symlink_metadata(out) {
        if !m.is_dir() || !out.join("oci-layout").is_file() {
            return Err(BuildError::Out {
                path: out.clone(),
                message: "exists and is not an OCI image layout: refusing to replace it".into(),
            });
        }
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(BuildError::Out {
            path: out.clone(),
            message: format!("parent directory {} does not exist", parent.display()),
        });
    }
    if let Some(a) = &opts.archive {
        let ap = a
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if a.is_dir() || !ap.is_dir() {
            return Err(BuildError::Out {
                path: a.clone(),
                message: "--archive must be a file path in an existing directory".into(),
            });
        }
    }

    let recipe_bytes = std::fs::read(&recipe_file).map_err(io(&recipe_file))?;
    let key = inputs_key(&InputsKey {
        recipe: &recipe_bytes,
        base: base.as_ref().map(|b| (b.digest.as_str(), b.name.as_str())),
        packages: &closure
            .iter()
            .zip(&hashes)
            .map(|(l, h)| (l.package.nevra(), h.clone()))
            .collect::<Vec<_>>(),
        source_date_epoch: opts.source_date_epoch,
        revision: &revision,
        allowed_unowned: &opts.allowed_unowned,
    });
    if let Some(built) = reuse(out, &recipe, &key, opts, started)? {
        return Ok(built);
    }

    // 2. The staging root, in a work directory beside the output.
    let work = tempfile::Builder::new()
        .prefix(&format!(".{}.mk-ocibuild.", file_name_part(&recipe.name)))
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let root = work.path().join("rootfs");
    let layout_dir = work.path().join("layout");
    let layout = mk_oci::Layout::create(&layout_dir)?;
    let compression = match recipe.compression {
        Compression::Gzip => mk_oci::Compression::Gzip,
        Compression::Zstd => mk_oci::Compression::Zstd,
        Compression::None => mk_oci::Compression::None,
    };
    let epoch = opts.source_date_epoch;
    let installed: Vec<String>;
    let layer = match &base {
        None => {
            let t = Instant::now();
            let plan = InstallPlan::complete(
                &closure
                    .iter()
                    .map(|l| (l.package.clone(), l.path.clone()))
                    .collect::<Vec<_>>(),
            );
            let report = mk_install::install_with_epoch(
                &plan,
                &root,
                &InstallOptions {
                    allow_missing: false,
                    allowed_unowned: opts.allowed_unowned.clone(),
                },
                Some(epoch),
            )?;
            let removed = rootfs::remove_transient(&root, &|_| false)?;
            installed = report.installed;
            timings.install = t.elapsed();
            tracing::info!(
                packages = installed.len(),
                transient_removed = removed,
                "root built from RPMs (scratch base)"
            );
            let t = Instant::now();
            let l = mk_oci::write_layer_from_tree(&root, compression, epoch, &layout)?;
            timings.layer = t.elapsed();
            l
        }
        Some(b) => {
            let t = Instant::now();
            let stats = mk_oci::unpack_image(&b.layout, &b.image, &root)?;
            let before = mk_oci::TreeSnapshot::scan(&root)?;
            timings.unpack = t.elapsed();
            tracing::info!(
                layers = stats.layers,
                files = stats.files,
                mb = stats.bytes / 1_000_000,
                ms = timings.unpack.as_millis() as u64,
                "base unpacked"
            );
            let t = Instant::now();
            let mounts = rootfs::MountPoints::ensure(&root)?;
            let have = rootfs::installed_names(&root)?;
            let todo: Vec<Located> = packages::minus_installed(closure, &have);
            tracing::info!(
                base_packages = have.len(),
                to_install = todo.len(),
                "packages the base lacks"
            );
            let rpms: Vec<(String, PathBuf)> = todo
                .iter()
                .map(|l| (l.package.nevra(), l.path.clone()))
                .collect();
            if !rpms.is_empty() {
                rootfs::install(&root, &rpms, epoch)?;
            }
            check_owned(&root, &before, &opts.allowed_unowned)?;
            mounts.remove()?;
            let removed = rootfs::remove_transient(&root, &|p| before.entries.contains_key(p))?;
            installed = rpms.into_iter().map(|(n, _)| n).collect();
            timings.install = t.elapsed();
            tracing::info!(
                packages = installed.len(),
                transient_removed = removed,
                ms = timings.install.as_millis() as u64,
                "installed with the image's rpm"
            );
            let t = Instant::now();
            let changes = mk_oci::diff(&before, &root)?;
            tracing::info!(changes = changes.len(), "difference to the base");
            let l = mk_oci::write_layer(&root, &changes, compression, epoch, &layout)?;
            timings.layer = t.elapsed();
            l
        }
    };
    tracing::info!(
        digest = %layer.digest,
        bytes = layer.size,
        entries = layer.entries,
        ms = timings.layer.as_millis() as u64,
        "layer written"
    );

    // 3. Config, manifest, index.json; rename into place.
    let mut config = image_config(
        &recipe,
        &revision,
        base.as_ref().map(|b| (b.digest.as_str(), b.name.as_str())),
        epoch,
        &installed,
    );
    config.annotations.insert(INPUTS_ANNOTATION.into(), key);
    let manifest = mk_oci::write_image(
        &layout,
        base.as_ref().map(|b| mk_oci::Base {
            layout: &b.layout,
            image: &b.image,
        }),
        std::slice::from_ref(&layer),
        &config,
        Some(&recipe.version),
    )?;
    // `ctr images import` names an image after `io.containerd.image.name`;
    // a bare tag in ref.name alone becomes `import-<date>:<tag>`, which no
    // static pod could refer to. skopeo and umoci ignore the annotation.
    let mut named = manifest.clone();
    named.annotations.insert(
        "io.containerd.image.name".into(),
        format!("{}:{}", recipe.name, recipe.version),
    );
    layout.add_manifest(&named, Some(&recipe.version))?;
    let written = layout.image(&manifest.digest)?;
    let total_layer_size = written.layers.iter().map(|l| l.size).sum();
    let config_digest = written.manifest.config.digest.to_string();
    drop(layout);
    drop(written);
    // The rootfs is no longer needed; removing it first keeps the exchange
    // below cheap to clean up.
    std::fs::remove_dir_all(&root).map_err(io(&root))?;
    place_dir(&layout_dir, out)?;
    if let Some(a) = &opts.archive {
        mk_oci::write_archive(out, a)?;
    }
    drop(work);
    timings.total = started.elapsed();
    let built = Built {
        layout: out.clone(),
        archive: opts.archive.clone(),
        reference: format!("{}:{}", recipe.name, recipe.version),
        ref_name: recipe.version.clone(),
        manifest_digest: manifest.digest.to_string(),
        config_digest,
        layer_digest: layer.digest.to_string(),
        layer_size: layer.size,
        total_layer_size,
        installed,
        reused: false,
        timings,
    };
    tracing::info!(
        image = %built.reference,
        digest = %built.manifest_digest,
        layout = %out.display(),
        secs = format!("{:.1}", built.timings.total.as_secs_f64()),
        "image built"
    );
    Ok(built)
}

/// Every path the install added must be owned by a package (R18).
fn check_owned(
    root: &Path,
    before: &mk_oci::TreeSnapshot,
    allowed: &[String],
) -> Result<(), BuildError> {
    let owned = mk_install::verify::owned_paths(root).map_err(RootfsError::from)?;
    let unowned =
        mk_install::verify::find_unowned(root, &owned, allowed).map_err(RootfsError::from)?;
    let new: Vec<String> = unowned
        .failures
        .into_iter()
        .filter(|p| {
            let rel = Path::new(p.trim_start_matches('/'));
            !before.entries.contains_key(rel)
                && !rel.starts_with(rootfs::PACKAGES_DIR)
                && !rootfs::TRANSIENT.iter().any(|t| rel == Path::new(t))
        })
        .collect();
    if !new.is_empty() {
        return Err(BuildError::Unowned { paths: new });
    }
    Ok(())
}

/// Manifest annotation holding [`inputs_key`]: a rebuild into the same
/// `--out` with unchanged inputs finds it and rebuilds nothing (R4).
pub const INPUTS_ANNOTATION: &str = "org.mk.image-build.inputs";

/// Everything that determines the image's bytes.
#[derive(Debug, Clone, Copy)]
pub struct InputsKey<'a> {
    /// The recipe file as written.
    pub recipe: &'a [u8],
    /// Base manifest digest and the name recorded for it.
    pub base: Option<(&'a str, &'a str)>,
    /// The resolved closure: NEVRA and SHA-256 of each file.
    pub packages: &'a [(String, String)],
    pub source_date_epoch: u64,
    pub revision: &'a str,
    pub allowed_unowned: &'a [String],
}

/// `sha256:` over the inputs and this builder's version. Pure.
pub fn inputs_key(k: &InputsKey) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut line = |tag: &str, v: &[u8]| {
        h.update(tag.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v);
    };
    line("builder", env!("CARGO_PKG_VERSION").as_bytes());
    // Bumped whenever what the builder writes changes for the same inputs
    // (2: io.containerd.image.name on the index entry), so that an older
    // layout is not reused.
    line("layout-format", b"2");
    line("recipe", k.recipe);
    if let Some((d, n)) = k.base {
        line("base", d.as_bytes());
        line("base-name", n.as_bytes());
    }
    for (nevra, sha) in k.packages {
        line("package", nevra.as_bytes());
        line("sha256", sha.as_bytes());
    }
    line("epoch", k.source_date_epoch.to_string().as_bytes());
    line("revision", k.revision.as_bytes());
    let mut allowed = k.allowed_unowned.to_vec();
    allowed.sort();
    for a in &allowed {
        line("allow", a.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The image already at `out`, if it was built from inputs with `key` and
/// all its blobs are intact.
fn reuse(
    out: &Path,
    recipe: &Recipe,
    key: &str,
    opts: &BuildOptions,
    started: Instant,
) -> Result<Option<Built>, BuildError> {
    if !out.join("oci-layout").is_file() {
        return Ok(None);
    }
    let Ok(layout) = mk_oci::Layout::open(out) else {
        return Ok(None);
    };
    let Ok(image) = layout.image_by_ref(&recipe.version) else {
        return Ok(None);
    };
    if image
        .manifest
        .annotations
        .get(INPUTS_ANNOTATION)
        .map(String::as_str)
        != Some(key)
    {
        return Ok(None);
    }
    for l in &image.layers {
        if layout.verify_blob(l).is_err() {
            tracing::warn!(blob = %l.digest, "damaged layer in the existing layout: rebuilding");
            return Ok(None);
        }
    }
    if let Some(a) = &opts.archive {
        mk_oci::write_archive(out, a)?;
    }
    let last = image.layers.last().cloned();
    let built = Built {
        layout: out.to_path_buf(),
        archive: opts.archive.clone(),
        reference: format!("{}:{}", recipe.name, recipe.version),
        ref_name: recipe.version.clone(),
        manifest_digest: image.manifest_digest.to_string(),
        config_digest: image.manifest.config.digest.to_string(),
        layer_digest: last
            .as_ref()
            .map(|l| l.digest.to_string())
            .unwrap_or_default(),
        layer_size: last.map(|l| l.size).unwrap_or(0),
        total_layer_size: image.layers.iter().map(|l| l.size).sum(),
        installed: Vec::new(),
        reused: true,
        timings: Timings {
            total: started.elapsed(),
            ..Timings::default()
        },
    };
    tracing::info!(
        image = %built.reference,
        digest = %built.manifest_digest,
        layout = %out.display(),
        "unchanged inputs: the image at --out is up to date"
    );
    Ok(Some(built))
}

/// The last path component of an image name (`registry.k8s.io/etcd` ->
/// `etcd`): the recipe directory under `images/` by convention. Pure.
fn last_component(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// An image name as one file name (work directory prefix): `/` and `:`
/// become `_`. Pure.
fn file_name_part(name: &str) -> String {
    name.replace(['/', ':'], "_")
}

/// The image config the recipe describes. Pure.
pub fn image_config(
    recipe: &Recipe,
    revision: &str,
    base: Option<(&str, &str)>,
    epoch: u64,
    installed: &[String],
) -> mk_oci::ImageConfig {
    let mut labels: BTreeMap<String, String> = recipe.labels.clone();
    let created = mk_oci::rfc3339(epoch);
    labels.insert("org.opencontainers.image.title".into(), recipe.name.clone());
    labels.insert(
        "org.opencontainers.image.version".into(),
        recipe.version.clone(),
    );
    labels.insert(
        "org.opencontainers.image.revision".into(),
        revision.to_string(),
    );
    labels.insert(
        "org.opencontainers.image.source".into(),
        recipe
            .source
            .clone()
            .unwrap_or_else(|| format!("images/{}", last_component(&recipe.name))),
    );
    labels.insert("org.opencontainers.image.created".into(), created);
    let mut annotations = BTreeMap::new();
    if let Some((digest, name)) = base {
        labels.insert(
            "org.opencontainers.image.base.digest".into(),
            digest.to_string(),
        );
        annotations.insert(
            "org.opencontainers.image.base.digest".into(),
            digest.to_string(),
        );
        annotations.insert(
            "org.opencontainers.image.base.name".into(),
            name.to_string(),
        );
    }
    let mut env: Vec<String> = recipe.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if base.is_none() && !recipe.env.contains_key("PATH") {
        // A scratch image inherits no PATH; give the usual one.
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    let entrypoint = (!recipe.entrypoint.is_empty()).then(|| recipe.entrypoint.clone());
    // An entrypoint without cmd must not inherit the base's cmd (a CentOS
    // base says ["/bin/bash"], which would become the entrypoint's argument).
    let cmd = if recipe.cmd.is_empty() && entrypoint.is_some() {
        Some(Vec::new())
    } else {
        (!recipe.cmd.is_empty()).then(|| recipe.cmd.clone())
    };
    mk_oci::ImageConfig {
        user: Some(recipe.user.to_string()),
        entrypoint,
        cmd,
        env,
        exposed_ports: recipe.ports.iter().map(|p| p.to_string()).collect(),
        workdir: recipe.workdir.clone(),
        labels,
        annotations,
        source_date_epoch: epoch,
        // The request, not the whole closure: history shows in `docker
        // history`-style listings; the rpmdb has the full list.
        created_by: format!(
            "mk-compose image-build: rpm -i {}",
            recipe.packages.join(" ")
        ),
        comment: Some(format!(
            "{} package(s) installed with the image's own rpm",
            installed.len()
        )),
        ..mk_oci::ImageConfig::default()
    }
}

/// Moves the finished layout `from` to `to`: a plain rename when `to` is
/// absent; otherwise the two are exchanged atomically (renameat2
/// RENAME_EXCHANGE) and the old layout, now at `from`, is removed.
fn place_dir(from: &Path, to: &Path) -> Result<(), BuildError> {
    if std::fs::symlink_metadata(to).is_err() {
        return std::fs::rename(from, to).map_err(io(to));
    }
    mk_durable::exchange_dirs(from, to).map_err(io(to))?;
    std::fs::remove_dir_all(from).map_err(io(from))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(extra: &str) -> Recipe {
        let text = format!(
            "name: etcd\nversion: 3.4.23-0\nbase: scratch\npackages: [etcd-server]\nuser: \"401:401\"\nentrypoint: [/usr/bin/etcd]\nports: [2379/tcp]\nlabels:\n  io.mk.x: y\n{extra}"
        );
        Recipe::parse(Path::new("image.yaml"), &text).unwrap()
    }

    #[test]
    fn config_carries_the_recipe_and_the_builder_labels() {
        let r = recipe("source: images/etcd\n");
        let c = image_config(
            &r,
            "abc123",
            Some(("sha256:00", "base.tar")),
            1_700_000_000,
            &[],
        );
        assert_eq!(c.user.as_deref(), Some("401:401"));
        assert_eq!(c.entrypoint, Some(vec!["/usr/bin/etcd".to_string()]));
        // No cmd: the base's cmd must not become etcd's argument.
        assert_eq!(c.cmd, Some(vec![]));
        assert_eq!(c.exposed_ports, ["2379/tcp"]);
        let l = &c.labels;
        assert_eq!(l["org.opencontainers.image.title"], "etcd");
        assert_eq!(l["org.opencontainers.image.version"], "3.4.23-0");
        assert_eq!(l["org.opencontainers.image.revision"], "abc123");
        assert_eq!(l["org.opencontainers.image.source"], "images/etcd");
        assert_eq!(
            l["org.opencontainers.image.created"],
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(l["org.opencontainers.image.base.digest"], "sha256:00");
        assert_eq!(l["io.mk.x"], "y");
        assert_eq!(
            c.annotations["org.opencontainers.image.base.name"],
            "base.tar"
        );
        // A base brings its own PATH.
        assert!(c.env.is_empty());
    }

    #[test]
    fn full_names_keep_their_host_in_the_title_and_a_plain_source() {
        let text = "name: registry.k8s.io/coredns/coredns\nversion: v1.11.1\nbase: scratch\npackages: [coredns]\nuser: \"406:406\"\nentrypoint: [/usr/bin/coredns]\n";
        let r = Recipe::parse(Path::new("image.yaml"), text).unwrap();
        let c = image_config(&r, "r", None, 0, &[]);
        assert_eq!(
            c.labels["org.opencontainers.image.title"],
            "registry.k8s.io/coredns/coredns"
        );
        assert_eq!(
            c.labels["org.opencontainers.image.source"],
            "images/coredns"
        );
        assert_eq!(
            file_name_part("localhost:5000/coredns/coredns"),
            "localhost_5000_coredns_coredns"
        );
    }

    #[test]
    fn scratch_images_get_a_path_and_no_base_labels() {
        let r = recipe("cmd: [/bin/true]\n");
        let c = image_config(&r, "r", None, 0, &[]);
        assert!(c.env[0].starts_with("PATH=/usr/local/sbin:"), "{:?}", c.env);
        assert_eq!(c.cmd, Some(vec!["/bin/true".to_string()]));
        assert_eq!(c.labels["org.opencontainers.image.source"], "images/etcd");
        assert!(!c
            .labels
            .contains_key("org.opencontainers.image.base.digest"));
        assert!(c.annotations.is_empty());
    }

    #[test]
    fn the_inputs_key_changes_with_every_input() {
        let pkgs = vec![("a-1-1.x86_64".to_string(), "00".repeat(32))];
        let allowed = vec!["/etc/passwd-".to_string()];
        let k = InputsKey {
            recipe: b"name: x",
            base: Some(("sha256:11", "base.tar")),
            packages: &pkgs,
            source_date_epoch: 1,
            revision: "r",
            allowed_unowned: &allowed,
        };
        let first = inputs_key(&k);
        assert_eq!(first, inputs_key(&k), "deterministic");
        let other_pkgs = vec![("a-1-1.x86_64".to_string(), "01".repeat(32))];
        let none: Vec<String> = Vec::new();
        for changed in [
            InputsKey {
                recipe: b"name: y",
                ..k
            },
            InputsKey {
                base: Some(("sha256:12", "base.tar")),
                ..k
            },
            InputsKey { base: None, ..k },
            InputsKey {
                packages: &other_pkgs,
                ..k
            },
            InputsKey {
                source_date_epoch: 2,
                ..k
            },
            InputsKey { revision: "s", ..k },
            InputsKey {
                allowed_unowned: &none,
                ..k
            },
        ] {
            assert_ne!(inputs_key(&changed), first);
        }
    }
}
