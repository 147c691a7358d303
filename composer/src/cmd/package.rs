//! `mk-compose package`: our own binaries as RPMs (R18), from a YAML spec
//! (packaging/*.yaml, docs/packaging.md; read and built by
//! `mk_rpmpack::spec`), reproducibly (SOURCE_DATE_EPOCH).

use anyhow::Context;
use mk_rpmpack::spec::{Inputs, Spec};
use std::path::PathBuf;

/// Build an RPM of our own binaries from a package spec (packaging/*.yaml).
///
/// Paths in the spec are relative to the spec file's directory; binaries
/// come from --binary-dir (a glibc 2.17 build, see packaging/build.sh).
/// Prints the RPM's path.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
    mk-compose package --spec packaging/mk-firstboot.yaml \\\n      \
    --binary-dir target/x86_64-unknown-linux-gnu/release --out out/rpms \\\n      \
    --source-revision \"$(git rev-parse HEAD)\"\n\n\
    packaging/build.sh OUTDIR builds the glibc 2.17 binary and runs this.")]
pub struct Args {
    /// The package spec (e.g. packaging/mk-firstboot.yaml).
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// Where the spec's `binary:` files are (e.g. target/x86_64-unknown-linux-gnu/release).
    #[arg(long, value_name = "DIR")]
    binary_dir: PathBuf,
    /// Output directory for the RPM.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Build time and every file's mtime (default: $SOURCE_DATE_EPOCH, else
    /// mk-rpmpack's fixed default).
    #[arg(long, value_name = "SECONDS")]
    source_date_epoch: Option<u32>,
    /// The source revision the binaries were built from (e.g. `git
    /// rev-parse HEAD`), stored as the RPM's VCS tag and reported in SBOMs.
    #[arg(long, value_name = "REV")]
    source_revision: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = Spec::load(&args.spec)?;
    let epoch = match args.source_date_epoch {
        Some(e) => Some(e),
        None => crate::inputs::source_date_epoch()?
            .map(|e| u32::try_from(e).context("SOURCE_DATE_EPOCH beyond 2106"))
            .transpose()?,
    };
    let accounts_pre = mk_nodeconf::users::pre_script(mk_nodeconf::users::ALL);
    let inputs = Inputs {
        binary_dir: &args.binary_dir,
        build_time: epoch,
        cargo_version: env!("CARGO_PKG_VERSION"),
        service_accounts_pre: &accounts_pre,
    };
    let mut pkg = spec
        .package(&inputs)
        .with_context(|| format!("{}", args.spec.display()))?;
    if let Some(rev) = &args.source_revision {
        pkg.vcs(rev);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = pkg.build_to_dir(&args.out)?;
    tracing::info!(package = %path.display(), files = pkg.files().len(), "built");
    println!("{}", path.display());
    Ok(())
}
