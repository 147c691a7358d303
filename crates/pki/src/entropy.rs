//! The only error of randomness in mk-pki: keys, serial numbers, PBES2 salts
//! and IVs all come from here.
//!
//! Why /dev/urandom and not getrandom(2): nodes run CentOS 7 (kernel 3.10),
//! which has no getrandom(2). Rust's `getrandom` crate then polls /dev/random
//! until the pool is initialised before reading /dev/urandom, which can stall
//! early boot for a minute or more. Reading /dev/urandom never blocks. Node-side
//! renewal (`mk-firstboot renew`) runs from a systemd timer that first fires
//! long after boot (see firstboot/systemd/mk-pki-renew.timer), when the pool has
//! long been initialised, so the bytes are full strength as well. Signing needs
//! no randomness at all: ECDSA uses RFC 6979 deterministic nonces and Ed25519
//! is deterministic by construction.

use std::io::Read;

/// Reading the kernel's random device failed.
#[derive(Debug, thiserror::Error)]
#[error("reading {path}: {error}")]
pub struct EntropyError {
    pub path: &'static str,
    pub error: std::io::Error,
}

const URANDOM: &str = "/dev/urandom";

/// Fill `buf` with bytes from /dev/urandom.
pub fn fill(buf: &mut [u8]) -> Result<(), EntropyError> {
    let err = |error| EntropyError {
        path: URANDOM,
        error,
    };
    std::fs::File::open(URANDOM)
        .map_err(err)?
        .read_exact(buf)
        .map_err(err)
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N], EntropyError> {
    let mut b = [0u8; N];
    fill(&mut b)?;
    Ok(b)
}
