//! A mock apiserver over TLS for mk-kubeapi's tests and bench: hyper 1 on
//! tokio-rustls (ring), requiring a client certificate from the test CA.
//! It answers as the recorded real kube-apiserver v1.28.7 does
//! (/work/shared/reference/kubeadm-1.28.7/calls/e1, e2, d; CSRs and their
//! approval subresource: f1, f2, f3; cordon and uncordon: a, b; evictions
//! with a PodDisruptionBudget: c4, c7, c9): JSON with
//! kind, apiVersion, metadata (uid, resourceVersion, creationTimestamp,
//! managedFields), Status objects for errors. It keeps the objects it
//! holds and records every request. An apply is merged as server-side
//! apply does (`server_side_apply`): maps by key, keyed lists (containers,
//! env, ports, ...) by their merge keys, others replaced; the applier's
//! managedFields entry records what it sent (FieldsV1, e1's shape), and a
//! field it owned and no longer sends is removed unless another manager's
//! entry owns it too.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mk_kubeapi::Credentials;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::{json, Value};

/// A test PKI: a cluster CA, the apiserver's certificate (localhost and
/// 127.0.0.1), and a kubernetes-admin-like client certificate.
pub struct Pki {
    pub ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_der: Vec<u8>,
    pub client_pem: String,
    pub client_key_pem: String,
}

pub fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, "kubernetes");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::CrlSign,
    ];
    let ca = CertifiedIssuer::self_signed(p, ca_key).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    p.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = p.signed_by(&server_key, &ca).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "mk-firstboot");
    p.distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = p.signed_by(&client_key, &ca).unwrap();

    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server_chain: vec![server.der().clone()],
        server_key_der: server_key.serialize_der(),
        client_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

impl Pki {
    /// The mock as a node's own apiserver: trusts the node's cluster CA
    /// (`ca.crt`) for clients and serves the node's `apiserver.crt` (leaf
    /// and intermediate) with its key, as kube-apiserver on that node would.
    pub fn from_node(ca_pem: &str, server_chain_pem: &str, server_key_pem: &str) -> Pki {
        use rustls::pki_types::pem::PemObject;
        let certs = |pem: &str| -> Vec<CertificateDer<'static>> {
            CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let key = PrivateKeyDer::from_pem_slice(server_key_pem.as_bytes()).unwrap();
        Pki {
            ca_pem: ca_pem.to_string(),
            ca_der: certs(ca_pem).remove(0),
            server_chain: certs(server_chain_pem),
            server_key_der: key.secret_der().to_vec(),
            client_pem: String::new(),
            client_key_pem: String::new(),
        }
    }

    pub fn credentials(&self, server: &str) -> Credentials {
        Credentials {
            server: server.to_string(),
            tls_server_name: None,
            ca_pem: self.ca_pem.clone(),
            cert_chain_pem: self.client_pem.clone(),
            key_pem: self.client_key_pem.clone().into(),
        }
    }
}

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

/// kube-apiserver's TLS setup (Go's tls.RequestClientCert): a client
/// certificate is asked for but not checked in the handshake (only the
/// handshake signature is); an unknown one gets 401 afterwards.
#[derive(Debug)]
struct RequestClientCert(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for RequestClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    readyz_failures_left: u32,
    readyz_never: bool,
    /// path -> the other field manager that owns the fields.
    conflicts: BTreeMap<String, String>,
    /// Paths that never answer.
    hang: Vec<String>,
    /// CSR path -> how many approval PUTs find it changed by another
    /// writer just before (so their resourceVersion is stale: 409).
    approval_races: BTreeMap<String, u32>,
    /// Pod path -> how many more evictions a PodDisruptionBudget refuses
    /// (429, calls/c7) before one is allowed (c9).
    eviction_refusals: BTreeMap<String, (u32, String)>,
    counter: u64,
}

impl State {
    fn next_rv(&mut self) -> String {
        self.counter += 1;
        (400 + self.counter).to_string()
    }
}

