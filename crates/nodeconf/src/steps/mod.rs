//! One module per step, in the order first boot applies them.

pub mod containerd;
pub mod firewall;
pub mod kubeconfig;
pub mod kubelet;
pub mod pki;
pub mod staticpods;
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
