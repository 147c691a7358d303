//! The kubelet serving CSR approval rule (`mk_pki::csr`) against a request
//! recorded from a real kube-apiserver 1.28.7 and against requests made here
//! with `openssl req`, shaped as the kubelet makes them.

use std::path::{Path, PathBuf};
use std::process::Command;

use mk_pki::csr::{review_kubelet_serving, CsrSpec, NodeAddresses, Review, KUBELET_SERVING_SIGNER};

const CALLS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/kubeadm-1.28.7/calls"
);

const NODE: &str = "n1.example.com";
const NODE_IP: &str = "198.18.0.21";

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The JSON response body of a recorded call, or None (with a message) if
/// the reference files are not there.
fn recorded_body(file: &str) -> Option<serde_json::Value> {
    let path = Path::new(CALLS).join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("SKIP: {} not readable ({e})", path.display());
            return None;
        }
    };
    let at = text
        .find("RESPONSE BODY:")
        .unwrap_or_else(|| panic!("{}: no RESPONSE BODY", path.display()));
    let rest = &text[at + "RESPONSE BODY:".len()..];
    let v = serde_json::Deserializer::from_str(rest)
        .into_iter::<serde_json::Value>()
        .next()
        .unwrap_or_else(|| panic!("{}: empty response body", path.display()))
        .unwrap_or_else(|e| panic!("{}: response body: {e}", path.display()));
    Some(v)
}

fn reasons(r: Review) -> Vec<String> {
    match r {
        Review::Deny { reasons } => reasons,
        other => panic!("expected Deny, got {other:?}"),
    }
}

fn has(reasons: &[String], needles: &[&str]) -> bool {
    reasons
        .iter()
        .any(|r| needles.iter().all(|n| r.contains(n)))
}

#[test]
fn csr_recorded_request_against_recorded_node() {
    let (Some(csr), Some(node)) = (
        recorded_body("f1-csr-create.txt"),
        recorded_body("d-get-node.txt"),
    ) else {
        return;
    };
    let spec: CsrSpec = serde_json::from_value(csr["spec"].clone()).expect("CSR spec");
    assert_eq!(spec.signer_name, KUBELET_SERVING_SIGNER);
    let node = NodeAddresses::from_node_json(&node).expect("node");
    assert_eq!(node.name, "cp1.example.com");
    // The recorded Node was made by kubectl; no kubelet ever posted its
    // status, so it has no addresses.
    assert!(node.addresses.is_empty(), "{:?}", node.addresses);

    // As recorded: created by kubernetes-admin, not by the node.
    let r = reasons(review_kubelet_serving(&spec, &node));
    assert!(
        has(&r, &["\"kubernetes-admin\"", "system:node:cp1.example.com"]),
        "{r:#?}"
    );
    assert!(has(&r, &["system:masters", "system:nodes"]), "{r:#?}");

    // As the node would send it: the names are still not all the node's,
    // because the recorded Node has no InternalIP.
    let mut as_node = spec.clone();
    as_node.username = "system:node:cp1.example.com".into();
    as_node.groups = vec!["system:nodes".into(), "system:authenticated".into()];
    let r = reasons(review_kubelet_serving(&as_node, &node));
    assert_eq!(r.len(), 1, "{r:#?}");
    assert!(has(&r, &["198.18.0.10", "not the node's"]), "{r:#?}");

    // Once the kubelet has posted its addresses, the request is exactly the
    // node's: RSA 2048, CN/O right, DNS:cp1.example.com, IP:198.18.0.10,
    // usages with key encipherment.
    let mut with_status = node.clone();
    let posted = serde_json::json!({
        "kind": "Node",
        "metadata": {"name": "cp1.example.com"},
        "status": {"addresses": [
            {"type": "InternalIP", "address": "198.18.0.10"},
            {"type": "Hostname", "address": "cp1.example.com"},
        ]}
    });
    with_status.addresses = NodeAddresses::from_node_json(&posted)
        .expect("node")
        .addresses;
    assert_eq!(
        review_kubelet_serving(&as_node, &with_status),
        Review::Approve
    );

    // Another node cannot have it approved.
    let mut other = with_status.clone();
    other.name = "cp2.example.com".into();
    let mut as_other = as_node.clone();
    as_other.username = "system:node:cp2.example.com".into();
    let r = reasons(review_kubelet_serving(&as_other, &other));
    assert!(
        has(&r, &["subject CN", "system:node:cp2.example.com"]),
        "{r:#?}"
    );
}

struct Fixture {
    dir: tempfile::TempDir,
    n: usize,
}

