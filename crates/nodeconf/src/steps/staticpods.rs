//! Static pods of the control plane: kubeadm 1.30's flags, labels, probes
//! and host mounts, plus our changes (docs/kubeadm-differences.md): every
//! container as its own service account with a read-only root filesystem,
//! binds and probes on the plane addresses, DNS names for etcd, no plain
//! HTTP, encryption at rest, OIDC and static users.
//!
//! Host mounts: the root filesystem is read-only, so no hostPath may ask
//! the kubelet to create anything (`DirectoryOrCreate`, `FileOrCreate`):
//! each is a `Directory` or `File` that first boot creates before the
//! kubelet starts, or a CA-trust directory the host has (host facts).
//! Every file a pod's flags or kubeconfig name lies under one of its
//! mounts, read-only except etcd's data directory.

use std::collections::BTreeMap;
use std::net::IpAddr;

use mk_roleconfig::{EncryptionProvider, Role};
use serde_json::{json, Value};

use crate::action::{Action, Owner, Step};
use crate::facts::CA_TRUST_DIRS;
use crate::plan::{config_error, Ctx, PlanError};
use crate::render::{dir, owner_of, write, yaml_file};
use crate::steps::kubeconfig::{CONTROLLER_MANAGER, LOCAL_API_PORT, SCHEDULER};
use crate::steps::pki::{
    CLIENT_CA_BUNDLE, KUBELET_CLIENT_DELIVERED, KUBELET_SERVING_CA_BUNDLE, PKI,
};
use crate::users::{ServiceAccount, ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER};

pub const NAME: &str = "staticpods";
pub const MANIFESTS: &str = "/etc/kubernetes/manifests";
pub const ENCRYPTION_DIR: &str = "/etc/kubernetes/encryption";
pub const ENCRYPTION_CONFIG: &str = "/etc/kubernetes/encryption/config.yaml";
pub const AUTH_DIR: &str = "/etc/kubernetes/auth";
/// kube-apiserver --token-auth-file (CSV: no comments possible, no header).
pub const TOKEN_FILE: &str = "/etc/kubernetes/auth/tokens.csv";
/// OIDC issuer CA (PEM, no header).
pub const OIDC_CA: &str = "/etc/kubernetes/pki/oidc-ca.crt";
/// Service DNS domain (kubeadm's default networking.dnsDomain).
pub const SERVICE_DOMAIN: &str = "cluster.local";
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;
pub const CONTROLLER_MANAGER_PORT: u16 = 10257;
pub const SCHEDULER_PORT: u16 = 10259;
/// kubeadm's ControlPlaneComponentHealthCheck timeout (4 min) over the
/// startup probe's 10 s period.
const STARTUP_FAILURE_THRESHOLD: u32 = 24;

/// Leaf lifetime when no delivered leaf tells it (mk-pki's default, 7
/// days), in Go's duration syntax.
pub const DEFAULT_SIGNING_DURATION: &str = "168h0m0s";

/// `--cluster-signing-duration` of the controller-manager: the lifetime of
/// mk's leaves, so that certificates the CSR API signs (kubelet rotation,
/// re-bootstrap) live as long as the ones mk-pki issues rather than until
/// the intermediate expires (kube-controller-manager caps a certificate at
/// its signer's expiry, and its default is a year). Read from the kubelet's
/// client certificate, which the CSR API re-issues, else from
/// `apiserver.crt`; whole hours, rounded to the nearest, Go's format.
fn signing_duration(ctx: &Ctx) -> Result<String, PlanError> {
    for name in [KUBELET_CLIENT_DELIVERED, "apiserver.crt"] {
        let Some(text) = ctx.spec.certificates.get(name) else {
            continue;
        };
        let v = mk_pki::cert::parse_pem(text, name).map_err(|m| {
            config_error(
                format!("spec.certificates[{name:?}]"),
                format!(
                    "{m}; its lifetime sets the controller-manager's --cluster-signing-duration"
                ),
            )
        })?;
        let seconds = (v.not_after - v.not_before).whole_seconds();
        if seconds <= 0 {
            return Err(config_error(
                format!("spec.certificates[{name:?}]"),
                "notAfter is not after notBefore: expected a certificate with a lifetime",
            ));
        }
        return Ok(go_hours(seconds));
    }
    Ok(DEFAULT_SIGNING_DURATION.into())
}

