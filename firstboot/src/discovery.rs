//! Token discovery on a joining worker: how a node whose config carries
//! `spec.join.token` and `spec.join.caCertHashes` but no `ca.crt` learns
//! the cluster CA before planning (its bootstrap-kubelet.conf and the
//! kubelet's clientCAFile name /etc/kubernetes/pki/ca.crt).
//!
//! As kubeadm's token discovery: an anonymous HTTPS GET of
//! `kube-public/cluster-info` from `spec.cluster.apiEndpoint` that does not
//! trust the server's certificate (the node has no CA yet); trust comes
//! from the bootstrapsigner's JWS over the kubeconfig (made with the
//! token's secret) and from the CA's public-key hash (mk-cluster's
//! `discovery::validate`). Then the same GET again over a connection
//! checked against the CA just found (chain and host name, WebPKI), which
//! must return the same signed kubeconfig. Everything is bounded: each
//! connection and read, the whole of discovery with its retries, and the
//! response size. The request is [`mk_nodetls::http`]'s, on rustls with
//! [`mk_nodetls::provider`] (CentOS 7 has no getrandom(2)).
//!
//! A node that discovered the CA on an earlier boot keeps it: later boots
//! read /etc/kubernetes/pki/ca.crt (checked against the hashes again) and
//! need neither the network nor the token, which has expired by then.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mk_cluster::discovery as checks;
use mk_nodetls::http;
use mk_nodetls::net::ResolveError;
use mk_nodetls::provider;
use mk_roleconfig::{NodeConfig, Role};
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use thiserror::Error;

use crate::source::https::{outcome, Deadline, FetchError};

/// The apiserver path of cluster-info.
pub const CLUSTER_INFO_PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";
/// Where first boot writes the cluster CA (kubeadm's ca.crt), under the root.
pub const CA_FILE: &str = "etc/kubernetes/pki/ca.crt";
/// The `spec.certificates` key of the cluster CA.
pub const CA_KEY: &str = "ca.crt";

/// How long discovery may take.
#[derive(Debug, Clone)]
pub struct Options {
    /// Each connection and each read waits at most this.
    pub timeout: Duration,
    /// All of discovery, every attempt and pause included, ends by then.
    /// kubeadm's default discovery timeout: a worker powered on together
    /// with its control plane waits for the apiserver and for the token's
    /// signature.
    pub deadline: Duration,
    /// The pause between attempts.
    pub retry_every: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(300),
            retry_every: Duration::from_secs(5),
        }
    }
}

/// The cluster CA and the apiserver URL that cluster-info names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub ca_pem: String,
    pub server: String,
    /// The `sha256:` hash that matched.
    pub ca_hash: String,
}

/// Where the CA that planning uses came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaOrigin {
    /// `spec.certificates` has `ca.crt`, or the node does not join with a
    /// token: nothing to do.
    Delivered,
    /// Discovered on an earlier boot: read from /etc/kubernetes/pki/ca.crt.
    Earlier { ca_hash: String },
    /// Discovered now.
    Discovered(Discovered),
}

#[derive(Debug, Error)]
pub enum DiscoveryError {
    /// cluster-info was fetched and refused (a wrong secret, a CA hash
    /// that does not match, a kubeconfig that is not one).
    #[error("discovery of the cluster CA (spec.join.token) from {url}")]
    Refused {
        url: String,
        #[source]
        source: checks::DiscoveryError,
    },
    /// The deadline came before an acceptable cluster-info; `source` is
    /// the last attempt's error.
    #[error(
        "discovery of the cluster CA (spec.join.token) from {url}: gave up after {secs} s and \
         {attempts} attempt(s); the last"
    )]
    GaveUp {
        url: String,
        secs: u64,
        attempts: u32,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The apiserver's certificate does not verify against the CA that
    /// cluster-info carries: whoever answered is not that cluster's
    /// apiserver (or its certificate lacks the endpoint's name).
    #[error(
        "discovery from {url}: the server's certificate does not verify against the CA in \
         cluster-info ({ca_hash}) for the name {host}: {why}; the apiserver's certificate must \
         be issued under that CA and name spec.cluster.apiEndpoint.dnsName"
    )]
    Unverified {
        url: String,
        host: String,
        ca_hash: String,
        why: String,
    },
    /// Something about the config that no fetch can fix.
    #[error("{0}")]
    Config(String),
}

/// Whether the node must discover its CA: a worker joining with a token
/// whose config delivers no `ca.crt`.
pub fn needs_discovery(config: &NodeConfig) -> bool {
    let spec = &config.spec;
    spec.join.is_some()
        && spec.roles.contains(&Role::Worker)
        && !spec.certificates.contains_key(CA_KEY)
}

