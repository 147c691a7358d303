//! Reading the composer's inputs: RPM repositories (createrepo repositories
//! or plain directories of .rpm files), kickstart package requests, and the
//! build date.

use anyhow::{bail, Context};
use mk_bundle::{PasswordSource, SecretKey};
use mk_depsolve::{Comps, Request};
use mk_kickstart::Kickstart;
use mk_rpmrepo::repodata::{read_group, read_repodata};
use mk_rpmrepo::{scan_dir, Package};
use std::path::{Path, PathBuf};

/// What to resolve and against which repositories: the arguments `resolve`
/// and `bundle` share.
#[derive(clap::Args, Debug)]
pub struct SelectionArgs {
    /// A repository: a createrepo repository or a directory of .rpm files.
    /// Repeat for several.
    #[arg(long = "repo", value_name = "DIR", required = true)]
    pub repos: Vec<PathBuf>,
    /// A kickstart whose %packages section is resolved. Repeatable (the
    /// result is the union of their closures).
    #[arg(long = "kickstart", value_name = "FILE")]
    pub kickstarts: Vec<PathBuf>,
    /// One more %packages line (name, capability, @group, -exclusion).
    /// Repeatable.
    #[arg(long = "package", value_name = "SPEC", allow_hyphen_values = true)]
    pub packages: Vec<String>,
    /// comps.xml for @group entries, instead of the group file the
    /// repositories' repomd.xml declare (`createrepo_c -g`). The bundle's
    /// repodata carries the comps used.
    #[arg(long, value_name = "FILE")]
    pub comps: Option<PathBuf>,
    /// Allow 32-bit (i686) packages in the closure.
    #[arg(long)]
    pub allow_i686: bool,
}

/// A package and the repository directory its `location` is relative to.
#[derive(Debug, Clone)]
pub struct Sourced {
    pub package: Package,
    pub repo: PathBuf,
}

impl Sourced {
    pub fn file(&self) -> PathBuf {
        self.repo.join(&self.package.location)
    }
}

/// Reads one repository: its repodata (checked against repomd.xml's
/// checksums) when it has `repodata/repomd.xml`, otherwise the headers of
/// every .rpm below it.
pub fn load_repo(repo: &Path) -> anyhow::Result<Vec<Package>> {
    if repo.join("repodata").join("repomd.xml").is_file() {
        read_repodata(repo).with_context(|| format!("reading repodata of {}", repo.display()))
    } else if repo.is_dir() {
        scan_dir(repo).with_context(|| format!("reading RPMs below {}", repo.display()))
    } else {
        bail!(
            "{}: neither a repository (no repodata/repomd.xml) nor a directory",
            repo.display()
        )
    }
}

/// Reads every repository into one pool, in the order given.
pub fn load_pool(repos: &[PathBuf]) -> anyhow::Result<Vec<Sourced>> {
    if repos.is_empty() {
        bail!("no repository given: pass --repo DIR (a createrepo repository or a directory of .rpm files)");
    }
    let mut pool = Vec::new();
    for repo in repos {
        let packages = load_repo(repo)?;
        tracing::info!(repo = %repo.display(), packages = packages.len(), "repository read");
        pool.extend(packages.into_iter().map(|package| Sourced {
            package,
            repo: repo.clone(),
        }));
    }
    Ok(pool)
}

/// A request and where it came from, for messages.
pub struct NamedRequest {
    pub origin: String,
    pub request: Request,
}

/// The `%packages` request of a kickstart file. The whole kickstart is
/// parsed, so that one with an unsupported command fails here with its line.
pub fn kickstart_request(path: &Path) -> anyhow::Result<NamedRequest> {
    let ks = Kickstart::read(path)?;
    let Some(packages) = ks.packages else {
        bail!("{}: no %packages section", path.display());
    };
    Ok(NamedRequest {
        origin: path.display().to_string(),
        request: packages.request,
    })
}

