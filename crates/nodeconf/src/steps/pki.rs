//! Delivered certificates and keys into kubeadm's places, each owned by the
//! one service account that reads it (docs/node-users.md).

use serde_json::json;

use crate::action::{Action, Owner, Step};
use crate::plan::{config_error, Ctx, PlanError};
use crate::render::{dir, owner_of, symlink, write};
use crate::users::{ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER};

pub const NAME: &str = "pki";
pub const PKI: &str = "/etc/kubernetes/pki";
pub const KUBELET_PKI: &str = "/var/lib/kubelet/pki";
/// Root + this control plane's kubernetes intermediate: what the apiserver
/// and kubelets trust for client certificates. Leaves delivered by mk carry
/// their intermediate, but the controller-manager's CSR signer (kubelet
/// client rotation) returns the bare leaf, so the intermediate must be
/// trusted as well.
pub const CLIENT_CA_BUNDLE: &str = "/etc/kubernetes/pki/ca-bundle.crt";
/// Same for kubelet serving certificates (--kubelet-certificate-authority).
pub const KUBELET_SERVING_CA_BUNDLE: &str = "/etc/kubernetes/pki/kubelet-serving-ca-bundle.crt";
/// The kubelet's serving certificate where its certificate manager looks
/// first (serverTLSBootstrap): a link to the delivered one, rotated by the
/// kubelet.
pub const KUBELET_SERVER_CURRENT: &str = "/var/lib/kubelet/pki/kubelet-server-current.pem";
/// The kubelet's client certificate and key (kubelet.conf names it): a link
/// to the delivered one, rotated by the kubelet.
pub use mk_pki::plan::KUBELET_CLIENT_CURRENT;
/// The `spec.certificates` name of the kubelet's client certificate + key.
pub const KUBELET_CLIENT_DELIVERED: &str = "kubelet/kubelet-client-current.pem";
/// The kubelet's re-bootstrap credential (`spec.certificates` names): used
/// through bootstrap-kubelet.conf only when its own client certificate is
/// missing or expired.
pub const BOOTSTRAP_CLIENT_CRT: &str = "kubelet/bootstrap-client.crt";
pub const BOOTSTRAP_CLIENT_KEY: &str = "kubelet/bootstrap-client.key";

/// The kubelet's dated file names (`<prefix>-YYYY-MM-DD-HH-MM-SS.pem`).
/// First boot stamps the certificate's notBefore, so that the plan stays
/// pure and a re-run names the same file.
pub use mk_pki::plan::kubelet_dated_name;

/// The dated file and the `-current.pem` link of the kubelet's pair
/// `prefix` whose certificate is the first block of `pem_text`.
fn kubelet_pair(prefix: &str, field: &str, pem_text: &str) -> Result<(String, String), PlanError> {
    let v = mk_pki::cert::parse_pem(pem_text, field).map_err(|m| {
        config_error(
            format!("spec.certificates[{field:?}]"),
            format!("{m}; the kubelet's files are named after the certificate's notBefore"),
        )
    })?;
    Ok((
        format!("{KUBELET_PKI}/{}", kubelet_dated_name(prefix, v.not_before)),
        format!("{KUBELET_PKI}/{prefix}-current.pem"),
    ))
}

/// Node path of a `spec.certificates` name.
pub use mk_roleconfig::pki::node_path;

/// Who reads the file (owner), and its mode. Keys 0600, except `sa.key`
/// which two services read (docs/node-users.md).
pub fn owner_and_mode(name: &str) -> (Owner, u32) {
    let is_key = name.ends_with(".key") || name.ends_with(".pem");
    let base = name.rsplit_once('.').map_or(name, |(b, _)| b);
    let account = match base {
        "apiserver"
        | "apiserver-kubelet-client"
        | "apiserver-etcd-client"
        | "front-proxy-client"
        | "sa" => Some(KUBE_APISERVER),
        "controller-manager" => Some(KUBE_CONTROLLER_MANAGER),
        "scheduler" => Some(KUBE_SCHEDULER),
        "etcd/server" | "etcd/peer" | "etcd/healthcheck-client" => Some(ETCD),
        // The controller-manager's CSR signers (--cluster-signing-*).
        "ca" | "ca-intermediate" | "kubelet-serving-ca-intermediate" if is_key => {
            Some(KUBE_CONTROLLER_MANAGER)
        }
        _ => None,
    };
    let owner = account.as_ref().map_or(Owner::ROOT, owner_of);
    if name == "sa.key" {
        // kube-apiserver signs service-account tokens with it, the
        // controller-manager too (its token controller): group-readable by
        // the controller-manager's group only.
        return (
            Owner {
                uid: KUBE_APISERVER.id,
                gid: KUBE_CONTROLLER_MANAGER.id,
            },
            0o640,
        );
    }
    (owner, if is_key { 0o600 } else { 0o644 })
}

