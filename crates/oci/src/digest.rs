//! Content digests: `sha256:<64 lowercase hex>`, the only algorithm OCI
//! tools write in practice (and the only one we accept, so a digest names
//! exactly one blob path). The type and the hashing adapters are mk-durable's,
//! shared with every crate that checks files.

pub use mk_durable::digest::{BadDigest, Digest, HashingReader, HashingWriter};
