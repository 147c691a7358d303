//! `mk-compose resolve`: what a kickstart (or a list of names) would install,
//! in install order.

use crate::inputs;
use crate::select::select;
use mk_depsolve::{install_order, SolveOptions};
use std::io::Write;
use std::path::PathBuf;

/// Resolve a package request against offline repositories and print the
/// closure in install order (one NEVRA per line).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    mk-compose resolve --repo rpms/ --kickstart kickstart/node.ks\n  \
    mk-compose resolve --repo el7/ --comps comps.xml --package @core --package httpd")]
pub struct Args {
    /// A repository: a createrepo repository or a directory of .rpm files.
    /// Repeat for several.
    #[arg(long = "repo", value_name = "DIR", required = true)]
    repos: Vec<PathBuf>,
    /// Kickstart whose %packages section is the request. Repeatable.
    #[arg(long = "kickstart", value_name = "FILE")]
    kickstarts: Vec<PathBuf>,
    /// A %packages line (name, capability, @group, -exclusion). Repeatable.
    #[arg(long = "package", value_name = "SPEC", allow_hyphen_values = true)]
    packages: Vec<String>,
    /// comps.xml, for @group entries.
    #[arg(long, value_name = "FILE")]
    comps: Option<PathBuf>,
    /// Allow 32-bit (i686) packages in the closure.
    #[arg(long)]
    allow_i686: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let pool = inputs::load_pool(&args.repos)?;
    let requests = inputs::requests(&args.kickstarts, &args.packages)?;
    let comps = inputs::comps(args.comps.as_deref())?;
    let opts = SolveOptions {
        allow_i686: args.allow_i686,
        ..SolveOptions::default()
    };
    let chosen = select(&pool, &requests, comps.as_ref(), &opts)?;
    let packages: Vec<&mk_rpmrepo::Package> = chosen.iter().map(|&i| &pool[i].package).collect();
    let mut out = String::new();
    for i in install_order(&packages) {
        out.push_str(&packages[i].nevra());
        out.push('\n');
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}
