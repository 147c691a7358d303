//! minisign-format keys and signatures: the format lives in the shared
//! `mk-minisign` crate (role configs are signed the same way); re-exported
//! here so `mk_bundle::sign::*` and `mk_bundle::{PublicKey, ...}` keep working.

pub use mk_minisign::{KdfParams, KeyId, PublicKey, SecretKey, SignError, Signature};
