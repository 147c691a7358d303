//! Installs every package a repository's repodata lists into ROOT, missing
//! packages allowed (as for the el7-base fixture); prints the timings.
//! Used by bench/install.sh. Usage: install_repo [--bootstrap-cache DIR]
//! REPO ROOT (with a cache, the bootstrap tree is reused across runs).
//!
//! `install_repo --standins REPO OUTDIR` writes, for each package the
//! repodata lists but the folder lacks, an empty stand-in with the same
//! name, EVR, arch and provides (file requirements as %ghost), so that dnf
//! can be given the same package set for comparison.

use mk_depsolve::{Request, SolveOptions};
use mk_install::{
    install, install_cached, plan_from_repo, InstallOptions, CENTOS7_SCRIPTLET_STATE,
};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "mk_install=info".into()))
        .with_writer(std::io::stderr)
        .init();
    let mut args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let mut cache = None;
    if args.len() > 2 && args[0].as_os_str() == "--bootstrap-cache" {
        cache = Some(args.remove(1));
        args.remove(0);
    }
    if let [flag, repo, out] = &args[..] {
        if flag.as_os_str() == "--standins" {
            return standins(repo, out);
        }
    }
    let [repo, root] = &args[..] else {
        return Err("usage: install_repo [--bootstrap-cache DIR] REPO ROOT".into());
    };
    let started = Instant::now();
    let pool = mk_rpmrepo::repodata::read_repodata(repo)?;
    let names: BTreeSet<&str> = pool.iter().map(|p| p.name.as_str()).collect();
    let plan = plan_from_repo(
        repo,
        &pool,
        &Request::from_specs(&names)?,
        None,
        &SolveOptions::default(),
    )?;
    let planned = started.elapsed();
    let opts = InstallOptions {
        allow_missing: true,
        allowed_unowned: CENTOS7_SCRIPTLET_STATE
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let report = match &cache {
        Some(dir) => install_cached(&plan, root, &opts, None, dir)?,
        None => install(&plan, root, &opts)?,
    };
    println!(
        "packages={} bootstrap_reused={} plan_s={:.2} bootstrap_s={:.2} rpm_s={:.2} verify_s={:.2} total_s={:.2}",
        report.installed.len(),
        report.bootstrap_reused,
        planned.as_secs_f64(),
        report.timings.bootstrap.as_secs_f64(),
        report.timings.rpm.as_secs_f64(),
        report.timings.verify.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn standins(
    repo: &std::path::Path,
    out: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let pool = mk_rpmrepo::repodata::read_repodata(repo)?;
    let names: BTreeSet<&str> = pool.iter().map(|p| p.name.as_str()).collect();
    let plan = plan_from_repo(
        repo,
        &pool,
        &Request::from_specs(&names)?,
        None,
        &SolveOptions::default(),
    )?;
    for m in &plan.missing {
        let mut s = mk_synthrpm::SynthPackage::new(&m.name, &m.evr.version, &m.evr.release)
            .arch(&m.arch)
            .summary("mk bench stand-in for a package missing from the fixture");
        if m.evr.epoch != 0 {
            s = s.epoch(m.evr.epoch);
        }
        for d in &m.provides {
            let v = d.version.as_ref().map(|(c, e)| (c.symbol(), e.to_string()));
            s = s.provides(&d.name, v.as_ref().map(|(c, e)| (*c, e.as_str())));
        }
        for u in plan
            .unmet
            .iter()
            .filter(|u| u.missing_providers.contains(&m.name))
        {
            if u.requirement.starts_with('/') && m.has_file(&u.requirement) {
                s = s.ghost(&u.requirement);
            }
        }
        println!("{}", s.write_to_dir(out)?.display());
    }
    Ok(())
}
