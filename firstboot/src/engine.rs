//! The applier: compares each action of a plan with the node under a root
//! directory, and makes only the differences true. Files are replaced
//! atomically (temporary file beside the target with its final mode, owner
//! and SELinux label, fsync, rename, fsync of the directory; symlinks made
//! beside the target and renamed over it), so a crash at
//! any point leaves either the old or the new file, and the next run
//! finishes the job. Nothing is written when nothing differs.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use mk_nodeconf::{Action, Owner};
use thiserror::Error;

use crate::accounts::{self, AccountError};

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(
        "{file} is read-only and lacks {what}; on an mk image the mk-firstboot package creates \
         the service accounts when the image is built, so this image was built without it or \
         with other IDs"
    )]
    ReadOnlyAccounts { file: String, what: String },
    #[error("{path}: exists but is not a {wanted}; refusing to replace it")]
    WrongType { path: String, wanted: &'static str },
    #[error("{path}: plan paths must be absolute and free of `..`")]
    BadPath { path: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One difference between an action and the node, for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `+` created, `~` changed.
    pub sign: char,
    pub subject: String,
    pub detail: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.sign, self.subject, self.detail)
    }
}

/// Crash points for tests: with `MK_FIRSTBOOT_TEST_KILL_AT=N` the process
/// kills itself with SIGKILL when it reaches the N-th point (1-based):
/// before each action, after a temporary file is complete but before its
/// rename, and after each rename. Never set on a node.
pub struct CrashPoints {
    at: Option<u64>,
    passed: u64,
}

impl CrashPoints {
    pub fn from_env() -> Self {
        CrashPoints {
            at: std::env::var("MK_FIRSTBOOT_TEST_KILL_AT")
                .ok()
                .and_then(|v| v.parse().ok()),
            passed: 0,
        }
    }
    pub fn none() -> Self {
        CrashPoints {
            at: None,
            passed: 0,
        }
    }
    pub fn point(&mut self) {
        self.passed += 1;
        if self.at == Some(self.passed) {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
    }
}

/// The node root that plan paths are under.
#[derive(Debug, Clone)]
pub struct Node {
    pub root: PathBuf,
}

impl Node {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Node { root: root.into() }
    }

