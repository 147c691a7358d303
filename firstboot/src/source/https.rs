//! A minimal HTTPS GET (HTTP/1.1, `Connection: close`) for the config URL:
//! two small files, so no HTTP library; TLS from [`super::tls`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
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

/// Why the socket stopped: set by [`Timed`] when it returns `TimedOut`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// Nothing for `timeout`.
    Idle,
    /// The deadline came first.
    Deadline,
}

/// The TCP stream under TLS, with the source's deadline: before each read
/// or write the socket's timeout is set to the shorter of the per-step
/// timeout and the time left, so a server that drips a byte every few
/// seconds (each read succeeding) is still given up at the deadline, even
/// inside the TLS handshake where rustls loops over many reads.
struct Timed {
    tcp: TcpStream,
    deadline: Deadline,
    timeout: Duration,
    /// Bytes read from the server so far (TLS records included).
    received: usize,
    stall: Option<Stall>,
}

impl Timed {
    /// The wait for the next read or write, and what it running out would
    /// mean; `TimedOut` at once when the deadline is spent.
    fn wait(&mut self) -> io::Result<(Duration, Stall)> {
        let left = self.deadline.remaining();
        if left.is_zero() {
            self.stall = Some(Stall::Deadline);
            return Err(io::ErrorKind::TimedOut.into());
        }
        // A zero timeout would mean "block forever".
        Ok(if left < self.timeout {
            (left.max(Duration::from_millis(1)), Stall::Deadline)
        } else {
            (self.timeout, Stall::Idle)
        })
    }

    fn timed_out(&mut self, e: io::Error, why: Stall) -> io::Error {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            self.stall = Some(why);
            io::ErrorKind::TimedOut.into()
        } else {
            e
        }
    }

    /// What to say when the socket stopped with `TimedOut`.
    fn error(&self, url: &str) -> Option<FetchError> {
        let received = match self.received {
            0 => "server accepted the connection but sent nothing".to_string(),
            n => format!("response still incomplete: {n} bytes received"),
        };
        match self.stall? {
            Stall::Deadline => Some(self.deadline.gave_up(url, received)),
            Stall::Idle if self.received == 0 => Some(FetchError::Stalled {
                url: url.into(),
                why: format!("no response within {} ({received})", secs(self.timeout)),
            }),
            Stall::Idle => Some(FetchError::Stalled {
                url: url.into(),
                why: format!("no data for {} ({received})", secs(self.timeout)),
            }),
        }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (wait, why) = self.wait()?;
        self.tcp.set_read_timeout(Some(wait))?;
        match self.tcp.read(buf) {
            Ok(n) => {
                self.received += n;
                Ok(n)
            }
            Err(e) => Err(self.timed_out(e, why)),
        }
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (wait, why) = self.wait()?;
        self.tcp.set_write_timeout(Some(wait))?;
        self.tcp.write(buf).map_err(|e| self.timed_out(e, why))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The host's addresses, looked up in a thread so that a resolver that
/// hangs (no DNS server reachable at boot) cannot outlast the deadline.
fn resolve(url: &HttpsUrl, deadline: &Deadline, u: &str) -> Result<Vec<SocketAddr>, FetchError> {
    let (host, port) = (url.host.clone(), url.port);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(
            (host.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>()),
        );
    });
    match rx.recv_timeout(deadline.remaining()) {
        Ok(r) => r.map_err(|source| FetchError::Io {
            url: u.into(),
            source,
        }),
        Err(_) => Err(deadline.gave_up(u, format!("looking up {}", url.host))),
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
    let io_err = |source| FetchError::Io {
        url: u.clone(),
        source,
    };
    let provider = Arc::new(provider());
    let verifier = Arc::new(PinnedCa::new(pin, provider.clone()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Refused {
            url: u.clone(),
            why: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(url.host.clone()).map_err(|e| FetchError::Refused {
        url: u.clone(),
        why: format!("host {}: {e}", url.host),
    })?;
    let conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| FetchError::Refused {
            url: u.clone(),
            why: e.to_string(),
        })?;
    let addrs = resolve(url, deadline, &u)?;
    let mut last = io_err(io::Error::new(
        io::ErrorKind::NotFound,
        "host has no address",
    ));
    let mut tcp = None;
    for a in &addrs {
        let left = deadline.remaining();
        if left.is_zero() {
            return Err(deadline.gave_up(&u, format!("no TCP connection to {a}")));
        }
        let wait = timeout.min(left);
        match TcpStream::connect_timeout(a, wait) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                last = if wait < timeout {
                    deadline.gave_up(&u, format!("no TCP connection to {a}"))
                } else {
                    FetchError::Stalled {
                        url: u.clone(),
                        why: format!(
                            "no TCP connection to {a} within {} (host down, or packets dropped)",
                            secs(timeout)
                        ),
                    }
                };
            }
            Err(e) => last = io_err(e),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let timed = Timed {
        tcp,
        deadline: *deadline,
        timeout,
        received: 0,
        stall: None,
    };
    let mut tls = rustls::StreamOwned::new(conn, timed);
    let host_header = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host_header}:{}\r\nUser-Agent: mk-firstboot/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path,
        url.port,
        env!("CARGO_PKG_VERSION")
    );
    // The pin's refusal first, then a timeout's own words, then the error.
    let tls_err = |e: io::Error, sock: &Timed| {
        let refusal = verifier
            .refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match refusal {
            Some(why) => FetchError::Refused {
                url: u.clone(),
                why,
            },
            None => sock.error(&u).unwrap_or_else(|| FetchError::Io {
                url: u.clone(),
                source: e,
            }),
        }
    };
    if let Err(e) = tls.write_all(request.as_bytes()).and_then(|()| tls.flush()) {
        return Err(tls_err(e, &tls.sock));
    }
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let clean_eof = loop {
        match tls.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_BYTES + 64 * 1024 {
                    return Err(FetchError::Malformed {
                        url: u,
                        why: format!("response larger than {MAX_BYTES} bytes"),
                    });
                }
            }
            // No close_notify: acceptable only when the length is known.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break false,
            Err(e) => return Err(tls_err(e, &tls.sock)),
        }
    };
    parse_response(&raw, clean_eof, &u)
}

