//! mk-compose: from offline RPM repositories (and later container images,
//! kickstarts and overlays) builds the signed offline bundle that an
//! air-gapped site receives, and verifies it there.

use clap::Parser;
use mk_compose::cli::Cli;

fn main() -> std::process::ExitCode {
    mk_cmdlog::init("info");
    let cli = Cli::parse();
    let result = cli.command.run();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
