//! `mk-compose bundle`: the signed offline bundle. Resolves the kickstarts'
//! package sets against the offline repositories, stages `repo/` (the RPMs
//! and fresh repodata, with the comps that defined @groups), `registry/`
//! and `kickstart/`, then signs the manifest and writes the ISO (mk-bundle).

use crate::inputs::{self, SelectionArgs, Sourced};
use crate::select::select_from_args;
use anyhow::{bail, Context};
use mk_bundle::{finish_bundle, BundleOptions};
use mk_rpmrepo::repodata::{write_repodata, WriteOptions};
use mk_rpmrepo::{verify_package_bytes, Package};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Build the signed offline bundle (ISO 9660 with repo/, registry/,
/// kickstart/, MANIFEST and MANIFEST.minisig).
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
    mk-compose bundle --repo rpms/ --kickstart kickstart/node.ks \\\n      \
    --key keys/mk.key --password-file pw --out mk.iso\n  \
    mk-compose verify mk.iso --trust keys/mk.pub\n\n\
    --image etcd=images/etcd/out (repeatable) serves that OCI layout's tagged\n\
    images as repository `etcd` from the bundle's registry/ (docs/registry.md).\n\n\
    --node-image out/node.raw adds /image/ (root.img.zst, vmlinuz, initramfs.img,\n\
    slot.cfg, image.json), what `mk-node update` writes into a node's inactive slot\n\
    (docs/update.md).\n\n\
    The ISO's dates are SOURCE_DATE_EPOCH when set, otherwise the newest build\n\
    time among the bundled packages: the same inputs give the same bytes.")]
pub struct Args {
    #[command(flatten)]
    selection: SelectionArgs,
    /// Secret key from `mk-compose keygen` (minisign format).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Read the key's password from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "password_fd")]
    password_file: Option<PathBuf>,
    /// Read the key's password from this inherited file descriptor.
    #[arg(long, value_name = "N")]
    password_fd: Option<i32>,
    /// Where to write the ISO (replaced atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Bundle name, in the signed trusted comment.
    #[arg(long, default_value = "mk")]
    name: String,
    /// Bundle version, in the signed trusted comment.
    #[arg(long = "bundle-version", default_value = env!("CARGO_PKG_VERSION"))]
    bundle_version: String,
    /// ISO volume label.
    #[arg(long, default_value = "MK_BUNDLE")]
    label: String,
    /// Container images for registry/: NAME=LAYOUT_DIR, an OCI image layout
    /// whose tags (index.json `org.opencontainers.image.ref.name`) are
    /// served as repository NAME. Repeatable; one NAME may come from
    /// several layouts.
    #[arg(long = "image", value_name = "NAME=LAYOUT_DIR")]
    images: Vec<mk_registry::Image>,
    /// A raw node disk image from `mk-compose image`: its slot A root,
    /// kernel, initramfs and slot.cfg go into /image/ for `mk-node update`.
    #[arg(long, value_name = "NODE.raw")]
    node_image: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Cheap checks first: a wrong password should not cost a resolution.
    let epoch = inputs::source_date_epoch()?;
    let key = inputs::secret_key(&args.key, args.password_file.clone(), args.password_fd)?;
    let sel = select_from_args(&args.selection)?;
    let chosen: Vec<&Sourced> = sel.chosen.iter().map(|&i| &sel.pool[i]).collect();
    let source_date_epoch = epoch.unwrap_or_else(|| {
        chosen
            .iter()
            .map(|s| s.package.build_time)
            .max()
            .unwrap_or(0)
    });

    let out_dir = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // Staged beside the output (same filesystem), removed on every path out.
    let staging = tempfile::Builder::new()
        .prefix(".mk-bundle-staging.")
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a staging directory in {}", out_dir.display()))?;
    let root = staging.path();

    let repo = root.join("repo");
    let packages = stage_packages(&chosen, &repo.join("Packages"))?;
    // The comps used travel with the packages, so that the site's dnf can
    // install the same @groups.
    let repodata_opts = WriteOptions {
        comps: sel.comps.as_ref().map(|c| c.xml.clone()),
        ..WriteOptions::with_timestamp(source_date_epoch)
    };
    write_repodata(&repo, &packages, &repodata_opts)
        .with_context(|| format!("writing repodata into {}", repo.display()))?;
    // The container images, as a static read-only registry (present, with
    // an empty catalog, when there are none).
    let registry = mk_registry::write_registry(&args.images, &root.join("registry"))
        .context("staging the container registry")?;
    stage_kickstarts(&args.selection.kickstarts, &root.join("kickstart"))?;
    if let Some(raw) = &args.node_image {
        let info = mk_slots::node_image::stage(raw, root)
            .with_context(|| format!("staging the node image {}", raw.display()))?;
        println!(
            "node image {}: version {}, root {} bytes (sha256 {}), kernel {}",
            raw.display(),
            info.version,
            info.root.size,
            info.root.sha256,
            info.kernel_version.as_deref().unwrap_or("(unknown)")
        );
    }
    // SBOM and provenance before the MANIFEST: both get signed (docs/sbom.md).
    let mut kickstarts: Vec<PathBuf> = std::fs::read_dir(root.join("kickstart"))
        .context("listing the staged kickstarts")?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .context("listing the staged kickstarts")?;
    kickstarts.sort();
    mk_sbom::bundle::write_bundle_records(
        root,
        &mk_sbom::bundle::BundleRecord {
            name: &args.name,
            version: &args.bundle_version,
            tool: concat!("mk-compose-", env!("CARGO_PKG_VERSION")),
            source_date_epoch,
            packages: &packages,
            images: mk_sbom::oci::from_registry(&root.join("registry"), &registry.tags, None)?,
            kickstarts,
            parameters: vec![(
                "role-config-schema".into(),
                mk_roleconfig::API_VERSION.into(),
            )],
        },
    )
    .context("writing the bundle's SBOM and provenance")?;

    let finished = finish_bundle(
        root,
        &args.out,
        &key,
        &BundleOptions {
            name: args.name.clone(),
            version: args.bundle_version.clone(),
            volume_label: args.label.clone(),
            source_date_epoch,
        },
    )
    .with_context(|| format!("writing the bundle {}", args.out.display()))?;
    println!(
        "{}: {} packages, {} container image tags, {} files, MANIFEST sha256 {}, signed by key {}",
        args.out.display(),
        packages.len(),
        registry.tags.values().map(|t| t.len()).sum::<usize>(),
        finished.files,
        finished.manifest_sha256.hex(),
        finished.key_id
    );
    Ok(())
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Copies the chosen RPMs into `dest`, checking each file against what its
/// repository says and against its own digests (so a file changed after it
/// was indexed, one damaged before, or repodata that lies, is caught).
/// Returns the packages with their bundle locations.
fn stage_packages(chosen: &[&Sourced], dest: &Path) -> anyhow::Result<Vec<Package>> {
    create_dir(dest)?;
    // Two repositories may carry the same file; the same name with other
    // content would be ambiguous for the bundle's repo/.
    let mut by_name: BTreeMap<String, &Sourced> = BTreeMap::new();
    for s in chosen {
        let name = file_name(&s.package.location)?;
        if let Some(prev) = by_name.insert(name.clone(), s) {
            if prev.package.checksum != s.package.checksum {
                bail!(
                    "two different packages are both named {name}: {} and {}",
                    prev.file().display(),
                    s.file().display()
                );
            }
        }
    }
    let bar = crate::progress::packages_bar(by_name.len(), "staging");
    let staged: Vec<Package> = by_name
        .par_iter()
        .map(|(name, s)| {
            copy_checked(&s.file(), &dest.join(name), &s.package)?;
            bar.inc(1);
            let mut p = s.package.clone();
            p.location = format!("Packages/{name}");
            Ok(p)
        })
        .collect::<anyhow::Result<_>>()?;
    bar.finish_and_clear();
    tracing::info!(packages = staged.len(), "packages staged");
    Ok(staged)
}

fn file_name(location: &str) -> anyhow::Result<String> {
    match location.rsplit('/').next() {
        Some(n) if n.ends_with(".rpm") && n != ".rpm" && !n.starts_with('.') => Ok(n.to_string()),
        _ => bail!("package location {location:?} does not name an .rpm file"),
    }
}

/// Copies one package after checking it fully (`repo verify`'s check: the
/// SHA-256 its repository lists, its size, header and payload digests). This
/// is the last look before the bundle is signed, and `repo index` leaves
/// payload digests unchecked (see mk_rpmrepo::Check::Header).
fn copy_checked(src: &Path, dst: &Path, package: &Package) -> anyhow::Result<()> {
    let bytes = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    let problems = verify_package_bytes(&bytes, package);
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!(
            "{}: {}; the file changed since it was indexed, or was damaged before (`mk-compose repo verify` checks a whole repository)",
            src.display(),
            list.join("; ")
        );
    }
    std::fs::write(dst, &bytes).with_context(|| format!("writing {}", dst.display()))
}

fn stage_kickstarts(kickstarts: &[PathBuf], dest: &Path) -> anyhow::Result<()> {
    create_dir(dest)?;
    let mut seen = BTreeMap::new();
    for ks in kickstarts {
        let name = ks
            .file_name()
            .with_context(|| format!("{}: not a file name", ks.display()))?
            .to_string_lossy()
            .into_owned();
        if let Some(prev) = seen.insert(name.clone(), ks) {
            bail!(
                "two kickstarts are both named {name}: {} and {}",
                prev.display(),
                ks.display()
            );
        }
        std::fs::copy(ks, dest.join(&name)).with_context(|| format!("copying {}", ks.display()))?;
    }
    Ok(())
}
