//! One HTTP/1.1 request over rustls, blocking, `Connection: close`: the
//! node's few requests (a config file, cluster-info, etcd's JSON gateway)
//! need no HTTP library and no async runtime. Everything is bounded: name
//! lookup, connect, each read and write (`step`), all of it together
//! (`deadline`), and the response's size.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{InvalidDnsNameError, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::net::{self, ConnectError, ResolveError};

#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    /// Sent after `Host`; `Content-Length` (with a body) and
    /// `Connection: close` follow.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Each connection attempt, read and write waits at most this.
    pub step: Duration,
    /// All of the request ends by then.
    pub deadline: Instant,
    /// The most response bytes (head and body) read.
    pub max_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Neither Content-Length nor chunked: the body ran to a clean close.
    pub until_close: bool,
}

/// Whether the request was being sent or the response read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Send,
    Receive,
}

/// Why the socket timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Nothing for a whole `step`.
    Idle,
    /// The deadline came first.
    Deadline,
}

/// The connection failed while sending or receiving (TLS included).
#[derive(Debug)]
pub struct Stopped {
    pub phase: Phase,
    pub error: io::Error,
    /// Set when the socket timed out.
    pub stall: Option<Stall>,
    /// Bytes read from the server so far (TLS records included).
    pub received: usize,
}

impl Stopped {
    /// rustls' refusal (a certificate, an alert), if that is what it was.
    pub fn tls(&self) -> Option<&rustls::Error> {
        self.error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
    }
}

#[derive(Debug)]
pub enum Error {
    /// `host` is not a DNS name or IP address.
    Name(InvalidDnsNameError),
    /// The TLS client could not be set up.
    Tls(rustls::Error),
    Resolve(ResolveError),
    /// An empty `tried` and no `out_of_time`: the host has no address.
    Connect(ConnectError),
    Stopped(Stopped),
    /// More than `max_bytes` came.
    TooLarge,
    Malformed {
        problem: ParseError,
        /// The stream ended without TLS close_notify (rustls' error).
        unclean_eof: Option<io::Error>,
    },
}

/// `request`'s response, or why not. Host names get SNI and the host-name
/// check of `config`'s verifier.
pub fn request(
    config: Arc<ClientConfig>,
    req: &Request<'_>,
    limits: &Limits,
) -> Result<Response, Error> {
    let mut tls = send(config, req, limits)?;
    collect(&mut tls, Reader::default(), limits)
}

/// Reads the rest of an answer into `reader` until it is complete, within
/// `limits.max_bytes`.
fn collect(tls: &mut Tls, mut reader: Reader, limits: &Limits) -> Result<Response, Error> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let eof = match tls.read(&mut buf) {
            Ok(0) => Some(None),
            Ok(n) => {
                reader.raw.extend_from_slice(&buf[..n]);
                if reader.raw.len() > limits.max_bytes {
                    return Err(Error::TooLarge);
                }
                None
            }
            // No close_notify: acceptable only when the length is known.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Some(Some(e)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(stopped(Phase::Receive, e, &tls.sock)),
        };
        let clean = eof.as_ref().map(Option::is_none);
        match reader.next(clean) {
            Ok(Some(r)) => return Ok(r),
            Ok(None) => {}
            Err(problem) => {
                return Err(Error::Malformed {
                    problem,
                    unclean_eof: eof.flatten(),
                })
            }
        }
    }
}

type Tls = StreamOwned<ClientConnection, Timed>;

fn stopped(phase: Phase, error: io::Error, sock: &Timed) -> Error {
    Error::Stopped(Stopped {
        phase,
        error,
        stall: sock.stall,
        received: sock.received,
    })
}