    /// `path` (absolute on the node) under the root.
    pub fn path(&self, path: &str) -> Result<PathBuf, EngineError> {
        let p = Path::new(path);
        if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(EngineError::BadPath { path: path.into() });
        }
        Ok(self.root.join(p.strip_prefix("/").unwrap_or(p)))
    }

    /// What `action` would change; empty when the node already holds it.
    pub fn diff(&self, action: &Action) -> Result<Vec<Difference>, EngineError> {
        match action {
            Action::EnsureGroup { name, gid } => {
                let mut out = Vec::new();
                let group = self.read_text("/etc/group")?;
                if accounts::ensure_group(&group.unwrap_or_default(), name, *gid)?.is_some() {
                    out.push(diff('+', format!("group {name}"), format!("GID {gid}")));
                }
                if let Some(gs) = self.read_text("/etc/gshadow")? {
                    if accounts::ensure_gshadow(&gs, name).is_some() {
                        out.push(diff(
                            '+',
                            format!("group {name}"),
                            "/etc/gshadow entry".into(),
                        ));
                    }
                }
                Ok(out)
            }
            Action::EnsureUser {
                name,
                uid,
                gid,
                home,
                comment,
            } => {
                let mut out = Vec::new();
                let passwd = self.read_text("/etc/passwd")?.unwrap_or_default();
                let exists = passwd.lines().any(|l| l.split(':').next() == Some(name));
                if accounts::ensure_passwd(&passwd, name, *uid, *gid, comment, home)?.is_some() {
                    out.push(diff(
                        if exists { '~' } else { '+' },
                        format!("user {name}"),
                        format!(
                            "UID {uid}, GID {gid}, home {home}, shell {}",
                            accounts::NOLOGIN
                        ),
                    ));
                }
                if let Some(sh) = self.read_text("/etc/shadow")? {
                    if accounts::ensure_shadow(&sh, name).is_some() {
                        out.push(diff(
                            '+',
                            format!("user {name}"),
                            "/etc/shadow entry (locked)".into(),
                        ));
                    }
                }
                Ok(out)
            }
            Action::EnsureDir { path, mode, owner } => {
                let target = self.path(path)?;
                match fs::metadata(&target) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(vec![diff(
                        '+',
                        path.clone(),
                        format!(
                            "directory, mode {mode:04o}, owner {}:{}",
                            owner.uid, owner.gid
                        ),
                    )]),
                    Err(e) => Err(io_err(&target)(e)),
                    Ok(m) if !m.is_dir() => Err(EngineError::WrongType {
                        path: target.display().to_string(),
                        wanted: "directory",
                    }),
                    Ok(m) => Ok(meta_diffs(path, &m, *mode, *owner)),
                }
            }
            Action::WriteFile {
                path,
                contents,
                mode,
                owner,
            } => {
                let target = self.path(path)?;
                match fs::symlink_metadata(&target) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(vec![diff(
                        '+',
                        path.clone(),
                        format!(
                            "{} bytes, mode {mode:04o}, owner {}:{}",
                            contents.len(),
                            owner.uid,
                            owner.gid
                        ),
                    )]),
                    Err(e) => Err(io_err(&target)(e)),
                    Ok(m) if !m.is_file() => Err(EngineError::WrongType {
                        path: target.display().to_string(),
                        wanted: "regular file",
                    }),
                    Ok(m) => {
                        let same = m.len() == contents.len() as u64
                            && fs::read(&target).map_err(io_err(&target))? == *contents;
                        if same {
                            Ok(meta_diffs(path, &m, *mode, *owner))
                        } else {
                            Ok(vec![diff(
                                '~',
                                path.clone(),
                                format!("content ({} -> {} bytes)", m.len(), contents.len()),
                            )])
                        }
                    }
                }
            }
            Action::Symlink { path, target } => {
                let link = self.path(path)?;
                Ok(match link_state(&link, target)? {
                    LinkState::Holds => Vec::new(),
                    LinkState::Missing => {
                        vec![diff('+', path.clone(), format!("symlink -> {target}"))]
                    }
                    LinkState::Other(old) => vec![diff(
                        '~',
                        path.clone(),
                        format!("symlink -> {old} becomes -> {target}"),
                    )],
                    LinkState::File => vec![diff(
                        '~',
                        path.clone(),
                        format!("file replaced by symlink -> {target}"),
                    )],
                })
            }
        }
    }

    /// Makes `action` hold. Call only when [`Node::diff`] found differences.
    pub fn apply(&self, action: &Action, crash: &mut CrashPoints) -> Result<(), EngineError> {
        match action {
            Action::EnsureGroup { name, gid } => {
                if let Some(new) = accounts::ensure_group(
                    &self.read_text("/etc/group")?.unwrap_or_default(),
                    name,
                    *gid,
                )? {
                    self.write_account_file(
                        "/etc/group",
                        &new,
                        0o644,
                        &format!("group {name}"),
                        crash,
                    )?;
                }
                if let Some(gs) = self.read_text("/etc/gshadow")? {
                    if let Some(new) = accounts::ensure_gshadow(&gs, name) {
                        self.write_account_file(
                            "/etc/gshadow",
                            &new,
                            0,
                            &format!("group {name}"),
                            crash,
                        )?;
                    }
                }
                Ok(())
            }
            Action::EnsureUser {
                name,
                uid,
                gid,
                home,
                comment,
            } => {
                let passwd = self.read_text("/etc/passwd")?.unwrap_or_default();
                if let Some(new) =
                    accounts::ensure_passwd(&passwd, name, *uid, *gid, comment, home)?
                {
                    self.write_account_file(
                        "/etc/passwd",
                        &new,
                        0o644,
                        &format!("user {name}"),
                        crash,
                    )?;
                }
                if let Some(sh) = self.read_text("/etc/shadow")? {
                    if let Some(new) = accounts::ensure_shadow(&sh, name) {
                        self.write_account_file(
                            "/etc/shadow",
                            &new,
                            0,
                            &format!("user {name}"),
                            crash,
                        )?;
                    }
                }
                Ok(())
            }
            Action::EnsureDir { path, mode, owner } => {
                let target = self.path(path)?;
                match fs::metadata(&target) {
                    Ok(_) => set_meta(&target, *mode, *owner),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        self.make_parents(&target)?;
                        remove_stale_temps(&target)?;
                        // Build the directory under a temporary name with
                        // its final mode and owner, then rename: a crash
                        // never leaves it with the wrong owner.
                        let tmp = tempfile::Builder::new()
                            .prefix(&format!(
                                ".{}.",
                                target.file_name().unwrap_or_default().to_string_lossy()
                            ))
                            .suffix(".tmp")
                            .tempdir_in(mk_durable::parent(&target))
                            .map_err(io_err(&target))?;
                        set_meta(tmp.path(), *mode, *owner)?;
                        copy_label_from_parent(tmp.path());
                        let tmp = tmp.keep();
                        crash.point();
                        fs::rename(&tmp, &target).map_err(io_err(&target))?;
                        mk_durable::sync_dir(mk_durable::parent(&target))
                            .map_err(io_err(&target))?;
                        crash.point();
                        Ok(())
                    }
                    Err(e) => Err(io_err(&target)(e)),
                }
            }
            Action::WriteFile {
                path,
                contents,
                mode,
                owner,
            } => {
                let target = self.path(path)?;
                let meta = match fs::symlink_metadata(&target) {
                    Ok(m) => Some(m),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => return Err(io_err(&target)(e)),
                };
                let same = meta.as_ref().is_some_and(|m| {
                    m.len() == contents.len() as u64
                        && fs::read(&target).ok().as_deref() == Some(contents.as_slice())
                });
                if same {
                    return set_meta(&target, *mode, *owner);
                }
                self.make_parents(&target)?;
                write_replace(&target, contents, *mode, *owner, crash)
            }
            Action::Symlink { path, target } => {
                let link = self.path(path)?;
                if link_state(&link, target)? == LinkState::Holds {
                    return Ok(());
                }
                self.make_parents(&link)?;
                link_replace(&link, target, crash)
            }
        }
    }

    fn read_text(&self, path: &str) -> Result<Option<String>, EngineError> {
        let p = self.path(path)?;
        match fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Replaces an account database keeping its mode, owner and label.
    fn write_account_file(
        &self,
        path: &str,
        text: &str,
        default_mode: u32,
        what: &str,
        crash: &mut CrashPoints,
    ) -> Result<(), EngineError> {
        let target = self.path(path)?;
        let (mode, owner) = match fs::metadata(&target) {
            Ok(m) => (
                m.mode() & 0o7777,
                Owner {
                    uid: m.uid(),
                    gid: m.gid(),
                },
            ),
            Err(_) => (default_mode, Owner::ROOT),
        };
        self.make_parents(&target)?;
        match write_replace(&target, text.as_bytes(), mode, owner, crash) {
            Err(EngineError::Io { source, .. })
                if source.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error()) =>
            {
                Err(EngineError::ReadOnlyAccounts {
                    file: target.display().to_string(),
                    what: what.into(),
                })
            }
            r => r,
        }
    }

    /// Missing parents of `target`, root-owned 0755, as the plan promises.
    fn make_parents(&self, target: &Path) -> Result<(), EngineError> {
        let parent = mk_durable::parent(target);
        if parent.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut p = parent;
        while !p.exists() {
            missing.push(p.to_path_buf());
            match p.parent() {
                Some(q) => p = q,
                None => break,
            }
        }
        for dir in missing.iter().rev() {
            match fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(dir)(e)),
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(io_err(dir))?;
            mk_durable::sync_dir(mk_durable::parent(dir)).map_err(io_err(dir))?;
        }
        Ok(())
    }
}

