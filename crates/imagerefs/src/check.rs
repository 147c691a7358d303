//! Whether a registry tree serves each reference under the name containerd
//! asks its mirror for (docs/registry.md): `registry.k8s.io/pause:3.9` is
//! `GET /v2/pause/manifests/3.9`, which the tree answers from
//! `repositories/pause/_tags/3.9/<hex>` (the tag's digest) and
//! `manifests/sha256/<hex>.<kind>`, provided `repositories/pause/_manifests/<hex>`
//! marks the digest as the repository's. A reference by digest needs the
//! marker and the manifest. A manifest counts as present only when what a
//! pull fetches next is there too: its config and layers (files of the
//! size its descriptors say, marked as the repository's), or, for an
//! index, every manifest it lists. Blob contents are not hashed here:
//! `mk-compose verify` checks every file of a bundle against its signed
//! MANIFEST.

use std::collections::BTreeSet;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use mk_registry::plan::{Kind, BLOBS, MANIFESTS, REPOSITORIES};

use crate::reference::{self, Wanted};
use crate::view::{RegistryView, MAX_MANIFEST};
use crate::ImageRef;

/// Indexes of indexes deeper than this are not followed (the writer's own
/// limit).
const MAX_DEPTH: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Served; `digest` is the manifest's (`sha256:<hex>`).
    Present { digest: String },
    /// Not served, or not pullable; `reason` says what is missing.
    Missing { reason: String },
}

/// One reference and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub image: ImageRef,
    /// What containerd asks the bundle's registry for
    /// (`/v2/pause/manifests/3.9`), when the reference parses.
    pub request: Option<String>,
    pub status: Status,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub present: Vec<Checked>,
    pub missing: Vec<Checked>,
}

