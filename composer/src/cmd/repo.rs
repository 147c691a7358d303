//! `mk-compose repo`: index a directory of RPMs (write createrepo-compatible
//! repodata) and list what a repository holds.

use crate::inputs;
use anyhow::{bail, Context};
use mk_rpmrepo::repodata::{write_repodata, WriteOptions};
use mk_rpmrepo::{scan_dir, Package};
use std::path::{Path, PathBuf};

/// RPM repositories: write repodata for a directory of RPMs, list packages.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    SOURCE_DATE_EPOCH=1700000000 mk-compose repo index rpms/\n  \
    mk-compose repo list rpms/\n  \
    dnf --repofrompath=mk,file://$PWD/rpms --repo=mk list --available")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Read every *.rpm below DIR and write DIR/repodata/ (primary,
    /// filelists, other, repomd.xml), replacing any previous repodata in one
    /// step.
    ///
    /// The repomd revision and timestamps are SOURCE_DATE_EPOCH when set;
    /// otherwise the newest build time among the packages (0 for an empty
    /// directory), so that the same RPMs always give the same bytes.
    Index {
        /// Directory holding the .rpm files (searched recursively).
        dir: PathBuf,
    },
    /// Print name-[epoch:]version-release.arch of every package, one per
    /// line, sorted.
    ///
    /// REPO is a repository with repodata/repomd.xml (read and checked against
    /// its checksums) or else a directory of .rpm files (headers read).
    List { repo: PathBuf },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Index { dir } => index(&dir),
        Command::List { repo } => list(&repo),
    }
}

fn index(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!("{}: not a directory", dir.display());
    }
    // Checked before the (long) scan so that a typo fails at once.
    let epoch = inputs::source_date_epoch()?;
    let packages =
        scan_dir(dir).with_context(|| format!("reading RPMs below {}", dir.display()))?;
    let timestamp =
        epoch.unwrap_or_else(|| packages.iter().map(|p| p.build_time).max().unwrap_or(0));
    write_repodata(dir, &packages, &WriteOptions::with_timestamp(timestamp))
        .with_context(|| format!("writing {}", dir.join("repodata").display()))?;
    tracing::info!(packages = packages.len(), timestamp, dir = %dir.display(), "indexed");
    Ok(())
}

fn list(repo: &Path) -> anyhow::Result<()> {
    let mut packages: Vec<Package> = inputs::load_repo(repo)?;
    let mut lines: Vec<String> = packages.drain(..).map(|p| p.nevra()).collect();
    lines.sort();
    let mut out = String::with_capacity(lines.len() * 40);
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}
