//! `mk-compose repo`: index a directory of RPMs (write createrepo-compatible
//! repodata), list what a repository holds, and check its package files
//! against its repodata.

use crate::inputs;
use anyhow::{bail, Context};
use mk_rpmrepo::repodata::{read_group, write_repodata, WriteOptions};
use mk_rpmrepo::{scan_dir, verify_package_file, FileProblem, Package};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// RPM repositories: write repodata for a directory of RPMs, list packages,
/// verify package files.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    SOURCE_DATE_EPOCH=1700000000 mk-compose repo index rpms/\n  \
    mk-compose repo list rpms/\n  \
    mk-compose repo verify rpms/\n  \
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
    #[command(after_help = "Example:\n  SOURCE_DATE_EPOCH=1700000000 mk-compose repo index rpms/")]
    Index {
        /// Directory holding the .rpm files (searched recursively).
        dir: PathBuf,
        /// comps.xml to list in repomd.xml (as `group` and `group_gz`, as
        /// `createrepo_c -g` does), so that @groups resolve from the
        /// repository alone.
        #[arg(long, value_name = "FILE")]
        comps: Option<PathBuf>,
    },
    /// Print name-[epoch:]version-release.arch of every package, one per
    /// line, sorted.
    ///
    /// REPO is a repository with repodata/repomd.xml (read and checked against
    /// its checksums) or else a directory of .rpm files (headers read). For a
    /// repository this shows the metadata only: the package files are not
    /// read; `mk-compose repo verify REPO` checks them.
    #[command(
        after_help = "Example:\n  mk-compose repo list rpms/\n  mk-compose repo list /srv/mk/centos-7.6"
    )]
    List {
        /// The repository (with repodata/) or directory of .rpm files.
        repo: PathBuf,
    },
    /// Check every package file of a repository against its repodata: the
    /// file is there, has the listed size and SHA-256, and its header and
    /// payload pass their own digests. Also checks the repodata files
    /// (and comps) against repomd.xml.
    ///
    /// Exits non-zero naming every bad package and what is wrong with it
    /// (missing, truncated, checksum mismatch, bad header or payload digest).
    #[command(
        after_help = "Example:\n  mk-compose repo verify rpms/\n  mk-compose repo verify /srv/mk/centos-7.6"
    )]
    Verify {
        /// The repository (with repodata/repomd.xml).
        repo: PathBuf,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Index { dir, comps } => index(&dir, comps.as_deref()),
        Command::List { repo } => list(&repo),
        Command::Verify { repo } => verify(&repo),
    }
}

fn index(dir: &Path, comps: Option<&Path>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!("{}: not a directory", dir.display());
    }
    // Checked before the (long) scan so that a typo fails at once.
    let epoch = inputs::source_date_epoch()?;
    let comps = match comps {
        Some(path) => inputs::comps(Some(path), &[])?,
        None => None,
    };
    let packages =
        scan_dir(dir).with_context(|| format!("reading RPMs below {}", dir.display()))?;
    let timestamp =
        epoch.unwrap_or_else(|| packages.iter().map(|p| p.build_time).max().unwrap_or(0));
    let opts = WriteOptions {
        comps: comps.map(|c| c.xml),
        ..WriteOptions::with_timestamp(timestamp)
    };
    write_repodata(dir, &packages, &opts)
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

fn verify(repo: &Path) -> anyhow::Result<()> {
    if !repo.join("repodata").join("repomd.xml").is_file() {
        bail!(
            "{}: no repodata/repomd.xml to check the packages against (`mk-compose repo index` writes it)",
            repo.display()
        );
    }
    let packages = inputs::load_repo(repo)?;
    read_group(repo).with_context(|| format!("reading the comps of {}", repo.display()))?;
    let bar = crate::progress::packages_bar(packages.len(), "verifying");
    let problems: Vec<(&Package, Vec<FileProblem>)> = packages
        .par_iter()
        .map(|p| {
            let found = verify_package_file(repo, p);
            bar.inc(1);
            (p, found)
        })
        .filter(|(_, found)| !found.is_empty())
        .collect();
    bar.finish_and_clear();
    if problems.is_empty() {
        println!(
            "{}: all {} packages match the repodata (size, SHA-256, header and payload digests)",
            repo.display(),
            packages.len()
        );
        return Ok(());
    }
    let mut report = format!(
        "{} of {} packages in {} do not match the repodata:",
        problems.len(),
        packages.len(),
        repo.display()
    );
    for (p, found) in &problems {
        let what: Vec<String> = found.iter().map(ToString::to_string).collect();
        report.push_str(&format!(
            "\n  {} ({}): {}",
            p.location,
            p.nevra(),
            what.join("; ")
        ));
    }
    bail!(report)
}
