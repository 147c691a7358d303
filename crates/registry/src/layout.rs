//! Reading OCI image layouts (image-spec `image-layout.md`): `oci-layout`,
//! `index.json`, and, from each tagged manifest, everything it references.
//! Only the descriptors are read here (manifests are small and read whole,
//! their digests checked); blobs are checked while they are copied.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::names::{self, NameError};
use crate::plan::{BlobSource, Kind, Plan, PlanError};

/// The OCI annotation that names a manifest's tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Manifests and indexes larger than this are refused (registries cap them
/// at 4 MiB too); they are held in memory.
pub const MAX_MANIFEST: u64 = 4 << 20;
/// Indexes of indexes deeper than this are refused (a loop guard).
const MAX_DEPTH: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: {what}", path.display())]
    Name {
        path: PathBuf,
        what: String,
        #[source]
        source: NameError,
    },
    #[error("{}: blob {digest} ({what}) is missing from the layout", layout.display())]
    MissingBlob {
        layout: PathBuf,
        digest: String,
        what: String,
    },
    #[error("{}: content hashes to sha256:{got}, not the {want} its descriptor names: the layout is corrupt", path.display())]
    DigestMismatch {
        path: PathBuf,
        want: String,
        got: String,
    },
    #[error("{}: is {got} bytes, but its descriptor says {want}", path.display())]
    SizeMismatch { path: PathBuf, want: u64, got: u64 },
    #[error("{}", layout.display())]
    Plan {
        layout: PathBuf,
        #[source]
        source: PlanError,
    },
}

/// A content descriptor; fields other registries or tools add are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: Option<String>,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciLayoutFile {
    image_layout_version: String,
}

/// The parts of a manifest or index that reference other content.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// What one layout added to a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    /// tag -> manifest digest (`sha256:<hex>`)
    pub tags: BTreeMap<String, String>,
}

/// Adds every tagged image of the OCI layout `dir` to `plan` as repository
/// `name`. Each `index.json` entry's `org.opencontainers.image.ref.name` is
/// its tag; a layout without any tag is refused (nothing could pull it).
pub fn add_layout(plan: &mut Plan, name: &str, dir: &Path) -> Result<Added, LayoutError> {
    names::check_repository(name).map_err(|source| LayoutError::Name {
        path: dir.to_path_buf(),
        what: "repository".into(),
        source,
    })?;
    let marker = dir.join("oci-layout");
    let text = read_small(&marker)?;
    let v: OciLayoutFile = serde_json::from_slice(&text).map_err(|e| LayoutError::Invalid {
        path: marker.clone(),
        message: format!(
            "not an OCI layout marker ({e}); expected {{\"imageLayoutVersion\":\"1.0.0\"}}"
        ),
    })?;
    if v.image_layout_version != "1.0.0" {
        return Err(LayoutError::Invalid {
            path: marker,
            message: format!(
                "imageLayoutVersion {:?}: expected \"1.0.0\"",
                v.image_layout_version
            ),
        });
    }
    let index_path = dir.join("index.json");
    let index: Document = parse(&index_path, &read_small(&index_path)?)?;
    let entries = index.manifests.ok_or_else(|| LayoutError::Invalid {
        path: index_path.clone(),
        message: "no `manifests` list".into(),
    })?;
    let mut added = Added::default();
    for (i, d) in entries.iter().enumerate() {
        let field = format!("manifests[{i}]");
        let Some(tag) = d.annotations.get(REF_NAME) else {
            tracing::debug!(layout = %dir.display(), digest = d.digest, "untagged entry skipped");
            continue;
        };
        names::check_tag(tag).map_err(|source| LayoutError::Name {
            path: index_path.clone(),
            what: format!("{field}.annotations.\"{REF_NAME}\""),
            source,
        })?;
        let hex = add_manifest(plan, name, dir, d, &format!("index.json {field}"), 0)?;
        plan.add_tag(name, tag, &hex)
            .map_err(|source| LayoutError::Plan {
                layout: dir.to_path_buf(),
                source,
            })?;
        added.tags.insert(tag.clone(), format!("sha256:{hex}"));
    }
    if added.tags.is_empty() {
        return Err(LayoutError::Invalid {
            path: index_path,
            message: format!("no manifest carries a tag (annotation {REF_NAME}): nothing to serve"),
        });
    }
    tracing::info!(repository = name, layout = %dir.display(), tags = added.tags.len(), "layout read");
    Ok(added)
}