/// `seconds` rounded to whole hours (at least one), as Go prints durations.
fn go_hours(seconds: i64) -> String {
    let hours = ((seconds + 1800) / 3600).max(1);
    format!("{hours}h0m0s")
}

/// An address as the host part of a URL.
pub fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

fn p(name: &str) -> String {
    format!("{PKI}/{name}")
}

/// kubeadm's ArgumentsToCommand: `--name=value`, sorted by name.
fn command(binary: &str, args: &BTreeMap<&str, String>) -> Vec<String> {
    std::iter::once(binary.to_string())
        .chain(args.iter().map(|(k, v)| format!("--{k}={v}")))
        .collect()
}

struct Mount {
    name: &'static str,
    host: String,
    /// hostPath type; None = emptyDir.
    kind: Option<&'static str>,
    read_only: bool,
}

impl Mount {
    fn host(name: &'static str, path: &str, kind: &'static str, read_only: bool) -> Mount {
        Mount {
            name,
            host: path.into(),
            kind: Some(kind),
            read_only,
        }
    }
}

fn http_probe(
    host: IpAddr,
    path: &str,
    port: u16,
    delay: u32,
    failures: u32,
    period: u32,
) -> Value {
    json!({
        "httpGet": { "host": host.to_string(), "path": path, "port": port, "scheme": "HTTPS" },
        "initialDelaySeconds": delay,
        "timeoutSeconds": 15,
        "failureThreshold": failures,
        "periodSeconds": period,
    })
}

fn exec_probe(cmd: &[String], delay: u32, failures: u32, period: u32) -> Value {
    json!({
        "exec": { "command": cmd },
        "initialDelaySeconds": delay,
        "timeoutSeconds": 15,
        "failureThreshold": failures,
        "periodSeconds": period,
    })
}

#[allow(clippy::too_many_arguments)]
fn pod(
    name: &str,
    account: &ServiceAccount,
    image: String,
    cmd: Vec<String>,
    mounts: Vec<Mount>,
    probes: Value,
    requests: Value,
    annotations: Value,
) -> Value {
    let mut mounts = mounts;
    // Scratch space for a read-only root filesystem (R14).
    mounts.push(Mount {
        name: "tmp",
        host: String::new(),
        kind: None,
        read_only: false,
    });
    mounts.sort_by_key(|m| m.name);
    let volume_mounts: Vec<Value> = mounts
        .iter()
        .map(|m| {
            let path = if m.kind.is_none() {
                "/tmp"
            } else {
                m.host.as_str()
            };
            if m.read_only {
                json!({ "name": m.name, "mountPath": path, "readOnly": true })
            } else {
                json!({ "name": m.name, "mountPath": path })
            }
        })
        .collect();
    let volumes: Vec<Value> = mounts
        .iter()
        .map(|m| match m.kind {
            Some(kind) => json!({ "name": m.name, "hostPath": { "path": m.host, "type": kind } }),
            None => json!({ "name": m.name, "emptyDir": {} }),
        })
        .collect();
    let id = account.id;
    let mut container = json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": cmd,
        "resources": { "requests": requests },
        "volumeMounts": volume_mounts,
        "securityContext": {
            "runAsUser": id,
            "runAsGroup": id,
            "runAsNonRoot": true,
            "readOnlyRootFilesystem": true,
            "allowPrivilegeEscalation": false,
            "capabilities": { "drop": ["ALL"] },
        },
    });
    if let (Value::Object(c), Value::Object(p)) = (&mut container, probes) {
        c.extend(p);
    }
    let mut metadata = json!({
        "name": name,
        "namespace": "kube-system",
        "labels": { "component": name, "tier": "control-plane" },
    });
    if annotations.as_object().is_some_and(|a| !a.is_empty()) {
        metadata["annotations"] = annotations;
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [container],
            "hostNetwork": true,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {
                "runAsUser": id,
                "runAsGroup": id,
                "runAsNonRoot": true,
                "fsGroup": id,
                "seccompProfile": { "type": "RuntimeDefault" },
            },
            "volumes": volumes,
        },
    })
}

