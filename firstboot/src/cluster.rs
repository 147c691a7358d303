//! The API step (`mk-firstboot cluster`, run by mk-firstboot-cluster.service
//! after the kubelet has started the static pods): waits for the local
//! apiserver, then makes the cluster's API objects what the role config
//! says, with server-side apply as field manager `mk-firstboot`, the way
//! kubeadm's post-init phases do. It reports into the same report.json as
//! first boot.
//!
//! It talks as `system:masters` through a credential minted in memory by
//! the node's kubernetes intermediate and dropped at the end
//! ([`mk_pki::ephemeral`]): only such a credential can create the
//! `kubeadm:cluster-admins` binding that admin.conf needs, and none is
//! ever on disk.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mk_cluster::{ApiObject, ClusterPlan};
use mk_kubeapi::{ApiClient, Credentials, Outcome};
use mk_roleconfig::FailurePolicy;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::run::{self, Options, RunError};
use crate::state::{self, Report, StepReport, StepStatus};

/// The steps this module adds to report.json.
pub const STEPS: [&str; 4] = ["etcd-promote", "api-ready", "api-objects", "node-labels"];

/// How long the API step waits, each bounded.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For the local apiserver's `/readyz`: its static pod starts after
    /// the kubelet, from images already imported.
    pub ready: Duration,
    /// For the kubelet to register this node.
    pub node: Duration,
    /// For a joining control plane's etcd learner to catch up.
    pub etcd: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            ready: Duration::from_secs(600),
            node: Duration::from_secs(300),
            etcd: Duration::from_secs(600),
        }
    }
}

/// What `mk-firstboot cluster` is told.
pub struct ClusterOptions {
    pub run: Options,
    /// The apiserver URL; default `https://<control-plane address>:<port>`.
    pub server: Option<String>,
    pub timeouts: Timeouts,
}

/// How long the in-memory `system:masters` credential lives: longer than
/// the step's bounded waits, short enough to be worthless when leaked.
const CREDENTIAL_LIFETIME: time::Duration = time::Duration::hours(1);

/// What the run did and whether the unit should fail.
pub struct ClusterRun {
    pub report: Report,
    /// Nothing to do on this node (a worker).
    pub idle: bool,
}

