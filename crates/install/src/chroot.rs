//! Running a program chrooted into a tree, with `/dev` and `/proc` mounted
//! for it.
//!
//! The child process unshares its mount namespace (mount propagation made
//! private) before mounting anything: the mounts exist only for that
//! process and vanish with it, even if we are killed, so nothing can leak
//! into the host's mount table and no unmount guard can be forgotten. This
//! needs root (CAP_SYS_ADMIN, CAP_SYS_CHROOT).

use rustix::mount::{
    mount, mount_bind, mount_change, mount_remount, MountFlags, MountPropagationFlags,
};
use rustix::thread::UnshareFlags;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mount made in the child's private namespace before it chroots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// Bind `source` (host path) onto `target` (host path).
    Bind { source: PathBuf, target: PathBuf },
    /// A fresh procfs on `target` (host path).
    Proc { target: PathBuf },
    /// `path` bound onto itself read-only: a shared tree (the cached
    /// bootstrap) that the child must not change. Put it before mounts
    /// below `path`, which then stack on the read-only one.
    ReadOnly { path: PathBuf },
}

impl Mount {
    /// `/dev` bound and `/proc` mounted inside `root`: what rpm and
    /// scriptlets need (`/dev/null`, `/dev/urandom`, `/proc/self`).
    pub fn dev_proc(root: &Path) -> Vec<Mount> {
        vec![
            Mount::Bind {
                source: "/dev".into(),
                target: root.join("dev"),
            },
            Mount::Proc {
                target: root.join("proc"),
            },
        ]
    }
}

enum RawMount {
    Bind(CString, CString),
    Proc(CString),
    ReadOnly(CString),
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: path contains a NUL byte", p.display()),
        )
    })
}

/// The environment programs in the chroot get: nothing from ours (no
/// locale the target may lack, no host PATH).
pub const CHROOT_ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    ("HOME", "/root"),
    ("LANG", "C"),
    ("LC_ALL", "C"),
];

/// A command that runs `program args` (paths inside `root`) chrooted into
/// `root`, after making `mounts` in a private mount namespace.
pub fn command<S: AsRef<OsStr>>(
    root: &Path,
    mounts: &[Mount],
    program: &str,
    args: &[S],
) -> io::Result<Command> {
    let c_root = cstring(root)?;
    let raw: Vec<RawMount> = mounts
        .iter()
        .map(|m| {
            Ok(match m {
                Mount::Bind { source, target } => {
                    RawMount::Bind(cstring(source)?, cstring(target)?)
                }
                Mount::Proc { target } => RawMount::Proc(cstring(target)?),
                Mount::ReadOnly { path } => RawMount::ReadOnly(cstring(path)?),
            })
        })
        .collect::<io::Result<_>>()?;
    let mut cmd = Command::new(program);
    cmd.args(args).env_clear().envs(CHROOT_ENV.iter().copied());
    // SAFETY: the closure runs between fork and exec. It only makes raw
    // system calls on data prepared above (no allocation, no locks), and
    // errors are converted with `From<Errno>`, which does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            rustix::thread::unshare_unsafe(UnshareFlags::NEWNS)?;
            mount_change(
                c"/",
                MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
            )?;
            for m in &raw {
                match m {
                    RawMount::Bind(s, t) => mount_bind(s.as_c_str(), t.as_c_str())?,
                    RawMount::Proc(t) => mount(
                        c"proc",
                        t.as_c_str(),
                        c"proc",
                        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                        None,
                    )?,
                    RawMount::ReadOnly(p) => {
                        mount_bind(p.as_c_str(), p.as_c_str())?;
                        mount_remount(p.as_c_str(), MountFlags::BIND | MountFlags::RDONLY, c"")?;
                    }
                }
            }
            rustix::process::chroot(c_root.as_c_str())?;
            rustix::process::chdir(c"/")?;
            Ok(())
        });
    }
    Ok(cmd)
}
