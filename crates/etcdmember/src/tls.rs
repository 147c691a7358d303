//! rustls for etcd's client port, on [`mk_nodetls::provider`] (/dev/urandom
//! randomness and X25519: CentOS 7's kernel has no getrandom(2)). Server
//! identity: the etcd realm's root (`etcd/ca.crt`) is the only anchor and
//! the host name is checked (R21); the client presents its leaf and
//! intermediate (R22: etcd's own realm).

use std::sync::Arc;

use mk_nodetls::provider;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// The PEM texts of an etcd client identity, as the node has them:
/// `etcd/ca.crt` (the realm's root), a client leaf followed by its host
/// intermediate (`apiserver-etcd-client.crt`) and its key.
#[derive(Clone)]
pub struct Credentials {
    /// Where they came from, for errors (`spec.certificates` or a path).
    pub origin: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Read from PEM files (`etcdctl --cacert --cert --key`); errors name
    /// the file.
    pub fn from_files(
        ca: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<Credentials, String> {
        let read = |p: &std::path::Path, what: &str| {
            std::fs::read_to_string(p).map_err(|e| format!("{what} {}: {e}", p.display()))
        };
        Ok(Credentials {
            origin: format!("{}, {}, {}", ca.display(), cert.display(), key.display()),
            ca_pem: read(ca, "etcd CA")?,
            cert_pem: read(cert, "etcd client certificate")?,
            key_pem: read(key, "etcd client key")?,
        })
    }
}

/// The client configuration; errors name the origin and the broken part.
pub fn client_config(c: &Credentials) -> Result<Arc<ClientConfig>, String> {
    let o = &c.origin;
    let certs = |text: &str, what: &str| -> Result<Vec<CertificateDer<'static>>, String> {
        let v = CertificateDer::pem_slice_iter(text.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{o}: {what}: not PEM certificates: {e}"))?;
        if v.is_empty() {
            return Err(format!("{o}: {what}: no certificate in it"));
        }
        Ok(v)
    };
    let mut roots = RootCertStore::empty();
    for ca in certs(&c.ca_pem, "CA")? {
        roots
            .add(ca)
            .map_err(|e| format!("{o}: CA: not a usable trust anchor: {e}"))?;
    }
    let chain = certs(&c.cert_pem, "client certificate")?;
    let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes())
        .map_err(|e| format!("{o}: client key: not a PEM private key: {e}"))?;
    let provider = Arc::new(provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("{o}: CA: {e}"))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{o}: {e}"))?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("{o}: client certificate and key: {e}"))?;
    Ok(Arc::new(config))
}