fn diff(sign: char, subject: String, detail: String) -> Difference {
    Difference {
        sign,
        subject,
        detail,
    }
}

fn meta_diffs(path: &str, m: &fs::Metadata, mode: u32, owner: Owner) -> Vec<Difference> {
    let mut parts = Vec::new();
    let have = m.mode() & 0o7777;
    if have != mode {
        parts.push(format!("mode {have:04o} -> {mode:04o}"));
    }
    if (m.uid(), m.gid()) != (owner.uid, owner.gid) {
        parts.push(format!(
            "owner {}:{} -> {}:{}",
            m.uid(),
            m.gid(),
            owner.uid,
            owner.gid
        ));
    }
    if parts.is_empty() {
        Vec::new()
    } else {
        vec![diff('~', path.into(), parts.join(", "))]
    }
}

/// chown, then chmod (chown clears set-id bits), only where they differ.
fn set_meta(path: &Path, mode: u32, owner: Owner) -> Result<(), EngineError> {
    let m = fs::metadata(path).map_err(io_err(path))?;
    if (m.uid(), m.gid()) != (owner.uid, owner.gid) {
        std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid)).map_err(io_err(path))?;
    }
    if m.mode() & 0o7777 != mode || (m.uid(), m.gid()) != (owner.uid, owner.gid) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))?;
    }
    Ok(())
}

const SELINUX_XATTR: &str = "security.selinux";