pub struct Mock {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        // Stop listening; open connections end with their client.
        self.accept.abort();
    }
}

pub const CREATED: &str = "2026-12-06T22:44:32Z";

impl Mock {
    pub async fn start(pki: &Pki) -> Mock {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let client_verifier = Arc::new(RequestClientCert(verifier.clone()));
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(pki.server_chain.clone(), key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Arc<Mutex<State>> = Arc::default();
        let st = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let st = st.clone();
                let verifier = verifier.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    // Authentication as the apiserver's x509 authenticator
                    // does it, after the handshake.
                    let authenticated = tls.get_ref().1.peer_certificates().is_some_and(|c| {
                        verifier
                            .verify_client_cert(&c[0], &c[1..], UnixTime::now())
                            .is_ok()
                    });
                    let svc = hyper::service::service_fn(move |req| {
                        handle(st.clone(), authenticated, req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Mock {
            addr,
            state,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// The requests so far, and forgets them.
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.st().requests)
    }

    /// Stores an object as another client would have made it.
    pub fn put(&self, path: &str, object: Value) {
        self.st().objects.insert(path.to_string(), object);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.st().objects.get(path).cloned()
    }

    pub fn paths(&self) -> Vec<String> {
        self.st().objects.keys().cloned().collect()
    }

    pub fn readyz_failures(&self, n: u32) {
        self.st().readyz_failures_left = n;
    }

    pub fn readyz_never(&self) {
        self.st().readyz_never = true;
    }

    pub fn conflict(&self, path: &str, manager: &str) {
        self.st().conflicts.insert(path.into(), manager.into());
    }

    pub fn hang(&self, path: &str) {
        self.st().hang.push(path.into());
    }

    /// The next `times` approval PUTs of the CSR at `path` race another
    /// writer, which changes the CSR (a label) just before: they answer 409
    /// as a real apiserver does for a stale resourceVersion.
    pub fn approval_race(&self, path: &str, times: u32) {
        self.st().approval_races.insert(path.into(), times);
    }

    /// The next `times` evictions of the pod at `path` are refused by the
    /// PodDisruptionBudget `pdb` (429, as calls/c7).
    pub fn refuse_evictions(&self, path: &str, times: u32, pdb: &str) {
        self.st()
            .eviction_refusals
            .insert(path.into(), (times, pdb.into()));
    }
}

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

fn json_response(status: u16, v: &Value) -> Response<Full<Bytes>> {
    respond(status, "application/json", serde_json::to_vec(v).unwrap())
}

/// A real apiserver's Status object for an error.
fn status(code: u16, reason: &str, message: &str, details: Value) -> Response<Full<Bytes>> {
    json_response(
        code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "details": details, "code": code,
        }),
    )
}

/// Where a path points: (collection path, plural, name if an object).
fn parse_path(path: &str) -> Option<(String, String, Option<String>)> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let rest = match *segs.first()? {
        "api" if segs.len() >= 2 => &segs[2..],
        "apis" if segs.len() >= 3 => &segs[3..],
        _ => return None,
    };
    let (plural, name) = match rest {
        [plural] | ["namespaces", _, plural] => (*plural, None),
        [plural, name] | ["namespaces", _, plural, name] => (*plural, Some(name.to_string())),
        _ => return None,
    };
    let collection = match name {
        Some(ref n) => path.strip_suffix(&format!("/{n}"))?.to_string(),
        None => path.to_string(),
    };
    Some((collection, plural.to_string(), name))
}

/// How server-side apply merges a list, from kube-apiserver v1.28's
/// OpenAPI (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`) for
/// the lists the applied objects have; every other list is atomic (rules,
/// subjects, tolerations, args, command, envFrom, ...), as lists without a
/// list type are.
#[derive(Clone, Copy)]
enum ListType {
    Atomic,
    /// Items keyed by these fields (alphabetical, as the `k:` element
    /// writes them).
    Map(&'static [&'static str]),
    Set,
}

