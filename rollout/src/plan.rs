//! The order of a rollout, from the inventory alone (pure): control planes
//! one at a time, then workers in batches of the chosen size, each in
//! inventory order. `mk-rollout plan` prints it; `apply` follows it.

use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, Role};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedNode {
    pub name: String,
    pub role: Role,
    /// The driver wipes the state partition (etcd member removed first).
    pub wipes_disk: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub image_version: String,
    pub nodes: Vec<PlannedNode>,
    /// Indexes into `nodes`, in order; a control-plane batch has one node.
    pub batches: Vec<Vec<usize>>,
}

/// The steps of one node, in order (after `Pending`, ending with `Done`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Pending,
    /// Control plane: every etcd member healthy before touching it.
    EtcdChecked,
    Cordoned,
    Drained,
    /// Control plane with a wiping driver: its etcd member removed.
    MemberRemoved,
    Reimaged,
    /// Ready and reporting the new image version.
    Back,
    /// Control plane: etcd healthy with all members, apiserver /readyz.
    ControlPlaneHealthy,
    /// Uncordoned.
    Done,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Pending => "pending",
            Step::EtcdChecked => "check etcd health",
            Step::Cordoned => "cordon",
            Step::Drained => "drain",
            Step::MemberRemoved => "remove etcd member",
            Step::Reimaged => "re-image",
            Step::Back => "wait Ready on the new version",
            Step::ControlPlaneHealthy => "wait etcd and apiserver healthy",
            Step::Done => "uncordon",
        })
    }
}

impl PlannedNode {
    /// The steps this node goes through, `Pending` first, `Done` last.
    pub fn steps(&self) -> Vec<Step> {
        let cp = self.role == Role::ControlPlane;
        let mut s = vec![Step::Pending];
        if cp {
            s.push(Step::EtcdChecked);
        }
        s.extend([Step::Cordoned, Step::Drained]);
        if cp && self.wipes_disk {
            s.push(Step::MemberRemoved);
        }
        s.extend([Step::Reimaged, Step::Back]);
        if cp {
            s.push(Step::ControlPlaneHealthy);
        }
        s.push(Step::Done);
        s
    }

    /// The step after `done`, if any.
    pub fn next_step(&self, done: Step) -> Option<Step> {
        self.steps().into_iter().find(|s| *s > done)
    }
}

/// The plan: control planes first, one per batch; then workers,
/// `worker_batch` per batch (at least 1).
pub fn plan(inv: &Inventory, worker_batch: usize) -> Plan {
    let nodes: Vec<PlannedNode> = inv
        .nodes
        .iter()
        .map(|n| PlannedNode {
            name: n.name.clone(),
            role: n.role,
            wipes_disk: n.driver.wipes_disk(),
        })
        .collect();
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if n.role == Role::ControlPlane {
            batches.push(vec![i]);
        }
    }
    let workers: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].role == Role::Worker)
        .collect();
    for chunk in workers.chunks(worker_batch.max(1)) {
        batches.push(chunk.to_vec());
    }
    Plan {
        image_version: inv.image_version.clone(),
        nodes,
        batches,
    }
}

