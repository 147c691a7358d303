//! A joining control plane (role `control-plane`) becomes an etcd member
//! before planning: the etcd manifest it gets lists the cluster's members
//! with `initial-cluster-state=existing` (host facts `etcdMembers`), so the
//! node must be in the member list before its etcd starts. It talks to
//! `spec.cluster.etcdEndpoints` (DNS names) with the apiserver's etcd client
//! certificate, as kubeadm's join does, and adds itself as a learner
//! (mk-etcdmember). Promotion waits until etcd runs: `mk-firstboot cluster`
//! calls [`promote`].
//!
//! Idempotent: a re-run finds the node already a learner or a voter and
//! changes nothing. A member that has joined before (its etcd data directory
//! exists) must boot even when the cluster cannot answer (a whole-site power
//! cut brings every control plane up with etcd still down): then the plan
//! lists only this node, which etcd ignores since it restarts from its data.

use std::path::Path;
use std::time::Duration;

use mk_etcdmember::{Client, Credentials, Join, Member, Node, Outcome, Promotion};
use mk_nodeconf::EtcdMember;
use mk_roleconfig::names::Cidr;
use mk_roleconfig::{NodeConfig, Role};
use time::OffsetDateTime;

/// etcd's data directory on the node (crates/nodeconf/src/users.rs).
const ETCD_MEMBER_DIR: &str = "var/lib/etcd/member";
const PKI: &str = "etc/kubernetes/pki";
/// kubeadm's join uses the apiserver's etcd client certificate too.
const CLIENT: &str = "apiserver-etcd-client";
/// How long to wait for another joiner's learner to be promoted.
const SLOT_WAIT: Duration = Duration::from_secs(120);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What planning may do to etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `apply`: refuse clashes and unhealthy clusters, add as learner.
    Join,
    /// `plan` (changes nothing): list the members only; unreachable etcd
    /// gives a plan with this node alone, and a warning.
    ReadOnly,
}

/// Whether this config joins an existing etcd cluster.
pub fn joins(config: &NodeConfig) -> bool {
    let r = &config.spec.roles;
    r.contains(&Role::ControlPlane) && !r.contains(&Role::BootstrapControlPlane)
}

/// `https://<etcd name>:2380`, the etcd name chosen as the planner chooses
/// it (mk-nodeconf `Ctx::etcd_dns_name`): the node name when the etcd plane
/// is the control plane, else `<first label>-etcd.<rest>` from
/// `spec.dnsNames`.
pub fn peer_url(config: &NodeConfig) -> Result<String, String> {
    let s = &config.spec;
    let node = config.metadata.name.as_str();
    let control = Cidr::parse(&s.planes.control.cidr);
    let etcd = match &s.planes.etcd {
        Some(p) => Cidr::parse(&p.cidr),
        None => control.clone(),
    };
    if etcd == control {
        return Ok(format!("https://{node}:2380"));
    }
    let want = match node.split_once('.') {
        Some((first, rest)) => format!("{first}-etcd.{rest}"),
        None => format!("{node}-etcd"),
    };
    if s.dns_names.contains(&want) {
        Ok(format!("https://{want}:2380"))
    } else {
        Err(format!(
            "spec.dnsNames: the etcd plane is not the control plane: add {want:?}, the name \
             of this host's etcd-plane address, so that etcd peers reach it by name (R28)"
        ))
    }
}

/// The etcd client identity: the renewed files under `root` while their
/// leaf is valid (renewal keeps them fresh; the config's copy ages from
/// delivery), else the config's `spec.certificates`.
pub fn credentials(config: &NodeConfig, root: &Path) -> Result<Credentials, String> {
    let dir = root.join(PKI);
    let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).ok();
    if let (Some(ca), Some(cert), Some(key)) = (
        read("etcd/ca.crt"),
        read(&format!("{CLIENT}.crt")),
        read(&format!("{CLIENT}.key")),
    ) {
        let valid = mk_pki::cert::parse_pem(&cert, CLIENT)
            .is_ok_and(|c| c.not_after > OffsetDateTime::now_utc());
        if valid {
            return Ok(Credentials {
                origin: dir.display().to_string(),
                ca_pem: ca,
                cert_pem: cert,
                key_pem: key,
            });
        }
    }
    let c = &config.spec.certificates;
    let get = |name: String| {
        c.get(&name).cloned().ok_or_else(|| {
            format!(
                "spec.certificates[{name:?}]: missing: a joining control plane reaches etcd \
                 with it"
            )
        })
    };
    Ok(Credentials {
        origin: "spec.certificates".into(),
        ca_pem: get("etcd/ca.crt".into())?,
        cert_pem: get(format!("{CLIENT}.crt"))?,
        key_pem: get(format!("{CLIENT}.key"))?,
    })
}

fn client(config: &NodeConfig, root: &Path) -> Result<Client, String> {
    Ok(Client::new(&credentials(config, root)?)
        .map_err(|e| e.to_string())?
        .with_timeout(CALL_TIMEOUT))
}

