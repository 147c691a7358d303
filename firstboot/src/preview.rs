//! What `mk-firstboot plan` prints: per step, what `apply` would change on
//! the node, changing nothing.

use std::fmt::Write;
use std::path::Path;

use crate::engine::Node;
use crate::errors;
use crate::run::{self, Prepared};
use crate::state;

/// The text `plan` prints, and whether a step would fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub text: String,
    pub would_fail: bool,
}

/// Compares the node under `root` with the prepared plan.
pub fn preview(prepared: &Prepared, root: &Path) -> Preview {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "plan for {} from {} ({}), root {}:",
        prepared.config.metadata.name,
        prepared.delivered.origin,
        prepared.signature,
        root.display()
    );
    let node = Node::new(root);
    let mut total = 0;
    let mut would_fail = false;
    // As apply does: certificates the node renewed itself stay.
    let mut plan = prepared.plan.clone();
    crate::renewal::keep_renewed(root, &mut plan);
    for (name, diffs) in run::differences(&node, &plan) {
        match diffs {
            Ok(d) => {
                let _ = writeln!(text, "step {name}: {}", state::changes(d.len()));
                for line in &d {
                    let _ = writeln!(text, "  {line}");
                }
                total += d.len();
            }
            Err(e) => {
                would_fail = true;
                let _ = writeln!(text, "step {name}: would fail: {}", errors::one_line(&e));
            }
        }
    }
    let _ = writeln!(
        text,
        "total: {} (nothing was changed)",
        state::changes(total)
    );
    Preview { text, would_fail }
}

/// The plan itself, as `plan --json` prints it.
pub fn json(prepared: &Prepared) -> String {
    serde_json::to_string_pretty(&prepared.plan).expect("plan serialises")
}
