//! OCI image layouts: blobs, manifests, configs, safe layer unpacking with
//! whiteouts, deterministic layer diffs (issue 4, R4, R20).
//!
//! Reading: [`Layout::open`] takes an OCI image layout directory or an OCI
//! archive; [`Layout::images`] lists `index.json`; [`Layout::image`] /
//! [`Layout::image_by_ref`] give an [`Image`] (manifest + config, every
//! blob checked against digest and size); [`unpack_image`] applies its
//! layers to a directory with the safety policy described in [`unpack`].
//!
//! Writing: [`TreeSnapshot::scan`] a tree before a change, then
//! [`snapshot::diff`] after it; [`write_layer`] turns the changes into a
//! layer blob (tar, tar+gzip or tar+zstd; deleted paths become whiteouts);
//! [`write_layer_from_tree`] writes a whole tree; [`write_image`] adds the
//! config and manifest on top of an optional [`Base`] image and names it in
//! `index.json`; [`write_archive`] packs the layout as an OCI archive.
//! Everything written is deterministic: the same inputs and
//! SOURCE_DATE_EPOCH give the same digests (sorted entries, clamped
//! mtimes, numeric owners, compact JSON with fixed key order).
//!
//! Unpacking refuses `..` members, writes through symlinks that leave the
//! root (absolute or climbing), hardlinks and whiteouts pointing outside,
//! and skips device nodes; see [`unpack`] for the whole policy. Layers
//! carry file capabilities (`security.capability`) as PAX xattr records.
//!
//! Tests judge the output with skopeo, umoci and setcap (Debian packages
//! `skopeo`, `umoci`, `libcap2-bin`) and must run as root.
//!
//! ```no_run
//! # fn main() -> mk_oci::Result<()> {
//! use mk_oci::*;
//! let epoch = 1_700_000_000;
//! let base_layout = Layout::open("base.tar".as_ref())?;
//! let base = base_layout.image(&"sha256:…".parse()?)?;
//! let root = std::path::Path::new("/tmp/rootfs");
//! unpack_image(&base_layout, &base, root)?;
//! let before = TreeSnapshot::scan(root)?;
//! // … install RPMs into root …
//! let changes = snapshot::diff(&before, root)?;
//! let out = Layout::create("out".as_ref())?;
//! let layer = write_layer(root, &changes, Compression::Gzip, epoch, &out)?;
//! let cfg = ImageConfig { user: Some("2379:2379".into()), source_date_epoch: epoch, ..Default::default() };
//! let manifest = write_image(&out, Some(Base { layout: &base_layout, image: &base }), &[layer], &cfg, Some("etcd:3.5"))?;
//! write_archive(out.path(), "etcd.tar".as_ref())?;
//! # let _ = manifest; Ok(()) }
//! ```

pub mod archive;
pub mod digest;
pub mod error;
pub mod image;
pub mod layer;
pub mod layout;
pub mod snapshot;
pub mod spec;
pub mod unpack;

pub use archive::write_archive;
pub use digest::Digest;
pub use error::{Error, Result};
pub use image::{build_config, rfc3339, write_image, Base, ImageConfig};
pub use layer::{write_layer, write_layer_from_tree, Compression, LayerDescriptor};
pub use layout::{BlobWriter, Image, ImageRef, Layout};
pub use snapshot::{
    diff, read_xattrs, Change, ChangeKind, Entry, EntryKind, TreeSnapshot, CARRIED_XATTRS,
};
pub use spec::{ConfigFile, ContainerConfig, Descriptor, Index, Manifest};
pub use unpack::{unpack_image, unpack_layer, UnpackStats};