/// `path`: the map keys from the object's root to the list.
fn list_type(path: &[String]) -> ListType {
    let last = path.last().map(String::as_str);
    let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
    let in_container = matches!(
        parent,
        Some("containers" | "initContainers" | "ephemeralContainers")
    );
    match last {
        Some("containers" | "initContainers" | "ephemeralContainers" | "volumes")
        | Some("imagePullSecrets") => ListType::Map(&["name"]),
        Some("env") if in_container => ListType::Map(&["name"]),
        Some("volumeMounts") if in_container => ListType::Map(&["mountPath"]),
        Some("ports") if in_container => ListType::Map(&["containerPort", "protocol"]),
        // A Service's ports.
        Some("ports") if path.len() == 2 && path[0] == "spec" => {
            ListType::Map(&["port", "protocol"])
        }
        Some("ownerReferences") if parent == Some("metadata") => ListType::Map(&["uid"]),
        Some("finalizers") if parent == Some("metadata") => ListType::Set,
        _ => ListType::Atomic,
    }
}

/// The merge-key value of a list item; a port without `protocol` is TCP
/// (the apiserver's default, which apply merges by).
fn key_value<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    static TCP: Value = Value::Null;
    let _ = &TCP;
    item.get(key)
}

/// The `k:{...}` element of a keyed list item.
fn key_element(item: &Value, keys: &[&str]) -> String {
    let fields: Vec<String> = keys
        .iter()
        .map(|k| {
            let v = match item.get(*k) {
                Some(v) => v.clone(),
                None if *k == "protocol" => json!("TCP"),
                None => Value::Null,
            };
            format!("{}:{}", json!(k), v)
        })
        .collect();
    format!("k:{{{}}}", fields.join(","))
}

/// Whether two items of a keyed list are the same item.
fn same_key(a: &Value, b: &Value, keys: &[&str]) -> bool {
    key_element(a, keys) == key_element(b, keys)
}

/// The FieldsV1 node of `v` at `path`, as the apiserver records an apply:
/// `f:key` for map keys, `k:{...}` with `.` for the items of keyed lists,
/// `v:<json>` for set items, a leaf for scalars and atomic lists.
fn fields_v1(v: &Value, path: &mut Vec<String>) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    path.push(k.clone());
                    let node = fields_v1(v, path);
                    path.pop();
                    (format!("f:{k}"), node)
                })
                .collect(),
        ),
        Value::Array(items) => match list_type(path) {
            ListType::Atomic => json!({}),
            ListType::Map(keys) => Value::Object(
                items
                    .iter()
                    .map(|item| {
                        let mut node = fields_v1(item, path);
                        if let Some(m) = node.as_object_mut() {
                            m.insert(".".into(), json!({}));
                        }
                        (key_element(item, keys), node)
                    })
                    .collect(),
            ),
            ListType::Set => Value::Object(
                items
                    .iter()
                    .map(|item| (format!("v:{item}"), json!({})))
                    .collect(),
            ),
        },
        _ => json!({}),
    }
}

/// The fields an applied body sets, as its managedFields entry records
/// them (apiVersion, kind, metadata.name and namespace are not).
fn applied_fields(body: &Value) -> Value {
    let mut fields = body.clone();
    if let Some(m) = fields.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    if let Some(meta) = fields.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("name");
        meta.remove("namespace");
        if meta.is_empty() {
            fields.as_object_mut().unwrap().remove("metadata");
        }
    }
    fields_v1(&fields, &mut Vec::new())
}

fn managed_entry(manager: &str, body: &Value) -> Value {
    json!({
        "manager": manager, "operation": "Apply",
        "apiVersion": body["apiVersion"], "time": CREATED,
        "fieldsType": "FieldsV1", "fieldsV1": applied_fields(body),
    })
}

