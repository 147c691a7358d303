//! The rustls client side of the apiserver connection: trust exactly the
//! cluster CA given, present the in-memory client certificate.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::{ApiError, Credentials};

fn bad(what: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::Credentials(format!("{what}: {reason}"))
}

fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, ApiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(what, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad(what, "no CERTIFICATE block in the PEM text"));
    }
    Ok(certs)
}

/// The client configuration for `creds`, on `provider`.
pub(crate) fn client_config(
    creds: &Credentials,
    provider: Arc<CryptoProvider>,
) -> Result<ClientConfig, ApiError> {
    let mut roots = RootCertStore::empty();
    for ca in certificates(&creds.ca_pem, "ca_pem")? {
        roots
            .add(ca)
            .map_err(|e| bad("ca_pem", format!("not a usable CA certificate: {e}")))?;
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad("ca_pem", e))?;
    let chain = certificates(&creds.cert_chain_pem, "cert_chain_pem")?;
    let key = PrivateKeyDer::from_pem_slice(creds.key_pem.as_bytes()).map_err(|e| {
        bad(
            "key_pem",
            format!("no usable private key in the PEM text: {e}"),
        )
    })?;
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS provider", e))?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| bad("cert_chain_pem/key_pem", e))
}
