//! Name lookup and TCP connect, both bounded: at boot the resolver may hang
//! (no DNS server reachable yet) and a host may drop packets.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub enum ResolveError {
    /// The lookup thread could not be started.
    Spawn(io::Error),
    /// The resolver answered with an error.
    Failed(io::Error),
    /// No answer in time.
    NoAnswer,
}

/// The addresses of `host:port`, possibly none. getaddrinfo cannot be
/// given a timeout: it runs on a helper thread, abandoned if it does not
/// answer `within`.
pub fn resolve(host: &str, port: u16, within: Duration) -> Result<Vec<SocketAddr>, ResolveError> {
    let (tx, rx) = mpsc::channel();
    let h = host.to_string();
    std::thread::Builder::new()
        .name("nodetls-resolve".into())
        .spawn(move || {
            let _ = tx.send((h.as_str(), port).to_socket_addrs().map(Iterator::collect));
        })
        .map_err(ResolveError::Spawn)?;
    match rx.recv_timeout(within) {
        Ok(r) => r.map_err(ResolveError::Failed),
        Err(_) => Err(ResolveError::NoAnswer),
    }
}

/// One address that refused or did not answer.
#[derive(Debug)]
pub struct Attempt {
    pub addr: SocketAddr,
    pub error: io::Error,
    /// The wait was shortened by the deadline (less than one step).
    pub cut: bool,
}

impl Attempt {
    /// No answer within the wait (as opposed to refused, unreachable).
    pub fn timed_out(&self) -> bool {
        matches!(
            self.error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    }
}

/// No connection: every address tried, in order, and the one the deadline
/// came before, if it did.
#[derive(Debug)]
pub struct ConnectError {
    pub tried: Vec<Attempt>,
    pub out_of_time: Option<SocketAddr>,
}

/// The first of `addrs` that accepts, each waited for at most `step` and
/// all by `deadline`.
pub fn connect(
    addrs: &[SocketAddr],
    step: Duration,
    deadline: Instant,
) -> Result<TcpStream, ConnectError> {
    let mut tried = Vec::new();
    for &addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConnectError {
                tried,
                out_of_time: Some(addr),
            });
        }
        let wait = step.min(left);
        match TcpStream::connect_timeout(&addr, wait) {
            Ok(s) => return Ok(s),
            Err(error) => tried.push(Attempt {
                addr,
                error,
                cut: wait < step,
            }),
        }
    }
    Err(ConnectError {
        tried,
        out_of_time: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_reports_every_address() {
        // A port nothing listens on: refused at once, not timed out.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let step = Duration::from_secs(2);
        let e = connect(&[addr, addr], step, Instant::now() + step).unwrap_err();
        assert_eq!(e.tried.len(), 2);
        assert!(!e.tried[0].timed_out(), "{:?}", e.tried[0]);
        assert!(e.out_of_time.is_none());
        let e = connect(&[addr], step, Instant::now()).unwrap_err();
        assert_eq!(e.out_of_time, Some(addr));
        assert!(e.tried.is_empty());
    }

    #[test]
    fn resolves_localhost() {
        let a = resolve("127.0.0.1", 80, Duration::from_secs(5)).unwrap();
        assert_eq!(a, vec!["127.0.0.1:80".parse().unwrap()]);
    }
}