/// Defaults a real apiserver fills in (so the live object has more than
/// was applied).
fn add_defaults(obj: &mut Value) {
    match obj["kind"].as_str() {
        Some("Deployment") => {
            let spec = &mut obj["spec"];
            spec["revisionHistoryLimit"] = json!(10);
            spec["progressDeadlineSeconds"] = json!(600);
        }
        Some("Service") => obj["spec"]["sessionAffinity"] = json!("None"),
        _ => {}
    }
}

/// Where a FieldsV1 path element points in `node`.
enum Place {
    Key(String),
    Index(usize),
}

fn locate(node: &Value, element: &str) -> Option<Place> {
    if let Some(name) = element.strip_prefix("f:") {
        return node.get(name).map(|_| Place::Key(name.to_string()));
    }
    let items = node.as_array()?;
    let index = if let Some(keys) = element.strip_prefix("k:") {
        let keys: Value = serde_json::from_str(keys).ok()?;
        let names: Vec<&str> = keys.as_object()?.keys().map(String::as_str).collect();
        let wanted = key_element(&keys, &names);
        items
            .iter()
            .position(|i| key_element(i, &names) == wanted)?
    } else if let Some(v) = element.strip_prefix("v:") {
        let v: Value = serde_json::from_str(v).ok()?;
        items.iter().position(|i| *i == v)?
    } else {
        let i: usize = element.strip_prefix("i:")?.parse().ok()?;
        (i < items.len()).then_some(i)?
    };
    Some(Place::Index(index))
}

/// Server-side apply's removal: every field the applier owned (`old`) and
/// no longer applies (`new`) goes, unless another manager owns it too
/// (`others`, their FieldsV1 nodes at the same place).
fn release(
    node: &mut Value,
    old: &serde_json::Map<String, Value>,
    new: Option<&serde_json::Map<String, Value>>,
    others: &[&serde_json::Map<String, Value>],
) {
    let mut gone_keys = Vec::new();
    let mut gone_items = Vec::new();
    for (element, old_sub) in old {
        if element == "." {
            continue;
        }
        let Some(place) = locate(node, element) else {
            continue;
        };
        let new_sub = new.and_then(|n| n.get(element)).and_then(Value::as_object);
        let others_sub: Vec<&serde_json::Map<String, Value>> = others
            .iter()
            .filter_map(|o| o.get(element).and_then(Value::as_object))
            .collect();
        if new_sub.is_none() && others_sub.is_empty() {
            match place {
                Place::Key(k) => gone_keys.push(k),
                Place::Index(i) => gone_items.push(i),
            }
            continue;
        }
        let child = match place {
            Place::Key(k) => &mut node[k.as_str()],
            Place::Index(i) => &mut node[i],
        };
        if let Some(old_sub) = old_sub.as_object() {
            release(child, old_sub, new_sub, &others_sub);
        }
    }
    if let Some(m) = node.as_object_mut() {
        for k in gone_keys {
            m.remove(&k);
        }
    }
    if let Some(items) = node.as_array_mut() {
        gone_items.sort_unstable();
        for i in gone_items.into_iter().rev() {
            items.remove(i);
        }
    }
}

/// Server-side apply's merge of the applied values: maps by key, keyed
/// lists item by item, sets as a union; atomic lists and scalars are
/// replaced.
fn merge(into: &mut Value, from: &Value, path: &mut Vec<String>) {
    match (into, from) {
        (Value::Object(i), Value::Object(f)) => {
            for (k, v) in f {
                path.push(k.clone());
                merge(i.entry(k.clone()).or_insert(Value::Null), v, path);
                path.pop();
            }
        }
        (Value::Array(i), Value::Array(f)) if !matches!(list_type(path), ListType::Atomic) => {
            for item in f {
                match list_type(path) {
                    ListType::Map(keys) => match i.iter_mut().find(|x| same_key(x, item, keys)) {
                        Some(x) => merge(x, item, path),
                        None => i.push(item.clone()),
                    },
                    _ => {
                        if !i.contains(item) {
                            i.push(item.clone());
                        }
                    }
                }
            }
        }
        (i, f) => *i = f.clone(),
    }
}

