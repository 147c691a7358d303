//! What the registry tree holds, worked out before any file is written: the
//! blobs (once for the whole registry), the manifests by digest, and each
//! repository's tags and the digests it may serve. Pure: [`Plan::files`]
//! gives every file of the tree, sorted, so the same plan always gives the
//! same tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

/// Directory (under the tree's root) of repository `name`'s index files.
pub const REPOSITORIES: &str = "repositories";
/// Blobs (configs and layers): `blobs/sha256/<hex>`.
pub const BLOBS: &str = "blobs/sha256";
/// Manifests and indexes: `manifests/sha256/<hex>.<kind>`.
pub const MANIFESTS: &str = "manifests/sha256";

/// The manifest media types the registry serves. The file extension in the
/// tree tells nginx which Content-Type to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    OciManifest,
    OciIndex,
    DockerManifest,
    DockerList,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::OciManifest,
        Kind::OciIndex,
        Kind::DockerManifest,
        Kind::DockerList,
    ];

    pub fn media_type(self) -> &'static str {
        match self {
            Kind::OciManifest => "application/vnd.oci.image.manifest.v1+json",
            Kind::OciIndex => "application/vnd.oci.image.index.v1+json",
            Kind::DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
            Kind::DockerList => "application/vnd.docker.distribution.manifest.list.v2+json",
        }
    }

    /// File extension in `manifests/sha256/` (mapped back to the media type
    /// by the nginx snippet's `types` block).
    pub fn extension(self) -> &'static str {
        match self {
            Kind::OciManifest => "oci-manifest",
            Kind::OciIndex => "oci-index",
            Kind::DockerManifest => "docker-manifest",
            Kind::DockerList => "docker-list",
        }
    }

    pub fn from_media_type(media_type: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.media_type() == media_type)
    }

    /// Indexes list other manifests; manifests list a config and layers.
    pub fn is_index(self) -> bool {
        matches!(self, Kind::OciIndex | Kind::DockerList)
    }
}

/// Where a blob's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSource {
    pub path: PathBuf,
    pub size: u64,
}

/// One repository: its tags and everything it may serve by digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repository {
    /// tag -> manifest hex digest
    pub tags: BTreeMap<String, String>,
    pub manifests: BTreeSet<String>,
    pub blobs: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub blobs: BTreeMap<String, BlobSource>,
    pub manifests: BTreeMap<String, (Kind, Vec<u8>)>,
    pub repositories: BTreeMap<String, Repository>,
}

/// A conflict between two inputs of one plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "repository {repository}: tag {tag} is given twice, for sha256:{first} and sha256:{second}"
    )]
    TagConflict {
        repository: String,
        tag: String,
        first: String,
        second: String,
    },
    #[error("blob sha256:{hex} is said to be {first} bytes in one place and {second} in another")]
    SizeConflict {
        hex: String,
        first: u64,
        second: u64,
    },
    #[error("manifest sha256:{hex} is given as both {first} and {second}")]
    KindConflict {
        hex: String,
        first: &'static str,
        second: &'static str,
    },
}

/// One file of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Written as is (JSON documents, manifests, empty markers).
    Bytes(Vec<u8>),
    /// Copied from a layout, its SHA-256 checked against `hex` on the way.
    Copy {
        from: PathBuf,
        hex: String,
        size: u64,
    },
}

#[derive(Serialize)]
struct Catalog<'a> {
    repositories: Vec<&'a str>,
}

#[derive(Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: Vec<&'a str>,
}

impl Plan {
    pub fn repository(&mut self, name: &str) -> &mut Repository {
        self.repositories.entry(name.to_string()).or_default()
    }

    pub fn add_tag(&mut self, repository: &str, tag: &str, hex: &str) -> Result<(), PlanError> {
        let repo = self.repository(repository);
        if let Some(prev) = repo.tags.get(tag) {
            if prev != hex {
                return Err(PlanError::TagConflict {
                    repository: repository.into(),
                    tag: tag.into(),
                    first: prev.clone(),
                    second: hex.into(),
                });
            }
        }
        repo.tags.insert(tag.into(), hex.into());
        Ok(())
    }

    pub fn add_manifest(
        &mut self,
        repository: &str,
        hex: &str,
        kind: Kind,
        bytes: Vec<u8>,
    ) -> Result<(), PlanError> {
        if let Some((prev, _)) = self.manifests.get(hex) {
            if *prev != kind {
                return Err(PlanError::KindConflict {
                    hex: hex.into(),
                    first: prev.media_type(),
                    second: kind.media_type(),
                });
            }
        } else {
            self.manifests.insert(hex.into(), (kind, bytes));
        }
        self.repository(repository).manifests.insert(hex.into());
        Ok(())
    }

    pub fn add_blob(
        &mut self,
        repository: &str,
        hex: &str,
        source: BlobSource,
    ) -> Result<(), PlanError> {
        match self.blobs.get(hex) {
            Some(prev) if prev.size != source.size => {
                return Err(PlanError::SizeConflict {
                    hex: hex.into(),
                    first: prev.size,
                    second: source.size,
                })
            }
            // Content-addressed: the first layout's copy serves everyone.
            Some(_) => {}
            None => {
                self.blobs.insert(hex.into(), source);
            }
        }
        self.repository(repository).blobs.insert(hex.into());
        Ok(())
    }