/// The SELinux label of `path`, if it has one.
fn label_of(path: &Path) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::getxattr(path, SELINUX_XATTR, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// A new directory gets its parent's label (the policy's default for
/// files created there would be the same type in the common case).
fn copy_label_from_parent(dir: &Path) {
    if let Some(label) = dir.parent().and_then(label_of) {
        let _ = rustix::fs::setxattr(dir, SELINUX_XATTR, &label, rustix::fs::XattrFlags::empty());
    }
}

/// Atomic replace: temporary file beside `target` with the final bytes,
/// owner, mode and (when `target` exists) its SELinux label, fsync, rename,
/// fsync of the directory. Stale temporary files of `target` from an
/// interrupted run are removed first.
fn write_replace(
    target: &Path,
    contents: &[u8],
    mode: u32,
    owner: Owner,
    crash: &mut CrashPoints,
) -> Result<(), EngineError> {
    remove_stale_temps(target)?;
    let mut tmp = mk_durable::temp_beside(target).map_err(io_err(target))?;
    tmp.write_all(contents).map_err(io_err(target))?;
    let f = tmp.as_file();
    std::os::unix::fs::fchown(f, Some(owner.uid), Some(owner.gid)).map_err(io_err(target))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(target))?;
    // Replacing a file must not lose its label (rename keeps the temporary
    // file's, which is the directory's default, e.g. etc_t for /etc/shadow).
    if let Some(label) = label_of(target) {
        let _ = rustix::fs::fsetxattr(f, SELINUX_XATTR, &label, rustix::fs::XattrFlags::empty());
    }
    f.sync_all().map_err(io_err(target))?;
    crash.point();
    tmp.persist(target).map_err(|e| io_err(target)(e.error))?;
    mk_durable::sync_dir(mk_durable::parent(target)).map_err(io_err(target))?;
    crash.point();
    Ok(())
}

/// What is at the path of a planned symlink.
#[derive(Debug, PartialEq, Eq)]
enum LinkState {
    /// The link, with the planned target.
    Holds,
    Missing,
    /// A link to somewhere else (its target).
    Other(String),
    /// A file (or another non-directory) in the way.
    File,
}

/// A directory in the way is an error: it may hold anything, and first
/// boot removes only files it wrote (docs/firstboot.md).
fn link_state(link: &Path, target: &str) -> Result<LinkState, EngineError> {
    match fs::symlink_metadata(link) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LinkState::Missing),
        Err(e) => Err(io_err(link)(e)),
        Ok(m) if m.file_type().is_symlink() => {
            let old = fs::read_link(link).map_err(io_err(link))?;
            Ok(if old.as_os_str() == std::ffi::OsStr::new(target) {
                LinkState::Holds
            } else {
                LinkState::Other(old.display().to_string())
            })
        }
        Ok(m) if m.is_dir() => Err(EngineError::WrongType {
            path: link.display().to_string(),
            wanted: "symbolic link",
        }),
        Ok(_) => Ok(LinkState::File),
    }
}

/// Atomic replace of whatever file is at `link` by a symlink: the link is
/// made beside it under a temporary name (`.NAME.XXXXXX.tmp`, what
/// [`remove_stale_temps`] clears after a crash), renamed over it, and the
/// directory fsynced. The replaced entry's SELinux label is kept.
fn link_replace(link: &Path, target: &str, crash: &mut CrashPoints) -> Result<(), EngineError> {
    remove_stale_temps(link)?;
    let dir = mk_durable::parent(link);
    let tmp = mk_durable::symlink_beside(link, Path::new(target)).map_err(io_err(link))?;
    let mut buf = vec![0u8; 256];
    if let Ok(n) = rustix::fs::lgetxattr(link, SELINUX_XATTR, &mut buf) {
        let _ = rustix::fs::lsetxattr(
            tmp.path(),
            SELINUX_XATTR,
            &buf[..n],
            rustix::fs::XattrFlags::empty(),
        );
    }
    crash.point();
    tmp.persist(link).map_err(|e| io_err(link)(e.error))?;
    mk_durable::sync_dir(dir).map_err(io_err(link))?;
    crash.point();
    Ok(())
}

/// Temporary files `mk_durable::temp_beside` names `.NAME.XXXXXX.tmp`; a
/// killed run leaves them behind.
fn remove_stale_temps(target: &Path) -> Result<(), EngineError> {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    let prefix = format!(".{name}.");
    let dir = mk_durable::parent(target);
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&prefix) && n.ends_with(".tmp") && n.len() == prefix.len() + 6 + 4 {
            let p = e.path();
            let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            r.map_err(io_err(&p))?;
        }
    }
    Ok(())
}

