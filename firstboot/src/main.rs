//! mk-firstboot: runs on every boot of an mk node, before containerd and the
//! kubelet. This is the skeleton: it reports its version; reading the role
//! config and applying it come with the first-boot issue.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mk-firstboot",
    version,
    about = "Bring an mk node to the state its role config describes",
    after_help = "Example:\n  mk-firstboot apply    # what mk-firstboot.service runs at every boot"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the node's role config (skeleton: reports the version only).
    Apply,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Apply => {
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "mk-firstboot started");
            println!("mk-firstboot {}: nothing to apply yet", env!("CARGO_PKG_VERSION"));
        }
    }
    Ok(())
}
