//! mk-rollout: operations on an mk cluster from the admin's machine; for
//! now `mk-rollout backup` (docs/etcd-backup.md).

use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use mk_rollout::cli::{BackupArgs, Cli, Command};

fn main() -> ExitCode {
    mk_cmdlog::init("info");
    match Cli::parse().command {
        Command::Backup(args) => backup(&args),
    }
}

fn backup(args: &BackupArgs) -> ExitCode {
    let client = match mk_etcdbackup::client(&args.cacert, &args.cert, &args.key) {
        Ok(c) => c,
        Err(e) => return failed(&e),
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
        Err(e) => failed(&e),
    }
}

/// The error and each cause once, on one line.
fn failed(e: &(dyn std::error::Error + 'static)) -> ExitCode {
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
    eprintln!("mk-rollout backup: {text}");
    ExitCode::FAILURE
}
