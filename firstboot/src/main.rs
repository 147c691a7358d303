//! mk-firstboot: runs on every boot of an mk node, before containerd and the
//! kubelet. This is the skeleton: it reports its version; reading the role
//! config and applying it come with the first-boot issue.

use clap::{Parser, Subcommand};

mod validate;

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
    /// Check a role config file (on the admin's machine): YAML, fields,
    /// names, networks, certificates, and with --trust its signature.
    /// Changes nothing; exit status non-zero listing every problem.
    Validate(validate::Args),
    /// Renew this node's leaf certificates that are past two thirds of their
    /// life (run by mk-pki-renew.timer). Keys come from /dev/urandom, never
    /// getrandom(2), which CentOS 7's kernel lacks; see mk_pki::entropy.
    Renew {
        /// Node root the manifest's paths are under.
        #[arg(long, default_value = "/")]
        root: std::path::PathBuf,
        /// node_exporter textfile-collector file to write.
        #[arg(long, default_value = mk_pki::renew::METRICS_FILE)]
        metrics_file: std::path::PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Apply => {
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "mk-firstboot started");
            println!(
                "mk-firstboot {}: nothing to apply yet",
                env!("CARGO_PKG_VERSION")
            );
        }
        Command::Validate(args) => validate::run(&args)?,
        Command::Renew { root, metrics_file } => {
            let opts = mk_pki::renew::RenewOptions {
                root,
                metrics_file: Some(metrics_file),
            };
            let now = time::OffsetDateTime::now_utc();
            let report = mk_pki::renew::renew_node(&opts, now, &mut mk_pki::renew::Crictl)?;
            let renewed = report.renewed();
            println!(
                "renewed {} certificate(s): {}",
                renewed.len(),
                renewed.join(" ")
            );
            if report.failures() > 0 {
                anyhow::bail!(
                    "{} renewal step(s) failed; see the log above",
                    report.failures()
                );
            }
        }
    }
    Ok(())
}