/// `live` after `manager` applied `body`, as server-side apply leaves it:
/// the fields the manager applied before and no longer does are removed
/// (unless another manager owns them), the applied ones merged in; the
/// manager's Apply entry in managedFields is replaced by one for `body`.
fn server_side_apply(live: &Value, body: &Value, manager: &str) -> Value {
    let entries = live["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let is_ours = |e: &Value| e["manager"] == manager && e["operation"] == "Apply";
    let empty = serde_json::Map::new();
    let old = entries
        .iter()
        .find(|e| is_ours(e))
        .and_then(|e| e["fieldsV1"].as_object())
        .unwrap_or(&empty);
    let new = applied_fields(body);
    let others: Vec<&serde_json::Map<String, Value>> = entries
        .iter()
        .filter(|e| !is_ours(e))
        .filter_map(|e| e["fieldsV1"].as_object())
        .collect();
    let mut out = live.clone();
    release(&mut out, old, new.as_object(), &others);
    merge(&mut out, body, &mut Vec::new());
    add_defaults(&mut out);
    let mut fields: Vec<Value> = entries.iter().filter(|e| !is_ours(e)).cloned().collect();
    fields.push(managed_entry(manager, body));
    out["metadata"]["managedFields"] = json!(fields);
    out
}

fn without_server_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    v
}

fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn handle(
    state: Arc<Mutex<State>>,
    authenticated: bool,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let content_type = req
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let hang = {
        let mut st = state.lock().unwrap();
        st.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            content_type: content_type.clone(),
            body: body.clone(),
        });
        st.hang.contains(&path)
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let mut st = state.lock().unwrap();
    let st = &mut *st;

    if !authenticated {
        return Ok(json_response(
            401,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
        ));
    }
    if path == "/readyz" {
        if st.readyz_never || st.readyz_failures_left > 0 {
            st.readyz_failures_left = st.readyz_failures_left.saturating_sub(1);
            return Ok(respond(
                500,
                "text/plain; charset=utf-8",
                "[+]ping ok\n[+]etcd ok\n[-]poststarthook/rbac/bootstrap-roles failed: reason withheld\nreadyz check failed\n",
            ));
        }
        return Ok(respond(200, "text/plain; charset=utf-8", "ok"));
    }
    if let Some(object_path) = path.strip_suffix("/approval") {
        return Ok(approval(st, &method, object_path, &body));
    }
    if let Some(pod_path) = path.strip_suffix("/eviction") {
        return Ok(eviction(st, &method, pod_path, &body));
    }
    let Some((collection, plural, name)) = parse_path(&path) else {
        return Ok(status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            json!({}),
        ));
    };
    let not_found = |name: &str| {
        status(
            404,
            "NotFound",
            &format!("{plural} \"{name}\" not found"),
            json!({"name": name, "kind": plural}),
        )
    };
    Ok(match (method.as_str(), name) {
        ("GET", Some(name)) => match st.objects.get(&path) {
            Some(o) => json_response(200, o),
            None => not_found(&name),
        },
        ("GET", None) => {
            let selector = query_param(query.as_deref(), "fieldSelector");
            let items: Vec<Value> = st
                .objects
                .iter()
                .filter(|(p, _)| {
                    parse_path(p).is_some_and(|(c, _, n)| {
                        (c == collection || without_namespace(&c) == collection) && n.is_some()
                    })
                })
                .map(|(_, o)| o)
                .filter(
                    |o| match selector.as_deref().and_then(|s| s.split_once('=')) {
                        Some((field, value)) => {
                            o.pointer(&format!("/{}", field.replace('.', "/")))
                                .and_then(Value::as_str)
                                == Some(value)
                        }
                        None => true,
                    },
                )
                .map(|o| {
                    // A real list's items carry neither kind nor apiVersion.
                    let mut o = o.clone();
                    o.as_object_mut().unwrap().remove("kind");
                    o.as_object_mut().unwrap().remove("apiVersion");
                    o
                })
                .collect();
            let rv = st.next_rv();
            json_response(
                200,
                &json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}),
            )
        }
        ("PATCH", Some(name))
            if content_type.as_deref() == Some("application/strategic-merge-patch+json") =>
        {
            strategic_merge_patch(st, &path, &name, &plural, &body)
        }
        ("PATCH", Some(name)) => {
            if content_type.as_deref() != Some("application/apply-patch+yaml") {
                return Ok(status(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format",
                    json!({}),
                ));
            }
            let Some(manager) = query_param(query.as_deref(), "fieldManager") else {
                return Ok(status(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    json!({}),
                ));
            };
            if let Some(other) = st.conflicts.get(&path) {
                return Ok(status(
                    409,
                    "Conflict",
                    &format!("Apply failed with 1 conflict: conflict with \"{other}\" using v1: .data.greeting"),
                    json!({"causes": [{"reason": "FieldManagerConflict", "message": format!("conflict with \"{other}\" using v1"), "field": ".data.greeting"}]}),
                ));
            }
            let applied: Value = match serde_json::from_str(&body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return Ok(status(
                        400,
                        "BadRequest",
                        "the body is not a JSON object",
                        json!({}),
                    ))
                }
            };
            if applied["metadata"]["name"].as_str() != Some(name.as_str()) {
                return Ok(status(
                    400,
                    "BadRequest",
                    &format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        applied["metadata"]["name"]
                    ),
                    json!({}),
                ));
            }
            match st.objects.get(&path).cloned() {
                None => {
                    let mut obj = applied.clone();
                    let rv = st.next_rv();
                    let uid = format!("22979e99-6120-4af7-aa41-{:012x}", st.counter);
                    let meta = &mut obj["metadata"];
                    meta["uid"] = json!(uid);
                    meta["resourceVersion"] = json!(rv);
                    meta["creationTimestamp"] = json!(CREATED);
                    meta["managedFields"] = json!([managed_entry(&manager, &applied)]);
                    add_defaults(&mut obj);
                    st.objects.insert(path.clone(), obj.clone());
                    json_response(201, &obj)
                }
                Some(live) => {
                    let mut obj = server_side_apply(&live, &applied, &manager);
                    if without_server_fields(&obj) != without_server_fields(&live) {
                        obj["metadata"]["resourceVersion"] = json!(st.next_rv());
                    }
                    st.objects.insert(path.clone(), obj.clone());
                    json_response(200, &obj)
                }
            }
        }
        ("DELETE", Some(name)) => match st.objects.get(&path).cloned() {
            None => not_found(&name),
            Some(live) => {
                let opts: Value = serde_json::from_str(&body).unwrap_or(json!({}));
                let want_uid = &opts["preconditions"]["uid"];
                if !want_uid.is_null() && want_uid != &live["metadata"]["uid"] {
                    return Ok(status(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on {plural} \"{name}\": Precondition failed: UID in precondition: {}, UID in object meta: {}",
                            want_uid.as_str().unwrap_or(""),
                            live["metadata"]["uid"].as_str().unwrap_or("")
                        ),
                        json!({"name": name, "kind": plural}),
                    ));
                }
                st.objects.remove(&path);
                json_response(
                    200,
                    &json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "kind": plural, "uid": live["metadata"]["uid"]},
                    }),
                )
            }
        },
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        ),
    })
}

/// A Secret as another client (kubeadm) or mk-firstboot made it.
pub fn token_secret(name: &str, manager: &str, operation: &str) -> Value {
    json!({
        "kind": "Secret", "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": "kube-system",
            "uid": format!("uid-{name}"), "resourceVersion": "300",
            "creationTimestamp": CREATED,
            "managedFields": [{
                "manager": manager, "operation": operation, "apiVersion": "v1",
                "time": CREATED, "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:token-id": {}}, "f:type": {}}
            }]
        },
        "data": {"token-id": "YWJjZGVm"},
        "type": "bootstrap.kubernetes.io/token"
    })
}

