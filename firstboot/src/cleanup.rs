//! Files an earlier run wrote that the plan no longer has: a role change
//! (a control plane made a worker loses its static pods, kubeconfigs and
//! keys), a plane merged into another (its firewalld zone goes). The
//! journal lists each step's files with the digest of the bytes written;
//! after every step has applied, a file no longer planned is removed if it
//! still holds exactly those bytes. A file edited since is left in place
//! and named in the report: first boot deletes only its own work.

use std::collections::BTreeSet;
use std::io;

use mk_nodeconf::{Action, Plan, Step};
use sha2::{Digest, Sha256};

use crate::engine::{EngineError, Node};
use crate::state::{Journal, JournalStep, WrittenFile};

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Every file and symlink path the plan writes.
pub fn planned(plan: &Plan) -> BTreeSet<String> {
    plan.steps
        .iter()
        .flat_map(|s| &s.actions)
        .filter_map(|a| match a {
            Action::WriteFile { path, .. } | Action::Symlink { path, .. } => Some(path.clone()),
            Action::EnsureGroup { .. } | Action::EnsureUser { .. } | Action::EnsureDir { .. } => {
                None
            }
        })
        .collect()
}

/// What the journal records for `step`: its planned files, plus the files
/// it wrote before that are no longer planned and not yet removed (so a
/// run killed before the removals still knows them).
pub fn files_to_record(
    step: &Step,
    previous: Option<&JournalStep>,
    planned: &BTreeSet<String>,
) -> Vec<WrittenFile> {
    let mut files: Vec<WrittenFile> = step
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::WriteFile { path, contents, .. } => Some(WrittenFile {
                path: path.clone(),
                sha256: digest(contents),
                symlink_target: None,
            }),
            Action::Symlink { path, target } => Some(WrittenFile {
                path: path.clone(),
                sha256: digest(target.as_bytes()),
                symlink_target: Some(target.clone()),
            }),
            Action::EnsureGroup { .. } | Action::EnsureUser { .. } | Action::EnsureDir { .. } => {
                None
            }
        })
        .collect();
    for f in previous.map(|p| p.files.as_slice()).unwrap_or_default() {
        if !planned.contains(&f.path) && !files.iter().any(|g| g.path == f.path) {
            files.push(f.clone());
        }
    }
    files
}

/// Journal files no longer planned, with the step that wrote them.
pub fn stale(journal: &Journal, planned: &BTreeSet<String>) -> Vec<(String, WrittenFile)> {
    let mut out: Vec<(String, WrittenFile)> = Vec::new();
    for s in &journal.steps {
        for f in &s.files {
            if !planned.contains(&f.path) && !out.iter().any(|(_, g)| g.path == f.path) {
                out.push((s.name.clone(), f.clone()));
            }
        }
    }
    out
}

/// What became of a stale file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Still ours: removed (or, for `plan`, would be).
    Removed,
    /// Changed since first boot wrote it (or no longer a regular file; a
    /// symlink: no longer a link to where it was made to point): left in
    /// place.
    Kept,
    /// Already gone.
    Missing,
}

impl Removal {
    /// The report line, `None` for a file already gone.
    pub fn line(self, path: &str) -> Option<String> {
        match self {
            Removal::Removed => Some(format!("- {path}: removed (no longer planned)")),
            Removal::Kept => Some(format!(
                "! {path}: no longer planned, but changed since mk-firstboot wrote it: left in place"
            )),
            Removal::Missing => None,
        }
    }
}

/// What [`remove`] would do, changing nothing.
pub fn check(node: &Node, f: &WrittenFile) -> Result<Removal, EngineError> {
    let p = node.path(&f.path)?;
    let io_err = |source: io::Error| EngineError::Io {
        path: p.display().to_string(),
        source,
    };
    match std::fs::symlink_metadata(&p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Removal::Missing),
        Err(e) => Err(io_err(e)),
        Ok(m) if m.file_type().is_symlink() => {
            let Some(target) = &f.symlink_target else {
                return Ok(Removal::Kept);
            };
            let now = std::fs::read_link(&p).map_err(io_err)?;
            Ok(if now.as_os_str() == std::ffi::OsStr::new(target) {
                Removal::Removed
            } else {
                Removal::Kept
            })
        }
        Ok(_) if f.symlink_target.is_some() => Ok(Removal::Kept),
        Ok(m) if !m.is_file() => Ok(Removal::Kept),
        Ok(_) => {
            let bytes = std::fs::read(&p).map_err(io_err)?;
            Ok(if digest(&bytes) == f.sha256 {
                Removal::Removed
            } else {
                Removal::Kept
            })
        }
    }
}

