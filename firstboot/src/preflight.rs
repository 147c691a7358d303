//! The preflight (mk-preflight) between planning and applying: the
//! static pods the plan writes, against the node under the root it is
//! applied to. `apply` refuses a config whose pods could not start here
//! before it changes anything (a control plane that cannot start is
//! better kept down with the reason on the console than half written);
//! `plan` lists the problems. Judged as mounted (`RootMode::Live`): on
//! the node, a path the kubelet would create is creatable where its
//! directory is on a writable filesystem (state partition, tmpfs), not on
//! the read-only root. Workers have no static pods: nothing is read.

use std::fmt::Write;
use std::path::Path;

use mk_nodeconf::Plan;
use mk_preflight::{Checked, Problem, RootMode};

/// Why `apply` refused the config.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "preflight: {} problem(s); the control plane's static pods could not start on this node:\n{}",
        problems.len(),
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    )]
    Problems { problems: Vec<Problem> },
    #[error("preflight: cannot check this node")]
    Unreadable(#[source] mk_preflight::Error),
}

/// The plan's static pods against the node under `root`.
pub fn check(root: &Path, plan: &Plan) -> Result<Checked, mk_preflight::Error> {
    let t0 = std::time::Instant::now();
    let r = mk_preflight::check_plan(root, RootMode::Live, plan);
    tracing::debug!(ms = t0.elapsed().as_secs_f64() * 1e3, "preflight");
    r
}

/// `Ok` when the pods can start; otherwise what `apply` says refusing.
pub fn refuse(root: &Path, plan: &Plan) -> Result<(), Refusal> {
    match check(root, plan) {
        Ok(c) if c.problems.is_empty() => Ok(()),
        Ok(c) => Err(Refusal::Problems {
            problems: c.problems,
        }),
        Err(e) => Err(Refusal::Unreadable(e)),
    }
}

/// What `plan` prints after the changes, and whether `apply` would
/// refuse.
pub fn report(root: &Path, plan: &Plan) -> (String, bool) {
    let mut text = String::new();
    match check(root, plan) {
        Ok(c) if c.pods.is_empty() => {
            let _ = writeln!(text, "preflight: no static pods to check");
            (text, false)
        }
        Ok(c) if c.problems.is_empty() => {
            let _ = writeln!(
                text,
                "preflight: the static pods ({}) find what they need under {}",
                c.pods.join(", "),
                root.display()
            );
            (text, false)
        }
        Ok(c) => {
            let _ = writeln!(
                text,
                "preflight: {} problem(s); apply would refuse this config:",
                c.problems.len()
            );
            for p in &c.problems {
                let _ = writeln!(text, "  {p}");
            }
            (text, true)
        }
        Err(e) => {
            let _ = writeln!(
                text,
                "preflight: cannot check this node: {}; apply would refuse this config",
                crate::errors::one_line(&e)
            );
            (text, true)
        }
    }
}
