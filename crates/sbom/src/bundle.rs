//! The bundle's `sbom.spdx.json` and `provenance.json`, written into its
//! staging tree before the MANIFEST is built, so that both are listed in
//! the MANIFEST and covered by its signature (R3).

use crate::provenance::{Artifact, Provenance};
use crate::{ContainerImage, RpmInfo, SbomBuilder, SbomError, Subject};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const SBOM_FILE: &str = "sbom.spdx.json";
pub const PROVENANCE_FILE: &str = "provenance.json";

/// Everything the bundle was made from.
#[derive(Debug)]
pub struct BundleRecord<'a> {
    pub name: &'a str,
    pub version: &'a str,
    /// `mk-compose-0.1.0`.
    pub tool: &'a str,
    pub source_date_epoch: u64,
    /// The staged packages (`location` relative to `root/repo`).
    pub packages: &'a [mk_rpmrepo::Package],
    pub images: Vec<ContainerImage>,
    /// Kickstarts, as staged under `root/kickstart/`.
    pub kickstarts: Vec<PathBuf>,
    /// Facts that are no file: e.g. the role-config schema version.
    pub parameters: Vec<(String, String)>,
}

/// Writes `root/sbom.spdx.json` and `root/provenance.json`.
pub fn write_bundle_records(root: &Path, r: &BundleRecord) -> Result<(), SbomError> {
    let mut b = SbomBuilder::new(
        Subject {
            name: r.name.into(),
            version: r.version.into(),
            sha256: None,
            comment: Some(
                "the signed offline bundle: its MANIFEST lists this file; the ISO's own digest is the MANIFEST signature's subject, not recorded here".into(),
            ),
        },
        r.tool,
        r.source_date_epoch,
    );
    let mut prov = Provenance::new(
        &crate::provenance::builder_name(r.tool),
        "bundle",
        r.source_date_epoch,
    );
    for p in r.packages {
        let file = root.join("repo").join(&p.location);
        let info = RpmInfo::read(&file, p)?;
        prov.inputs
            .push(Artifact::sha256("rpm", &info.nevra(), &p.checksum));
        b.add_rpm(info);
    }
    for i in &r.images {
        prov.inputs.push(Artifact::sha256(
            "oci-image",
            &format!("{}:{}", i.repository, i.tag),
            i.digest_hex(),
        ));
        b.add_image(i.clone());
    }
    for ks in &r.kickstarts {
        let rel = ks.strip_prefix(root).unwrap_or(ks).display().to_string();
        prov.inputs
            .push(Artifact::sha256("kickstart", &rel, &file_sha256(ks)?));
    }
    prov.parameters.extend(r.parameters.iter().cloned());
    let sbom = b.build()?.to_json()?;
    write(&root.join(SBOM_FILE), &sbom)?;
    prov.outputs.push(Artifact::sha256(
        "sbom",
        SBOM_FILE,
        &hex::encode(Sha256::digest(&sbom)),
    ));
    let repomd = root.join("repo/repodata/repomd.xml");
    if repomd.is_file() {
        prov.outputs.push(Artifact::sha256(
            "repomd",
            "repo/repodata/repomd.xml",
            &file_sha256(&repomd)?,
        ));
    }
    write(&root.join(PROVENANCE_FILE), &prov.to_json()?)
}

fn file_sha256(path: &Path) -> Result<String, SbomError> {
    let bytes = std::fs::read(path).map_err(|e| SbomError::File {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Plain write: the staging tree is itself renamed in only when complete.
fn write(path: &Path, bytes: &[u8]) -> Result<(), SbomError> {
    std::fs::write(path, bytes).map_err(|e| SbomError::File {
        file: path.display().to_string(),
        message: e.to_string(),
    })
}
