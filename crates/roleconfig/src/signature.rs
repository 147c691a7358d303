//! Signed configs: a role config is signed by the cluster's admin key
//! (minisign format, `FILE.minisig` beside it, made by
//! `mk-compose config-drive`); the image carries the trusted public key(s).
//! Hashes alone would not do: the drive that carries the config could carry
//! the hashes too.

use std::path::{Path, PathBuf};

use mk_minisign::{KeyId, PublicKey, SignError, Signature};
use thiserror::Error;

/// A minisign signature file is about 300 bytes (two base64 lines and two
/// comments); anything far larger is not one and is not read.
pub const MAX_SIGNATURE_BYTES: usize = 64 << 10;

/// Where a config's signature lives: `FILE.minisig`, as minisign puts it.
pub fn signature_path(config: &Path) -> PathBuf {
    let mut s = config.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// How a config was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Signed by this trusted key.
    Signed {
        key_id: KeyId,
        trusted_comment: String,
    },
    /// Accepted without a checked signature because the image was built to
    /// allow unsigned configs.
    UnsignedAllowed,
}

#[derive(Debug, Error)]
pub enum SignatureError {
    #[error(
        "{file}: the role config is not signed (no {file}.minisig); this image accepts only \
         configs signed by its trusted key (sign with `mk-compose config-drive`)"
    )]
    Unsigned { file: String },
    #[error(
        "{file}: signed, but this image has no trusted key to check the signature; remove \
         {file}.minisig to deliver it unsigned, or build the image with the key"
    )]
    NoTrustedKey { file: String },
    #[error(
        "{file}.minisig: signed by key ID {signed_by}, which this image does not trust \
         (trusted: {})", trusted_list(.trusted)
    )]
    UntrustedKey {
        file: String,
        signed_by: KeyId,
        trusted: Vec<KeyId>,
    },
    /// Malformed signature file, or a signature that does not match (the
    /// config or its trusted comment changed).
    #[error(transparent)]
    Invalid(#[from] SignError),
}

fn trusted_list(keys: &[KeyId]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks `config` against its `.minisig` (if any) and the image's trusted
/// keys. `allow_unsigned` is the image's build setting, never a config
/// field, and covers only configs delivered without a signature: a
/// signature that is present is always checked, and refused when it is bad
/// (the config was changed after signing), made by a key the image does not
/// trust, or cannot be checked because the image has no key at all. A
/// signature nobody checked would look like a guarantee in the report and
/// on the console; whoever wants an unsigned delivery removes the
/// `.minisig`.
pub fn verify_signed(
    config: &[u8],
    minisig: Option<&[u8]>,
    trusted: &[PublicKey],
    allow_unsigned: bool,
    file: &str,
) -> Result<Verified, SignatureError> {
    let Some(minisig) = minisig else {
        return if allow_unsigned {
            tracing::warn!(
                file,
                "role config is unsigned; accepted because this image allows unsigned configs"
            );
            Ok(Verified::UnsignedAllowed)
        } else {
            Err(SignatureError::Unsigned { file: file.into() })
        };
    };
    let sig_file = format!("{file}.minisig");
    let sig = Signature::parse(minisig, &sig_file)?;
    if trusted.is_empty() {
        return Err(SignatureError::NoTrustedKey { file: file.into() });
    }
    let Some(key) = trusted.iter().find(|k| k.key_id() == sig.key_id()) else {
        return Err(SignatureError::UntrustedKey {
            file: file.into(),
            signed_by: sig.key_id(),
            trusted: trusted.iter().map(PublicKey::key_id).collect(),
        });
    };
    sig.verify(key, config, &sig_file, file, None)?;
    Ok(Verified::Signed {
        key_id: sig.key_id(),
        trusted_comment: sig.trusted_comment().to_string(),
    })
}
