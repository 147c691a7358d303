//! The offline bundle: a manifest of every file's SHA-256, its minisign
//! signature, the ISO 9660 image that carries them, and verification of an
//! ISO read directly (no mount).

pub mod iso;
pub mod manifest;
pub mod password;
pub mod sign;
pub mod verify;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use manifest::{Manifest, ManifestError, Sha256Digest, MANIFEST_NAME, SIGNATURE_NAME};
pub use password::{PasswordError, PasswordSource};
pub use sign::{KdfParams, KeyId, PublicKey, SecretKey, SignError, Signature};
pub use verify::{verify, Problem, Report, VerifyError};

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("{0}")]
    Options(String),
    #[error("staging directory {path}")]
    Staging {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Iso(#[from] iso::IsoWriteError),
}

/// What names and dates the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleOptions {
    /// Bundle name and version, recorded in the signed trusted comment.
    pub name: String,
    pub version: String,
    /// ISO volume ID (max 32 characters of A-Z a-z 0-9 `_-.`).
    pub volume_label: String,
    /// Every timestamp in the image.
    pub source_date_epoch: u64,
}

/// What `finish_bundle` produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedBundle {
    pub files: usize,
    pub manifest_sha256: Sha256Digest,
    pub key_id: KeyId,
    pub trusted_comment: String,
}

/// The signed trusted comment: `mk-bundle name=N version=V manifest-sha256=H`.
/// No wall-clock time (unlike minisign's default): same inputs, same bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedComment {
    pub name: Option<String>,
    pub version: Option<String>,
    pub manifest_sha256: Option<String>,
}

impl TrustedComment {
    pub fn render(name: &str, version: &str, manifest_sha256: &Sha256Digest) -> String {
        format!(
            "mk-bundle name={name} version={version} manifest-sha256={}",
            manifest_sha256.hex()
        )
    }

    /// Reads our fields from any trusted comment; others (e.g. minisign's
    /// default `timestamp:...`) give `None`s.
    pub fn parse(comment: &str) -> Self {
        let mut out = TrustedComment::default();
        let mut words = comment.split(' ');
        if words.next() != Some("mk-bundle") {
            return out;
        }
        for word in words {
            match word.split_once('=') {
                Some(("name", v)) => out.name = Some(v.to_string()),
                Some(("version", v)) => out.version = Some(v.to_string()),
                Some(("manifest-sha256", v)) => out.manifest_sha256 = Some(v.to_string()),
                _ => {}
            }
        }
        out
    }
}

fn check_word(what: &str, value: &str) -> Result<(), BundleError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(BundleError::Options(format!(
            "bundle {what} {value:?}: expected a non-empty word without spaces"
        )));
    }
    Ok(())
}

/// Finishes a bundle from its staging directory: writes `MANIFEST` (every
/// regular file's SHA-256) and `MANIFEST.minisig` into `staging`, then the
/// ISO at `out_iso`, atomically (on error nothing is left at `out_iso`).
/// Running it twice on the same tree and options gives identical bytes.
pub fn finish_bundle(
    staging: &Path,
    out_iso: &Path,
    key: &SecretKey,
    opts: &BundleOptions,
) -> Result<FinishedBundle, BundleError> {
    check_word("name", &opts.name)?;
    check_word("version", &opts.version)?;
    // Before hours of hashing, not after.
    iso::write::check_label(&opts.volume_label)?;
    let meta = std::fs::metadata(staging).map_err(|source| BundleError::Staging {
        path: staging.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(BundleError::Staging {
            path: staging.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let manifest = Manifest::build(staging)?;
    let text = manifest.to_text();
    let manifest_sha256 = Sha256Digest::of(text.as_bytes());
    let trusted_comment = TrustedComment::render(&opts.name, &opts.version, &manifest_sha256);
    let signature = key.sign(
        text.as_bytes(),
        &trusted_comment,
        &format!(
            "signature from mk-compose, key ID {} (verify: minisign -V -p mk.pub -m MANIFEST)",
            key.key_id()
        ),
    );
    let write = |name: &str, data: &[u8]| {
        let path = staging.join(name);
        mk_durable::write_atomic(&path, data)
            .map_err(|source| BundleError::Staging { path, source })
    };
    write(MANIFEST_NAME, text.as_bytes())?;
    write(SIGNATURE_NAME, signature.to_file_text().as_bytes())?;
    tracing::info!(files = manifest.len(), %manifest_sha256, key_id = %key.key_id(), "MANIFEST signed");
    iso::write(
        staging,
        out_iso,
        &iso::IsoOptions {
            volume_label: opts.volume_label.clone(),
            source_date_epoch: opts.source_date_epoch,
            ..Default::default()
        },
    )?;
    Ok(FinishedBundle {
        files: manifest.len(),
        manifest_sha256,
        key_id: key.key_id(),
        trusted_comment,
    })
}
