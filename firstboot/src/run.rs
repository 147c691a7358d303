//! `mk-firstboot apply` and `plan`: source, signature, parse and validate,
//! this machine's item, plan, then apply (or only list) the differences.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mk_nodeconf::Plan;
use mk_roleconfig::time::OffsetDateTime;
use mk_roleconfig::{Document, FailurePolicy, NodeConfig, PublicKey, Verified};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::engine::{CrashPoints, Difference, EngineError, Node};
use crate::source::{self, Delivered, Places};
use crate::state::{
    self, Journal, JournalStep, Outcome, Report, StepOutcome, StepReport, StepStatus,
};

/// Node paths set by the image build.
pub const TRUST_DIR: &str = "etc/mk/config-trust";
pub const ALLOW_UNSIGNED: &str = "etc/mk/allow-unsigned-config";

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error("{path}")]
    Trust {
        path: String,
        #[source]
        source: mk_roleconfig::signature::SignatureError,
    },
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Signature(#[from] mk_roleconfig::SignatureError),
    #[error(transparent)]
    Parse(#[from] mk_roleconfig::ParseError),
    #[error("{}", .errors.join("\n"))]
    Invalid { errors: Vec<String> },
    #[error(transparent)]
    Facts(#[from] mk_roleconfig::FactsError),
    #[error(transparent)]
    Select(#[from] mk_roleconfig::SelectError),
    #[error("{name}: no config in the list is named {node}")]
    NoSuchNode { name: String, node: String },
    #[error("{name}: {error}")]
    Plan { name: String, error: String },
    #[error("reading this host's addresses: {0}")]
    Addresses(String),
    #[error("{path}: {error}")]
    PlanFile { path: String, error: String },
    #[error(transparent)]
    Preflight(#[from] crate::preflight::Refusal),
}

/// What `apply` and `plan` are told.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    pub places: Places,
    pub config: Option<PathBuf>,
    /// Trusted keys directory; default `ROOT/etc/mk/config-trust`.
    pub trust: Option<PathBuf>,
    /// This host's addresses; default: read from the interfaces.
    pub addresses: Option<Vec<IpAddr>>,
    /// Pick the list item by name instead of by this machine's facts
    /// (`plan` on the admin's machine).
    pub node: Option<String>,
    /// A plan (JSON) to apply instead of planning from the config.
    pub plan_file: Option<PathBuf>,
    pub now: OffsetDateTime,
}

impl Options {
    pub fn new(root: &Path) -> Options {
        Options {
            root: root.to_path_buf(),
            places: Places::under(root),
            config: None,
            trust: None,
            addresses: None,
            node: None,
            plan_file: None,
            now: OffsetDateTime::now_utc(),
        }
    }
}

/// A config accepted and planned.
pub struct Prepared {
    pub delivered: Delivered,
    pub signature: String,
    pub config: NodeConfig,
    pub plan: Plan,
}

fn trusted_keys(dir: &Path) -> Result<Vec<PublicKey>, RunError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RunError::Io {
                path: dir.display().to_string(),
                source,
            })
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            PublicKey::from_file(p).map_err(|e| RunError::Trust {
                path: p.display().to_string(),
                source: e.into(),
            })
        })
        .collect()
}

/// Source, signature, parse, validate, select, plan. Writes nothing.
/// `require_signature`: apply checks as the image says; plan on the
/// admin's machine checks only when it has keys.
pub fn prepare(opts: &Options, require_signature: bool) -> Result<Prepared, RunError> {
    let delivered = match (&opts.config, require_signature) {
        // `plan` reads exactly the file it is given.
        (Some(p), false) => source::from_file(p)?,
        (explicit, _) => source::find(&opts.places, explicit.as_deref())?,
    };
    let name = delivered.name.clone();
    let trust_dir = opts
        .trust
        .clone()
        .unwrap_or_else(|| opts.root.join(TRUST_DIR));
    let keys = trusted_keys(&trust_dir)?;
    let allow_unsigned = opts.root.join(ALLOW_UNSIGNED).exists();
    let signature = if !require_signature && keys.is_empty() {
        "signature not checked (no trusted keys)".to_string()
    } else {
        match mk_roleconfig::verify_signed(
            &delivered.config,
            delivered.signature.as_deref(),
            &keys,
            allow_unsigned || !require_signature,
            &name,
        )? {
            Verified::Signed { key_id, .. } => format!("signed by {key_id}"),
            Verified::UnsignedAllowed => "unsigned (allowed by this image)".to_string(),
        }
    };
    let doc = mk_roleconfig::parse_document(&delivered.config, &name)?;
    if let Err(errors) = mk_roleconfig::validate_document(&doc, opts.now) {
        return Err(RunError::Invalid {
            errors: errors.iter().map(|e| format!("{name}: {e}")).collect(),
        });
    }
    let config = select(&doc, opts, &name)?.clone();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&delivered.config)));
    let plan = match &opts.plan_file {
        Some(p) => {
            let err = |error: String| RunError::PlanFile {
                path: p.display().to_string(),
                error,
            };
            let bytes = std::fs::read(p).map_err(|e| err(e.to_string()))?;
            let mut plan: Plan = serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
            plan.config_digest = digest;
            plan
        }
        None => {
            let addresses = match &opts.addresses {
                Some(a) => a.clone(),
                None => crate::facts::host_addresses().map_err(RunError::Addresses)?,
            };
            crate::planner::plan(&digest, &config, addresses, &opts.root).map_err(|error| {
                RunError::Plan {
                    name: name.clone(),
                    error,
                }
            })?
        }
    };
    Ok(Prepared {
        delivered,
        signature,
        config,
        plan,
    })
}