/// Host facts `etcdMembers` for planning: empty unless this node joins an
/// existing cluster (role `control-plane`); then, in [`Mode::Join`], the
/// node is made a learner first (see the module doc).
pub fn etcd_members(config: &NodeConfig, root: &Path, mode: Mode) -> Result<Membership, String> {
    if !joins(config) {
        return Ok(Membership {
            members: Vec::new(),
            report: None,
        });
    }
    let started = std::time::Instant::now();
    let name = config.metadata.name.as_str();
    let peer = peer_url(config)?;
    let endpoints = &config.spec.cluster.etcd_endpoints;
    let node = Node {
        name,
        peer_url: &peer,
    };
    let alone = || {
        vec![EtcdMember {
            name: name.to_string(),
            peer_url: peer.clone(),
        }]
    };
    let done = |members: Vec<EtcdMember>, changed: bool, lines: Vec<String>| Membership {
        members,
        report: (mode == Mode::Join).then(|| JoinReport {
            changed,
            lines,
            duration: started.elapsed(),
        }),
    };
    let has_data = root.join(ETCD_MEMBER_DIR).is_dir();
    let client = client(config, root)?;
    let members = match mk_etcdmember::list_members(&client, endpoints) {
        Ok((_, m)) => m,
        Err(e) if has_data || mode == Mode::ReadOnly => {
            tracing::warn!(
                error = %e,
                "etcd cannot be asked for its members; planning etcd with this node alone \
                 (a member restarts from its data directory and ignores the list)"
            );
            let line = format!(
                "etcd members not asked ({e}): planned with this node alone; its etcd \
                 restarts from /{ETCD_MEMBER_DIR}"
            );
            return Ok(done(alone(), false, vec![line]));
        }
        Err(e) => return Err(format!("spec.cluster.etcdEndpoints: {e}")),
    };
    let decision = mk_etcdmember::decide(&members, name, &peer);
    let known = match decision {
        Join::AlreadyLearner { id } | Join::AlreadyVoter { id } => Some(id),
        _ => None,
    };
    match decision {
        Join::Refuse(r) => return Err(format!("refusing to join etcd: {r}")),
        Join::Add if has_data => {
            return Err(format!(
                "refusing to join etcd: /{ETCD_MEMBER_DIR} holds the data of an earlier \
                 membership, but the cluster ({}) has no member {name} at {peer}: it was \
                 removed; move the directory away to join anew",
                endpoints.join(", ")
            ))
        }
        _ => {}
    }
    if mode == Mode::ReadOnly {
        return Ok(done(to_facts(&members, name, known)?, false, Vec::new()));
    }
    let joined =
        mk_etcdmember::join(&client, endpoints, node, SLOT_WAIT).map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    match joined.outcome {
        Outcome::Added { id } => {
            tracing::info!(
                node = name,
                id = format!("{id:x}"),
                "added to etcd as a learner"
            );
            lines.push(format!(
                "+ etcd member {id:x} ({name}) at {peer}: added as a learner through {}",
                endpoints.join(", ")
            ));
        }
        o => tracing::info!(node = name, outcome = ?o, "already an etcd member"),
    }
    let members = to_facts(&joined.members, name, Some(joined.outcome.id()))?;
    let changed = !lines.is_empty();
    Ok(done(members, changed, lines))
}

/// report.json's step for the join, first of a joining control plane's
/// `apply` (the join happens while planning: the manifest needs the list).
pub const STEP: &str = "etcd-join";

/// The members for planning, and what joining did (`None`: this node does
/// not join, or planning changed nothing, [`Mode::ReadOnly`]).
#[derive(Debug, Clone)]
pub struct Membership {
    pub members: Vec<EtcdMember>,
    pub report: Option<JoinReport>,
}

/// What [`etcd_members`] did to etcd, for report.json.
#[derive(Debug, Clone)]
pub struct JoinReport {
    /// A learner was added.
    pub changed: bool,
    pub lines: Vec<String>,
    pub duration: Duration,
}

/// Members as the planner takes them. This node's entry may have no name
/// yet (added, not started); any other unnamed member cannot be listed in
/// `--initial-cluster`, so the join waits for it (refused, with its id).
fn to_facts(members: &[Member], me: &str, my_id: Option<u64>) -> Result<Vec<EtcdMember>, String> {
    let mut out = Vec::new();
    for m in members {
        let name = if Some(m.id) == my_id {
            me.to_string()
        } else if m.name.is_empty() {
            return Err(format!(
                "etcd {} was added but has never started: its name is unknown, and etcd needs \
                 every member in --initial-cluster; start or remove it first",
                m.label()
            ));
        } else {
            m.name.clone()
        };
        let Some(url) = m.peer_urls.first() else {
            return Err(format!("etcd member {} has no peer URL", m.label()));
        };
        out.push(EtcdMember {
            name,
            peer_url: url.clone(),
        });
    }
    out.sort();
    Ok(out)
}

/// For `mk-firstboot cluster` (after the kubelet started etcd): promote this
/// node's learner once it has caught up. No-op for other roles and for a
/// voter already.
pub fn promote(
    config: &NodeConfig,
    root: &Path,
    timeout: Duration,
) -> Result<Option<Promotion>, String> {
    if !joins(config) {
        return Ok(None);
    }
    let peer = peer_url(config)?;
    let node = Node {
        name: &config.metadata.name,
        peer_url: &peer,
    };
    mk_etcdmember::promote_when_caught_up(
        &client(config, root)?,
        &config.spec.cluster.etcd_endpoints,
        node,
        timeout,
        Duration::from_millis(500),
    )
    .map(Some)
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_name_this_nodes_unstarted_entry() {
        let m = |id, name: &str, url: &str| Member {
            id,
            name: name.into(),
            peer_urls: vec![url.into()],
            client_urls: vec![],
            is_learner: false,
        };
        let list = [
            m(1, "cp1.t", "https://cp1.t:2380"),
            m(2, "", "https://cp2.t:2380"),
        ];
        let f = to_facts(&list, "cp2.t", Some(2)).unwrap();
        assert_eq!(f[1].name, "cp2.t");
        let e = to_facts(&list, "cp3.t", Some(3)).unwrap_err();
        assert!(e.contains("unstarted member 2 (https://cp2.t:2380)"), "{e}");
    }
}
