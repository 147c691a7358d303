//! mk-firstboot: runs on every boot of an mk node, before containerd and the
//! kubelet (mk-firstboot.service), and on the admin's machine to validate a
//! role config or see what a config would change. See docs/firstboot.md.

use std::process::ExitCode;

use clap::Parser;
use mk_firstboot::approver;
use mk_firstboot::cli::{Cli, Command};
use mk_firstboot::cluster;
use mk_firstboot::engine::CrashPoints;
use mk_firstboot::errors;
use mk_firstboot::preflight;
use mk_firstboot::preview;
use mk_firstboot::run::{self, RunError};
use mk_firstboot::state::{self, Outcome};
use mk_firstboot::validate;
use mk_roleconfig::FailurePolicy;

/// A refused config on the node: the console's text, and report.json
/// says the same (the one file a refusal writes).
fn refused_on_node(root: &std::path::Path, e: &RunError) -> ExitCode {
    let report = state::Report::refused(root, errors::lines(e));
    if let Err(err) = report.save(root) {
        eprintln!(
            "mk-firstboot: writing {}: {err}",
            root.join(state::REPORT).display()
        );
    }
    refused(e)
}

/// A refused config: every line of the reason, each cause once, and the
/// promise.
fn refused(e: &RunError) -> ExitCode {
    eprintln!("mk-firstboot: config refused:");
    let lines = errors::lines(e);
    let (reason, causes) = lines.split_first().expect("an error has a text");
    for line in reason.lines() {
        eprintln!("  {line}");
    }
    for cause in causes {
        eprintln!("  caused by: {cause}");
    }
    eprintln!("mk-firstboot: nothing was changed");
    ExitCode::from(1)
}

/// Any other error: one line, each cause once.
fn failed(e: &(dyn std::error::Error + 'static), status: u8) -> ExitCode {
    eprintln!("mk-firstboot: {}", errors::one_line(e));
    ExitCode::from(status)
}

fn main() -> ExitCode {
    mk_cmdlog::init("warn");
    let cli = Cli::parse();
    match cli.command {
        Command::Apply(c) => {
            let opts = c.options();
            let prepared = match run::prepare(&opts, true) {
                Ok(p) => p,
                Err(e) => return refused_on_node(&opts.root, &e),
            };
            // Nothing is written before the static pods are known to fit.
            if let Err(e) = preflight::refuse(&opts.root, &prepared.plan) {
                return refused_on_node(&opts.root, &e.into());
            }
            let mut crash = CrashPoints::from_env();
            let report = match run::apply(&opts.root, &prepared, &mut crash) {
                Ok(r) => r,
                Err(e) => return failed(&e, 2),
            };
            let path = opts.root.join(state::REPORT);
            print!("{}", report.summary(&path.display().to_string()));
            match (report.outcome, report.failure_policy) {
                (Outcome::Failed, FailurePolicy::Halt) => ExitCode::from(2),
                (Outcome::Failed, FailurePolicy::Continue) | (Outcome::Ok, _) => ExitCode::SUCCESS,
                (Outcome::Refused, _) => ExitCode::from(1),
            }
        }
        Command::Plan { common, json } => {
            if common.config.is_none() {
                eprintln!("mk-firstboot plan: --config FILE is required");
                return ExitCode::from(1);
            }
            let opts = common.options();
            let prepared = match run::prepare(&opts, false) {
                Ok(p) => p,
                Err(e) => return refused(&e),
            };
            if json {
                println!("{}", preview::json(&prepared));
                return ExitCode::SUCCESS;
            }
            let preview = preview::preview(&prepared, &opts.root);
            print!("{}", preview.text);
            let (preflight, would_refuse) = preflight::report(&opts.root, &prepared.plan);
            print!("{preflight}");
            if would_refuse {
                ExitCode::from(1)
            } else if preview.would_fail {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Cluster {
            common,
            server,
            ready_timeout,
            node_timeout,
            etcd_timeout,
        } => {
            let opts = cluster::ClusterOptions {
                run: common.options(),
                server,
                timeouts: cluster::Timeouts {
                    ready: std::time::Duration::from_secs(ready_timeout),
                    node: std::time::Duration::from_secs(node_timeout),
                    etcd: std::time::Duration::from_secs(etcd_timeout),
                },
            };
            let done = match cluster::run(&opts) {
                Ok(d) => d,
                Err(e) => return refused(&e),
            };
            if done.idle {
                println!("mk-firstboot cluster: not a control plane: nothing to do");
                return ExitCode::SUCCESS;
            }
            let path = opts.run.root.join(state::REPORT);
            print!("{}", done.report.summary(&path.display().to_string()));
            if cluster::failed(&done.report) {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Validate(args) => match validate::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => failed(e.as_ref(), 1),
        },
        Command::ApproveCsrs {
            root,
            server,
            timeout,
        } => {
            let opts = approver::Options {
                root,
                server,
                timeout: std::time::Duration::from_secs(timeout),
            };
            match approver::run(&opts) {
                Ok(report) => {
                    print!("{}", report.summary());
                    if report.failed.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("mk-firstboot approve-csrs: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::EtcdBackup(args) => match mk_firstboot::etcdbackup::run(&args) {
            Ok(summary) => {
                print!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mk-firstboot etcd-backup: {e}");
                ExitCode::from(1)
            }
        },
        Command::Renew { root, metrics_file } => {
            let opts = mk_pki::renew::RenewOptions {
                root,
                metrics_file: Some(metrics_file),
            };
            let now = time::OffsetDateTime::now_utc();
            let result = mk_pki::renew::renew_node(&opts, now, &mut mk_pki::renew::Crictl);
            match result {
                Ok(report) => {
                    let renewed = report.renewed();
                    println!(
                        "renewed {} certificate(s): {}",
                        renewed.len(),
                        renewed.join(" ")
                    );
                    if report.failures() > 0 {
                        // Every leaf and intermediate with its expiry, and
                        // the admin's commands when an intermediate expired.
                        eprint!("{}", report.summary());
                        eprintln!("mk-firstboot: {} renewal step(s) failed", report.failures());
                        return ExitCode::from(1);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => failed(&e, 1),
            }
        }
    }
}
