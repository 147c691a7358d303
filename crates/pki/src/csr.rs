//! The approval rule for kubelet serving-certificate CSRs.
//!
//! Kubelets run with `serverTLSBootstrap`: they ask for their serving
//! certificate through the CSR API (signer `kubernetes.io/kubelet-serving`),
//! with `CN=system:node:<node>, O=system:nodes` and the node's DNS names and
//! IP addresses (from `Node.status.addresses`) as SANs. Kubernetes approves
//! none of these itself; mk's control planes approve one only when the names
//! it asks for are exactly the node's ([`review_kubelet_serving`]). This
//! module is the pure rule: no API client, no clock. The loop that watches
//! CSRs and applies the rule comes with the cluster's API step.
//!
//! The request is untrusted input: every failure is a reason, never a panic.

use std::net::IpAddr;

use serde::Deserialize;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The signer whose requests this rule reviews.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";
/// The group of every node's identity, and the subject's O.
pub const NODES_GROUP: &str = "system:nodes";
/// Prefix of a node's user name and subject CN.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The usages a kubelet serving certificate may ask for (Kubernetes' own
/// validation of this signer: `key encipherment` only matters for RSA keys,
/// but is accepted with any key).
pub const ALLOWED_USAGES: [&str; 3] = ["digital signature", "key encipherment", "server auth"];
/// The usage a serving certificate must ask for.
pub const REQUIRED_USAGE: &str = "server auth";
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Node address types whose values may appear as DNS SANs (besides the
/// node name).
pub const DNS_ADDRESS_TYPES: [&str; 3] = ["Hostname", "InternalDNS", "ExternalDNS"];
/// Node address types whose values may appear as IP SANs.
pub const IP_ADDRESS_TYPES: [&str; 2] = ["InternalIP", "ExternalIP"];

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_CN: &str = "2.5.4.3";
const OID_O: &str = "2.5.4.10";

/// `spec` of a `certificates.k8s.io/v1` CertificateSigningRequest, as the API
/// returns it (`username` and `groups` are set by the apiserver from the
/// requester's credentials).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsrSpec {
    /// Base64 of the PEM `CERTIFICATE REQUEST` (JSON encoding of `[]byte`).
    pub request: String,
    pub signer_name: String,
    #[serde(default)]
    pub usages: Vec<String>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One entry of a Node's `status.addresses`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NodeAddress {
    #[serde(rename = "type")]
    pub type_: String,
    pub address: String,
}

/// What the rule needs of a Node: `metadata.name` and `status.addresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NodeAddresses {
    pub name: String,
    #[serde(default)]
    pub addresses: Vec<NodeAddress>,
}

impl NodeAddresses {
    /// From a Node object as the API returns it (`GET /api/v1/nodes/<name>`).
    /// A Node without `status.addresses` (no kubelet has posted status yet)
    /// has none: then no IP SAN can be approved.
    pub fn from_node_json(node: &serde_json::Value) -> Result<NodeAddresses, String> {
        let kind = node.get("kind").and_then(|k| k.as_str());
        if let Some(k) = kind {
            if k != "Node" {
                return Err(format!("object kind is {k:?}, expected \"Node\""));
            }
        }
        let name = match node.pointer("/metadata/name") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(format!(
                    "metadata.name is {other}, expected the node name (a non-empty string)"
                ))
            }
            None => return Err("metadata.name is missing, expected the node name".into()),
        };
        let addresses = match node.pointer("/status/addresses") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(v) => Vec::<NodeAddress>::deserialize(v).map_err(|e| {
                format!(
                    "node {name}: status.addresses is {v}, expected a list of \
                     {{\"type\": ..., \"address\": ...}} ({e})"
                )
            })?,
        };
        Ok(NodeAddresses { name, addresses })
    }

    /// `system:node:<name>`: the node's user name and serving CN.
    pub fn node_user(&self) -> String {
        format!("{NODE_USER_PREFIX}{}", self.name)
    }

    /// The DNS names the node may have in its serving certificate: its name
    /// and its Hostname/InternalDNS/ExternalDNS addresses.
    pub fn dns_names(&self) -> Vec<&str> {
        let mut v = vec![self.name.as_str()];
        for a in &self.addresses {
            if DNS_ADDRESS_TYPES.contains(&a.type_.as_str()) && !v.contains(&a.address.as_str()) {
                v.push(&a.address);
            }
        }
        v
    }

    /// The IP addresses the node may have in its serving certificate: its
    /// InternalIP/ExternalIP addresses (those that parse).
    pub fn ip_addresses(&self) -> Vec<IpAddr> {
        let mut v = Vec::new();
        for a in &self.addresses {
            if IP_ADDRESS_TYPES.contains(&a.type_.as_str()) {
                if let Ok(ip) = a.address.parse::<IpAddr>() {
                    if !v.contains(&ip) {
                        v.push(ip);
                    }
                }
            }
        }
        v
    }
}

