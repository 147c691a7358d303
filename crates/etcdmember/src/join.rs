//! The effectful sequences: list, check, add as learner; later, wait for
//! catch-up and promote. Each is idempotent, so that a re-run after a crash
//! at any point converges: the member list says how far the last run got.

use std::time::{Duration, Instant};

use crate::{caught_up, decide, judge_health_of, Client, Error, Join, Member, Need, Status};

/// This node as etcd knows it.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    /// Member name (the node name).
    pub name: &'a str,
    /// `https://<etcd dns name>:2380`.
    pub peer_url: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Added as a learner by this call.
    Added {
        id: u64,
    },
    AlreadyLearner {
        id: u64,
    },
    AlreadyVoter {
        id: u64,
    },
}

impl Outcome {
    pub fn id(self) -> u64 {
        match self {
            Outcome::Added { id }
            | Outcome::AlreadyLearner { id }
            | Outcome::AlreadyVoter { id } => id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Joined {
    pub outcome: Outcome,
    /// The member list after the change, this node included.
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    Promoted { id: u64, waited: Duration },
    AlreadyVoter { id: u64 },
}

/// The member list from the first of `endpoints` that answers. The error
/// names each endpoint and why it did not.
pub fn list_members(client: &Client, endpoints: &[String]) -> Result<(String, Vec<Member>), Error> {
    let mut errors = Vec::new();
    for e in endpoints {
        match client.member_list(e) {
            Ok(m) => return Ok((e.clone(), m)),
            Err(err) => errors.push(err.to_string()),
        }
    }
    Err(Error::Unreachable(format!(
        "no etcd endpoint answered the member list ({}): {}",
        endpoints.join(", "),
        errors.join("; ")
    )))
}

/// Asks every voting member for its status (at its first client URL) and
/// judges with [`crate::judge_health`]; then a linearizable read through the
/// leader proves that the quorum serves. Returns the leader's id.
pub fn check_health(client: &Client, members: &[Member]) -> Result<u64, Error> {
    check_health_of(client, members, Need::Quorum)
}

/// [`check_health`] with `need` voting members healthy.
pub fn check_health_of(client: &Client, members: &[Member], need: Need) -> Result<u64, Error> {
    let mut answers = Vec::new();
    for m in members.iter().filter(|m| !m.is_learner) {
        if let Some(url) = m.client_urls.first() {
            answers.push((m.id, client.status(url).map_err(|e| e.to_string())));
        }
    }
    let leader = judge_health_of(members, &answers, need).map_err(Error::Unhealthy)?;
    let url = members
        .iter()
        .find(|m| m.id == leader)
        .and_then(|m| m.client_urls.first())
        .ok_or_else(|| {
            Error::Unhealthy(format!("etcd leader {leader:x} is not a listed member"))
        })?;
    client.get(url, b"health").map_err(|e| {
        Error::Unhealthy(format!(
            "etcd cluster is unhealthy: a quorum read through leader {leader:x} failed: {e}"
        ))
    })?;
    Ok(leader)
}

/// etcd's refusals that pass by themselves: another learner holds the one
/// learner slot, or (strict reconfig check) the leader has not yet seen
/// every voter active for 5 s, as right after a promotion.
const TRANSIENT: &[&str] = &["too many learner members", "unhealthy cluster"];

/// Makes `node` a member: refuses a clash (another member with this name or
/// peer URL), leaves an existing membership alone (a re-run), and otherwise
/// checks the cluster is healthy and adds the node as a learner. etcd admits
/// one learner at a time: while another joiner holds the slot (or etcd
/// refuses changes for a few seconds after the last one) this retries, up
/// to `slot_wait`.
pub fn join(
    client: &Client,
    endpoints: &[String],
    node: Node<'_>,
    slot_wait: Duration,
) -> Result<Joined, Error> {
    let deadline = Instant::now() + slot_wait;
    loop {
        let (endpoint, members) = list_members(client, endpoints)?;
        let outcome = match decide(&members, node.name, node.peer_url) {
            Join::Refuse(reason) => return Err(Error::Refused(reason)),
            Join::AlreadyLearner { id } => Outcome::AlreadyLearner { id },
            Join::AlreadyVoter { id } => Outcome::AlreadyVoter { id },
            Join::Add => {
                // Only a change of membership needs a healthy cluster; a
                // member rebooting must come up whatever the others do.
                let leader = check_health(client, &members)?;
                tracing::info!(
                    node = node.name,
                    peer_url = node.peer_url,
                    leader = format!("{leader:x}"),
                    "adding this node to etcd as a learner"
                );
                match client.member_add_learner(&endpoint, node.peer_url) {
                    Ok((added, members)) => {
                        return Ok(Joined {
                            outcome: Outcome::Added { id: added.id },
                            members,
                        })
                    }
                    Err(e)
                        if e.etcd_message()
                            .is_some_and(|m| TRANSIENT.iter().any(|t| m.contains(t))) =>
                    {
                        let busy: Vec<String> = members
                            .iter()
                            .filter(|m| m.is_learner)
                            .map(Member::label)
                            .collect();
                        if Instant::now() >= deadline {
                            return Err(Error::Timeout(format!(
                                "{e}, still after {slot_wait:?} (learners: [{}]; etcd admits \
                                 one learner at a time)",
                                busy.join(", ")
                            )));
                        }
                        tracing::info!(learners = ?busy, %e, "etcd refuses a member change for now; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        tracing::info!(node = node.name, outcome = ?outcome, "already an etcd member");
        return Ok(Joined { outcome, members });
    }
}

/// Waits until this node's learner has caught up with the leader
/// ([`caught_up`]), then promotes it; a voter already is done. Polls every
/// `poll`, gives up after `timeout` naming both raft indexes. Run after the
/// node's etcd has started (`mk-firstboot cluster`).
pub fn promote_when_caught_up(
    client: &Client,
    endpoints: &[String],
    node: Node<'_>,
    timeout: Duration,
    poll: Duration,
) -> Result<Promotion, Error> {
    let started = Instant::now();
    loop {
        let last = match promote_once(client, endpoints, node) {
            Ok(Step::Done(p)) => {
                if let Promotion::Promoted { id, .. } = p {
                    let waited = started.elapsed();
                    tracing::info!(
                        node = node.name,
                        id = format!("{id:x}"),
                        ?waited,
                        "promoted to voting etcd member"
                    );
                    return Ok(Promotion::Promoted { id, waited });
                }
                return Ok(p);
            }
            Ok(Step::Wait(why)) => why,
            Err(e @ Error::Refused(_)) => return Err(e),
            Err(e) => e.to_string(),
        };
        if started.elapsed() >= timeout {
            return Err(Error::Timeout(format!(
                "etcd learner {} not promoted within {timeout:?}: {last}",
                node.name
            )));
        }
        tracing::debug!(node = node.name, %last, "learner not promoted yet");
        std::thread::sleep(poll);
    }
}

enum Step {
    Done(Promotion),
    Wait(String),
}

fn promote_once(client: &Client, endpoints: &[String], node: Node<'_>) -> Result<Step, Error> {
    let (_, members) = list_members(client, endpoints)?;
    let me = match decide(&members, node.name, node.peer_url) {
        Join::Refuse(r) => return Err(Error::Refused(r)),
        Join::Add => {
            return Err(Error::Refused(format!(
                "{} ({}) is not an etcd member: it must be added as a learner first",
                node.name, node.peer_url
            )))
        }
        Join::AlreadyVoter { id } => return Ok(Step::Done(Promotion::AlreadyVoter { id })),
        Join::AlreadyLearner { id } => members.iter().find(|m| m.id == id).cloned(),
    };
    let Some(me) = me else {
        return Ok(Step::Wait("member vanished from the list".into()));
    };
    let Some(my_url) = me.client_urls.first() else {
        return Ok(Step::Wait(format!(
            "learner {:x} has not started (no client URL yet)",
            me.id
        )));
    };
    let learner = client.status(my_url)?;
    let leader = leader_status(client, &members)?;
    if !caught_up(&leader, &learner) {
        return Ok(Step::Wait(format!(
            "learner at raft index {}, leader {:x} at {}",
            learner.raft_index, leader.member_id, leader.raft_index
        )));
    }
    match client.member_promote(&leader.endpoint, me.id) {
        Ok(_) => Ok(Step::Done(Promotion::Promoted {
            id: me.id,
            waited: Duration::ZERO,
        })),
        // etcd's own readiness check disagreed: wait and retry.
        Err(e)
            if e.etcd_message()
                .is_some_and(|m| m.contains("in sync with leader")) =>
        {
            Ok(Step::Wait(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// The leader's status, found through any voter that answers.
fn leader_status(client: &Client, members: &[Member]) -> Result<Status, Error> {
    let mut errors = Vec::new();
    for v in members.iter().filter(|m| !m.is_learner) {
        let Some(url) = v.client_urls.first() else {
            continue;
        };
        match client.status(url) {
            Ok(s) if s.leader == 0 => errors.push(format!("{}: knows no leader", v.label())),
            Ok(s) if s.leader == s.member_id => return Ok(s),
            Ok(s) => {
                let leader = members.iter().find(|m| m.id == s.leader);
                match leader.and_then(|l| l.client_urls.first()) {
                    Some(lu) => return client.status(lu),
                    None => errors.push(format!("leader {:x} has no client URL", s.leader)),
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(Error::Unhealthy(format!(
        "etcd cluster has no reachable leader: {}",
        errors.join("; ")
    )))
}
