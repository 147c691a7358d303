//! The securityContexts of mk's own non-root addon pods (CoreDNS):
//! never root (R12), confined on a read-only root (R14), with only the
//! capabilities each needs.

use serde_json::{json, Value};

/// A pod's: the image's own user and group `uid`, never root (R12), under
/// the runtime's default seccomp profile.
pub(crate) fn non_root_pod(uid: u32) -> Value {
    json!({
        "runAsUser": uid,
        "runAsGroup": uid,
        "runAsNonRoot": true,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// A container's: no privilege escalation, a read-only root (R14), every
/// capability dropped but `add`.
pub(crate) fn confined_container(add: &[&str]) -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"add": add, "drop": ["ALL"]},
    })
}
