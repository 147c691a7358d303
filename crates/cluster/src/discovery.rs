//! Token discovery, the pure half (kubeadm's `--discovery-token`): what a
//! worker joining with `spec.join.token` accepts from the
//! `kube-public/cluster-info` ConfigMap it fetched without trusting the
//! server. Trust comes from two checks, as in kubeadm 1.28
//! (cmd/kubeadm/app/discovery/token): the bootstrapsigner's detached JWS
//! `jws-kubeconfig-<token id>` must verify over the `kubeconfig` value
//! with the token's secret (only holders of the token can make it), and
//! the CA in that kubeconfig must match one of `spec.join.caCertHashes`
//! (the token alone is a shared secret; the hash pins the cluster). The
//! network half, with the re-check of the connection against the CA found
//! here, is mk-firstboot's (firstboot/src/discovery.rs).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::tokens::{verify_jws, CLUSTER_INFO_KEY};

/// The largest cluster-info accepted: the real one is about 3 KiB plus
/// about 100 bytes per token; anything near this is not cluster-info.
pub const MAX_CLUSTER_INFO_BYTES: usize = 1 << 20;

/// The ConfigMap key prefix of the bootstrapsigner's signatures.
pub const JWS_KEY_PREFIX: &str = "jws-kubeconfig-";

/// What the admin does when the cluster does not know the token.
pub const NEW_TOKEN_ADVICE: &str = "mint one with `mk-compose token create --ttl 24h`, add it \
     to the bootstrap control plane's spec.bootstrapTokens and to this worker's spec.join.token, \
     write both config drives again (`mk-compose config-drive`) and boot the bootstrap control \
     plane, then this worker, with them";

/// What discovery found, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The cluster CA, PEM (what goes to /etc/kubernetes/pki/ca.crt).
    pub ca_pem: String,
    /// The apiserver URL cluster-info names (kubeadm's controlPlaneEndpoint).
    pub server: String,
    /// `sha256:<hex>`: which of the allowed hashes matched.
    pub ca_hash: String,
    /// The signed kubeconfig text, for comparing a second fetch with.
    pub kubeconfig: String,
}

/// Why cluster-info was not accepted. Each text names the thing and says
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "spec.join.token: not a bootstrap token (expected [a-z0-9]{{6}}.[a-z0-9]{{16}}, as \
         `mk-compose token create` prints)"
    )]
    BadToken,
    #[error(
        "spec.join.caCertHashes is empty: a CA found by discovery cannot be trusted without it; \
         add `mk-compose token hash --ca PKI/roots/kubernetes.crt`'s output, or deliver ca.crt \
         in spec.certificates"
    )]
    NoHashes,
    #[error(
        "cluster-info is {size} bytes, more than {max}: not the kube-public/cluster-info \
         ConfigMap of a Kubernetes apiserver (is spec.cluster.apiEndpoint the cluster's?)"
    )]
    TooLarge { size: usize, max: usize },
    #[error(
        "cluster-info is not a ConfigMap in JSON ({why}): is spec.cluster.apiEndpoint the \
         cluster's apiserver?"
    )]
    NotConfigMap { why: String },
    #[error(
        "cluster-info has no data.kubeconfig: the bootstrap control plane has not published \
         it yet (its API step, `systemctl status mk-firstboot-cluster` there)"
    )]
    NoKubeconfig,
    #[error(
        "the cluster does not know token {id} (no signature for it in cluster-info): the token \
         expired or was never created; {NEW_TOKEN_ADVICE}"
    )]
    UnknownToken { id: String },
    #[error(
        "the cluster-info signature for token {id} does not verify with spec.join.token's \
         secret: the cluster has a token {id} with another secret (copy the whole token from \
         the bootstrap control plane's spec.bootstrapTokens), or something between this node \
         and the apiserver changed cluster-info"
    )]
    BadSignature { id: String },
    #[error("cluster-info's kubeconfig (signed for token {id}): {why}")]
    Kubeconfig { id: String, why: String },
    #[error(
        "the CA in cluster-info ({found}) matches none of spec.join.caCertHashes ({allowed}): \
         this apiserver is not the cluster's, or the hash is wrong; print the cluster's with \
         `mk-compose token hash --ca PKI/roots/kubernetes.crt`"
    )]
    HashMismatch { found: String, allowed: String },
}

