//! Node-side renewal (`mk-firstboot renew`): every leaf the node renews itself
//! is replaced with a fresh key once two thirds of its life are gone, signed by
//! the host's own intermediate; intermediates near their end are reported
//! loudly, since only the offline root can re-sign them.
//!
//! The decisions ([`decide`], [`intermediate_state`]) are pure and take the
//! clock as an argument; [`renew_node`] does the file work.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::cert::{self, CertInfo};
use crate::fsio;
use crate::issue::{self, Ca};
use crate::keys::{pem_encode, PrivateKey};
use crate::plan::{self, NodePlan, Reload, RenewedBy};
use crate::realm::Realm;

/// systemd service for renewal, installed by first boot.
pub const RENEW_SERVICE_UNIT: &str = "\
# mk: renews this node's short-lived certificates (mk-firstboot renew).
[Unit]
Description=Renew mk node certificates
After=mk-firstboot.service

[Service]
Type=oneshot
ExecStart=/usr/bin/mk-firstboot renew
";

/// systemd timer for renewal. First run 30 min after boot: renewal creates
/// keys, and by then the kernel's entropy pool is long initialised (CentOS 7
/// has no getrandom(2); see `mk_pki::entropy`). Then every 6 h, far more often
/// than needed for 7-day leaves renewed at day 4.7, so a missed run or two
/// does no harm.
pub const RENEW_TIMER_UNIT: &str = "\
# mk: runs mk-pki-renew.service periodically.
[Unit]
Description=Renew mk node certificates periodically

[Timer]
OnBootSec=30min
OnUnitActiveSec=6h
RandomizedDelaySec=15min
Persistent=true

[Install]
WantedBy=timers.target
";

/// Whether a leaf is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Less than two thirds of its life is gone.
    Keep { renew_at: OffsetDateTime },
    /// Two thirds or more (or expired, or not yet valid: a clock jump).
    Renew { elapsed: f64 },
}

/// Renew once `now` is two thirds of the way from `not_before` to `not_after`.
pub fn decide(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Decision {
    let life = not_after - not_before;
    let renew_at = not_before + life * 2 / 3;
    let elapsed = (now - not_before) / life;
    if now >= renew_at || now < not_before {
        Decision::Renew { elapsed }
    } else {
        Decision::Keep { renew_at }
    }
}

/// An intermediate's state, for the journal and the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntermediateState {
    Ok,
    /// Less than a third of its life left: re-sign it with the offline root.
    Expiring,
    Expired,
}