/// Requests from kickstarts and from package names on the command line.
pub fn requests(kickstarts: &[PathBuf], packages: &[String]) -> anyhow::Result<Vec<NamedRequest>> {
    let mut out = kickstarts
        .iter()
        .map(|k| kickstart_request(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !packages.is_empty() {
        out.push(NamedRequest {
            origin: "the command line".into(),
            request: Request::parse(&packages.join("\n")).context("in --package")?,
        });
    }
    if out.is_empty() {
        bail!("nothing requested: pass --kickstart FILE (its %packages section) or --package NAME");
    }
    Ok(out)
}

/// The comps.xml that defines `@group`s, as read.
pub struct CompsFile {
    /// Its text, copied into the bundle's repodata as is.
    pub xml: String,
    pub comps: Comps,
}

/// The comps for a selection: `path` (`--comps`) when given, otherwise the
/// group file that the repositories' repomd.xml declare. Several
/// repositories with different comps are refused: which one the bundle
/// carries must be the user's choice.
pub fn comps(path: Option<&Path>, repos: &[PathBuf]) -> anyhow::Result<Option<CompsFile>> {
    let (path, bytes) = match path {
        Some(p) => (
            p.to_path_buf(),
            std::fs::read(p).with_context(|| format!("reading comps file {}", p.display()))?,
        ),
        None => {
            let mut found: Vec<(PathBuf, Vec<u8>)> = Vec::new();
            for repo in repos {
                if !repo.join("repodata").join("repomd.xml").is_file() {
                    continue;
                }
                if let Some(group) = read_group(repo).with_context(|| {
                    format!("reading the comps of repository {}", repo.display())
                })? {
                    if !found.iter().any(|(_, xml)| *xml == group.1) {
                        found.push(group);
                    }
                }
            }
            match found.len() {
                0 => return Ok(None),
                1 => found.remove(0),
                _ => bail!(
                    "several repositories declare different comps ({}): pass --comps FILE to choose the one that defines @groups",
                    found
                        .iter()
                        .map(|(p, _)| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };
    let xml = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{}: comps.xml is not UTF-8 ({e})", path.display()))?;
    let comps = Comps::parse_file(&xml, &path)?;
    tracing::info!(comps = %path.display(), groups = comps.groups.len(), "comps read");
    Ok(Some(CompsFile { xml, comps }))
}

/// The signing key at `key`, asking for its password (from the file, the
/// descriptor, or the terminal) only when the key is encrypted.
pub fn secret_key(
    key: &Path,
    password_file: Option<PathBuf>,
    password_fd: Option<i32>,
) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(key)
        .with_context(|| format!("reading secret key {}", key.display()))?;
    let file = key.display().to_string();
    let password = if SecretKey::file_is_encrypted(&text, &file)? {
        PasswordSource::from_options(password_file, password_fd)
            .read(false)
            .with_context(|| format!("password for {file}"))?
    } else {
        Default::default()
    };
    Ok(SecretKey::parse(&text, password.as_bytes(), &file)?)
}

/// SOURCE_DATE_EPOCH as the reproducible-builds spec defines it: unset or
/// empty means unset; anything else must be a decimal integer.
pub fn source_date_epoch() -> anyhow::Result<Option<u64>> {
    parse_source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

pub fn parse_source_date_epoch(value: Option<&str>) -> anyhow::Result<Option<u64>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            anyhow::anyhow!(
                "SOURCE_DATE_EPOCH={v:?} is not a non-negative integer (seconds since 1970)"
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_parsing() {
        assert_eq!(parse_source_date_epoch(None).unwrap(), None);
        assert_eq!(parse_source_date_epoch(Some("")).unwrap(), None);
        assert_eq!(
            parse_source_date_epoch(Some("1700000000")).unwrap(),
            Some(1_700_000_000)
        );
        let e = parse_source_date_epoch(Some("yesterday")).unwrap_err();
        assert!(e.to_string().contains("SOURCE_DATE_EPOCH"), "{e}");
    }

    #[test]
    fn kickstart_request_parses_the_whole_kickstart() {
        let dir = tempfile::tempdir().unwrap();
        let ks = dir.path().join("n.ks");
        std::fs::write(&ks, "selinux --enforcing\n%packages\nbash\n-foo\n%end\n").unwrap();
        let r = kickstart_request(&ks).unwrap();
        let lines: Vec<usize> = r.request.items.iter().map(|i| i.line).collect();
        assert_eq!(lines, [3, 4]);

        std::fs::write(
            &ks,
            "selinux --enforcing\nurl --url=http://x/\n%packages\nbash\n%end\n",
        )
        .unwrap();
        let e = kickstart_request(&ks).err().expect("refused").to_string();
        assert!(
            e.starts_with(&format!("{}:2: unsupported command `url`", ks.display())),
            "{e}"
        );

        std::fs::write(&ks, "text\n").unwrap();
        let e = kickstart_request(&ks).err().expect("refused").to_string();
        assert_eq!(e, format!("{}: no %packages section", ks.display()));
    }
}
