//! Pure planning: which packages get installed, which the repository lists
//! but lacks, which requirements are then left unmet, and which packages the
//! bootstrap tree needs so that the target's own `rpm` can run.
//!
//! Nothing here touches the install root; [`plan_from_repo`] only reads the
//! repository (presence and checksums of the package files).

use mk_depsolve::{is_rich, resolve, Comps, Providers, Request, SolveError, SolveOptions};
use mk_rpmrepo::Package;
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

/// A package to install and the file it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPackage {
    pub package: Package,
    pub path: PathBuf,
}

/// A requirement of a package to install that no package to install
/// provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// NEVRA of the package that needs it.
    pub package: String,
    /// The requirement as rpm prints it (`glibc-common = 2.17-317.el7`).
    pub requirement: String,
    /// Names of the missing packages that would provide it (empty: nothing
    /// in the plan does).
    pub missing_providers: Vec<String>,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} needs {}", self.package, self.requirement)?;
        if self.missing_providers.is_empty() {
            write!(f, " (no package provides it)")
        } else {
            write!(
                f,
                " (provided by missing {})",
                self.missing_providers.join(", ")
            )
        }
    }
}

/// What to install.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallPlan {
    /// Packages present on disk, in NEVRA order.
    pub packages: Vec<PlannedPackage>,
    /// Packages the resolution chose that the repository lists but whose
    /// file is absent, in name order.
    pub missing: Vec<Package>,
    /// Requirements of `packages` that nothing in `packages` provides.
    pub unmet: Vec<Unmet>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Solve(#[from] SolveError),
    #[error("{}: cannot read", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: SHA-256 is {actual}, but the repodata says {expected} for {nevra}", path.display())]
    Checksum {
        path: PathBuf,
        nevra: String,
        expected: String,
        actual: String,
    },
    #[error("{package}: location {location:?} is not a relative path inside the repository")]
    BadLocation { package: String, location: String },
}

impl InstallPlan {
    /// A plan from packages chosen by a resolution: `path` is `None` for
    /// packages whose file is absent. Computes the unmet requirements.
    pub fn new(chosen: Vec<(Package, Option<PathBuf>)>) -> InstallPlan {
        let mut packages = Vec::new();
        let mut missing = Vec::new();
        for (package, path) in chosen {
            match path {
                Some(path) => packages.push(PlannedPackage { package, path }),
                None => missing.push(package),
            }
        }
        packages.sort_by_key(|p| p.package.nevra());
        missing.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.nevra().cmp(&b.nevra())));
        let present: Vec<&Package> = packages.iter().map(|p| &p.package).collect();
        let absent: Vec<&Package> = missing.iter().collect();
        let unmet = unmet_requirements(&present, &absent);
        InstallPlan {
            packages,
            missing,
            unmet,
        }
    }

    /// A plan for packages that are all present.
    pub fn complete(packages: &[(Package, PathBuf)]) -> InstallPlan {
        InstallPlan::new(
            packages
                .iter()
                .map(|(p, path)| (p.clone(), Some(path.clone())))
                .collect(),
        )
    }

    /// "4 packages are listed in repodata but missing from disk: binutils,
    /// centos-logos, glibc-common, systemd", or `None`.
    pub fn missing_message(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let names: Vec<&str> = self.missing.iter().map(|p| p.name.as_str()).collect();
        let n = names.len();
        Some(format!(
            "{n} package{s} {are} listed in repodata but missing from disk: {}",
            names.join(", "),
            s = if n == 1 { "" } else { "s" },
            are = if n == 1 { "is" } else { "are" },
        ))
    }

    /// Unmet requirements no missing package would provide either.
    pub fn unprovided(&self) -> Vec<&Unmet> {
        self.unmet
            .iter()
            .filter(|u| u.missing_providers.is_empty())
            .collect()
    }
}

/// Resolves `request` against `pool` (read from `repo_root`'s repodata),
/// then splits the result into packages present under `repo_root` (each
/// checked against the repodata's SHA-256) and packages the repodata lists
/// but the folder lacks. Missing packages are not an error here: the plan
/// reports them, and [`crate::install`] decides.
pub fn plan_from_repo(
    repo_root: &Path,
    pool: &[Package],
    request: &Request,
    comps: Option<&Comps>,
    opts: &SolveOptions,
) -> Result<InstallPlan, PlanError> {
    let resolution = resolve(pool, request, comps, opts)?;
    let mut chosen = Vec::with_capacity(resolution.packages.len());
    for &i in &resolution.packages {
        let pkg = &pool[i];
        let rel = Path::new(&pkg.location);
        if pkg.location.is_empty()
            || !rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(PlanError::BadLocation {
                package: pkg.nevra(),
                location: pkg.location.clone(),
            });
        }
        let path = repo_root.join(rel);
        let present = match std::fs::metadata(&path) {
            Ok(m) => m.is_file(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(source) => return Err(PlanError::Io { path, source }),
        };
        if present && !pkg.checksum.is_empty() {
            let actual = mk_durable::sha256_file(&path).map_err(|source| PlanError::Io {
                path: path.clone(),
                source,
            })?;
            if !actual.eq_ignore_ascii_case(&pkg.checksum) {
                return Err(PlanError::Checksum {
                    path,
                    nevra: pkg.nevra(),
                    expected: pkg.checksum.clone(),
                    actual,
                });
            }
        }
        chosen.push((pkg.clone(), present.then_some(path)));
    }
    let plan = InstallPlan::new(chosen);
    tracing::info!(
        packages = plan.packages.len(),
        missing = plan.missing.len(),
        unmet = plan.unmet.len(),
        "install plan"
    );
    if let Some(msg) = plan.missing_message() {
        tracing::warn!("{msg}");
    }
    Ok(plan)
}

