//! A control plane joins etcd (issue 11): added as a learner (which does
//! not count towards quorum, so a joiner that never comes up cannot break
//! the cluster), started with `initial-cluster-state=existing`, promoted to
//! a voter once it has caught up with the leader.
//!
//! Pure decisions ([`decide`], [`judge_health`], [`caught_up`]) are apart
//! from effects ([`client::Client`] over etcd's v3 JSON gateway, and the
//! sequences in [`join()`] and [`promote_when_caught_up`]), so that they are
//! tested without etcd; the sequences are tested against real etcd.

pub mod client;
mod join;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

use serde_json::Value;

pub use client::{Client, Streamed};
pub use join::{
    check_health, check_health_of, join, list_members, promote_when_caught_up, Joined, Node,
    Outcome, Promotion,
};
pub use tls::Credentials;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Name resolution, connection, TLS, time-out.
    #[error("etcd {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    /// etcd answered with an error: its own message.
    #[error("etcd {endpoint}{path}: {message} (HTTP {status})")]
    Etcd {
        endpoint: String,
        path: String,
        status: u16,
        message: String,
    },
    /// Not an answer etcd's gateway gives.
    #[error("etcd {endpoint}{path}: unexpected answer: {message}")]
    Malformed {
        endpoint: String,
        path: String,
        message: String,
    },
    #[error("etcd client credentials: {0}")]
    Credentials(String),
    /// Joining would break something; nothing was changed.
    #[error("refusing to join etcd: {0}")]
    Refused(String),
    /// No endpoint answered at all.
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Unhealthy(String),
    #[error("{0}")]
    Timeout(String),
}

