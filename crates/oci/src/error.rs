//! The crate's one error type: every variant names the file, blob, layer
//! member or field at fault and what was expected.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    BadDigest(#[from] crate::digest::BadDigest),
    #[error("{} is not an OCI image layout or OCI archive: {reason}", path.display())]
    BadLayout { path: PathBuf, reason: String },
    #[error("blob {digest} is missing from layout {}", layout.display())]
    BlobMissing { layout: PathBuf, digest: Digest },
    #[error("blob {digest} in layout {} is corrupt: {reason}", layout.display())]
    BlobMismatch {
        layout: PathBuf,
        digest: Digest,
        reason: String,
    },
    #[error("layer {index} of {count} ({digest}) in {} is corrupt: {reason}", layout.display())]
    LayerCorrupt {
        layout: PathBuf,
        /// 1-based, lowest layer first.
        index: usize,
        count: usize,
        digest: Digest,
        reason: String,
    },
    #[error("{} is a `docker save` archive (docker-archive format: manifest.json and no oci-layout), not an OCI archive; convert it with: skopeo copy docker-archive:{} oci-archive:OUT.tar", path.display(), path.display())]
    DockerArchive { path: PathBuf },
    #[error("{} holds an unpacked `docker save` archive (manifest.json and no oci-layout), not an OCI layout; pack it again and convert it with: tar -C {} -cf FILE.tar . && skopeo copy docker-archive:FILE.tar oci-archive:OUT.tar", path.display(), path.display())]
    DockerArchiveDir { path: PathBuf },
    #[error("{what} in layout {}: invalid JSON", layout.display())]
    Json {
        layout: PathBuf,
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what} in layout {}: {reason}", layout.display())]
    BadDocument {
        layout: PathBuf,
        what: String,
        reason: String,
    },
    #[error("layout {} has no image named {name:?} (org.opencontainers.image.ref.name); it has: {}", layout.display(), if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    RefNotFound {
        layout: PathBuf,
        name: String,
        available: Vec<String>,
    },
    #[error("blob {digest} has media type {media_type:?}, which mk-oci does not support here (expected {expected})")]
    UnsupportedMediaType {
        digest: Digest,
        media_type: String,
        expected: &'static str,
    },
    /// A layer member that would escape the unpack root, or that is refused
    /// for another safety reason.
    #[error("layer {layer}: member {member:?} refused: {reason}")]
    UnsafeMember {
        layer: String,
        member: String,
        reason: String,
    },
    /// A layer that cannot be read as a tar stream (truncated, bad header,
    /// bad compression).
    #[error("layer {layer}: {reason}")]
    BadLayer { layer: String, reason: String },
    #[error("{}: {reason}", root.join(path).display())]
    Tree {
        root: PathBuf,
        path: PathBuf,
        reason: String,
    },
    #[error("image config: {field}: {reason}")]
    BadConfig { field: &'static str, reason: String },
}

/// `map_err` helper: an I/O error with what was being done and the path.
pub(crate) fn io_err(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { what, path, source }
}
