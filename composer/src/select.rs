//! Which packages a bundle carries: the union of the closures of every
//! request (each kickstart must be satisfiable on its own, since each one
//! installs a node by itself).

use crate::inputs::{self, CompsFile, NamedRequest, SelectionArgs, Sourced};
use anyhow::{bail, Context};
use mk_depsolve::{resolve, Comps, SolveOptions};
use mk_rpmrepo::Package;
use std::collections::BTreeSet;

/// What a selection resolved to.
pub struct Selection {
    pub pool: Vec<Sourced>,
    /// Positions in `pool` of the selected packages.
    pub chosen: Vec<usize>,
    /// The comps that defined `@group`s, if any.
    pub comps: Option<CompsFile>,
}

/// Reads what `args` names and resolves it. Fails when a selected package's
/// file is absent from its repository; warns about absent ones it does not
/// need.
pub fn select_from_args(args: &SelectionArgs) -> anyhow::Result<Selection> {
    // Requests first: a typo in a kickstart should not wait for the repos.
    let requests = inputs::requests(&args.kickstarts, &args.packages)?;
    let comps = inputs::comps(args.comps.as_deref(), &args.repos)?;
    let pool = inputs::load_pool(&args.repos)?;
    let opts = SolveOptions {
        allow_i686: args.allow_i686,
        ..SolveOptions::default()
    };
    let chosen = select(&pool, &requests, comps.as_ref().map(|c| &c.comps), &opts)?;
    check_present(&pool, &chosen)?;
    Ok(Selection {
        pool,
        chosen,
        comps,
    })
}

/// Repodata can list packages whose files are not there (a partial mirror):
/// say so now rather than when the bundle copies them.
fn check_present(pool: &[Sourced], chosen: &[usize]) -> anyhow::Result<()> {
    let absent: Vec<usize> = (0..pool.len())
        .filter(|&i| !pool[i].file().is_file())
        .collect();
    let (needed, unneeded): (Vec<usize>, Vec<usize>) =
        absent.into_iter().partition(|i| chosen.contains(i));
    if !unneeded.is_empty() {
        let names: Vec<String> = unneeded.iter().map(|&i| pool[i].package.nevra()).collect();
        tracing::warn!(
            packages = %names.join(", "),
            "repodata lists {} packages whose files are absent (not needed by this resolution)",
            names.len()
        );
    }
    if needed.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = needed
        .iter()
        .map(|&i| {
            format!(
                "  {}: {}",
                pool[i].package.nevra(),
                pool[i].file().display()
            )
        })
        .collect();
    bail!(
        "{} packages the resolution needs are listed in repodata but absent on disk:\n{}",
        needed.len(),
        list.join("\n")
    )
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
