//! Node-side renewal (`mk-firstboot renew`): every leaf the node renews itself
//! is replaced with a fresh key once two thirds of its life are gone, signed by
//! the host's own intermediate; intermediates near their end are reported
//! loudly, since only the offline root can re-sign them.
//!
//! The decisions ([`decide`], [`intermediate_state`]) are pure and take the
//! clock as an argument; [`renew_node`] does the file work.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::cert::{self, CertInfo};
use crate::fsio;
use crate::issue::{self, Ca};
use crate::keys::{pem_encode, PrivateKey};
use crate::plan::{self, NodePlan, Reload, RenewedBy};
use crate::realm::Realm;

// The systemd units that run renewal are files of the mk-firstboot package:
// firstboot/systemd/mk-pki-renew.{service,timer}.

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
    #[error("no manifest ({manifest}) and the certificates on this node cannot stand in for it:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Derive {
        manifest: String,
        problems: Vec<DeriveProblem>,
    },
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

/// Does nothing: for renewal at boot, before containerd and the kubelet
/// start, when no consumer is running and each reads the new files when it
/// starts.
pub struct NothingRunning;

impl Reloader for NothingRunning {
    fn restart_static_pod(&mut self, _name: &str) -> Result<(), String> {
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
    /// Renewed only by the admin re-running `pki issue-node` (the kubelet's
    /// re-bootstrap credential).
    Admin,
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
    /// The host the intermediates are for ("" if the node holds none).
    pub host: String,
    pub leaves: Vec<LeafReport>,
    pub intermediates: Vec<IntermediateReport>,
    pub reloads: Vec<(Reload, Result<(), String>)>,
    pub now: i64,
}

/// RFC 3339 for a unix time, for people reading the console.
fn date(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// What the admin must do once intermediates of `host` have expired: only
/// the offline root can sign new ones, and they reach the node on a new
/// config drive (mk-firstboot applies it at the next boot, then renewal
/// issues fresh leaves). For the console at boot.
pub fn expired_intermediates_advice(host: &str, realms: &[Realm]) -> String {
    let host = if host.is_empty() { "HOST" } else { host };
    let realm_args: String = realms.iter().map(|r| format!(" --realm {r}")).collect();
    let list: Vec<&str> = realms.iter().map(|r| r.name()).collect();
    format!(
        "The intermediate(s) {} of {host} expired: this node can no longer renew the \
         certificates they sign, and nothing on the node can fix it. On the admin \
         machine, with the offline root keys at hand:\n\
         \x20 1. mk-compose pki intermediate --dir PKI --host {host}{realm_args}\n\
         \x20 2. mk-compose pki issue-node --dir PKI --node {host}.yaml --out drive/{host}\n\
         \x20 3. mk-compose config-drive --config {host}-config.yaml --pki-dir drive/{host} \
         --key keys/mk.key --password-file pw --out {host}-config.img\n\
         \x20 4. attach {host}-config.img to the node in place of its config drive and \
         reboot it: mk-firstboot writes the new certificates before containerd and the \
         kubelet start.\n\
         (PKI: the directory of `mk-compose pki init`; {host}.yaml: the node.yaml it was \
         issued from; {host}-config.yaml: its role config.)",
        list.join(", ")
    )
}

impl RenewReport {
    /// Realms whose intermediate has expired.
    pub fn expired_realms(&self) -> Vec<Realm> {
        self.intermediates
            .iter()
            .filter(|i| i.state == IntermediateState::Expired)
            .map(|i| i.realm)
            .collect()
    }

    /// [`expired_intermediates_advice`] when any intermediate has expired.
    pub fn advice(&self) -> Option<String> {
        let expired = self.expired_realms();
        (!expired.is_empty()).then(|| expired_intermediates_advice(&self.host, &expired))
    }

    /// One line per leaf (renewed / kept / kubelet / admin / FAILED) and per
    /// intermediate (ok / EXPIRING / EXPIRED), with expiry dates; then the
    /// advice if an intermediate expired. For the console.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for l in &self.leaves {
            let until = l
                .not_after
                .map(|t| format!("valid until {}", date(t)))
                .unwrap_or_else(|| "no readable certificate".into());
            let line = match &l.outcome {
                LeafOutcome::Renewed { .. } => format!("renewed   {} ({until})", l.id),
                LeafOutcome::Kept { renew_at } => {
                    format!("kept      {} ({until}; due at {renew_at})", l.id)
                }
                LeafOutcome::Kubelet => {
                    format!("kubelet   {} ({until}; the kubelet rotates it)", l.id)
                }
                LeafOutcome::Admin => format!(
                    "admin     {} ({until}; renewed only by pki issue-node)",
                    l.id
                ),
                LeafOutcome::Failed { error } => {
                    format!("FAILED    {} ({until}): {error}", l.id)
                }
            };
            s.push_str(&format!("leaf {line}\n"));
        }
        for i in &self.intermediates {
            let state = match i.state {
                IntermediateState::Ok => "ok",
                IntermediateState::Expiring => "EXPIRING",
                IntermediateState::Expired => "EXPIRED",
            };
            s.push_str(&format!(
                "intermediate {} {state}: {} expires {} ({} days left)\n",
                i.realm,
                i.path,
                date(i.not_after),
                i.days_left
            ));
        }
        if let Some(a) = self.advice() {
            s.push_str(&a);
            s.push('\n');
        }
        s
    }

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

/// Read the node's manifest (`pki issue-node`'s /etc/mk/pki.yaml).
pub fn load_manifest(root: &Path) -> Result<NodePlan, RenewError> {
    let p = under(root, plan::MANIFEST_PATH);
    let text = fsio::read_to_string(&p)?;
    serde_norway::from_str(&text).map_err(|e| RenewError::Manifest {
        path: p.display().to_string(),
        message: e.to_string(),
    })
}

/// A leaf file whose certificate cannot stand in for a manifest entry.
#[derive(Debug, Clone, Serialize)]
pub struct DeriveProblem {
    pub id: String,
    pub realm: Realm,
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for DeriveProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A plan derived from the certificates on a node, and the leaf files that
/// could not be read into it.
#[derive(Debug, Clone)]
pub struct DerivedManifest {
    pub plan: NodePlan,
    pub problems: Vec<DeriveProblem>,
}

/// The node's manifest: /etc/mk/pki.yaml if present (nodes set up with
/// `pki issue-node`'s tree), else derived from the certificates on the node
/// ([`derive_manifest`]): a node configured from a config drive has no
/// manifest, since the role config carries certificates only. Strict: any
/// leaf that cannot be derived is an error.
pub fn node_manifest(root: &Path) -> Result<NodePlan, RenewError> {
    let m = manifest_or_derived(root)?;
    if m.problems.is_empty() {
        Ok(m.plan)
    } else {
        Err(RenewError::Derive {
            manifest: plan::MANIFEST_PATH.into(),
            problems: m.problems,
        })
    }
}

fn manifest_or_derived(root: &Path) -> Result<DerivedManifest, RenewError> {
    if under(root, plan::MANIFEST_PATH).exists() {
        return Ok(DerivedManifest {
            plan: load_manifest(root)?,
            problems: vec![],
        });
    }
    derive_manifest(root)
}

/// The plan of what is on the node, read from its certificates: every leaf
/// file of [`plan::LEAF_FILES`] present under `root` (its subject, SANs,
/// usages, lifetime and key algorithm, so that renewal keeps its identity),
/// and every intermediate present (`ship_key` if its key is there too).
pub fn derive_manifest(root: &Path) -> Result<DerivedManifest, RenewError> {
    let mut intermediates = Vec::new();
    let mut host = None;
    for realm in Realm::ALL {
        let base = realm.node_ca_base();
        let cert_path = format!("{base}-intermediate.crt");
        let key_path = format!("{base}-intermediate.key");
        let (c, k) = (under(root, &cert_path), under(root, &key_path));
        if !c.exists() && !k.exists() {
            continue;
        }
        if host.is_none() {
            host = fsio::read_to_string(&c)
                .ok()
                .and_then(|t| cert::parse_pem(&t, &cert_path).ok())
                .and_then(|i| host_of_ca(&i.common_name, realm));
        }
        intermediates.push(plan::IntermediateSpec {
            realm,
            ship_key: k.exists(),
            root_path: format!("{base}.crt"),
            cert_path,
            key_path,
        });
    }

    let mut leaves = Vec::new();
    let mut problems = Vec::new();
    // (spec, cut short by its intermediate): lifetimes fixed up below.
    let mut found: Vec<(plan::LeafSpec, bool)> = Vec::new();
    for f in plan::LEAF_FILES {
        let p = under(root, f.cert_path);
        if !p.exists() {
            continue;
        }
        let problem = |message: String| DeriveProblem {
            id: f.id.into(),
            realm: f.realm,
            path: p.display().to_string(),
            message,
        };
        let chain = match fsio::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                cert::parse_pem_chain(&t, &p.display().to_string()).map_err(|e| e.to_string())
            }) {
            Ok(c) => c,
            Err(e) => {
                problems.push(problem(format!(
                    "{e}; expected a PEM certificate (re-issue it with mk-compose pki issue-node)"
                )));
                continue;
            }
        };
        match derive_leaf(f, &chain) {
            Ok((spec, cut)) => {
                if host.is_none() {
                    host = chain
                        .get(1)
                        .and_then(|i| host_of_ca(&i.common_name, f.realm));
                }
                found.push((spec, cut));
            }
            Err(m) => problems.push(problem(m)),
        }
    }
    // A leaf that ended with its intermediate says nothing about the
    // lifetime it was meant to have: take the node's other leaves' (the
    // cluster's leaf_days), else the default.
    let usual = found
        .iter()
        .filter(|(l, cut)| !cut && l.renewed_by == RenewedBy::Node)
        .map(|(l, _)| l.lifetime_days)
        .max()
        .unwrap_or(crate::config::Lifetimes::default().leaf_days);
    for (mut l, cut) in found {
        if cut && l.renewed_by == RenewedBy::Node {
            l.lifetime_days = usual;
        }
        leaves.push(l);
    }
    Ok(DerivedManifest {
        plan: NodePlan {
            host: host.unwrap_or_default(),
            intermediates,
            leaves,
            service_account: None,
        },
        problems,
    })
}