/// The verdict on one CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// Every rule holds: approve.
    Approve,
    /// One reason per broken rule, each naming the value and what was
    /// expected.
    Deny { reasons: Vec<String> },
    /// Another signer's request: leave it alone.
    NotOurs,
}

/// Review a kubelet serving CSR against the Node it claims to be.
///
/// Approve only when: the signer is `kubernetes.io/kubelet-serving` (else
/// [`Review::NotOurs`]); the requester is `system:node:<node>` in group
/// `system:nodes`; the request parses (base64, one PEM `CERTIFICATE
/// REQUEST`, DER) and its self-signature verifies; its subject is exactly
/// `CN=system:node:<node>, O=system:nodes`; it has at least one SAN, its DNS
/// names are among the node's name and Hostname/InternalDNS/ExternalDNS
/// addresses, its IPs among the node's InternalIP/ExternalIP addresses, and
/// it has no other SAN type; the usages are among `digital signature`, `key
/// encipherment`, `server auth` and include `server auth`; the key is ECDSA
/// P-256 or RSA of at least 2048 bits.
pub fn review_kubelet_serving(csr: &CsrSpec, node: &NodeAddresses) -> Review {
    if csr.signer_name != KUBELET_SERVING_SIGNER {
        return Review::NotOurs;
    }
    let mut reasons = Vec::new();
    let user = node.node_user();
    if node.name.is_empty() {
        reasons.push("the node's name is empty, expected the node the request is for".into());
    }
    if csr.username != user {
        reasons.push(format!(
            "requester {:?} is not the node, expected user {user:?}",
            csr.username
        ));
    }
    if !csr.groups.iter().any(|g| g == NODES_GROUP) {
        reasons.push(format!(
            "requester's groups {:?} lack {NODES_GROUP:?}",
            csr.groups
        ));
    }
    match decode_request(&csr.request) {
        Ok(der) => review_der(&der, node, &mut reasons),
        Err(why) => reasons.push(why),
    }
    review_usages(&csr.usages, &mut reasons);
    if reasons.is_empty() {
        Review::Approve
    } else {
        Review::Deny { reasons }
    }
}

/// `spec.request` → DER of the one PEM `CERTIFICATE REQUEST` it holds.
fn decode_request(request: &str) -> Result<Vec<u8>, String> {
    let pem_bytes = base64_decode(request.trim())
        .map_err(|e| format!("spec.request is not base64 ({e}), expected base64 of a PEM CSR"))?;
    let text = std::str::from_utf8(&pem_bytes).map_err(|_| {
        "spec.request decodes to non-UTF-8 bytes, expected a PEM CERTIFICATE REQUEST".to_string()
    })?;
    let blocks = pem::parse_many(text).map_err(|e| {
        format!("spec.request is not PEM ({e}), expected one CERTIFICATE REQUEST block")
    })?;
    let tags: Vec<&str> = blocks.iter().map(|b| b.tag()).collect();
    match blocks.as_slice() {
        [b] if b.tag() == "CERTIFICATE REQUEST" => Ok(b.contents().to_vec()),
        _ => Err(format!(
            "spec.request holds PEM blocks {tags:?}, expected exactly one CERTIFICATE REQUEST"
        )),
    }
}

fn review_der(der: &[u8], node: &NodeAddresses, reasons: &mut Vec<String>) {
    let req = match X509CertificationRequest::from_der(der) {
        Ok(([], req)) => req,
        Ok((rest, _)) => {
            reasons.push(format!(
                "the certificate request has {} trailing bytes, expected a single DER structure",
                rest.len()
            ));
            return;
        }
        Err(e) => {
            reasons.push(format!(
                "the certificate request does not parse as PKCS#10 ({e})"
            ));
            return;
        }
    };
    if let Err(e) = req.verify_signature() {
        reasons.push(format!(
            "the request's self-signature ({}) does not verify with its own key ({e}), \
             expected a request signed by the key it carries",
            req.signature_algorithm.algorithm.to_id_string()
        ));
    }
    review_subject(&req, node, reasons);
    review_sans(&req, node, reasons);
    review_key(&req.certification_request_info.subject_pki, reasons);
}

