//! mk-node: A/B root slots on an mk node (docs/update.md). The logic is in
//! mk-slots (crates/slots); this is its command line.

use std::process::ExitCode;

use clap::Parser;
use mk_slots::cli::{Cli, Command};
use mk_slots::plan::MarkGood;
use mk_slots::update;

fn main() -> ExitCode {
    // Info by default: an update reports its progress and throughput.
    mk_cmdlog::init("info");
    let cli = Cli::parse();
    let node = match cli.command.node().node() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("mk-node: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match &cli.command {
        Command::Update(u) => mk_bundle::PublicKey::from_file(&u.trust)
            .map_err(|e| format!("reading the trusted key: {e}"))
            .and_then(|key| update::update(&node, &u.bundle, &key).map_err(|e| chain(&e)))
            .map(|done| {
                println!(
                    "slot {} now holds version {} ({} MB at {:.0} MB/s, read back and checked); reboot to try it",
                    done.slot,
                    done.version,
                    done.write.bytes / 1_000_000,
                    done.write.write_mb_s()
                );
            }),
        Command::MarkGood(_) => update::mark_good(&node)
            .map_err(|e| chain(&e))
            .map(|d| match d {
                MarkGood::Promote { slot, .. } => println!("slot {slot} is now the default"),
                MarkGood::Nothing(why) => println!("{why}"),
            }),
        Command::Status(_) => update::status(&node)
            .map_err(|e| chain(&e))
            .map(|s| print!("{s}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mk-node: {e}");
            ExitCode::from(1)
        }
    }
}

/// An error and its causes on one line, each once.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
