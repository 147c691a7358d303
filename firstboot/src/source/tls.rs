//! rustls for the config URL, on [`mk_nodetls::provider`] (/dev/urandom
//! randomness and X25519: CentOS 7's kernel has no getrandom(2)).
//!
//! The server is trusted through a pin: the certificate in the presented
//! chain whose SHA-256 (of its DER) equals `mk.config.ca` becomes the only
//! trust anchor, and the usual WebPKI path building and host-name check run
//! against it.

use std::sync::{Arc, Mutex};

use mk_nodetls::verify::{CertCheck, Presented};
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use sha2::{Digest, Sha256};

/// Kept here too: mk-firstboot's API step and CSR approver take it from
/// this module.
pub use mk_nodetls::provider;

pub fn sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Trusts exactly the presented certificate that matches the pin (wrapped
/// in [`mk_nodetls::verify::Verifier`], which checks handshake signatures).
#[derive(Debug)]
pub struct PinnedCa {
    pin: [u8; 32],
    /// Why the last handshake was refused, for a clear message.
    pub refusal: Arc<Mutex<Option<String>>>,
}

impl PinnedCa {
    pub fn new(pin: [u8; 32]) -> Self {
        PinnedCa {
            pin,
            refusal: Arc::default(),
        }
    }

    fn refuse(&self, why: String) -> rustls::Error {
        *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
        rustls::Error::General(why)
    }
}

impl CertCheck for PinnedCa {
    fn check(
        &self,
        provider: &Arc<CryptoProvider>,
        p: Presented<'_, '_>,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented: Vec<&CertificateDer<'_>> = std::iter::once(p.end_entity)
            .chain(p.intermediates)
            .collect();
        let Some(anchor) = presented
            .iter()
            .find(|c| Sha256::digest(c.as_ref()).as_slice() == self.pin)
        else {
            let digests: Vec<String> = presented
                .iter()
                .map(|c| format!("sha256:{}", sha256_hex(c)))
                .collect();
            return Err(self.refuse(format!(
                "CA pin mismatch: mk.config.ca=sha256:{} is none of the {} certificate(s) the \
                 server presented: {}",
                hex::encode(self.pin),
                digests.len(),
                digests.join(", ")
            )));
        };
        let mut roots = RootCertStore::empty();
        roots
            .add((*anchor).clone().into_owned())
            .map_err(|e| self.refuse(format!("the pinned certificate is not a usable CA: {e}")))?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| self.refuse(format!("pinned CA: {e}")))?;
        verifier
            .verify_server_cert(
                p.end_entity,
                p.intermediates,
                p.server_name,
                p.ocsp_response,
                p.now,
            )
            .map_err(|e| {
                self.refuse(format!(
                    "the server's certificate does not verify against the pinned CA: {e}"
                ))
            })
    }
}