/// Removes `f` if it still holds what first boot wrote (unlink, then fsync
/// of the directory).
pub fn remove(node: &Node, f: &WrittenFile) -> Result<Removal, EngineError> {
    let r = check(node, f)?;
    if r == Removal::Removed {
        let p = node.path(&f.path)?;
        let io_err = |source: io::Error| EngineError::Io {
            path: p.display().to_string(),
            source,
        };
        std::fs::remove_file(&p).map_err(io_err)?;
        mk_durable::sync_dir(mk_durable::parent(&p)).map_err(io_err)?;
        tracing::info!(path = f.path, "removed: no longer planned");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mk_nodeconf::Owner;

    fn write(path: &str, text: &str) -> Action {
        Action::WriteFile {
            path: path.into(),
            contents: text.as_bytes().to_vec(),
            mode: 0o644,
            owner: Owner::ROOT,
        }
    }

    fn step(name: &str, actions: Vec<Action>) -> Step {
        Step {
            name: name.into(),
            input_digest: "sha256:x".into(),
            actions,
        }
    }

    fn journal_step(name: &str, files: Vec<WrittenFile>) -> JournalStep {
        JournalStep {
            name: name.into(),
            input_digest: "sha256:x".into(),
            actions_digest: "sha256:y".into(),
            outcome: crate::state::StepOutcome::Applied,
            files,
        }
    }

    #[test]
    fn unremoved_files_stay_recorded_until_removed() {
        let old = step(
            "staticpods",
            vec![write("/m/etcd.yaml", "E"), write("/m/api.yaml", "A")],
        );
        let old_files = files_to_record(&old, None, &BTreeSet::new());
        assert_eq!(old_files[0].sha256, digest(b"E"));
        let new = step("staticpods", vec![write("/m/api.yaml", "A2")]);
        let plan = Plan {
            config_digest: String::new(),
            steps: vec![new.clone()],
        };
        let planned = planned(&plan);
        let prev = journal_step("staticpods", old_files.clone());
        let rec = files_to_record(&new, Some(&prev), &planned);
        assert_eq!(
            rec.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["/m/api.yaml", "/m/etcd.yaml"]
        );
        assert_eq!(rec[0].sha256, digest(b"A2"));
        let journal = Journal {
            config_digest: String::new(),
            steps: vec![
                journal_step("staticpods", rec),
                journal_step("gone", vec![old_files[1].clone()]),
            ],
        };
        let s = stale(&journal, &planned);
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].0.as_str(), s[0].1.path.as_str()),
            ("staticpods", "/m/etcd.yaml")
        );
    }

    #[test]
    fn only_unchanged_files_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let node = Node::new(tmp.path());
        std::fs::create_dir_all(tmp.path().join("etc")).unwrap();
        std::fs::write(tmp.path().join("etc/a"), "ours").unwrap();
        std::fs::write(tmp.path().join("etc/b"), "edited").unwrap();
        let f = |p: &str| WrittenFile {
            path: p.into(),
            sha256: digest(b"ours"),
            symlink_target: None,
        };
        assert_eq!(check(&node, &f("/etc/a")).unwrap(), Removal::Removed);
        assert!(tmp.path().join("etc/a").exists(), "check changes nothing");
        assert_eq!(remove(&node, &f("/etc/a")).unwrap(), Removal::Removed);
        assert!(!tmp.path().join("etc/a").exists());
        assert_eq!(remove(&node, &f("/etc/a")).unwrap(), Removal::Missing);
        assert_eq!(remove(&node, &f("/etc/b")).unwrap(), Removal::Kept);
        assert_eq!(std::fs::read(tmp.path().join("etc/b")).unwrap(), b"edited");
        assert_eq!(remove(&node, &f("/etc")).unwrap(), Removal::Kept);
        assert!(Removal::Kept
            .line("/etc/b")
            .unwrap()
            .contains("left in place"));
    }

    #[test]
    fn links_are_recorded_with_their_target_and_removed_only_while_it_holds() {
        let plan_step = step(
            "pki",
            vec![
                write("/k/client-1.pem", "C"),
                Action::Symlink {
                    path: "/k/client-current.pem".into(),
                    target: "/k/client-1.pem".into(),
                },
            ],
        );
        let rec = files_to_record(&plan_step, None, &BTreeSet::new());
        assert_eq!(rec[1].symlink_target.as_deref(), Some("/k/client-1.pem"));
        assert_eq!(rec[1].sha256, digest(b"/k/client-1.pem"));
        assert!(planned(&Plan {
            config_digest: String::new(),
            steps: vec![plan_step],
        })
        .contains("/k/client-current.pem"));

        let tmp = tempfile::tempdir().unwrap();
        let node = Node::new(tmp.path());
        let k = tmp.path().join("k");
        std::fs::create_dir_all(&k).unwrap();
        let link = k.join("client-current.pem");
        // The kubelet rotated: the link points at its newer file.
        std::os::unix::fs::symlink("/k/client-2.pem", &link).unwrap();
        assert_eq!(check(&node, &rec[1]).unwrap(), Removal::Kept);
        // A regular file at the link's path is not ours either.
        std::fs::remove_file(&link).unwrap();
        std::fs::write(&link, "/k/client-1.pem").unwrap();
        assert_eq!(check(&node, &rec[1]).unwrap(), Removal::Kept);
        // Still pointing where first boot put it (dangling or not): removed.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("/k/client-1.pem", &link).unwrap();
        assert_eq!(remove(&node, &rec[1]).unwrap(), Removal::Removed);
        assert!(std::fs::symlink_metadata(&link).is_err());
        // A file record never removes a link.
        std::os::unix::fs::symlink("/k/client-1.pem", &link).unwrap();
        let as_file = WrittenFile {
            symlink_target: None,
            ..rec[1].clone()
        };
        assert_eq!(check(&node, &as_file).unwrap(), Removal::Kept);
    }
}
