//! The etcd side of a control plane's upgrade, over mk-etcdmember's mTLS
//! client: health before and after (every member a started voter, the
//! quorum serving), removal of a wiped node's member, the backup before
//! the control planes (mk-etcdbackup).

use mk_etcdmember::Client;
use serde_json::json;
use tracing::info;

use crate::inventory::Etcd;

/// How long a refused member removal is retried.
const REMOVE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Every member started and a voter, the quorum serving a read through
/// the leader; and `expect` members in all when given. `Ok` describes it.
pub fn healthy(
    client: &Client,
    endpoints: &[String],
    expect: Option<usize>,
) -> Result<String, String> {
    let (_, members) = mk_etcdmember::list_members(client, endpoints).map_err(|e| e.to_string())?;
    if let Some(m) = members.iter().find(|m| m.is_learner || m.name.is_empty()) {
        return Err(format!(
            "etcd member {} is not a started voter yet",
            m.label()
        ));
    }
    if let Some(n) = expect {
        if members.len() != n {
            return Err(format!("etcd has {} members, expected {n}", members.len()));
        }
    }
    // A join needs a quorum; taking a member down for its upgrade needs
    // every member answering, agreeing on the leader, with no alarm.
    let leader = mk_etcdmember::check_health_of(client, &members, mk_etcdmember::Need::Every)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "{} etcd members healthy, leader {leader:x}",
        members.len()
    ))
}

/// Removes the member named `node`, through another member; nothing to do
/// when there is none (removed by an earlier run).
pub fn remove_member(client: &Client, endpoints: &[String], node: &str) -> Result<(), String> {
    let (endpoint, members) =
        mk_etcdmember::list_members(client, endpoints).map_err(|e| e.to_string())?;
    let Some(m) = members.iter().find(|m| m.name == node) else {
        info!(node, "no etcd member of that name: removed already");
        return Ok(());
    };
    let via = members
        .iter()
        .filter(|o| o.id != m.id)
        .find_map(|o| o.client_urls.first().cloned())
        .unwrap_or(endpoint);
    // etcd refuses membership changes ("unhealthy cluster") until the
    // leader has seen every voter active for 5 s, as right after a member
    // restarted: that passes by itself, so ask again for a while.
    let started = std::time::Instant::now();
    loop {
        let body = json!({"ID": m.id.to_string()});
        match client.post(&via, "/v3/cluster/member/remove", &body) {
            Ok(_) => break,
            Err(e)
                if e.to_string().contains("unhealthy cluster")
                    && started.elapsed() < REMOVE_PATIENCE =>
            {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            Err(e) => return Err(format!("removing etcd member {}: {e}", m.label())),
        }
    }
    info!(node, member = %m.label(), "etcd member removed; the node rejoins as a learner");
    Ok(())
}

/// A verified snapshot from the first member that gives one; its path.
pub fn backup(client: &Client, e: &Etcd) -> Result<String, String> {
    let mut errors = Vec::new();
    for endpoint in &e.endpoints {
        let mut o = mk_etcdbackup::Options::new(endpoint, &e.backup_dir);
        o.keep = e.backup_keep;
        match mk_etcdbackup::backup(client, &o, &mut |_, _| {}) {
            Ok(b) => {
                info!(file = %b.path.display(), "etcd backup verified");
                return Ok(b.path.display().to_string());
            }
            Err(err) => errors.push(format!("{endpoint}: {err}")),
        }
    }
    Err(format!(
        "no fresh backup, no control-plane upgrade: {}",
        errors.join("; ")
    ))
}