/// Connects and sends the request; the response is for the caller to read.
fn send(config: Arc<ClientConfig>, req: &Request<'_>, limits: &Limits) -> Result<Tls, Error> {
    let name = ServerName::try_from(req.host.to_string()).map_err(Error::Name)?;
    let conn = ClientConnection::new(config, name).map_err(Error::Tls)?;
    let within = limits.deadline.saturating_duration_since(Instant::now());
    let addrs = net::resolve(req.host, req.port, within).map_err(Error::Resolve)?;
    let tcp = net::connect(&addrs, limits.step, limits.deadline).map_err(Error::Connect)?;
    let timed = Timed {
        tcp,
        deadline: limits.deadline,
        step: limits.step,
        received: 0,
        stall: None,
    };
    let mut tls = StreamOwned::new(conn, timed);
    if let Err(e) = tls.write_all(&head(req)).and_then(|()| tls.flush()) {
        return Err(stopped(Phase::Send, e, &tls.sock));
    }
    Ok(tls)
}

/// Why [`request_stream`] stopped: the exchange, or the sink.
#[derive(Debug)]
pub enum StreamError<E> {
    Http(Error),
    Sink(E),
}

/// Like [`request`], but the body of a 2xx answer is handed to `sink` as
/// it arrives (de-chunked), not collected: for answers larger than memory
/// should hold (etcd's snapshot). The returned [`Response`]'s body is then
/// empty, and `limits.max_bytes` bounds only the head: the sink bounds the
/// body. Any other status's body is collected as [`request`] does (up to
/// `max_bytes`), since it is an error message to read whole.
pub fn request_stream<E>(
    config: Arc<ClientConfig>,
    req: &Request<'_>,
    limits: &Limits,
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<Response, StreamError<E>> {
    let http = StreamError::Http;
    let mut tls = send(config, req, limits).map_err(http)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    // The head, read as `request` reads it.
    let (head, rest) = loop {
        let n = match tls.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(http(stopped(Phase::Receive, e, &tls.sock))),
        };
        if n == 0 {
            return Err(http(Error::Malformed {
                problem: ParseError::NoHead,
                unclean_eof: None,
            }));
        }
        let from = raw.len().saturating_sub(3);
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = find(&raw[from..], b"\r\n\r\n") {
            let head = parse_head(&raw, from + i).map_err(|problem| {
                http(Error::Malformed {
                    problem,
                    unclean_eof: None,
                })
            })?;
            let rest = raw.split_off(head.body_at);
            break (head, rest);
        }
        if raw.len() > limits.max_bytes {
            return Err(http(Error::TooLarge));
        }
    };
    if !(200..300).contains(&head.status) {
        // An error answer: collected whole, as `request` does.
        let mut reader = Reader {
            scanned: raw.len(),
            raw,
            head: Some(head),
        };
        reader.raw.extend_from_slice(&rest);
        // Complete already? (`collect` reads first.)
        return match reader.next(None) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => collect(&mut tls, reader, limits).map_err(http),
            Err(problem) => Err(http(Error::Malformed {
                problem,
                unclean_eof: None,
            })),
        };
    }
    let status = head.status;
    let bad = |problem, unclean_eof| {
        http(Error::Malformed {
            problem: ParseError::Body { status, problem },
            unclean_eof,
        })
    };
    let mut body = Body::new(&head.framing);
    let mut chunk: &[u8] = &rest;
    loop {
        let done = body.feed(chunk, &mut sink).map_err(|e| match e {
            Fed::Body(p) => bad(p, None),
            Fed::Sink(e) => StreamError::Sink(e),
        })?;
        if done {
            return Ok(Response {
                status,
                headers: head.headers,
                body: Vec::new(),
                until_close: matches!(head.framing, Framing::Close),
            });
        }
        let n = match tls.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                chunk = &[];
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(bad(body.cut_short(), Some(e)));
            }
            Err(e) => return Err(http(stopped(Phase::Receive, e, &tls.sock))),
        };
        if n == 0 {
            // A clean close (TLS close_notify) ends only a body framed by it.
            if matches!(head.framing, Framing::Close) {
                return Ok(Response {
                    status,
                    headers: head.headers,
                    body: Vec::new(),
                    until_close: true,
                });
            }
            return Err(bad(body.cut_short(), None));
        }
        chunk = &buf[..n];
    }
}