fn review_subject(
    req: &X509CertificationRequest<'_>,
    node: &NodeAddresses,
    reasons: &mut Vec<String>,
) {
    let subject = &req.certification_request_info.subject;
    let cn_expected = node.node_user();
    let mut cns = Vec::new();
    let mut os = Vec::new();
    let mut others = Vec::new();
    for rdn in subject.iter() {
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let value = match attr.as_str() {
                Ok(s) => s.to_string(),
                Err(_) => format!("<non-string value, {} bytes>", attr.attr_value().data.len()),
            };
            match oid.as_str() {
                OID_CN => cns.push(value),
                OID_O => os.push(value),
                _ => {
                    let name = x509_parser::objects::oid2sn(
                        attr.attr_type(),
                        x509_parser::objects::oid_registry(),
                    )
                    .map(str::to_string)
                    .unwrap_or(oid);
                    others.push(format!("{name}={value}"));
                }
            }
        }
    }
    if cns != [cn_expected.as_str()] {
        reasons.push(format!(
            "subject CN is {cns:?} (subject {subject}), expected exactly {cn_expected:?}"
        ));
    }
    if os != [NODES_GROUP] {
        reasons.push(format!(
            "subject O is {os:?} (subject {subject}), expected exactly {NODES_GROUP:?}"
        ));
    }
    if !others.is_empty() {
        reasons.push(format!(
            "subject has attributes {others:?}, expected only CN and O"
        ));
    }
}

fn review_sans(
    req: &X509CertificationRequest<'_>,
    node: &NodeAddresses,
    reasons: &mut Vec<String>,
) {
    let ext_requests = req
        .certification_request_info
        .iter_attributes()
        .filter(|a| {
            matches!(
                a.parsed_attribute(),
                ParsedCriAttribute::ExtensionRequest(_)
            )
        })
        .count();
    if ext_requests > 1 {
        reasons.push(format!(
            "the request has {ext_requests} extensionRequest attributes, expected at most one"
        ));
    }
    let mut sans: Vec<&GeneralName<'_>> = Vec::new();
    let mut san_extensions = 0;
    for ext in req.requested_extensions().into_iter().flatten() {
        match ext {
            ParsedExtension::SubjectAlternativeName(san) => {
                san_extensions += 1;
                sans.extend(san.general_names.iter());
            }
            ParsedExtension::ParseError { error } => reasons.push(format!(
                "a requested extension does not parse ({error}), expected well-formed extensions"
            )),
            _ => {}
        }
    }
    if san_extensions > 1 {
        reasons.push(format!(
            "the request has {san_extensions} subjectAltName extensions, expected one"
        ));
    }
    let dns_ok = node.dns_names();
    let ips_ok = node.ip_addresses();
    if sans.is_empty() {
        reasons.push(format!(
            "the request has no subject alternative names, expected some of the node's \
             DNS names {dns_ok:?} and IP addresses {}",
            ip_list(&ips_ok)
        ));
    }
    for san in sans {
        match san {
            GeneralName::DNSName(d) => {
                if !dns_ok.contains(d) {
                    reasons.push(format!(
                        "DNS name {d:?} is not the node's, expected one of {dns_ok:?}"
                    ));
                }
            }
            GeneralName::IPAddress(b) => match ip_of(b) {
                Some(ip) if ips_ok.contains(&ip) => {}
                Some(ip) => reasons.push(format!(
                    "IP address {ip} is not the node's, expected one of {} \
                     (its InternalIP/ExternalIP addresses)",
                    ip_list(&ips_ok)
                )),
                None => reasons.push(format!(
                    "IP address SAN of {} bytes (hex {}), expected 4 or 16 bytes",
                    b.len(),
                    hex::encode(b)
                )),
            },
            other => reasons.push(format!(
                "subject alternative name {other} is not allowed, expected DNS names and \
                 IP addresses only"
            )),
        }
    }
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::from(a));
    }
    <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
}