/// kubeadm's CA-trust directories that this host has (host facts), in
/// kubeadm's order: what kube-apiserver and kube-controller-manager mount.
fn trust_dirs(ctx: &Ctx) -> Vec<(&'static str, &'static str)> {
    CA_TRUST_DIRS
        .iter()
        .copied()
        .filter(|(_, path)| ctx.facts.trust_dirs.iter().any(|d| d == path))
        .collect()
}

/// The PKI directory, read-only. First boot creates it (step pki).
fn pki_mount() -> Mount {
    Mount::host("k8s-certs", PKI, "Directory", true)
}

/// The host mounts kubeadm gives apiserver and controller-manager: the
/// CA-trust directories the host has and the PKI directory, read-only.
fn trust_mounts(dirs: &[(&'static str, &'static str)]) -> Vec<Mount> {
    let mut v: Vec<Mount> = dirs
        .iter()
        .map(|&(name, path)| Mount::host(name, path, "Directory", true))
        .collect();
    v.push(pki_mount());
    v
}

fn encryption_config(ctx: &Ctx) -> Result<Value, PlanError> {
    let enc = ctx.spec.encryption_at_rest.as_ref().ok_or_else(|| {
        config_error(
            "spec.encryptionAtRest",
            "required on control-plane nodes (R9): provider and keys",
        )
    })?;
    let keys: Vec<Value> = enc
        .keys
        .iter()
        .map(|k| json!({ "name": k.name, "secret": k.secret.trim() }))
        .collect();
    if keys.is_empty() {
        return Err(config_error("spec.encryptionAtRest.keys", "no key"));
    }
    let provider = match enc.provider {
        EncryptionProvider::Secretbox => json!({ "secretbox": { "keys": keys } }),
        EncryptionProvider::Aescbc => json!({ "aescbc": { "keys": keys } }),
    };
    Ok(json!({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{
            "resources": enc.resources,
            // identity last: data written before encryption was enabled
            // stays readable until it is rewritten.
            "providers": [provider, { "identity": {} }],
        }],
    }))
}

fn token_csv(ctx: &Ctx) -> Option<String> {
    let users = &ctx.spec.auth.as_ref()?.static_users;
    if users.is_empty() {
        return None;
    }
    let mut out = String::new();
    for u in users {
        // token,user,uid[,"group1,group2"]; validation keeps commas and
        // quotes out of every field.
        out.push_str(&format!("{},{},{}", u.token, u.name, u.name));
        if !u.groups.is_empty() {
            out.push_str(&format!(",\"{}\"", u.groups.join(",")));
        }
        out.push('\n');
    }
    Some(out)
}

