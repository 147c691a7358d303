//! A sample control plane, for checking a node image before any real
//! config exists: a single server (bootstrap control plane and worker)
//! with every optional part that adds a mount (static users, an OIDC CA,
//! intermediates), placeholder certificates (the planner copies them and
//! reads only their dates) and one address in its only plane.

use std::net::IpAddr;

use mk_nodeconf::{HostFacts, Plan, PlanError};
use mk_roleconfig::NodeConfig;

/// The sample node's name and address.
pub const NODE: &str = "cp1.preflight.invalid";
pub const ADDRESS: &str = "10.0.0.11";
const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Why the sample cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("sample control-plane config: {0}")]
    Parse(#[from] mk_roleconfig::ParseError),
    #[error("planning the sample control plane for Kubernetes {version}")]
    Plan {
        version: String,
        #[source]
        source: PlanError,
    },
}

/// A self-signed P-256 certificate, `CN=mk preflight placeholder`, 7 days
/// (its key was thrown away): the planner names the kubelet's files after
/// a certificate's notBefore and sets the CSR signing duration from its
/// lifetime, so the sample's certificates must parse.
const PLACEHOLDER_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUbiZ0HlS4WhgBsHdtbgnOC6EI8t4wCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYbWsgcHJlZmxpZ2h0IHBsYWNlaG9sZGVyMB4XDTI2MTIwNzA3
MDI1OVoXDTI2MTIxNDA3MDI1OVowIzEhMB8GA1UEAwwYbWsgcHJlZmxpZ2h0IHBs
YWNlaG9sZGVyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE36baTQZ3VyVmEqiC
fAI6mZqT4b75UUfktJU9w2gA6J2NTGsjSi+em50gptEmtIanVAEB5GQGI5G/DBp6
usPKQqNTMFEwHQYDVR0OBBYEFCM6JTwFSbJvyo3BdkhZiJLFKw1oMB8GA1UdIwQY
MBaAFCM6JTwFSbJvyo3BdkhZiJLFKw1oMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI
zj0EAwIDSAAwRQIhAPtTf6EjRS7gmSFpmUerVuROGWLso1fdaBjHP1iyIpKkAiA0
LSyAW+mwLu9OreeeXXgr6HdgxDcJgb5PnQyJ5mjdbQ==
-----END CERTIFICATE-----
";

/// Placeholder PEM for a `spec.certificates` file name.
fn placeholder(name: &str) -> String {
    let tag = if name == "sa.pub" {
        "PUBLIC KEY"
    } else if name.ends_with(".key") {
        "PRIVATE KEY"
    } else {
        return PLACEHOLDER_CERTIFICATE.into();
    };
    format!("-----BEGIN {tag}-----\nAAAA\n-----END {tag}-----\n")
}

/// The sample config for `kubernetes_version` (`1.30`, `v1.30.14`).
pub fn config(kubernetes_version: &str) -> Result<NodeConfig, SampleError> {
    let yaml = format!(
        "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata:
  name: {NODE}
spec:
  roles: [bootstrap-control-plane, worker]
  cluster:
    name: preflight
    domain: preflight.invalid
    apiEndpoint: {{dnsName: api.preflight.invalid}}
    kubernetesVersion: \"{kubernetes_version}\"
  planes:
    control: {{cidr: 10.0.0.0/24}}
  encryptionAtRest:
    provider: secretbox
    keys:
      - name: k1
        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
  auth:
    oidc:
      issuerURL: https://sso.preflight.invalid
      clientID: kubernetes
    staticUsers:
      - name: ops
        groups: [ops]
        token: abcdefghijklmnopqrstuvwxyz0123456789ABCD
"
    );
    let mut c = mk_roleconfig::parse_node_config(yaml.as_bytes(), "preflight-sample.yaml")?;
    c.spec.certificates = mk_roleconfig::pki::KNOWN_FILE_NAMES
        .iter()
        .map(|n| (n.to_string(), placeholder(n)))
        .collect();
    if let Some(o) = c.spec.auth.as_mut().and_then(|a| a.oidc.as_mut()) {
        o.ca_certificate = Some(placeholder("oidc-ca.crt"));
    }
    Ok(c)
}

/// The sample host: its one address. Other facts as `facts` gives them
/// (what the image has).
pub fn facts(mut facts: HostFacts) -> HostFacts {
    facts.addresses = vec![ADDRESS.parse::<IpAddr>().expect("a literal address")];
    facts
}

/// The sample control plane's plan on a host with `facts`.
pub fn plan(kubernetes_version: &str, host: HostFacts) -> Result<Plan, SampleError> {
    let c = config(kubernetes_version)?;
    mk_nodeconf::plan(DIGEST, &c, &facts(host)).map_err(|source| SampleError::Plan {
        version: kubernetes_version.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sample_plans_four_static_pods() {
        let plan = super::plan("1.30", Default::default()).unwrap();
        let (pods, planned) = crate::pods::from_plan(&plan).unwrap();
        let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler"
            ]
        );
        assert!(planned.files.contains_key("/etc/kubernetes/scheduler.conf"));
        assert!(planned
            .files
            .contains_key("/etc/kubernetes/auth/tokens.csv"));
    }
}
