//! The effects side of first boot's API step on a control-plane node: wait
//! for the apiserver's /readyz, apply the objects planned by `mk-cluster`
//! with server-side apply (field manager `mk-firstboot`), wait for the
//! kubelet to register the Node, prune what mk-firstboot applied and no
//! longer plans.
//!
//! It also serves the kubelet-serving CSR approver (`mk-firstboot
//! approve-csrs`): raw reads ([`ApiClient::get_json`],
//! [`ApiClient::list_json`]) and [`ApiClient::approve_csr`].
//!
//! And mk-rollout's node maintenance (`node.rs`): cordon, uncordon, the
//! pods of a node, evictions.
//!
//! Every decision is in [`decide`] (pure, unit-tested); this file only
//! sends requests. All requests are raw JSON through kube's `Client`, over
//! hyper-rustls with our own rustls configuration on ring (no aws-lc-rs, no
//! OpenSSL). Every network wait is bounded: each request by its own
//! timeout, each polling loop by the caller's.
//!
//! Async on tokio: [`client`] must be called inside the runtime (kube's
//! client spawns its request buffer task there); a current-thread runtime
//! is enough.

pub mod decide;
mod node;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::middleware::BaseUriLayer;
use mk_cluster::object::ApiObject;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use tracing::{debug, info, warn};

pub use decide::{Outcome, FIELD_MANAGER};
pub use node::Eviction;

/// How to reach and authenticate to the apiserver. The client certificate
/// lives only in memory: the caller mints a short-lived one, nothing is read
/// from disk here.
pub struct Credentials {
    /// `https://host:port`.
    pub server: String,
    /// Verify the server certificate against this DNS name instead of the
    /// URL's host (for a URL with an IP address).
    pub tls_server_name: Option<String>,
    /// The cluster CA (PEM); the only trust anchor.
    pub ca_pem: String,
    /// The client certificate, then any intermediates (PEM).
    pub cert_chain_pem: String,
    pub key_pem: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never goes into logs or panics.
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("tls_server_name", &self.tls_server_name)
            .finish_non_exhaustive()
    }
}

/// One object as [`ApiClient::apply`] left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `Kind namespace/name`, as [`ApiObject::id`] names it.
    pub id: String,
    pub outcome: Outcome,
}

/// A kind of object to prune: every object of it that mk-firstboot applied
/// and that is not kept is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneKind {
    /// `v1`, `rbac.authorization.k8s.io/v1`, ...
    pub api_version: String,
    /// The resource's plural name in URLs (`secrets`).
    pub plural: String,
    /// `None` for cluster-scoped resources.
    pub namespace: Option<String>,
    /// A server-side filter, e.g. `type=bootstrap.kubernetes.io/token`.
    pub field_selector: Option<String>,
}

impl PruneKind {
    fn describe(&self) -> String {
        let mut s = format!("{} {}", self.api_version, self.plural);
        if let Some(ns) = &self.namespace {
            s.push_str(&format!(" in {ns}"));
        }
        if let Some(sel) = &self.field_selector {
            s.push_str(&format!(" with {sel}"));
        }
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("apiserver credentials: {0}")]
    Credentials(String),
    #[error("apiserver URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error(
        "mk-kubeapi's client must be made inside a tokio runtime (kube's client spawns its \
         request buffer there)"
    )]
    NoRuntime,
    #[error("{what}: {name:?} cannot be a URL path segment (empty, '.', '..', or contains '/', '?', '#', '%', spaces or controls)")]
    BadName { what: String, name: String },
    /// No answer: connection refused, TLS refused, reset, ...
    #[error("{what}: {method} {url}: {reason}")]
    Request {
        what: String,
        method: Method,
        url: String,
        reason: String,
    },
    #[error("{what}: {method} {url}: no complete answer within {timeout:?}")]
    Timeout {
        what: String,
        method: Method,
        url: String,
        timeout: Duration,
    },
    /// An answer, but not the one expected; `message` is the apiserver's
    /// Status message (a 409 conflict names the other field manager).
    #[error("{what}: {method} {url} answered HTTP {status}, expected {expected}: {message}")]
    Status {
        what: String,
        method: Method,
        url: String,
        status: u16,
        expected: &'static str,
        message: String,
    },
    #[error("{what}: {method} {url} answered HTTP {status} with a body that is not a JSON object: {reason}")]
    BadAnswer {
        what: String,
        method: Method,
        url: String,
        status: u16,
        reason: String,
    },
    #[error("{url}: the apiserver was not ready after waiting {waited:.1?} ({polls} polls); last answer: {last}")]
    NotReady {
        url: String,
        waited: Duration,
        polls: u32,
        last: String,
    },
    /// The approval of a CSR was not sent, or not repeated after a 409,
    /// because the request is no longer (or never was) the one reviewed.
    #[error("CertificateSigningRequest {name}: not approved: {reason}")]
    NotApproved { name: String, reason: String },
    #[error(
        "Node {name}: the kubelet never registered the node: waited {waited:.1?} for {url} to \
         carry the label kubernetes.io/hostname; last answer: {last}"
    )]
    NodeNotRegistered {
        name: String,
        url: String,
        waited: Duration,
        last: String,
    },
}