/// `PUT <csr>/approval` as kube-apiserver v1.28.7 answers it (calls/f2,
/// call 3): only `status.conditions` of the body are taken; a stale
/// `resourceVersion` is a 409; a new condition gets `lastTransitionTime`.
fn approval(st: &mut State, method: &str, object_path: &str, body: &str) -> Response<Full<Bytes>> {
    const KIND: &str = "certificatesigningrequests.certificates.k8s.io";
    let name = object_path.rsplit('/').next().unwrap_or("").to_string();
    if method != "PUT" {
        return status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        );
    }
    let Some(mut live) = st.objects.get(object_path).cloned() else {
        return status(
            404,
            "NotFound",
            &format!("{KIND} \"{name}\" not found"),
            json!({"name": name, "group": "certificates.k8s.io", "kind": "certificatesigningrequests"}),
        );
    };
    if let Some(n) = st.approval_races.get_mut(object_path).filter(|n| **n > 0) {
        *n -= 1;
        live["metadata"]["labels"]["raced"] = json!(n.to_string());
        live["metadata"]["resourceVersion"] = json!(st.next_rv());
        st.objects.insert(object_path.to_string(), live.clone());
    }
    let sent: Value = match serde_json::from_str(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return status(
                400,
                "BadRequest",
                "the body is not a JSON object",
                json!({}),
            )
        }
    };
    if sent["metadata"]["name"].as_str() != Some(name.as_str()) {
        return status(
            400,
            "BadRequest",
            &format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                sent["metadata"]["name"]
            ),
            json!({}),
        );
    }
    if sent["metadata"]["resourceVersion"] != live["metadata"]["resourceVersion"] {
        return status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {KIND} \"{name}\": the object has been \
                 modified; please apply your changes to the latest version and try again"
            ),
            json!({"name": name, "group": "certificates.k8s.io", "kind": "certificatesigningrequests"}),
        );
    }
    let Some(mut conditions) = sent["status"]["conditions"].as_array().cloned() else {
        return status(
            422,
            "Invalid",
            &format!("{KIND} \"{name}\" is invalid: status.conditions: Required value"),
            json!({}),
        );
    };
    for c in &mut conditions {
        if c["lastTransitionTime"].is_null() {
            c["lastTransitionTime"] = c["lastUpdateTime"].clone();
        }
    }
    live["status"]["conditions"] = json!(conditions);
    live["metadata"]["resourceVersion"] = json!(st.next_rv());
    st.objects.insert(object_path.to_string(), live.clone());
    json_response(200, &live)
}

/// The path of a CSR.
pub fn csr_path(name: &str) -> String {
    format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}")
}

/// A pending CSR as the apiserver holds it after `kubectl create` (calls/f1's
/// answer): `request` is base64 of the PEM, `username` and `groups` are the
/// requester's.
pub fn csr(name: &str, signer: &str, request_b64: &str, username: &str, groups: &[&str]) -> Value {
    json!({
        "kind": "CertificateSigningRequest",
        "apiVersion": "certificates.k8s.io/v1",
        "metadata": {
            "name": name,
            "uid": format!("uid-{name}"),
            "resourceVersion": "475",
            "creationTimestamp": "2026-12-06T22:44:33Z"
        },
        "spec": {
            "request": request_b64,
            "signerName": signer,
            "usages": ["digital signature", "key encipherment", "server auth"],
            "username": username,
            "groups": groups,
        },
        "status": {}
    })
}

/// A registered Node with `status.addresses` (type, address).
pub fn node(name: &str, addresses: &[(&str, &str)]) -> Value {
    json!({
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": format!("node-{name}"),
            "resourceVersion": "300",
            "creationTimestamp": CREATED,
            "labels": {"kubernetes.io/hostname": name},
        },
        "status": {
            "addresses": addresses
                .iter()
                .map(|(t, a)| json!({"type": t, "address": a}))
                .collect::<Vec<_>>(),
        },
    })
}

