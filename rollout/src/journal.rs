//! The rollout's state, persisted beside the inventory after every step
//! (`<inventory>.rollout.json`, written atomically with mk-durable), so that
//! `mk-rollout apply` resumes where it stopped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::{Plan, Step};

/// Bumped when the file's meaning changes.
pub const FORMAT: u32 = 1;
/// Largest journal read back.
const MAX_SIZE: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    pub plan: Plan,
    /// The last step completed by each node of `plan.nodes`.
    pub done: Vec<Step>,
    /// The latest etcd backup taken by this rollout.
    pub backup: Option<Backup>,
    /// Why the last run stopped, if it did not finish.
    pub stop: Option<Stop>,
    /// The `--bundle` this rollout carries to the nodes (absent without
    /// one, and in journals written before `--bundle` existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleRecord>,
}

/// Which bundle a rollout started with: a run under way goes on only with
/// the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    pub file: String,
    pub version: String,
    pub sha256: String,
}

impl std::fmt::Display for BundleRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bundle {} (version {}, sha256 {})",
            self.file, self.version, self.sha256
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// Seconds since the Unix epoch when it was verified.
    pub at: u64,
    /// Where it is, as mk-etcdbackup reported it.
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub node: Option<String>,
    /// The step that did not complete.
    pub step: String,
    /// What was seen.
    pub seen: String,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Some(n) => write!(f, "node {n}, step \"{}\": {}", self.step, self.seen),
            None => write!(f, "step \"{}\": {}", self.step, self.seen),
        }
    }
}

impl Journal {
    pub fn new(plan: Plan) -> Journal {
        let done = vec![Step::Pending; plan.nodes.len()];
        Journal {
            format: FORMAT,
            plan,
            done,
            backup: None,
            stop: None,
            bundle: None,
        }
    }
}

/// Where the journal of `inventory` lives.
pub fn path_for(inventory: &Path) -> PathBuf {
    let mut name = inventory
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "inventory".into());
    name.push(".rollout.json");
    inventory.with_file_name(name)
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {message}")]
    Bad { path: String, message: String },
    #[error("{path}: cannot write the rollout state: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The journal at `path`, or `None` when there is none yet.
pub fn read(path: &Path) -> Result<Option<Journal>, JournalError> {
    let bad = |message: String| JournalError::Bad {
        path: path.display().to_string(),
        message,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot read: {e}"))),
    };
    if meta.len() > MAX_SIZE {
        return Err(bad(format!(
            "{} bytes, more than {MAX_SIZE} accepted",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let j: Journal = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not a rollout state file: {e}")))?;
    if j.format != FORMAT {
        return Err(bad(format!(
            "format {}, this mk-rollout reads format {FORMAT}",
            j.format
        )));
    }
    if j.done.len() != j.plan.nodes.len() {
        return Err(bad("the step list does not match the node list".into()));
    }
    Ok(Some(j))
}

/// Writes the journal atomically (temporary file, fsync, rename, fsync of
/// the directory): a crash leaves the old or the new state, never half.
pub fn write(path: &Path, j: &Journal) -> Result<(), JournalError> {
    let mut bytes = serde_json::to_vec_pretty(j).expect("a journal serialises");
    bytes.push(b'\n');
    mk_durable::write_atomic(path, &bytes).map_err(|source| JournalError::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Role;
    use crate::plan::PlannedNode;

    #[test]
    fn round_trip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_for(&dir.path().join("site.yaml"));
        assert_eq!(p, dir.path().join("site.yaml.rollout.json"));
        assert_eq!(read(&p).unwrap(), None);
        let mut j = Journal::new(Plan {
            image_version: "v2".into(),
            nodes: vec![PlannedNode {
                name: "w1".into(),
                role: Role::Worker,
                wipes_disk: false,
            }],
            batches: vec![vec![0]],
        });
        j.done[0] = Step::Drained;
        j.stop = Some(Stop {
            node: Some("w1".into()),
            step: "re-image".into(),
            seen: "exit 3".into(),
        });
        write(&p, &j).unwrap();
        assert_eq!(read(&p).unwrap(), Some(j));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"drained\""), "{text}");
        std::fs::write(&p, "{").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("not a rollout state file"), "{e}");
    }
}
