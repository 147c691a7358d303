//! kubeconfigs with kubeadm's file names, cluster, user and context names.
//! They reference certificate files instead of embedding them: leaves live
//! days and are renewed on the node (docs/kubeadm-differences.md).

use serde_json::{json, Value};

use crate::action::{Action, Owner, Step};
use crate::plan::{config_error, Ctx, PlanError};
use crate::render::{owner_of, write, yaml_file};
use crate::steps::pki::{
    node_path, BOOTSTRAP_CLIENT_CRT, BOOTSTRAP_CLIENT_KEY, KUBELET_CLIENT_CURRENT,
    KUBELET_CLIENT_DELIVERED, PKI,
};
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

/// How the kubelet gets in when its own client certificate is missing or
/// expired: bootstrap-kubelet.conf with mk's re-bootstrap certificate, or
/// with the join token when no client certificate is delivered (kubeadm's
/// TLS bootstrap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bootstrap {
    Certificate,
    Token(String),
}

pub(crate) fn bootstrap(ctx: &Ctx) -> Option<Bootstrap> {
    if ctx.has(BOOTSTRAP_CLIENT_CRT) && ctx.has(BOOTSTRAP_CLIENT_KEY) {
        return Some(Bootstrap::Certificate);
    }
    if ctx.has(KUBELET_CLIENT_DELIVERED) {
        return None;
    }
    ctx.spec
        .join
        .as_ref()
        .map(|j| Bootstrap::Token(j.token.clone()))
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
    let kubelet_cert = ctx.has(KUBELET_CLIENT_DELIVERED);
    let bootstrap = bootstrap(ctx);
    if !kubelet_cert && bootstrap.is_none() {
        return Err(config_error(
            format!("spec.certificates[{KUBELET_CLIENT_DELIVERED:?}]"),
            "the kubelet needs a way in: deliver its client certificate, the re-bootstrap \
             pair kubelet/bootstrap-client.crt + .key, or give spec.join.token",
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
        "bootstrap": match &bootstrap {
            Some(Bootstrap::Certificate) => json!("certificate"),
            Some(Bootstrap::Token(t)) => json!({ "token": t }),
            None => json!(null),
        },
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
            // kubeadm writes the same: the kubelet rotates this file itself
            // (a link to its newest dated pair, step pki).
            a.push(write(
                KUBELET,
                file(&kubeconfig(
                    &cluster.name,
                    &endpoint,
                    &format!("system:node:{}", ctx.node),
                    cert_files(KUBELET_CLIENT_CURRENT, KUBELET_CLIENT_CURRENT),
                )),
                0o600,
                Owner::ROOT,
            ));
        }
        let credentials = match &bootstrap {
            // CN mk:bootstrap:<node>, group system:bootstrappers: may only
            // create a CSR for this node's new client certificate.
            Some(Bootstrap::Certificate) => Some((
                format!("mk:bootstrap:{}", ctx.node),
                cert_files(
                    &node_path(BOOTSTRAP_CLIENT_CRT),
                    &node_path(BOOTSTRAP_CLIENT_KEY),
                ),
            )),
            Some(Bootstrap::Token(token)) => {
                Some(("tls-bootstrap-token-user".into(), json!({ "token": token })))
            }
            None => None,
        };
        if let Some((user, credentials)) = credentials {
            a.push(write(
                BOOTSTRAP_KUBELET,
                file(&kubeconfig(&cluster.name, &endpoint, &user, credentials)),
                0o600,
                Owner::ROOT,
            ));
        }
        a
    }))
}