/// Adds the manifest or index `d` (and what it references) to `plan`;
/// returns its hex digest.
fn add_manifest(
    plan: &mut Plan,
    name: &str,
    dir: &Path,
    d: &Descriptor,
    what: &str,
    depth: usize,
) -> Result<String, LayoutError> {
    let index_path = dir.join("index.json");
    let media_type = d.media_type.as_deref().unwrap_or_default();
    let kind = Kind::from_media_type(media_type).ok_or_else(|| LayoutError::Invalid {
        path: index_path.clone(),
        message: format!(
            "{what}: media type {media_type:?} is not an image manifest or index (expected one of {})",
            Kind::ALL.map(|k| k.media_type()).join(", ")
        ),
    })?;
    if depth > MAX_DEPTH {
        return Err(LayoutError::Invalid {
            path: index_path,
            message: format!("{what}: indexes nested deeper than {MAX_DEPTH} levels"),
        });
    }
    let (hex, path) = blob_path(dir, d, what)?;
    if d.size > MAX_MANIFEST {
        return Err(LayoutError::Invalid {
            path,
            message: format!(
                "{what}: {} bytes, more than the {MAX_MANIFEST} a manifest may have",
                d.size
            ),
        });
    }
    let bytes = read_small(&path)?;
    check_bytes(&path, &bytes, &hex, d.size)?;
    let doc: Document = parse(&path, &bytes)?;
    if let Some(inner) = &doc.media_type {
        if inner != media_type {
            return Err(LayoutError::Invalid {
                path,
                message: format!("mediaType {inner:?}, but {what} says {media_type:?}"),
            });
        }
    }
    let plan_err = |source| LayoutError::Plan {
        layout: dir.to_path_buf(),
        source,
    };
    if kind.is_index() {
        let children = doc.manifests.ok_or_else(|| LayoutError::Invalid {
            path: path.clone(),
            message: "an index without a `manifests` list".into(),
        })?;
        for (i, c) in children.iter().enumerate() {
            let w = format!("manifests[{i}] of {}", d.digest);
            add_manifest(plan, name, dir, c, &w, depth + 1)?;
        }
    } else {
        let config = doc.config.ok_or_else(|| LayoutError::Invalid {
            path: path.clone(),
            message: "an image manifest without `config`".into(),
        })?;
        let layers = doc.layers.ok_or_else(|| LayoutError::Invalid {
            path: path.clone(),
            message: "an image manifest without `layers`".into(),
        })?;
        let refs = std::iter::once(("config".to_string(), &config)).chain(
            layers
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("layers[{i}]"), l)),
        );
        for (field, b) in refs {
            let w = format!("{field} of {}", d.digest);
            let (bhex, bpath) = blob_path(dir, b, &w)?;
            plan.add_blob(
                name,
                &bhex,
                BlobSource {
                    path: bpath,
                    size: b.size,
                },
            )
            .map_err(plan_err)?;
        }
    }
    plan.add_manifest(name, &hex, kind, bytes)
        .map_err(plan_err)?;
    Ok(hex)
}

/// The blob's hex digest and its path in the layout, which must exist.
fn blob_path(dir: &Path, d: &Descriptor, what: &str) -> Result<(String, PathBuf), LayoutError> {
    let hex = names::sha256_hex(&d.digest)
        .map_err(|source| LayoutError::Name {
            path: dir.join("index.json"),
            what: what.into(),
            source,
        })?
        .to_string();
    let path = dir.join("blobs/sha256").join(&hex);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => Ok((hex, path)),
        Ok(_) => Err(LayoutError::Invalid {
            path,
            message: format!("{what}: not a regular file"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LayoutError::MissingBlob {
            layout: dir.to_path_buf(),
            digest: d.digest.clone(),
            what: what.into(),
        }),
        Err(source) => Err(LayoutError::Io { path, source }),
    }
}

fn check_bytes(path: &Path, bytes: &[u8], hex: &str, size: u64) -> Result<(), LayoutError> {
    if bytes.len() as u64 != size {
        return Err(LayoutError::SizeMismatch {
            path: path.to_path_buf(),
            want: size,
            got: bytes.len() as u64,
        });
    }
    let got = hex::encode(Sha256::digest(bytes));
    if got != hex {
        return Err(LayoutError::DigestMismatch {
            path: path.to_path_buf(),
            want: format!("sha256:{hex}"),
            got,
        });
    }
    Ok(())
}

/// Reads a JSON document, refusing anything larger than a manifest may be.
fn read_small(path: &Path) -> Result<Vec<u8>, LayoutError> {
    let io = |source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    f.take(MAX_MANIFEST + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > MAX_MANIFEST {
        return Err(LayoutError::Invalid {
            path: path.to_path_buf(),
            message: format!("larger than {MAX_MANIFEST} bytes"),
        });
    }
    Ok(buf)
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, LayoutError> {
    serde_json::from_slice(bytes).map_err(|e| LayoutError::Invalid {
        path: path.to_path_buf(),
        message: format!("not a valid OCI JSON document: {e}"),
    })
}
