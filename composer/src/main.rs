//! mk-compose: from offline RPM repositories (and later container images,
//! kickstarts and overlays) builds the signed offline bundle that an
//! air-gapped site receives, and verifies it there.

mod cmd;
mod inputs;
mod select;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mk-compose",
    version,
    about = "Build and verify mk's signed offline bundle",
    after_help = "Example:\n  mk-compose keygen --out-dir keys --password-file pw\n  mk-compose bundle --repo rpms/ --kickstart kickstart/node.ks \\\n      --key keys/mk.key --password-file pw --out mk.iso\n  mk-compose verify mk.iso --trust keys/mk.pub"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Repo(cmd::repo::Args),
    Resolve(cmd::resolve::Args),
    Keygen(cmd::keygen::Args),
    Bundle(cmd::bundle::Args),
    Verify(cmd::verify::Args),
    Pki(cmd::pki::Args),
    Image(cmd::image::Args),
    ImageBuild(cmd::image_build::Args),
    ConfigDrive(cmd::config_drive::Args),
    Package(cmd::package::Args),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Repo(a) => cmd::repo::run(a),
        Command::Resolve(a) => cmd::resolve::run(a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Bundle(a) => cmd::bundle::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Pki(a) => cmd::pki::run(a),
        Command::Image(a) => cmd::image::run(a),
        Command::ImageBuild(a) => cmd::image_build::run(a),
        Command::ConfigDrive(a) => cmd::config_drive::run(a),
        Command::Package(a) => cmd::package::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
