//! What first boot remembers and reports: the journal (config digest and
//! each step's digests and outcome; rewritten only when one of them
//! changes, so a run with nothing to do writes nothing to it) and the
//! report (rewritten by every run: each step, what changed, how long it
//! took, any error).

use std::path::{Path, PathBuf};

use mk_roleconfig::FailurePolicy;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Node paths, relative to the node root.
pub const STATE_DIR: &str = "var/lib/mk-firstboot";
pub const JOURNAL: &str = "var/lib/mk-firstboot/journal.json";
pub const REPORT: &str = "var/lib/mk-firstboot/report.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Journal {
    /// `sha256:<hex>` of the last config applied (or tried).
    pub config_digest: String,
    pub steps: Vec<JournalStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JournalStep {
    pub name: String,
    pub input_digest: String,
    /// `sha256:<hex>` of the step's actions as planned: catches a changed
    /// planner (new mk version) with the same inputs.
    pub actions_digest: String,
    pub outcome: StepOutcome,
    /// The files the step writes, with the digest of the bytes planned:
    /// what a later run removes when its plan no longer has them
    /// (`crate::cleanup`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<WrittenFile>,
}

/// How a step's last run ended, as the journal remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepOutcome {
    Applied,
    Failed,
}

/// A file (or symlink) first boot wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WrittenFile {
    /// Node path.
    pub path: String,
    /// `sha256:<hex>` of the contents written; of the target text for a
    /// symlink.
    pub sha256: String,
    /// Set for a symlink: the target it was made with. A link is removed
    /// only while it still points there (never a regular file at its path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink_target: Option<String>,
}

impl Journal {
    /// The journal under `root`; a missing or unreadable one is empty (the
    /// journal only decides what the report calls "inputs changed"; the
    /// node's actual state decides what is written).
    pub fn load(root: &Path) -> Journal {
        std::fs::read(root.join(JOURNAL))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn step(&self, name: &str) -> Option<&JournalStep> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Records `step`, replacing an earlier entry of the same name.
    pub fn record(&mut self, step: JournalStep) {
        match self.steps.iter_mut().find(|s| s.name == step.name) {
            Some(s) => *s = step,
            None => self.steps.push(step),
        }
    }

    /// Writes the journal if it differs from what is on disk.
    pub fn save_if_changed(&self, root: &Path) -> std::io::Result<bool> {
        let path = root.join(JOURNAL);
        let mut text = serde_json::to_vec_pretty(self).expect("journal serialises");
        text.push(b'\n');
        if std::fs::read(&path).ok().as_deref() == Some(text.as_slice()) {
            return Ok(false);
        }
        ensure_state_dir(root)?;
        mk_durable::write_atomic_mode(&path, &text, 0o600)?;
        Ok(true)
    }
}

pub fn actions_digest(step: &mk_nodeconf::Step) -> String {
    let json = serde_json::to_vec(&step.actions).expect("actions serialise");
    format!("sha256:{}", hex::encode(Sha256::digest(json)))
}

fn ensure_state_dir(root: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = root.join(STATE_DIR);
    if !dir.is_dir() {
        // Parents as the system has them (0755); only our own directory is
        // private.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(mk_durable::parent(&dir))?;
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    }
    Ok(dir)
}

/// report.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub mk_version: String,
    /// RFC 3339, UTC (the report is the one file allowed to carry the time).
    pub started_at: String,
    pub node: String,
    pub source: String,
    pub signature: String,
    pub config_digest: String,
    pub failure_policy: FailurePolicy,
    pub outcome: Outcome,
    pub total_changes: usize,
    pub duration_ms: f64,
    pub steps: Vec<StepReport>,
    /// Why the config was refused (outcome `refused`): every line the
    /// console shows, e.g. the expired intermediates and the admin's
    /// commands. Nothing else was changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusal: Vec<String>,
}

/// How a run ended: `ok` when every step applied or had nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Failed,
    /// The config was refused before anything was applied.
    Refused,
}

/// What a run did with one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Something changed.
    Applied,
    /// Nothing differed.
    Unchanged,
    Failed,
    /// Not run: an earlier step failed under the `halt` policy.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub name: String,
    pub input_digest: String,
    /// Whether the step's inputs or actions differ from the last run's.
    pub inputs_changed: bool,
    /// Actions that changed something.
    pub changed: usize,
    pub duration_ms: f64,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What changed, one line per difference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

impl Report {
    /// The report of a refused config: the node, source and signature the
    /// last run knew (the refused config may not even name the node), no
    /// steps, and the reason.
    pub fn refused(root: &Path, reason: Vec<String>) -> Report {
        let last = Report::load(root);
        let field = |f: fn(&Report) -> &String| last.as_ref().map(f).cloned().unwrap_or_default();
        Report {
            mk_version: env!("CARGO_PKG_VERSION").into(),
            started_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            node: field(|r| &r.node),
            source: field(|r| &r.source),
            signature: String::new(),
            config_digest: String::new(),
            failure_policy: last.as_ref().map(|r| r.failure_policy).unwrap_or_default(),
            outcome: Outcome::Refused,
            total_changes: 0,
            duration_ms: 0.0,
            steps: vec![],
            refusal: reason,
        }
    }

    /// The last run's report, if there is a readable one.
    pub fn load(root: &Path) -> Option<Report> {
        let text = std::fs::read(root.join(REPORT)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn save(&self, root: &Path) -> std::io::Result<PathBuf> {
        ensure_state_dir(root)?;
        let path = root.join(REPORT);
        let mut text = serde_json::to_vec_pretty(self).expect("report serialises");
        text.push(b'\n');
        mk_durable::write_atomic_mode(&path, &text, 0o644)?;
        Ok(path)
    }

    /// The console summary: one line per step, at most a screen.
    pub fn summary(&self, report_path: &str) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let short = self.config_digest.get(..19).unwrap_or(&self.config_digest);
        let _ = writeln!(
            s,
            "mk-firstboot {}: {} from {}, {short}..., {}",
            self.mk_version, self.node, self.source, self.signature
        );
        for st in &self.steps {
            let what = match st.status {
                StepStatus::Failed => format!("FAILED: {}", st.error.as_deref().unwrap_or("")),
                StepStatus::Skipped => "skipped (an earlier step failed)".to_string(),
                StepStatus::Applied | StepStatus::Unchanged => changes(st.changed),
            };
            let _ = writeln!(s, "  {:<12} {what:<14} {:>8.1} ms", st.name, st.duration_ms);
        }
        let failed: Vec<&StepReport> = self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .collect();
        let _ = writeln!(
            s,
            "total: {} in {:.1} ms; report: {report_path}",
            changes(self.total_changes),
            self.duration_ms
        );
        if let Some(f) = failed.first() {
            let _ = writeln!(
                s,
                "FAILED step {}: {}",
                f.name,
                f.error.as_deref().unwrap_or("")
            );
            if self.failure_policy == FailurePolicy::Halt {
                let _ = writeln!(
                    s,
                    "failure policy halt: containerd and kubelet stay stopped; fix the config and reboot, or run `mk-firstboot apply` again"
                );
            } else {
                let _ = writeln!(
                    s,
                    "failure policy continue: the node goes on booting with this step failed"
                );
            }
        }
        s
    }
}

pub fn changes(n: usize) -> String {
    if n == 1 {
        "1 change".into()
    } else {
        format!("{n} changes")
    }
}