/// Source and check the config as `apply` does, plan the objects, talk to
/// the apiserver, merge the steps into report.json.
pub fn run(opts: &ClusterOptions) -> Result<ClusterRun, RunError> {
    let root = &opts.run.root;
    let prepared = run::prepare(&opts.run, true)?;
    let config = &prepared.config;
    let node = config.metadata.name.clone();
    if !config.spec.is_control_plane() {
        let mut report = state::Report::load(root).unwrap_or_else(|| empty_report(&prepared));
        // A worker has nothing to apply but its image version, which
        // mk-rollout waits for; an image without one leaves it idle.
        let Some(version) = image_version(root) else {
            return Ok(ClusterRun { report, idle: true });
        };
        let ep = &config.spec.cluster.api_endpoint;
        let server = opts
            .server
            .clone()
            .unwrap_or_else(|| format!("https://{}:{}", ep.dns_name, ep.port));
        let s = label_worker(
            root,
            &server,
            &ep.dns_name,
            &node,
            &version,
            opts.timeouts.node,
        );
        report.failure_policy = config.spec.failure_policy;
        merge(&mut report, vec![s]);
        let path = report.save(root).map_err(|source| RunError::Io {
            path: root.join(state::REPORT).display().to_string(),
            source,
        })?;
        tracing::info!(report = %path.display(), "image version label reported");
        return Ok(ClusterRun {
            report,
            idle: false,
        });
    }
    let ca_path = root.join("etc/kubernetes/pki/ca.crt");
    let ca_pem = std::fs::read_to_string(&ca_path).map_err(|source| RunError::Io {
        path: ca_path.display().to_string(),
        source,
    })?;
    let now = opts.run.now;
    let plan = mk_cluster::plan(&mk_cluster::Inputs {
        config,
        ca_pem: &ca_pem,
        now,
    })
    .map_err(|e| RunError::Cluster(e.to_string()))?;
    let mut plan = plan;
    // mk-rollout waits for this label to know the node runs the new image.
    if let (Some(version), Some(node)) = (image_version(root), plan.node.as_mut()) {
        node.body["metadata"]["labels"][IMAGE_VERSION_LABEL] = version.into();
    }

    let server = match &opts.server {
        Some(s) => s.clone(),
        None => {
            let addresses = match &opts.run.addresses {
                Some(a) => a.clone(),
                None => crate::facts::host_addresses().map_err(RunError::Addresses)?,
            };
            let ip = mk_nodeconf::facts::control_address(&config.spec, &addresses)
                .map_err(|e| RunError::Cluster(e.to_string()))?;
            url(ip, config.spec.cluster.api_endpoint.port)
        }
    };
    // A joining control plane's apiserver talks to its local etcd only
    // (as kubeadm's): it cannot get ready before the learner is promoted.
    let started = Instant::now();
    let mut promote = step(STEPS[0], digest_of(&[]));
    let steps = match crate::etcdjoin::promote(config, root, opts.timeouts.etcd) {
        Err(e) => failed_from(0, &e, &plan),
        Ok(promotion) => {
            if let Some(mk_etcdmember::Promotion::Promoted { id, waited }) = promotion {
                promote.status = StepStatus::Applied;
                promote.changed = 1;
                promote.differences = vec![format!(
                    "~ etcd member {id:x} ({node}): learner promoted to voter after {:.1} s",
                    waited.as_secs_f64()
                )];
            }
            promote.duration_ms = ms(started);
            let mut v = vec![promote];
            v.extend(match credentials(root, &server, &node, &ca_pem, now) {
                Ok(creds) => talk(&creds, &plan, &node, opts.timeouts),
                // Without the node's intermediate nothing can be said to the API.
                Err(e) => failed_from(1, &e, &plan),
            });
            v
        }
    };
    let mut report = state::Report::load(root).unwrap_or_else(|| empty_report(&prepared));
    report.failure_policy = config.spec.failure_policy;
    merge(&mut report, steps);
    let path = report.save(root).map_err(|source| RunError::Io {
        path: root.join(state::REPORT).display().to_string(),
        source,
    })?;
    tracing::info!(report = %path.display(), "API step reported");
    Ok(ClusterRun {
        report,
        idle: false,
    })
}

/// A report to add to when first boot left none (run by hand).
fn empty_report(prepared: &run::Prepared) -> Report {
    Report {
        mk_version: env!("CARGO_PKG_VERSION").into(),
        started_at: OffsetDateTime::now_utc()
            .format(&mk_roleconfig::time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        node: prepared.config.metadata.name.clone(),
        source: prepared.delivered.origin.clone(),
        signature: prepared.signature.clone(),
        config_digest: prepared.plan.config_digest.clone(),
        failure_policy: prepared.config.spec.failure_policy,
        outcome: state::Outcome::Ok,
        total_changes: 0,
        duration_ms: 0.0,
        steps: vec![],
        refusal: vec![],
    }
}

fn url(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("https://{a}:{port}"),
        IpAddr::V6(a) => format!("https://[{a}]:{port}"),
    }
}

