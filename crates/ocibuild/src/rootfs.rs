//! Effects on the staging root of an image built on a base: querying the
//! base's rpmdb and installing RPMs with the image's OWN rpm, chrooted into
//! the root (so the rpmdb is in the image's format and scriptlets run with
//! the image's tools), in a private mount namespace with /dev and /proc,
//! and in a new, empty network namespace (builds are offline, R2).

use mk_install::chroot::{self, Mount};
use mk_install::verify::{self, VerifyError};
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// Where the RPMs wait inside the root during the transaction; removed
/// before the diff.
pub const PACKAGES_DIR: &str = ".mk-ocibuild-rpms";

/// Files rpm and tools leave that differ run to run and belong to no
/// package: Berkeley DB environment files and rpm's lock files (recreated
/// on use), ldconfig's cache of inode numbers and times. Removed from the
/// new layer (unless the base already had them).
pub const TRANSIENT: &[&str] = &[
    "var/lib/rpm/.rpm.lock",
    "var/lib/rpm/.dbenv.lock",
    "var/lib/rpm/rpmdb.sqlite-shm",
    "var/lib/rpm/rpmdb.sqlite-wal",
    "var/cache/ldconfig/aux-cache",
];
/// Berkeley DB environment files (`__db.001` ...) in /var/lib/rpm.
pub const TRANSIENT_PREFIX: (&str, &str) = ("var/lib/rpm", "__db.");

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("the base image has no /usr/bin/rpm: images install RPMs with the image's own rpm (add rpm to the base)")]
    NoRpm,
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}\nrpm output:\n{output}", failures.join("\n"))]
    Scriptlet {
        failures: Vec<String>,
        output: String,
    },
    #[error("rpm -i failed ({status}):\n{output}")]
    Rpm { status: String, output: String },
    #[error("after the transaction the rpmdb lacks: {}", missing.join(", "))]
    NotInstalled { missing: Vec<String> },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RootfsError + '_ {
    move |source| RootfsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Mount points `/dev` and `/proc` made for the chroot when the base lacks
/// them; [`MountPoints::remove`] takes them away again so they do not end
/// up in the layer.
pub struct MountPoints {
    created: Vec<PathBuf>,
}

impl MountPoints {
    pub fn ensure(root: &Path) -> Result<MountPoints, RootfsError> {
        use std::os::unix::fs::DirBuilderExt;
        let mut created = Vec::new();
        for (d, mode) in [("dev", 0o755), ("proc", 0o555)] {
            let p = root.join(d);
            if std::fs::symlink_metadata(&p).is_err() {
                std::fs::DirBuilder::new()
                    .mode(mode)
                    .create(&p)
                    .map_err(io(&p))?;
                created.push(p);
            }
        }
        Ok(MountPoints { created })
    }

    pub fn remove(self) -> Result<(), RootfsError> {
        for p in &self.created {
            std::fs::remove_dir(p).map_err(io(p))?;
        }
        Ok(())
    }
}

/// Names of the packages in the root's rpmdb, read with its own rpm.
pub fn installed_names(root: &Path) -> Result<BTreeSet<String>, RootfsError> {
    if std::fs::symlink_metadata(root.join("usr/bin/rpm")).is_err() {
        return Err(RootfsError::NoRpm);
    }
    let out = verify::rpm_in_root(root, &["-qa", "--qf", "%{NAME}\\n"])?;
    if !out.status.success() {
        return Err(RootfsError::Verify(VerifyError::Failed {
            root: root.to_path_buf(),
            command: "rpm -qa".into(),
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Installs `rpms` (host paths; NEVRA, path) into `root` in one `rpm -i`
/// transaction run by the root's own rpm, offline, with SOURCE_DATE_EPOCH
/// exported (rpm ≥ 4.18 then records it as install time). Checks
/// afterwards that every NEVRA is in the rpmdb.
pub fn install(
    root: &Path,
    rpms: &[(String, PathBuf)],
    source_date_epoch: u64,
) -> Result<(), RootfsError> {
    if std::fs::symlink_metadata(root.join("usr/bin/rpm")).is_err() {
        return Err(RootfsError::NoRpm);
    }
    let dir = root.join(PACKAGES_DIR);
    std::fs::create_dir(&dir).map_err(io(&dir))?;
    let result = (|| {
        let mut args: Vec<String> = vec![
            "-i".into(),
            "-v".into(),
            // Signatures are checked where packages enter (repository and
            // bundle verification); rpm still checks header and payload
            // digests.
            "--nosignature".into(),
        ];
        for (nevra, path) in rpms {
            let file = format!("{nevra}.rpm");
            let dest = dir.join(&file);
            if std::fs::hard_link(path, &dest).is_err() {
                std::fs::copy(path, &dest).map_err(io(path))?;
            }
            args.push(format!("/{PACKAGES_DIR}/{file}"));
        }
        run_rpm(root, &args, rpms.len(), source_date_epoch)
    })();
    let cleanup = std::fs::remove_dir_all(&dir).map_err(io(&dir));
    result?;
    cleanup?;

    let installed = verify::installed_packages(root)?;
    let missing: Vec<String> = rpms
        .iter()
        .filter(|(n, _)| installed.binary_search(n).is_err())
        .map(|(n, _)| n.clone())
        .collect();
    if !missing.is_empty() {
        return Err(RootfsError::NotInstalled { missing });
    }
    Ok(())
}

fn run_rpm(root: &Path, args: &[String], total: usize, epoch: u64) -> Result<(), RootfsError> {
    tracing::info!(
        packages = total,
        "rpm (the image's own): installing in one transaction"
    );
    let spawn = |source| {
        RootfsError::Verify(VerifyError::Spawn {
            root: root.to_path_buf(),
            command: "rpm -i".into(),
            source,
        })
    };
    let mut cmd =
        chroot::command(root, &Mount::dev_proc(root), "/usr/bin/rpm", args).map_err(spawn)?;
    cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
    // SAFETY: one raw system call between fork and exec, no allocation.
    unsafe {
        cmd.pre_exec(|| {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET)?;
            Ok(())
        });
    }
    let run = mk_install::install::run_transaction(cmd, total).map_err(spawn)?;
    if !run.failures.is_empty() {
        return Err(RootfsError::Scriptlet {
            failures: run
                .failures
                .iter()
                .map(|f| {
                    format!(
                        "{} scriptlet of {} failed ({})",
                        f.scriptlet, f.package, f.line
                    )
                })
                .collect(),
            output: run.output,
        });
    }
    if !run.status.success() {
        return Err(RootfsError::Rpm {
            status: run.status.to_string(),
            output: run.output,
        });
    }
    Ok(())
}

/// Removes [`TRANSIENT`] files and Berkeley DB environment files that
/// `keep` (paths relative to the root that the base had) does not list.
/// Returns how many were removed.
pub fn remove_transient(root: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<usize, RootfsError> {
    let mut candidates: Vec<PathBuf> = TRANSIENT.iter().map(PathBuf::from).collect();
    let (dir, prefix) = TRANSIENT_PREFIX;
    if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                candidates.push(Path::new(dir).join(e.file_name()));
            }
        }
    }
    let mut n = 0;
    for rel in candidates {
        if keep(&rel) {
            continue;
        }
        let p = root.join(&rel);
        match std::fs::remove_file(&p) {
            Ok(()) => {
                tracing::debug!(path = %rel.display(), "transient file removed");
                n += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&p)(e)),
        }
    }
    Ok(n)
}