/// Status line, headers, and a body by Content-Length, chunked encoding,
/// or (after a clean TLS close only) up to the end of the stream.
pub fn parse_response(
    raw: &[u8],
    clean_eof: bool,
    url: &str,
) -> Result<Option<Vec<u8>>, FetchError> {
    let bad = |why: &str| FetchError::Malformed {
        url: url.into(),
        why: why.into(),
    };
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers are not text"))?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad(&format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("status line {status_line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(v.parse::<usize>().map_err(|_| bad("bad Content-Length"))?);
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    if status == 404 {
        return Ok(None);
    }
    if status != 200 {
        return Err(FetchError::Status {
            url: url.into(),
            status,
        });
    }
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("truncated or malformed chunked body"))?
    } else if let Some(n) = length {
        if body.len() < n {
            return Err(bad(&format!("body truncated: {} of {n} bytes", body.len())));
        }
        body[..n].to_vec()
    } else if clean_eof {
        body.to_vec()
    } else {
        return Err(bad("connection closed without TLS close_notify and without Content-Length: the body may be truncated"));
    };
    if body.len() > MAX_BYTES {
        return Err(bad(&format!("body larger than {MAX_BYTES} bytes")));
    }
    Ok(Some(body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef",
            false,
            "u",
        )
        .unwrap();
        assert_eq!(r.unwrap(), b"abc");
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x\r\nc\r\n0\r\n\r\n", false, "u").unwrap();
        assert_eq!(r.unwrap(), b"abc");
        assert_eq!(
            parse_response(b"HTTP/1.0 404 Not Found\r\n\r\n", true, "u").unwrap(),
            None
        );
        let e = parse_response(b"HTTP/1.0 200 ok\r\n\r\nabc", false, "u").unwrap_err();
        assert!(e.to_string().contains("without TLS close_notify"), "{e}");
        assert_eq!(
            parse_response(b"HTTP/1.0 200 ok\r\n\r\nabc", true, "u")
                .unwrap()
                .unwrap(),
            b"abc"
        );
        let e = parse_response(b"HTTP/1.1 500 x\r\n\r\n", true, "u").unwrap_err();
        assert!(matches!(e, FetchError::Status { status: 500, .. }));
        let e = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
            false,
            "u",
        )
        .unwrap_err();
        assert!(e.to_string().contains("truncated: 2 of 9"), "{e}");
    }
}
