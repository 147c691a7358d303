//! `mk-compose repo`: index a directory of RPMs (write createrepo-compatible
//! repodata) and list what a repository holds.

use anyhow::{bail, Context};
use mk_rpmrepo::repodata::{read_repodata, write_repodata, WriteOptions};
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
    let epoch = source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())?;
    let packages =
        scan_dir(dir).with_context(|| format!("reading RPMs below {}", dir.display()))?;
    let timestamp =
        epoch.unwrap_or_else(|| packages.iter().map(|p| p.build_time).max().unwrap_or(0));
    write_repodata(dir, &packages, &WriteOptions::with_timestamp(timestamp))
        .with_context(|| format!("writing {}", dir.join("repodata").display()))?;
    tracing::info!(packages = packages.len(), timestamp, dir = %dir.display(), "indexed");
    Ok(())
}

/// SOURCE_DATE_EPOCH as the reproducible-builds spec defines it: unset or
/// empty means unset; anything else must be a decimal integer.
fn source_date_epoch(value: Option<&str>) -> anyhow::Result<Option<u64>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            anyhow::anyhow!(
                "SOURCE_DATE_EPOCH={v:?} is not a non-negative integer (seconds since 1970)"
            )
        }),
    }
}

fn list(repo: &Path) -> anyhow::Result<()> {
    let mut packages: Vec<Package> = if repo.join("repodata").join("repomd.xml").is_file() {
        read_repodata(repo).with_context(|| format!("reading repodata of {}", repo.display()))?
    } else if repo.is_dir() {
        scan_dir(repo).with_context(|| format!("reading RPMs below {}", repo.display()))?
    } else {
        bail!(
            "{}: neither a repository (no repodata/repomd.xml) nor a directory",
            repo.display()
        );
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_parsing() {
        assert_eq!(source_date_epoch(None).unwrap(), None);
        assert_eq!(source_date_epoch(Some("")).unwrap(), None);
        assert_eq!(
            source_date_epoch(Some("1700000000")).unwrap(),
            Some(1_700_000_000)
        );
        let e = source_date_epoch(Some("yesterday")).unwrap_err();
        assert!(e.to_string().contains("SOURCE_DATE_EPOCH"), "{e}");
    }
}