    /// Every file of the tree, by path relative to its root, sorted.
    pub fn files(&self) -> Vec<(String, Content)> {
        let mut out = BTreeMap::new();
        let catalog = Catalog {
            repositories: self.repositories.keys().map(String::as_str).collect(),
        };
        out.insert("catalog.json".to_string(), Content::Bytes(json(&catalog)));
        for (hex, src) in &self.blobs {
            out.insert(
                format!("{BLOBS}/{hex}"),
                Content::Copy {
                    from: src.path.clone(),
                    hex: hex.clone(),
                    size: src.size,
                },
            );
        }
        for (hex, (kind, bytes)) in &self.manifests {
            out.insert(
                format!("{MANIFESTS}/{hex}.{}", kind.extension()),
                Content::Bytes(bytes.clone()),
            );
        }
        for (name, repo) in &self.repositories {
            let base = format!("{REPOSITORIES}/{name}");
            let list = TagList {
                name,
                tags: repo.tags.keys().map(String::as_str).collect(),
            };
            out.insert(format!("{base}/_tags.json"), Content::Bytes(json(&list)));
            // Empty markers: nginx finds a tag's digest as the one file name
            // in its directory, and checks that a digest belongs to the
            // repository by the marker's presence.
            for (tag, hex) in &repo.tags {
                out.insert(format!("{base}/_tags/{tag}/{hex}"), Content::Bytes(vec![]));
            }
            for hex in &repo.manifests {
                out.insert(format!("{base}/_manifests/{hex}"), Content::Bytes(vec![]));
            }
            for hex in &repo.blobs {
                out.insert(format!("{base}/_blobs/{hex}"), Content::Bytes(vec![]));
            }
        }
        out.into_iter().collect()
    }
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut s = serde_json::to_vec(v).expect("plain structs serialize");
    s.push(b'\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn blob(size: u64) -> BlobSource {
        BlobSource {
            path: PathBuf::from("/l/blobs/sha256/x"),
            size,
        }
    }

    #[test]
    fn shared_blobs_once_markers_per_repository() {
        let mut p = Plan::default();
        for repo in ["etcd", "kube/apiserver"] {
            p.add_manifest(repo, &hex('m'), Kind::OciManifest, b"{}".to_vec())
                .unwrap();
            p.add_blob(repo, &hex('b'), blob(3)).unwrap();
        }
        p.add_tag("etcd", "3.5", &hex('m')).unwrap();
        p.add_tag("kube/apiserver", "v1", &hex('m')).unwrap();
        p.add_tag("etcd", "3.5", &hex('m')).unwrap();
        let files = p.files();
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        let b = hex('b');
        let m = hex('m');
        assert_eq!(
            paths,
            [
                format!("blobs/sha256/{b}"),
                "catalog.json".into(),
                format!("manifests/sha256/{m}.oci-manifest"),
                format!("repositories/etcd/_blobs/{b}"),
                format!("repositories/etcd/_manifests/{m}"),
                "repositories/etcd/_tags.json".into(),
                format!("repositories/etcd/_tags/3.5/{m}"),
                format!("repositories/kube/apiserver/_blobs/{b}"),
                format!("repositories/kube/apiserver/_manifests/{m}"),
                "repositories/kube/apiserver/_tags.json".into(),
                format!("repositories/kube/apiserver/_tags/v1/{m}"),
            ]
        );
        let get = |path: &str| match &files.iter().find(|(p, _)| p == path).unwrap().1 {
            Content::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
            c => panic!("{c:?}"),
        };
        assert_eq!(
            get("catalog.json"),
            "{\"repositories\":[\"etcd\",\"kube/apiserver\"]}\n"
        );
        assert_eq!(
            get("repositories/etcd/_tags.json"),
            "{\"name\":\"etcd\",\"tags\":[\"3.5\"]}\n"
        );
    }

    #[test]
    fn conflicts_are_refused() {
        let mut p = Plan::default();
        p.add_tag("etcd", "3.5", &hex('a')).unwrap();
        let e = p.add_tag("etcd", "3.5", &hex('b')).unwrap_err();
        assert!(e.to_string().contains("tag 3.5 is given twice"), "{e}");
        p.add_blob("etcd", &hex('c'), blob(1)).unwrap();
        let e = p.add_blob("x", &hex('c'), blob(2)).unwrap_err();
        assert!(matches!(e, PlanError::SizeConflict { .. }), "{e}");
        p.add_manifest("etcd", &hex('d'), Kind::OciManifest, vec![])
            .unwrap();
        let e = p
            .add_manifest("etcd", &hex('d'), Kind::DockerManifest, vec![])
            .unwrap_err();
        assert!(e.to_string().contains("docker"), "{e}");
    }

    #[test]
    fn media_types_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_media_type(k.media_type()), Some(k));
        }
        assert_eq!(
            Kind::from_media_type("application/vnd.oci.image.layer.v1.tar"),
            None
        );
    }
}
