//! `--bundle FILE --trust KEY.pub`: the new bundle, checked on the admin's
//! machine before any node is touched, exactly as `mk-compose verify` does
//! (mk_bundle::verify: signature, then every file against MANIFEST), and its
//! node image's version read from image/image.json through mk_bundle's ISO
//! reader (no mount). The ssh driver then carries it to each node and
//! checks it there against the SHA-256 taken here.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mk_bundle::iso;
use mk_bundle::PublicKey;
use mk_durable::Digest;
use mk_slots::node_image::{self, IMAGE_DIR, INFO_FILE};

/// A bundle that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBundle {
    /// Absolute, so that a driver started in another directory finds it.
    pub path: PathBuf,
    /// Its node image's version (image/image.json).
    pub version: String,
    /// SHA-256 of the whole file, taken before the verification read it:
    /// what arrives on a node must have it.
    pub sha256: Digest,
    pub size: u64,
    /// The signature's trusted comment (name, version, manifest digest).
    pub trusted_comment: String,
    /// Files checked against MANIFEST.
    pub files: usize,
    /// Time for the digest and the verification.
    pub checked_in: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("--trust {path}: {source}")]
    Trust {
        path: PathBuf,
        #[source]
        source: mk_bundle::SignError,
    },
    #[error("--bundle {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--bundle: check failed, no node was touched: {0}")]
    Verify(#[from] Box<mk_bundle::VerifyError>),
    #[error("--bundle {path}: {what}")]
    Image { path: PathBuf, what: String },
}

impl NewBundle {
    /// One line for `plan` and `apply`.
    pub fn describe(&self) -> String {
        format!(
            "Bundle {}: node image version {}, {} bytes, sha256 {}; verified ({} files, {}) in {:.1?}.",
            self.path.display(),
            self.version,
            self.size,
            self.sha256.hex(),
            self.files,
            self.trusted_comment,
            self.checked_in
        )
    }
}

/// Checks `bundle` against the key in `trust` and reads its node image's
/// version. A changed, missing or extra file, a wrong key, or a bundle made
/// without `--node-image` is an error.
pub fn check(bundle: &Path, trust: &Path) -> Result<NewBundle, BundleError> {
    let started = Instant::now();
    let key = PublicKey::from_file(trust).map_err(|source| BundleError::Trust {
        path: trust.to_path_buf(),
        source,
    })?;
    let read_err = |source| BundleError::Read {
        path: bundle.to_path_buf(),
        source,
    };
    let path = std::path::absolute(bundle).map_err(read_err)?;
    // Before verify: if the file changes afterwards, what reaches the node
    // no longer matches this digest and the node refuses it.
    let (sha256, size) = Digest::of_file(&path).map_err(read_err)?;
    let report = mk_bundle::verify(&path, &key).map_err(Box::new)?;
    let version = image_version(&path)?;
    let b = NewBundle {
        path,
        version,
        sha256,
        size,
        trusted_comment: report.trusted_comment,
        files: report.files,
        checked_in: started.elapsed(),
    };
    tracing::info!(
        bundle = %b.path.display(),
        version = %b.version,
        sha256 = %b.sha256.hex(),
        files = b.files,
        "bundle verified in {:.1?}",
        b.checked_in
    );
    Ok(b)
}

/// The `version` of the bundle's image/image.json.
pub fn image_version(bundle: &Path) -> Result<String, BundleError> {
    let bad = |what: String| BundleError::Image {
        path: bundle.to_path_buf(),
        what,
    };
    let file = File::open(bundle).map_err(|source| BundleError::Read {
        path: bundle.to_path_buf(),
        source,
    })?;
    let image = iso::open_file(file).map_err(|e| bad(e.to_string()))?;
    let entries = image.list().map_err(|e| bad(e.to_string()))?;
    let info = node_image::read_info(&image, &entries).map_err(bad)?;
    if info.version.is_empty() {
        return Err(bad(format!("{IMAGE_DIR}/{INFO_FILE}: version is empty")));
    }
    Ok(info.version)
}
