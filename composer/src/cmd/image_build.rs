//! `mk-compose image-build`: a container image from a recipe
//! (images/NAME/image.yaml), see docs/container-images.md.

use crate::inputs;
use anyhow::Context;
use std::path::PathBuf;

/// Build a container image (OCI layout) from a recipe: a base pinned by digest plus RPMs.
///
/// The recipe is images/NAME/image.yaml (docs/container-images.md); the
/// packages are installed with the image's own rpm and make one new layer.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  SOURCE_DATE_EPOCH=1700000000 mk-compose image-build images/etcd \\\n      --repo /srv/mk/rpms --base centos-7.6.1810.oci.tar \\\n      --base-digest sha256:… --revision $(git rev-parse HEAD) \\\n      --out out/etcd --archive out/etcd.oci.tar"
)]
pub struct Args {
    /// The image directory (images/NAME) holding image.yaml, or the file.
    dir: PathBuf,
    /// A repository: a createrepo repository or a directory of .rpm files.
    /// Repeat for several.
    #[arg(long = "repo", value_name = "DIR", required = true)]
    repos: Vec<PathBuf>,
    /// The OCI image layout to write (built beside it and renamed in; an
    /// existing layout there is replaced atomically).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also write the image as an OCI archive (tar of the layout).
    #[arg(long, value_name = "FILE.tar")]
    archive: Option<PathBuf>,
    /// The base image (OCI archive file or OCI layout directory), instead
    /// of the recipe's path.
    #[arg(long, value_name = "PATH")]
    base: Option<PathBuf>,
    /// The manifest digest the base must have (overrides base.digest).
    #[arg(long, value_name = "sha256:HEX")]
    base_digest: Option<String>,
    /// Build time in seconds since 1970 (default: $SOURCE_DATE_EPOCH).
    #[arg(long, value_name = "SECONDS")]
    source_date_epoch: Option<u64>,
    /// org.opencontainers.image.revision (default: the recipe's revision).
    #[arg(long, value_name = "REV")]
    revision: Option<String>,
    /// An unowned path the packages' scriptlets leave that the R18 check
    /// should accept (exact path or DIR/**). Repeatable.
    #[arg(long = "allow-unowned", value_name = "PATTERN")]
    allow_unowned: Vec<String>,
    /// Accept CentOS 7 scriptlet state (alternatives, useradd backups ...).
    #[arg(long)]
    centos7_scriptlet_state: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let epoch = match args.source_date_epoch {
        Some(e) => e,
        None => inputs::source_date_epoch()?.context(
            "no build time: set SOURCE_DATE_EPOCH or pass --source-date-epoch (images are reproducible: `created` comes from it)",
        )?,
    };
    let mut allowed = args.allow_unowned;
    if args.centos7_scriptlet_state {
        allowed.extend(
            mk_install::CENTOS7_SCRIPTLET_STATE
                .iter()
                .map(|s| s.to_string()),
        );
    }
    let built = mk_ocibuild::build(&mk_ocibuild::BuildOptions {
        recipe: args.dir,
        repos: args.repos,
        out: args.out,
        archive: args.archive,
        base: args.base,
        base_digest: args.base_digest,
        source_date_epoch: epoch,
        revision: args.revision,
        allowed_unowned: allowed,
    })?;
    println!("{}", built.reference);
    println!("{}", built.manifest_digest);
    println!("oci:{}:{}", built.layout.display(), built.ref_name);
    if let Some(a) = &built.archive {
        println!("oci-archive:{}", a.display());
    }
    Ok(())
}