/// The call site for `run::prepare`, after `select` and before planning:
/// puts the cluster CA into `config.spec.certificates["ca.crt"]` when the
/// node joins by token discovery, from an earlier boot's
/// /etc/kubernetes/pki/ca.crt under `root` if it still matches
/// `join.caCertHashes`, else by [`discover`]. Configs that deliver
/// `ca.crt` are left alone.
pub fn complete_ca(
    root: &Path,
    config: &mut NodeConfig,
    opts: &Options,
) -> Result<CaOrigin, DiscoveryError> {
    if !needs_discovery(config) {
        return Ok(CaOrigin::Delivered);
    }
    let hashes = join_hashes(config)?;
    if let Some((pem, ca_hash)) = earlier_ca(root, &hashes) {
        tracing::info!(%ca_hash, file = CA_FILE, "cluster CA from an earlier discovery");
        config.spec.certificates.insert(CA_KEY.into(), pem);
        return Ok(CaOrigin::Earlier { ca_hash });
    }
    let d = discover(config, opts)?;
    config
        .spec
        .certificates
        .insert(CA_KEY.into(), d.ca_pem.clone());
    Ok(CaOrigin::Discovered(d))
}

fn join_hashes(config: &NodeConfig) -> Result<Vec<String>, DiscoveryError> {
    let join = config.spec.join.as_ref().ok_or_else(|| {
        DiscoveryError::Config("spec.join is missing: this node does not join with a token".into())
    })?;
    if join.ca_cert_hashes.is_empty() {
        return Err(DiscoveryError::Config(
            "spec.join.caCertHashes is empty and spec.certificates has no ca.crt: the node has \
             no way to check the apiserver (R21); add the output of `mk-compose token hash --ca \
             PKI/roots/kubernetes.crt` to spec.join.caCertHashes"
                .into(),
        ));
    }
    Ok(join.ca_cert_hashes.clone())
}

/// The CA an earlier boot wrote, if it matches one of `hashes`.
fn earlier_ca(root: &Path, hashes: &[String]) -> Option<(String, String)> {
    let path = root.join(CA_FILE);
    let meta = std::fs::metadata(&path).ok()?;
    if meta.len() > checks::MAX_CLUSTER_INFO_BYTES as u64 {
        return None;
    }
    let pem = std::fs::read_to_string(&path).ok()?;
    let found = match checks::ca_cert_hashes_pem(&pem, CA_FILE) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "unreadable; discovering the CA again");
            return None;
        }
    };
    let allowed: Vec<String> = hashes.iter().map(|h| h.to_ascii_lowercase()).collect();
    match found.into_iter().find(|(h, _)| allowed.contains(h)) {
        Some((hash, _)) => Some((pem, hash)),
        None => {
            tracing::info!(file = %path.display(), "matches none of spec.join.caCertHashes; discovering the CA again");
            None
        }
    }
}

