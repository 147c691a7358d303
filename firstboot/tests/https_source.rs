//! The kernel-command-line source against a real TLS server (rustls, in a
//! thread) with certificates from mk-pki (registry realm: root ->
//! per-host intermediate -> leaf for `localhost`): the right CA pin
//! fetches config and signature, a wrong pin is refused naming both
//! digests, plain http is refused before any connection.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use common::tls::{self, Pki};
use mk_firstboot::errors;
use mk_firstboot::source::{self, Places};
use mk_pki::Realm;
use sha2::{Digest, Sha256};

fn pki() -> Pki {
    tls::pki(Realm::Registry, "registry", "localhost")
}

/// Serves `files` (path -> body) over TLS to `n` connections.
fn serve(pki: &Pki, files: Vec<(&'static str, Vec<u8>)>, n: usize) -> u16 {
    let (listener, config) = tls::listen(pki);
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(tcp) = stream else { continue };
            let (conn, req) = tls::request(&config, tcp);
            let line = String::from_utf8_lossy(&req)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let resp = match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    let mut r =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                            .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            };
            tls::reply(conn, &resp);
        }
    });
    port
}

fn places(dir: &std::path::Path, cmdline: &str) -> Places {
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    std::fs::write(dir.join("proc/cmdline"), cmdline).unwrap();
    let mut p = Places::under(dir);
    p.attempts = 1;
    p.timeout = Duration::from_secs(10);
    p
}

#[test]
fn pinned_ca_fetches_config_and_signature() {
    let pki = pki();
    let port = serve(
        &pki,
        vec![
            ("/rack1/node-config.yaml", b"config".to_vec()),
            ("/rack1/node-config.yaml.minisig", b"sig".to_vec()),
        ],
        2,
    );
    let pin = hex::encode(Sha256::digest(&pki.intermediate_der));
    let d = tempfile::tempdir().unwrap();
    let p = places(d.path(), &format!("ro mk.config=https://localhost:{port}/rack1/node-config.yaml mk.config.ca=sha256:{pin}\n"));
    let got = source::find(&p, None).unwrap();
    assert_eq!(got.config, b"config");
    assert_eq!(got.signature.as_deref(), Some(&b"sig"[..]));
    assert_eq!(
        got.origin,
        format!("https://localhost:{port}/rack1/node-config.yaml (CA pinned)")
    );
}

#[test]
fn wrong_pin_is_refused_naming_both_digests() {
    let pki = pki();
    let port = serve(&pki, vec![("/c", b"config".to_vec())], 1);
    let wrong = hex::encode(Sha256::digest(b"some other CA"));
    let d = tempfile::tempdir().unwrap();
    let p = places(
        d.path(),
        &format!("mk.config=https://localhost:{port}/c mk.config.ca=sha256:{wrong}"),
    );
    // What mk-firstboot prints: the error and each cause.
    let e = errors::one_line(&source::find(&p, None).unwrap_err());
    assert!(
        e.contains(&format!(
            "mk.config.ca=sha256:{wrong} is none of the 2 certificate(s)"
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "sha256:{}",
            hex::encode(Sha256::digest(&pki.intermediate_der))
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "sha256:{}",
            hex::encode(Sha256::digest(&pki.chain[0]))
        )),
        "{e}"
    );
}

#[test]
fn right_pin_wrong_name_is_refused() {
    // 127.0.0.1 is not a name in the certificate (R28: no IP SANs).
    let pki = pki();
    let port = serve(&pki, vec![("/c", b"config".to_vec())], 1);
    let pin = hex::encode(Sha256::digest(&pki.intermediate_der));
    let d = tempfile::tempdir().unwrap();
    let p = places(
        d.path(),
        &format!("mk.config=https://127.0.0.1:{port}/c mk.config.ca=sha256:{pin}"),
    );
    // What mk-firstboot prints: the error and each cause.
    let e = errors::one_line(&source::find(&p, None).unwrap_err());
    assert!(e.contains("does not verify against the pinned CA"), "{e}");
}