fn ip_list(ips: &[IpAddr]) -> String {
    format!(
        "[{}]",
        ips.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn review_usages(usages: &[String], reasons: &mut Vec<String>) {
    for u in usages {
        if !ALLOWED_USAGES.contains(&u.as_str()) {
            reasons.push(format!(
                "usage {u:?} is not allowed, expected only {ALLOWED_USAGES:?}"
            ));
        }
    }
    if !usages.iter().any(|u| u == REQUIRED_USAGE) {
        reasons.push(format!("usages {usages:?} lack {REQUIRED_USAGE:?}"));
    }
}

fn review_key(spki: &SubjectPublicKeyInfo<'_>, reasons: &mut Vec<String>) {
    let alg = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    let expected = "expected ECDSA P-256 or RSA of at least 2048 bits";
    match alg.as_str() {
        OID_EC_PUBLIC_KEY => {
            if curve.as_deref() != Some(OID_P256) {
                reasons.push(format!(
                    "key is ECDSA on curve {}, {expected}",
                    curve.as_deref().unwrap_or("<none>")
                ));
            }
        }
        OID_RSA_ENCRYPTION => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => {
                let bits = modulus_bits(rsa.modulus);
                if bits < MIN_RSA_BITS {
                    reasons.push(format!("key is RSA of {bits} bits, {expected}"));
                }
            }
            Ok(_) | Err(_) => reasons.push(format!("RSA key does not parse, {expected}")),
        },
        _ => {
            let name = x509_parser::objects::oid2sn(
                &spki.algorithm.algorithm,
                x509_parser::objects::oid_registry(),
            )
            .map(str::to_string)
            .unwrap_or(alg);
            reasons.push(format!("key algorithm is {name}, {expected}"));
        }
    }
}

/// Bits of a big-endian unsigned integer (leading zero bytes ignored).
fn modulus_bits(m: &[u8]) -> usize {
    match m.iter().position(|&b| b != 0) {
        Some(i) => (m.len() - i - 1) * 8 + (8 - m[i].leading_zeros() as usize),
        None => 0,
    }
}

/// Standard base64 with padding (Go's `encoding/json` for `[]byte`); line
/// breaks and spaces are ignored.
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let chars: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !chars.len().is_multiple_of(4) {
        return Err(format!(
            "{} characters, expected a multiple of 4",
            chars.len()
        ));
    }
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    let quads = chars.len() / 4;
    for (qi, q) in chars.chunks(4).enumerate() {
        let last = qi + 1 == quads;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err(format!("misplaced padding in quad {qi}"));
        }
        let mut n: u32 = 0;
        for &c in &q[..4 - pad] {
            let v = value(c).ok_or_else(|| format!("invalid character {:?}", c as char))?;
            n = (n << 6) | u32::from(v);
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_base64_decodes_padding() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9v\nYmFy").unwrap(), b"foobar");
        assert!(base64_decode("Zm9").is_err());
        assert!(base64_decode("Zg==Zm9v").is_err());
        assert!(base64_decode("Z===").is_err());
        assert!(base64_decode("Zm9*").is_err());
    }

    #[test]
    fn csr_modulus_bits() {
        assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(modulus_bits(&[0x01, 0x00]), 9);
        assert_eq!(modulus_bits(&[0x00]), 0);
    }

    #[test]
    fn csr_node_from_json() {
        let v = serde_json::json!({
            "kind": "Node",
            "metadata": {"name": "n1.example.com"},
            "status": {"addresses": [
                {"type": "InternalIP", "address": "10.0.0.1"},
                {"type": "Hostname", "address": "n1.example.com"},
                {"type": "InternalDNS", "address": "n1.internal"},
            ]}
        });
        let n = NodeAddresses::from_node_json(&v).unwrap();
        assert_eq!(n.dns_names(), ["n1.example.com", "n1.internal"]);
        assert_eq!(n.ip_addresses(), [IpAddr::from([10, 0, 0, 1])]);
        let e = NodeAddresses::from_node_json(&serde_json::json!({"metadata": {}})).unwrap_err();
        assert!(e.contains("metadata.name"), "{e}");
        let e = NodeAddresses::from_node_json(&serde_json::json!({
            "metadata": {"name": "n"}, "status": {"addresses": [{"type": 1}]}
        }))
        .unwrap_err();
        assert!(e.contains("status.addresses"), "{e}");
    }

    #[test]
    fn csr_spec_deserializes_api_json() {
        let s: CsrSpec = serde_json::from_value(serde_json::json!({
            "request": "AA==",
            "signerName": KUBELET_SERVING_SIGNER,
            "usages": ["server auth"],
            "username": "system:node:n",
            "groups": ["system:nodes", "system:authenticated"],
            "uid": "ignored",
            "extra": {}
        }))
        .unwrap();
        assert_eq!(s.signer_name, KUBELET_SERVING_SIGNER);
        assert_eq!(s.groups.len(), 2);
    }
}
