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
    /// The network phase: the links could not be brought up, or the
    /// planes' addresses never came.
    #[error("{name}: networking: {source}")]
    Network {
        name: String,
        #[source]
        source: crate::network::NetworkError,
    },
    #[error("{path}: {error}")]
    PlanFile { path: String, error: String },
    #[error(transparent)]
    Preflight(#[from] crate::preflight::Refusal),
    /// A worker's token discovery of the cluster CA failed
    /// (firstboot/src/discovery.rs).
    #[error(transparent)]
    Discovery(#[from] crate::discovery::DiscoveryError),
    /// The API step could not be planned or pointed at the apiserver.
    #[error("{0}")]
    Cluster(String),
    /// The node's clock cannot be right (before the config was signed, or
    /// long before its certificates begin).
    #[error("{0}")]
    Clock(String),
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
    /// What joining etcd did while planning (joining control planes).
    pub etcd_join: Option<crate::etcdjoin::JoinReport>,
    /// What the network phase did before planning (`apply` of a config
    /// with `spec.network`; [`crate::network`]).
    pub network: Option<crate::network::Phase>,
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
    // `plan` on the admin's machine without keys checks nothing; everywhere
    // else a signature that came along is checked (and refused when it
    // cannot be: no key), and a missing one is allowed only by the image.
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
            Verified::Signed {
                key_id,
                trusted_comment,
            } => {
                check_signing_time(&trusted_comment, opts.now)?;
                format!("signed by {key_id}")
            }
            Verified::UnsignedAllowed => "unsigned (allowed by this image)".to_string(),
        }
    };
    let doc = mk_roleconfig::parse_document(&delivered.config, &name)?;
    if let Err(errors) = mk_roleconfig::validate_document(&doc, opts.now) {
        return Err(RunError::Invalid {
            errors: errors.iter().map(|e| format!("{name}: {e}")).collect(),
        });
    }
    let mut config = select(&doc, opts, &name, require_signature)?.clone();
    // A worker joining by token discovery learns ca.crt from the cluster
    // before planning; `plan` on the admin's machine and `--plan` stay offline.
    if require_signature && opts.plan_file.is_none() {
        crate::discovery::complete_ca(
            &opts.root,
            &mut config,
            &crate::discovery::Options::default(),
        )?;
    }
    check_certificate_times(&config, opts.now)?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&delivered.config)));
    let mut network = None;
    let (plan, etcd_join) = match &opts.plan_file {
        Some(p) => {
            let err = |error: String| RunError::PlanFile {
                path: p.display().to_string(),
                error,
            };
            let bytes = std::fs::read(p).map_err(|e| err(e.to_string()))?;
            let mut plan: Plan = serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
            plan.config_digest = digest;
            (plan, None)
        }
        None => {
            // On the node (apply), a config with spec.network first gets
            // its links up: the addresses planning reads come from them;
            // spec.hosts goes in first too, as planning may look names up
            // (a joining control plane asks etcd's members).
            let early = config.spec.network.is_some() || !config.spec.hosts.is_empty();
            network = if require_signature && early {
                Some(network_phase(opts, &config)?)
            } else {
                None
            };
            let addresses = match (&network, &opts.addresses) {
                (Some(n), _) => n.addresses.clone(),
                (None, Some(a)) => a.clone(),
                (None, None) => crate::facts::host_addresses().map_err(RunError::Addresses)?,
            };
            // Only a run on the node joins etcd; `plan` lists the members.
            let etcd = if require_signature {
                crate::etcdjoin::Mode::Join
            } else {
                crate::etcdjoin::Mode::ReadOnly
            };
            crate::planner::plan_with(&digest, &config, addresses, &opts.root, etcd).map_err(
                |error| RunError::Plan {
                    name: name.clone(),
                    error,
                },
            )?
        }
    };
    Ok(Prepared {
        delivered,
        signature,
        config,
        plan,
        etcd_join,
        network,
    })
}

