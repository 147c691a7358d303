//! The rollout as a pure state machine over the [`Journal`]: which action
//! comes next, and how its outcome changes the journal. No I/O here; the
//! effects are in `apply`. Rules:
//!
//! - batches in plan order; a batch is finished before the next starts;
//! - within a batch the nodes go step by step together (all cordoned, then
//!   all drained, ...), so at most one batch is out of service;
//! - a control plane starts (its etcd health check) only with a fresh
//!   backup (R35: "No fresh backup, no control-plane upgrade");
//! - a failed action stops the rollout with the node, the step and what was
//!   seen; nothing else is done until [`resume`].

use crate::journal::{Backup, Journal, Stop};
use crate::plan::Step;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Take and verify an etcd backup.
    Backup,
    /// Bring `node` (an index into the plan's nodes) to `step`.
    Step { node: usize, step: Step },
    /// Every node is done.
    Finished,
    /// The journal holds a stop; [`resume`] clears it.
    Stopped,
}

/// Whether the journal's backup is at most `max_age` seconds old at `now`.
pub fn backup_fresh(j: &Journal, now: u64, max_age: u64) -> bool {
    j.backup
        .as_ref()
        .is_some_and(|b| b.at <= now && now - b.at <= max_age)
}

/// The next action.
pub fn next(j: &Journal, now: u64, backup_max_age: u64) -> Action {
    if j.stop.is_some() {
        return Action::Stopped;
    }
    let Some(batch) = j
        .plan
        .batches
        .iter()
        .find(|b| b.iter().any(|&i| j.done[i] != Step::Done))
    else {
        return Action::Finished;
    };
    // The least advanced node of the batch goes next (first in plan order).
    let &node = batch
        .iter()
        .filter(|&&i| j.done[i] != Step::Done)
        .min_by_key(|&&i| j.done[i])
        .expect("the batch has an unfinished node");
    let step = j.plan.nodes[node]
        .next_step(j.done[node])
        .expect("an unfinished node has a next step");
    if step == Step::EtcdChecked && !backup_fresh(j, now, backup_max_age) {
        return Action::Backup;
    }
    Action::Step { node, step }
}

/// Records that `action` completed at `now` (`backup_file` for a backup).
pub fn complete(j: &mut Journal, action: Action, now: u64, backup_file: Option<String>) {
    match action {
        Action::Backup => {
            j.backup = Some(Backup {
                at: now,
                file: backup_file.unwrap_or_default(),
            })
        }
        Action::Step { node, step } => j.done[node] = step,
        Action::Finished | Action::Stopped => {}
    }
}

/// Records that `action` failed: the rollout stops with what was seen.
pub fn fail(j: &mut Journal, action: Action, seen: String) {
    let (node, step) = match action {
        Action::Backup => (None, "etcd backup".to_string()),
        Action::Step { node, step } => (Some(j.plan.nodes[node].name.clone()), step.to_string()),
        Action::Finished | Action::Stopped => return,
    };
    j.stop = Some(Stop { node, step, seen });
}

/// Clears a stop so that the next run retries the step that failed; returns
/// it.
pub fn resume(j: &mut Journal) -> Option<Stop> {
    j.stop.take()
}

/// Nodes neither pending nor done: out of service or about to be.
pub fn in_progress(j: &Journal) -> Vec<usize> {
    (0..j.done.len())
        .filter(|&i| !matches!(j.done[i], Step::Pending | Step::Done))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Role;
    use crate::plan::{Plan, PlannedNode};

    fn journal() -> Journal {
        let n = |name: &str, role| PlannedNode {
            name: name.into(),
            role,
            wipes_disk: false,
        };
        Journal::new(Plan {
            image_version: "v2".into(),
            nodes: vec![
                n("cp1", Role::ControlPlane),
                n("w1", Role::Worker),
                n("w2", Role::Worker),
            ],
            batches: vec![vec![0], vec![1, 2]],
        })
    }

    #[test]
    fn backup_comes_before_a_control_plane_and_expires() {
        let mut j = journal();
        assert_eq!(next(&j, 1000, 60), Action::Backup);
        complete(&mut j, Action::Backup, 1000, Some("/b/etcd.db".into()));
        assert_eq!(
            next(&j, 1060, 60),
            Action::Step {
                node: 0,
                step: Step::EtcdChecked
            }
        );
        assert_eq!(next(&j, 1061, 60), Action::Backup);
    }

    #[test]
    fn a_worker_batch_goes_in_lockstep() {
        let mut j = journal();
        j.done[0] = Step::Done;
        let mut seen = Vec::new();
        loop {
            match next(&j, 0, 0) {
                Action::Step { node, step } => {
                    seen.push((node, step));
                    complete(&mut j, Action::Step { node, step }, 0, None);
                }
                Action::Finished => break,
                a => panic!("{a:?}"),
            }
        }
        assert_eq!(
            &seen[..4],
            &[
                (1, Step::Cordoned),
                (2, Step::Cordoned),
                (1, Step::Drained),
                (2, Step::Drained)
            ]
        );
    }

    #[test]
    fn a_failure_stops_until_resumed() {
        let mut j = journal();
        complete(&mut j, Action::Backup, 0, None);
        let a = next(&j, 0, 10);
        fail(&mut j, a, "etcd member cp2 unreachable".into());
        assert_eq!(next(&j, 0, 10), Action::Stopped);
        let stop = resume(&mut j).unwrap();
        assert_eq!(
            stop.to_string(),
            "node cp1, step \"check etcd health\": etcd member cp2 unreachable"
        );
        assert_eq!(next(&j, 0, 10), a);
    }
}
