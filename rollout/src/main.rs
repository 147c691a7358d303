//! mk-rollout: operations on an mk cluster from the admin's machine:
//! `backup` (docs/etcd-backup.md), `plan` and `apply` (docs/rollout.md).

use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use mk_rollout::apply::{self, Outcome};
use mk_rollout::cli::{ApplyArgs, BackupArgs, Cli, Command, PlanArgs};

fn main() -> ExitCode {
    mk_cmdlog::init("info");
    match Cli::parse().command {
        Command::Backup(args) => backup(&args),
        Command::Plan(args) => plan(&args),
        Command::Apply(args) => apply(&args),
    }
}

fn batch(b: Option<u64>) -> Option<usize> {
    b.map(|b| usize::try_from(b).unwrap_or(usize::MAX))
}

fn plan(args: &PlanArgs) -> ExitCode {
    let bundle = match args.bundle.check() {
        Ok(b) => b,
        Err(e) => return failed("plan", &e),
    };
    let version = bundle
        .as_ref()
        .map(|b| mk_rollout::inventory::BundleVersion {
            file: &b.path,
            version: &b.version,
        });
    match mk_rollout::inventory::load_for(&args.inventory, version) {
        Ok(inv) => {
            let p = mk_rollout::plan::plan(&inv, batch(args.batch).unwrap_or(inv.worker_batch));
            if let Some(b) = &bundle {
                println!("{}", b.describe());
            }
            print!("{}", p.describe());
            ExitCode::SUCCESS
        }
        Err(e) => failed("plan", &e),
    }
}

fn apply(args: &ApplyArgs) -> ExitCode {
    // Before anything else: a bad bundle touches no node.
    let bundle = match args.bundle.check() {
        Ok(b) => b,
        Err(e) => return failed("apply", &e),
    };
    if let Some(b) = &bundle {
        println!("{}", b.describe());
    }
    let (inv, mut journal, path) =
        match apply::prepare(&args.inventory, batch(args.batch), bundle.as_ref()) {
            Ok(x) => x,
            Err(e) => return failed("apply", &e),
        };
    let mut live = match apply::Live::connect(&inv) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mk-rollout apply: {e}");
            return ExitCode::FAILURE;
        }
    };
    live.poll = std::time::Duration::from_secs(args.poll);
    live.bundle = bundle;
    let max_age = inv.etcd.as_ref().map_or(0, |e| e.backup_max_age);
    let result = apply::run(&path, &mut journal, &mut live, max_age, &mut |line| {
        println!("{line}")
    });
    match result {
        Ok((Outcome::Finished, t)) => {
            let nodes = u32::try_from(journal.plan.nodes.len().max(1)).unwrap_or(u32::MAX);
            println!(
                "every node is on image version {} ({} actions in {:.1?}; orchestration overhead \
                 {:.1?} per node, without drain, re-image and waits)",
                inv.image_version,
                t.actions,
                t.total,
                t.orchestration() / nodes
            );
            ExitCode::SUCCESS
        }
        Ok((Outcome::Stopped(stop), _)) => {
            eprintln!(
                "mk-rollout apply: stopped at {stop}\nno other node was touched; fix the cause and run \
                 mk-rollout apply again to retry that step (state: {})",
                path.display()
            );
            ExitCode::FAILURE
        }
        Err(e) => failed("apply", &e),
    }
}

fn backup(args: &BackupArgs) -> ExitCode {
    let client = match mk_etcdbackup::client(&args.cacert, &args.cert, &args.key) {
        Ok(c) => c,
        Err(e) => return failed("backup", &e),
    };
    // Bytes received, on stderr (hidden when it is not a terminal).
    let bar = ProgressBar::no_length().with_style(
        ProgressStyle::with_template(
            "etcd snapshot {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        )
        .expect("valid template"),
    );
    let result = mk_etcdbackup::backup(&client, &args.options(), &mut |got, size| {
        if let Some(size) = size {
            bar.set_length(size);
        }
        bar.set_position(got);
    });
    bar.finish_and_clear();
    match result {
        Ok(b) => {
            print!("{}", b.summary());
            ExitCode::SUCCESS
        }
        Err(e) => failed("backup", &e),
    }
}

/// The error and each cause once, on one line.
fn failed(command: &str, e: &(dyn std::error::Error + 'static)) -> ExitCode {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !text.contains(&m) {
            text.push_str(": ");
            text.push_str(&m);
        }
        source = s.source();
    }
    eprintln!("mk-rollout {command}: {text}");
    ExitCode::FAILURE
}
