//! Test fixture distribution (issue 6 part 1, DESIGN §3): a pinned list of
//! Debian 12 packages and their dependency closure, repackaged as RPMs
//! with mk-rpmpack, in an ordinary RPM repository (repodata included) that
//! the composer treats like CentOS media. See docs/fixture-distro.md.
//!
//! [`build`] resolves the closure with apt, derives the cache key from the
//! list, the resolved versions and this tool's revision, and returns
//! `CACHE/<key>/repo` at once when it exists; otherwise it downloads the
//! .debs (`CACHE/debs`, checked against apt's SHA-256), converts them in
//! parallel into a temporary directory beside the target, writes the lock
//! file and repodata, and renames the directory in. A file lock serialises
//! concurrent builds (tests running in parallel).

pub mod apt;
pub mod control;
pub mod convert;
pub mod deb;
pub mod resolve;
pub mod scripts;
pub mod selinux;
pub mod usrmerge;
pub mod version;

pub use scripts::SCRIPTLET_STATE;

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bump when the conversion's output changes for the same inputs: it is
/// part of the cache key.
pub const CONVERTER_REVISION: u32 = 4;

/// Build time of every package and the repodata timestamp.
pub const BUILD_TIME: u32 = mk_rpmpack::DEFAULT_BUILD_TIME;

/// Name of the lock file inside the repository.
pub const LOCK_FILE: &str = "fixture-distro.lock";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}:{line}: {reason}", path.display())]
    List {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Apt(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Deb(#[from] deb::DebError),
    #[error("{0}")]
    Convert(String),
    #[error(transparent)]
    Pack(#[from] mk_rpmpack::PackError),
    #[error("{}: repodata: {reason}", path.display())]
    Repodata { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Package names from a list file: one per line, `#` comments. Pure.
pub fn parse_list(path: &Path, text: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        if mk_rpmpack::validate::name_problem(l).is_some()
            || l.chars().any(|c| c.is_ascii_uppercase())
        {
            return Err(Error::List {
                path: path.to_path_buf(),
                line: n + 1,
                reason: format!(
                    "{l:?}: expected one Debian package name (lowercase letters, digits, . + -)"
                ),
            });
        }
        if out.iter().any(|o| o == l) {
            return Err(Error::List {
                path: path.to_path_buf(),
                line: n + 1,
                reason: format!("{l} is listed twice"),
            });
        }
        out.push(l.to_owned());
    }
    if out.is_empty() {
        return Err(Error::List {
            path: path.to_path_buf(),
            line: 0,
            reason: "no package names".into(),
        });
    }
    Ok(out)
}

/// One resolved package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub sha256: String,
}

/// Cache key: list, resolved versions and converter revision. Pure.
pub fn cache_key(list: &[String], resolved: &[Resolved]) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "mk-fixture-distro {} revision {CONVERTER_REVISION}\n",
        env!("CARGO_PKG_VERSION")
    ));
    let mut l = list.to_vec();
    l.sort();
    for n in l {
        h.update(format!("list {n}\n"));
    }
    for r in resolved {
        h.update(format!(
            "pkg {}={} {} {}\n",
            r.name, r.version, r.arch, r.sha256
        ));
    }
    // The container policy module's sources (selinux.rs).
    h.update(format!("selinux {}\n{}\n", selinux::TE, selinux::FC));
    hex::encode(&h.finalize()[..8])
}

pub struct Options {
    pub list: PathBuf,
    pub cache_dir: PathBuf,
}