#[test]
fn plain_http_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = places(
        d.path(),
        "mk.config=http://localhost/c mk.config.ca=sha256:00",
    );
    // What mk-firstboot prints: the error and each cause.
    let e = errors::one_line(&source::find(&p, None).unwrap_err());
    assert!(e.contains("plain http is refused"), "{e}");
}

/// A TCP server that accepts and then does `with` to each connection (in
/// its own thread, so that retries are served too).
fn tcp_server(with: fn(std::net::TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || with(s));
        }
    });
    port
}

fn silent(s: std::net::TcpStream) {
    // Holds the connection open, says nothing.
    std::thread::sleep(Duration::from_secs(30));
    drop(s);
}

fn url_places(dir: &std::path::Path, port: u16) -> Places {
    let pin = hex::encode(Sha256::digest(b"any CA"));
    places(
        dir,
        &format!("mk.config=https://localhost:{port}/c mk.config.ca=sha256:{pin}"),
    )
}

#[test]
fn a_server_that_never_answers_fails_after_the_timeout_saying_so() {
    let port = tcp_server(silent);
    let d = tempfile::tempdir().unwrap();
    let mut p = url_places(d.path(), port);
    p.timeout = Duration::from_secs(1);
    let t = std::time::Instant::now();
    let e = errors::one_line(&source::find(&p, None).unwrap_err());
    assert_eq!(
        e,
        format!(
            "config URL: https://localhost:{port}/c: no response within 1 s (server accepted \
             the connection but sent nothing)"
        )
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn retries_stop_at_the_deadline() {
    let port = tcp_server(silent);
    let d = tempfile::tempdir().unwrap();
    let mut p = url_places(d.path(), port);
    p.attempts = 100;
    p.pause = Duration::from_millis(100);
    p.timeout = Duration::from_millis(700);
    p.deadline = Duration::from_millis(2500);
    let t = std::time::Instant::now();
    let e = errors::one_line(&source::find(&p, None).unwrap_err());
    let took = t.elapsed();
    assert!(e.starts_with("config URL: "), "{e}");
    assert!(
        e.ends_with(&format!(
            "https://localhost:{port}/c: gave up after 2.5 s (server accepted the connection \
             but sent nothing)"
        )) || e.contains("no response within 0.7 s"),
        "{e}"
    );
    assert!(e.contains(" attempts in "), "{e}");
    assert!(
        took >= Duration::from_millis(2000) && took < Duration::from_millis(3500),
        "{took:?}"
    );
}

#[test]
fn a_server_dripping_bytes_is_given_up_at_the_deadline() {
    fn drip(mut s: std::net::TcpStream) {
        // A TLS handshake record header announcing 16 KiB, then one byte
        // every 100 ms: each read succeeds, the handshake never ends.
        if s.write_all(&[0x16, 0x03, 0x03, 0x3f, 0xff]).is_err() {
            return;
        }
        for _ in 0..300 {
            std::thread::sleep(Duration::from_millis(100));
            if s.write_all(b"x").is_err() {
                return;
            }
        }
    }
    let port = tcp_server(drip);
    let d = tempfile::tempdir().unwrap();
    let mut p = url_places(d.path(), port);
    p.timeout = Duration::from_secs(1);
    p.deadline = Duration::from_secs(2);
    let t = std::time::Instant::now();
    let e = errors::one_line(&source::find(&p, None).unwrap_err());
    let took = t.elapsed();
    let prefix = format!(
        "config URL: https://localhost:{port}/c: gave up after 2 s (response still incomplete: "
    );
    assert!(e.starts_with(&prefix), "{e}");
    let n: usize = e[prefix.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n > 5, "{e}");
    assert!(e.ends_with(" bytes received)"), "{e}");
    assert!(took < Duration::from_millis(2600), "{took:?}");
}
