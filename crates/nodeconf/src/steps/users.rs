//! System users and groups of the control-plane services (R12) and their
//! data directories, 0700.

use serde_json::json;

use crate::action::{Action, Step};
use crate::plan::Ctx;
use crate::render::{dir, owner_of};
use crate::users::ALL;

pub const NAME: &str = "users";

pub(crate) fn step(ctx: &Ctx) -> Step {
    let cp = ctx.control_plane;
    super::make(NAME, json!({ "controlPlane": cp }), |_| {
        let mut actions = Vec::new();
        if !cp {
            return actions;
        }
        for a in ALL {
            actions.push(Action::EnsureGroup {
                name: a.name.into(),
                gid: a.id,
            });
            actions.push(Action::EnsureUser {
                name: a.name.into(),
                uid: a.id,
                gid: a.id,
                home: a.home.into(),
                comment: a.comment.into(),
            });
        }
        // Each home is the service's data directory (/var/lib/etcd ...).
        for a in ALL {
            actions.push(dir(a.home, 0o700, owner_of(a)));
        }
        actions
    })
}