pub(crate) fn step(ctx: &Ctx) -> Result<Step, PlanError> {
    if !ctx.control_plane {
        return Ok(super::make(NAME, json!({ "controlPlane": false }), |_| {
            Vec::new()
        }));
    }
    let need = [
        "sa.key",
        "sa.pub",
        "apiserver.crt",
        "apiserver-kubelet-client.crt",
        "apiserver-etcd-client.crt",
        "front-proxy-client.crt",
        "front-proxy-ca.crt",
        "etcd/ca.crt",
        "etcd/server.crt",
        "etcd/peer.crt",
        "etcd/healthcheck-client.crt",
    ];
    for n in need {
        if !ctx.has(n) {
            return Err(config_error(
                format!("spec.certificates[{n:?}]"),
                "missing: the control plane's static pods use it",
            ));
        }
    }
    let cp_ip = ctx.addrs.control.address;
    let etcd_ip = ctx.addrs.etcd.address;
    let etcd_name = ctx.etcd_dns_name()?;
    let joining = ctx.spec.roles.contains(&Role::ControlPlane);
    let peer_url = format!("https://{etcd_name}:{ETCD_PEER_PORT}");
    let mut members: Vec<(String, String)> = vec![(ctx.node.to_string(), peer_url.clone())];
    if joining {
        if ctx.facts.etcd_members.is_empty() {
            return Err(config_error(
                "spec.roles",
                "a joining control plane (control-plane) needs the etcd cluster's members \
                 (host facts etcdMembers, gathered when the node is added as a learner)",
            ));
        }
        for m in &ctx.facts.etcd_members {
            if m.name != ctx.node {
                members.push((m.name.clone(), m.peer_url.clone()));
            }
        }
    }
    members.sort();
    let encryption = encryption_config(ctx)?;
    let tokens = token_csv(ctx);
    let oidc = ctx.spec.auth.as_ref().and_then(|a| a.oidc.clone());
    let cert_names = ctx.cert_names();
    let trust = trust_dirs(ctx);
    let signing_duration = signing_duration(ctx)?;

    let inputs = json!({
        "node": ctx.node,
        "controlAddress": cp_ip,
        "etcdAddress": etcd_ip,
        "etcdName": etcd_name,
        "etcdMembers": members,
        "joining": joining,
        "cluster": ctx.spec.cluster.name,
        "podCIDR": ctx.spec.cluster.pod_cidr,
        "serviceCIDR": ctx.spec.cluster.service_cidr,
        "versions": [ctx.versions.kubernetes, ctx.versions.etcd],
        "encryption": encryption,
        "tokens": tokens,
        "oidc": oidc,
        "certificates": cert_names,
        "signingDuration": signing_duration,
        "trustDirs": trust.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
    });

    // kube-apiserver
    let mut api: BTreeMap<&str, String> = BTreeMap::new();
    let set = |m: &mut BTreeMap<&str, String>, k: &'static str, v: String| {
        m.insert(k, v);
    };
    set(&mut api, "advertise-address", cp_ip.to_string());
    set(&mut api, "allow-privileged", "true".into());
    set(&mut api, "authorization-mode", "Node,RBAC".into());
    set(&mut api, "bind-address", cp_ip.to_string());
    set(&mut api, "client-ca-file", CLIENT_CA_BUNDLE.into());
    set(
        &mut api,
        "enable-admission-plugins",
        "NodeRestriction".into(),
    );
    set(&mut api, "enable-bootstrap-token-auth", "true".into());
    set(
        &mut api,
        "encryption-provider-config",
        ENCRYPTION_CONFIG.into(),
    );
    set(&mut api, "etcd-cafile", p("etcd/ca.crt"));
    set(&mut api, "etcd-certfile", p("apiserver-etcd-client.crt"));
    set(&mut api, "etcd-keyfile", p("apiserver-etcd-client.key"));
    set(
        &mut api,
        "etcd-servers",
        format!("https://localhost:{ETCD_CLIENT_PORT}"),
    );
    if ctx.has("kubelet-serving-ca.crt") {
        set(
            &mut api,
            "kubelet-certificate-authority",
            KUBELET_SERVING_CA_BUNDLE.into(),
        );
    }
    set(
        &mut api,
        "kubelet-client-certificate",
        p("apiserver-kubelet-client.crt"),
    );
    set(
        &mut api,
        "kubelet-client-key",
        p("apiserver-kubelet-client.key"),
    );
    set(
        &mut api,
        "kubelet-preferred-address-types",
        "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP".into(),
    );
    set(
        &mut api,
        "proxy-client-cert-file",
        p("front-proxy-client.crt"),
    );
    set(
        &mut api,
        "proxy-client-key-file",
        p("front-proxy-client.key"),
    );
    set(
        &mut api,
        "requestheader-allowed-names",
        "front-proxy-client".into(),
    );
    set(
        &mut api,
        "requestheader-client-ca-file",
        p("front-proxy-ca.crt"),
    );
    set(
        &mut api,
        "requestheader-extra-headers-prefix",
        "X-Remote-Extra-".into(),
    );
    set(
        &mut api,
        "requestheader-group-headers",
        "X-Remote-Group".into(),
    );
    set(
        &mut api,
        "requestheader-username-headers",
        "X-Remote-User".into(),
    );
    set(&mut api, "secure-port", LOCAL_API_PORT.to_string());
    set(
        &mut api,
        "service-account-issuer",
        format!("https://kubernetes.default.svc.{SERVICE_DOMAIN}"),
    );
    set(&mut api, "service-account-key-file", p("sa.pub"));
    set(&mut api, "service-account-signing-key-file", p("sa.key"));
    set(
        &mut api,
        "service-cluster-ip-range",
        ctx.spec.cluster.service_cidr.clone(),
    );
    set(&mut api, "tls-cert-file", p("apiserver.crt"));
    set(&mut api, "tls-private-key-file", p("apiserver.key"));
    if tokens.is_some() {
        set(&mut api, "token-auth-file", TOKEN_FILE.into());
    }
    if let Some(o) = &oidc {
        set(&mut api, "oidc-issuer-url", o.issuer_url.clone());
        set(&mut api, "oidc-client-id", o.client_id.clone());
        set(&mut api, "oidc-username-claim", o.username_claim.clone());
        if let Some(v) = &o.username_prefix {
            set(&mut api, "oidc-username-prefix", v.clone());
        }
        if let Some(v) = &o.groups_claim {
            set(&mut api, "oidc-groups-claim", v.clone());
        }
        if let Some(v) = &o.groups_prefix {
            set(&mut api, "oidc-groups-prefix", v.clone());
        }
        if o.ca_certificate.is_some() {
            set(&mut api, "oidc-ca-file", OIDC_CA.into());
        }
    }
    let mut api_mounts = trust_mounts(&trust);
    api_mounts.push(Mount::host(
        "mk-encryption",
        ENCRYPTION_DIR,
        "Directory",
        true,
    ));
    if tokens.is_some() {
        api_mounts.push(Mount::host("mk-auth", AUTH_DIR, "Directory", true));
    }
    let apiserver = pod(
        "kube-apiserver",
        &KUBE_APISERVER,
        ctx.versions.image("kube-apiserver"),
        command("kube-apiserver", &api),
        api_mounts,
        json!({
            "livenessProbe": http_probe(cp_ip, "/livez", LOCAL_API_PORT, 10, 8, 10),
            "readinessProbe": http_probe(cp_ip, "/readyz", LOCAL_API_PORT, 0, 3, 1),
            "startupProbe": http_probe(cp_ip, "/livez", LOCAL_API_PORT, 10, STARTUP_FAILURE_THRESHOLD, 10),
        }),
        json!({ "cpu": "250m" }),
        json!({
            "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint":
                format!("{}:{LOCAL_API_PORT}", url_host(cp_ip)),
        }),
    );

    // kube-controller-manager
    let mut cm: BTreeMap<&str, String> = BTreeMap::new();
    set(&mut cm, "allocate-node-cidrs", "true".into());
    set(
        &mut cm,
        "authentication-kubeconfig",
        CONTROLLER_MANAGER.into(),
    );
    set(
        &mut cm,
        "authorization-kubeconfig",
        CONTROLLER_MANAGER.into(),
    );
    set(&mut cm, "bind-address", cp_ip.to_string());
    set(&mut cm, "client-ca-file", CLIENT_CA_BUNDLE.into());
    set(&mut cm, "cluster-cidr", ctx.spec.cluster.pod_cidr.clone());
    set(&mut cm, "cluster-name", ctx.spec.cluster.name.clone());
    if ctx.has("ca-intermediate.key") {
        // mk: the host's intermediate signs, per signer (no root key online).
        let k8s = (p("ca-intermediate.crt"), p("ca-intermediate.key"));
        let serving = if ctx.has("kubelet-serving-ca-intermediate.key") {
            (
                p("kubelet-serving-ca-intermediate.crt"),
                p("kubelet-serving-ca-intermediate.key"),
            )
        } else {
            k8s.clone()
        };
        set(
            &mut cm,
            "cluster-signing-kube-apiserver-client-cert-file",
            k8s.0.clone(),
        );
        set(
            &mut cm,
            "cluster-signing-kube-apiserver-client-key-file",
            k8s.1.clone(),
        );
        set(
            &mut cm,
            "cluster-signing-kubelet-client-cert-file",
            k8s.0.clone(),
        );
        set(
            &mut cm,
            "cluster-signing-kubelet-client-key-file",
            k8s.1.clone(),
        );
        set(
            &mut cm,
            "cluster-signing-kubelet-serving-cert-file",
            serving.0,
        );
        set(
            &mut cm,
            "cluster-signing-kubelet-serving-key-file",
            serving.1,
        );
        set(&mut cm, "cluster-signing-legacy-unknown-cert-file", k8s.0);
        set(&mut cm, "cluster-signing-legacy-unknown-key-file", k8s.1);
    } else if ctx.has("ca.key") {
        set(&mut cm, "cluster-signing-cert-file", p("ca.crt"));
        set(&mut cm, "cluster-signing-key-file", p("ca.key"));
    } else {
        return Err(config_error(
            "spec.certificates",
            "the controller-manager signs kubelet certificates: deliver ca-intermediate.crt + \
             ca-intermediate.key (or kubeadm's ca.key)",
        ));
    }
    set(&mut cm, "cluster-signing-duration", signing_duration);
    set(
        &mut cm,
        "controllers",
        "*,bootstrapsigner,tokencleaner".into(),
    );
    set(&mut cm, "kubeconfig", CONTROLLER_MANAGER.into());
    set(&mut cm, "leader-elect", "true".into());
    set(
        &mut cm,
        "requestheader-client-ca-file",
        p("front-proxy-ca.crt"),
    );
    set(&mut cm, "root-ca-file", p("ca.crt"));
    set(&mut cm, "service-account-private-key-file", p("sa.key"));
    set(
        &mut cm,
        "service-cluster-ip-range",
        ctx.spec.cluster.service_cidr.clone(),
    );
    set(&mut cm, "use-service-account-credentials", "true".into());
    // No flexvolume-dir: FlexVolume is deprecated, and the directory does
    // not exist on the read-only image (docs/kubeadm-differences.md).
    // controller-manager.conf names ca.crt and controller-manager.{crt,key}
    // under the PKI directory (k8s-certs).
    let mut cm_mounts = trust_mounts(&trust);
    cm_mounts.push(Mount::host("kubeconfig", CONTROLLER_MANAGER, "File", true));
    let controller_manager = pod(
        "kube-controller-manager",
        &KUBE_CONTROLLER_MANAGER,
        ctx.versions.image("kube-controller-manager"),
        command("kube-controller-manager", &cm),
        cm_mounts,
        json!({
            "livenessProbe": http_probe(cp_ip, "/healthz", CONTROLLER_MANAGER_PORT, 10, 8, 10),
            "startupProbe": http_probe(cp_ip, "/healthz", CONTROLLER_MANAGER_PORT, 10, STARTUP_FAILURE_THRESHOLD, 10),
        }),
        json!({ "cpu": "200m" }),
        json!({}),
    );

    // kube-scheduler
    let mut sc: BTreeMap<&str, String> = BTreeMap::new();
    set(&mut sc, "authentication-kubeconfig", SCHEDULER.into());
    set(&mut sc, "authorization-kubeconfig", SCHEDULER.into());
    set(&mut sc, "bind-address", cp_ip.to_string());
    set(&mut sc, "kubeconfig", SCHEDULER.into());
    set(&mut sc, "leader-elect", "true".into());
    let scheduler = pod(
        "kube-scheduler",
        &KUBE_SCHEDULER,
        ctx.versions.image("kube-scheduler"),
        command("kube-scheduler", &sc),
        // scheduler.conf references ca.crt and scheduler.{crt,key} (not
        // embedded, as kubeadm has them): the PKI directory, read-only, as
        // the controller-manager has it. Not the three files alone: a file
        // bind mount keeps the inode it was made with, and renewal replaces
        // scheduler.crt/.key by rename, which client-go would never see.
        vec![
            pki_mount(),
            Mount::host("kubeconfig", SCHEDULER, "File", true),
        ],
        json!({
            "livenessProbe": http_probe(cp_ip, "/healthz", SCHEDULER_PORT, 10, 8, 10),
            "startupProbe": http_probe(cp_ip, "/healthz", SCHEDULER_PORT, 10, STARTUP_FAILURE_THRESHOLD, 10),
        }),
        json!({ "cpu": "100m" }),
        json!({}),
    );

    // etcd
    let etcd_pki = format!("{PKI}/etcd");
    let client_url = format!("https://{etcd_name}:{ETCD_CLIENT_PORT}");
    let mut et: BTreeMap<&str, String> = BTreeMap::new();
    set(&mut et, "advertise-client-urls", client_url.clone());
    set(&mut et, "cert-file", format!("{etcd_pki}/server.crt"));
    set(&mut et, "client-cert-auth", "true".into());
    set(&mut et, "data-dir", ETCD.home.into());
    set(&mut et, "experimental-initial-corrupt-check", "true".into());
    set(
        &mut et,
        "experimental-watch-progress-notify-interval",
        "5s".into(),
    );
    set(&mut et, "initial-advertise-peer-urls", peer_url.clone());
    set(
        &mut et,
        "initial-cluster",
        members
            .iter()
            .map(|(n, u)| format!("{n}={u}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    if joining {
        set(&mut et, "initial-cluster-state", "existing".into());
    }
    set(&mut et, "key-file", format!("{etcd_pki}/server.key"));
    // Listen URLs are addresses (a socket binds to an address); loopback
    // serves the local apiserver and the probes as `localhost`.
    let loopback = if etcd_ip.is_ipv6() {
        "[::1]"
    } else {
        "127.0.0.1"
    };
    set(
        &mut et,
        "listen-client-urls",
        format!(
            "https://{loopback}:{ETCD_CLIENT_PORT},https://{}:{ETCD_CLIENT_PORT}",
            url_host(etcd_ip)
        ),
    );
    set(
        &mut et,
        "listen-peer-urls",
        format!("https://{}:{ETCD_PEER_PORT}", url_host(etcd_ip)),
    );
    set(&mut et, "name", ctx.node.to_string());
    set(&mut et, "peer-cert-file", format!("{etcd_pki}/peer.crt"));
    set(&mut et, "peer-client-cert-auth", "true".into());
    set(&mut et, "peer-key-file", format!("{etcd_pki}/peer.key"));
    set(
        &mut et,
        "peer-trusted-ca-file",
        format!("{etcd_pki}/ca.crt"),
    );
    set(&mut et, "snapshot-count", "10000".into());
    set(&mut et, "trusted-ca-file", format!("{etcd_pki}/ca.crt"));
    // No --listen-metrics-urls: kubeadm's http://127.0.0.1:2381 is plain
    // HTTP; /metrics stays on the client port (TLS, client certificates).
    // Probes therefore run etcdctl with the healthcheck-client certificate
    // (what that certificate is for) against `localhost`.
    let etcdctl = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "etcdctl".into(),
            format!("--endpoints=https://localhost:{ETCD_CLIENT_PORT}"),
            format!("--cacert={etcd_pki}/ca.crt"),
            format!("--cert={etcd_pki}/healthcheck-client.crt"),
            format!("--key={etcd_pki}/healthcheck-client.key"),
            "--dial-timeout=5s".into(),
            "--command-timeout=10s".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // Liveness: this member answers (serializable, like kubeadm's
    // /health?serializable=true); startup: the cluster has quorum.
    let live = etcdctl(&["get", "health", "--consistency=s"]);
    // A learner answers no `endpoint health` ("rpc not supported for
    // learner") until it is promoted, which may take minutes of catching
    // up; a serializable read it does answer.
    let start = if joining {
        etcdctl(&["get", "health", "--consistency=s"])
    } else {
        etcdctl(&["endpoint", "health"])
    };
    let etcd = pod(
        "etcd",
        &ETCD,
        ctx.versions.etcd_image(),
        command("etcd", &et),
        vec![
            // Step users creates the data directory (etcd, 0700), step pki
            // the certificate directory.
            Mount::host("etcd-data", ETCD.home, "Directory", false),
            Mount::host("etcd-certs", &etcd_pki, "Directory", true),
        ],
        json!({
            "livenessProbe": exec_probe(&live, 10, 8, 10),
            "startupProbe": exec_probe(&start, 10, STARTUP_FAILURE_THRESHOLD, 10),
        }),
        json!({ "cpu": "100m", "memory": "100Mi" }),
        json!({ "kubeadm.kubernetes.io/etcd.advertise-client-urls": client_url }),
    );

    let oidc_ca = oidc.as_ref().and_then(|o| o.ca_certificate.clone());
    Ok(super::make(NAME, inputs, |digest| {
        let apis = owner_of(&KUBE_APISERVER);
        let mut a: Vec<Action> = vec![dir(MANIFESTS, 0o700, Owner::ROOT)];
        a.push(dir(ENCRYPTION_DIR, 0o700, apis));
        a.push(write(
            ENCRYPTION_CONFIG,
            yaml_file(NAME, digest, &encryption),
            0o600,
            apis,
        ));
        if let Some(csv) = &tokens {
            a.push(dir(AUTH_DIR, 0o700, apis));
            a.push(write(TOKEN_FILE, csv.clone().into_bytes(), 0o600, apis));
        }
        if let Some(ca) = &oidc_ca {
            a.push(write(OIDC_CA, ca.clone().into_bytes(), 0o644, Owner::ROOT));
        }
        for (file, manifest) in [
            ("etcd", &etcd),
            ("kube-apiserver", &apiserver),
            ("kube-controller-manager", &controller_manager),
            ("kube-scheduler", &scheduler),
        ] {
            a.push(write(
                format!("{MANIFESTS}/{file}.yaml"),
                yaml_file(NAME, digest, manifest),
                0o600,
                Owner::ROOT,
            ));
        }
        a
    }))
}

#[cfg(test)]
mod tests {
    use super::go_hours;

    #[test]
    fn signing_duration_is_whole_hours() {
        assert_eq!(go_hours(7 * 24 * 3600), "168h0m0s");
        // mk-pki backdates notBefore by minutes; still 7 days.
        assert_eq!(go_hours(7 * 24 * 3600 + 5 * 60), "168h0m0s");
        assert_eq!(go_hours(90 * 24 * 3600 - 1799), "2160h0m0s");
        assert_eq!(go_hours(3600 + 1800), "2h0m0s");
        assert_eq!(go_hours(60), "1h0m0s");
    }
}