/// NetworkManager as first boot drives it after the `network` step wrote
/// keyfiles: load them, then activate each profile, links before the VLANs
/// on them, so that the planes' addresses exist before they are read.
/// Kept thin (two commands) so that the sequencing is tested with a fake.
pub trait NetworkManager {
    /// `nmcli connection reload`: re-read the keyfile directory.
    fn reload(&mut self) -> Result<(), String>;
    /// `nmcli --wait SECS connection up id ID`: activate and wait for it.
    fn up(&mut self, id: &str) -> Result<(), String>;
    /// What NetworkManager says about profile `id` (its activation state
    /// and device), for the error when a plane's address never comes.
    fn state(&mut self, id: &str) -> String;
}

/// No NetworkManager to drive: the root is a directory, not a running
/// node (tests, image builds). Files are written, nothing is activated.
pub struct OfflineNm;

impl NetworkManager for OfflineNm {
    fn reload(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn up(&mut self, _id: &str) -> Result<(), String> {
        Ok(())
    }
    fn state(&mut self, _id: &str) -> String {
        "not asked (the root is not a running node)".into()
    }
}

/// The real one: the `nmcli` binary (NetworkManager 1.12 on CentOS 7.6 has
/// both commands; its D-Bus API would need a second code path for 1.12's
/// older interface).
pub struct Nmcli {
    /// Seconds `up` waits for a profile (DHCP included).
    pub wait_secs: u32,
}

impl Nmcli {
    fn run(&self, args: &[&str]) -> Result<(), String> {
        let wait = self.wait_secs.to_string();
        let mut all = vec!["--wait", wait.as_str()];
        all.extend_from_slice(args);
        tracing::debug!(?all, "nmcli");
        let out = std::process::Command::new("nmcli")
            .args(&all)
            .output()
            .map_err(|e| format!("running `nmcli {}`: {e}", args.join(" ")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`nmcli {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl NetworkManager for Nmcli {
    fn reload(&mut self) -> Result<(), String> {
        self.run(&["connection", "reload"])
    }
    fn up(&mut self, id: &str) -> Result<(), String> {
        self.run(&["connection", "up", "id", id])
    }
    fn state(&mut self, id: &str) -> String {
        // Terse fields (1.12 has both): `activating`, `enp1s0`, ...
        let out = std::process::Command::new("nmcli")
            .args(["-t", "-f", "GENERAL.STATE,GENERAL.DEVICES"])
            .args(["connection", "show", "id", id])
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                let fields: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(_, v)| v)
                    .collect();
                if fields.is_empty() {
                    "not active".into()
                } else {
                    fields.join(" on ")
                }
            }
            Ok(o) => format!(
                "`nmcli connection show id {id}` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => format!("running nmcli: {e}"),
        }
    }
}

/// After the network step: when it changed files, reload and bring up
/// every profile it wrote (`step`'s keyfiles, in
/// [`mk_nodeconf::steps::network::connection_ids`]'s order). Unchanged:
/// nothing (NetworkManager brought them up at boot, autoconnect). Returns
/// the line for the report, or the first failure naming the profile.
pub fn bring_up(
    nm: &mut dyn NetworkManager,
    step: &mk_nodeconf::Step,
    changed: bool,
) -> Result<Option<String>, String> {
    if !changed {
        return Ok(None);
    }
    let ids = mk_nodeconf::steps::network::connection_ids(step);
    nm.reload()?;
    for id in &ids {
        nm.up(id).map_err(|e| format!("bringing up {id}: {e}"))?;
    }
    Ok(Some(format!(
        "NetworkManager: reloaded, brought up {}",
        ids.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(path: &str, target: &str) -> Action {
        Action::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }

    fn lines(node: &Node, a: &Action) -> Vec<String> {
        node.diff(a)
            .unwrap()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn symlinks_are_made_replaced_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let node = Node::new(tmp.path());
        let at = tmp
            .path()
            .join("var/lib/kubelet/pki/kubelet-client-current.pem");
        let path = "/var/lib/kubelet/pki/kubelet-client-current.pem";
        let a = link(
            path,
            "/var/lib/kubelet/pki/kubelet-client-2026-12-07-06-51-19.pem",
        );
        let mut crash = CrashPoints::none();

        assert_eq!(
            lines(&node, &a),
            [format!(
                "+ {path}: symlink -> /var/lib/kubelet/pki/kubelet-client-2026-12-07-06-51-19.pem"
            )]
        );
        node.apply(&a, &mut crash).unwrap();
        assert_eq!(
            fs::read_link(&at).unwrap().to_str(),
            Some("/var/lib/kubelet/pki/kubelet-client-2026-12-07-06-51-19.pem")
        );
        assert!(lines(&node, &a).is_empty());
        let ino = fs::symlink_metadata(&at).unwrap().ino();
        node.apply(&a, &mut crash).unwrap();
        assert_eq!(fs::symlink_metadata(&at).unwrap().ino(), ino, "untouched");

        // Pointing elsewhere (the kubelet rotated, or an older plan).
        let b = link(
            path,
            "/var/lib/kubelet/pki/kubelet-client-2027-01-01-00-00-00.pem",
        );
        assert_eq!(
            lines(&node, &b),
            [format!(
                "~ {path}: symlink -> /var/lib/kubelet/pki/kubelet-client-2026-12-07-06-51-19.pem \
                 becomes -> /var/lib/kubelet/pki/kubelet-client-2027-01-01-00-00-00.pem"
            )]
        );
        node.apply(&b, &mut crash).unwrap();
        assert!(lines(&node, &b).is_empty());

        // A regular file in the way (earlier versions wrote one there), and
        // a temporary link a killed run left behind.
        fs::remove_file(&at).unwrap();
        fs::write(&at, "CERT").unwrap();
        let stale = at.with_file_name(".kubelet-client-current.pem.AbC123.tmp");
        std::os::unix::fs::symlink("/nowhere", &stale).unwrap();
        assert_eq!(
            lines(&node, &a),
            [format!(
                "~ {path}: file replaced by symlink -> /var/lib/kubelet/pki/kubelet-client-2026-12-07-06-51-19.pem"
            )]
        );
        node.apply(&a, &mut crash).unwrap();
        assert!(lines(&node, &a).is_empty());
        assert!(fs::symlink_metadata(&stale).is_err(), "stale temp removed");
        let left: Vec<String> = fs::read_dir(at.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["kubelet-client-current.pem"]);

        // A directory in the way is not ours to remove.
        fs::remove_file(&at).unwrap();
        fs::create_dir(&at).unwrap();
        let e = node.diff(&a).unwrap_err().to_string();
        assert!(
            e.ends_with("kubelet-client-current.pem: exists but is not a symbolic link; refusing to replace it"),
            "{e}"
        );
        assert!(node.apply(&a, &mut crash).is_err());
        assert!(at.is_dir());
    }

    struct FakeNm(Vec<String>, Option<&'static str>);
    impl super::NetworkManager for FakeNm {
        fn state(&mut self, _id: &str) -> String {
            "activating".into()
        }
        fn reload(&mut self) -> Result<(), String> {
            self.0.push("reload".into());
            Ok(())
        }
        fn up(&mut self, id: &str) -> Result<(), String> {
            self.0.push(format!("up {id}"));
            match self.1 {
                Some(bad) if bad == id => Err("no device".into()),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn bring_up_loads_then_activates_links_before_vlans_only_when_changed() {
        let action = |p: &str| mk_nodeconf::Action::WriteFile {
            path: format!("{}/{p}.nmconnection", mk_nodeconf::mk_netconf::KEYFILE_DIR),
            contents: Vec::new(),
            mode: 0o600,
            owner: Owner::ROOT,
        };
        let step = mk_nodeconf::Step {
            name: "network".into(),
            input_digest: String::new(),
            actions: vec![
                action("mk-bond0.100"),
                action("mk-bond0"),
                action("mk-eth0"),
            ],
        };
        let mut nm = FakeNm(Vec::new(), None);
        assert_eq!(super::bring_up(&mut nm, &step, false), Ok(None));
        assert!(nm.0.is_empty());
        let line = super::bring_up(&mut nm, &step, true).unwrap().unwrap();
        assert_eq!(
            nm.0,
            ["reload", "up mk-bond0", "up mk-eth0", "up mk-bond0.100"]
        );
        assert!(line.contains("mk-bond0, mk-eth0, mk-bond0.100"), "{line}");
        let mut nm = FakeNm(Vec::new(), Some("mk-eth0"));
        let e = super::bring_up(&mut nm, &step, true).unwrap_err();
        assert_eq!(e, "bringing up mk-eth0: no device");
        assert_eq!(
            nm.0.last().unwrap(),
            "up mk-eth0",
            "stops at the first failure"
        );
    }
}
