//! A local TLS server for the tests of mk-firstboot's HTTPS fetches
//! (discovery.rs, https_source.rs): certificates from mk-pki (a realm's
//! root -> intermediate for `localhost` -> leaf for `localhost`, as a node
//! sees them) served by rustls in a thread.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use mk_pki::issue::{self, Ca};
use mk_pki::plan::{LeafSpec, Reload, RenewedBy, Usage};
use mk_pki::{KeyAlgorithm, PrivateKey, Realm};

pub struct Pki {
    pub root_pem: String,
    pub root_der: Vec<u8>,
    pub intermediate_der: Vec<u8>,
    /// Leaf then intermediate, as the server sends them.
    pub chain: Vec<Vec<u8>>,
    /// The leaf's key.
    pub key: PrivateKey,
}

/// A fresh chain in `realm` whose leaf (`id`, CN `common_name`) serves
/// `localhost`.
pub fn pki(realm: Realm, id: &str, common_name: &str) -> Pki {
    let now = time::OffsetDateTime::now_utc();
    let rkey = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let root = Ca::new(issue::root(realm, &rkey, now, 30).unwrap(), rkey, "root").unwrap();
    let ikey = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let inter = issue::intermediate(
        &root,
        realm,
        "localhost",
        Some(&["localhost".to_string()]),
        &ikey,
        now,
        10,
    )
    .unwrap();
    let intermediate_der = inter.der.clone();
    let ica = Ca::new(inter, ikey, "intermediate").unwrap();
    let lkey = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let spec = LeafSpec {
        id: id.into(),
        realm,
        common_name: common_name.into(),
        organizations: vec![],
        usages: vec![Usage::ServerAuth],
        dns_names: vec!["localhost".into()],
        ip_addresses: vec![],
        algorithm: KeyAlgorithm::EcdsaP256,
        lifetime_days: 2,
        cert_path: "/x.crt".into(),
        key_path: "/x.key".into(),
        renewed_by: RenewedBy::Node,
        reload: Reload::Nothing,
    };
    let leaf = issue::leaf(&ica, &spec, &lkey, now).unwrap();
    Pki {
        root_pem: root.cert_pem(),
        root_der: root.info.der.clone(),
        chain: vec![leaf.der, intermediate_der.clone()],
        intermediate_der,
        key: lkey,
    }
}

/// One server-side TLS connection.
pub type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// A listener on 127.0.0.1 (a free port) and the TLS config that serves
/// `pki`'s chain.
pub fn listen(pki: &Pki) -> (TcpListener, Arc<rustls::ServerConfig>) {
    let certs = pki
        .chain
        .iter()
        .map(|d| rustls::pki_types::CertificateDer::from(d.clone()))
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pki.key.to_pkcs8_der().to_vec().into());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    (TcpListener::bind("127.0.0.1:0").unwrap(), config)
}

/// Accepts TLS on `tcp` and reads the request head (to the blank line):
/// empty when the client hung up first (it refused the certificate).
pub fn request(config: &Arc<rustls::ServerConfig>, tcp: TcpStream) -> (Tls, Vec<u8>) {
    let conn = rustls::ServerConnection::new(config.clone()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => req.extend_from_slice(&buf[..k]),
        }
    }
    (tls, req)
}

/// Sends `response` and closes the TLS session (close_notify, so the
/// client sees a clean end, not a truncation).
pub fn reply(mut tls: Tls, response: &[u8]) {
    let _ = tls.write_all(response);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}