fn select<'a>(doc: &'a Document, opts: &Options, name: &str) -> Result<&'a NodeConfig, RunError> {
    if let Some(node) = &opts.node {
        return doc
            .configs()
            .into_iter()
            .find(|c| &c.metadata.name == node)
            .ok_or_else(|| RunError::NoSuchNode {
                name: name.into(),
                node: node.clone(),
            });
    }
    let facts = mk_roleconfig::MachineFacts::read(&opts.places.sys)?;
    Ok(match doc {
        Document::Single(c) => mk_roleconfig::check_single(c, &facts)?,
        Document::List(l) => mk_roleconfig::select(l, &facts)?,
    })
}

/// What each step of `plan` would change on the node.
pub fn differences(
    node: &Node,
    plan: &Plan,
) -> Vec<(String, Result<Vec<Difference>, EngineError>)> {
    let mut out: Vec<(String, Result<Vec<Difference>, EngineError>)> = plan
        .steps
        .iter()
        .map(|s| {
            let mut all = Vec::new();
            for a in &s.actions {
                match node.diff(a) {
                    Ok(d) => all.extend(d),
                    Err(e) => return (s.name.clone(), Err(e)),
                }
            }
            (s.name.clone(), Ok(all))
        })
        .collect();
    // Files an earlier run wrote that this plan no longer has.
    let journal = Journal::load(&node.root);
    for (name, file) in crate::cleanup::stale(&journal, &crate::cleanup::planned(plan)) {
        let d = match crate::cleanup::check(node, &file) {
            Ok(crate::cleanup::Removal::Removed) => Ok(Some(Difference {
                sign: '-',
                subject: file.path.clone(),
                detail: "removed (no longer planned)".into(),
            })),
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        let idx = match out.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                out.push((name, Ok(Vec::new())));
                out.len() - 1
            }
        };
        match (&mut out[idx].1, d) {
            (Ok(all), Ok(Some(d))) => all.push(d),
            (entry @ Ok(_), Err(e)) => *entry = Err(e),
            _ => {}
        }
    }
    out
}

/// Applies `prepared.plan` under `root`; returns the report (already saved).
/// On the running node (`root` is `/`) a running firewalld is reloaded over
/// the system bus after the firewall step; a directory root never touches
/// D-Bus.
pub fn apply(
    root: &Path,
    prepared: &Prepared,
    crash: &mut CrashPoints,
) -> Result<Report, RunError> {
    if root == Path::new("/") {
        apply_with(
            root,
            prepared,
            crash,
            &mut crate::firewall::SystemBus::new(),
        )
    } else {
        apply_with(root, prepared, crash, &mut crate::firewall::Offline)
    }
}