impl DiscoveryError {
    /// Worth another fetch while the deadline allows: the signature comes
    /// a moment after the token Secret (kube-controller-manager's
    /// bootstrapsigner), and cluster-info after the control plane's API
    /// step, so a worker booted with its control plane sees both missing
    /// for a while, as kubeadm's discovery does (it polls for them).
    pub fn transient(&self) -> bool {
        matches!(
            self,
            DiscoveryError::NoKubeconfig | DiscoveryError::UnknownToken { .. }
        )
    }
}

/// The `sha256:` hashes ([`mk_pki::cert::spki_sha256`], kubeadm's
/// `--discovery-token-ca-cert-hash`) of every certificate of a PEM text,
/// with its subject (for messages).
pub fn ca_cert_hashes_pem(pem_text: &str, what: &str) -> Result<Vec<(String, String)>, String> {
    let certs = mk_pki::cert::parse_pem_chain(pem_text, what).map_err(|e| e.to_string())?;
    certs
        .iter()
        .map(|c| {
            let hash = mk_pki::cert::spki_sha256(&c.der, what).map_err(|e| e.to_string())?;
            Ok((hash, c.subject.clone()))
        })
        .collect()
}

/// The parts of a kubeconfig discovery reads.
#[derive(serde::Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Option<Vec<NamedCluster>>,
}

#[derive(serde::Deserialize)]
struct NamedCluster {
    cluster: Cluster,
}

#[derive(serde::Deserialize)]
struct Cluster {
    server: Option<String>,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
}