fn credentials(
    root: &Path,
    server: &str,
    node: &str,
    ca_pem: &str,
    now: OffsetDateTime,
) -> Result<Credentials, String> {
    let ca = mk_pki::ephemeral::node_intermediate(root, mk_pki::Realm::Kubernetes).map_err(|e| {
        format!("the node's kubernetes intermediate (needed to talk to the API as system:masters): {e}")
    })?;
    let c = mk_pki::ephemeral::client(
        &ca,
        "mk-firstboot",
        &["system:masters"],
        now,
        CREDENTIAL_LIFETIME,
    )
    .map_err(|e| e.to_string())?;
    Ok(Credentials {
        server: server.to_string(),
        // The apiserver's certificate names DNS names only (R28); the node
        // name is one of them, whatever address we dial.
        tls_server_name: Some(node.to_string()),
        ca_pem: ca_pem.to_string(),
        cert_chain_pem: c.chain_pem,
        key_pem: c.key_pem,
    })
}

fn digest_of(objects: &[&ApiObject]) -> String {
    let mut h = Sha256::new();
    for o in objects {
        h.update(serde_json::to_vec(&o.body).unwrap_or_default());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn step(name: &str, digest: String) -> StepReport {
    StepReport {
        name: name.into(),
        input_digest: digest,
        inputs_changed: false,
        changed: 0,
        duration_ms: 0.0,
        status: StepStatus::Unchanged,
        error: None,
        differences: vec![],
    }
}

fn digests(plan: &ClusterPlan) -> [String; 4] {
    let objects: Vec<&ApiObject> = plan.objects.iter().collect();
    [
        digest_of(&[]),
        digest_of(&[]),
        digest_of(&objects),
        digest_of(&plan.node.iter().collect::<Vec<_>>()),
    ]
}

/// Every step failed or skipped from `from` on, the first with `error`.
fn failed_from(from: usize, error: &str, plan: &ClusterPlan) -> Vec<StepReport> {
    let d = digests(plan);
    (from..STEPS.len())
        .map(|i| {
            let mut s = step(STEPS[i], d[i].clone());
            if i == from {
                s.status = StepStatus::Failed;
                s.error = Some(error.to_string());
            } else {
                s.status = StepStatus::Skipped;
            }
            s
        })
        .collect()
}

fn line(outcome: Outcome, id: &str) -> Option<String> {
    match outcome {
        Outcome::Created => Some(format!("+ {id}")),
        Outcome::Configured => Some(format!("~ {id}")),
        Outcome::Unchanged => None,
    }
}

/// A current-thread runtime (first boot is otherwise synchronous) and an
/// API client for `creds` in it. Randomness from /dev/urandom, as first
/// boot's HTTPS source: no getrandom(2) on CentOS 7's kernel.
pub(crate) fn api_client(
    creds: &Credentials,
) -> Result<(tokio::runtime::Runtime, ApiClient), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    let provider = std::sync::Arc::new(crate::source::tls::provider());
    let client = {
        let _in_runtime = rt.enter();
        mk_kubeapi::client_with_provider(creds, provider).map_err(|e| e.to_string())?
    };
    Ok((rt, client))
}

/// A step's result from what an apply did: one line per object created
/// or changed.
fn record_applied(s: &mut StepReport, applied: &[mk_kubeapi::Applied]) {
    s.differences = applied
        .iter()
        .filter_map(|a| line(a.outcome, &a.id))
        .collect();
    s.changed = s.differences.len();
    if s.changed > 0 {
        s.status = StepStatus::Applied;
    }
}

/// The three steps against the apiserver, on a current-thread runtime
/// (first boot is otherwise synchronous).
fn talk(creds: &Credentials, plan: &ClusterPlan, node: &str, t: Timeouts) -> Vec<StepReport> {
    let (rt, client) = match api_client(creds) {
        Ok(c) => c,
        Err(e) => return failed_from(1, &e, plan),
    };
    rt.block_on(async {
        let d = digests(plan);
        let mut out = Vec::new();
        // api-ready
        let started = Instant::now();
        let mut s = step(STEPS[1], d[1].clone());
        match client.wait_ready(t.ready).await {
            Ok(waited) => {
                tracing::info!("apiserver ready after {:.1} s", waited.as_secs_f64());
                s.duration_ms = ms(started);
                out.push(s);
            }
            Err(e) => {
                let mut v = failed_from(1, &e.to_string(), plan);
                v[0].duration_ms = ms(started);
                return v;
            }
        }
        // api-objects
        let started = Instant::now();
        let mut s = step(STEPS[2], d[2].clone());
        match apply_objects(&client, plan).await {
            Ok(lines) => {
                s.changed = lines.len();
                s.status = if lines.is_empty() {
                    StepStatus::Unchanged
                } else {
                    StepStatus::Applied
                };
                s.differences = lines;
            }
            Err(e) => {
                s.status = StepStatus::Failed;
                s.error = Some(e);
            }
        }
        s.duration_ms = ms(started);
        out.push(s);
        // node-labels
        let started = Instant::now();
        let mut s = step(STEPS[3], d[3].clone());
        if let Some(obj) = &plan.node {
            let (labels, taints) = mk_cluster::node::split_taints(obj);
            let r = async {
                let live = client
                    .wait_node(node, t.node)
                    .await
                    .map_err(|e| e.to_string())?;
                let applied = client
                    .apply(std::slice::from_ref(&labels))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((applied, mk_cluster::node::missing_taints(&taints, &live)))
            }
            .await;
            match r {
                Ok((applied, missing)) => {
                    record_applied(&mut s, &applied);
                    // Registered by the kubelet (--register-with-taints);
                    // taken away later only by an admin, whom we do not
                    // overrule.
                    for m in missing {
                        tracing::warn!(taint = %m, "the Node lacks the control-plane taint");
                        s.differences.push(format!(
                            "! Node {node}: taint {m} missing (the kubelet registers it)"
                        ));
                    }
                }
                Err(e) => {
                    s.status = StepStatus::Failed;
                    s.error = Some(e);
                }
            }
        }
        s.duration_ms = ms(started);
        out.push(s);
        out
    })
}

async fn apply_objects(client: &ApiClient, plan: &ClusterPlan) -> Result<Vec<String>, String> {
    let applied = client
        .apply(&plan.objects)
        .await
        .map_err(|e| e.to_string())?;
    let mut lines: Vec<String> = applied
        .iter()
        .filter_map(|a| line(a.outcome, &a.id))
        .collect();
    for p in &plan.prune {
        let kind = mk_kubeapi::PruneKind {
            api_version: p.api_version.clone(),
            plural: p.plural.clone(),
            namespace: p.namespace.clone(),
            field_selector: p.field_selector.clone(),
        };
        let deleted = client
            .prune(&kind, &p.keep)
            .await
            .map_err(|e| e.to_string())?;
        lines.extend(deleted.into_iter().map(|n| {
            format!(
                "- {} {}{n} (no longer in the role config)",
                p.plural,
                p.namespace
                    .as_deref()
                    .map(|ns| format!("{ns}/"))
                    .unwrap_or_default()
            )
        }));
    }
    Ok(lines)
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Put `steps` into the report in place of earlier runs of the same
/// steps; outcome and totals follow every step's.
pub fn merge(report: &mut Report, steps: Vec<StepReport>) {
    for mut s in steps {
        match report.steps.iter_mut().find(|o| o.name == s.name) {
            Some(old) => {
                s.inputs_changed = old.input_digest != s.input_digest;
                *old = s;
            }
            None => {
                s.inputs_changed = true;
                report.steps.push(s);
            }
        }
    }
    report.total_changes = report.steps.iter().map(|s| s.changed).sum();
    report.outcome = if report.steps.iter().any(|s| s.status == StepStatus::Failed) {
        state::Outcome::Failed
    } else {
        state::Outcome::Ok
    };
}

/// Exit status of `mk-firstboot cluster`: a failed API step fails the unit
/// under `halt`, so `systemctl --failed` shows it; the kubelet keeps
/// running either way (the static pods need it).
pub fn failed(report: &Report) -> bool {
    report
        .steps
        .iter()
        .any(|s| STEPS.contains(&s.name.as_str()) && s.status == StepStatus::Failed)
        && report.failure_policy == FailurePolicy::Halt
}

/// A worker's `node-labels` step: its own Node gets the image version
/// label, applied with the kubelet's own client certificate (Node
/// authorizer and NodeRestriction let a kubelet label its own Node outside
/// the kubernetes.io namespaces; a worker holds no admin credential).
fn label_worker(
    root: &Path,
    server: &str,
    server_name: &str,
    node: &str,
    version: &str,
    wait: Duration,
) -> StepReport {
    let labels = ApiObject::new(
        "v1",
        "Node",
        "nodes",
        None,
        node,
        serde_json::json!({ "labels": { IMAGE_VERSION_LABEL: version } }),
        serde_json::json!({}),
    );
    let started = Instant::now();
    let mut s = step(STEPS[3], digest_of(&[&labels]));
    let r = (|| {
        let read = |abs: &str| {
            let mut path = root.join(abs.trim_start_matches('/'));
            // kubelet-client-current.pem links to a dated file by absolute
            // path (the kubelet's certificate manager): follow it under root.
            if let Ok(target) = std::fs::read_link(&path) {
                path = match target.strip_prefix("/") {
                    Ok(rel) => root.join(rel),
                    Err(_) => path.with_file_name(target),
                };
            }
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        // kubelet-client-current.pem holds the certificate and its key. A
        // kubelet joining with a bootstrap token writes it only once its
        // CSR is signed: wait for it as for the Node.
        let deadline = Instant::now() + wait;
        let pair = loop {
            match read(mk_pki::plan::KUBELET_CLIENT_CURRENT) {
                Ok(p) => break p,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "the kubelet's client certificate, after {} s: {e}",
                        wait.as_secs()
                    ))
                }
                Err(_) => std::thread::sleep(Duration::from_secs(2)),
            }
        };
        let creds = Credentials {
            server: server.to_string(),
            tls_server_name: Some(server_name.to_string()),
            ca_pem: read("/etc/kubernetes/pki/ca.crt")?,
            cert_chain_pem: pair.clone(),
            key_pem: pair.into(),
        };
        let (rt, client) = api_client(&creds)?;
        rt.block_on(async {
            client
                .wait_node(node, wait)
                .await
                .map_err(|e| e.to_string())?;
            client
                .apply(std::slice::from_ref(&labels))
                .await
                .map_err(|e| e.to_string())
        })
    })();
    match r {
        Ok(applied) => record_applied(&mut s, &applied),
        Err(e) => {
            s.status = StepStatus::Failed;
            s.error = Some(e);
        }
    }
    s.duration_ms = ms(started);
    s
}