/// Token discovery against `spec.cluster.apiEndpoint`: retried while the
/// apiserver is not reachable yet, cluster-info not published or the
/// token's signature not there yet, until `opts.deadline`; refused at once
/// when what came is wrong (signature, CA hash, the checked connection).
pub fn discover(config: &NodeConfig, opts: &Options) -> Result<Discovered, DiscoveryError> {
    let join = config.spec.join.as_ref().ok_or_else(|| {
        DiscoveryError::Config("spec.join is missing: this node does not join with a token".into())
    })?;
    let hashes = join_hashes(config)?;
    let ep = &config.spec.cluster.api_endpoint;
    let target = Target {
        host: ep.dns_name.clone(),
        port: ep.port,
        url: format!("https://{}:{}{CLUSTER_INFO_PATH}", ep.dns_name, ep.port),
        token: join.token.clone(),
        hashes,
    };
    let refused = |source| DiscoveryError::Refused {
        url: target.url.clone(),
        source,
    };
    // A token that cannot be one is refused before any connection.
    mk_roleconfig::validate::check_bootstrap_token(&target.token)
        .map_err(|_| refused(checks::DiscoveryError::BadToken))?;
    let deadline = Deadline::after(opts.deadline);
    let any = Arc::new(insecure_config()?);
    let mut attempts = 0u32;
    let mut last_said = String::new();
    let mut last: Option<Box<dyn std::error::Error + Send + Sync>> = None;
    loop {
        attempts += 1;
        let err = match target.attempt(&any, opts, &deadline) {
            Ok(d) => {
                let expected = format!("https://{}:{}", target.host, target.port);
                if d.server != expected {
                    tracing::warn!(
                        cluster_info = %d.server,
                        config = %expected,
                        "cluster-info names another apiserver URL than spec.cluster.apiEndpoint; \
                         the kubelet uses the config's"
                    );
                }
                tracing::info!(ca_hash = %d.ca_hash, attempts, "cluster CA discovered");
                return Ok(d);
            }
            Err(Attempt::Final(e)) => return Err(e),
            Err(Attempt::Refused(e)) if !e.transient() => return Err(refused(e)),
            Err(Attempt::Refused(e)) => Box::new(e) as Box<dyn std::error::Error + Send + Sync>,
            Err(Attempt::Retry(e)) => e,
        };
        let spent = matches!(
            err.downcast_ref::<FetchError>(),
            Some(FetchError::GaveUp { .. })
        );
        // An attempt cut short by the deadline says less than the one
        // before it (a token the cluster does not know, say): keep that.
        let err = match last.take() {
            Some(before) if spent => before,
            _ => err,
        };
        let said = err.to_string();
        // Each new reason once on the console; repeats only in debug logs.
        if said != last_said {
            tracing::warn!(attempt = attempts, error = %said, "cluster-info not usable yet; retrying");
            last_said = said;
        } else {
            tracing::debug!(attempt = attempts, "cluster-info not usable yet; retrying");
        }
        if spent || deadline.remaining() <= opts.retry_every {
            return Err(DiscoveryError::GaveUp {
                url: target.url.clone(),
                secs: opts.deadline.as_secs(),
                attempts,
                source: err,
            });
        }
        last = Some(err);
        std::thread::sleep(opts.retry_every);
    }
}

/// What an HTTP status other than 200 means here.
#[derive(Debug, Error)]
#[error("{url}: HTTP {status}: {meaning}")]
struct Status {
    url: String,
    status: u16,
    meaning: &'static str,
}

fn status(url: &str, status: u16) -> Status {
    let meaning = match status {
        404 => "cluster-info is not published yet (the bootstrap control plane's API step creates it)",
        401 | 403 => "anonymous requests may not read cluster-info yet (the bootstrap control plane's API step grants it: RoleBinding kube-public/kubeadm:bootstrap-signer-clusterinfo)",
        _ => "the apiserver is not serving cluster-info",
    };
    Status {
        url: url.into(),
        status,
        meaning,
    }
}

/// How one attempt ended, when not with the CA.
enum Attempt {
    /// Fetching failed: retried until the deadline.
    Retry(Box<dyn std::error::Error + Send + Sync>),
    /// cluster-info was refused: retried if `transient()`.
    Refused(checks::DiscoveryError),
    /// Not retried.
    Final(DiscoveryError),
}

/// Where and with what discovery asks.
struct Target {
    host: String,
    port: u16,
    url: String,
    token: String,
    hashes: Vec<String>,
}

impl Target {
    fn fetch(
        &self,
        config: Arc<rustls::ClientConfig>,
        opts: &Options,
        deadline: &Deadline,
    ) -> Result<Vec<u8>, FetchError> {
        get(
            &self.host,
            self.port,
            &self.url,
            config,
            opts.timeout,
            deadline,
        )
    }

    fn retry(&self, e: FetchError) -> Attempt {
        match e {
            FetchError::Status { status: s, .. } => Attempt::Retry(Box::new(status(&self.url, s))),
            e => Attempt::Retry(Box::new(e)),
        }
    }

    fn attempt(
        &self,
        any: &Arc<rustls::ClientConfig>,
        opts: &Options,
        deadline: &Deadline,
    ) -> Result<Discovered, Attempt> {
        let body = self
            .fetch(any.clone(), opts, deadline)
            .map_err(|e| self.retry(e))?;
        let found = checks::validate(&body, &self.token, &self.hashes).map_err(Attempt::Refused)?;
        let unverified = |why: String| {
            Attempt::Final(DiscoveryError::Unverified {
                url: self.url.clone(),
                host: self.host.clone(),
                ca_hash: found.ca_hash.clone(),
                why,
            })
        };
        // The same request over a connection checked against the CA
        // found: whoever answered the first must be that cluster's
        // apiserver.
        let checked = Arc::new(checked_config(&found.ca_pem).map_err(unverified)?);
        let again = match self.fetch(checked, opts, deadline) {
            Ok(b) => b,
            Err(FetchError::Refused { why, .. }) => return Err(unverified(why)),
            Err(e) => return Err(self.retry(e)),
        };
        if checks::signed_kubeconfig(&again).as_deref() != Some(found.kubeconfig.as_str()) {
            // A token or CA change between the two requests: try again.
            return Err(Attempt::Retry(
                format!(
                    "{}: cluster-info over the checked connection differs from the first copy",
                    self.url
                )
                .into(),
            ));
        }
        Ok(Discovered {
            ca_pem: found.ca_pem,
            server: found.server,
            ca_hash: found.ca_hash,
        })
    }
}

