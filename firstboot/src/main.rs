//! mk-firstboot: runs on every boot of an mk node, before containerd and the
//! kubelet (mk-firstboot.service), and on the admin's machine to validate a
//! role config or see what a config would change. See docs/firstboot.md.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mk_firstboot::engine::{CrashPoints, Node};
use mk_firstboot::run::{self, Options, RunError};
use mk_firstboot::state;

mod validate;

#[derive(Parser)]
#[command(
    name = "mk-firstboot",
    version,
    about = "Bring an mk node to the state its role config describes",
    after_help = "Example:\n  mk-firstboot apply                                      # what mk-firstboot.service runs at every boot\n  mk-firstboot plan --root / --config node-config.yaml    # what would change, changing nothing\n  mk-firstboot validate node-config.yaml --trust admin.pub"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// Node root: files, users, /sys facts, /dev devices and /proc/cmdline
    /// are all looked up under it.
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Role config file (FILE.minisig beside it is its signature). For
    /// `apply` the last source: a config drive or mk.config= URL comes first.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of trusted minisign public keys (*.pub); default
    /// ROOT/etc/mk/config-trust.
    #[arg(long, value_name = "DIR")]
    trust: Option<PathBuf>,
    /// This host's address (repeat for several) instead of reading the
    /// interfaces: for planning on another machine.
    #[arg(long = "address", value_name = "IP")]
    addresses: Vec<IpAddr>,
    /// Take this node's item of a NodeConfigList by name instead of by the
    /// machine's MAC/DMI facts.
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// Apply this plan (JSON) instead of planning from the config; for
    /// debugging the applier. The config is still sourced and checked.
    #[arg(long, value_name = "PLAN.json", hide = true)]
    plan: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Find, check and apply this node's role config; change only what
    /// differs. Exit 0 when done (or failed under failurePolicy continue),
    /// 1 when the config was refused (nothing changed), 2 when a step failed
    /// under failurePolicy halt.
    Apply(Common),
    /// Print what `apply` would change (per step: files, directories, users,
    /// groups) without changing anything.
    Plan {
        #[command(flatten)]
        common: Common,
        /// Print the plan itself as JSON instead.
        #[arg(long)]
        json: bool,
    },
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
        root: PathBuf,
        /// node_exporter textfile-collector file to write.
        #[arg(long, default_value = mk_pki::renew::METRICS_FILE)]
        metrics_file: PathBuf,
    },
}

fn options(c: &Common) -> Options {
    let mut o = Options::new(&c.root);
    o.config = c.config.clone();
    o.trust = c.trust.clone();
    o.addresses = (!c.addresses.is_empty()).then(|| c.addresses.clone());
    o.node = c.node.clone();
    o.plan_file = c.plan.clone();
    o
}

/// A refused config: every line of the reason, and the promise.
fn refused(e: &RunError) -> ExitCode {
    eprintln!("mk-firstboot: config refused:");
    for line in e.to_string().lines() {
        eprintln!("  {line}");
    }
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        eprintln!("  caused by: {s}");
        src = s.source();
    }
    eprintln!("mk-firstboot: nothing was changed");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Apply(c) => {
            let opts = options(&c);
            let prepared = match run::prepare(&opts, true) {
                Ok(p) => p,
                Err(e) => return refused(&e),
            };
            let mut crash = CrashPoints::from_env();
            let report = match run::apply(&opts.root, &prepared, &mut crash) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("mk-firstboot: {e}");
                    return ExitCode::from(2);
                }
            };
            let path = opts.root.join(state::REPORT);
            print!("{}", report.summary(&path.display().to_string()));
            if report.outcome == "failed" && report.failure_policy == "halt" {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Plan { common, json } => {
            if common.config.is_none() {
                eprintln!("mk-firstboot plan: --config FILE is required");
                return ExitCode::from(1);
            }
            let opts = options(&common);
            let prepared = match run::prepare(&opts, false) {
                Ok(p) => p,
                Err(e) => return refused(&e),
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&prepared.plan).expect("plan serialises")
                );
                return ExitCode::SUCCESS;
            }
            println!(
                "plan for {} from {} ({}), root {}:",
                prepared.config.metadata.name,
                prepared.delivered.origin,
                prepared.signature,
                opts.root.display()
            );
            let node = Node::new(&opts.root);
            let mut total = 0;
            let mut failed = false;
            for (name, diffs) in run::differences(&node, &prepared.plan) {
                match diffs {
                    Ok(d) => {
                        println!("step {name}: {}", state::changes(d.len()));
                        for line in &d {
                            println!("  {line}");
                        }
                        total += d.len();
                    }
                    Err(e) => {
                        failed = true;
                        println!("step {name}: would fail: {e}");
                    }
                }
            }
            println!("total: {} (nothing was changed)", state::changes(total));
            if failed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Validate(args) => match validate::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mk-firstboot: {e:#}");
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
                        eprintln!(
                            "mk-firstboot: {} renewal step(s) failed; see the log above",
                            report.failures()
                        );
                        return ExitCode::from(1);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mk-firstboot: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
