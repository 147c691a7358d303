//! The provenance record: which inputs (by digest) gave which outputs.
//! JSON, sorted, no wall-clock time: the same build gives the same bytes.

use crate::SbomError;
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "mk-provenance";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub format: String,
    pub format_version: u32,
    /// `mk-compose 0.1.0`.
    pub builder: String,
    /// `bundle`, `image` ...
    pub build_type: String,
    pub source_date_epoch: u64,
    /// Versions that shape the output without being a file: the role-config
    /// schema version, the inputs key of the image cache ...
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, String>,
    pub inputs: Vec<Artifact>,
    pub outputs: Vec<Artifact>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Artifact {
    /// `kickstart`, `recipe`, `rpm`, `oci-image`, `raw`, `qcow2`, `sbom` ...
    pub kind: String,
    /// A path relative to the bundle or the output directory, or a NEVRA.
    pub name: String,
    /// `sha256:<hex>`.
    pub digest: String,
}

/// `mk-compose-0.1.0` (an SPDX creator tool) as `mk-compose 0.1.0`.
pub fn builder_name(tool: &str) -> String {
    match tool.rsplit_once('-') {
        Some((name, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => {
            format!("{name} {version}")
        }
        _ => tool.to_string(),
    }
}

impl Artifact {
    pub fn sha256(kind: &str, name: &str, hex: &str) -> Artifact {
        let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
        Artifact {
            kind: kind.into(),
            name: name.into(),
            digest: format!("sha256:{}", hex.to_ascii_lowercase()),
        }
    }
}

impl Provenance {
    pub fn new(builder: &str, build_type: &str, source_date_epoch: u64) -> Provenance {
        Provenance {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            builder: builder.into(),
            build_type: build_type.into(),
            source_date_epoch,
            parameters: Default::default(),
            inputs: vec![],
            outputs: vec![],
        }
    }

    /// Pretty JSON, inputs and outputs sorted, trailing newline.
    pub fn to_json(&self) -> Result<Vec<u8>, SbomError> {
        let mut p = self.clone();
        p.inputs.sort();
        p.inputs.dedup();
        p.outputs.sort();
        p.outputs.dedup();
        let mut out = serde_json::to_vec_pretty(&p)?;
        out.push(b'\n');
        Ok(out)
    }

    /// Parses a record, refusing other formats and newer versions.
    pub fn from_json(bytes: &[u8], file: &str) -> Result<Provenance, SbomError> {
        let p: Provenance = serde_json::from_slice(bytes)?;
        if p.format != FORMAT || p.format_version > FORMAT_VERSION {
            return Err(SbomError::File {
                file: file.into(),
                message: format!(
                    "format {:?} version {}: expected {FORMAT:?} version ≤ {FORMAT_VERSION}",
                    p.format, p.format_version
                ),
            });
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_name_splits_the_version() {
        assert_eq!(builder_name("mk-compose-0.1.0"), "mk-compose 0.1.0");
        assert_eq!(builder_name("mk-compose"), "mk-compose");
    }

    #[test]
    fn other_formats_are_refused() {
        let mut p = Provenance::new("mk-compose 0.1.0", "image", 0);
        p.format_version = FORMAT_VERSION + 1;
        let json = serde_json::to_vec(&p).unwrap();
        let e = Provenance::from_json(&json, "x.provenance.json").unwrap_err();
        assert!(e.to_string().starts_with("x.provenance.json: "), "{e}");
    }
}
