//! The rollout as a state machine, driven through `apply::run` against a
//! simulated cluster, over random clusters, batch sizes, failure points and
//! crash points: etcd quorum is never lost (3+ control planes), at most one
//! control plane or one worker batch is out of service, no control plane
//! starts without a fresh backup, every node ends upgraded or the rollout
//! stops naming the node and step and touches nothing more, and a crash at
//! any point resumes from the journal on disk to the same end.

use std::panic::{catch_unwind, AssertUnwindSafe};

use mk_rollout::apply::{run, Effects, Outcome};
use mk_rollout::inventory::Role;
use mk_rollout::journal::{self, Journal};
use mk_rollout::plan::{Plan, PlannedNode, Step};
use proptest::prelude::*;

const MAX_AGE: u64 = 100;

#[derive(Debug, Clone)]
struct SimNode {
    role: Role,
    wipes: bool,
    new_version: bool,
    up: bool,
    cordoned: bool,
    /// etcd membership: None, Some(false) learner, Some(true) voter.
    member: Option<bool>,
}

struct Sim {
    nodes: Vec<SimNode>,
    names: Vec<String>,
    batch: usize,
    clock: u64,
    backup_at: Option<u64>,
    calls: usize,
    fail_at: Option<usize>,
    /// The failure: a node that comes back on the old version, when the
    /// failing call is a wait for it.
    old_version: bool,
    crash_at: Option<usize>,
    crash_after_effect: bool,
    violations: Vec<String>,
}

impl Sim {
    fn idx(&self, name: &str) -> usize {
        self.names.iter().position(|n| n == name).unwrap()
    }

    fn check_invariants(&mut self, what: &str) {
        let cps: Vec<&SimNode> = self
            .nodes
            .iter()
            .filter(|n| n.role == Role::ControlPlane)
            .collect();
        let members = cps.iter().filter(|n| n.member == Some(true)).count();
        let up = cps
            .iter()
            .filter(|n| n.member == Some(true) && n.up)
            .count();
        if cps.len() >= 3 && up * 2 <= members {
            self.violations
                .push(format!("{what}: etcd quorum lost ({up} of {members} up)"));
        }
        let cp_out = self
            .nodes
            .iter()
            .filter(|n| n.role == Role::ControlPlane && (n.cordoned || !n.up))
            .count();
        let w_out = self
            .nodes
            .iter()
            .filter(|n| n.role == Role::Worker && (n.cordoned || !n.up))
            .count();
        if cp_out > 1 || w_out > self.batch || (cp_out > 0 && w_out > 0) {
            self.violations.push(format!(
                "{what}: {cp_out} control planes and {w_out} workers out (batch {})",
                self.batch
            ));
        }
    }

    /// Counts a call; whether it fails or crashes here.
    fn enter(&mut self) -> Result<bool, String> {
        self.calls += 1;
        self.clock += 7;
        if self.crash_at == Some(self.calls) && !self.crash_after_effect {
            panic!("simulated crash before the effect");
        }
        if self.fail_at == Some(self.calls) {
            return Ok(true);
        }
        Ok(false)
    }

    fn leave(&mut self) {
        if self.crash_at == Some(self.calls) && self.crash_after_effect {
            panic!("simulated crash after the effect");
        }
    }

    fn etcd_all_healthy(&self) -> Result<(), String> {
        let bad: Vec<&str> = (0..self.nodes.len())
            .filter(|&i| {
                let n = &self.nodes[i];
                n.role == Role::ControlPlane && !(n.up && n.member == Some(true))
            })
            .map(|i| self.names[i].as_str())
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!("etcd members not healthy: {}", bad.join(", ")))
        }
    }
}

impl Effects for Sim {
    fn now(&self) -> u64 {
        self.clock
    }

    fn backup(&mut self) -> Result<String, String> {
        if self.enter()? {
            return Err("etcd unreachable".into());
        }
        self.backup_at = Some(self.clock);
        self.leave();
        Ok("/backups/etcd.db".into())
    }

    fn step(&mut self, node: &PlannedNode, step: Step) -> Result<(), String> {
        let fail = self.enter()?;
        let i = self.idx(&node.name);
        if fail {
            if step == Step::Back && self.old_version {
                // The node booted the old image: it is up, but old.
                self.nodes[i].up = true;
                return Err("Ready=True, mk.dev/image-version=v1".into());
            }
            return Err(format!("injected failure at {step}"));
        }
        match step {
            Step::Pending => unreachable!(),
            Step::EtcdChecked => {
                if self.backup_at.is_none_or(|b| self.clock - b > MAX_AGE + 7) {
                    self.violations.push(format!(
                        "{}: control plane started without a fresh backup",
                        node.name
                    ));
                }
                self.etcd_all_healthy()?;
            }
            Step::Cordoned => self.nodes[i].cordoned = true,
            Step::Drained => {}
            Step::MemberRemoved => self.nodes[i].member = None,
            Step::Reimaged => {
                let n = &mut self.nodes[i];
                if n.wipes && n.role == Role::ControlPlane && n.member.is_some() {
                    // Not removed first: the wiped node could never rejoin.
                    self.violations
                        .push(format!("{}: wiped while an etcd member", node.name));
                }
                n.up = false;
                n.new_version = true;
            }
            Step::Back => {
                let n = &mut self.nodes[i];
                n.up = true;
                if n.role == Role::ControlPlane {
                    // First boot rejoins a wiped node as a learner and
                    // promotes it; a kept state partition keeps the member.
                    n.member = Some(true);
                }
            }
            Step::ControlPlaneHealthy => self.etcd_all_healthy()?,
            Step::Done => self.nodes[i].cordoned = false,
        }
        self.check_invariants(&format!("{} {step}", node.name));
        self.leave();
        Ok(())
    }
}

