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
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
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
    }
    Ok(())
}