impl Fixture {
    fn new() -> Option<Fixture> {
        match Command::new("openssl").arg("version").output() {
            Ok(o) if o.status.success() => Some(Fixture {
                dir: tempfile::tempdir().expect("tempdir"),
                n: 0,
            }),
            _ => {
                eprintln!("SKIP: no openssl command");
                None
            }
        }
    }

    fn run(&self, args: &[&str]) {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// A PEM request: key `ec` (P-256) or `rsa:<bits>`, subject as for
    /// `openssl req -subj`, SANs as for subjectAltName (None: no extension).
    fn request(&mut self, key: &str, subj: &str, sans: Option<&str>) -> String {
        self.n += 1;
        let k = format!("k{}.pem", self.n);
        let r = format!("r{}.pem", self.n);
        match key.strip_prefix("rsa:") {
            Some(bits) => self.run(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
                "-out",
                &k,
            ]),
            None => self.run(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &k,
            ]),
        }
        let mut args = vec!["req", "-new", "-key", &k, "-subj", subj, "-out", &r];
        let ext;
        if let Some(s) = sans {
            ext = format!("subjectAltName={s}");
            args.extend(["-addext", &ext]);
        }
        self.run(&args);
        std::fs::read_to_string(self.path(&r)).expect("request")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn node() -> NodeAddresses {
    NodeAddresses::from_node_json(&serde_json::json!({
        "kind": "Node",
        "metadata": {"name": NODE},
        "status": {"addresses": [
            {"type": "InternalIP", "address": NODE_IP},
            {"type": "Hostname", "address": NODE},
        ]}
    }))
    .expect("node")
}

/// As the kubelet sends it (ECDSA key: no key encipherment).
fn spec(pem: &str) -> CsrSpec {
    CsrSpec {
        request: b64(pem.as_bytes()),
        signer_name: KUBELET_SERVING_SIGNER.into(),
        usages: vec!["digital signature".into(), "server auth".into()],
        username: format!("system:node:{NODE}"),
        groups: vec!["system:nodes".into(), "system:authenticated".into()],
    }
}

const SUBJ: &str = "/O=system:nodes/CN=system:node:n1.example.com";

fn exact_sans() -> String {
    format!("DNS:{NODE},IP:{NODE_IP}")
}

/// Deny with exactly one reason, which contains every needle.
fn denied_for(s: &CsrSpec, needles: &[&str]) {
    let r = reasons(review_kubelet_serving(s, &node()));
    assert_eq!(r.len(), 1, "expected one reason with {needles:?}: {r:#?}");
    assert!(has(&r, needles), "expected {needles:?}: {r:#?}");
}

#[test]
fn csr_openssl_requests() {
    let Some(mut f) = Fixture::new() else {
        return;
    };
    let exact = f.request("ec", SUBJ, Some(&exact_sans()));

    // Exactly the node's names: approved, with or without key encipherment.
    assert_eq!(
        review_kubelet_serving(&spec(&exact), &node()),
        Review::Approve
    );
    let mut ke = spec(&exact);
    ke.usages.insert(1, "key encipherment".into());
    assert_eq!(review_kubelet_serving(&ke, &node()), Review::Approve);
    // A subset of the node's names is fine too.
    let dns_only = f.request("ec", SUBJ, Some(&format!("DNS:{NODE}")));
    assert_eq!(
        review_kubelet_serving(&spec(&dns_only), &node()),
        Review::Approve
    );

    // Another signer: not ours, whatever it holds.
    let mut other = spec(&exact);
    other.signer_name = "kubernetes.io/kube-apiserver-client-kubelet".into();
    assert_eq!(review_kubelet_serving(&other, &node()), Review::NotOurs);
    other.request = "garbage".into();
    assert_eq!(review_kubelet_serving(&other, &node()), Review::NotOurs);

    // An extra IP.
    let r = f.request(
        "ec",
        SUBJ,
        Some(&format!("{},IP:198.18.0.99", exact_sans())),
    );
    denied_for(&spec(&r), &["198.18.0.99", "not the node's", NODE_IP]);

    // An extra DNS name.
    let r = f.request(
        "ec",
        SUBJ,
        Some(&format!("{},DNS:api.example.com", exact_sans())),
    );
    denied_for(&spec(&r), &["\"api.example.com\"", "not the node's", NODE]);

    // Another node's CN.
    let r = f.request(
        "ec",
        "/O=system:nodes/CN=system:node:n2.example.com",
        Some(&exact_sans()),
    );
    denied_for(
        &spec(&r),
        &[
            "subject CN",
            "system:node:n2.example.com",
            "expected exactly \"system:node:n1.example.com\"",
        ],
    );

    // No O.
    let r = f.request("ec", "/CN=system:node:n1.example.com", Some(&exact_sans()));
    denied_for(&spec(&r), &["subject O is []", "\"system:nodes\""]);

    // An extra subject attribute.
    let r = f.request(
        "ec",
        "/O=system:nodes/OU=x/CN=system:node:n1.example.com",
        Some(&exact_sans()),
    );
    denied_for(
        &spec(&r),
        &["organizationalUnit=x", "expected only CN and O"],
    );

    // An email SAN.
    let r = f.request(
        "ec",
        SUBJ,
        Some(&format!("{},email:root@example.com", exact_sans())),
    );
    denied_for(&spec(&r), &["root@example.com", "not allowed"]);

    // A URI SAN.
    let r = f.request(
        "ec",
        SUBJ,
        Some(&format!("{},URI:spiffe://example.com/n1", exact_sans())),
    );
    denied_for(&spec(&r), &["spiffe://example.com/n1", "not allowed"]);

    // No SANs at all.
    let r = f.request("ec", SUBJ, None);
    denied_for(&spec(&r), &["no subject alternative names"]);

    // client auth usage.
    let mut s = spec(&exact);
    s.usages.push("client auth".into());
    denied_for(&s, &["\"client auth\"", "not allowed"]);
    // No server auth.
    let mut s = spec(&exact);
    s.usages = vec!["digital signature".into()];
    denied_for(&s, &["lack \"server auth\""]);

    // A wrong requester: another node.
    let mut s = spec(&exact);
    s.username = "system:node:n2.example.com".into();
    denied_for(
        &s,
        &[
            "requester \"system:node:n2.example.com\"",
            "\"system:node:n1.example.com\"",
        ],
    );
    // The right name without the nodes group.
    let mut s = spec(&exact);
    s.groups = vec!["system:authenticated".into()];
    denied_for(&s, &["groups", "lack \"system:nodes\""]);

    // A 1024-bit RSA key. ring (x509-parser's verifier) also refuses to
    // verify RSA signatures under 2048 bits: two reasons.
    let r = f.request("rsa:1024", SUBJ, Some(&exact_sans()));
    let rs = reasons(review_kubelet_serving(&spec(&r), &node()));
    assert!(has(&rs, &["RSA of 1024 bits", "at least 2048"]), "{rs:#?}");
    assert!(has(&rs, &["self-signature"]), "{rs:#?}");
    assert_eq!(rs.len(), 2, "{rs:#?}");
    // RSA 2048 is fine.
    let r = f.request("rsa:2048", SUBJ, Some(&exact_sans()));
    let mut s = spec(&r);
    s.usages.insert(1, "key encipherment".into());
    assert_eq!(review_kubelet_serving(&s, &node()), Review::Approve);

    // A P-384 key.
    f.run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-out",
        "p384.pem",
    ]);
    let ext = format!("subjectAltName={}", exact_sans());
    f.run(&[
        "req", "-new", "-key", "p384.pem", "-subj", SUBJ, "-addext", &ext, "-out", "p384.csr",
    ]);
    let r = std::fs::read_to_string(f.path("p384.csr")).expect("p384 request");
    denied_for(&spec(&r), &["curve 1.3.132.0.34", "ECDSA P-256"]);
}

