//! `mk-compose image`: a node disk image (raw and/or qcow2) from an image
//! recipe. The pipeline lives in mk-image; this parses arguments and prints
//! the result.

use crate::inputs;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Build a bootable node disk image (raw and/or qcow2) from an image recipe.
///
/// From the recipe (image.yaml + kickstart) and offline repositories:
/// resolve, install with the target's own rpm, overlays as RPMs, units,
/// %post, initramfs, SELinux labels, GPT/ESP/ext4. Needs root.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
    sudo mk-compose image --recipe examples/image/image.yaml --cache-dir target/image-cache\n\n\
    Outputs are written atomically (nothing half-written on failure). With --cache-dir an\n\
    unchanged-input rebuild copies the cached image (same bytes as a fresh build).\n\n\
    Beside the first output (raw, else qcow2): OUT.spdx.json (SPDX 2.3 SBOM of the\n\
    installed RPMs) and OUT.provenance.json (input and output digests); docs/sbom.md.")]
pub struct Args {
    /// The image recipe (image.yaml); its kickstart, repositories, outputs
    /// and overlays are relative to it.
    #[arg(long, value_name = "FILE")]
    recipe: PathBuf,
    /// Content-addressed cache of finished images (keyed by every input).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// comps.xml, for @group entries in %packages.
    #[arg(long, value_name = "FILE")]
    comps: Option<PathBuf>,
    /// An unowned path the target's scriptlets leave that the R18 check
    /// should accept (exact path or DIR/**). Repeatable.
    #[arg(long = "allow-unowned", value_name = "PATTERN")]
    allow_unowned: Vec<String>,
    /// Accept CentOS 7 scriptlet state (alternatives, useradd backups ...).
    #[arg(long)]
    centos7_scriptlet_state: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut allowed = args.allow_unowned;
    if args.centos7_scriptlet_state {
        allowed.extend(
            mk_install::CENTOS7_SCRIPTLET_STATE
                .iter()
                .map(|s| s.to_string()),
        );
    }
    let report = mk_image::build(&mk_image::BuildOptions {
        recipe: args.recipe.clone(),
        cache_dir: args.cache_dir,
        comps: args.comps,
        allowed_unowned: allowed,
        source_date_epoch: inputs::source_date_epoch()?,
    })?;
    if let Some(r) = &report.raw {
        println!("{}  {}", report.raw_sha256, r.display());
    }
    if let (Some(q), Some(s)) = (&report.qcow2, &report.qcow2_sha256) {
        println!("{s}  {}", q.display());
    }
    let (sbom, provenance) =
        write_records(&args.recipe, &report).context("writing the image's SBOM and provenance")?;
    println!("{}\n{}", sbom.display(), provenance.display());
    Ok(())
}

/// The image's SBOM and provenance beside its first output (mk-sbom).
fn write_records(
    recipe_path: &Path,
    report: &mk_image::Report,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let recipe = mk_kickstart::ImageRecipe::load(recipe_path)?;
    let repos = recipe
        .repos
        .iter()
        .map(|d| Ok((d.clone(), mk_sbom::image::read_repo(d)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut outputs = vec![];
    if let Some(r) = &report.raw {
        outputs.push(("raw", r.clone(), report.raw_sha256.clone()));
    }
    if let (Some(q), Some(s)) = (&report.qcow2, &report.qcow2_sha256) {
        outputs.push(("qcow2", q.clone(), s.clone()));
    }
    let out = outputs
        .first()
        .map(|(_, p, _)| p.clone())
        .context("the build reported no output file")?;
    let dir_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = recipe_path
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().and_then(dir_name))
        .unwrap_or_else(|| "node".into());
    Ok(mk_sbom::image::write_image_records(
        &out,
        &mk_sbom::image::ImageRecord {
            name: &name,
            version: env!("CARGO_PKG_VERSION"),
            tool: concat!("mk-compose-", env!("CARGO_PKG_VERSION")),
            source_date_epoch: report.source_date_epoch,
            installed: &report.packages,
            repos: &repos,
            recipe: recipe_path,
            kickstart: &recipe.kickstart,
            outputs,
            parameters: vec![
                ("image-inputs-key".into(), report.key.clone()),
                (
                    "role-config-schema".into(),
                    mk_roleconfig::API_VERSION.into(),
                ),
            ],
        },
    )?)
}
