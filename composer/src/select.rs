//! Which packages a bundle carries: the union of the closures of every
//! request (each kickstart must be satisfiable on its own, since each one
//! installs a node by itself).

use crate::inputs::{self, NamedRequest, SelectionArgs, Sourced};
use anyhow::Context;
use mk_depsolve::{resolve, Comps, SolveOptions};
use mk_rpmrepo::Package;
use std::collections::BTreeSet;

/// Reads what `args` names and resolves it: the pool, and the positions of
/// the selected packages in it.
pub fn select_from_args(args: &SelectionArgs) -> anyhow::Result<(Vec<Sourced>, Vec<usize>)> {
    // Requests first: a typo in a kickstart should not wait for the repos.
    let requests = inputs::requests(&args.kickstarts, &args.packages)?;
    let comps = inputs::comps(args.comps.as_deref())?;
    let pool = inputs::load_pool(&args.repos)?;
    let opts = SolveOptions {
        allow_i686: args.allow_i686,
        ..SolveOptions::default()
    };
    let chosen = select(&pool, &requests, comps.as_ref(), &opts)?;
    Ok((pool, chosen))
}

/// Pool positions of the selected packages, sorted by NEVRA then position.
fn select(
    pool: &[Sourced],
    requests: &[NamedRequest],
    comps: Option<&Comps>,
    opts: &SolveOptions,
) -> anyhow::Result<Vec<usize>> {
    let packages: Vec<Package> = pool.iter().map(|s| s.package.clone()).collect();
    let mut chosen = BTreeSet::new();
    for req in requests {
        let resolution = resolve(&packages, &req.request, comps, opts)
            .with_context(|| format!("resolving the packages of {}", req.origin))?;
        for (group, name) in &resolution.missing_group_packages {
            tracing::warn!(origin = %req.origin, group, name, "group member not in any repository");
        }
        tracing::info!(origin = %req.origin, packages = resolution.packages.len(), "resolved");
        chosen.extend(resolution.packages);
    }
    let mut out: Vec<usize> = chosen.into_iter().collect();
    out.sort_by(|&a, &b| {
        pool[a]
            .package
            .nevra()
            .cmp(&pool[b].package.nevra())
            .then(a.cmp(&b))
    });
    Ok(out)
}