/// `<root CN> <host>` is how intermediates are named (issue::intermediate).
fn host_of_ca(common_name: &str, realm: Realm) -> Option<String> {
    common_name
        .strip_prefix(realm.root_common_name())
        .and_then(|h| h.strip_prefix(' '))
        .filter(|h| !h.is_empty())
        .map(String::from)
}

fn derive_leaf(f: &plan::LeafFile, chain: &[CertInfo]) -> Result<(plan::LeafSpec, bool), String> {
    let c = &chain[0];
    if c.is_ca {
        return Err("is a CA certificate, expected a leaf".into());
    }
    match c.realm {
        Some(r) if r == f.realm => {}
        Some(r) => {
            return Err(format!(
                "issued in realm {r} (issuer {:?}), expected realm {}",
                c.issuer, f.realm
            ))
        }
        None => {
            return Err(format!(
                "issuer {:?} names no mk realm (OU={}); expected a certificate from an mk intermediate (mk-compose pki issue-node)",
                c.issuer, f.realm
            ))
        }
    }
    // No mk intermediate but kubelet-serving's lets IP addresses through,
    // except the kubernetes one's for the apiserver (the kubernetes Service
    // address and API VIP): those are kept, if the issuer still permits them.
    let mut ip_addresses = Vec::new();
    if f.renewed_by == RenewedBy::Node && !c.ip_addresses.is_empty() {
        let issuer = chain.get(1).filter(|i| i.is_ca);
        let ips: Option<Vec<std::net::IpAddr>> =
            c.ip_addresses.iter().map(|i| i.parse().ok()).collect();
        match (f.id, issuer, ips) {
            ("apiserver", Some(issuer), Some(ips))
                if ips.iter().all(|ip| issue::ip_permitted(issuer, *ip)) =>
            {
                ip_addresses = ips
            }
            ("apiserver", ..) => {
                return Err(format!(
                    "names IP addresses {:?}, not all permitted by its intermediate (which \
                     permits {:?}); only the kubernetes Service address and the API VIP may \
                     be named (R28): re-issue it with mk-compose pki issue-node",
                    c.ip_addresses,
                    issuer.map(|i| i.permitted_ips.clone()).unwrap_or_default()
                ))
            }
            _ => {
                return Err(format!(
                    "names IP addresses {:?}; mk leaves name DNS names only (R28)",
                    c.ip_addresses
                ))
            }
        }
    }
    let mut usages = Vec::new();
    if c.server_auth {
        usages.push(plan::Usage::ServerAuth);
    }
    if c.client_auth {
        usages.push(plan::Usage::ClientAuth);
    }
    if usages.is_empty() && f.renewed_by == RenewedBy::Node {
        return Err("has no extended key usage; expected serverAuth and/or clientAuth".into());
    }
    let algorithm = c.key_algorithm.ok_or_else(|| {
        "its key is neither ECDSA P-256 nor Ed25519; expected a key mk makes".to_string()
    })?;
    // Certificates start BACKDATE early: round the life to whole days.
    let life = c.not_after - c.not_before;
    let days = ((life.whole_seconds() + 43_200) / 86_400).max(1);
    let cut = chain
        .get(1)
        .is_some_and(|i| i.is_ca && i.not_after == c.not_after);
    Ok((
        plan::LeafSpec {
            id: f.id.into(),
            realm: f.realm,
            common_name: c.common_name.clone(),
            organizations: c.organizations.clone(),
            usages,
            dns_names: c.dns_names.clone(),
            ip_addresses,
            algorithm,
            lifetime_days: u32::try_from(days).unwrap_or(u32::MAX),
            cert_path: f.cert_path.into(),
            key_path: f.key_path.into(),
            renewed_by: f.renewed_by,
            reload: plan::reload_of(f.id),
        },
        cut,
    ))
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
    let DerivedManifest {
        plan: manifest,
        problems,
    } = manifest_or_derived(&opts.root)?;
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
                    "INTERMEDIATE EXPIRED: {} expired on {}; leaves of realm {} can no longer be renewed until it is re-signed with the offline root (mk-compose pki intermediate --host {} --realm {}) and redelivered",
                    i.cert_path, ca.info.not_after, i.realm, manifest.host, i.realm
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
    for p in problems {
        tracing::error!(leaf = p.id, "cannot renew: {p}");
        leaves.push(LeafReport {
            id: p.id.clone(),
            realm: p.realm,
            path: p.path.clone(),
            outcome: LeafOutcome::Failed {
                error: p.to_string(),
            },
            not_after: None,
        });
    }
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
        match spec.renewed_by {
            RenewedBy::Node => {}
            RenewedBy::Kubelet => {
                leaves.push(report);
                continue;
            }
            RenewedBy::Admin => {
                report.outcome = LeafOutcome::Admin;
                leaves.push(report);
                continue;
            }
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
            Decision::Renew { elapsed } => match renew_leaf(&opts.root, &manifest, spec, &cas, now)
            {
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
        host: manifest.host.clone(),
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

/// Renewal at boot (mk-firstboot apply, before containerd and the kubelet
/// start): nothing runs yet, so nothing is reloaded ([`NothingRunning`]) and
/// no metrics file is written (the timer's run writes it). Key generation
/// reads /dev/urandom only and never waits for entropy (`mk_pki::entropy`).
/// Leaves that expired while the node was off are renewed like any due leaf.
pub fn renew_at_boot(root: &Path, now: OffsetDateTime) -> Result<RenewReport, RenewError> {
    let opts = RenewOptions {
        root: root.to_path_buf(),
        metrics_file: None,
    };
    renew_node(&opts, now, &mut NothingRunning)
}

fn renew_leaf(
    root: &Path,
    manifest: &NodePlan,
    spec: &plan::LeafSpec,
    cas: &[(Realm, Result<Ca, String>)],
    now: OffsetDateTime,
) -> Result<CertInfo, String> {
    let ca = match cas.iter().find(|(r, _)| *r == spec.realm) {
        Some((_, Ok(ca))) => ca,
        Some((_, Err(e))) => return Err(format!("intermediate of realm {}: {e}", spec.realm)),
        None => {
            return Err(format!(
                "no intermediate key of realm {} on this node (expected {}-intermediate.key)",
                spec.realm,
                spec.realm.node_ca_base()
            ))
        }
    };
    // Check before generating anything: an expired intermediate or a bad
    // name writes nothing.
    issue::check_leaf(ca, spec, now).map_err(|e| match e {
        issue::IssueError::IssuerExpired { not_after, .. } => {
            let path = manifest
                .intermediate(spec.realm)
                .map(|i| i.cert_path.clone())
                .unwrap_or_default();
            format!(
                "{e}: intermediate {path} expired {}.\n{}",
                not_after.format(&Rfc3339).unwrap_or_default(),
                expired_intermediates_advice(&manifest.host, &[spec.realm])
            )
        }
        e => e.to_string(),
    })?;
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

/// At boot, on a node holding its kubernetes intermediate's key (a control
/// plane): a kubelet client certificate that is due or expired is renewed
/// here, because the kubelet would bootstrap a new one through the CSR API
/// of an apiserver that only this kubelet starts. Same subject and usages;
/// the new certificate goes into a dated file beside the link, and the link
/// is switched atomically, as the kubelet does. `Ok(None)`: nothing to do.
pub fn renew_kubelet_client_at_boot(
    root: &Path,
    now: OffsetDateTime,
) -> Result<Option<CertInfo>, String> {
    let link = under(root, plan::KUBELET_CLIENT_CURRENT);
    if !std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
        return Ok(None);
    }
    let base = Realm::Kubernetes.node_ca_base();
    let (ca_cert, ca_key) = (
        format!("{base}-intermediate.crt"),
        format!("{base}-intermediate.key"),
    );
    if !under(root, &ca_key).exists() {
        return Ok(None);
    }
    // The link's target is absolute on the node: read it under `root`.
    let target = std::fs::read_link(&link).map_err(|e| format!("{}: {e}", link.display()))?;
    let file = under(root, &target.to_string_lossy());
    let what = file.display().to_string();
    let text = fsio::read_to_string(&file).map_err(|e| e.to_string())?;
    let current = cert::parse_pem(&text, &what).map_err(|e| e.to_string())?;
    if let Decision::Keep { .. } = decide(current.not_before, current.not_after, now) {
        return Ok(None);
    }
    let ca = load_ca(root, &ca_cert, &ca_key)?;
    let lifetime = (current.not_after - current.not_before).whole_days().max(1);
    let dated = format!(
        "{}/{}",
        plan::KUBELET_PKI,
        plan::kubelet_dated_name("kubelet-client", now)
    );
    let spec = plan::LeafSpec {
        id: "kubelet-client".into(),
        realm: Realm::Kubernetes,
        common_name: current.common_name.clone(),
        organizations: current.organizations.clone(),
        usages: vec![plan::Usage::ClientAuth],
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        algorithm: crate::keys::KeyAlgorithm::EcdsaP256,
        lifetime_days: u32::try_from(lifetime).unwrap_or(7),
        cert_path: dated.clone(),
        key_path: dated.clone(),
        renewed_by: RenewedBy::Kubelet,
        reload: Reload::Nothing,
    };
    issue::check_leaf(&ca, &spec, now).map_err(|e| e.to_string())?;
    let key = PrivateKey::generate(spec.algorithm).map_err(|e| e.to_string())?;
    let info = issue::leaf(&ca, &spec, &key, now).map_err(|e| e.to_string())?;
    let pem = format!(
        "{}{}{}",
        pem_encode("CERTIFICATE", &info.der),
        ca.cert_pem(),
        key.to_pkcs8_pem().as_str()
    );
    fsio::write_atomic(&under(root, &dated), pem.as_bytes(), 0o600).map_err(|e| e.to_string())?;
    // The link last: a crash before it leaves the old certificate in use.
    mk_durable::symlink_atomic(Path::new(&dated), &link)
        .map_err(|e| format!("{}: {e}", link.display()))?;
    Ok(Some(info))
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
    fn derived_apiserver_keeps_only_ips_its_intermediate_permits() {
        use crate::keys::KeyAlgorithm;
        let now = t(0.0);
        let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let r = issue::root(Realm::Kubernetes, &rk, now, 3650).unwrap();
        let root = Ca::new(r, rk, "root").unwrap();
        let svc: std::net::IpAddr = "10.96.0.1".parse().unwrap();
        let inter = |ips: &[std::net::IpAddr]| {
            let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
            let i = issue::intermediate_with_ips(
                &root,
                Realm::Kubernetes,
                "cp1.example.com",
                None,
                ips,
                &k,
                now,
                90,
            )
            .unwrap();
            Ca::new(i, k, "intermediate").unwrap()
        };
        let (with_ip, without) = (inter(&[svc]), inter(&[]));
        let f = |id: &str| plan::LEAF_FILES.iter().find(|f| f.id == id).unwrap();
        let spec = plan::LeafSpec {
            id: "apiserver".into(),
            realm: Realm::Kubernetes,
            common_name: "kube-apiserver".into(),
            organizations: vec![],
            usages: vec![plan::Usage::ServerAuth],
            dns_names: vec!["cp1.example.com".into()],
            ip_addresses: vec![svc],
            algorithm: KeyAlgorithm::EcdsaP256,
            lifetime_days: 7,
            cert_path: f("apiserver").cert_path.into(),
            key_path: f("apiserver").key_path.into(),
            renewed_by: RenewedBy::Node,
            reload: Reload::Nothing,
        };
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let l = issue::leaf(&with_ip, &spec, &k, now).unwrap();
        let (d, _) = derive_leaf(f("apiserver"), &[l.clone(), with_ip.info.clone()]).unwrap();
        assert_eq!(d, spec);
        let e = derive_leaf(f("apiserver"), &[l.clone(), without.info.clone()]).unwrap_err();
        assert!(
            e.contains("10.96.0.1") && e.contains("not all permitted"),
            "{e}"
        );
        // Any other leaf with an IP address: refused as before.
        let e = derive_leaf(f("controller-manager"), &[l, with_ip.info.clone()]).unwrap_err();
        assert!(e.contains("DNS names only (R28)"), "{e}");
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