/// Why a streamed body stopped being fed.
enum Fed<E> {
    Body(BodyError),
    Sink(E),
}

/// A body as it streams: its framing's state.
#[derive(Debug)]
enum Body {
    /// Bytes still to come.
    Length {
        left: usize,
        got: usize,
        want: usize,
    },
    Chunked(Chunk),
    /// Everything until the connection closes.
    Close,
}

#[derive(Debug)]
enum Chunk {
    /// Collecting a chunk-size line.
    Size(Vec<u8>),
    /// Inside a chunk's data: bytes left.
    Data(usize),
    /// The CRLF after a chunk's data: bytes of it seen.
    DataEnd(u8),
    /// The last (empty) chunk has come; trailers are ignored.
    Done,
}

/// The longest chunk-size line taken (size, extensions).
const MAX_CHUNK_LINE: usize = 4096;

impl Body {
    fn new(framing: &Framing) -> Body {
        match framing {
            Framing::Length(n) => Body::Length {
                left: *n,
                got: 0,
                want: *n,
            },
            Framing::Chunked => Body::Chunked(Chunk::Size(Vec::new())),
            Framing::Close => Body::Close,
        }
    }

    /// Passes the body's bytes in `input` to `sink`; true once the body is
    /// complete (anything after it is ignored).
    fn feed<E>(
        &mut self,
        mut input: &[u8],
        sink: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<bool, Fed<E>> {
        match self {
            Body::Close => {
                if !input.is_empty() {
                    sink(input).map_err(Fed::Sink)?;
                }
                Ok(false)
            }
            Body::Length { left, got, .. } => {
                let n = input.len().min(*left);
                if n > 0 {
                    sink(&input[..n]).map_err(Fed::Sink)?;
                }
                *left -= n;
                *got += n;
                Ok(*left == 0)
            }
            Body::Chunked(state) => loop {
                match state {
                    Chunk::Done => return Ok(true),
                    _ if input.is_empty() => return Ok(false),
                    Chunk::Size(line) => {
                        let nl = input.iter().position(|&b| b == b'\n');
                        let take = nl.map_or(input.len(), |i| i + 1);
                        line.extend_from_slice(&input[..take]);
                        input = &input[take..];
                        if line.len() > MAX_CHUNK_LINE {
                            return Err(Fed::Body(BodyError::BadChunk(
                                "chunk-size line too long".into(),
                            )));
                        }
                        if nl.is_none() {
                            continue;
                        }
                        let text = std::str::from_utf8(line).map_err(|_| {
                            Fed::Body(BodyError::BadChunk("chunk size is not text".into()))
                        })?;
                        let size_text = text
                            .trim_end_matches(['\r', '\n'])
                            .split(';')
                            .next()
                            .unwrap_or_default()
                            .trim();
                        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                            Fed::Body(BodyError::BadChunk(format!("chunk size {size_text:?}")))
                        })?;
                        *state = if size == 0 {
                            Chunk::Done
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    Chunk::Data(left) => {
                        let n = input.len().min(*left);
                        sink(&input[..n]).map_err(Fed::Sink)?;
                        input = &input[n..];
                        *left -= n;
                        if *left == 0 {
                            *state = Chunk::DataEnd(0);
                        }
                    }
                    Chunk::DataEnd(seen) => {
                        let want = b"\r\n"[usize::from(*seen)];
                        if input[0] != want {
                            return Err(Fed::Body(BodyError::BadChunk(
                                "chunk data not followed by CRLF".into(),
                            )));
                        }
                        input = &input[1..];
                        *state = if *seen == 1 {
                            Chunk::Size(Vec::new())
                        } else {
                            Chunk::DataEnd(1)
                        };
                    }
                }
            },
        }
    }

    /// What it means that the stream ended here.
    fn cut_short(&self) -> BodyError {
        match self {
            Body::Length { got, want, .. } => BodyError::Truncated {
                got: *got,
                want: *want,
            },
            Body::Chunked(_) => BodyError::ChunksTruncated,
            Body::Close => BodyError::Unterminated,
        }
    }
}

/// Request line, headers and body.
fn head(req: &Request<'_>) -> Vec<u8> {
    let authority = if req.host.contains(':') {
        format!("[{}]:{}", req.host, req.port)
    } else {
        format!("{}:{}", req.host, req.port)
    };
    let mut text = format!(
        "{} {} HTTP/1.1\r\nHost: {authority}\r\n",
        req.method, req.path
    );
    for (k, v) in req.headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = req.body {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("Connection: close\r\n\r\n");
    let mut out = text.into_bytes();
    out.extend_from_slice(req.body.unwrap_or_default());
    out
}

/// The TCP stream under TLS, with the deadline: before each read or write
/// the socket's timeout is set to the shorter of `step` and the time left,
/// so a server that drips a byte every few seconds (each read succeeding)
/// is still given up at the deadline, even inside the TLS handshake where
/// rustls loops over many reads.
struct Timed {
    tcp: TcpStream,
    deadline: Instant,
    step: Duration,
    received: usize,
    stall: Option<Stall>,
}

impl Timed {
    /// The wait for the next read or write, and what it running out would
    /// mean; `TimedOut` at once when the deadline is spent.
    fn wait(&mut self) -> io::Result<(Duration, Stall)> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.stall = Some(Stall::Deadline);
            return Err(io::ErrorKind::TimedOut.into());
        }
        // A zero timeout would mean "block forever".
        Ok(if left < self.step {
            (left.max(Duration::from_millis(1)), Stall::Deadline)
        } else {
            (self.step, Stall::Idle)
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

/// What is wrong with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The stream ended before the end of the headers.
    NoHead,
    HeadNotText,
    StatusLine(String),
    /// The Content-Length value.
    ContentLength(String),
    /// The head is fine, the body is not: the status is there for callers
    /// that judge by it first.
    Body {
        status: u16,
        problem: BodyError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The stream ended before Content-Length bytes.
    Truncated { got: usize, want: usize },
    /// The stream ended inside the chunked body.
    ChunksTruncated,
    /// A chunk-size line that is not one.
    BadChunk(String),
    /// No length, and the stream ended without TLS close_notify: the body
    /// may be cut short.
    Unterminated,
}

/// `raw` as a response: `Ok(None)` while incomplete and `eof` is `None`;
/// `eof` is `Some(clean)` once the stream has ended, cleanly (TLS
/// close_notify) or not.
pub fn parse(raw: &[u8], eof: Option<bool>) -> Result<Option<Response>, ParseError> {
    let mut r = Reader {
        raw: raw.to_vec(),
        ..Reader::default()
    };
    r.next(eof)
}

/// A response as it comes: the head is parsed once, and only the body's
/// framing is looked at again after each read.
#[derive(Default)]
struct Reader {
    raw: Vec<u8>,
    /// Where the search for the end of the head goes on.
    scanned: usize,
    head: Option<Head>,
}

struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    body_at: usize,
    framing: Framing,
}

enum Framing {
    Length(usize),
    Chunked,
    Close,
}

impl Reader {
    fn next(&mut self, eof: Option<bool>) -> Result<Option<Response>, ParseError> {
        if self.head.is_none() {
            let from = self.scanned.saturating_sub(3);
            match find(&self.raw[from..], b"\r\n\r\n") {
                Some(i) => self.head = Some(parse_head(&self.raw, from + i)?),
                None if eof.is_some() => return Err(ParseError::NoHead),
                None => {
                    self.scanned = self.raw.len();
                    return Ok(None);
                }
            }
        }
        let Some(head) = &self.head else {
            return Ok(None);
        };
        let body = &self.raw[head.body_at..];
        let bad = |problem| ParseError::Body {
            status: head.status,
            problem,
        };
        let (body, until_close) = match head.framing {
            Framing::Chunked => match chunks(body).map_err(bad)? {
                Some(ranges) => (
                    ranges.into_iter().flat_map(|r| &body[r]).copied().collect(),
                    false,
                ),
                None if eof.is_some() => return Err(bad(BodyError::ChunksTruncated)),
                None => return Ok(None),
            },
            Framing::Length(n) if body.len() >= n => (body[..n].to_vec(), false),
            Framing::Length(n) if eof.is_some() => {
                return Err(bad(BodyError::Truncated {
                    got: body.len(),
                    want: n,
                }))
            }
            Framing::Close if eof == Some(true) => (body.to_vec(), true),
            Framing::Close if eof == Some(false) => return Err(bad(BodyError::Unterminated)),
            Framing::Length(_) | Framing::Close => return Ok(None),
        };
        Ok(Some(Response {
            status: head.status,
            headers: head.headers.clone(),
            body,
            until_close,
        }))
    }
}

fn parse_head(raw: &[u8], end: usize) -> Result<Head, ParseError> {
    let text = std::str::from_utf8(&raw[..end]).map_err(|_| ParseError::HeadNotText)?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| ParseError::StatusLine(status_line.into()))?;
    let mut headers = Vec::new();
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(
                v.parse::<usize>()
                    .map_err(|_| ParseError::ContentLength(v.into()))?,
            );
        } else if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
        headers.push((k.to_string(), v.to_string()));
    }
    let framing = match (chunked, length) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::Close,
    };
    Ok(Head {
        status,
        headers,
        body_at: end + 4,
        framing,
    })
}

