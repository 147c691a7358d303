//! `mk-fixture-distro build [--list FILE] [--cache-dir DIR]`: prints the
//! repository path as the last line of stdout.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "Debian packages repackaged as an RPM repository (mk's test fixture distribution)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Resolve, download, convert and index (or reuse the cached result).
    Build {
        #[arg(long, default_value = "qemu-tests/fixture-distro/packages.txt")]
        list: PathBuf,
        #[arg(long, default_value = "target/fixture-distro")]
        cache_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    mk_cmdlog::init("info");
    match Cli::parse().command {
        Command::Build { list, cache_dir } => {
            let repo = mk_fixture_distro::build(&mk_fixture_distro::Options { list, cache_dir })?;
            println!("{}", repo.display());
        }
    }
    Ok(())
}
