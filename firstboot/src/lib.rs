//! mk-firstboot: runs at every boot of an mk node, before containerd and
//! the kubelet. It finds the role config (config drive, kernel command
//! line URL, or a file), checks its signature, validates it, picks this
//! machine's item, plans (mk-nodeconf) and applies only what differs.
//! See docs/firstboot.md.

pub mod accounts;
pub mod approver;
pub mod cleanup;
pub mod cli;
pub mod cluster;
pub mod discovery;
pub mod engine;
pub mod errors;
pub mod etcdbackup;
pub mod etcdjoin;
pub mod facts;
pub mod firewall;
pub mod network;
pub mod planner;
pub mod preflight;
pub mod preview;
pub mod renewal;
pub mod run;
pub mod source;
pub mod state;
pub mod validate;
