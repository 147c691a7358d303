//! Bootstrap tokens and discovery, as kubeadm's bootstrap-token phase and
//! `kubeadm token create` make them: the `bootstrap.kubernetes.io/token`
//! Secrets of `spec.bootstrapTokens`, the `kube-public/cluster-info`
//! ConfigMap, and the detached JWS with which kube-controller-manager's
//! bootstrapsigner controller signs cluster-info per token (computed here
//! too, so that a joining worker can check what it downloaded).

use std::collections::BTreeSet;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{ApiObject, ClusterError, Inputs};

/// The group kubeadm's default tokens authenticate in (beside
/// `system:bootstrappers`); the RBAC of [`crate::rbac`] grants it joining.
pub const DEFAULT_NODE_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// The Secret type the apiserver's bootstrap authenticator reads.
pub const TOKEN_SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The ConfigMap key holding the discovery kubeconfig; the bootstrapsigner
/// adds `jws-kubeconfig-<token id>` beside it.
pub const CLUSTER_INFO_KEY: &str = "kubeconfig";

/// The token Secrets, then cluster-info.
pub fn objects(inputs: &Inputs) -> Result<Vec<ApiObject>, ClusterError> {
    let mut v = secrets(inputs)?;
    v.push(cluster_info(inputs));
    Ok(v)
}

/// One Secret `kube-system/bootstrap-token-<id>` per `spec.bootstrapTokens[]`
/// entry, with kubeadm's default usages (authentication, signing) and extra
/// group. Tokens already expired at `inputs.now` are left out: the
/// apiserver would refuse them anyway and the token cleaner would delete
/// the Secret at once, and a node re-imaged from an old config drive must
/// still come up.
pub fn secrets(inputs: &Inputs) -> Result<Vec<ApiObject>, ClusterError> {
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, t) in inputs.config.spec.bootstrap_tokens.iter().enumerate() {
        let path = format!("spec.bootstrapTokens[{i}]");
        let err = |field: &str, message: String| ClusterError::Config {
            path: format!("{path}.{field}"),
            message,
        };
        mk_roleconfig::validate::check_bootstrap_token(&t.token).map_err(|m| err("token", m))?;
        let (id, secret) = t.token.split_once('.').expect("checked above");
        if !ids.insert(id) {
            return Err(err("token", format!("token id {id:?} is listed twice")));
        }
        let expires = OffsetDateTime::parse(&t.expires, &Rfc3339).map_err(|e| {
            err(
                "expires",
                format!(
                    "{:?} is not an RFC 3339 time (e.g. 2026-12-08T10:00:00Z): {e}",
                    t.expires
                ),
            )
        })?;
        if expires <= inputs.now {
            continue;
        }
        let mut data = Map::new();
        let mut put = |k: &str, v: &str| {
            data.insert(k.into(), json!(STANDARD.encode(v)));
        };
        put("token-id", id);
        put("token-secret", secret);
        put("expiration", &mk_roleconfig::expiry_text(expires));
        if let Some(d) = t.description.as_deref().filter(|d| !d.is_empty()) {
            put("description", d);
        }
        put("usage-bootstrap-authentication", "true");
        put("usage-bootstrap-signing", "true");
        put("auth-extra-groups", DEFAULT_NODE_TOKEN_GROUP);
        out.push(ApiObject::new(
            "v1",
            "Secret",
            "secrets",
            Some("kube-system"),
            &format!("bootstrap-token-{id}"),
            json!({}),
            json!({ "type": TOKEN_SECRET_TYPE, "data": Value::Object(data) }),
        ));
    }
    Ok(out)
}

/// `https://<apiEndpoint.dnsName>:<port>`: where joining nodes reach the
/// apiserver (kubeadm's controlPlaneEndpoint).
pub fn api_server_url(inputs: &Inputs) -> String {
    let ep = &inputs.config.spec.cluster.api_endpoint;
    format!("https://{}:{}", ep.dns_name, ep.port)
}

/// The discovery kubeconfig of cluster-info, byte for byte as kubeadm
/// writes it (clientcmd's YAML: one cluster named `""`, no users or
/// contexts). The bytes matter: the bootstrapsigner signs exactly them.
pub fn cluster_info_kubeconfig(server: &str, ca_pem: &str) -> String {
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {{}}\nusers: null\n",
        STANDARD.encode(ca_pem)
    )
}

/// ConfigMap `kube-public/cluster-info`, without the `jws-kubeconfig-*`
/// keys: kube-controller-manager's bootstrapsigner controller (enabled by
/// `--controllers=*,bootstrapsigner,tokencleaner`) adds and updates them
/// for every signing token, so we must not own them.
pub fn cluster_info(inputs: &Inputs) -> ApiObject {
    ApiObject::new(
        "v1",
        "ConfigMap",
        "configmaps",
        Some("kube-public"),
        "cluster-info",
        json!({}),
        json!({ "data": {
            CLUSTER_INFO_KEY: cluster_info_kubeconfig(&api_server_url(inputs), inputs.ca_pem),
        } }),
    )
}

/// The JWS header the bootstrapsigner uses: go-jose's JSON, keys sorted.
fn jws_header(token_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({ "alg": "HS256", "kid": token_id }).to_string())
}

fn jws_mac(header: &str, content: &str, token_secret: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(token_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(URL_SAFE_NO_PAD.encode(content).as_bytes());
    mac
}

/// The detached JWS over `content` (HS256 keyed with the token secret,
/// header `{"alg":"HS256","kid":<token id>}`), compact form without the
/// payload: `header..signature`, as k8s.io/cluster-bootstrap/token/jws
/// ComputeDetachedSignature makes the `jws-kubeconfig-<id>` values.
pub fn jws_detached(content: &str, token_id: &str, token_secret: &str) -> String {
    let header = jws_header(token_id);
    let sig = jws_mac(&header, content, token_secret)
        .finalize()
        .into_bytes();
    format!("{header}..{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Whether `jws` is the detached signature of `content` by this token
/// (what a joining node checks on cluster-info before trusting its CA).
/// The signature is compared in constant time.
pub fn verify_jws(content: &str, jws: &str, token_id: &str, token_secret: &str) -> bool {
    let header = jws_header(token_id);
    let Some(sig) = jws
        .strip_prefix(header.as_str())
        .and_then(|rest| rest.strip_prefix(".."))
    else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    jws_mac(&header, content, token_secret)
        .verify_slice(&sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jws_round_trip_and_tampering() {
        let s = jws_detached("hello", "abcdef", "0123456789abcdef");
        assert!(
            s.starts_with("eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9.."),
            "{s}"
        );
        assert!(verify_jws("hello", &s, "abcdef", "0123456789abcdef"));
        assert!(!verify_jws("hello!", &s, "abcdef", "0123456789abcdef"));
        assert!(!verify_jws("hello", &s, "abcdef", "0123456789abcdeg"));
        assert!(!verify_jws("hello", &s, "abcdeg", "0123456789abcdef"));
        assert!(!verify_jws(
            "hello",
            &s.replace("..", "."),
            "abcdef",
            "0123456789abcdef"
        ));
        assert!(!verify_jws("hello", "", "abcdef", "0123456789abcdef"));
    }

    #[test]
    fn expiry_is_printed_in_utc_whole_seconds() {
        let t = OffsetDateTime::parse("2026-12-08T11:00:00.5+01:00", &Rfc3339).unwrap();
        assert_eq!(mk_roleconfig::expiry_text(t), "2026-12-08T10:00:00Z");
    }
}
