//! The install step's effects: bootstrap tree, one rpm transaction, checks.
//!
//! 1. Refuse early (nothing written): missing packages unless allowed,
//!    requirements nothing would provide, a set without `rpm`, a root that
//!    is not empty.
//! 2. Bootstrap: unpack the closure of the set's `rpm` package ourselves
//!    ([`crate::unpack`]) into a throw-away tree beside the root, or take
//!    it from a cache keyed by those packages' bytes ([`install_cached`]).
//!    rpm sees it read-only, with the package files mounted into it.
//! 3. Install: chrooted into the bootstrap tree, the target's own rpm runs
//!    `rpm --root /target -i` with every package in ONE transaction, so
//!    rpm orders them, runs their scriptlets chrooted into the target, and
//!    writes the target's own rpmdb format (Berkeley DB for CentOS 7). The
//!    target thus holds only what rpm put there: no leftovers from our
//!    unpacking, and `filesystem`'s %pretrans lays out `/bin -> usr/bin`
//!    and `/var/run -> ../run` as on a real install. This is how mock's
//!    bootstrap chroot and anaconda install; the rpm that runs is the
//!    target's own build.
//! 4. Verify, chrooted into the target with its own rpm: `rpm -qa` equals
//!    the plan, `rpm -Va` is clean, and no unowned file remains
//!    ([`crate::verify`]).
//!
//! The target is built in a temporary directory beside `root` and renamed
//! to it only when every check passed; on failure it is removed. Mounts
//! live in the child processes' private mount namespaces only.
//!
//! Missing packages (`allow_missing`): rpm's dependency check is turned off
//! (`--nodeps`) for the transaction and for `rpm -Va`, but only after the
//! plan has shown that every requirement left unmet is provided by a
//! package the repository lists and lacks; any other unmet requirement is
//! an error. rpm has no way to ignore only some capabilities, and the
//! resolver (against the full repodata) already checked the rest.

use crate::chroot::{self, Mount};
use crate::plan::{bootstrap_set, InstallPlan, PlannedPackage};
use crate::unpack::{Tree, UnpackError, UnpackStats};
use crate::verify::{self, ScriptletFailure, Unowned, VerifyError};
use mk_depsolve::install_order;
use mk_rpmrepo::Package;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Where the bootstrap tree mounts the target.
const TARGET_IN_BOOTSTRAP: &str = ".mk-target";
/// Where package files are placed in the bootstrap tree.
const PACKAGES_IN_BOOTSTRAP: &str = "var/tmp/mk-install";
/// Bumped whenever what a bootstrap tree holds changes for the same
/// packages (unpacking, mount points), so older cached trees are not used.
const BOOTSTRAP_FORMAT: u32 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Install although the plan lists missing packages (see the module
    /// docs). Off: missing packages are an error before anything is done.
    pub allow_missing: bool,
    /// Unowned paths to accept, besides [`verify::ALWAYS_ALLOWED`]: exact
    /// paths or `DIR/**` (e.g. [`verify::CENTOS7_SCRIPTLET_STATE`]).
    pub allowed_unowned: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timings {
    pub bootstrap: Duration,
    pub rpm: Duration,
    pub verify: Duration,
}

/// What an install did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// NEVRAs in the target's rpmdb (equal to the plan), sorted.
    pub installed: Vec<String>,
    /// NEVRAs unpacked into the bootstrap tree, in unpack order.
    pub bootstrap: Vec<String>,
    /// What unpacking the bootstrap tree wrote (zero when it was reused).
    pub bootstrap_stats: UnpackStats,
    /// Whether the bootstrap tree came from the cache instead of being
    /// unpacked ([`install_cached`]).
    pub bootstrap_reused: bool,
    /// Names of packages the repository lists but lacks.
    pub missing: Vec<String>,
    /// Whether rpm's dependency check was turned off for the missing ones.
    pub relaxed_deps: bool,
    /// Unowned entries: implicit directories and allowed paths (failures
    /// make the install fail).
    pub unowned: Unowned,
    pub timings: Timings,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{message}; refusing to install (set allow_missing to install the rest)")]
    MissingPackages { message: String },
    #[error("requirements no package in the set provides:\n  {}", list.join("\n  "))]
    Unprovided { list: Vec<String> },
    #[error("the package set has no `rpm` package: the target's own rpm is needed to install it")]
    NoRpm,
    #[error("{}: the install root must be absent or an empty directory", root.display())]
    RootNotEmpty { root: PathBuf },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bootstrap")]
    Unpack(#[from] UnpackError),
    #[error("{}\nrpm output:\n{output}", scriptlet_summary(failures))]
    Scriptlet {
        failures: Vec<ScriptletFailure>,
        output: String,
    },
    #[error("rpm -i failed ({status}):\n{output}")]
    Rpm { status: String, output: String },
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("the rpmdb does not match the plan: not installed: [{}]; not planned: [{}]", missing.join(", "), extra.join(", "))]
    Mismatch {
        missing: Vec<String>,
        extra: Vec<String>,
    },
    #[error("rpm -Va reports {} problem(s):\n  {}", lines.len(), lines.join("\n  "))]
    VerifyProblems { lines: Vec<String> },
    #[error("{} path(s) no package owns (R18):\n  {}", paths.len(), paths.join("\n  "))]
    Unowned { paths: Vec<String> },
    #[error("{}: refusing to delete: {mount} is still mounted", path.display())]
    Mounted { path: PathBuf, mount: String },
}

