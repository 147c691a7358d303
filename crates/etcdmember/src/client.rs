//! A thin blocking client over etcd's v3 JSON gateway (grpc-gateway on the
//! client port): one HTTP/1.1 POST per call over mTLS, `Connection: close`
//! ([`mk_nodetls::http`]). No async runtime: first boot is synchronous. Every
//! call is bounded in time (name resolution, connect, TLS, request and
//! response share one deadline) and in response size; errors name the
//! endpoint and carry etcd's message.
//!
//! The gateway's JSON: uint64 fields are strings, bytes are base64, and
//! field names are protobuf's JSON names (`ID`, `peerURLs`, `isLearner`,
//! `raftIndex`; the response header keeps `member_id`).

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use mk_nodetls::http::{self, BodyError, ParseError};
use mk_nodetls::net::ResolveError;
use rustls::ClientConfig;
use serde_json::{json, Value};

use crate::tls::{client_config, Credentials};
use crate::{Error, Member, Status};

/// Default bound of one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Member lists of even large clusters are a few KiB; anything near this is
/// not etcd.
pub const MAX_RESPONSE: usize = 1 << 20;

#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    /// Bound of one call, from name resolution to the last response byte.
    pub timeout: Duration,
    pub max_response: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `host:port` or `https://host:port` → (host, port). Plain `http://` is