/// A connected client. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    client: kube::Client,
    /// `https://host:port`, for messages.
    server: String,
    request_timeout: Duration,
    poll_interval: Duration,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Each request's own bound (connect, TLS, answer and body).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the wait loops ask again.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// A connect must not take a whole request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for `creds` on the node's rustls provider (ring, with
/// /dev/urandom randomness: [`mk_nodetls::provider`]).
pub fn client(creds: &Credentials) -> Result<ApiClient, ApiError> {
    client_with_provider(creds, Arc::new(mk_nodetls::provider()))
}

/// A client for `creds` on a given rustls provider.
pub fn client_with_provider(
    creds: &Credentials,
    provider: Arc<CryptoProvider>,
) -> Result<ApiClient, ApiError> {
    tokio::runtime::Handle::try_current().map_err(|_| ApiError::NoRuntime)?;
    let server = creds.server.trim_end_matches('/').to_string();
    let url_err = |reason: &str| ApiError::Url {
        url: creds.server.clone(),
        reason: reason.to_string(),
    };
    let uri: http::Uri = server
        .parse()
        .map_err(|e| url_err(&format!("not a URL: {e}")))?;
    if uri.scheme_str() != Some("https") {
        return Err(url_err(
            "must be https://host:port (the apiserver is TLS only)",
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(url_err("has no host"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(url_err("must not have a path or query"));
    }
    let tls = tls::client_config(creds, provider)?;

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only();
    let builder = match &creds.tls_server_name {
        Some(name) => {
            let name = ServerName::try_from(name.clone()).map_err(|e| {
                ApiError::Credentials(format!("tls_server_name {name:?}: not a DNS name: {e}"))
            })?;
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    let connector = builder.enable_http1().wrap_connector(http);
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector);
    let service = tower::ServiceBuilder::new()
        .layer(BaseUriLayer::new(uri))
        .service(hyper);
    Ok(ApiClient {
        client: kube::Client::new(service, "default"),
        server,
        request_timeout: REQUEST_TIMEOUT,
        poll_interval: POLL_INTERVAL,
    })
}

/// A request that got no answer.
enum CallError {
    Timeout,
    Failed { reason: String, tls: bool },
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// The messages of an error and its causes, once each, and whether TLS
/// (rustls) refused: that does not get better by asking again.
fn describe_error(err: &(dyn std::error::Error + 'static)) -> (String, bool) {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            // The layers above only say "client error (Connect)".
            return (
                format!("TLS handshake failed: {tls}{}", tls_hint(tls)),
                true,
            );
        }
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        // io::Error::source() skips the error it wraps; look inside.
        cur = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    (parts.join(": "), false)
}

/// What a rustls refusal usually means here.
fn tls_hint(e: &rustls::Error) -> &'static str {
    use rustls::{AlertDescription as A, CertificateError as C};
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            " (the apiserver's certificate is not signed by the CA in ca_pem)"
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => " (the apiserver's certificate does not name the host of the URL or tls_server_name)",
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => " (a certificate outside its validity period: check the clock)",
        rustls::Error::AlertReceived(
            A::BadCertificate | A::UnknownCA | A::CertificateRequired | A::CertificateExpired,
        ) => " (the apiserver refused our client certificate)",
        _ => "",
    }
}

impl ApiClient {
    /// Each request's own timeout and the wait loops' interval (defaults
    /// [`REQUEST_TIMEOUT`], [`POLL_INTERVAL`]).
    pub fn with_timing(mut self, request_timeout: Duration, poll_interval: Duration) -> Self {
        self.request_timeout = request_timeout;
        self.poll_interval = poll_interval;
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Answer, CallError> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                concat!("mk-firstboot/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let req = req
            .body(kube::client::Body::from(body))
            .map_err(|e| CallError::Failed {
                reason: format!("cannot build the request: {e}"),
                tls: false,
            })?;
        let started = Instant::now();
        let exchange = async {
            let resp = self.client.send(req).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect_bytes().await?;
            Ok::<_, kube::Error>(Answer {
                status,
                body: body.to_vec(),
            })
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(CallError::Timeout),
            Ok(Err(e)) => {
                let (reason, tls) = describe_error(&e);
                Err(CallError::Failed { reason, tls })
            }
            Ok(Ok(a)) => Ok(a),
        };
        match &result {
            Ok(a) => {
                debug!(%method, path, status = a.status, elapsed = ?started.elapsed(), "apiserver answered")
            }
            Err(CallError::Timeout) => debug!(%method, path, ?timeout, "no answer in time"),
            Err(CallError::Failed { reason, .. }) => {
                debug!(%method, path, reason, "request failed")
            }
        }
        result
    }

    /// [`Self::call`] with the error named after `what`.
    async fn request(
        &self,
        what: &str,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, ApiError> {
        self.call(
            method.clone(),
            path,
            content_type,
            body,
            self.request_timeout,
        )
        .await
        .map_err(|e| self.call_error(what, method, path, e, self.request_timeout))
    }

    fn call_error(
        &self,
        what: &str,
        method: Method,
        path: &str,
        e: CallError,
        timeout: Duration,
    ) -> ApiError {
        match e {
            CallError::Timeout => ApiError::Timeout {
                what: what.to_string(),
                method,
                url: self.url(path),
                timeout,
            },
            CallError::Failed { reason, .. } => ApiError::Request {
                what: what.to_string(),
                method,
                url: self.url(path),
                reason,
            },
        }
    }

    fn status_error(
        &self,
        what: &str,
        method: Method,
        path: &str,
        answer: &Answer,
        expected: &'static str,
    ) -> ApiError {
        ApiError::Status {
            what: what.to_string(),
            method,
            url: self.url(path),
            status: answer.status,
            expected,
            message: decide::answer_message(&answer.body),
        }
    }

    fn json_body(
        &self,
        what: &str,
        method: Method,
        path: &str,
        answer: &Answer,
    ) -> Result<Value, ApiError> {
        match serde_json::from_slice::<Value>(&answer.body) {
            Ok(v) if v.is_object() => Ok(v),
            Ok(_) => Err("JSON, but not an object".to_string()),
            Err(e) => Err(format!(
                "{e}; the body starts {}",
                decide::snippet(&answer.body)
            )),
        }
        .map_err(|reason| ApiError::BadAnswer {
            what: what.to_string(),
            method,
            url: self.url(path),
            status: answer.status,
            reason,
        })
    }

    /// Polls GET /readyz until it answers 200; returns how long that took.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Duration, ApiError> {
        const PATH: &str = "/readyz";
        let started = Instant::now();
        let deadline = started + timeout;
        let mut polls = 0u32;
        let mut last = "none (no poll finished)".to_string();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(ApiError::NotReady {
                    url: self.url(PATH),
                    waited: started.elapsed(),
                    polls,
                    last,
                });
            }
            let poll_timeout = self.request_timeout.min(deadline - now);
            polls += 1;
            match self
                .call(Method::GET, PATH, None, Vec::new(), poll_timeout)
                .await
            {
                Ok(a) if a.status == 200 => {
                    let waited = started.elapsed();
                    info!(server = %self.server, ?waited, polls, "apiserver ready");
                    return Ok(waited);
                }
                // The apiserver authenticates every path, /readyz too, and
                // its authenticators are in place before it listens: our
                // client certificate was refused, which waiting won't change.
                Ok(a) if a.status == 401 => {
                    return Err(self.status_error(
                        "apiserver readiness",
                        Method::GET,
                        PATH,
                        &a,
                        "200 (401: the apiserver does not accept our client certificate)",
                    ));
                }
                Ok(a) => {
                    last = format!("HTTP {}: {}", a.status, decide::snippet(&a.body));
                }
                Err(CallError::Timeout) => {
                    last = format!("no answer within {poll_timeout:?}");
                }
                Err(CallError::Failed { reason, tls: true }) => {
                    // A certificate that does not verify will not start to.
                    return Err(ApiError::Request {
                        what: "apiserver readiness".into(),
                        method: Method::GET,
                        url: self.url(PATH),
                        reason,
                    });
                }
                Err(CallError::Failed { reason, .. }) => last = reason,
            }
            debug!(polls, last, "apiserver not ready yet");
            tokio::time::sleep_until((now + self.poll_interval).min(deadline).into()).await;
        }
    }

    /// Applies `objects` in order: unchanged ones are left alone without a
    /// write, the others go through server-side apply as `mk-firstboot`.
    /// Unchanged means that every field of the object is live with the same
    /// value and that mk-firstboot's earlier applies own no field the
    /// object no longer has ([`decide::stale`]): a field dropped from the
    /// plan is removed by the apply that releases it.
    /// Stops at the first error.
    pub async fn apply(&self, objects: &[ApiObject]) -> Result<Vec<Applied>, ApiError> {
        let mut done = Vec::with_capacity(objects.len());
        for obj in objects {
            let outcome = self.apply_one(obj).await?;
            info!(object = %obj.id(), %outcome, "applied");
            done.push(Applied {
                id: obj.id(),
                outcome,
            });
        }
        Ok(done)
    }

    async fn apply_one(&self, obj: &ApiObject) -> Result<Outcome, ApiError> {
        let id = obj.id();
        for name in std::iter::once(&obj.name).chain(obj.namespace.iter()) {
            if !decide::valid_path_segment(name) {
                return Err(ApiError::BadName {
                    what: id,
                    name: name.clone(),
                });
            }
        }
        let path = obj.path();
        let live = self
            .request(&id, Method::GET, &path, None, Vec::new())
            .await?;
        match live.status {
            200 => {
                let live = self.json_body(&id, Method::GET, &path, &live)?;
                match decide::stale(&obj.body, &live) {
                    None => return Ok(Outcome::Unchanged),
                    Some(why) => debug!(object = %id, %why, "to apply"),
                }
            }
            404 => {}
            _ => return Err(self.status_error(&id, Method::GET, &path, &live, "200 or 404")),
        }
        let url = decide::apply_url(&path);
        let body = serde_json::to_vec(&obj.body).expect("a serde_json::Value serialises");
        let answer = self
            .request(
                &id,
                Method::PATCH,
                &url,
                Some("application/apply-patch+yaml"),
                body,
            )
            .await?;
        decide::apply_outcome(answer.status)
            .ok_or_else(|| self.status_error(&id, Method::PATCH, &url, &answer, "200 or 201"))
    }

    /// Waits until the Node `name` exists and carries the label
    /// kubernetes.io/hostname, which the kubelet sets when it registers;
    /// returns the Node.
    pub async fn wait_node(&self, name: &str, timeout: Duration) -> Result<Value, ApiError> {
        let what = format!("Node {name}");
        if !decide::valid_path_segment(name) {
            return Err(ApiError::BadName {
                what,
                name: name.to_string(),
            });
        }
        let path = format!("/api/v1/nodes/{name}");
        let started = Instant::now();
        let deadline = started + timeout;
        let mut last = "none (no poll finished)".to_string();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(ApiError::NodeNotRegistered {
                    name: name.to_string(),
                    url: self.url(&path),
                    waited: started.elapsed(),
                    last,
                });
            }
            let poll_timeout = self.request_timeout.min(deadline - now);
            match self
                .call(Method::GET, &path, None, Vec::new(), poll_timeout)
                .await
            {
                Ok(a) if a.status == 200 => {
                    let node = self.json_body(&what, Method::GET, &path, &a)?;
                    if decide::node_registered(&node) {
                        info!(node = name, waited = ?started.elapsed(), "node registered");
                        return Ok(node);
                    }
                    last = "HTTP 200, but the Node has no label kubernetes.io/hostname yet".into();
                }
                Ok(a) if a.status == 404 => {
                    last = format!("HTTP 404: {}", decide::answer_message(&a.body));
                }
                // Not allowed to read Nodes: asking again will not help.
                Ok(a) if matches!(a.status, 400 | 401 | 403) => {
                    return Err(self.status_error(&what, Method::GET, &path, &a, "200 or 404"));
                }
                Ok(a) => last = format!("HTTP {}: {}", a.status, decide::answer_message(&a.body)),
                Err(CallError::Timeout) => last = format!("no answer within {poll_timeout:?}"),
                Err(e @ CallError::Failed { tls: true, .. }) => {
                    return Err(self.call_error(&what, Method::GET, &path, e, poll_timeout));
                }
                Err(CallError::Failed { reason, .. }) => last = reason,
            }
            debug!(node = name, last, "node not registered yet");
            tokio::time::sleep_until((now + self.poll_interval).min(deadline).into()).await;
        }
    }

    /// Deletes every object of `kind` that mk-firstboot applied (managedFields)
    /// and whose name is not in `keep`; returns the names deleted. Objects
    /// that others made are never touched.
    pub async fn prune(&self, kind: &PruneKind, keep: &[String]) -> Result<Vec<String>, ApiError> {
        let what = format!("prune {}", kind.describe());
        if let Some(ns) = &kind.namespace {
            if !decide::valid_path_segment(ns) {
                return Err(ApiError::BadName {
                    what,
                    name: ns.clone(),
                });
            }
        }
        let collection =
            decide::collection_path(&kind.api_version, &kind.plural, kind.namespace.as_deref());
        let list_url = decide::list_url(&collection, kind.field_selector.as_deref());
        let answer = self
            .request(&what, Method::GET, &list_url, None, Vec::new())
            .await?;
        if answer.status != 200 {
            return Err(self.status_error(&what, Method::GET, &list_url, &answer, "200"));
        }
        let list = self.json_body(&what, Method::GET, &list_url, &answer)?;
        let mut deleted = Vec::new();
        for (name, item) in decide::list_items(&list) {
            if keep.iter().any(|k| k == name) || !decide::owned_by_us(item) {
                continue;
            }
            if !decide::valid_path_segment(name) {
                warn!(name, "not pruned: the name cannot be a URL path segment");
                continue;
            }
            let path = format!("{collection}/{name}");
            let item_what = format!("prune {} {name}", kind.plural);
            // Preconditions: delete only the object we looked at, not one
            // that was recreated or changed since the list.
            let mut preconditions = serde_json::Map::new();
            if let Some(uid) = item.pointer("/metadata/uid") {
                preconditions.insert("uid".into(), uid.clone());
            }
            if let Some(rv) = item.pointer("/metadata/resourceVersion") {
                preconditions.insert("resourceVersion".into(), rv.clone());
            }
            let body = json!({
                "kind": "DeleteOptions",
                "apiVersion": "v1",
                "preconditions": preconditions,
            });
            let answer = self
                .request(
                    &item_what,
                    Method::DELETE,
                    &path,
                    Some("application/json"),
                    serde_json::to_vec(&body).expect("a serde_json::Value serialises"),
                )
                .await?;
            match answer.status {
                200 | 202 => {
                    info!(name, kind = %kind.describe(), "pruned");
                    deleted.push(name.to_string());
                }
                // Gone already (a token cleaner, another run): nothing to do.
                404 => debug!(name, "already gone"),
                _ => {
                    return Err(self.status_error(
                        &item_what,
                        Method::DELETE,
                        &path,
                        &answer,
                        "200 or 202",
                    ))
                }
            }
        }
        Ok(deleted)
    }

    /// GET `path` (an object's path, e.g. `/api/v1/nodes/n1`); the object
    /// on 200, else an error with the apiserver's message (404 included).
    pub async fn get_json(&self, path: &str) -> Result<Value, ApiError> {
        let what = format!("read {path}");
        let answer = self
            .request(&what, Method::GET, path, None, Vec::new())
            .await?;
        if answer.status != 200 {
            return Err(self.status_error(&what, Method::GET, path, &answer, "200"));
        }
        self.json_body(&what, Method::GET, path, &answer)
    }

    /// The items of a collection (`/api/v1/nodes`), optionally filtered by
    /// a field selector on the server. One request, no paging: meant for
    /// the small collections mk reads (Nodes, CSRs, which kube-controller-
    /// manager deletes within a day).
    pub async fn list_json(
        &self,
        collection_path: &str,
        field_selector: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        let what = format!("list {collection_path}");
        let url = decide::list_url(collection_path, field_selector);
        let answer = self
            .request(&what, Method::GET, &url, None, Vec::new())
            .await?;
        if answer.status != 200 {
            return Err(self.status_error(&what, Method::GET, &url, &answer, "200"));
        }
        let mut list = self.json_body(&what, Method::GET, &url, &answer)?;
        match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => Ok(items),
            // A real apiserver omits nothing, but an empty list may come as null.
            Some(Value::Null) => Ok(Vec::new()),
            other => Err(ApiError::BadAnswer {
                what,
                method: Method::GET,
                url: self.url(&url),
                status: answer.status,
                reason: format!(
                    "items is {}, expected a list",
                    other.map_or("missing".to_string(), |v| v.to_string())
                ),
            }),
        }
    }

    /// Approves the CertificateSigningRequest `name` as `kubectl certificate
    /// approve` does (calls/f2): PUT of `live_csr` to its `approval`
    /// subresource with an `Approved` condition appended, `resourceVersion`
    /// kept so that a concurrent change answers 409. After a 409 the CSR is
    /// read again and, if it is still the same pending request, approved
    /// once more; a second 409 is an error. Returns the CSR as the
    /// apiserver answered (or as someone else approved it meanwhile).
    ///
    /// Whether to approve is the caller's decision; this only refuses a
    /// `live_csr` that is not `name`, or is already denied or failed.
    pub async fn approve_csr(
        &self,
        name: &str,
        live_csr: &Value,
        reason: &str,
    ) -> Result<Value, ApiError> {
        let what = format!("approve CertificateSigningRequest {name}");
        if !decide::valid_path_segment(name) {
            return Err(ApiError::BadName {
                what,
                name: name.to_string(),
            });
        }
        let not_approved = |reason: String| ApiError::NotApproved {
            name: name.to_string(),
            reason,
        };
        let named = live_csr.pointer("/metadata/name").and_then(Value::as_str);
        if named != Some(name) {
            return Err(not_approved(format!(
                "the object given is named {named:?}, expected {name:?}"
            )));
        }
        match decide::csr_decided(live_csr) {
            None => {}
            Some("Approved") => return Ok(live_csr.clone()),
            Some(other) => return Err(not_approved(format!("it is {other} already"))),
        }
        let object_path = format!("{}/{name}", decide::CSR_COLLECTION);
        let path = format!("{object_path}/approval");
        let mut current = live_csr.clone();
        let mut conflicts = 0;
        loop {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let body = decide::approval_body(&current, reason, &decide::rfc3339_utc(now));
            let answer = self
                .request(
                    &what,
                    Method::PUT,
                    &path,
                    Some("application/json"),
                    serde_json::to_vec(&body).expect("a serde_json::Value serialises"),
                )
                .await?;
            match answer.status {
                200 => {
                    info!(csr = name, reason, "approved");
                    return self.json_body(&what, Method::PUT, &path, &answer);
                }
                // Changed since it was read (a label, a status update, or
                // another approver): look again, once.
                409 if conflicts == 0 => {
                    conflicts += 1;
                    warn!(
                        csr = name,
                        message = %decide::answer_message(&answer.body),
                        "the CSR changed since it was read (HTTP 409); reading it again"
                    );
                    let fresh = self.get_json(&object_path).await?;
                    match decide::after_conflict(live_csr, &fresh) {
                        decide::AfterConflict::Retry => current = fresh,
                        decide::AfterConflict::AlreadyApproved => {
                            info!(csr = name, "approved by someone else meanwhile");
                            return Ok(fresh);
                        }
                        decide::AfterConflict::GiveUp(why) => return Err(not_approved(why)),
                    }
                }
                409 => {
                    return Err(self.status_error(
                        &what,
                        Method::PUT,
                        &path,
                        &answer,
                        "200 (it changed again after being read anew; the next pass retries)",
                    ))
                }
                _ => return Err(self.status_error(&what, Method::PUT, &path, &answer, "200")),
            }
        }
    }
}
