//! mk-rollout: what the admin runs against a cluster from outside it
//! (DESIGN §2; it never runs inside the cluster it changes). For now one
//! command: `mk-rollout backup`, a verified etcd snapshot (R35,
//! mk-etcdbackup); the rolling upgrade (R7) will call the same backup first.
//! See docs/etcd-backup.md.

pub mod cli;
