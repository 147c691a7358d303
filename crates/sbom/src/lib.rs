//! SPDX 2.3 JSON SBOMs and provenance records for mk's bundle and node
//! images (docs/sbom.md).
//!
//! [`spdx`] is the document model (serde, field names as the SPDX 2.3 JSON
//! schema spells them); [`SbomBuilder`] fills it from RPMs ([`rpm`]),
//! container images ([`oci`]) and the thing described (the bundle or an
//! image); [`provenance`] ties input digests to output digests. Output is
//! deterministic (R4): no wall-clock time (`created` is
//! SOURCE_DATE_EPOCH), sorted packages and relationships, and a document
//! namespace derived from the digests of everything described.

pub mod bundle;
pub mod image;
pub mod license;
pub mod oci;
pub mod provenance;
pub mod purl;
pub mod rpm;
pub mod spdx;

pub use oci::ContainerImage;
pub use provenance::{Artifact, Provenance};
pub use rpm::RpmInfo;
pub use spdx::Document;

use sha2::{Digest, Sha256};
use spdx::{
    Annotation, Checksum, CreationInfo, ExternalRef, ExtractedLicense, Package, Relationship,
};
use std::collections::BTreeMap;

/// Base of every document namespace: not resolvable, only unique (SPDX
/// asks for a URI, not a reachable one). The path ends in a digest of the
/// document's contents, so the same inputs give the same namespace.
pub const NAMESPACE_BASE: &str = "https://mk.invalid/spdx";

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("{file}: not an RPM header: {message}")]
    Rpm { file: String, message: String },
    #[error("{file}: {message}")]
    Image { file: String, message: String },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("SOURCE_DATE_EPOCH {0} is out of range for an SPDX `created` date")]
    Epoch(u64),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// What the document describes: the bundle or a node image.
#[derive(Debug, Clone)]
pub struct Subject {
    /// `mk-bundle`, the image's recipe name ...
    pub name: String,
    pub version: String,
    /// SHA-256 hex of the subject, when known (a node image's raw file; the
    /// bundle cannot carry its own ISO digest).
    pub sha256: Option<String>,
    pub comment: Option<String>,
}

/// Collects packages, then writes one [`Document`].
#[derive(Debug)]
pub struct SbomBuilder {
    subject: Subject,
    tool: String,
    source_date_epoch: u64,
    rpms: BTreeMap<String, RpmInfo>,
    images: BTreeMap<String, ContainerImage>,
}

impl SbomBuilder {
    /// `tool` is the creator, e.g. `mk-compose-0.1.0`.
    pub fn new(subject: Subject, tool: &str, source_date_epoch: u64) -> SbomBuilder {
        SbomBuilder {
            subject,
            tool: tool.to_string(),
            source_date_epoch,
            rpms: BTreeMap::new(),
            images: BTreeMap::new(),
        }
    }

    /// Adds an RPM; the same file (same SHA-256) twice is kept once.
    pub fn add_rpm(&mut self, rpm: RpmInfo) -> &mut Self {
        let key = format!("{}\0{}", rpm.nevra(), rpm.sha256.as_deref().unwrap_or(""));
        self.rpms.insert(key, rpm);
        self
    }

    pub fn add_image(&mut self, image: ContainerImage) -> &mut Self {
        let key = format!("{}\0{}\0{}", image.repository, image.tag, image.digest);
        self.images.insert(key, image);
        self
    }