/// The network phase ([`crate::network`]) as `apply` runs it: through nmcli
/// on the running node (`root` is `/`), with nothing to activate under a
/// directory root (the addresses are then `--address`'s or this host's,
/// checked once). Addresses given with `--address` are taken as they are.
fn network_phase(opts: &Options, config: &NodeConfig) -> Result<crate::network::Phase, RunError> {
    let on_node = opts.root == Path::new("/");
    let mut nmcli = crate::engine::Nmcli { wait_secs: 90 };
    let mut offline = crate::engine::OfflineNm;
    let nm: &mut dyn crate::engine::NetworkManager =
        if on_node { &mut nmcli } else { &mut offline };
    let given = opts.addresses.clone();
    let mut read = move || match &given {
        Some(a) => Ok(a.clone()),
        None => crate::facts::host_addresses(),
    };
    let mut links = crate::network::Links {
        nm,
        addresses: &mut read,
        timeout: if on_node {
            crate::network::ADDRESS_TIMEOUT
        } else {
            std::time::Duration::ZERO
        },
        poll: crate::network::POLL,
    };
    let facts = mk_nodeconf::HostFacts {
        interfaces: crate::facts::interfaces(&opts.root),
        ..mk_nodeconf::HostFacts::default()
    };
    crate::network::run(
        &opts.root,
        config,
        &facts,
        &mut links,
        &mut CrashPoints::none(),
    )
    .map_err(|e| RunError::Network {
        name: config.metadata.name.clone(),
        source: e,
    })
}

/// This machine's config. `--node NAME` picks the item by name (`plan` on
/// the admin's machine, which has none of the node's facts); on the node
/// (`on_node`: apply) the picked item's `match` must still be this
/// machine's, or `--node` would apply another machine's config.
fn select<'a>(
    doc: &'a Document,
    opts: &Options,
    name: &str,
    on_node: bool,
) -> Result<&'a NodeConfig, RunError> {
    if let Some(node) = &opts.node {
        let picked = doc
            .configs()
            .into_iter()
            .find(|c| &c.metadata.name == node)
            .ok_or_else(|| RunError::NoSuchNode {
                name: name.into(),
                node: node.clone(),
            })?;
        if on_node {
            let facts = mk_roleconfig::MachineFacts::read(&opts.places.sys)?;
            mk_roleconfig::check_single(picked, &facts)?;
        }
        return Ok(picked);
    }
    let facts = mk_roleconfig::MachineFacts::read(&opts.places.sys)?;
    Ok(match doc {
        Document::Single(c) => mk_roleconfig::check_single(c, &facts)?,
        Document::List(l) => mk_roleconfig::select(l, &facts)?,
    })
}

/// What a node whose clock is wrong is told to do (in every component TLS
/// would then fail: certificates not yet valid, or expired).
const CLOCK_ADVICE: &str = "set the hardware clock (hwclock) or give the node an NTP server \
     (the image recipe's `timezone --ntpservers`); TLS would fail in every component";

/// How far the node's clock may be behind the signing time: clocks of the
/// admin's machine and the node drift a little.
const SIGNING_SLACK: time::Duration = time::Duration::minutes(5);

/// How far behind a certificate's notBefore: issuers backdate a little, and
/// a certificate about to begin is no reason to stop a boot.
const NOT_BEFORE_SLACK: time::Duration = time::Duration::hours(1);

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&mk_roleconfig::time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// The signing time `mk-compose config-drive` puts into the signed trusted
/// comment (`... signed=2026-12-07T06:40:00Z`); `None` for comments made
/// otherwise (minisign by hand, older drives).
pub fn signing_time(trusted_comment: &str) -> Option<OffsetDateTime> {
    let text = trusted_comment
        .split_whitespace()
        .find_map(|w| w.strip_prefix("signed="))?;
    match OffsetDateTime::parse(
        text,
        &mk_roleconfig::time::format_description::well_known::Rfc3339,
    ) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(signed = text, error = %e, "trusted comment: signing time not RFC 3339; not checked");
            None
        }
    }
}

/// A node whose clock is before the config was signed has a clock that is
/// wrong (a dead CMOS battery, no NTP): refused with what to do, instead
/// of every TLS connection failing later with "certificate not yet valid".
fn check_signing_time(trusted_comment: &str, now: OffsetDateTime) -> Result<(), RunError> {
    let Some(signed) = signing_time(trusted_comment) else {
        return Ok(());
    };
    if now < signed - SIGNING_SLACK {
        return Err(RunError::Clock(format!(
            "this node's clock ({}) is before the config was signed ({}): {CLOCK_ADVICE}",
            rfc3339(now),
            rfc3339(signed)
        )));
    }
    Ok(())
}

