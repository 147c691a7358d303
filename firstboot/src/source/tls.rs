//! rustls for the config URL, arranged for CentOS 7's kernel 3.10, which
//! has no getrandom(2): ring's own random source (the `getrandom` crate)
//! would then poll /dev/random until the entropy pool is initialised, which
//! can stall early boot for a minute or more. So the provider's random
//! bytes (client random, nonces) come from /dev/urandom, and the key
//! exchange is X25519 with the ephemeral secret read from /dev/urandom
//! (x25519-dalek) instead of ring's, whose key generation cannot take
//! another random source. Everything else (cipher suites, signature checks)
//! is ring's and needs no randomness.
//!
//! The server is trusted through a pin: the certificate in the presented
//! chain whose SHA-256 (of its DER) equals `mk.config.ca` becomes the only
//! trust anchor, and the usual WebPKI path building and host-name check run
//! against it.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, NamedGroup, PeerMisbehaved, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

#[derive(Debug)]
struct Urandom;

impl SecureRandom for Urandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        mk_pki::entropy::fill(buf).map_err(|_| GetRandomFailed)
    }
}

#[derive(Debug)]
struct X25519;

struct X25519Exchange {
    secret: x25519_dalek::StaticSecret,
    public: [u8; 32],
}

impl SupportedKxGroup for X25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let bytes =
            mk_pki::entropy::bytes::<32>().map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        Ok(Box::new(X25519Exchange { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] = peer
            .try_into()
            .map_err(|_| rustls::Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        // An all-zero result means a low-order point from the peer.
        if !shared.was_contributory() {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// ring's provider with /dev/urandom randomness and our X25519.
pub fn provider() -> CryptoProvider {
    static URANDOM: Urandom = Urandom;
    static X: X25519 = X25519;
    let mut p = rustls::crypto::ring::default_provider();
    p.kx_groups = vec![&X];
    p.secure_random = &URANDOM;
    p
}

pub fn sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Trusts exactly the presented certificate that matches the pin.
#[derive(Debug)]
pub struct PinnedCa {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
    /// Why the last handshake was refused, for a clear message.
    pub refusal: Arc<Mutex<Option<String>>>,
}

impl PinnedCa {
    pub fn new(pin: [u8; 32], provider: Arc<CryptoProvider>) -> Self {
        PinnedCa {
            pin,
            provider,
            refusal: Arc::default(),
        }
    }

    fn refuse(&self, why: String) -> rustls::Error {
        *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
        rustls::Error::General(why)
    }
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented: Vec<&CertificateDer<'_>> =
            std::iter::once(end_entity).chain(intermediates).collect();
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
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| self.refuse(format!("pinned CA: {e}")))?;
        verifier
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| {
                self.refuse(format!(
                    "the server's certificate does not verify against the pinned CA: {e}"
                ))
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