    pub fn build(&self) -> Result<Document, SbomError> {
        let created = spdx::created(self.source_date_epoch)?;
        let mut packages = Vec::new();
        let mut relationships = Vec::new();
        let mut licenses: BTreeMap<String, ExtractedLicense> = BTreeMap::new();
        let annotations_for = |p: &mut Package, notes: Vec<String>| {
            p.annotations = notes
                .into_iter()
                .map(|comment| Annotation {
                    annotation_date: created.clone(),
                    annotation_type: "OTHER".into(),
                    annotator: format!("Tool: {}", self.tool),
                    comment,
                })
                .collect();
        };

        let root_id = "SPDXRef-Subject".to_string();
        let mut root = Package::new(&root_id, &self.subject.name);
        root.version_info = Some(self.subject.version.clone());
        root.primary_package_purpose = Some("OPERATING-SYSTEM".into());
        root.supplier = Some("Organization: mk".into());
        root.comment = self.subject.comment.clone();
        if let Some(h) = &self.subject.sha256 {
            root.checksums.push(Checksum::sha256(h));
        }
        relationships.push(Relationship::new(spdx::DOCUMENT_ID, "DESCRIBES", &root_id));

        for rpm in self.rpms.values() {
            let id = spdx::element_id("RPM", &rpm.nevra(), rpm.sha256.as_deref());
            let mut p = Package::new(&id, &rpm.name);
            p.version_info = Some(rpm.evr());
            p.primary_package_purpose = Some("LIBRARY".into());
            p.supplier = Some(spdx::supplier(&rpm.vendor));
            p.originator = (!rpm.packager.is_empty())
                .then(|| spdx::supplier(&rpm.packager))
                .filter(|s| s != spdx::NOASSERTION);
            if !rpm.url.is_empty() {
                p.homepage = Some(rpm.url.clone());
            }
            if let Some(h) = &rpm.sha256 {
                p.checksums.push(Checksum::sha256(h));
            }
            if let Some(f) = &rpm.file_name {
                p.package_file_name = Some(f.clone());
            }
            let declared = license::declared(&rpm.license);
            if let Some(x) = declared.extracted {
                licenses.insert(x.license_id.clone(), x);
            }
            p.license_declared = declared.expression;
            p.external_refs.push(ExternalRef::purl(&purl::rpm(rpm)));
            if let Some(rev) = &rpm.source_revision {
                p.source_info = Some(format!("built from source revision {rev}"));
            }
            annotations_for(&mut p, rpm.notes());
            relationships.push(Relationship::new(&root_id, "CONTAINS", &id));
            packages.push(p);
        }

        for image in self.images.values() {
            let id = spdx::element_id(
                "Image",
                &format!("{}-{}", image.repository, image.tag),
                Some(image.digest_hex()),
            );
            let mut p = Package::new(&id, &image.repository);
            p.version_info = Some(image.tag.clone());
            p.primary_package_purpose = Some("CONTAINER".into());
            p.supplier = Some(spdx::NOASSERTION.into());
            p.checksums.push(Checksum::sha256(image.digest_hex()));
            p.external_refs.push(ExternalRef::purl(&purl::oci(image)));
            annotations_for(&mut p, image.notes());
            relationships.push(Relationship::new(&root_id, "CONTAINS", &id));
            if let Some(base) = &image.base_digest {
                let base_hex = base.strip_prefix("sha256:").unwrap_or(base);
                let base_id = spdx::element_id(
                    "Base",
                    image.base_name.as_deref().unwrap_or("base"),
                    Some(base_hex),
                );
                if !packages.iter().any(|q: &Package| q.spdx_id == base_id) {
                    let mut b =
                        Package::new(&base_id, image.base_name.as_deref().unwrap_or("base image"));
                    b.primary_package_purpose = Some("CONTAINER".into());
                    b.supplier = Some(spdx::NOASSERTION.into());
                    b.checksums.push(Checksum::sha256(base_hex));
                    b.comment = Some(format!("base image, manifest digest {base}"));
                    packages.push(b);
                }
                relationships.push(Relationship::new(&id, "DESCENDANT_OF", &base_id));
            }
            packages.push(p);
        }

        packages.sort_by(|a, b| a.spdx_id.cmp(&b.spdx_id));
        packages.insert(0, root);
        relationships.sort();
        relationships.dedup();

        let namespace = namespace(&self.subject, &packages);
        Ok(Document {
            spdx_version: "SPDX-2.3".into(),
            data_license: "CC0-1.0".into(),
            spdx_id: spdx::DOCUMENT_ID.into(),
            name: format!("{}-{}", self.subject.name, self.subject.version),
            document_namespace: namespace,
            creation_info: CreationInfo {
                created,
                creators: vec![format!("Tool: {}", self.tool)],
                comment: Some(
                    "created is SOURCE_DATE_EPOCH (or the newest package build time), not the wall clock: the same inputs give the same bytes".into(),
                ),
            },
            document_describes: vec![],
            packages,
            relationships,
            has_extracted_licensing_infos: licenses.into_values().collect(),
        })
    }
}

/// `NAMESPACE_BASE/<name>-<version>-<sha256 of every package's id and
/// checksums>`: unique per content, stable across rebuilds.
fn namespace(subject: &Subject, packages: &[Package]) -> String {
    let mut h = Sha256::new();
    h.update(subject.name.as_bytes());
    h.update([0]);
    h.update(subject.version.as_bytes());
    for p in packages {
        h.update([0]);
        h.update(p.spdx_id.as_bytes());
        for c in &p.checksums {
            h.update([1]);
            h.update(c.checksum_value.as_bytes());
        }
    }
    let name = spdx::id_part(&format!("{}-{}", subject.name, subject.version));
    format!("{NAMESPACE_BASE}/{name}-{}", hex::encode(h.finalize()))
}
