//! The kubelet: KubeletConfiguration (/var/lib/kubelet/config.yaml) and the
//! flags kubeadm puts in /var/lib/kubelet/kubeadm-flags.env, which the
//! kubelet package's systemd drop-in reads.

use std::collections::BTreeMap;
use std::net::IpAddr;

use mk_roleconfig::names::Cidr;
use serde_json::{json, Value};

use crate::action::{Action, Owner, Step};
use crate::plan::{config_error, Ctx, PlanError};
use crate::render::{hash_header, write, yaml_file};
use crate::steps::kubeconfig::{self, BOOTSTRAP_KUBELET};
use crate::steps::pki::PKI;
use crate::steps::staticpods::{MANIFESTS, SERVICE_DOMAIN};

pub const NAME: &str = "kubelet";
pub const CONFIG: &str = "/var/lib/kubelet/config.yaml";
pub const FLAGS: &str = "/var/lib/kubelet/kubeadm-flags.env";
/// Where containerd listens (`[grpc] address` in step containerd's
/// config.toml). Under /run itself, not /var/run: on mk's image /var is the
/// state partition, and /var/run must not be relied on to be a link to /run
/// (kubeadm's default is `unix:///var/run/containerd/containerd.sock`).
pub const CONTAINERD_SOCKET: &str = "unix:///run/containerd/containerd.sock";

/// Label keys the kubelet may set on its own Node (NodeRestriction and the
/// kubelet's --node-labels check): outside the kubernetes.io and k8s.io
/// namespaces, or one of the allowed keys and prefixes inside them.
pub fn kubelet_may_set(key: &str) -> bool {
    let Some((prefix, _)) = key.split_once('/') else {
        return true;
    };
    let in_ns = |ns: &str| prefix == ns || prefix.ends_with(&format!(".{ns}"));
    if !in_ns("kubernetes.io") && !in_ns("k8s.io") {
        return true;
    }
    const ALLOWED: &[&str] = &[
        "kubernetes.io/hostname",
        "kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "node.kubernetes.io/instance-type",
    ];
    ALLOWED.contains(&key)
        || ["kubelet.kubernetes.io", "node.kubernetes.io"]
            .iter()
            .any(|ns| prefix == *ns || prefix.ends_with(&format!(".{ns}")))
}

/// Labels of `spec.labels` the kubelet may not set itself (e.g.
/// `node-role.kubernetes.io/*`): to be applied through the API by an admin
/// client, as kubeadm does for `node-role.kubernetes.io/control-plane`.
pub fn api_only_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| !kubelet_may_set(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The cluster DNS service address: the 10th address of the service range
/// (kubeadm's choice).
pub fn cluster_dns(service_cidr: &str) -> Result<IpAddr, PlanError> {
    let c = Cidr::parse(service_cidr).map_err(|m| config_error("spec.cluster.serviceCIDR", m))?;
    Ok(match c.addr {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + 10).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + 10).into()),
    })
}

/// The cluster-wide part of the KubeletConfiguration: what
/// /var/lib/kubelet/config.yaml holds minus the node's own `address`, and
/// what mk-cluster uploads as ConfigMap `kube-system/kubelet-config` (as
/// kubeadm does), so both stay one configuration.
pub fn kubelet_configuration(service_cidr: &str) -> Result<Value, PlanError> {
    let dns = cluster_dns(service_cidr)?;
    Ok(json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": { "enabled": false },
            "webhook": { "enabled": true, "cacheTTL": "0s" },
            "x509": { "clientCAFile": format!("{PKI}/ca.crt") },
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": { "cacheAuthorizedTTL": "0s", "cacheUnauthorizedTTL": "0s" },
        },
        "cgroupDriver": "systemd",
        "clusterDNS": [dns.to_string()],
        "clusterDomain": SERVICE_DOMAIN,
        "containerRuntimeEndpoint": CONTAINERD_SOCKET,
        // kubeadm keeps http://127.0.0.1:10248/healthz; no plain HTTP (R26).
        "healthzPort": 0,
        "readOnlyPort": 0,
        "rotateCertificates": true,
        "serverTLSBootstrap": true,
        "staticPodPath": MANIFESTS,
    }))
}

pub(crate) fn step(ctx: &Ctx) -> Result<Step, PlanError> {
    let ip = ctx.addrs.control.address;
    let dns = cluster_dns(&ctx.spec.cluster.service_cidr)?;
    let self_labels: BTreeMap<&String, &String> = ctx
        .spec
        .labels
        .iter()
        .filter(|(k, _)| kubelet_may_set(k))
        .collect();
    // A control plane without the worker role keeps workloads off, as
    // kubeadm's mark-control-plane taint does, but set at registration.
    let taint = (ctx.control_plane && !ctx.worker)
        .then_some("node-role.kubernetes.io/control-plane:NoSchedule");
    let pause = ctx.versions.pause_image();
    // Whether step kubeconfig writes bootstrap-kubelet.conf: the kubelet
    // uses it only when kubelet.conf's certificate is missing or expired.
    let bootstrap = kubeconfig::bootstrap(ctx).is_some();
    let shared = kubelet_configuration(&ctx.spec.cluster.service_cidr)?;
    let inputs = json!({
        "bootstrapKubeconfig": bootstrap,
        "node": ctx.node,
        "address": ip,
        "clusterDNS": dns,
        "labels": self_labels,
        "taint": taint,
        "pause": pause,
    });
    Ok(super::make(NAME, inputs, |digest| {
        let mut config = shared;
        config["address"] = json!(ip.to_string());
        let mut args = Vec::new();
        if bootstrap {
            args.push(format!("--bootstrap-kubeconfig={BOOTSTRAP_KUBELET}"));
        }
        args.extend([
            format!("--container-runtime-endpoint={CONTAINERD_SOCKET}"),
            format!("--hostname-override={}", ctx.node),
            format!("--node-ip={ip}"),
            format!("--pod-infra-container-image={pause}"),
        ]);
        if !self_labels.is_empty() {
            args.push(format!(
                "--node-labels={}",
                self_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if let Some(t) = taint {
            args.push(format!("--register-with-taints={t}"));
        }
        let mut env = hash_header(NAME, digest);
        env.push_str(&format!("KUBELET_KUBEADM_ARGS=\"{}\"\n", args.join(" ")));
        let a: Vec<Action> = vec![
            write(CONFIG, yaml_file(NAME, digest, &config), 0o644, Owner::ROOT),
            write(FLAGS, env.into_bytes(), 0o644, Owner::ROOT),
        ];
        a
    }))
}
