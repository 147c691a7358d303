//! Which RPMs an image gets: the recipe's packages resolved with
//! mk-depsolve against the build's repositories, minus what the base's
//! rpmdb already has.

use mk_depsolve::{resolve, Request, SolveOptions};
use mk_rpmrepo::repodata::read_repodata;
use mk_rpmrepo::{scan_dir, Package};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PackagesError {
    #[error("no repository given: pass --repo DIR (a createrepo repository or a directory of .rpm files)")]
    NoRepo,
    #[error("{}: neither a repository (no repodata/repomd.xml) nor a directory", path.display())]
    NotARepo { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// `message` starts with the field (`packages[1]: …` or `packages: …`).
    #[error("{}: {message}", recipe.display())]
    Resolve { recipe: PathBuf, message: String },
    #[error("{nevra}: {} is absent although the repository lists it", path.display())]
    Absent { nevra: String, path: PathBuf },
    #[error("{nevra}: {} has SHA-256 {actual}, the repodata says {expected}", path.display())]
    Checksum {
        nevra: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// A package and its file.
#[derive(Debug, Clone)]
pub struct Located {
    pub package: Package,
    pub path: PathBuf,
}

/// Every package of `repos`, each with the directory its location is
/// relative to: repodata when the directory has it, else the .rpm headers.
pub fn load_pool(repos: &[PathBuf]) -> Result<Vec<(Package, PathBuf)>, PackagesError> {
    if repos.is_empty() {
        return Err(PackagesError::NoRepo);
    }
    let mut pool = Vec::new();
    for repo in repos {
        let read = |m: String| PackagesError::Read {
            path: repo.clone(),
            message: m,
        };
        let pkgs = if repo.join("repodata/repomd.xml").is_file() {
            read_repodata(repo).map_err(|e| read(e.to_string()))?
        } else if repo.is_dir() {
            scan_dir(repo).map_err(|e| read(e.to_string()))?
        } else {
            return Err(PackagesError::NotARepo { path: repo.clone() });
        };
        tracing::info!(repo = %repo.display(), packages = pkgs.len(), "repository read");
        pool.extend(pkgs.into_iter().map(|p| (p, repo.clone())));
    }
    Ok(pool)
}

/// Resolves `specs` (the recipe's `packages`) against the pool; errors
/// name the recipe file and the entry. Returns the closure, by NEVRA.
pub fn resolve_closure(
    recipe: &Path,
    specs: &[String],
    pool: &[(Package, PathBuf)],
) -> Result<Vec<Located>, PackagesError> {
    let err = |message: String| PackagesError::Resolve {
        recipe: recipe.to_path_buf(),
        message,
    };
    let request = Request::from_specs(specs).map_err(|e| err(format!("packages: {e}")))?;
    let packages: Vec<Package> = pool.iter().map(|(p, _)| p.clone()).collect();
    let resolution = resolve(&packages, &request, None, &SolveOptions::default()).map_err(|e| {
        // "request line N" is the recipe's packages[N-1].
        let text = e.to_string();
        let entry = text.strip_prefix("request line ").and_then(|rest| {
            let (n, tail) = rest.split_once(':')?;
            let n: usize = n.parse().ok()?;
            Some(format!("packages[{}]:{tail}", n.saturating_sub(1)))
        });
        let text = entry.unwrap_or_else(|| format!("packages: {text}"));
        err(text)
    })?;
    let mut out = Vec::new();
    for &i in &resolution.packages {
        let (p, repo) = &pool[i];
        let path = repo.join(&p.location);
        if !p
            .location
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        {
            return Err(PackagesError::Absent {
                nevra: p.nevra(),
                path,
            });
        }
        if !path.is_file() {
            return Err(PackagesError::Absent {
                nevra: p.nevra(),
                path,
            });
        }
        out.push(Located {
            package: p.clone(),
            path,
        });
    }
    out.sort_by_key(|l| l.package.nevra());
    Ok(out)
}

/// SHA-256 of each file (in `pkgs` order), checked against the
/// repodata's when it lists one.
pub fn verify_checksums(pkgs: &[Located]) -> Result<Vec<String>, PackagesError> {
    let mut out = Vec::with_capacity(pkgs.len());
    for l in pkgs {
        let actual = mk_durable::sha256_file(&l.path).map_err(|e| PackagesError::Read {
            path: l.path.clone(),
            message: e.to_string(),
        })?;
        let expected = &l.package.checksum;
        if expected.len() == 64 && !actual.eq_ignore_ascii_case(expected) {
            return Err(PackagesError::Checksum {
                nevra: l.package.nevra(),
                path: l.path.clone(),
                expected: expected.clone(),
                actual,
            });
        }
        out.push(actual.to_ascii_lowercase());
    }
    Ok(out)
}

/// The closure minus packages whose name the base already has installed
/// (the base's version stays; rpm checks in the transaction that the
/// result is consistent). Pure.
pub fn minus_installed(closure: Vec<Located>, installed_names: &BTreeSet<String>) -> Vec<Located> {
    closure
        .into_iter()
        .filter(|l| !installed_names.contains(&l.package.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(name: &str) -> Located {
        Located {
            package: Package {
                name: name.into(),
                ..Package::default()
            },
            path: PathBuf::from(format!("{name}.rpm")),
        }
    }

    #[test]
    fn installed_names_are_removed() {
        let installed: BTreeSet<String> = ["bash", "rpm"].iter().map(|s| s.to_string()).collect();
        let left = minus_installed(
            vec![located("bash"), located("etcd-server"), located("rpm")],
            &installed,
        );
        let names: Vec<&str> = left.iter().map(|l| l.package.name.as_str()).collect();
        assert_eq!(names, ["etcd-server"]);
    }

    #[test]
    fn no_repo_is_an_error() {
        assert!(matches!(load_pool(&[]), Err(PackagesError::NoRepo)));
        let e = load_pool(&[PathBuf::from("/nonexistent/repo")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/repo"), "{e}");
    }
}