/// Checks `body` (the apiserver's JSON of `kube-public/cluster-info`)
/// against `token` (`id.secret`) and `ca_cert_hashes`, in kubeadm's
/// order: signature first (nothing unsigned is parsed beyond the
/// ConfigMap), then the CA.
pub fn validate(
    body: &[u8],
    token: &str,
    ca_cert_hashes: &[String],
) -> Result<Discovered, DiscoveryError> {
    mk_roleconfig::validate::check_bootstrap_token(token).map_err(|_| DiscoveryError::BadToken)?;
    let (id, secret) = token.split_once('.').ok_or(DiscoveryError::BadToken)?;
    if ca_cert_hashes.is_empty() {
        return Err(DiscoveryError::NoHashes);
    }
    if body.len() > MAX_CLUSTER_INFO_BYTES {
        return Err(DiscoveryError::TooLarge {
            size: body.len(),
            max: MAX_CLUSTER_INFO_BYTES,
        });
    }
    let not_cm = |why: String| DiscoveryError::NotConfigMap { why };
    // serde_json stops at 128 levels of nesting.
    let cm: Value = serde_json::from_slice(body).map_err(|e| not_cm(e.to_string()))?;
    match cm.get("kind").and_then(Value::as_str) {
        Some("ConfigMap") => {}
        Some(other) => return Err(not_cm(format!("kind is {other:?}"))),
        None => return Err(not_cm("no kind".into())),
    }
    let data = cm.get("data").and_then(Value::as_object);
    let text = |key: &str| data.and_then(|d| d.get(key)).and_then(Value::as_str);
    let kubeconfig = text(CLUSTER_INFO_KEY).ok_or(DiscoveryError::NoKubeconfig)?;
    let jws = text(&format!("{JWS_KEY_PREFIX}{id}"))
        .ok_or_else(|| DiscoveryError::UnknownToken { id: id.to_string() })?;
    if !verify_jws(kubeconfig, jws, id, secret) {
        return Err(DiscoveryError::BadSignature { id: id.to_string() });
    }
    let bad = |why: String| DiscoveryError::Kubeconfig {
        id: id.to_string(),
        why,
    };
    // Signed by a token holder, still bounded: the size above, and
    // serde_norway's nesting and alias-repetition limits.
    let parsed: Kubeconfig =
        serde_norway::from_str(kubeconfig).map_err(|e| bad(format!("not a kubeconfig: {e}")))?;
    let clusters = parsed.clusters.unwrap_or_default();
    let [named] = clusters.as_slice() else {
        return Err(bad(format!(
            "{} clusters, expected exactly one",
            clusters.len()
        )));
    };
    let server = named
        .cluster
        .server
        .clone()
        .filter(|s| s.starts_with("https://"))
        .ok_or_else(|| bad("clusters[0].cluster.server is missing or not https://".into()))?;
    let ca_b64 =
        named.cluster.ca_data.as_deref().ok_or_else(|| {
            bad("clusters[0].cluster.certificate-authority-data is missing".into())
        })?;
    let ca_pem = STANDARD
        .decode(ca_b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("certificate-authority-data is not base64 of PEM text".into()))?;
    let found = ca_cert_hashes_pem(&ca_pem, "certificate-authority-data")
        .map_err(|e| bad(format!("its CA: {e}")))?;
    let allowed: Vec<String> = ca_cert_hashes
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    // Like kubeadm's pubkeypin.Set.CheckAny: one certificate matching one
    // pin is enough.
    let Some((hash, _)) = found.iter().find(|(h, _)| allowed.contains(h)) else {
        return Err(DiscoveryError::HashMismatch {
            found: found
                .iter()
                .map(|(h, subject)| format!("{h} of {subject:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            allowed: allowed.join(", "),
        });
    };
    Ok(Discovered {
        ca_pem,
        server,
        ca_hash: hash.clone(),
        kubeconfig: kubeconfig.to_string(),
    })
}

/// The signed `kubeconfig` text of a cluster-info body, for comparing the
/// fetch over the checked connection with the first one.
pub fn signed_kubeconfig(body: &[u8]) -> Option<String> {
    if body.len() > MAX_CLUSTER_INFO_BYTES {
        return None;
    }
    let cm: Value = serde_json::from_slice(body).ok()?;
    cm.get("data")?
        .get(CLUSTER_INFO_KEY)?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{cluster_info_kubeconfig, jws_detached};
    use serde_json::json;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const TOKEN: &str = "abcdef.0123456789abcdef";

    fn reference() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../../shared/reference/kubeadm-1.28.7/api/configmap-kube-public-cluster-info.yaml",
        )
    }

    /// The reference cluster-info as the apiserver sends it: JSON.
    fn reference_json() -> Vec<u8> {
        let yaml = std::fs::read_to_string(reference()).unwrap();
        let v: Value = serde_norway::from_str(&yaml).unwrap();
        let mut v = v.as_object().unwrap().clone();
        // What `kubectl get -o yaml` did not reorder: kind and apiVersion first.
        let mut out = serde_json::Map::new();
        out.insert("kind".into(), v.remove("kind").unwrap());
        out.insert("apiVersion".into(), v.remove("apiVersion").unwrap());
        out.extend(v);
        serde_json::to_vec(&Value::Object(out)).unwrap()
    }

    fn reference_ca_pem() -> String {
        let body: Value = serde_json::from_slice(&reference_json()).unwrap();
        let kc: Value =
            serde_norway::from_str(body["data"]["kubeconfig"].as_str().unwrap()).unwrap();
        let b64 = kc["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap();
        String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
    }

    /// kubeadm's documented way: openssl, the real tool.
    fn openssl_hash(pem: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, pem).unwrap();
        let script = format!(
            "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | sha256sum",
            ca.display()
        );
        let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        format!("sha256:{}", text.split_whitespace().next().unwrap())
    }

    #[test]
    fn the_reference_cluster_info_is_accepted_with_kubeadms_hash() {
        let hash = openssl_hash(&reference_ca_pem());
        let d = validate(&reference_json(), TOKEN, std::slice::from_ref(&hash)).unwrap();
        assert_eq!(d.server, "https://api.example.com:6443");
        assert_eq!(d.ca_hash, hash);
        assert_eq!(d.ca_pem, reference_ca_pem());
        assert!(d.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        // Any one of several pins, upper case too.
        let other = format!("sha256:{}", "0".repeat(64));
        let d2 = validate(
            &reference_json(),
            TOKEN,
            &[other, hash.to_ascii_uppercase().replace("SHA256", "sha256")],
        )
        .unwrap();
        assert_eq!(d2, d);
        assert_eq!(
            signed_kubeconfig(&reference_json()).as_deref(),
            Some(d.kubeconfig.as_str())
        );
    }

    #[test]
    fn a_token_the_cluster_does_not_know_says_what_to_do() {
        let hash = openssl_hash(&reference_ca_pem());
        let e = validate(&reference_json(), "zzzzzz.0123456789abcdef", &[hash]).unwrap_err();
        assert_eq!(
            e,
            DiscoveryError::UnknownToken {
                id: "zzzzzz".into()
            }
        );
        assert!(e.transient());
        let text = e.to_string();
        assert!(
            text.starts_with("the cluster does not know token zzzzzz (no signature for it in cluster-info): the token expired or was never created; mint one with `mk-compose token create"),
            "{text}"
        );
        assert!(text.contains("spec.bootstrapTokens") && text.contains("spec.join.token"));
    }

    #[test]
    fn a_wrong_secret_or_a_tampered_kubeconfig_fails_the_signature() {
        let hash = openssl_hash(&reference_ca_pem());
        let e = validate(
            &reference_json(),
            "abcdef.0123456789abcdeg",
            std::slice::from_ref(&hash),
        )
        .unwrap_err();
        assert_eq!(
            e,
            DiscoveryError::BadSignature {
                id: "abcdef".into()
            }
        );
        assert!(!e.transient());
        assert!(e.to_string().contains("another secret"), "{e}");

        let mut v: Value = serde_json::from_slice(&reference_json()).unwrap();
        let kc = v["data"]["kubeconfig"].as_str().unwrap().replace(
            "https://api.example.com:6443",
            "https://evil.example.com:6443",
        );
        v["data"]["kubeconfig"] = json!(kc);
        let e = validate(&serde_json::to_vec(&v).unwrap(), TOKEN, &[hash]).unwrap_err();
        assert_eq!(
            e,
            DiscoveryError::BadSignature {
                id: "abcdef".into()
            }
        );
    }

    #[test]
    fn a_hash_that_does_not_match_names_both() {
        let want = format!("sha256:{}", "ab".repeat(32));
        let e = validate(&reference_json(), TOKEN, std::slice::from_ref(&want)).unwrap_err();
        let DiscoveryError::HashMismatch { found, allowed } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(allowed, &want);
        let real = openssl_hash(&reference_ca_pem());
        assert!(
            found.contains(&real) && found.contains("CN=kubernetes"),
            "{found}"
        );
        let text = e.to_string();
        assert!(text.contains(&real) && text.contains(&want), "{text}");
        assert!(text.contains("mk-compose token hash"), "{text}");
        assert!(!e.transient());
    }

    #[test]
    fn no_signatures_no_kubeconfig_not_a_configmap() {
        let hash = openssl_hash(&reference_ca_pem());
        let hashes = std::slice::from_ref(&hash);
        let mut v: Value = serde_json::from_slice(&reference_json()).unwrap();
        let data = v["data"].as_object_mut().unwrap();
        data.retain(|k, _| !k.starts_with(JWS_KEY_PREFIX));
        let e = validate(&serde_json::to_vec(&v).unwrap(), TOKEN, hashes).unwrap_err();
        assert_eq!(
            e,
            DiscoveryError::UnknownToken {
                id: "abcdef".into()
            }
        );

        v["data"] = json!({});
        let e = validate(&serde_json::to_vec(&v).unwrap(), TOKEN, hashes).unwrap_err();
        assert_eq!(e, DiscoveryError::NoKubeconfig);
        assert!(e.transient());

        // What an apiserver says to a request it refuses (a Status), and
        // something that is not JSON at all.
        let status =
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403});
        let e = validate(&serde_json::to_vec(&status).unwrap(), TOKEN, hashes).unwrap_err();
        assert!(
            matches!(&e, DiscoveryError::NotConfigMap { why } if why.contains("Status")),
            "{e}"
        );
        let e = validate(b"<html>hello</html>", TOKEN, hashes).unwrap_err();
        assert!(matches!(e, DiscoveryError::NotConfigMap { .. }), "{e}");
        assert!(e.to_string().contains("apiEndpoint"), "{e}");

        assert_eq!(
            validate(&reference_json(), "abcdef", hashes).unwrap_err(),
            DiscoveryError::BadToken
        );
        assert_eq!(
            validate(&reference_json(), TOKEN, &[]).unwrap_err(),
            DiscoveryError::NoHashes
        );
    }

    /// A cluster-info signed with the token, around `kubeconfig`.
    fn signed(kubeconfig: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "cluster-info", "namespace": "kube-public"},
            "data": {
                "kubeconfig": kubeconfig,
                "jws-kubeconfig-abcdef": jws_detached(kubeconfig, "abcdef", "0123456789abcdef"),
            },
        }))
        .unwrap()
    }

    #[test]
    fn signed_garbage_is_refused_and_bounded() {
        let hash = openssl_hash(&reference_ca_pem());
        let hashes = std::slice::from_ref(&hash);
        let kubeconfig_err = |body: &[u8]| match validate(body, TOKEN, hashes) {
            Err(DiscoveryError::Kubeconfig { why, .. }) => why,
            other => panic!("{other:?}"),
        };
        // Our own kubeconfig shape with the reference CA round-trips.
        let ok = cluster_info_kubeconfig("https://api.example.com:6443", &reference_ca_pem());
        assert!(validate(&signed(&ok), TOKEN, hashes).is_ok());

        let why = kubeconfig_err(&signed("{{{{ not: yaml: ["));
        assert!(why.starts_with("not a kubeconfig"), "{why}");
        let why = kubeconfig_err(&signed("apiVersion: v1\nclusters: []\n"));
        assert!(why.contains("0 clusters"), "{why}");
        let why = kubeconfig_err(&signed(&ok.replace("https://", "http://")));
        assert!(why.contains("not https://"), "{why}");
        let why = kubeconfig_err(&signed(&ok.replace(
            "certificate-authority-data: ",
            "certificate-authority-data: x~",
        )));
        assert!(why.contains("not base64"), "{why}");
        let not_a_cert = cluster_info_kubeconfig(
            "https://api.example.com:6443",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        );
        let why = kubeconfig_err(&signed(&not_a_cert));
        assert!(why.starts_with("its CA:"), "{why}");

        // Billion laughs: serde_norway's repetition limit, not memory.
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            bomb.push_str(&format!(
                "b{i}: &b{i} [{}]\n",
                vec![
                    if i == 1 {
                        "*a".to_string()
                    } else {
                        format!("*b{}", i - 1)
                    };
                    10
                ]
                .join(", ")
            ));
        }
        bomb.push_str("clusters: *b9\n");
        let t0 = std::time::Instant::now();
        let why = kubeconfig_err(&signed(&bomb));
        assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{why}");

        // Deep nesting: serde_json's own limit.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            validate(deep.as_bytes(), TOKEN, hashes),
            Err(DiscoveryError::NotConfigMap { .. })
        ));
        // Huge: refused on its size, unparsed.
        let huge = vec![b' '; MAX_CLUSTER_INFO_BYTES + 1];
        assert_eq!(
            validate(&huge, TOKEN, hashes).unwrap_err(),
            DiscoveryError::TooLarge {
                size: MAX_CLUSTER_INFO_BYTES + 1,
                max: MAX_CLUSTER_INFO_BYTES
            }
        );
        assert_eq!(signed_kubeconfig(&huge), None);
    }
}
