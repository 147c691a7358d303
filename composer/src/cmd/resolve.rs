//! `mk-compose resolve`: what a kickstart (or a list of names) would install,
//! in install order.

use crate::inputs::SelectionArgs;
use crate::select::select_from_args;
use mk_depsolve::install_order;
use std::io::Write;

/// Resolve a package request against offline repositories and print the
/// closure in install order (one NEVRA per line).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    mk-compose resolve --repo rpms/ --kickstart kickstart/node.ks\n  \
    mk-compose resolve --repo el7/ --package @core --package httpd\n  \
    mk-compose resolve --repo el7/ --comps comps.xml --package @core\n\n\
    @groups come from the comps.xml that a repository's repomd.xml declares\n\
    (`createrepo_c -g`), or from --comps. Packages that repodata lists but\n\
    whose files are absent are an error when the closure needs them.")]
pub struct Args {
    #[command(flatten)]
    selection: SelectionArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let sel = select_from_args(&args.selection)?;
    let packages: Vec<&mk_rpmrepo::Package> =
        sel.chosen.iter().map(|&i| &sel.pool[i].package).collect();
    let mut out = String::new();
    for i in install_order(&packages) {
        out.push_str(&packages[i].nevra());
        out.push('\n');
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}