#[test]
fn csr_broken_requests_are_denied_not_panics() {
    let Some(mut f) = Fixture::new() else {
        return;
    };
    let exact = f.request("ec", SUBJ, Some(&exact_sans()));

    // A signature that does not match: flip the signature's last byte.
    let block = pem::parse(&exact).expect("pem");
    let mut der = block.contents().to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der.clone()));
    denied_for(&spec(&tampered), &["self-signature", "does not verify"]);

    // Not base64.
    let mut s = spec(&exact);
    s.request = "not base64!".into();
    denied_for(&s, &["spec.request is not base64"]);
    // Base64 of something that is not PEM.
    s.request = b64(b"hello");
    denied_for(&s, &["expected exactly one CERTIFICATE REQUEST"]);
    // A certificate instead of a request.
    s.request = b64(pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())).as_bytes());
    denied_for(&s, &["[\"CERTIFICATE\"]", "CERTIFICATE REQUEST"]);
    // Two requests.
    s.request = b64(format!("{exact}{exact}").as_bytes());
    denied_for(&s, &["exactly one CERTIFICATE REQUEST"]);
    // Truncated DER, every length: never a panic, always a reason.
    for len in [0, 1, 10, der.len() / 2, der.len() - 1] {
        let cut = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der[..len].to_vec()));
        let r = reasons(review_kubelet_serving(&spec(&cut), &node()));
        assert!(!r.is_empty());
    }
    // Trailing bytes after the request.
    let mut long = pem::parse(&exact).expect("pem").contents().to_vec();
    long.push(0);
    let t = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", long));
    denied_for(&spec(&t), &["1 trailing bytes"]);
}
