//! Which packages a bundle carries: the union of the closures of every
//! request (each kickstart must be satisfiable on its own, since each one
//! installs a node by itself).

use crate::inputs::{NamedRequest, Sourced};
use anyhow::Context;
use mk_depsolve::{resolve, Comps, SolveOptions};
use mk_rpmrepo::Package;
use std::collections::BTreeSet;

/// Pool positions of the selected packages, sorted by NEVRA then position.
pub fn select(
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
