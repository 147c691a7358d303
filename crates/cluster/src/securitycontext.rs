//! The securityContexts of mk's own non-root addon pods (CoreDNS):
//! never root (R12), confined on a read-only root (R14), without
//! capabilities.

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
/// capability dropped. (A non-root process keeps no added capability
/// through the exec of its entrypoint: Kubernetes sets no ambient
/// capabilities, so none is added here.)
pub(crate) fn confined_container() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
    })
}
