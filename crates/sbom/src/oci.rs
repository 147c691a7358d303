//! Container images of the bundle's registry: repository, tag, manifest
//! digest, and the base image digest that `mk-compose image-build` records
//! as the manifest annotation `org.opencontainers.image.base.digest`.

use crate::SbomError;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// Manifests are small; a bigger file is not one of ours.
const MAX_MANIFEST: u64 = 4 << 20;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerImage {
    pub repository: String,
    pub tag: String,
    /// `sha256:<hex>` of the manifest (or index).
    pub digest: String,
    pub base_digest: Option<String>,
    pub base_name: Option<String>,
    /// Where the image is pulled from, for the purl (`registry/repository`).
    pub repository_url: Option<String>,
}

impl ContainerImage {
    pub fn digest_hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }

    pub fn notes(&self) -> Vec<String> {
        let mut n = vec![format!("oci-manifest-digest: {}", self.digest)];
        if let Some(b) = &self.base_digest {
            n.push(format!("oci-base-digest: {b}"));
        }
        if let Some(b) = &self.base_name {
            n.push(format!("oci-base-name: {b}"));
        }
        n
    }
}

/// The images of a registry tree written by mk-registry (`dir` holds
/// `manifests/sha256/<hex>.<kind>`), from its tag table (repository -> tag
/// -> `sha256:<hex>`). Base digests come from each manifest's annotations.
pub fn from_registry(
    dir: &Path,
    tags: &BTreeMap<String, BTreeMap<String, String>>,
    registry_host: Option<&str>,
) -> Result<Vec<ContainerImage>, SbomError> {
    let mut out = Vec::new();
    for (repository, tags) in tags {
        for (tag, digest) in tags {
            let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
            let annotations = manifest_annotations(&dir.join("manifests/sha256"), hex)?;
            out.push(ContainerImage {
                repository: repository.clone(),
                tag: tag.clone(),
                digest: digest.clone(),
                base_digest: annotations.get(BASE_DIGEST).cloned(),
                base_name: annotations.get(BASE_NAME).cloned(),
                repository_url: registry_host.map(|h| format!("{h}/{repository}")),
            });
        }
    }
    Ok(out)
}

fn manifest_annotations(dir: &Path, hex: &str) -> Result<BTreeMap<String, String>, SbomError> {
    let bad = |file: &Path, message: String| SbomError::Image {
        file: file.display().to_string(),
        message,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| bad(dir, e.to_string()))?;
    let prefix = format!("{hex}.");
    for entry in entries {
        let entry = entry.map_err(|e| bad(dir, e.to_string()))?;
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .map_err(|e| bad(&path, e.to_string()))?
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(&path, e.to_string()))?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(bad(&path, format!("larger than {MAX_MANIFEST} bytes")));
        }
        #[derive(serde::Deserialize)]
        struct Annotated {
            #[serde(default)]
            annotations: BTreeMap<String, String>,
        }
        let m: Annotated = serde_json::from_slice(&bytes)
            .map_err(|e| bad(&path, format!("not a manifest: {e}")))?;
        return Ok(m.annotations);
    }
    Err(bad(
        dir,
        format!("no manifest {hex}.* in the registry tree"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_digest_comes_from_the_manifest_annotation() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("manifests/sha256");
        std::fs::create_dir_all(&m).unwrap();
        let hex = "ab".repeat(32);
        let base = format!("sha256:{}", "cd".repeat(32));
        std::fs::write(
            m.join(format!("{hex}.oci-manifest")),
            format!(r#"{{"schemaVersion":2,"annotations":{{"{BASE_DIGEST}":"{base}","{BASE_NAME}":"centos:7.6.1810"}}}}"#),
        )
        .unwrap();
        let mut tags = BTreeMap::new();
        tags.insert(
            "mk/etcd".to_string(),
            BTreeMap::from([("3.5".to_string(), format!("sha256:{hex}"))]),
        );
        let images = from_registry(dir.path(), &tags, Some("registry.mk.local")).unwrap();
        assert_eq!(images[0].base_digest.as_deref(), Some(base.as_str()));
        assert_eq!(images[0].base_name.as_deref(), Some("centos:7.6.1810"));
        assert_eq!(
            images[0].repository_url.as_deref(),
            Some("registry.mk.local/mk/etcd")
        );
        // A tag whose manifest is missing is named.
        tags.get_mut("mk/etcd")
            .unwrap()
            .insert("x".into(), format!("sha256:{}", "ef".repeat(32)));
        let e = from_registry(dir.path(), &tags, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&"ef".repeat(32)), "{e}");
    }
}
