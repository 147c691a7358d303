//! An HTTPS GET for the config URL ([`mk_nodetls::http`]), trusting the
//! pinned CA ([`super::tls`]), with the config URL's own words for what
//! went wrong.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mk_nodetls::http::{self, BodyError, ParseError, Stall};
use mk_nodetls::net::ResolveError;
use mk_nodetls::verify::Verifier;
use thiserror::Error;

use super::cmdline::HttpsUrl;
use super::tls::{provider, PinnedCa};

/// Configs are small; anything larger is refused.
pub const MAX_BYTES: usize = 16 << 20;

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("{url}: {why}")]
    Refused { url: String, why: String },
    #[error("{url}")]
    Io {
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: malformed HTTP response: {why}")]
    Malformed { url: String, why: String },
    /// No connection, or no data, within the per-step timeout: worth
    /// another try while the deadline allows.
    #[error("{url}: {why}")]
    Stalled { url: String, why: String },
    /// The source's deadline is spent.
    #[error("{url}: {why}")]
    GaveUp { url: String, why: String },
}

impl FetchError {
    /// Worth another try (the network may not be up yet).
    pub fn transient(&self) -> bool {
        matches!(self, FetchError::Io { .. } | FetchError::Stalled { .. })
    }
}

/// When the whole URL source must be done: one for the config and its
/// signature, every attempt included.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    started: Instant,
    total: Duration,
}