fn certificate_blocks(pem_text: &str) -> String {
    // Only the CERTIFICATE blocks, each ending in a newline.
    let mut out = String::new();
    let mut inside = false;
    for line in pem_text.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE-----") {
            inside = true;
        }
        if inside {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if line.starts_with("-----END CERTIFICATE-----") {
            inside = false;
        }
    }
    out
}

pub(crate) fn step(ctx: &Ctx) -> Result<Step, PlanError> {
    let certs = &ctx.spec.certificates;
    let cp = ctx.control_plane;
    if !certs.contains_key("ca.crt") {
        return Err(config_error(
            "spec.certificates[\"ca.crt\"]",
            "missing: every node needs the cluster root to check the apiserver (R21); \
             on a node, a worker with join.token and join.caCertHashes learns it by token \
             discovery before planning, but `plan` on the admin's machine stays offline",
        ));
    }
    for name in certs.keys() {
        if mk_roleconfig::pki::kind_of(name).is_none() {
            return Err(config_error(
                format!("spec.certificates[{name:?}]"),
                "unknown certificate file name (validate the config first)",
            ));
        }
    }
    let client = match certs.get(KUBELET_CLIENT_DELIVERED) {
        Some(t) => Some((
            kubelet_pair("kubelet-client", KUBELET_CLIENT_DELIVERED, t)?,
            t,
        )),
        None => None,
    };
    let server = match (
        certs.get("kubelet/kubelet.crt"),
        certs.get("kubelet/kubelet.key"),
    ) {
        (Some(crt), Some(key)) => {
            // As the kubelet writes it: certificate chain, then key.
            let mut pem = certificate_blocks(crt);
            pem.push_str(key.trim_end());
            pem.push('\n');
            Some((
                kubelet_pair("kubelet-server", "kubelet/kubelet.crt", crt)?,
                pem,
            ))
        }
        _ => None,
    };
    Ok(super::make(
        NAME,
        json!({ "certificates": certs, "controlPlane": cp }),
        |_| {
            let mut a: Vec<Action> = vec![
                dir("/etc/kubernetes", 0o755, Owner::ROOT),
                dir(PKI, 0o755, Owner::ROOT),
            ];
            if certs.keys().any(|n| n.starts_with("etcd/")) {
                a.push(dir(format!("{PKI}/etcd"), 0o755, Owner::ROOT));
            }
            a.push(dir("/var/lib/kubelet", 0o700, Owner::ROOT));
            a.push(dir(KUBELET_PKI, 0o700, Owner::ROOT));
            // PEM files carry no header (docs/kubeadm-differences.md): they are
            // delivered as issued, and renewal rewrites them.
            for (name, text) in certs {
                if name == KUBELET_CLIENT_DELIVERED {
                    continue; // below, under its dated name
                }
                let (owner, mode) = owner_and_mode(name);
                a.push(write(
                    node_path(name),
                    text.clone().into_bytes(),
                    mode,
                    owner,
                ));
            }
            if cp {
                for (bundle, root, inter) in [
                    (CLIENT_CA_BUNDLE, "ca.crt", "ca-intermediate.crt"),
                    (
                        KUBELET_SERVING_CA_BUNDLE,
                        "kubelet-serving-ca.crt",
                        "kubelet-serving-ca-intermediate.crt",
                    ),
                ] {
                    if let Some(r) = certs.get(root) {
                        let mut text = certificate_blocks(r);
                        if let Some(i) = certs.get(inter) {
                            // The intermediate file may carry the root after it.
                            for block in
                                certificate_blocks(i).split_inclusive("-----END CERTIFICATE-----\n")
                            {
                                if !text.contains(block) {
                                    text.push_str(block);
                                }
                            }
                        }
                        a.push(write(bundle, text.into_bytes(), 0o644, Owner::ROOT));
                    }
                }
            }
            // The kubelet's certificate manager refuses to store a rotated
            // pair unless `<prefix>-current.pem` is a link (to the dated
            // file it then replaces).
            if let Some(((dated, current), text)) = &client {
                let (owner, mode) = owner_and_mode(KUBELET_CLIENT_DELIVERED);
                a.push(write(dated, text.as_bytes().to_vec(), mode, owner));
                a.push(symlink(current, dated));
            }
            if let Some(((dated, current), pem)) = &server {
                a.push(write(dated, pem.clone().into_bytes(), 0o600, Owner::ROOT));
                a.push(symlink(current, dated));
            }
            a
        },
    ))
}