/// Accepts any server certificate: the first fetch's trust comes from the
/// JWS and the CA hash, as kubeadm's (its client skips verification too).
/// Handshake signatures are still checked, with ring's algorithms.
fn insecure_config() -> Result<rustls::ClientConfig, DiscoveryError> {
    let p = Arc::new(provider());
    Ok(rustls::ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DiscoveryError::Config(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(mk_nodetls::verify::any_server(p))
        .with_no_client_auth())
}

/// A client that trusts only the discovered CA (every certificate of it).
fn checked_config(ca_pem: &str) -> Result<rustls::ClientConfig, String> {
    let certs =
        mk_pki::cert::parse_pem_chain(ca_pem, "cluster-info's CA").map_err(|e| e.to_string())?;
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(CertificateDer::from(c.der))
            .map_err(|e| format!("not a usable CA certificate: {e}"))?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// An anonymous GET of `url` (on `host:port`) with `config`'s trust. A
/// TLS refusal (the certificate) is `Refused`, any status but 200 `Status`.
fn get(
    host: &str,
    port: u16,
    url: &str,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
    deadline: &Deadline,
) -> Result<Vec<u8>, FetchError> {
    let gave_up = |what: String| FetchError::GaveUp {
        url: url.into(),
        why: format!("gave up at the deadline ({what})"),
    };
    let io_err = |source| FetchError::Io {
        url: url.into(),
        source,
    };
    let refused = |why: String| FetchError::Refused {
        url: url.into(),
        why,
    };
    let user_agent = concat!("mk-firstboot/", env!("CARGO_PKG_VERSION"));
    let request = http::Request {
        method: "GET",
        host,
        port,
        path: CLUSTER_INFO_PATH,
        headers: &[("User-Agent", user_agent), ("Accept", "application/json")],
        body: None,
    };
    let limits = http::Limits {
        step: timeout,
        deadline: deadline.at(),
        max_bytes: checks::MAX_CLUSTER_INFO_BYTES + 64 * 1024,
    };
    let parsed = match http::request(config, &request, &limits) {
        Ok(r) => Ok(r),
        Err(http::Error::Malformed { problem, .. }) => Err(problem),
        Err(http::Error::Name(e)) => return Err(refused(format!("host {host}: {e}"))),
        Err(http::Error::Tls(e)) => return Err(refused(e.to_string())),
        Err(http::Error::Resolve(ResolveError::NoAnswer)) => {
            return Err(gave_up(format!("looking up {host}")))
        }
        Err(http::Error::Resolve(ResolveError::Failed(e) | ResolveError::Spawn(e))) => {
            return Err(io_err(e))
        }
        Err(http::Error::Connect(c)) => {
            return Err(match (c.out_of_time, c.tried.into_iter().last()) {
                (Some(a), _) => gave_up(format!("no TCP connection to {a}")),
                (None, None) => io_err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host} has no address"),
                )),
                (None, Some(t)) if t.timed_out() => FetchError::Stalled {
                    url: url.into(),
                    why: format!(
                        "no TCP connection to {} within {timeout:?} (host down, or packets \
                         dropped)",
                        t.addr
                    ),
                },
                (None, Some(t)) => io_err(t.error),
            });
        }
        Err(http::Error::Stopped(s)) => {
            if let Some(e) = s.tls() {
                return Err(refused(e.to_string()));
            }
            if s.error.kind() != io::ErrorKind::TimedOut {
                return Err(io_err(s.error));
            }
            let what = match s.received {
                0 => "the server accepted the connection but sent nothing".to_string(),
                n => format!("response incomplete: {n} bytes received"),
            };
            if deadline.remaining().is_zero() {
                return Err(gave_up(what));
            }
            return Err(FetchError::Stalled {
                url: url.into(),
                why: format!("nothing for {timeout:?} ({what})"),
            });
        }
        Err(http::Error::TooLarge) => {
            return Err(FetchError::Malformed {
                url: url.into(),
                why: format!(
                    "response larger than {} bytes: not cluster-info",
                    checks::MAX_CLUSTER_INFO_BYTES
                ),
            })
        }
    };
    outcome(parsed, url)?.ok_or_else(|| FetchError::Status {
        url: url.into(),
        status: 404,
    })
}