impl Error {
    /// etcd's own message, for errors etcd sent.
    pub fn etcd_message(&self) -> Option<&str> {
        match self {
            Error::Etcd { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// One member, as `member list` shows it. A member added but never started
/// has no name and no client URLs yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

impl Member {
    pub(crate) fn from_json(v: &Value) -> Result<Member, String> {
        let id = uint(v, "ID")?;
        Ok(Member {
            id,
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            peer_urls: strings(v, "peerURLs")?,
            client_urls: strings(v, "clientURLs")?,
            is_learner: v.get("isLearner").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// `name (id 8a3f…)`, or the peer URL while it has no name.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!(
                "unstarted member {:x} ({})",
                self.id,
                self.peer_urls.join(",")
            )
        } else {
            format!("{} ({:x})", self.name, self.id)
        }
    }
}

/// `maintenance status` of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub endpoint: String,
    pub member_id: u64,
    /// 0 while the member knows no leader (no quorum).
    pub leader: u64,
    pub raft_index: u64,
    pub raft_applied_index: u64,
    pub is_learner: bool,
    /// Alarms and other errors the member reports (e.g. NOSPACE).
    pub errors: Vec<String>,
}

impl Status {
    pub(crate) fn from_json(endpoint: &str, v: &Value) -> Result<Status, String> {
        let header = v.get("header").ok_or("no `header`")?;
        Ok(Status {
            endpoint: endpoint.to_string(),
            member_id: uint(header, "member_id")?,
            leader: uint(v, "leader")?,
            raft_index: uint(v, "raftIndex")?,
            raft_applied_index: uint(v, "raftAppliedIndex")?,
            is_learner: v.get("isLearner").and_then(Value::as_bool).unwrap_or(false),
            errors: strings(v, "errors")?,
        })
    }
}

/// A uint64 field: the gateway writes them as strings; absent means 0
/// (proto3 leaves zero values out).
fn uint(v: &Value, field: &str) -> Result<u64, String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("`{field}`: {s:?} is not a uint64")),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("`{field}`: {n} is not a uint64")),
        Some(other) => Err(format!("`{field}`: {other} is not a uint64")),
    }
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{field}`: {x} is not a string"))
            })
            .collect(),
        Some(other) => Err(format!("`{field}`: {other} is not a list")),
    }
}

/// What to do about this node's membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    /// Not a member: add it as a learner.
    Add,
    /// Already added (a re-run): started or not, not yet promoted.
    AlreadyLearner { id: u64 },
    /// Already a voting member: nothing to do.
    AlreadyVoter { id: u64 },
    /// Joining would clash with another member; nothing may change.
    Refuse(String),
}

/// This node (`node_name`, reached at `peer_url`) against the member list.
/// A member with no name but our peer URL is this node, added before a
/// crash and not yet started.
pub fn decide(members: &[Member], node_name: &str, peer_url: &str) -> Join {
    for m in members {
        let exactly_ours = m.peer_urls.len() == 1 && m.peer_urls[0] == peer_url;
        let has_ours = m.peer_urls.iter().any(|u| u == peer_url);
        if m.name == node_name || (m.name.is_empty() && has_ours) {
            if !exactly_ours {
                return Join::Refuse(format!(
                    "{node_name} is already etcd member {:x} with peer URLs [{}], not {peer_url}: \
                     if this node was rebuilt, remove the old member first \
                     (etcdctl member remove {:x})",
                    m.id,
                    m.peer_urls.join(", "),
                    m.id
                ));
            }
            return if m.is_learner {
                Join::AlreadyLearner { id: m.id }
            } else {
                Join::AlreadyVoter { id: m.id }
            };
        }
        if has_ours {
            return Join::Refuse(format!(
                "peer URL {peer_url} belongs to etcd member {}, not to {node_name}",
                m.label()
            ));
        }
    }
    Join::Add
}

/// One voter's answer to `status`, or why there was none.
pub type Answer = (u64, Result<Status, String>);

/// How many voting members must be healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Enough to change membership (a join): one voter may be down.
    Quorum,
    /// Every one: before one of them is taken down (an upgrade).
    Every,
}

/// Healthy: a quorum of voting members answer and agree on one leader, and
/// none reports an alarm. Returns the leader's id; the error names every
/// member that does not count and why.
pub fn judge_health(members: &[Member], answers: &[Answer]) -> Result<u64, String> {
    judge_health_of(members, answers, Need::Quorum)
}

/// [`judge_health`] with `need` voting members answering and agreeing.
pub fn judge_health_of(members: &[Member], answers: &[Answer], need: Need) -> Result<u64, String> {
    let voters: Vec<&Member> = members.iter().filter(|m| !m.is_learner).collect();
    let quorum = voters.len() / 2 + 1;
    let mut leaders: std::collections::BTreeMap<u64, usize> = Default::default();
    let mut problems = Vec::new();
    // An alarm (NOSPACE, CORRUPT) on any voter stops a join; one voter that
    // lost the leader does not, while a quorum agrees on one.
    let mut alarmed = false;
    for v in &voters {
        match answers.iter().find(|(id, _)| *id == v.id).map(|(_, r)| r) {
            None => problems.push(format!("{}: not asked (no client URL)", v.label())),
            Some(Err(e)) => problems.push(format!("{}: {e}", v.label())),
            // etcd 3.4 then also lists "etcdserver: no leader" in `errors`.
            Some(Ok(s)) if s.leader == 0 => problems.push(format!(
                "{}: answers but knows no leader{}",
                v.label(),
                if s.errors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s.errors.join(", "))
                }
            )),
            Some(Ok(s)) if !s.errors.is_empty() => {
                alarmed = true;
                problems.push(format!("{}: reports {}", v.label(), s.errors.join(", ")))
            }
            Some(Ok(s)) => *leaders.entry(s.leader).or_default() += 1,
        }
    }
    let (leader, agreeing) = leaders
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(l, n)| (*l, *n))
        .unwrap_or((0, 0));
    if voters.is_empty() {
        return Err("etcd cluster has no voting member".into());
    }
    if need == Need::Every {
        if agreeing == voters.len() {
            return Ok(leader);
        }
        if problems.is_empty() {
            problems.push(format!("only {agreeing} agree on leader {leader:x}"));
        }
        return Err(format!(
            "not every etcd member is healthy: {}",
            problems.join("; ")
        ));
    }
    if agreeing >= quorum && !alarmed {
        return Ok(leader);
    }
    Err(format!(
        "etcd cluster is unhealthy: no quorum: {agreeing} of {} voting members answer with \
         leader {leader:x}, {quorum} needed{}{}",
        voters.len(),
        if problems.is_empty() { "" } else { "; " },
        problems.join("; ")
    ))
}

/// Entries a learner may lag behind the leader's raft index and still be
/// promoted; etcd itself also wants 90 % of the leader's log (etcdserver's
/// `readyPercent`) and refuses otherwise, so both must hold.
pub const CATCH_UP_SLACK: u64 = 100;

/// Whether the learner has caught up with the leader.
pub fn caught_up(leader: &Status, learner: &Status) -> bool {
    learner.raft_index > 0
        && learner.raft_index.saturating_add(CATCH_UP_SLACK) >= leader.raft_index
        && u128::from(learner.raft_index) * 10 >= u128::from(leader.raft_index) * 9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: u64, name: &str, peer: &str, learner: bool) -> Member {
        Member {
            id,
            name: name.into(),
            peer_urls: vec![peer.into()],
            client_urls: if name.is_empty() {
                vec![]
            } else {
                vec![format!("https://{name}:2379")]
            },
            is_learner: learner,
        }
    }

    const ME: &str = "cp2.example.test";
    const URL: &str = "https://cp2.example.test:2380";

    #[test]
    fn decisions() {
        let cp1 = m(
            1,
            "cp1.example.test",
            "https://cp1.example.test:2380",
            false,
        );
        assert_eq!(decide(std::slice::from_ref(&cp1), ME, URL), Join::Add);
        // Added before a crash, never started: no name yet.
        assert_eq!(
            decide(&[cp1.clone(), m(2, "", URL, true)], ME, URL),
            Join::AlreadyLearner { id: 2 }
        );
        assert_eq!(
            decide(&[cp1.clone(), m(2, ME, URL, true)], ME, URL),
            Join::AlreadyLearner { id: 2 }
        );
        assert_eq!(
            decide(&[cp1.clone(), m(2, ME, URL, false)], ME, URL),
            Join::AlreadyVoter { id: 2 }
        );
        let Join::Refuse(r) = decide(
            &[
                cp1.clone(),
                m(0x2a, ME, "https://old.example.test:2380", false),
            ],
            ME,
            URL,
        ) else {
            panic!()
        };
        assert!(
            r.contains("cp2.example.test is already etcd member 2a")
                && r.contains("old.example.test")
                && r.contains("member remove 2a"),
            "{r}"
        );
        let Join::Refuse(r) = decide(
            &[cp1.clone(), m(3, "cp3.example.test", URL, false)],
            ME,
            URL,
        ) else {
            panic!()
        };
        assert!(
            r.contains("belongs to etcd member cp3.example.test (3)"),
            "{r}"
        );
    }

    fn status(id: u64, leader: u64, index: u64) -> Status {
        Status {
            endpoint: String::new(),
            member_id: id,
            leader,
            raft_index: index,
            raft_applied_index: index,
            is_learner: false,
            errors: vec![],
        }
    }

    #[test]
    fn health() {
        let members = [
            m(1, "a.t", "https://a.t:2380", false),
            m(2, "b.t", "https://b.t:2380", false),
            m(3, "c.t", "https://c.t:2380", false),
            m(4, "", "https://d.t:2380", true),
        ];
        let ok = |id| (id, Ok(status(id, 1, 10)));
        let down = |id| (id, Err("cannot connect: refused".to_string()));
        assert_eq!(judge_health(&members, &[ok(1), ok(2), down(3)]), Ok(1));
        // Before an upgrade takes one down, every voter must be healthy.
        let e = judge_health_of(&members, &[ok(1), ok(2), down(3)], Need::Every).unwrap_err();
        assert_eq!(
            e,
            "not every etcd member is healthy: c.t (3): cannot connect: refused"
        );
        assert_eq!(
            judge_health_of(&members, &[ok(1), ok(2), ok(3)], Need::Every),
            Ok(1)
        );
        let e = judge_health(&members, &[ok(1), down(2), down(3)]).unwrap_err();
        assert!(
            e.contains("no quorum: 1 of 3 voting members")
                && e.contains("2 needed")
                && e.contains("b.t (2): cannot connect")
                && e.contains("c.t (3): cannot connect"),
            "{e}"
        );
        // The survivor of a lost quorum answers but has no leader.
        let e = judge_health(&members, &[(1, Ok(status(1, 0, 10))), down(2), down(3)]).unwrap_err();
        assert!(e.contains("a.t (1): answers but knows no leader"), "{e}");
        // A voter cut off from the leader (etcd 3.4 adds "no leader" to its
        // errors) does not stop a join while the others agree on one.
        let mut lost = status(3, 0, 10);
        lost.errors = vec!["etcdserver: no leader".into()];
        assert_eq!(
            judge_health(&members, &[ok(1), ok(2), (3, Ok(lost))]),
            Ok(1)
        );
        // An alarm anywhere: not healthy.
        let mut alarmed = status(3, 1, 10);
        alarmed.errors = vec!["memberID:3 alarm:NOSPACE".into()];
        let e = judge_health(&members, &[ok(1), ok(2), (3, Ok(alarmed))]).unwrap_err();
        assert!(e.contains("NOSPACE"), "{e}");
        // Split opinions about the leader do not add up.
        let e = judge_health(&members, &[ok(1), (2, Ok(status(2, 2, 10))), down(3)]).unwrap_err();
        assert!(e.contains("1 of 3"), "{e}");
        // One member alone is its own quorum.
        assert_eq!(judge_health(&members[..1], &[ok(1)]), Ok(1));
    }

    #[test]
    fn catch_up() {
        let leader = status(1, 1, 1000);
        assert!(caught_up(&leader, &status(2, 1, 1000)));
        assert!(caught_up(&leader, &status(2, 1, 950)));
        assert!(!caught_up(&leader, &status(2, 1, 899)));
        assert!(!caught_up(&leader, &status(2, 1, 0)));
        // Small logs: 90 % binds before the slack does.
        let leader = status(1, 1, 20);
        assert!(!caught_up(&leader, &status(2, 1, 17)));
        assert!(caught_up(&leader, &status(2, 1, 18)));
        // Large logs: the slack binds.
        let leader = status(1, 1, 1_000_000);
        assert!(!caught_up(&leader, &status(2, 1, 999_000)));
        assert!(caught_up(&leader, &status(2, 1, 999_950)));
    }

    #[test]
    fn gateway_json() {
        let v: Value = serde_json::from_str(
            r#"{"ID":"8248327167365548871","peerURLs":["https://x:2380"],"isLearner":true}"#,
        )
        .unwrap();
        let mm = Member::from_json(&v).unwrap();
        assert_eq!(mm.id, 8248327167365548871);
        assert!(mm.is_learner && mm.name.is_empty() && mm.client_urls.is_empty());
        let v: Value = serde_json::from_str(
            r#"{"header":{"cluster_id":"1","member_id":"33","revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"20480","leader":"33","raftIndex":"4","raftTerm":"2","raftAppliedIndex":"4","dbSizeInUse":"20480"}"#,
        )
        .unwrap();
        let s = Status::from_json("e:2379", &v).unwrap();
        assert_eq!((s.member_id, s.leader, s.raft_index), (33, 33, 4));
        assert!(Member::from_json(&serde_json::json!({"ID": "x"}))
            .unwrap_err()
            .contains("`ID`"));
    }
}