/// Requirements of `present` packages that no present package provides,
/// with the `absent` packages that would.
pub fn unmet_requirements(present: &[&Package], absent: &[&Package]) -> Vec<Unmet> {
    let index = Providers::new(present);
    let absent_index = Providers::new(absent);
    let mut out = Vec::new();
    for p in present {
        let mut seen = BTreeSet::new();
        for dep in &p.requires {
            if dep.is_rpmlib() || !seen.insert(dep.to_string()) {
                continue;
            }
            if !is_rich(dep) && !index.providers(dep).is_empty() {
                continue;
            }
            let mut names: Vec<String> = if is_rich(dep) {
                Vec::new()
            } else {
                absent_index
                    .providers(dep)
                    .into_iter()
                    .map(|i| absent[i].name.clone())
                    .collect()
            };
            names.sort();
            names.dedup();
            out.push(Unmet {
                package: p.nevra(),
                requirement: dep.to_string(),
                missing_providers: names,
            });
        }
    }
    out
}

/// Positions in `pkgs` of the packages the bootstrap tree needs: every
/// package named `rpm` and, transitively, the providers of their
/// requirements (all providers when several exist: extra packages in a
/// throw-away tree cost a little time, a missing one breaks rpm). `None`
/// when the set has no `rpm`. Requirements nothing provides are skipped:
/// the plan reports them.
pub fn bootstrap_set(pkgs: &[&Package]) -> Option<Vec<usize>> {
    let index = Providers::new(pkgs);
    let mut chosen = vec![false; pkgs.len()];
    let mut queue: VecDeque<usize> = pkgs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.name == "rpm")
        .map(|(i, _)| i)
        .collect();
    if queue.is_empty() {
        return None;
    }
    while let Some(i) = queue.pop_front() {
        if std::mem::replace(&mut chosen[i], true) {
            continue;
        }
        for dep in &pkgs[i].requires {
            if dep.is_rpmlib() || is_rich(dep) {
                continue;
            }
            queue.extend(index.providers(dep).into_iter().filter(|&j| !chosen[j]));
        }
    }
    Some((0..pkgs.len()).filter(|&i| chosen[i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mk_rpmrepo::{Cmp, Dep, Evr};
    use mk_rpmrepo::{FileEntry, FileKind};

    fn pkg(name: &str, ver: &str) -> Package {
        Package {
            name: name.into(),
            evr: Evr::parse(ver),
            arch: "x86_64".into(),
            ..Default::default()
        }
    }

    fn req(name: &str, v: Option<(Cmp, &str)>) -> Dep {
        Dep {
            name: name.into(),
            version: v.map(|(c, e)| (c, Evr::parse(e))),
            pre: false,
        }
    }

    #[test]
    fn missing_and_unmet_are_reported_by_name() {
        let mut glibc = pkg("glibc", "2.17-317");
        glibc.requires = vec![
            req("glibc-common", Some((Cmp::Eq, "2.17-317"))),
            req("rpmlib(PayloadIsXz)", Some((Cmp::Le, "5.2-1"))),
        ];
        let mut bash = pkg("bash", "4.2-1");
        bash.requires = vec![req("libc.so.6()(64bit)", None), req("/usr/bin/nm", None)];
        glibc.provides = vec![req("libc.so.6()(64bit)", None)];
        let common = pkg("glibc-common", "2.17-317");
        let mut binutils = pkg("binutils", "2.27-44");
        binutils.files = vec![FileEntry {
            path: "/usr/bin/nm".into(),
            kind: FileKind::File,
        }];
        let plan = InstallPlan::new(vec![
            (glibc, Some("glibc.rpm".into())),
            (bash, Some("bash.rpm".into())),
            (common, None),
            (binutils, None),
        ]);
        assert_eq!(
            plan.missing_message().unwrap(),
            "2 packages are listed in repodata but missing from disk: binutils, glibc-common"
        );
        let unmet: Vec<String> = plan.unmet.iter().map(|u| u.to_string()).collect();
        assert_eq!(
            unmet,
            [
                "bash-4.2-1.x86_64 needs /usr/bin/nm (provided by missing binutils)",
                "glibc-2.17-317.x86_64 needs glibc-common = 2.17-317 (provided by missing glibc-common)",
            ]
        );
        assert!(plan.unprovided().is_empty());
    }

    #[test]
    fn bootstrap_is_the_closure_of_rpm() {
        let mut rpm = pkg("rpm", "4.11.3-45");
        rpm.requires = vec![req("/bin/sh", None), req("libpopt.so.0()(64bit)", None)];
        let mut bash = pkg("bash", "4.2-1");
        bash.files = vec![FileEntry {
            path: "/bin/sh".into(),
            kind: FileKind::File,
        }];
        bash.requires = vec![req("glibc", Some((Cmp::Ge, "2.17")))];
        let mut popt = pkg("popt", "1.13-16");
        popt.provides = vec![req("libpopt.so.0()(64bit)", None)];
        let glibc = pkg("glibc", "2.17-317");
        let httpd = pkg("httpd", "2.4.6-97");
        let pkgs = [&httpd, &rpm, &bash, &popt, &glibc];
        assert_eq!(bootstrap_set(&pkgs).unwrap(), [1, 2, 3, 4]);
        assert_eq!(bootstrap_set(&[&httpd]), None);
    }
}
