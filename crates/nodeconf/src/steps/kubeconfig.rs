//! kubeconfigs with kubeadm's file names, cluster, user and context names.
//! They reference certificate files instead of embedding them: leaves live
//! days and are renewed on the node (docs/kubeadm-differences.md).

use serde_json::{json, Value};

use crate::action::{Action, Owner, Step};
use crate::plan::{config_error, Ctx, PlanError};
use crate::render::{owner_of, write, yaml_file};
use crate::steps::pki::{KUBELET_PKI, PKI};
use crate::users::{KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER};

pub const NAME: &str = "kubeconfig";
pub const ADMIN: &str = "/etc/kubernetes/admin.conf";
pub const KUBELET: &str = "/etc/kubernetes/kubelet.conf";
pub const BOOTSTRAP_KUBELET: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
pub const CONTROLLER_MANAGER: &str = "/etc/kubernetes/controller-manager.conf";
pub const SCHEDULER: &str = "/etc/kubernetes/scheduler.conf";
/// The apiserver's secure port on every control-plane node (kubeadm's
/// LocalAPIEndpoint.BindPort default).
pub const LOCAL_API_PORT: u16 = 6443;

fn kubeconfig(cluster: &str, server: &str, user: &str, credentials: Value) -> Value {
    let context = format!("{user}@{cluster}");
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": cluster,
            "cluster": {
                "certificate-authority": format!("{PKI}/ca.crt"),
                "server": server,
            },
        }],
        "contexts": [{
            "name": context,
            "context": { "cluster": cluster, "user": user },
        }],
        "current-context": context,
        "preferences": {},
        "users": [{ "name": user, "user": credentials }],
    })
}

fn cert_files(cert: &str, key: &str) -> Value {
    json!({ "client-certificate": cert, "client-key": key })
}

pub(crate) fn step(ctx: &Ctx) -> Result<Step, PlanError> {
    let cluster = &ctx.spec.cluster;
    let endpoint = format!(
        "https://{}:{}",
        cluster.api_endpoint.dns_name, cluster.api_endpoint.port
    );
    // kubeadm 1.30 points the controller-manager and the scheduler at the
    // local apiserver; by name (R28): the node name resolves to the
    // control-plane address the apiserver binds to.
    let local = format!("https://{}:{LOCAL_API_PORT}", ctx.node);
    let kubelet_cert = ctx.has("kubelet/kubelet-client-current.pem");
    let join_token = ctx.spec.join.as_ref().map(|j| j.token.clone());
    if !kubelet_cert && join_token.is_none() {
        return Err(config_error(
            "spec.certificates[\"kubelet/kubelet-client-current.pem\"]",
            "the kubelet needs a way in: deliver its client certificate or give spec.join.token",
        ));
    }
    let cp = ctx.control_plane;
    if cp {
        for need in ["admin.crt", "controller-manager.crt", "scheduler.crt"] {
            if !ctx.has(need) {
                return Err(config_error(
                    format!("spec.certificates[{need:?}]"),
                    "missing: a control-plane node's kubeconfigs use it",
                ));
            }
        }
    }
    let inputs = json!({
        "cluster": cluster.name,
        "endpoint": endpoint,
        "local": local,
        "node": ctx.node,
        "controlPlane": cp,
        "kubeletCert": kubelet_cert,
        "joinToken": join_token,
    });
    Ok(super::make(NAME, inputs, |digest| {
        let file = |v: &Value| yaml_file(NAME, digest, v);
        let mut a: Vec<Action> = Vec::new();
        if cp {
            a.push(write(
                ADMIN,
                file(&kubeconfig(
                    &cluster.name,
                    &endpoint,
                    "kubernetes-admin",
                    cert_files(&format!("{PKI}/admin.crt"), &format!("{PKI}/admin.key")),
                )),
                0o600,
                Owner::ROOT,
            ));
            a.push(write(
                CONTROLLER_MANAGER,
                file(&kubeconfig(
                    &cluster.name,
                    &local,
                    "system:kube-controller-manager",
                    cert_files(
                        &format!("{PKI}/controller-manager.crt"),
                        &format!("{PKI}/controller-manager.key"),
                    ),
                )),
                0o600,
                owner_of(&KUBE_CONTROLLER_MANAGER),
            ));
            a.push(write(
                SCHEDULER,
                file(&kubeconfig(
                    &cluster.name,
                    &local,
                    "system:kube-scheduler",
                    cert_files(
                        &format!("{PKI}/scheduler.crt"),
                        &format!("{PKI}/scheduler.key"),
                    ),
                )),
                0o600,
                owner_of(&KUBE_SCHEDULER),
            ));
        }
        if kubelet_cert {
            // kubeadm writes the same: the kubelet rotates this file itself.
            let pem = format!("{KUBELET_PKI}/kubelet-client-current.pem");
            a.push(write(
                KUBELET,
                file(&kubeconfig(
                    &cluster.name,
                    &endpoint,
                    &format!("system:node:{}", ctx.node),
                    cert_files(&pem, &pem),
                )),
                0o600,
                Owner::ROOT,
            ));
        } else if let Some(token) = &join_token {
            a.push(write(
                BOOTSTRAP_KUBELET,
                file(&kubeconfig(
                    &cluster.name,
                    &endpoint,
                    "tls-bootstrap-token-user",
                    json!({ "token": token }),
                )),
                0o600,
                Owner::ROOT,
            ));
        }
        a
    }))
}