pub fn intermediate_state(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> IntermediateState {
    if now >= not_after {
        IntermediateState::Expired
    } else if matches!(decide(not_before, not_after, now), Decision::Renew { .. }) {
        IntermediateState::Expiring
    } else {
        IntermediateState::Ok
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    #[error(transparent)]
    Fs(#[from] fsio::FsError),
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
}

/// Carries out [`Reload`]s.
pub trait Reloader {
    fn restart_static_pod(&mut self, name: &str) -> Result<(), String>;
}

/// Restarts a static pod's container through the CRI: the kubelet starts it
/// again at once with the new files.
pub struct Crictl;

impl Reloader for Crictl {
    fn restart_static_pod(&mut self, name: &str) -> Result<(), String> {
        let out = std::process::Command::new("crictl")
            .args(["ps", "--quiet", "--state", "running", "--label"])
            .arg(format!("io.kubernetes.container.name={name}"))
            .output()
            .map_err(|e| format!("running crictl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "crictl ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect();
        if ids.is_empty() {
            // Not running: it will read the new files when it starts.
            return Ok(());
        }
        let st = std::process::Command::new("crictl")
            .arg("stop")
            .args(&ids)
            .status()
            .map_err(|e| format!("running crictl: {e}"))?;
        if !st.success() {
            return Err(format!("crictl stop {} failed", ids.join(" ")));
        }
        Ok(())
    }
}

/// What happened to one leaf.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum LeafOutcome {
    Renewed {
        not_after: String,
    },
    Kept {
        renew_at: String,
    },
    /// The kubelet rotates it.
    Kubelet,
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct LeafReport {
    pub id: String,
    pub realm: Realm,
    pub path: String,
    #[serde(flatten)]
    pub outcome: LeafOutcome,
    /// Expiry of the certificate now on disk (unix seconds), if readable.
    pub not_after: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntermediateReport {
    pub realm: Realm,
    pub path: String,
    pub state: IntermediateState,
    pub not_after: i64,
    pub days_left: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenewReport {
    pub leaves: Vec<LeafReport>,
    pub intermediates: Vec<IntermediateReport>,
    pub reloads: Vec<(Reload, Result<(), String>)>,
    pub now: i64,
}

impl RenewReport {
    pub fn failures(&self) -> usize {
        self.leaves
            .iter()
            .filter(|l| matches!(l.outcome, LeafOutcome::Failed { .. }))
            .count()
            + self.reloads.iter().filter(|(_, r)| r.is_err()).count()
    }

    pub fn renewed(&self) -> Vec<&str> {
        self.leaves
            .iter()
            .filter(|l| matches!(l.outcome, LeafOutcome::Renewed { .. }))
            .map(|l| l.id.as_str())
            .collect()
    }

    /// node_exporter textfile-collector format.
    pub fn metrics(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP mk_pki_certificate_expiry_timestamp_seconds Expiry of an mk node certificate.\n");
        s.push_str("# TYPE mk_pki_certificate_expiry_timestamp_seconds gauge\n");
        for l in &self.leaves {
            if let Some(t) = l.not_after {
                s.push_str(&format!(
                    "mk_pki_certificate_expiry_timestamp_seconds{{kind=\"leaf\",id=\"{}\",realm=\"{}\"}} {t}\n",
                    l.id, l.realm
                ));
            }
        }
        for i in &self.intermediates {
            s.push_str(&format!(
                "mk_pki_certificate_expiry_timestamp_seconds{{kind=\"intermediate\",id=\"{}\",realm=\"{}\"}} {}\n",
                i.realm, i.realm, i.not_after
            ));
        }
        s.push_str("# HELP mk_pki_intermediate_needs_root 1 if the host's intermediate has less than a third of its life left or has expired: re-sign it with the offline root.\n");
        s.push_str("# TYPE mk_pki_intermediate_needs_root gauge\n");
        for i in &self.intermediates {
            let v = u8::from(i.state != IntermediateState::Ok);
            s.push_str(&format!(
                "mk_pki_intermediate_needs_root{{realm=\"{}\"}} {v}\n",
                i.realm
            ));
        }
        s.push_str(
            "# HELP mk_pki_renew_failures Leaves or reloads that failed in the last renewal run.\n",
        );
        s.push_str("# TYPE mk_pki_renew_failures gauge\n");
        s.push_str(&format!("mk_pki_renew_failures {}\n", self.failures()));
        s.push_str("# HELP mk_pki_renew_last_run_timestamp_seconds When renewal last ran.\n");
        s.push_str("# TYPE mk_pki_renew_last_run_timestamp_seconds gauge\n");
        s.push_str(&format!(
            "mk_pki_renew_last_run_timestamp_seconds {}\n",
            self.now
        ));
        s
    }
}

/// Where things are: `root` prefixes every absolute path of the manifest
/// (`/` on a node; a scratch directory in tests).
pub struct RenewOptions {
    pub root: PathBuf,
    /// Prometheus textfile to write, if any (absolute, not under `root`).
    pub metrics_file: Option<PathBuf>,
}

/// Default textfile-collector file.
pub const METRICS_FILE: &str = "/var/lib/node_exporter/textfile_collector/mk_pki.prom";

fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

/// Read the node's manifest.
pub fn load_manifest(root: &Path) -> Result<NodePlan, RenewError> {
    let p = under(root, plan::MANIFEST_PATH);
    let text = fsio::read_to_string(&p)?;
    serde_norway::from_str(&text).map_err(|e| RenewError::Manifest {
        path: p.display().to_string(),
        message: e.to_string(),
    })
}

fn load_ca(root: &Path, cert_path: &str, key_path: &str) -> Result<Ca, String> {
    let cp = under(root, cert_path);
    let kp = under(root, key_path);
    let text = fsio::read_to_string(&cp).map_err(|e| e.to_string())?;
    let info = cert::parse_pem(&text, &cp.display().to_string()).map_err(|e| e.to_string())?;
    let ktext = fsio::read_to_string(&kp).map_err(|e| e.to_string())?;
    let key = PrivateKey::from_pkcs8_pem(&ktext).map_err(|e| format!("{}: {e}", kp.display()))?;
    Ca::new(info, key, &cp.display().to_string()).map_err(|e| e.to_string())
}

fn current_leaf(root: &Path, path: &str) -> Result<CertInfo, String> {
    let p = under(root, path);
    let text = fsio::read_to_string(&p).map_err(|e| e.to_string())?;
    cert::parse_pem(&text, &p.display().to_string()).map_err(|e| e.to_string())
}

/// Renew what is due at `now`; then run the reloads the renewed files need
/// (each once), and write the metric file.
pub fn renew_node(
    opts: &RenewOptions,
    now: OffsetDateTime,
    reloader: &mut dyn Reloader,
) -> Result<RenewReport, RenewError> {
    let manifest = load_manifest(&opts.root)?;
    let mut intermediates = Vec::new();
    let mut cas: Vec<(Realm, Result<Ca, String>)> = Vec::new();
    for i in manifest.intermediates.iter().filter(|i| i.ship_key) {
        let ca = load_ca(&opts.root, &i.cert_path, &i.key_path);
        if let Ok(ca) = &ca {
            let state = intermediate_state(ca.info.not_before, ca.info.not_after, now);
            let days_left = ca.info.days_left(now);
            match state {
                IntermediateState::Ok => {
                    tracing::info!(realm = %i.realm, days_left, "intermediate ok")
                }
                IntermediateState::Expiring => tracing::error!(
                    realm = %i.realm, days_left,
                    "INTERMEDIATE EXPIRING: {} expires on {}; re-sign it with the offline root (mk-compose pki intermediate --host {} --realm {}) and redeliver",
                    i.cert_path, ca.info.not_after, manifest.host, i.realm
                ),
                IntermediateState::Expired => tracing::error!(
                    realm = %i.realm,
                    "INTERMEDIATE EXPIRED: {} expired on {}; leaves of realm {} can no longer be renewed until it is re-signed with the offline root",
                    i.cert_path, ca.info.not_after, i.realm
                ),
            }
            intermediates.push(IntermediateReport {
                realm: i.realm,
                path: i.cert_path.clone(),
                state,
                not_after: ca.info.not_after.unix_timestamp(),
                days_left,
            });
        }
        cas.push((i.realm, ca));
    }

    let mut leaves = Vec::new();
    let mut reloads: Vec<Reload> = Vec::new();
    for spec in &manifest.leaves {
        let current = current_leaf(&opts.root, &spec.cert_path);
        let mut report = LeafReport {
            id: spec.id.clone(),
            realm: spec.realm,
            path: spec.cert_path.clone(),
            outcome: LeafOutcome::Kubelet,
            not_after: current.as_ref().ok().map(|c| c.not_after.unix_timestamp()),
        };
        if spec.renewed_by == RenewedBy::Kubelet {
            leaves.push(report);
            continue;
        }
        let due = match &current {
            // Missing or unreadable: issue a new one.
            Err(e) => {
                tracing::warn!(
                    leaf = spec.id,
                    "current certificate unreadable ({e}); issuing a new one"
                );
                Decision::Renew { elapsed: f64::NAN }
            }
            Ok(c) => decide(c.not_before, c.not_after, now),
        };
        match due {
            Decision::Keep { renew_at } => {
                tracing::debug!(leaf = spec.id, %renew_at, "not due");
                report.outcome = LeafOutcome::Kept {
                    renew_at: renew_at.to_string(),
                };
            }
            Decision::Renew { elapsed } => match renew_leaf(&opts.root, spec, &cas, now) {
                Ok(info) => {
                    tracing::info!(leaf = spec.id, elapsed = format!("{:.0}%", elapsed * 100.0), not_after = %info.not_after, "renewed");
                    report.not_after = Some(info.not_after.unix_timestamp());
                    report.outcome = LeafOutcome::Renewed {
                        not_after: info.not_after.to_string(),
                    };
                    if spec.reload != Reload::Nothing && !reloads.contains(&spec.reload) {
                        reloads.push(spec.reload.clone());
                    }
                }
                Err(error) => {
                    tracing::error!(leaf = spec.id, "renewal failed: {error}");
                    report.outcome = LeafOutcome::Failed { error };
                }
            },
        }
        leaves.push(report);
    }

    let mut done = Vec::new();
    for r in reloads {
        let result = match &r {
            Reload::Nothing => Ok(()),
            Reload::RestartStaticPod(name) => {
                tracing::info!(
                    pod = name,
                    "restarting static pod for its renewed certificates"
                );
                reloader.restart_static_pod(name)
            }
        };
        if let Err(e) = &result {
            tracing::error!("reload {r:?} failed: {e}");
        }
        done.push((r, result));
    }

    let report = RenewReport {
        leaves,
        intermediates,
        reloads: done,
        now: now.unix_timestamp(),
    };
    if let Some(m) = &opts.metrics_file {
        fsio::write_atomic(m, report.metrics().as_bytes(), 0o644)?;
    }
    Ok(report)
}

fn renew_leaf(
    root: &Path,
    spec: &plan::LeafSpec,
    cas: &[(Realm, Result<Ca, String>)],
    now: OffsetDateTime,
) -> Result<CertInfo, String> {
    let ca = match cas.iter().find(|(r, _)| *r == spec.realm) {
        Some((_, Ok(ca))) => ca,
        Some((_, Err(e))) => return Err(format!("intermediate of realm {}: {e}", spec.realm)),
        None => {
            return Err(format!(
                "the manifest ships no intermediate key for realm {}",
                spec.realm
            ))
        }
    };
    // Check before generating anything: an expired intermediate or a bad
    // name writes nothing.
    issue::check_leaf(ca, spec, now).map_err(|e| e.to_string())?;
    let key = PrivateKey::generate(spec.algorithm).map_err(|e| e.to_string())?;
    let info = issue::leaf(ca, spec, &key, now).map_err(|e| e.to_string())?;
    let chain = format!("{}{}", pem_encode("CERTIFICATE", &info.der), ca.cert_pem());
    let files = if spec.key_path == spec.cert_path {
        vec![(
            under(root, &spec.cert_path),
            format!("{chain}{}", key.to_pkcs8_pem().as_str()).into_bytes(),
            0o600,
        )]
    } else {
        // Key first, certificate last: both are staged before either is
        // renamed, so the window in which a reader sees a new key with the
        // old certificate is two renames wide; etcd and Go's tls retry the
        // handshake.
        vec![
            (
                under(root, &spec.key_path),
                key.to_pkcs8_pem().as_bytes().to_vec(),
                0o600,
            ),
            (under(root, &spec.cert_path), chain.into_bytes(), 0o644),
        ]
    };
    fsio::replace_all_atomic(&files).map_err(|e| e.to_string())?;
    Ok(info)
}

/// Helper for tests and tools: the point in a lifetime `fraction` of the way in.
pub fn at_fraction(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    fraction: f64,
) -> OffsetDateTime {
    not_before + Duration::seconds_f64((not_after - not_before).as_seconds_f64() * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(days: f64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
            + Duration::seconds_f64(days * 86400.0)
    }

    #[test]
    fn renews_at_seventy_percent_not_at_fifty() {
        let (nb, na) = (t(0.0), t(7.0));
        assert!(matches!(
            decide(nb, na, t(7.0 * 0.7)),
            Decision::Renew { .. }
        ));
        assert!(matches!(
            decide(nb, na, t(7.0 * 0.5)),
            Decision::Keep { .. }
        ));
        assert!(matches!(decide(nb, na, t(8.0)), Decision::Renew { .. }));
        // A clock that jumped back before the certificate started.
        assert!(matches!(decide(nb, na, t(-1.0)), Decision::Renew { .. }));
        match decide(nb, na, t(1.0)) {
            Decision::Keep { renew_at } => assert_eq!(renew_at, at_fraction(nb, na, 2.0 / 3.0)),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn intermediate_states() {
        let (nb, na) = (t(0.0), t(90.0));
        assert_eq!(intermediate_state(nb, na, t(10.0)), IntermediateState::Ok);
        assert_eq!(
            intermediate_state(nb, na, t(70.0)),
            IntermediateState::Expiring
        );
        assert_eq!(
            intermediate_state(nb, na, t(90.0)),
            IntermediateState::Expired
        );
    }
}