impl Plan {
    /// What `mk-rollout plan` prints.
    pub fn describe(&self) -> String {
        let cps = self
            .nodes
            .iter()
            .filter(|n| n.role == Role::ControlPlane)
            .count();
        let mut out = format!(
            "Rollout to image version {}: {} node(s), {} control plane(s), {} batch(es).\n",
            self.image_version,
            self.nodes.len(),
            cps,
            self.batches.len()
        );
        if cps > 0 {
            out.push_str("0. etcd backup (a fresh one is required before the control planes)\n");
        }
        for (b, batch) in self.batches.iter().enumerate() {
            let names: Vec<&str> = batch.iter().map(|&i| self.nodes[i].name.as_str()).collect();
            let first = &self.nodes[batch[0]];
            let what = match first.role {
                Role::ControlPlane => "control plane".to_string(),
                Role::Worker => format!("workers ({})", batch.len()),
            };
            out.push_str(&format!("{}. {what}: {}\n", b + 1, names.join(", ")));
            for &i in batch {
                let n = &self.nodes[i];
                let steps: Vec<String> = n.steps()[1..].iter().map(Step::to_string).collect();
                out.push_str(&format!(
                    "   {}{}: {}\n",
                    n.name,
                    if n.wipes_disk { " (disk wiped)" } else { "" },
                    steps.join(", ")
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::parse;

    fn inv(nodes: &[(&str, &str)]) -> Inventory {
        let mut t = String::from("image_version: v2\nnodes:\n");
        for (name, role) in nodes {
            t.push_str(&format!(
                "  - name: {name}\n    role: {role}\n    driver: {{command: {{program: x, wipes_disk: false}}}}\n"
            ));
        }
        parse(&t).unwrap()
    }

    #[test]
    fn control_planes_first_one_by_one_then_worker_batches() {
        let i = inv(&[
            ("w1", "worker"),
            ("cp1", "control-plane"),
            ("w2", "worker"),
            ("cp2", "control-plane"),
            ("w3", "worker"),
        ]);
        let p = plan(&i, 2);
        let names: Vec<Vec<&str>> = p
            .batches
            .iter()
            .map(|b| b.iter().map(|&i| p.nodes[i].name.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            vec![vec!["cp1"], vec!["cp2"], vec!["w1", "w2"], vec!["w3"]]
        );
        let text = p.describe();
        assert!(text.starts_with("Rollout to image version v2: 5 node(s), 2 control plane(s), 4 batch(es).\n0. etcd backup"), "{text}");
        assert!(text.contains("3. workers (2): w1, w2\n"), "{text}");
        assert!(text.contains("   cp1: check etcd health, cordon, drain, re-image, wait Ready on the new version, wait etcd and apiserver healthy, uncordon\n"), "{text}");
    }

    #[test]
    fn wiping_control_plane_removes_its_member_and_workers_never_do() {
        let mut n = PlannedNode {
            name: "cp".into(),
            role: Role::ControlPlane,
            wipes_disk: true,
        };
        assert!(n.steps().contains(&Step::MemberRemoved));
        assert_eq!(n.next_step(Step::Drained), Some(Step::MemberRemoved));
        n.role = Role::Worker;
        assert_eq!(
            n.steps(),
            vec![
                Step::Pending,
                Step::Cordoned,
                Step::Drained,
                Step::Reimaged,
                Step::Back,
                Step::Done
            ]
        );
        assert_eq!(n.next_step(Step::Done), None);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::inventory::{CommandDriver, Driver, NodeEntry, Timeouts};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Every node once; control planes first, alone, in inventory
        /// order; then workers in inventory order, batches of at most
        /// `batch`, all full but the last.
        #[test]
        fn plan_orders_every_node_once(roles in prop::collection::vec(any::<bool>(), 1..30), batch in 1usize..6) {
            let inv = Inventory {
                image_version: "v2".into(),
                worker_batch: 1,
                apiserver: None,
                etcd: None,
                timeouts: Timeouts::default(),
                nodes: roles.iter().enumerate().map(|(i, cp)| NodeEntry {
                    name: format!("n{i}"),
                    role: if *cp { Role::ControlPlane } else { Role::Worker },
                    driver: Driver::Command(CommandDriver { program: "x".into(), args: vec![], wipes_disk: i % 3 == 0 }),
                }).collect(),
            };
            let p = plan(&inv, batch);
            let order: Vec<usize> = p.batches.iter().flatten().copied().collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..roles.len()).collect::<Vec<_>>());
            let cps: Vec<usize> = (0..roles.len()).filter(|&i| roles[i]).collect();
            let workers: Vec<usize> = (0..roles.len()).filter(|&i| !roles[i]).collect();
            prop_assert_eq!(&order[..cps.len()], &cps[..]);
            prop_assert_eq!(&order[cps.len()..], &workers[..]);
            for (k, b) in p.batches.iter().enumerate() {
                if k < cps.len() {
                    prop_assert_eq!(b.len(), 1);
                } else {
                    prop_assert!(b.iter().all(|&i| !roles[i]));
                    prop_assert!(b.len() <= batch);
                    prop_assert!(b.len() == batch || k == p.batches.len() - 1);
                }
            }
        }
    }
}