/// Holds an exclusive lock on `CACHE/.lock` while alive.
struct CacheLock(#[allow(dead_code)] std::fs::File);

fn lock(cache: &Path) -> Result<CacheLock, Error> {
    std::fs::create_dir_all(cache).map_err(io(cache))?;
    let p = cache.join(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(io(&p))?;
    tracing::debug!(lock = %p.display(), "waiting for the cache lock");
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| io(&p)(e.into()))?;
    Ok(CacheLock(f))
}

/// Builds (or finds in the cache) the repository; returns its path.
pub fn build(opts: &Options) -> Result<PathBuf, Error> {
    let started = Instant::now();
    let text = std::fs::read_to_string(&opts.list).map_err(io(&opts.list))?;
    let list = parse_list(&opts.list, &text)?;
    let closure =
        resolve::closure(&list, &mut apt::Apt::load().map_err(Error::Apt)?).map_err(Error::Apt)?;
    let resolved: Vec<Resolved> = closure
        .packages
        .values()
        .map(|st| Resolved {
            name: st.field("Package").to_owned(),
            version: st.field("Version").to_owned(),
            arch: st.field("Architecture").to_owned(),
            sha256: st.field("SHA256").to_owned(),
        })
        .collect();
    if let Some(r) = resolved.iter().find(|r| r.sha256.len() != 64) {
        return Err(Error::Apt(format!(
            "{}: apt's index gives no SHA256",
            r.name
        )));
    }
    let key = cache_key(&list, &resolved);
    let dir = opts.cache_dir.join(&key);
    let repo = dir.join("repo");
    tracing::info!(
        listed = list.len(),
        resolved = resolved.len(),
        key = %key,
        "dependency closure"
    );
    let _lock = lock(&opts.cache_dir)?;
    if repo.join("repodata/repomd.xml").is_file() {
        tracing::info!(repo = %repo.display(), "cached");
        return Ok(repo);
    }
    for c in &closure.choices {
        tracing::debug!("choice: {c}");
    }

    let debs_dir = opts.cache_dir.join("debs");
    let want: Vec<(String, String, String, String)> = resolved
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.version.clone(),
                r.arch.clone(),
                r.sha256.clone(),
            )
        })
        .collect();
    let paths = apt::download(&want, &debs_dir).map_err(Error::Apt)?;
    tracing::info!(
        debs = paths.len(),
        secs = started.elapsed().as_secs(),
        "downloaded"
    );

    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let tmp = dir.join(format!(".repo.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(io(&tmp))?;
    let result = convert_all(&paths, &closure.packages, &tmp, &resolved);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if repo.exists() {
        // A half-finished earlier layout (no repomd.xml): replace it.
        std::fs::remove_dir_all(&repo).map_err(io(&repo))?;
    }
    std::fs::rename(&tmp, &repo).map_err(io(&repo))?;
    mk_durable::sync_dir(&dir).map_err(io(&dir))?;
    tracing::info!(repo = %repo.display(), secs = started.elapsed().as_secs(), "fixture distribution built");
    Ok(repo)
}

fn convert_all(
    paths: &[PathBuf],
    stanzas: &BTreeMap<String, control::Stanza>,
    out: &Path,
    resolved: &[Resolved],
) -> Result<(), Error> {
    let started = Instant::now();
    let debs: Vec<deb::Deb> = paths
        .par_iter()
        .map(|p| deb::read_deb(p))
        .collect::<Result<_, _>>()?;
    tracing::info!(
        debs = debs.len(),
        secs = started.elapsed().as_secs(),
        "read"
    );
    let set = convert::SetIndex::new(stanzas).map_err(Error::Convert)?;
    let dirs = shared_paths(&debs)?;
    let fs = convert::filesystem_package(BUILD_TIME, &dirs);
    fs.build_to_dir(out)?;
    // Ours, not Debian's: the container types (selinux.rs).
    let scratch = tempfile::tempdir_in(out).map_err(io(out))?;
    let pp = selinux::compile(scratch.path()).map_err(Error::Convert)?;
    drop(scratch);
    selinux::package(pp, BUILD_TIME).build_to_dir(out)?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = debs.len();
    let notes: Vec<convert::Notes> = debs
        .par_iter()
        .map(|d| -> Result<convert::Notes, Error> {
            let (mut p, notes) =
                convert::convert(d, &set, &dirs, BUILD_TIME).map_err(Error::Convert)?;
            // Fast: the repository is rebuilt from scratch on a fresh
            // machine; rpm 4.18 (the fixture's own) reads zstd.
            p.compression(mk_rpmpack::Compression::Zstd)
                .compression_level(3);
            p.build_to_dir(out)?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(25) || n == total {
                tracing::info!(done = n, of = total, "converted");
            }
            Ok(notes)
        })
        .collect::<Result<_, _>>()?;
    for n in notes.iter().flat_map(|n| &n.dropped_versions) {
        tracing::warn!("{n}");
    }
    let mut lock = String::from("# name=version sha256 of each .deb (mk-fixture-distro)\n");
    for r in resolved {
        lock.push_str(&format!("{}={} {}\n", r.name, r.version, r.sha256));
    }
    let lp = out.join(LOCK_FILE);
    mk_durable::write_atomic(&lp, lock.as_bytes()).map_err(io(&lp))?;
    let pkgs = mk_rpmrepo::dir::scan_dir(out).map_err(|e| Error::Repodata {
        path: out.to_path_buf(),
        reason: e.to_string(),
    })?;
    mk_rpmrepo::repodata::write_repodata(
        out,
        &pkgs,
        &mk_rpmrepo::repodata::WriteOptions::with_timestamp(BUILD_TIME as u64),
    )
    .map_err(|e| Error::Repodata {
        path: out.to_path_buf(),
        reason: e.to_string(),
    })?;
    tracing::info!(
        packages = pkgs.len(),
        secs = started.elapsed().as_secs(),
        "converted and indexed"
    );
    Ok(())
}

/// Set-wide checks on paths several packages ship: directories get one
/// set of attributes (the `filesystem` layout's, else the first package's
/// in name order); a non-directory shipped by two packages must be the
/// same (type and content), as rpm requires.
fn shared_paths(debs: &[deb::Deb]) -> Result<convert::DirAttrs, Error> {
    use deb::EntryKind;
    let mut dirs: BTreeMap<String, (u16, String, String)> = BTreeMap::new();
    for (d, mode) in convert::FILESYSTEM_DIRS {
        dirs.insert((*d).to_owned(), (*mode, "root".into(), "root".into()));
    }
    let mut others: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    let mut sorted: Vec<&deb::Deb> = debs.iter().collect();
    sorted.sort_by(|a, b| a.control.field("Package").cmp(b.control.field("Package")));
    for d in sorted {
        let name = d.control.field("Package");
        for e in &d.entries {
            if usrmerge::is_merged_top(&e.path) {
                continue;
            }
            let p = usrmerge::canonical(&e.path);
            let sig: Option<Vec<u8>> = match &e.kind {
                EntryKind::Dir => {
                    if others.contains_key(&p) {
                        return Err(Error::Convert(format!(
                            "{p}: a directory in {name} but not in {}",
                            others[&p].0
                        )));
                    }
                    dirs.entry(p.clone())
                        .or_insert((e.mode, e.user.clone(), e.group.clone()));
                    None
                }
                EntryKind::File(b) => Some(
                    [
                        b"f".as_slice(),
                        &Sha256::digest(b)[..],
                        &e.mode.to_be_bytes(),
                    ]
                    .concat(),
                ),
                EntryKind::HardLink(t) => Some(format!("h{t}").into_bytes()),
                EntryKind::Symlink(t) => {
                    Some(format!("l{}", usrmerge::relocated_target(&e.path, &p, t)).into_bytes())
                }
            };
            if let Some(sig) = sig {
                if dirs.contains_key(&p) {
                    return Err(Error::Convert(format!(
                        "{p}: a directory elsewhere, but not in {name}"
                    )));
                }
                match others.get(&p) {
                    Some((other, s)) if *s != sig && other != name => {
                        return Err(Error::Convert(format!(
                            "{p}: shipped differently by {other} and {name} (rpm would refuse the conflict)"
                        )))
                    }
                    Some(_) => {}
                    None => {
                        others.insert(p, (name.to_owned(), sig));
                    }
                }
            }
        }
    }
    Ok(convert::DirAttrs(dirs))
}
