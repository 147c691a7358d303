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
    let node_args = match &cli.command {
        Command::Install(args) => return install(args),
        c => c.node().expect("every slot command has a node"),
    };
    let node = match node_args.node() {
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
        Command::Install(_) => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mk-node: {e}");
            ExitCode::from(1)
        }
    }
}

/// `mk-node install`: the image onto a disk, then the caller reboots.
fn install(args: &mk_installer::cli::InstallArgs) -> ExitCode {
    use mk_installer::cli::Outcome;
    match mk_installer::cli::run(args) {
        Ok(Outcome::DryRun { disk, version }) => {
            println!("would install mk {version} onto {disk} (dry run: nothing written)");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Installed {
            disk,
            version,
            report,
        }) => {
            println!(
                "mk {version} installed onto {disk}: {} MB at {:.0} MB/s, {} partitions read back and checked{}",
                report.bytes / 1_000_000,
                report.bytes as f64 / 1e6 / report.write_seconds.max(1e-9),
                report.partitions.len(),
                match &report.grown {
                    Some(p) => format!(", {} extended to the disk's end", p.name),
                    None => String::new(),
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mk-node install: {e}");
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