/// The same for the certificates delivered in `spec.certificates`: a clock
/// more than [`NOT_BEFORE_SLACK`] before one's notBefore.
fn check_certificate_times(config: &NodeConfig, now: OffsetDateTime) -> Result<(), RunError> {
    let Some((file, subject, not_before)) =
        mk_roleconfig::pki::latest_not_before(&config.spec.certificates)
    else {
        return Ok(());
    };
    if now < not_before - NOT_BEFORE_SLACK {
        return Err(RunError::Clock(format!(
            "this node's clock ({}) is before certificate {subject:?} \
             (spec.certificates[{file:?}]) becomes valid ({}): {CLOCK_ADVICE}",
            rfc3339(now),
            rfc3339(not_before)
        )));
    }
    Ok(())
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
    // What the node renewed itself stays (a boot never goes backwards).
    let mut kept_plan = prepared.plan.clone();
    let kept = crate::renewal::keep_renewed(root, &mut kept_plan);
    let plan = &kept_plan;
    let policy = prepared.config.spec.failure_policy;
    let mut journal = Journal::load(root);
    let previous = journal.clone();
    journal.config_digest = plan.config_digest.clone();
    let mut steps = Vec::new();
    if let Some(j) = &prepared.etcd_join {
        steps.push(etcd_join_step(j));
    }
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
        let Applied {
            mut changed,
            mut lines,
            mut error,
        } = apply_step(&node, step, crash);
        if step.name == mk_nodeconf::steps::hosts::NAME && changed > 0 && error.is_none() {
            match crate::network::remount_hosts(root) {
                Ok(line) => lines.extend(line),
                Err(e) => error = Some(e),
            }
        }
        // Networking applied before planning (the network phase): what it
        // changed is reported here, under its step.
        if let Some(early) = prepared
            .network
            .as_ref()
            .and_then(|n| n.steps.iter().find(|s| s.name == step.name))
        {
            changed += early.changed;
            let mut all = early.differences.clone();
            all.append(&mut lines);
            lines = all;
            error = error.or(early.error.clone());
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
        if step.name == mk_nodeconf::steps::pki::NAME {
            lines.extend(kept.iter().map(crate::renewal::Kept::line));
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
    // Leaves that are due or expired (a node powered off for days) are
    // renewed now, before containerd, the kubelet and the static pods
    // start; the renewal timer takes over once the node runs. Only a node
    // holding a host intermediate's key can (workers renew through the
    // kubelet).
    if crate::renewal::renews_at_boot(plan) {
        steps.push(renewal_step(root, OffsetDateTime::now_utc(), halted));
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
        refusal: vec![],
    };
    report.save(root).map_err(|source| RunError::Io {
        path: root.join(state::REPORT).display().to_string(),
        source,
    })?;
    Ok(report)
}

/// What applying one step's actions did.
pub struct Applied {
    /// Actions that changed something.
    pub changed: usize,
    /// One line per difference made.
    pub lines: Vec<String>,
    /// The first failure (the step's later actions are not tried).
    pub error: Option<String>,
}

/// Applies `step`'s actions in order, only where the node differs.
pub fn apply_step(node: &Node, step: &mk_nodeconf::Step, crash: &mut CrashPoints) -> Applied {
    let mut out = Applied {
        changed: 0,
        lines: Vec::new(),
        error: None,
    };
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
                out.changed += 1;
                out.lines.extend(d.iter().map(ToString::to_string));
            }
            Err(e) => {
                out.error = Some(crate::errors::one_line(&e));
                break;
            }
        }
    }
    out
}

/// The join happened while planning (the etcd manifest needs the member
/// list); it is reported as the first step. No input digest: what it
/// depends on is the cluster's member list, not the config alone.
fn etcd_join_step(j: &crate::etcdjoin::JoinReport) -> StepReport {
    StepReport {
        name: crate::etcdjoin::STEP.into(),
        input_digest: String::new(),
        inputs_changed: j.changed,
        changed: usize::from(j.changed),
        duration_ms: j.duration.as_secs_f64() * 1e3,
        status: if j.changed {
            StepStatus::Applied
        } else {
            StepStatus::Unchanged
        },
        error: None,
        differences: j.lines.clone(),
    }
}

/// The boot-time renewal as a report step (skipped after a halting
/// failure: the files it would renew may not be there).
fn renewal_step(root: &Path, now: OffsetDateTime, halted: bool) -> StepReport {
    let t0 = Instant::now();
    let mut report = StepReport {
        name: crate::renewal::STEP.into(),
        input_digest: String::new(),
        inputs_changed: false,
        changed: 0,
        duration_ms: 0.0,
        status: StepStatus::Skipped,
        error: None,
        differences: Vec::new(),
    };
    if halted {
        return report;
    }
    let r = crate::renewal::renew_at_boot(root, now);
    tracing::info!(
        renewed = r.changed,
        error = r.error,
        "boot-time certificate renewal"
    );
    report.changed = r.changed;
    report.differences = r.lines;
    report.status = match (&r.error, r.changed) {
        (Some(_), _) => StepStatus::Failed,
        (None, 0) => StepStatus::Unchanged,
        (None, _) => StepStatus::Applied,
    };
    report.error = r.error;
    report.duration_ms = t0.elapsed().as_secs_f64() * 1e3;
    report
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