/// refused: R21.
pub fn parse_endpoint(endpoint: &str) -> Result<(String, u16), String> {
    let rest = match endpoint.split_once("://") {
        Some(("https", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "{endpoint:?}: scheme {scheme}: etcd is reached over https only"
            ))
        }
        None => endpoint,
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("{endpoint:?}: expected host:port"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{endpoint:?}: {port:?} is not a port"))?;
    if host.is_empty() || host.contains('/') || host.contains('@') {
        return Err(format!("{endpoint:?}: expected host:port"));
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

impl Client {
    pub fn new(credentials: &Credentials) -> Result<Client, Error> {
        Ok(Client {
            config: client_config(credentials).map_err(Error::Credentials)?,
            timeout: DEFAULT_TIMEOUT,
            max_response: MAX_RESPONSE,
        })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// `POST /v3/cluster/member/list`.
    pub fn member_list(&self, endpoint: &str) -> Result<Vec<Member>, Error> {
        let v = self.post(endpoint, "/v3/cluster/member/list", &json!({}))?;
        members(endpoint, &v)
    }

    /// `POST /v3/cluster/member/add` as a learner: the new member and the
    /// member list after the change.
    pub fn member_add_learner(
        &self,
        endpoint: &str,
        peer_url: &str,
    ) -> Result<(Member, Vec<Member>), Error> {
        let path = "/v3/cluster/member/add";
        let v = self.post(
            endpoint,
            path,
            &json!({ "peerURLs": [peer_url], "isLearner": true }),
        )?;
        let added = v
            .get("member")
            .ok_or_else(|| malformed(endpoint, path, "no `member` in the answer"))
            .and_then(|m| Member::from_json(m).map_err(|e| malformed(endpoint, path, &e)))?;
        Ok((added, members(endpoint, &v)?))
    }

    /// `POST /v3/cluster/member/promote`: the member list after the change.
    pub fn member_promote(&self, endpoint: &str, id: u64) -> Result<Vec<Member>, Error> {
        let v = self.post(
            endpoint,
            "/v3/cluster/member/promote",
            &json!({ "ID": id.to_string() }),
        )?;
        members(endpoint, &v)
    }

    /// `POST /v3/maintenance/status` of the member serving `endpoint`.
    pub fn status(&self, endpoint: &str) -> Result<Status, Error> {
        let path = "/v3/maintenance/status";
        let v = self.post(endpoint, path, &json!({}))?;
        Status::from_json(endpoint, &v).map_err(|e| malformed(endpoint, path, &e))
    }

    /// A linearizable read (needs a quorum, as `etcdctl endpoint health`).
    pub fn get(&self, endpoint: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let path = "/v3/kv/range";
        let v = self.post(endpoint, path, &json!({ "key": B64.encode(key) }))?;
        let Some(kv) = v.get("kvs").and_then(|k| k.get(0)) else {
            return Ok(None);
        };
        let value = kv.get("value").and_then(Value::as_str).unwrap_or("");
        B64.decode(value)
            .map(Some)
            .map_err(|e| malformed(endpoint, path, &format!("value is not base64: {e}")))
    }

    pub fn put(&self, endpoint: &str, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.post(
            endpoint,
            "/v3/kv/put",
            &json!({ "key": B64.encode(key), "value": B64.encode(value) }),
        )
        .map(|_| ())
    }

    /// One POST; the JSON answer of a 200, else etcd's own message.
    pub fn post(&self, endpoint: &str, path: &str, body: &Value) -> Result<Value, Error> {
        let started = Instant::now();
        let transport = |message: String| Error::Transport {
            endpoint: endpoint.to_string(),
            message,
        };
        let (host, port) = parse_endpoint(endpoint).map_err(&transport)?;
        let body = body.to_string();
        let request = gateway_request(&host, port, path, &body);
        // One deadline for all of it: each wait is the time left.
        let limits = http::Limits {
            step: self.timeout,
            deadline: started + self.timeout,
            max_bytes: self.max_response,
        };
        let response = http::request(self.config.clone(), &request, &limits)
            .map_err(|e| self.failure(&host, port, e))
            .and_then(|r| match r.until_close {
                true => Err(Failure::Malformed(CLOSED_EARLY.into())),
                false => Ok(r),
            });
        let http::Response { status, body, .. } = response.map_err(|f| match f {
            Failure::Transport(message) => transport(message),
            Failure::Malformed(message) => malformed(endpoint, path, &message),
        })?;
        tracing::debug!(endpoint, path, status, elapsed = ?started.elapsed(), "etcd");
        answer(endpoint, path, status, &body)
    }

    /// One POST to a server-streaming call, whose answer etcd's gateway
    /// sends as a stream of JSON objects (`{"result":…}` or `{"error":…}`,
    /// one per line): the body of a 200 goes to `sink` as it arrives and
    /// is never held whole. Each wait is bounded by `step`, all of it by
    /// `within` (not by [`Client::timeout`]); the sink bounds the size.
    /// Any other answer is read whole (up to `max_response`) as etcd's
    /// error.
    pub fn post_stream<E>(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
        step: Duration,
        within: Duration,
        sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Streamed<E>> {
        let started = Instant::now();
        let etcd = Streamed::Etcd;
        let transport = |message: String| Error::Transport {
            endpoint: endpoint.to_string(),
            message,
        };
        let (host, port) = parse_endpoint(endpoint).map_err(|e| etcd(transport(e)))?;
        let body = body.to_string();
        let request = gateway_request(&host, port, path, &body);
        let limits = http::Limits {
            step,
            deadline: started + within,
            max_bytes: self.max_response,
        };
        let response = match http::request_stream(self.config.clone(), &request, &limits, sink) {
            Ok(r) => r,
            Err(http::StreamError::Sink(e)) => return Err(Streamed::Sink(e)),
            Err(http::StreamError::Http(e)) => {
                // The deadline is `within`, not the client's timeout.
                let this = Client {
                    timeout: within,
                    ..self.clone()
                };
                return Err(etcd(match this.failure(&host, port, e) {
                    Failure::Transport(message) => transport(message),
                    Failure::Malformed(message) => malformed(endpoint, path, &message),
                }));
            }
        };
        tracing::debug!(endpoint, path, status = response.status, elapsed = ?started.elapsed(), "etcd stream");
        if response.status == 200 {
            return Ok(());
        }
        // A status other than 200 is always an error, its message in JSON.
        Err(etcd(
            answer(endpoint, path, response.status, &response.body)
                .err()
                .unwrap_or_else(|| malformed(endpoint, path, &format!("HTTP {}", response.status))),
        ))
    }
}

/// A POST of JSON to etcd's gateway.
fn gateway_request<'a>(
    host: &'a str,
    port: u16,
    path: &'a str,
    body: &'a str,
) -> http::Request<'a> {
    http::Request {
        method: "POST",
        host,
        port,
        path,
        headers: &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        body: Some(body.as_bytes()),
    }
}

/// Why a streamed call stopped: etcd (or the way to it), or the sink.
#[derive(Debug)]
pub enum Streamed<E> {
    Etcd(Error),
    Sink(E),
}

/// The JSON answer of a 200, else etcd's own message.
fn answer(endpoint: &str, path: &str, status: u16, body: &[u8]) -> Result<Value, Error> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        malformed(
            endpoint,
            path,
            &format!("HTTP {status}, not JSON ({e}): {}", excerpt(body)),
        )
    })?;
    if status != 200 {
        let message = value
            .get("message")
            .or_else(|| value.get("error"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| excerpt(body));
        return Err(Error::Etcd {
            endpoint: endpoint.to_string(),
            path: path.to_string(),
            status,
            message,
        });
    }
    Ok(value)
}

/// A call without a usable answer: the connection's fault, or the answer's.
enum Failure {
    Transport(String),
    Malformed(String),
}

impl Client {
    /// What went wrong, in etcd client's words.
    fn failure(&self, host: &str, port: u16, e: http::Error) -> Failure {
        let transport = Failure::Transport;
        match e {
            http::Error::Name(e) => transport(format!("{host:?} is not a server name: {e}")),
            http::Error::Tls(e) => transport(format!("TLS: {e}")),
            http::Error::Resolve(ResolveError::Spawn(e)) => {
                transport(format!("resolving {host}:{port}: {e}"))
            }
            http::Error::Resolve(ResolveError::Failed(e)) => {
                transport(format!("resolving {host}: {e}"))
            }
            http::Error::Resolve(ResolveError::NoAnswer) => transport(format!(
                "resolving {host}: no answer within {:?}",
                self.timeout
            )),
            http::Error::Connect(c) if c.tried.is_empty() && c.out_of_time.is_none() => {
                transport(format!("{host} resolves to no address"))
            }
            http::Error::Connect(c) => {
                let mut errors: Vec<String> = c
                    .tried
                    .iter()
                    .map(|t| format!("{}: {}", t.addr, io_message("connect", &t.error)))
                    .collect();
                errors.extend(c.out_of_time.map(|a| format!("{a}: timed out")));
                transport(format!("cannot connect: {}", errors.join("; ")))
            }
            http::Error::Stopped(s) => transport(match s.phase {
                http::Phase::Send => io_message("sending the request", &s.error),
                http::Phase::Receive => io_message("reading the response", &s.error),
            }),
            // Cut off without close_notify inside the response.
            http::Error::Malformed {
                unclean_eof: Some(e),
                ..
            } => transport(io_message("reading the response", &e)),
            http::Error::Malformed { problem, .. } => Failure::Malformed(parse_problem(&problem)),
            http::Error::TooLarge => {
                Failure::Malformed(format!("response larger than {} bytes", self.max_response))
            }
        }
    }
}

const CLOSED_EARLY: &str = "connection closed before the response was complete";

/// etcd's words for a response that is not HTTP.
fn parse_problem(p: &ParseError) -> String {
    match p {
        ParseError::HeadNotText => "response head is not text".into(),
        ParseError::StatusLine(l) => format!("not an HTTP response: {l:?}"),
        ParseError::ContentLength(v) => format!("Content-Length {v:?}"),
        ParseError::Body {
            problem: BodyError::BadChunk(why),
            ..
        } => why.clone(),
        ParseError::NoHead | ParseError::Body { .. } => CLOSED_EARLY.into(),
    }
}

fn malformed(endpoint: &str, path: &str, message: &str) -> Error {
    Error::Malformed {
        endpoint: endpoint.to_string(),
        path: path.to_string(),
        message: message.to_string(),
    }
}

fn members(endpoint: &str, v: &Value) -> Result<Vec<Member>, Error> {
    let list = match v.get("members") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(malformed(
                endpoint,
                "/v3/cluster/member/list",
                "`members` is not a list",
            ))
        }
    };
    list.iter()
        .map(|m| {
            Member::from_json(m).map_err(|e| malformed(endpoint, "/v3/cluster/member/list", &e))
        })
        .collect()
}

fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(200)]);
    s.trim().to_string()
}

fn io_message(what: &str, e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => format!("{what}: timed out"),
        _ => format!("{what}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("cp1.example.test:2379").unwrap(),
            ("cp1.example.test".into(), 2379)
        );
        assert_eq!(
            parse_endpoint("https://cp1.example.test:2379/").unwrap(),
            ("cp1.example.test".into(), 2379)
        );
        assert!(parse_endpoint("http://cp1:2379")
            .unwrap_err()
            .contains("https only"));
        assert!(parse_endpoint("cp1").unwrap_err().contains("host:port"));
        assert!(parse_endpoint("cp1:0").unwrap_err().contains("not a port"));
    }
}
