//! `mk-synthrpm`: writes synthetic RPM repositories for bench scripts.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "mk-synthrpm",
    version,
    about = "Writes synthetic RPM packages for benchmarks and tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A self-contained repository of packages with deep dependency chains
    /// (several versions, epochs, obsoletes, file requires).
    Chain {
        /// Number of .rpm files to write.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The same seed gives the same packages, bit for bit.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// The bundled example's repository (a small node-shaped package set).
    Example {
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    mk_cmdlog::init("info");
    match Cli::parse().command {
        Command::Chain { count, out, seed } => {
            let start = Instant::now();
            let paths = mk_synthrpm::generate_chain_repo(&out, count, seed)
                .with_context(|| format!("writing {count} packages into {}", out.display()))?;
            tracing::info!(
                packages = paths.len(),
                seconds = format!("{:.2}", start.elapsed().as_secs_f64()),
                "done"
            );
        }
        Command::Example { out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let packages = mk_synthrpm::example::example_packages();
            for p in &packages {
                p.write_to_dir(&out)
                    .with_context(|| format!("writing {} into {}", p.file_name(), out.display()))?;
            }
            tracing::info!(packages = packages.len(), dir = %out.display(), "example repository written");
        }
    }
    Ok(())
}
