//! mk-rollout: what the admin runs against a cluster from outside it
//! (DESIGN §2, §5; it never runs inside the cluster it changes):
//! `mk-rollout backup`, a verified etcd snapshot (R35, mk-etcdbackup), and
//! the rolling re-image upgrade (R6, R7): `plan` prints the order from an
//! inventory, `apply` carries it out node by node and resumes where it
//! stopped. See docs/rollout.md and docs/etcd-backup.md.
//!
//! Pure parts: [`inventory`] (parse and check), [`plan`] (order),
//! [`machine`] (next action, outcome). Effects: [`journal`] (persisted
//! state), [`kube`] (cordon, drain, wait), [`etcd`] (health, member removal,
//! backup), [`bundle`] (`--bundle`: verified before any node is touched),
//! [`driver`] (re-image, carrying the bundle), [`apply`].

pub mod apply;
pub mod bundle;
pub mod cli;
pub mod driver;
pub mod etcd;
pub mod inventory;
pub mod journal;
pub mod kube;
pub mod machine;
pub mod plan;
