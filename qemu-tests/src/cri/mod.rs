//! mk-cri-probe (issue 16): a small CRI client that asks containerd for
//! what a kubelet would ask for each static pod of a manifest directory,
//! and checks that the containers run with the manifest's user, mounts,
//! read-only root and SELinux labels. No kubelet or crictl is needed.
//!
//! - [`manifest`]: the fields of a Pod manifest that matter to the runtime;
//! - [`config`]: the CRI requests a kubelet builds from them;
//! - [`probe`]: the run (start, check, clean up) and its `MK-CRI` lines.

pub mod config;
pub mod manifest;
pub mod probe;
