//! One module per step. First boot applies them in `plan::plan`'s order:
//! network (only when the config has `spec.network`), hosts, time (early, so chrony is configured even when a later
//! step fails), users, pki, kubeconfig, staticpods, kubelet, containerd,
//! firewall.

pub mod containerd;
pub mod firewall;
pub mod hosts;
pub mod kubeconfig;
pub mod kubelet;
pub mod network;
pub mod pki;
pub mod staticpods;
pub mod time;
pub mod users;

use crate::action::{Action, Step};
use crate::render::input_digest;

pub(crate) fn make(
    name: &str,
    inputs: serde_json::Value,
    actions: impl FnOnce(&str) -> Vec<Action>,
) -> Step {
    let digest = input_digest(name, &inputs);
    let actions = actions(&digest);
    Step {
        name: name.into(),
        input_digest: digest,
        actions,
    }
}
