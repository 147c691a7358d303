//! A minimal HTTPS GET (HTTP/1.1, `Connection: close`) for the config URL:
//! two small files, so no HTTP library; TLS from [`super::tls`].

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

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
}

impl FetchError {
    /// Worth another try (the network may not be up yet).
    pub fn transient(&self) -> bool {
        matches!(self, FetchError::Io { .. })
    }
}

/// GET `url`, trusting only the pinned CA. `Ok(None)` on 404.
pub fn get(
    url: &HttpsUrl,
    pin: [u8; 32],
    timeout: Duration,
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
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(io_err)?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
    let mut tcp = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let tcp = tcp.ok_or_else(|| io_err(last))?;
    tcp.set_read_timeout(Some(timeout)).map_err(io_err)?;
    tcp.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
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
    let tls_err = |e: io::Error| {
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
            None => FetchError::Io {
                url: u.clone(),
                source: e,
            },
        }
    };
    tls.write_all(request.as_bytes()).map_err(tls_err)?;
    tls.flush().map_err(tls_err)?;
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
            Err(e) => return Err(tls_err(e)),
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