/// `/api/v1/namespaces/ns/pods` for `/api/v1/pods`-style cluster-wide lists.
fn without_namespace(collection: &str) -> String {
    let segs: Vec<&str> = collection.split('/').collect();
    match segs.iter().position(|s| *s == "namespaces") {
        Some(i) if i + 2 < segs.len() => [&segs[..i], &segs[i + 2..]].concat().join("/"),
        _ => collection.to_string(),
    }
}

/// A strategic merge patch of the fields mk-rollout sends (calls/a, b:
/// `spec.unschedulable` true or null): maps merge, null removes, anything
/// else replaces. The answer is the patched object, 200.
fn strategic_merge_patch(
    st: &mut State,
    path: &str,
    name: &str,
    plural: &str,
    body: &str,
) -> Response<Full<Bytes>> {
    fn apply(into: &mut Value, patch: &Value) {
        match (into, patch) {
            (Value::Object(i), Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        i.remove(k);
                    } else {
                        apply(i.entry(k.clone()).or_insert(json!({})), v);
                    }
                }
            }
            (i, p) => *i = p.clone(),
        }
    }
    let Some(mut live) = st.objects.get(path).cloned() else {
        return status(
            404,
            "NotFound",
            &format!("{plural} \"{name}\" not found"),
            json!({"name": name, "kind": plural}),
        );
    };
    let patch: Value = match serde_json::from_str(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return status(
                400,
                "BadRequest",
                "the body is not a JSON object",
                json!({}),
            )
        }
    };
    let before = live.clone();
    apply(&mut live, &patch);
    if live != before {
        live["metadata"]["resourceVersion"] = json!(st.next_rv());
    }
    st.objects.insert(path.to_string(), live.clone());
    json_response(200, &live)
}

/// `POST <pod>/eviction` as kube-apiserver v1.28.7 answers it: 201 and a
/// Success Status when allowed (calls/c9; the pod is deleted), 429 with
/// the PodDisruptionBudget's cause when refused (c7), 404 for no pod.
fn eviction(st: &mut State, method: &str, pod_path: &str, body: &str) -> Response<Full<Bytes>> {
    let name = pod_path.rsplit('/').next().unwrap_or("").to_string();
    if method != "POST" {
        return status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        );
    }
    let sent: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if sent["kind"] != "Eviction" || sent["metadata"]["name"].as_str() != Some(name.as_str()) {
        return status(
            400,
            "BadRequest",
            "name in URL does not match name in Eviction object",
            json!({}),
        );
    }
    if !st.objects.contains_key(pod_path) {
        return status(
            404,
            "NotFound",
            &format!("pods \"{name}\" not found"),
            json!({"name": name, "kind": "pods"}),
        );
    }
    if let Some((n, pdb)) = st
        .eviction_refusals
        .get_mut(pod_path)
        .filter(|(n, _)| *n > 0)
    {
        *n -= 1;
        let pdb = pdb.clone();
        return status(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
            json!({"causes": [{"reason": "DisruptionBudget",
                "message": format!("The disruption budget {pdb} needs 2 healthy pods and has 2 currently")}]}),
        );
    }
    st.objects.remove(pod_path);
    json_response(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

/// A pod on `node`; `owner` is the kind of its controller (`ReplicaSet`,
/// `DaemonSet`, ...) or `None`; a mirror pod carries the
/// kubernetes.io/config.mirror annotation.
pub fn pod(namespace: &str, name: &str, node: &str, owner: Option<&str>, mirror: bool) -> Value {
    let mut p = json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": namespace,
            "uid": format!("pod-{name}"), "resourceVersion": "500",
            "creationTimestamp": CREATED,
        },
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]},
        "status": {"phase": "Running"},
    });
    if let Some(kind) = owner {
        p["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": kind, "name": format!("{name}-owner"),
            "uid": format!("owner-{name}"), "controller": true, "blockOwnerDeletion": true,
        }]);
    }
    if mirror {
        p["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "0123456789abcdef"});
    }
    p
}

/// The path of a pod.
pub fn pod_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods/{name}")
}