/// [`apply`] with the given firewalld (tests: a private bus, a fake).
pub fn apply_with(
    root: &Path,
    prepared: &Prepared,
    crash: &mut CrashPoints,
    firewalld: &mut dyn crate::firewall::Firewalld,
) -> Result<Report, RunError> {
    let started = Instant::now();
    let started_at = OffsetDateTime::now_utc()
        .format(&mk_roleconfig::time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let node = Node::new(root);
    let plan = &prepared.plan;
    let policy = prepared.config.spec.failure_policy;
    let mut journal = Journal::load(root);
    let previous = journal.clone();
    journal.config_digest = plan.config_digest.clone();
    let mut steps = Vec::new();
    let mut halted = false;
    let planned = crate::cleanup::planned(plan);
    let save = |j: &Journal| {
        j.save_if_changed(root).map_err(|source| RunError::Io {
            path: root.join(state::JOURNAL).display().to_string(),
            source,
        })
    };
    for step in &plan.steps {
        let t0 = Instant::now();
        let actions_digest = state::actions_digest(step);
        let inputs_changed = previous.step(&step.name).is_none_or(|p| {
            p.input_digest != step.input_digest || p.actions_digest != actions_digest
        });
        if halted {
            steps.push(StepReport {
                name: step.name.clone(),
                input_digest: step.input_digest.clone(),
                inputs_changed,
                changed: 0,
                duration_ms: 0.0,
                status: StepStatus::Skipped,
                error: None,
                differences: Vec::new(),
            });
            continue;
        }
        let mut changed = 0;
        let mut lines = Vec::new();
        let mut error = None;
        for action in &step.actions {
            let r = node.diff(action).and_then(|d| {
                if d.is_empty() {
                    return Ok(d);
                }
                crash.point();
                node.apply(action, crash).map(|()| d)
            });
            match r {
                Ok(d) if d.is_empty() => {}
                Ok(d) => {
                    changed += 1;
                    lines.extend(d.iter().map(ToString::to_string));
                }
                Err(e) => {
                    error = Some(crate::errors::one_line(&e));
                    break;
                }
            }
        }
        if step.name == mk_nodeconf::steps::firewall::NAME && error.is_none() {
            // The files are in place: a running firewalld must load them.
            let zones = crate::firewall::planned_zones(step);
            match crate::firewall::activate(firewalld, &zones, changed > 0) {
                Ok(outcome) => {
                    if let Some(line) = outcome.line(&zones) {
                        lines.push(line);
                        changed = changed.max(1);
                    }
                }
                Err(e) => error = Some(crate::errors::one_line(&e)),
            }
        }
        let status = match (&error, changed) {
            (Some(_), _) => StepStatus::Failed,
            (None, 0) => StepStatus::Unchanged,
            (None, _) => StepStatus::Applied,
        };
        tracing::info!(step = step.name, changed, ?status, "step");
        journal.record(JournalStep {
            name: step.name.clone(),
            input_digest: step.input_digest.clone(),
            actions_digest,
            outcome: if error.is_some() {
                StepOutcome::Failed
            } else {
                StepOutcome::Applied
            },
            files: crate::cleanup::files_to_record(step, previous.step(&step.name), &planned),
        });
        save(&journal)?;
        if error.is_some() && policy == FailurePolicy::Halt {
            halted = true;
        }
        steps.push(StepReport {
            name: step.name.clone(),
            input_digest: step.input_digest.clone(),
            inputs_changed,
            changed,
            duration_ms: t0.elapsed().as_secs_f64() * 1e3,
            status,
            error,
            differences: lines,
        });
    }
    // Files no longer planned go once every step has applied (a failed
    // run keeps them, and the journal keeps them listed, for the next).
    if !steps.iter().any(|s| s.status == StepStatus::Failed) {
        remove_stale(&node, &mut journal, &planned, &mut steps);
    }
    // Steps no longer in the plan leave the journal once their files are
    // gone.
    journal
        .steps
        .retain(|j| plan.steps.iter().any(|s| s.name == j.name) || !j.files.is_empty());
    save(&journal)?;
    let failed = steps.iter().any(|s| s.status == StepStatus::Failed);
    let report = Report {
        mk_version: env!("CARGO_PKG_VERSION").into(),
        started_at,
        node: prepared.config.metadata.name.clone(),
        source: prepared.delivered.origin.clone(),
        signature: prepared.signature.clone(),
        config_digest: plan.config_digest.clone(),
        failure_policy: policy,
        outcome: if failed { Outcome::Failed } else { Outcome::Ok },
        total_changes: steps.iter().map(|s| s.changed).sum(),
        duration_ms: started.elapsed().as_secs_f64() * 1e3,
        steps,
    };
    report.save(root).map_err(|source| RunError::Io {
        path: root.join(state::REPORT).display().to_string(),
        source,
    })?;
    Ok(report)
}

/// Removes the journal's files that `planned` no longer has; each removal
/// is reported under the step that wrote the file (a step that left the
/// plan gets a report entry of its own).
fn remove_stale(
    node: &Node,
    journal: &mut Journal,
    planned: &std::collections::BTreeSet<String>,
    steps: &mut Vec<StepReport>,
) {
    for (name, file) in crate::cleanup::stale(journal, planned) {
        let t0 = Instant::now();
        let idx = match steps.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                steps.push(StepReport {
                    name: name.clone(),
                    input_digest: String::new(),
                    inputs_changed: true,
                    changed: 0,
                    duration_ms: 0.0,
                    status: StepStatus::Unchanged,
                    error: None,
                    differences: Vec::new(),
                });
                steps.len() - 1
            }
        };
        let report = &mut steps[idx];
        match crate::cleanup::remove(node, &file) {
            Ok(r) => {
                if let Some(line) = r.line(&file.path) {
                    report.differences.push(line);
                }
                if r == crate::cleanup::Removal::Removed {
                    report.changed += 1;
                    report.status = StepStatus::Applied;
                }
                // Removed, kept (someone's edit) or gone: forgotten.
                for s in &mut journal.steps {
                    s.files.retain(|f| f.path != file.path);
                }
            }
            Err(e) => {
                report.status = StepStatus::Failed;
                report.error = Some(crate::errors::one_line(&e));
            }
        }
        report.duration_ms += t0.elapsed().as_secs_f64() * 1e3;
    }
}
