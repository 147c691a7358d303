//! Static Docker Registry v2 tree from OCI layouts, servable by nginx.
//!
//! [`write_registry`] takes (repository name, OCI image layout) pairs and
//! writes a directory that a static web server serves as a read-only
//! registry (the HTTP API v2 subset that pulls use). The tree:
//!
//! ```text
//! catalog.json                                  GET /v2/_catalog
//! blobs/sha256/<hex>                            configs and layers, once for the whole registry
//! manifests/sha256/<hex>.<kind>                 manifests and indexes; kind = oci-manifest,
//!                                               oci-index, docker-manifest or docker-list
//! repositories/<name>/_tags.json                GET /v2/<name>/tags/list
//! repositories/<name>/_tags/<tag>/<hex>         empty: the tag's manifest digest
//! repositories/<name>/_manifests/<hex>          empty: digests <name> serves
//! repositories/<name>/_blobs/<hex>              empty: blobs <name> serves
//! ```
//!
//! No symlinks (the bundle refuses them) and no `:` in names. The nginx
//! rules that map the API onto it are `overlays/registry/root/etc/nginx/
//! mk-registry/registry-api.conf`; see docs/registry.md. The same inputs give
//! the same tree, byte for byte (sorted JSON, content-addressed files).

pub mod layout;
pub mod names;
pub mod plan;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tree;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use layout::LayoutError;
pub use plan::{Kind, Plan};
pub use tree::{TreeError, Written};

/// One input: the OCI layout `layout` served as repository `repository`.
/// Several inputs may name the same repository (their tags are merged; one
/// tag naming two digests is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub repository: String,
    pub layout: PathBuf,
}

impl std::str::FromStr for Image {
    type Err = String;
    /// `NAME=LAYOUT_DIR`, as `mk-compose bundle --image` takes it.
    fn from_str(s: &str) -> Result<Image, String> {
        let (name, dir) = s.split_once('=').ok_or_else(|| {
            format!("{s:?}: expected NAME=LAYOUT_DIR (repository name, OCI image layout directory)")
        })?;
        names::check_repository(name).map_err(|e| e.to_string())?;
        if dir.is_empty() {
            return Err(format!("{s:?}: the layout directory is empty"));
        }
        Ok(Image {
            repository: name.to_string(),
            layout: PathBuf::from(dir),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("writing the registry tree")]
    Tree(#[from] TreeError),
}

/// repository -> tag -> manifest digest (`sha256:<hex>`)
pub type Tags = BTreeMap<String, BTreeMap<String, String>>;

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub tags: Tags,
    pub manifests: usize,
    pub written: Written,
}

/// Reads every layout into one plan (pure apart from reading the layouts).
pub fn plan(images: &[Image]) -> Result<(Plan, Tags), RegistryError> {
    let mut plan = Plan::default();
    let mut tags = Tags::new();
    for image in images {
        let added = layout::add_layout(&mut plan, &image.repository, &image.layout)?;
        tags.entry(image.repository.clone())
            .or_default()
            .extend(added.tags);
    }
    Ok((plan, tags))
}

/// Writes the registry tree for `images` at `target` (created, or replaced
/// whole). With no images the tree holds only an empty catalog.
pub fn write_registry(images: &[Image], target: &Path) -> Result<Summary, RegistryError> {
    let (plan, tags) = plan(images)?;
    let written = tree::write(&plan, target)?;
    tracing::info!(
        repositories = plan.repositories.len(),
        tags = tags.values().map(|t| t.len()).sum::<usize>(),
        manifests = plan.manifests.len(),
        blobs = written.blobs,
        bytes = written.blob_bytes,
        target = %target.display(),
        "registry tree written"
    );
    Ok(Summary {
        tags,
        manifests: plan.manifests.len(),
        written,
    })
}