fn scriptlet_summary(f: &[ScriptletFailure]) -> String {
    f.iter()
        .map(|f| {
            format!(
                "{} scriptlet of {} failed ({})",
                f.scriptlet, f.package, f.line
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Installs `packages` (all present) into `root`; see [`install`].
pub fn install_into(
    root: &Path,
    packages: &[(Package, PathBuf)],
    opts: &InstallOptions,
) -> Result<Report, InstallError> {
    install(&InstallPlan::complete(packages), root, opts)
}

/// Installs the plan into `root` (absent or an empty directory).
pub fn install(
    plan: &InstallPlan,
    root: &Path,
    opts: &InstallOptions,
) -> Result<Report, InstallError> {
    install_with_epoch(plan, root, opts, None)
}

/// [`install_with_epoch`], with bootstrap trees cached in `cache_dir`: one
/// directory per key (the SHA-256 of the bootstrap packages' content, the
/// tool version and a format number), built beside its final name and
/// renamed in, so another install of the same `rpm` closure skips
/// unpacking it. A cached tree is mounted read-only for rpm, so no install
/// can change what the next one gets.
pub fn install_cached(
    plan: &InstallPlan,
    root: &Path,
    opts: &InstallOptions,
    source_date_epoch: Option<u64>,
    cache_dir: &Path,
) -> Result<Report, InstallError> {
    install_impl(plan, root, opts, source_date_epoch, Some(cache_dir))
}

/// [`install`], with SOURCE_DATE_EPOCH passed to the target's rpm: rpm ≥
/// 4.18 then records it instead of the wall clock as install time and
/// transaction id, so the rpmdb is reproducible (image builds, R4).
/// Older rpm (CentOS 7's 4.11) ignores it.
pub fn install_with_epoch(
    plan: &InstallPlan,
    root: &Path,
    opts: &InstallOptions,
    source_date_epoch: Option<u64>,
) -> Result<Report, InstallError> {
    install_impl(plan, root, opts, source_date_epoch, None)
}

fn install_impl(
    plan: &InstallPlan,
    root: &Path,
    opts: &InstallOptions,
    source_date_epoch: Option<u64>,
    cache_dir: Option<&Path>,
) -> Result<Report, InstallError> {
    // 1. Refuse before doing anything.
    if let Some(message) = plan.missing_message() {
        if !opts.allow_missing {
            return Err(InstallError::MissingPackages { message });
        }
        tracing::warn!("{message}; installing the rest with rpm's dependency check relaxed");
    }
    let unprovided = plan.unprovided();
    if !unprovided.is_empty() {
        return Err(InstallError::Unprovided {
            list: unprovided.iter().map(|u| u.to_string()).collect(),
        });
    }
    let relaxed = !plan.unmet.is_empty();
    for u in &plan.unmet {
        tracing::warn!("unmet: {u}");
    }
    let pkgs: Vec<&Package> = plan.packages.iter().map(|p| &p.package).collect();
    let boot = bootstrap_set(&pkgs).ok_or(InstallError::NoRpm)?;
    check_empty_root(root)?;

    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = root
        .file_name()
        .ok_or_else(|| InstallError::RootNotEmpty {
            root: root.to_path_buf(),
        })?
        .to_string_lossy();
    let work = parent.join(format!(".{name}.mk-install.{}", std::process::id()));
    if work.exists() {
        remove_tree(&work)?;
    }
    std::fs::create_dir(&work).map_err(io_at(&work))?;
    let result = run(
        plan,
        &boot,
        &work,
        relaxed,
        opts,
        source_date_epoch,
        cache_dir,
    );
    let result = result.and_then(|report| {
        let target = work.join("root");
        std::fs::rename(&target, root).map_err(io_at(root))?;
        Ok(report)
    });
    let cleanup = remove_tree(&work);
    let report = result?;
    cleanup?;
    tracing::info!(
        root = %root.display(),
        packages = report.installed.len(),
        "installed"
    );
    Ok(report)
}

fn check_empty_root(root: &Path) -> Result<(), InstallError> {
    match std::fs::read_dir(root) {
        Ok(mut d) => {
            if d.next().is_some() {
                return Err(InstallError::RootNotEmpty {
                    root: root.to_path_buf(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(root)(e)),
    }
}

fn run(
    plan: &InstallPlan,
    boot: &[usize],
    work: &Path,
    relaxed: bool,
    opts: &InstallOptions,
    source_date_epoch: Option<u64>,
    cache_dir: Option<&Path>,
) -> Result<Report, InstallError> {
    let target = work.join("root");
    std::fs::create_dir(&target).map_err(io_at(&target))?;
    let mut report = Report {
        missing: plan.missing.iter().map(|p| p.name.clone()).collect(),
        relaxed_deps: relaxed,
        ..Report::default()
    };

    // 2. Bootstrap tree.
    let started = Instant::now();
    let ordered = bootstrap_order(plan, boot);
    report.bootstrap = ordered.iter().map(|p| p.package.nevra()).collect();
    let bdir = match cache_dir {
        None => {
            let bdir = work.join("bootstrap");
            report.bootstrap_stats = build_bootstrap(&bdir, &ordered)?;
            bdir
        }
        Some(cache) => cached_bootstrap(cache, &ordered, &mut report)?,
    };
    report.timings.bootstrap = started.elapsed();

    // 3. One rpm transaction.
    let started = Instant::now();
    // Package files go in a per-install directory mounted into the
    // bootstrap tree, which may be shared (cached) and is read-only to rpm.
    let pkg_dir = work.join("packages");
    std::fs::create_dir(&pkg_dir).map_err(io_at(&pkg_dir))?;
    let mut args: Vec<String> = vec![
        "--root".into(),
        format!("/{TARGET_IN_BOOTSTRAP}"),
        "-i".into(),
        "-v".into(),
        // Signatures are checked where packages enter (repository and
        // bundle verification); rpm still checks every header and payload
        // digest.
        "--nosignature".into(),
    ];
    if relaxed {
        args.push("--nodeps".into());
    }
    for p in &plan.packages {
        let file = format!("{}.rpm", p.package.nevra());
        let dest = pkg_dir.join(&file);
        if std::fs::hard_link(&p.path, &dest).is_err() {
            std::fs::copy(&p.path, &dest).map_err(io_at(&p.path))?;
        }
        args.push(format!("/{PACKAGES_IN_BOOTSTRAP}/{file}"));
    }
    let tmount = bdir.join(TARGET_IN_BOOTSTRAP);
    // Mount points in the target get the modes `filesystem` gives them,
    // since rpm sees the mounts, not these directories.
    for (d, mode) in [(target.join("dev"), 0o755), (target.join("proc"), 0o555)] {
        make_mount_point(&d, mode)?;
    }
    // rpm's sqlite database (rpm >= 4.16) spills large transactions into
    // temporary files under /var/tmp or /tmp ("disk I/O error" when it
    // cannot): a per-install writable /tmp over the read-only tree.
    let scratch = work.join("tmp");
    std::fs::create_dir(&scratch).map_err(io_at(&scratch))?;
    std::fs::set_permissions(
        &scratch,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .map_err(io_at(&scratch))?;
    let mut mounts = vec![Mount::ReadOnly { path: bdir.clone() }];
    mounts.extend(Mount::dev_proc(&bdir));
    mounts.push(Mount::Bind {
        source: scratch,
        target: bdir.join("tmp"),
    });
    mounts.push(Mount::Bind {
        source: target.clone(),
        target: tmount.clone(),
    });
    mounts.extend(Mount::dev_proc(&tmount));
    mounts.push(Mount::Bind {
        source: pkg_dir,
        target: bdir.join(PACKAGES_IN_BOOTSTRAP),
    });
    run_rpm(
        &bdir,
        &mounts,
        &args,
        plan.packages.len(),
        source_date_epoch,
    )?;
    report.timings.rpm = started.elapsed();

    // 4. Checks with the target's own rpm.
    let started = Instant::now();
    let installed = verify::installed_packages(&target)?;
    let mut planned: Vec<String> = plan.packages.iter().map(|p| p.package.nevra()).collect();
    planned.sort();
    if installed != planned {
        let missing = planned
            .iter()
            .filter(|p| installed.binary_search(p).is_err())
            .cloned()
            .collect();
        let extra = installed
            .iter()
            .filter(|p| planned.binary_search(p).is_err())
            .cloned()
            .collect();
        return Err(InstallError::Mismatch { missing, extra });
    }
    report.installed = installed;
    let lines = verify::rpm_verify(&target, relaxed)?;
    if !lines.is_empty() {
        return Err(InstallError::VerifyProblems { lines });
    }
    let owned = verify::owned_paths(&target)?;
    let unowned = verify::find_unowned(&target, &owned, &opts.allowed_unowned)?;
    if !unowned.failures.is_empty() {
        return Err(InstallError::Unowned {
            paths: unowned.failures,
        });
    }
    tracing::info!(
        packages = report.installed.len(),
        implicit_dirs = unowned.implicit_dirs.len(),
        allowed_unowned = unowned.allowed.len(),
        ms = started.elapsed().as_millis() as u64,
        "verified: rpm -qa matches the plan, rpm -Va clean, no unowned files"
    );
    report.unowned = unowned;
    report.timings.verify = started.elapsed();
    Ok(report)
}

/// The packages of the bootstrap tree (indexes `boot` into the plan), in
/// unpack order.
fn bootstrap_order<'a>(plan: &'a InstallPlan, boot: &[usize]) -> Vec<&'a PlannedPackage> {
    let boot_pkgs: Vec<&PlannedPackage> = boot.iter().map(|&i| &plan.packages[i]).collect();
    let mut order = install_order(
        &boot_pkgs
            .iter()
            .map(|p| &p.package)
            .collect::<Vec<&Package>>(),
    );
    // `filesystem` lays out /bin -> usr/bin, /lib64 -> usr/lib64 ...;
    // rpm's order runs its %pretrans first for the same reason.
    order.sort_by_key(|&i| boot_pkgs[i].package.name != "filesystem");
    order.iter().map(|&i| boot_pkgs[i]).collect()
}

/// Unpacks `ordered` into a new directory `bdir`, with the mount points
/// the rpm run needs.
fn build_bootstrap(bdir: &Path, ordered: &[&PlannedPackage]) -> Result<UnpackStats, InstallError> {
    let started = Instant::now();
    std::fs::create_dir(bdir).map_err(io_at(bdir))?;
    let mut stats = UnpackStats::default();
    let mut tree = Tree::open(bdir)?;
    for (n, p) in ordered.iter().enumerate() {
        stats += tree.unpack(&p.path)?;
        tracing::debug!(n = n + 1, of = ordered.len(), package = %p.package, "bootstrap: unpacked");
    }
    for (d, mode) in [
        ("dev", 0o755),
        ("proc", 0o555),
        ("tmp", 0o1777),
        (TARGET_IN_BOOTSTRAP, 0o755),
        ("var", 0o755),
        ("var/tmp", 0o1777),
        (PACKAGES_IN_BOOTSTRAP, 0o755),
    ] {
        make_mount_point(&bdir.join(d), mode)?;
    }
    tracing::info!(
        packages = ordered.len(),
        files = stats.files,
        mb = stats.bytes / 1_000_000,
        ms = started.elapsed().as_millis() as u64,
        "bootstrap tree unpacked"
    );
    Ok(stats)
}

/// The key [`install_cached`] files the plan's bootstrap tree under (its
/// directory name in the cache); `None` when the plan has no `rpm`.
pub fn bootstrap_key(plan: &InstallPlan) -> Result<Option<String>, InstallError> {
    let pkgs: Vec<&Package> = plan.packages.iter().map(|p| &p.package).collect();
    bootstrap_set(&pkgs)
        .map(|boot| key_of(&bootstrap_order(plan, &boot)))
        .transpose()
}

/// What makes a bootstrap tree's content: the packages' bytes and order,
/// and the code that unpacks them.
fn key_of(ordered: &[&PlannedPackage]) -> Result<String, InstallError> {
    let mut text = format!(
        "mk-install {} bootstrap format {BOOTSTRAP_FORMAT}\n",
        env!("CARGO_PKG_VERSION")
    );
    for p in ordered {
        // The files' own bytes, not repodata's word for them.
        let (digest, _) = mk_durable::Digest::of_file(&p.path).map_err(io_at(&p.path))?;
        text.push_str(&format!("{} {}\n", digest.hex(), p.package.nevra()));
    }
    Ok(mk_durable::Digest::of(text.as_bytes()).hex())
}

/// The cached bootstrap tree for `ordered`, built first if absent.
fn cached_bootstrap(
    cache: &Path,
    ordered: &[&PlannedPackage],
    report: &mut Report,
) -> Result<PathBuf, InstallError> {
    let key = key_of(ordered)?;
    let entry = cache.join(&key);
    if entry.is_dir() {
        tracing::info!(cache = %entry.display(), "bootstrap tree reused from the cache");
        report.bootstrap_reused = true;
        return Ok(entry);
    }
    std::fs::create_dir_all(cache).map_err(io_at(cache))?;
    let tmp = cache.join(format!(".{key}.{}", std::process::id()));
    if tmp.exists() {
        remove_tree(&tmp)?;
    }
    let built = build_bootstrap(&tmp, ordered).and_then(|stats| {
        // Durable before it is visible under its final name: a crash must
        // not leave a cached tree with empty files.
        let dir = std::fs::File::open(&tmp).map_err(io_at(&tmp))?;
        rustix::fs::syncfs(&dir).map_err(|e| io_at(&tmp)(e.into()))?;
        Ok(stats)
    });
    let stats = match built {
        Ok(stats) => stats,
        Err(e) => {
            let _ = remove_tree(&tmp);
            return Err(e);
        }
    };
    match std::fs::rename(&tmp, &entry) {
        Ok(()) => mk_durable::sync_dir(cache).map_err(io_at(cache))?,
        // Another install built the same key meanwhile: same content.
        Err(_) if entry.is_dir() => remove_tree(&tmp)?,
        Err(e) => {
            let _ = remove_tree(&tmp);
            return Err(io_at(&entry)(e));
        }
    }
    tracing::info!(cache = %entry.display(), "bootstrap tree cached");
    report.bootstrap_stats = stats;
    Ok(entry)
}

fn make_mount_point(dir: &Path, mode: u32) -> Result<(), InstallError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {
            // Not subject to the umask.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(io_at(dir))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(io_at(dir)(e)),
    }
}

/// Runs rpm in the bootstrap chroot, logging progress as rpm names each
/// package it installs.
fn run_rpm(
    bdir: &Path,
    mounts: &[Mount],
    args: &[String],
    total: usize,
    source_date_epoch: Option<u64>,
) -> Result<(), InstallError> {
    tracing::info!(packages = total, "rpm: installing in one transaction");
    let spawn_err = |source| {
        InstallError::Verify(VerifyError::Spawn {
            root: bdir.to_path_buf(),
            command: "rpm -i".into(),
            source,
        })
    };
    let mut cmd = chroot::command(bdir, mounts, "/usr/bin/rpm", args).map_err(spawn_err)?;
    if let Some(e) = source_date_epoch {
        cmd.env("SOURCE_DATE_EPOCH", e.to_string());
    }
    let run = run_transaction(cmd, total).map_err(spawn_err)?;
    if !run.failures.is_empty() {
        return Err(InstallError::Scriptlet {
            failures: run.failures,
            output: run.output,
        });
    }
    if !run.status.success() {
        return Err(InstallError::Rpm {
            status: run.status.to_string(),
            output: run.output,
        });
    }
    Ok(())
}

/// How one rpm transaction ended: its exit status, everything it printed
/// (stdout, then stderr) and the scriptlet failures named on stderr.
#[derive(Debug)]
pub struct Transaction {
    pub status: std::process::ExitStatus,
    pub output: String,
    pub failures: Vec<ScriptletFailure>,
}

/// Runs `cmd`, an `rpm -i` of `total` packages (already set up: chroot,
/// arguments, environment), logging progress as rpm names each package it
/// installs. Shared by installs into an empty root and into an image's
/// unpacked base (mk-ocibuild).
pub fn run_transaction(
    mut cmd: std::process::Command,
    total: usize,
) -> std::io::Result<Transaction> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let mut stdout_text = String::new();
    let mut done = 0usize;
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line.unwrap_or_default();
        stdout_text.push_str(&line);
        stdout_text.push('\n');
        let l = line.trim();
        if l.is_empty() || l.starts_with("Preparing") || l.contains(' ') {
            continue;
        }
        done += 1;
        if done.is_multiple_of(10) || done == total {
            tracing::info!(done, of = total, last = l, "rpm: installing");
        } else {
            tracing::debug!(done, of = total, package = l, "rpm: installing");
        }
    }
    let status = child.wait()?;
    let stderr_text = err_thread.join().unwrap_or_default();
    Ok(Transaction {
        status,
        output: format!("{stdout_text}{stderr_text}"),
        failures: verify::parse_scriptlet_failures(&stderr_text),
    })
}

/// Removes a work tree, refusing if anything below it is mounted (which
/// the private namespaces should make impossible; deleting through a
/// bound /dev would be a disaster).
fn remove_tree(path: &Path) -> Result<(), InstallError> {
    let real = std::fs::canonicalize(path).map_err(io_at(path))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in info.lines() {
        if let Some(mp) = line.split(' ').nth(4) {
            let mp = mp.replace("\\040", " ");
            if Path::new(&mp).starts_with(&real) {
                return Err(InstallError::Mounted {
                    path: path.to_path_buf(),
                    mount: mp,
                });
            }
        }
    }
    std::fs::remove_dir_all(path).map_err(io_at(path))
}