/// The Node label with the image's version (docs/rollout.md).
pub const IMAGE_VERSION_LABEL: &str = "mk.dev/image-version";

/// `IMAGE_VERSION=` of the image's /usr/lib/mk/image-release (written by
/// mk-compose from image.yaml's `version`), else of /etc/os-release
/// (os-release(5): shell style, the value optionally in quotes); `None`
/// when absent or empty.
fn image_version(root: &Path) -> Option<String> {
    use std::io::Read;
    ["usr/lib/mk/image-release", "etc/os-release"]
        .iter()
        .find_map(|rel| {
            let mut text = String::new();
            // Bounded: these files are a few hundred bytes.
            std::fs::File::open(root.join(rel))
                .ok()?
                .take(64 * 1024)
                .read_to_string(&mut text)
                .ok()?;
            os_release_value(&text, "IMAGE_VERSION")
        })
}

fn os_release_value(text: &str, key: &str) -> Option<String> {
    let raw = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))?
        .trim();
    let v = match raw.as_bytes() {
        [q @ (b'"' | b'\''), .., e] if q == e && raw.len() >= 2 => &raw[1..raw.len() - 1],
        _ => raw,
    };
    let v: String = if raw.starts_with('"') {
        // Inside double quotes \ escapes $ " \ and `.
        let mut out = String::new();
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            match (c, chars.clone().next()) {
                ('\\', Some(n @ ('$' | '"' | '\\' | '`'))) => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push(c),
            }
        }
        out
    } else {
        v.to_string()
    };
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_version_comes_from_os_release() {
        let t = "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nIMAGE_VERSION=\"2026.12.1\"\n";
        assert_eq!(
            os_release_value(t, "IMAGE_VERSION").as_deref(),
            Some("2026.12.1")
        );
        assert_eq!(
            os_release_value("IMAGE_VERSION=v2\n", "IMAGE_VERSION").as_deref(),
            Some("v2")
        );
        assert_eq!(
            os_release_value("IMAGE_VERSION='v3'", "IMAGE_VERSION").as_deref(),
            Some("v3")
        );
        assert_eq!(
            os_release_value("IMAGE_VERSION=\"a\\\"b\"", "IMAGE_VERSION").as_deref(),
            Some("a\"b")
        );
        assert_eq!(
            os_release_value("IMAGE_VERSION=\"\"\n", "IMAGE_VERSION"),
            None
        );
        assert_eq!(
            os_release_value("IMAGE_ID=mk\nVERSION=7\n", "IMAGE_VERSION"),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(image_version(dir.path()), None);
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/os-release"), t).unwrap();
        assert_eq!(image_version(dir.path()).as_deref(), Some("2026.12.1"));
    }

    fn report() -> Report {
        Report {
            mk_version: "0".into(),
            started_at: "2026-12-07T00:00:00Z".into(),
            node: "cp1.example.com".into(),
            source: "drive".into(),
            signature: "signed".into(),
            config_digest: "sha256:0".into(),
            failure_policy: FailurePolicy::Halt,
            outcome: state::Outcome::Ok,
            total_changes: 3,
            duration_ms: 1.0,
            refusal: vec![],
            steps: vec![StepReport {
                changed: 3,
                status: StepStatus::Applied,
                ..step("pki", "sha256:a".into())
            }],
        }
    }

    #[test]
    fn api_steps_replace_their_earlier_runs_and_decide_the_outcome() {
        let mut r = report();
        let mut s = step("api-objects", "sha256:b".into());
        s.changed = 2;
        s.status = StepStatus::Applied;
        merge(&mut r, vec![s.clone()]);
        assert_eq!(r.steps.len(), 2);
        assert!(r.steps[1].inputs_changed);
        assert_eq!(r.total_changes, 5);
        assert_eq!(r.outcome, state::Outcome::Ok);
        // The same inputs again, now failing: replaced, not appended.
        s.status = StepStatus::Failed;
        s.changed = 0;
        s.error = Some("boom".into());
        merge(&mut r, vec![s]);
        assert_eq!(r.steps.len(), 2);
        assert!(!r.steps[1].inputs_changed);
        assert_eq!(r.total_changes, 3);
        assert_eq!(r.outcome, state::Outcome::Failed);
        assert!(failed(&r));
        r.failure_policy = FailurePolicy::Continue;
        assert!(!failed(&r));
    }

    #[test]
    fn a_failure_skips_the_steps_after_it() {
        let plan = ClusterPlan {
            objects: vec![],
            node: None,
            prune: vec![],
        };
        let v = failed_from(2, "no quorum", &plan);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "api-objects");
        assert_eq!(v[0].status, StepStatus::Failed);
        assert_eq!(v[0].error.as_deref(), Some("no quorum"));
        assert_eq!(v[1].status, StepStatus::Skipped);
    }

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(
            url("10.0.0.1".parse().unwrap(), 6443),
            "https://10.0.0.1:6443"
        );
        assert_eq!(
            url("fd00::1".parse().unwrap(), 6443),
            "https://[fd00::1]:6443"
        );
    }
}