impl Report {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Checks `refs` against `registry`, with the hosts containerd mirrors as
/// mk-nodeconf plans them (`registry.k8s.io`, `docker.io`, `quay.io`).
pub fn check(refs: &[ImageRef], registry: &RegistryView) -> Report {
    let hosts: BTreeSet<String> = mk_nodeconf::steps::containerd::MIRRORED
        .iter()
        .map(|h| h.to_string())
        .collect();
    check_with(refs, &hosts, registry)
}

/// Checks `refs` against `registry`; only references on `mirrored_hosts`
/// (`_default`: all) reach the bundle's registry at all.
pub fn check_with(
    refs: &[ImageRef],
    mirrored_hosts: &BTreeSet<String>,
    registry: &RegistryView,
) -> Report {
    let mut report = Report::default();
    for r in refs {
        let (request, status) = one(r, mirrored_hosts, registry);
        let c = Checked {
            image: r.clone(),
            request,
            status,
        };
        match c.status {
            Status::Present { .. } => report.present.push(c),
            Status::Missing { .. } => report.missing.push(c),
        }
    }
    report
}

fn missing(reason: impl Into<String>) -> Status {
    Status::Missing {
        reason: reason.into(),
    }
}

fn one(
    r: &ImageRef,
    mirrored: &BTreeSet<String>,
    registry: &RegistryView,
) -> (Option<String>, Status) {
    let parsed = match reference::parse(&r.reference) {
        Ok(p) => p,
        Err(e) => return (None, missing(e.why)),
    };
    let request = Some(parsed.request());
    if !mirrored.contains(&parsed.host) && !mirrored.contains("_default") {
        let list: Vec<&str> = mirrored.iter().map(String::as_str).collect();
        return (
            request,
            missing(format!(
                "containerd sends only {} to the bundle's registry (certs.d/<host>/hosts.toml); \
                 {} is not mirrored, so this would be pulled from {} itself",
                if list.is_empty() {
                    "nothing".to_string()
                } else {
                    list.join(", ")
                },
                parsed.host,
                parsed.host
            )),
        );
    }
    let repo = &parsed.repository;
    let base = format!("{REPOSITORIES}/{repo}");
    if registry.size(&format!("{base}/_tags.json")).is_none() {
        return (
            request,
            missing(format!("the registry has no repository {repo}")),
        );
    }
    let hex = match &parsed.wanted {
        Wanted::Digest(h) => h.clone(),
        Wanted::Tag(tag) => {
            let prefix = format!("{base}/_tags/{tag}/");
            let digests: Vec<&str> = registry
                .under(&prefix)
                .map(|(p, _)| &p[prefix.len()..])
                .collect();
            match digests.as_slice() {
                [] => {
                    let tags_prefix = format!("{base}/_tags/");
                    let tags: BTreeSet<&str> = registry
                        .under(&tags_prefix)
                        .filter_map(|(p, _)| p[tags_prefix.len()..].split('/').next())
                        .collect();
                    return (
                        request,
                        missing(format!(
                            "repository {repo} has no tag {tag} (its tags: {})",
                            if tags.is_empty() {
                                "none".to_string()
                            } else {
                                tags.into_iter().collect::<Vec<_>>().join(", ")
                            }
                        )),
                    );
                }
                [one] if mk_registry::names::sha256_hex(&format!("sha256:{one}")).is_ok() => {
                    one.to_string()
                }
                _ => {
                    return (
                        request,
                        missing(format!(
                            "{prefix} should hold exactly one file named by the tag's digest; \
                             it holds {}: the tree is corrupt",
                            digests.join(", ")
                        )),
                    )
                }
            }
        }
    };
    let status = match manifest(registry, repo, &hex, 0) {
        Ok(()) => Status::Present {
            digest: format!("sha256:{hex}"),
        },
        Err(reason) => missing(reason),
    };
    (request, status)
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// Whether manifest `hex` of `repo` and everything a pull of it fetches are
/// there; the reason when not.
fn manifest(registry: &RegistryView, repo: &str, hex: &str, depth: usize) -> Result<(), String> {
    let base = format!("{REPOSITORIES}/{repo}");
    if registry.size(&format!("{base}/_manifests/{hex}")).is_none() {
        return Err(format!(
            "repository {repo} does not serve manifest sha256:{hex}"
        ));
    }
    let Some((kind, file)) = Kind::ALL.iter().find_map(|k| {
        let f = format!("{MANIFESTS}/{hex}.{}", k.extension());
        registry.size(&f).map(|_| (*k, f))
    }) else {
        return Err(format!(
            "manifest sha256:{hex} is listed for {repo} but {MANIFESTS}/{hex}.* is missing: \
             the tree is corrupt"
        ));
    };
    let bytes = registry
        .read(&file, MAX_MANIFEST)
        .map_err(|e| e.to_string())?;
    let got = hex::encode(Sha256::digest(&bytes));
    if got != hex {
        return Err(format!(
            "{file} hashes to sha256:{got}, not its name: the tree is corrupt"
        ));
    }
    let doc: Document =
        serde_json::from_slice(&bytes).map_err(|e| format!("{file}: not a manifest ({e})"))?;
    let blob = |what: String, d: &Descriptor| -> Result<(), String> {
        let h = mk_registry::names::sha256_hex(&d.digest)
            .map_err(|e| format!("{file}: {what}: {e}"))?;
        if registry.size(&format!("{base}/_blobs/{h}")).is_none() {
            return Err(format!(
                "{what} {} of manifest sha256:{hex} is not served by repository {repo}",
                d.digest
            ));
        }
        match registry.size(&format!("{BLOBS}/{h}")) {
            Some(s) if s == d.size => Ok(()),
            Some(s) => Err(format!(
                "{what} {} is {s} bytes, but manifest sha256:{hex} says {}",
                d.digest, d.size
            )),
            None => Err(format!(
                "{what} {} of manifest sha256:{hex} is missing from {BLOBS}/",
                d.digest
            )),
        }
    };
    if kind.is_index() {
        if depth >= MAX_DEPTH {
            return Err(format!("{file}: indexes nested deeper than {MAX_DEPTH}"));
        }
        for (i, d) in doc.manifests.iter().flatten().enumerate() {
            let h = mk_registry::names::sha256_hex(&d.digest)
                .map_err(|e| format!("{file}: manifests[{i}]: {e}"))?;
            manifest(registry, repo, h, depth + 1)
                .map_err(|e| format!("index sha256:{hex}, manifests[{i}]: {e}"))?;
        }
    } else {
        let config = doc
            .config
            .as_ref()
            .ok_or_else(|| format!("{file}: a manifest without a config"))?;
        blob("config".into(), config)?;
        for (i, l) in doc.layers.iter().flatten().enumerate() {
            blob(format!("layer {i}"), l)?;
        }
    }
    Ok(())
}
