//! hostPath volumes against the node: the kubelet checks each volume's
//! `type` before it starts any container of the pod, and `…OrCreate`
//! types make it create the path, which fails on the read-only root
//! (issue 16, item 8: `mkdir /etc/pki: read-only file system`).

use crate::inventory::Inventory;
use crate::pods::{Kind, Planned, Pod};
use crate::problem::{Check, Reporter};

/// Paths the running system creates at boot or on demand (sockets,
/// devices): their absence in an image says nothing.
const RUNTIME_DIRS: &[&str] = &["/run", "/var/run", "/dev"];

fn describe_type(t: &str) -> &'static str {
    match t {
        "Directory" | "DirectoryOrCreate" => "a directory",
        "File" | "FileOrCreate" => "a regular file",
        "Socket" => "a socket",
        "CharDevice" => "a character device",
        "BlockDevice" => "a block device",
        _ => "a path of a known hostPath type",
    }
}

fn matches(t: &str, k: Kind) -> bool {
    match t {
        "Directory" | "DirectoryOrCreate" => k == Kind::Directory,
        "File" | "FileOrCreate" => matches!(k, Kind::File { .. }),
        "Socket" => k == Kind::Socket,
        "CharDevice" => k == Kind::CharDevice,
        "BlockDevice" => k == Kind::BlockDevice,
        _ => false,
    }
}

/// Files of the node the kubelet reads for every hostNetwork pod: it
/// copies the node's /etc/hosts into the pod and gives it the node's
/// resolv.conf (its default `--resolv-conf`); without them the sandbox
/// is not created (issue 16, item 10). Looked up at image build
/// ([`crate::RootMode::Image`]); on a running node resolv.conf is
/// runtime state (NetworkManager), so it is not judged there.
pub const HOST_NETWORK_FILES: &[&str] = &["/etc/hosts", "/etc/resolv.conf"];

/// Checks one pod's hostPath volumes, and the node files a hostNetwork
/// pod needs.
pub(crate) fn check(pod: &Pod, planned: &Planned, inv: &Inventory, r: &mut Reporter) {
    let host_network = pod
        .manifest
        .pointer("/spec/hostNetwork")
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    if host_network {
        for (path, h) in &inv.host_network_files {
            let kind = planned.kind(path).or(h.kind);
            // A link into /run (resolv.conf -> /run/NetworkManager/...)
            // is made at boot: missing but creatable there is fine.
            let ok = matches!(kind, Some(Kind::File { .. })) || (kind.is_none() && h.creatable);
            if !ok {
                r.push(
                    Check::HostPath,
                    "spec.hostNetwork",
                    path,
                    match kind {
                        Some(k) => format!("is {} in the image", k.describe()),
                        None => "the image has no such file: the kubelet gives every hostNetwork \
                                 pod the node's copy"
                            .to_string(),
                    },
                    if path.ends_with("hosts") {
                        "a regular file in the image (CentOS: the setup package ships it)"
                    } else {
                        "a regular file in the image, or a link into /run that the network \
                         service fills at boot"
                    },
                );
            }
        }
    }
    for v in pod.volumes() {
        let Some((path, t)) = &v.host_path else {
            continue;
        };
        let field = format!("spec.volumes[{}].hostPath", v.index);
        if !path.starts_with('/') {
            r.push(
                Check::HostPath,
                field,
                path,
                "not an absolute path",
                "an absolute host path",
            );
            continue;
        }
        let t = t.as_str();
        let known = [
            "",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
            "Socket",
            "CharDevice",
            "BlockDevice",
        ];
        if !known.contains(&t) {
            r.push(
                Check::HostPath,
                format!("{field}.type"),
                path,
                format!("unknown type {t:?}"),
                "one of Directory, DirectoryOrCreate, File, FileOrCreate, Socket, CharDevice, BlockDevice",
            );
            continue;
        }
        if t.is_empty() {
            // No type: the kubelet checks nothing.
            continue;
        }
        let expected = format!("{} (type {t})", describe_type(t));
        let host = inv.host.get(path.as_str());
        match inv.kind(planned, path) {
            Some(k) if matches(t, k) => {}
            Some(k) => r.push(
                Check::HostPath,
                field,
                path,
                format!("is {} on the node", k.describe()),
                expected,
            ),
            None => {
                if let Some(reason) = host.and_then(|h| h.broken.as_deref()) {
                    r.push(
                        Check::HostPath,
                        field,
                        path,
                        format!("cannot exist: {reason}"),
                        expected,
                    );
                    continue;
                }
                let creatable = host.is_some_and(|h| h.creatable);
                let or_create = t.ends_with("OrCreate");
                if or_create && creatable {
                    continue;
                }
                let runtime = RUNTIME_DIRS
                    .iter()
                    .any(|d| crate::pods::below(d, path).is_some());
                if matches!(t, "Socket" | "CharDevice" | "BlockDevice") && runtime {
                    continue;
                }
                let found = if or_create {
                    "does not exist in the image and cannot be created there: it lies on the \
                     read-only root (mkdir fails), not on the state partition, and first boot \
                     does not create it"
                } else {
                    "does not exist in the image or on the state partition, and first boot does \
                     not create it"
                };
                r.push(Check::HostPath, field, path, found, expected);
            }
        }
    }
}
