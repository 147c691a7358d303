//! A node image's SBOM and provenance, written beside its raw/qcow2
//! outputs: `<out>.spdx.json` and `<out>.provenance.json`, where `<out>` is
//! the raw file (or the qcow2 when there is no raw).

use crate::provenance::{Artifact, Provenance};
use crate::{RpmInfo, SbomBuilder, SbomError, Subject};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What went into one image build, and what came out.
#[derive(Debug)]
pub struct ImageRecord<'a> {
    /// The recipe's name (its directory or file stem).
    pub name: &'a str,
    pub version: &'a str,
    /// `mk-compose-0.1.0`.
    pub tool: &'a str,
    pub source_date_epoch: u64,
    /// NEVRAs installed (`name-[e:]v-r.arch`), overlays included.
    pub installed: &'a [String],
    /// The recipe's repositories (directory, its packages; `location` is
    /// relative to the directory): where the installed RPMs are looked up
    /// for their digest, license and signature. See [`read_repo`].
    pub repos: &'a [(PathBuf, Vec<mk_rpmrepo::Package>)],
    pub recipe: &'a Path,
    pub kickstart: &'a Path,
    /// (kind, file, sha256 hex): `raw`, `qcow2`.
    pub outputs: Vec<(&'a str, PathBuf, String)>,
    /// Other inputs by digest or version: the image cache key over every
    /// input, the role-config schema version ...
    pub parameters: Vec<(String, String)>,
}

/// A repository's packages: from its repodata, or by reading every RPM of
/// a plain directory (what the image build accepts).
pub fn read_repo(dir: &Path) -> Result<Vec<mk_rpmrepo::Package>, SbomError> {
    let bad = |message: String| SbomError::File {
        file: dir.display().to_string(),
        message,
    };
    if dir.join("repodata/repomd.xml").is_file() {
        mk_rpmrepo::repodata::read_repodata(dir).map_err(|e| bad(e.to_string()))
    } else {
        mk_rpmrepo::scan_dir(dir).map_err(|e| bad(e.to_string()))
    }
}

/// Where the two records of an image go.
pub fn record_paths(out: &Path) -> (PathBuf, PathBuf) {
    let mut sbom = out.as_os_str().to_owned();
    sbom.push(".spdx.json");
    let mut prov = out.as_os_str().to_owned();
    prov.push(".provenance.json");
    (PathBuf::from(sbom), PathBuf::from(prov))
}

/// Builds both records (pure: reads only the inputs' files).
pub fn image_records(r: &ImageRecord) -> Result<(Vec<u8>, Vec<u8>), SbomError> {
    let raw = r.outputs.iter().find(|(k, _, _)| *k == "raw");
    let mut b = SbomBuilder::new(
        Subject {
            name: r.name.into(),
            version: r.version.into(),
            sha256: raw.map(|(_, _, h)| h.clone()),
            comment: Some(
                "an mk node disk image: every file in it belongs to one of these RPMs (R18)".into(),
            ),
        },
        r.tool,
        r.source_date_epoch,
    );
    let mut prov = Provenance::new(
        &crate::provenance::builder_name(r.tool),
        "image",
        r.source_date_epoch,
    );
    // The first repository listing a NEVRA wins, as in the recipe's order.
    let mut by_nevra: BTreeMap<String, (&Path, &mk_rpmrepo::Package)> = BTreeMap::new();
    for (dir, packages) in r.repos {
        for p in packages {
            by_nevra.entry(p.nevra()).or_insert((dir, p));
        }
    }
    for nevra in r.installed {
        match by_nevra.get(nevra) {
            Some((dir, p)) => {
                let file = dir.join(&p.location);
                let info = RpmInfo::read(&file, p)?;
                prov.inputs
                    .push(Artifact::sha256("rpm", nevra, &p.checksum));
                b.add_rpm(info);
            }
            // Built during the image build (overlays, kickstart settings):
            // its bytes are in the image, not in any input repository.
            None => {
                b.add_rpm(generated(nevra));
            }
        }
    }
    prov.inputs.push(Artifact::sha256(
        "recipe",
        &name_of(r.recipe),
        &file_sha256(r.recipe)?,
    ));
    prov.inputs.push(Artifact::sha256(
        "kickstart",
        &name_of(r.kickstart),
        &file_sha256(r.kickstart)?,
    ));
    prov.parameters.extend(r.parameters.iter().cloned());
    for (kind, file, hex) in &r.outputs {
        prov.outputs
            .push(Artifact::sha256(kind, &name_of(file), hex));
    }
    let sbom = b.build()?.to_json()?;
    let sbom_name = r
        .outputs
        .first()
        .map(|(_, f, _)| name_of(&record_paths(f).0))
        .unwrap_or_else(|| "spdx.json".into());
    prov.outputs.push(Artifact::sha256(
        "sbom",
        &sbom_name,
        &hex::encode(Sha256::digest(&sbom)),
    ));
    Ok((sbom, prov.to_json()?))
}

/// Writes both records beside `out`, atomically.
pub fn write_image_records(out: &Path, r: &ImageRecord) -> Result<(PathBuf, PathBuf), SbomError> {
    let (sbom, prov) = image_records(r)?;
    let (sp, pp) = record_paths(out);
    for (path, bytes) in [(&sp, &sbom), (&pp, &prov)] {
        mk_durable::write_atomic_mode(path, bytes, 0o644).map_err(|e| SbomError::File {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
    }
    Ok((sp, pp))
}

/// An RPM known only by its NEVRA (`name-[e:]v-r.arch`).
fn generated(nevra: &str) -> RpmInfo {
    let (rest, arch) = nevra.rsplit_once('.').unwrap_or((nevra, ""));
    let (rest, release) = rest.rsplit_once('-').unwrap_or((rest, ""));
    let (name, ev) = rest.rsplit_once('-').unwrap_or((rest, ""));
    let (epoch, version) = match ev.split_once(':') {
        Some((e, v)) => (e.parse().unwrap_or(0), v),
        None => (0, ev),
    };
    RpmInfo {
        name: name.into(),
        epoch,
        version: version.into(),
        release: release.into(),
        arch: arch.into(),
        vendor: "mk".into(),
        ..RpmInfo::default()
    }
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn file_sha256(path: &Path) -> Result<String, SbomError> {
    let bytes = std::fs::read(path).map_err(|e| SbomError::File {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nevra_of_a_generated_package_splits() {
        let g = generated("mk-settings-1:0.1-2.noarch");
        assert_eq!(
            (
                g.name.as_str(),
                g.epoch,
                g.version.as_str(),
                g.release.as_str(),
                g.arch.as_str()
            ),
            ("mk-settings", 1, "0.1", "2", "noarch")
        );
        assert_eq!(g.nevra(), "mk-settings-1:0.1-2.noarch");
    }

    #[test]
    fn records_sit_beside_the_output() {
        let (s, p) = record_paths(Path::new("out/node.raw"));
        assert_eq!(s, Path::new("out/node.raw.spdx.json"));
        assert_eq!(p, Path::new("out/node.raw.provenance.json"));
    }
}