impl Deadline {
    pub fn after(total: Duration) -> Deadline {
        Deadline {
            started: Instant::now(),
            total,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.total.saturating_sub(self.started.elapsed())
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn at(&self) -> Instant {
        self.started + self.total
    }

    fn gave_up(&self, url: &str, what: String) -> FetchError {
        FetchError::GaveUp {
            url: url.into(),
            why: format!("gave up after {} ({what})", secs(self.total)),
        }
    }
}

/// `20 s`, `1.5 s`.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// GET `url`, trusting only the pinned CA. `Ok(None)` on 404. Each
/// connection attempt and each read waits at most `timeout`, and all of it
/// ends by `deadline`.
pub fn get(
    url: &HttpsUrl,
    pin: [u8; 32],
    timeout: Duration,
    deadline: &Deadline,
) -> Result<Option<Vec<u8>>, FetchError> {
    let u = url.to_string();
    let refused = |why: String| FetchError::Refused {
        url: u.clone(),
        why,
    };
    let io_err = |source| FetchError::Io {
        url: u.clone(),
        source,
    };
    let provider = Arc::new(provider());
    let verifier = Arc::new(Verifier::new(PinnedCa::new(pin), provider.clone()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| refused(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let user_agent = concat!("mk-firstboot/", env!("CARGO_PKG_VERSION"));
    let request = http::Request {
        method: "GET",
        host: &url.host,
        port: url.port,
        path: &url.path,
        headers: &[("User-Agent", user_agent), ("Accept", "*/*")],
        body: None,
    };
    let limits = http::Limits {
        step: timeout,
        deadline: deadline.at(),
        max_bytes: MAX_BYTES + 64 * 1024,
    };
    let parsed = match http::request(Arc::new(config), &request, &limits) {
        Ok(r) => Ok(r),
        Err(http::Error::Malformed { problem, .. }) => Err(problem),
        Err(http::Error::Name(e)) => return Err(refused(format!("host {}: {e}", url.host))),
        Err(http::Error::Tls(e)) => return Err(refused(e.to_string())),
        Err(http::Error::Resolve(ResolveError::NoAnswer)) => {
            return Err(deadline.gave_up(&u, format!("looking up {}", url.host)))
        }
        Err(http::Error::Resolve(ResolveError::Failed(e) | ResolveError::Spawn(e))) => {
            return Err(io_err(e))
        }
        Err(http::Error::Connect(c)) => {
            let no_tcp = |a| format!("no TCP connection to {a}");
            return Err(match (c.out_of_time, c.tried.into_iter().last()) {
                (Some(a), _) => deadline.gave_up(&u, no_tcp(a)),
                (None, None) => io_err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "host has no address",
                )),
                (None, Some(t)) if t.timed_out() && t.cut => deadline.gave_up(&u, no_tcp(t.addr)),
                (None, Some(t)) if t.timed_out() => FetchError::Stalled {
                    url: u.clone(),
                    why: format!(
                        "{} within {} (host down, or packets dropped)",
                        no_tcp(t.addr),
                        secs(timeout)
                    ),
                },
                (None, Some(t)) => io_err(t.error),
            });
        }
        // The pin's refusal first, then a timeout's own words, then the error.
        Err(http::Error::Stopped(s)) => {
            let refusal = verifier
                .check
                .refusal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            let received = match s.received {
                0 => "server accepted the connection but sent nothing".to_string(),
                n => format!("response still incomplete: {n} bytes received"),
            };
            return Err(match (refusal, s.stall) {
                (Some(why), _) => refused(why),
                (None, Some(Stall::Deadline)) => deadline.gave_up(&u, received),
                (None, Some(Stall::Idle)) if s.received == 0 => FetchError::Stalled {
                    url: u.clone(),
                    why: format!("no response within {} ({received})", secs(timeout)),
                },
                (None, Some(Stall::Idle)) => FetchError::Stalled {
                    url: u.clone(),
                    why: format!("no data for {} ({received})", secs(timeout)),
                },
                (None, None) => io_err(s.error),
            });
        }
        Err(http::Error::TooLarge) => {
            return Err(FetchError::Malformed {
                url: u,
                why: format!("response larger than {MAX_BYTES} bytes"),
            })
        }
    };
    outcome(parsed, &u)
}

/// The body of a 200, `None` on 404; a body framed by Content-Length,
/// chunked encoding, or (after a clean TLS close only) the end of the
/// stream. Token discovery reads cluster-info with the same words.
pub fn outcome(
    parsed: Result<http::Response, ParseError>,
    url: &str,
) -> Result<Option<Vec<u8>>, FetchError> {
    let bad = |why: &str| FetchError::Malformed {
        url: url.into(),
        why: why.into(),
    };
    // The status is judged before the body's framing.
    let (status, body) = match parsed {
        Ok(r) => (r.status, Ok(r.body)),
        Err(ParseError::Body { status, problem }) => (status, Err(problem)),
        Err(ParseError::NoHead) => return Err(bad("no end of headers")),
        Err(ParseError::HeadNotText) => return Err(bad("headers are not text")),
        Err(ParseError::StatusLine(l)) => return Err(bad(&format!("status line {l:?}"))),
        Err(ParseError::ContentLength(_)) => return Err(bad("bad Content-Length")),
    };
    if status == 404 {
        return Ok(None);
    }
    if status != 200 {
        return Err(FetchError::Status {
            url: url.into(),
            status,
        });
    }
    let body = body.map_err(|p| match p {
        BodyError::ChunksTruncated | BodyError::BadChunk(_) => {
            bad("truncated or malformed chunked body")
        }
        BodyError::Truncated { got, want } => {
            bad(&format!("body truncated: {got} of {want} bytes"))
        }
        BodyError::Unterminated => bad("connection closed without TLS close_notify and without Content-Length: the body may be truncated"),
    })?;
    if body.len() > MAX_BYTES {
        return Err(bad(&format!("body larger than {MAX_BYTES} bytes")));
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_response(
        raw: &[u8],
        clean_eof: bool,
        url: &str,
    ) -> Result<Option<Vec<u8>>, FetchError> {
        outcome(http::parse(raw, Some(clean_eof)).map(Option::unwrap), url)
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response(b"HTTP/1.0 404 Not Found\r\n\r\nab", false, "u").unwrap(),
            None
        );
        let e = parse_response(b"HTTP/1.0 200 ok\r\n\r\nabc", false, "u").unwrap_err();
        assert!(e.to_string().contains("without TLS close_notify"), "{e}");
        let e = parse_response(b"HTTP/1.1 500 x\r\n\r\n", true, "u").unwrap_err();
        assert!(matches!(e, FetchError::Status { status: 500, .. }));
        let e = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
            false,
            "u",
        )
        .unwrap_err();
        assert!(e.to_string().contains("truncated: 2 of 9"), "{e}");
        let e = parse_response(b"HTTP/1.1 200 OK\r\n", true, "u").unwrap_err();
        assert!(e.to_string().contains("no end of headers"), "{e}");
    }
}
