//! Server-certificate verifiers: a [`CertCheck`] decides about the
//! certificate, and [`Verifier`] adds what every one of them needs, the
//! handshake signatures checked with the provider's (ring's) algorithms.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The server's chain and what goes with it, as rustls hands them to
/// [`ServerCertVerifier::verify_server_cert`].
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a, 'b> {
    pub end_entity: &'a CertificateDer<'b>,
    pub intermediates: &'a [CertificateDer<'b>],
    pub server_name: &'a ServerName<'b>,
    pub ocsp_response: &'a [u8],
    pub now: UnixTime,
}

/// The decision about the server's certificate chain, given the provider.
pub trait CertCheck: std::fmt::Debug + Send + Sync {
    fn check(
        &self,
        provider: &Arc<CryptoProvider>,
        presented: Presented<'_, '_>,
    ) -> Result<ServerCertVerified, rustls::Error>;
}

/// A [`CertCheck`] made a verifier.
#[derive(Debug)]
pub struct Verifier<C> {
    pub check: C,
    provider: Arc<CryptoProvider>,
}

impl<C: CertCheck> Verifier<C> {
    pub fn new(check: C, provider: Arc<CryptoProvider>) -> Verifier<C> {
        Verifier { check, provider }
    }
}

impl<C: CertCheck> ServerCertVerifier for Verifier<C> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Presented {
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        };
        self.check.check(&self.provider, presented)
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

/// Accepts any server certificate. Only for a connection whose trust
/// comes from elsewhere (token discovery's first fetch: the JWS over
/// cluster-info and the CA hash, as kubeadm's); handshake signatures are
/// still checked.
#[derive(Debug)]
pub struct AnyCert;

impl CertCheck for AnyCert {
    fn check(
        &self,
        _provider: &Arc<CryptoProvider>,
        _presented: Presented<'_, '_>,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
}

/// A verifier that accepts any server certificate: see [`AnyCert`].
pub fn any_server(provider: Arc<CryptoProvider>) -> Arc<Verifier<AnyCert>> {
    Arc::new(Verifier::new(AnyCert, provider))
}
