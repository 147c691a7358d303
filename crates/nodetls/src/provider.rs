//! rustls arranged for CentOS 7's kernel 3.10, which has no getrandom(2):
//! ring's own random source (the `getrandom` crate) would then poll
//! /dev/random until the entropy pool is initialised, which can stall
//! early boot for a minute or more. So the provider's random bytes (client
//! random, nonces) come from /dev/urandom, and the key exchange is X25519
//! with the ephemeral secret read from /dev/urandom (x25519-dalek) instead
//! of ring's, whose key generation cannot take another random source.
//! Everything else (cipher suites, signature checks) is ring's and needs no
//! randomness.

use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::{NamedGroup, PeerMisbehaved};

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