/// Where the data of each chunk is, once the last (empty) chunk has come;
/// trailers after it are ignored.
fn chunks(body: &[u8]) -> Result<Option<Vec<Range<usize>>>, BodyError> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = find(&body[at..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&body[at..at + eol])
            .map_err(|_| BodyError::BadChunk("chunk size is not text".into()))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| BodyError::BadChunk(format!("chunk size {size_text:?}")))?;
        if size == 0 {
            return Ok(Some(out));
        }
        let start = at + eol + 2;
        if body.len() < start + size + 2 {
            return Ok(None);
        }
        out.push(start..start + size);
        at = start + size + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(raw: &[u8], eof: Option<bool>) -> Option<(u16, Vec<u8>)> {
        parse(raw, eof).unwrap().map(|r| (r.status, r.body))
    }

    #[test]
    fn content_length_and_chunked() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(body(r, None), Some((200, b"{}".to_vec())));
        assert_eq!(body(&r[..r.len() - 1], None), None);
        assert_eq!(
            body(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef",
                Some(false)
            ),
            Some((200, b"abc".to_vec()))
        );
        let c = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n";
        assert_eq!(body(c, None), Some((404, b"{\"a\":1}".to_vec())));
        assert_eq!(body(&c[..60], None), None);
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x\r\nc\r\n0\r\n\r\n";
        assert_eq!(body(c, Some(false)), Some((200, b"abc".to_vec())));
        let r = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A:  b \r\n\r\n",
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.headers[1], ("X-A".to_string(), "b".to_string()));
    }

    #[test]
    fn to_the_end_of_the_stream() {
        assert_eq!(body(b"HTTP/1.0 200 ok\r\n\r\nabc", None), None);
        let r = parse(b"HTTP/1.0 200 ok\r\n\r\nabc", Some(true))
            .unwrap()
            .unwrap();
        assert_eq!((r.body.as_slice(), r.until_close), (&b"abc"[..], true));
        assert_eq!(
            parse(b"HTTP/1.0 200 ok\r\n\r\nabc", Some(false)).unwrap_err(),
            ParseError::Body {
                status: 200,
                problem: BodyError::Unterminated
            }
        );
        assert_eq!(
            body(b"HTTP/1.0 404 Not Found\r\n\r\n", Some(true)),
            Some((404, vec![]))
        );
    }

    #[test]
    fn broken() {
        let e = |raw: &[u8], eof| parse(raw, eof).unwrap_err();
        assert!(matches!(
            e(b"SSH-2.0\r\n\r\n", None),
            ParseError::StatusLine(_)
        ));
        assert_eq!(e(b"HTTP/1.1 200 OK\r\n", Some(true)), ParseError::NoHead);
        assert_eq!(
            e(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", None),
            ParseError::ContentLength("x".into())
        );
        assert_eq!(
            e(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
                Some(false)
            ),
            ParseError::Body {
                status: 200,
                problem: BodyError::Truncated { got: 2, want: 9 }
            }
        );
        let c = b"HTTP/1.1 500 x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            e(c, None),
            ParseError::Body {
                status: 500,
                problem: BodyError::BadChunk("chunk size \"zz\"".into())
            }
        );
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        assert!(matches!(
            e(c, Some(true)),
            ParseError::Body {
                problem: BodyError::ChunksTruncated,
                ..
            }
        ));
    }

    /// A body fed to [`Body`] in pieces of `step` bytes: what the sink got
    /// and whether it was complete.
    fn streamed(framing: Framing, body: &[u8], step: usize) -> Result<(Vec<u8>, bool), BodyError> {
        let mut b = Body::new(&framing);
        let mut out = Vec::new();
        let mut done = false;
        for piece in body.chunks(step) {
            match b.feed(piece, &mut |d: &[u8]| -> Result<(), ()> {
                out.extend_from_slice(d);
                Ok(())
            }) {
                Ok(d) => done = d,
                Err(Fed::Body(e)) => return Err(e),
                Err(Fed::Sink(())) => unreachable!(),
            }
            if done {
                break;
            }
        }
        Ok((out, done))
    }

    #[test]
    fn streamed_bodies_in_any_pieces() {
        let c = b"3\r\n{\"a\r\n4;ext=1\r\n\":1}\r\n0\r\nGrpc-Trailer: x\r\n\r\n";
        for step in 1..c.len() {
            assert_eq!(
                streamed(Framing::Chunked, c, step).unwrap(),
                (b"{\"a\":1}".to_vec(), true),
                "pieces of {step}"
            );
        }
        // Cut anywhere before the last chunk: incomplete, and says why.
        let end = c.len() - "0\r\nGrpc-Trailer: x\r\n\r\n".len();
        for cut in 0..end {
            let (_, done) = streamed(Framing::Chunked, &c[..cut], 3).unwrap();
            assert!(!done, "cut at {cut}");
        }
        assert!(matches!(
            Body::new(&Framing::Chunked).cut_short(),
            BodyError::ChunksTruncated
        ));
        assert_eq!(
            streamed(Framing::Chunked, b"2\r\nabX\n", 1).unwrap_err(),
            BodyError::BadChunk("chunk data not followed by CRLF".into())
        );
        assert_eq!(
            streamed(Framing::Chunked, b"zz\r\n", 2).unwrap_err(),
            BodyError::BadChunk("chunk size \"zz\"".into())
        );
        let long = vec![b'1'; MAX_CHUNK_LINE + 1];
        assert!(streamed(Framing::Chunked, &long, 100).is_err());
        // Content-Length: exactly that many bytes, the rest ignored.
        assert_eq!(
            streamed(Framing::Length(3), b"abcdef", 2).unwrap(),
            (b"abc".to_vec(), true)
        );
        let mut b = Body::new(&Framing::Length(5));
        b.feed(b"ab", &mut |_: &[u8]| -> Result<(), ()> { Ok(()) })
            .ok()
            .unwrap();
        assert_eq!(b.cut_short(), BodyError::Truncated { got: 2, want: 5 });
        // Until the close: everything, never complete by itself.
        assert_eq!(
            streamed(Framing::Close, b"abc", 1).unwrap(),
            (b"abc".to_vec(), false)
        );
    }

    #[test]
    fn request_head() {
        let req = Request {
            method: "POST",
            host: "::1",
            port: 2379,
            path: "/v3/kv/put",
            headers: &[("Accept", "application/json")],
            body: Some(b"{}"),
        };
        assert_eq!(
            String::from_utf8(head(&req)).unwrap(),
            "POST /v3/kv/put HTTP/1.1\r\nHost: [::1]:2379\r\nAccept: application/json\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
    }
}