fn cluster() -> impl Strategy<Value = (Vec<(Role, bool)>, usize)> {
    (
        prop::collection::vec(any::<bool>(), 0..=5),
        prop::collection::vec(any::<bool>(), 0..=8),
        1usize..=4,
    )
        .prop_filter("at least one node", |(c, w, _)| {
            !c.is_empty() || !w.is_empty()
        })
        .prop_map(|(c, w, b)| {
            let mut nodes: Vec<(Role, bool)> =
                c.into_iter().map(|x| (Role::ControlPlane, x)).collect();
            nodes.extend(w.into_iter().map(|x| (Role::Worker, x)));
            (nodes, b)
        })
}

fn setup(nodes: &[(Role, bool)], batch: usize) -> (Plan, Sim) {
    let names: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, (r, _))| format!("{}{i}", if *r == Role::ControlPlane { "cp" } else { "w" }))
        .collect();
    let mut batches: Vec<Vec<usize>> = (0..nodes.len())
        .filter(|&i| nodes[i].0 == Role::ControlPlane)
        .map(|i| vec![i])
        .collect();
    let workers: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].0 == Role::Worker)
        .collect();
    batches.extend(workers.chunks(batch).map(<[usize]>::to_vec));
    let plan = Plan {
        image_version: "v2".into(),
        nodes: nodes
            .iter()
            .zip(&names)
            .map(|((role, wipes), name)| PlannedNode {
                name: name.clone(),
                role: *role,
                wipes_disk: *wipes,
            })
            .collect(),
        batches,
    };
    let sim = Sim {
        nodes: nodes
            .iter()
            .map(|(role, wipes)| SimNode {
                role: *role,
                wipes: *wipes,
                new_version: false,
                up: true,
                cordoned: false,
                member: (*role == Role::ControlPlane).then_some(true),
            })
            .collect(),
        names,
        batch,
        clock: 1000,
        backup_at: None,
        calls: 0,
        fail_at: None,
        old_version: false,
        crash_at: None,
        crash_after_effect: false,
        violations: Vec::new(),
    };
    (plan, sim)
}

/// Runs until finished, restarting from the journal on disk after a
/// crash (as a new `mk-rollout apply` would).
fn run_to_end(path: &std::path::Path, sim: &mut Sim) -> Outcome {
    for _ in 0..3 {
        let mut j: Journal = journal::read(path).unwrap().unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            run(path, &mut j, sim, MAX_AGE, &mut |_| {}).unwrap().0
        }));
        match r {
            Ok(o) => return o,
            Err(_) => sim.crash_at = None,
        }
    }
    panic!("did not end");
}

fn all_upgraded(sim: &Sim) -> bool {
    sim.nodes
        .iter()
        .all(|n| n.new_version && n.up && !n.cordoned)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rollout_ends_upgraded_safely_or_stops_with_a_reason(
        (nodes, batch) in cluster(),
        fail in prop::option::of(1usize..80),
        old_version in any::<bool>(),
        crash in prop::option::of(1usize..80),
        crash_after_effect in any::<bool>(),
    ) {
        std::panic::set_hook(Box::new(|_| {}));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.yaml.rollout.json");
        let (plan, mut sim) = setup(&nodes, batch);
        journal::write(&path, &Journal::new(plan)).unwrap();
        sim.fail_at = fail;
        sim.old_version = old_version;
        sim.crash_at = crash;
        sim.crash_after_effect = crash_after_effect;

        match run_to_end(&path, &mut sim) {
            Outcome::Finished => {
                prop_assert!(all_upgraded(&sim), "finished but not all upgraded: {:?}", sim.nodes);
            }
            Outcome::Stopped(stop) => {
                let calls = sim.calls;
                prop_assert_eq!(Some(calls), sim.fail_at, "stopped without the injected failure: {}", stop);
                prop_assert!(!stop.seen.is_empty());
                // The journal on disk holds the stop; running again without
                // fixing anything touches nothing.
                let j = journal::read(&path).unwrap().unwrap();
                prop_assert_eq!(j.stop.as_ref(), Some(&stop));
                let mut same = j.clone();
                prop_assert_eq!(mk_rollout::machine::next(&same, sim.clock, MAX_AGE), mk_rollout::machine::Action::Stopped);
                // Fixed: the next run retries that step and finishes.
                sim.fail_at = None;
                same.stop = None;
                journal::write(&path, &same).unwrap();
                prop_assert_eq!(run_to_end(&path, &mut sim), Outcome::Finished);
                prop_assert!(all_upgraded(&sim));
            }
        }
        let _ = std::panic::take_hook();
        prop_assert!(sim.violations.is_empty(), "{:?}", sim.violations);
        let j = journal::read(&path).unwrap().unwrap();
        prop_assert!(j.done.iter().all(|s| *s == Step::Done));
    }
}
