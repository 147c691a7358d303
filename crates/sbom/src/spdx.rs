//! The SPDX 2.3 JSON document model: the subset mk writes, with the field
//! names and order of the SPDX 2.3 JSON schema. Serialised with
//! [`Document::to_json`] (pretty, trailing newline, no maps with unstable
//! order): the same document gives the same bytes.

use crate::SbomError;
use serde::{Deserialize, Serialize};

pub const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";
pub const NOASSERTION: &str = "NOASSERTION";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub spdx_version: String,
    pub data_license: String,
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    pub document_namespace: String,
    pub creation_info: CreationInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub document_describes: Vec<String>,
    pub packages: Vec<Package>,
    #[serde(default)]
    pub relationships: Vec<Relationship>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has_extracted_licensing_infos: Vec<ExtractedLicense>,
}

impl Document {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Result<Vec<u8>, SbomError> {
        let mut out = serde_json::to_vec_pretty(self)?;
        out.push(b'\n');
        Ok(out)
    }

    pub fn from_json(bytes: &[u8]) -> Result<Document, SbomError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    pub fn package(&self, spdx_id: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.spdx_id == spdx_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationInfo {
    pub created: String,
    pub creators: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_info: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originator: Option<String>,
    pub download_location: String,
    pub files_analyzed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_info: Option<String>,
    pub license_concluded: String,
    pub license_declared: String,
    pub copyright_text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

impl Package {
    /// A package with every assertion-free field at NOASSERTION (SPDX
    /// requires them present); the builders fill in what they know.
    pub fn new(spdx_id: &str, name: &str) -> Package {
        Package {
            spdx_id: spdx_id.into(),
            name: name.into(),
            version_info: None,
            package_file_name: None,
            supplier: None,
            originator: None,
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            checksums: vec![],
            homepage: None,
            source_info: None,
            license_concluded: NOASSERTION.into(),
            license_declared: NOASSERTION.into(),
            copyright_text: NOASSERTION.into(),
            comment: None,
            external_refs: vec![],
            primary_package_purpose: None,
            annotations: vec![],
        }
    }

    pub fn sha256(&self) -> Option<&str> {
        self.checksums
            .iter()
            .find(|c| c.algorithm == "SHA256")
            .map(|c| c.checksum_value.as_str())
    }

    pub fn purl(&self) -> Option<&str> {
        self.external_refs
            .iter()
            .find(|r| r.reference_type == "purl")
            .map(|r| r.reference_locator.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    pub algorithm: String,
    pub checksum_value: String,
}

impl Checksum {
    pub fn sha256(hex: &str) -> Checksum {
        Checksum {
            algorithm: "SHA256".into(),
            checksum_value: hex.to_ascii_lowercase(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    pub reference_category: String,
    pub reference_type: String,
    pub reference_locator: String,
}

impl ExternalRef {
    pub fn purl(locator: &str) -> ExternalRef {
        ExternalRef {
            reference_category: "PACKAGE-MANAGER".into(),
            reference_type: "purl".into(),
            reference_locator: locator.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotation {
    pub annotation_date: String,
    pub annotation_type: String,
    pub annotator: String,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub spdx_element_id: String,
    pub relationship_type: String,
    pub related_spdx_element: String,
}

impl Relationship {
    pub fn new(from: &str, kind: &str, to: &str) -> Relationship {
        Relationship {
            spdx_element_id: from.into(),
            relationship_type: kind.into(),
            related_spdx_element: to.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractedLicense {
    pub license_id: String,
    pub extracted_text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `created`: SOURCE_DATE_EPOCH as `YYYY-MM-DDThh:mm:ssZ` (the only form
/// SPDX 2.3 accepts: UTC, whole seconds).
pub fn created(epoch: u64) -> Result<String, SbomError> {
    let t = i64::try_from(epoch)
        .ok()
        .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok())
        .filter(|t| t.year() <= 9999)
        .ok_or(SbomError::Epoch(epoch))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// SPDX identifiers allow `[A-Za-z0-9.-]`; everything else becomes `-`.
pub fn id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `SPDXRef-<kind>-<name>-<first 12 hex of the digest>`: readable, and
/// unique even when two names map to the same id part (`a+b`, `a_b`).
pub fn element_id(kind: &str, name: &str, sha256: Option<&str>) -> String {
    let mut id = format!("SPDXRef-{kind}-{}", id_part(name));
    if let Some(h) = sha256 {
        id.push('-');
        id.push_str(&id_part(&h[..h.len().min(12)]));
    }
    id
}

/// `Organization: <name>` for a vendor or packager string, NOASSERTION
/// when empty. SPDX parses the value up to an optional `(email)`, so
/// parentheses and angle brackets inside the name are dropped.
pub fn supplier(who: &str) -> String {
    let name: String = who
        .chars()
        .filter(|c| !matches!(c, '(' | ')' | '<' | '>' | '\n' | '\r'))
        .collect();
    let name = name.trim();
    if name.is_empty() {
        NOASSERTION.into()
    } else {
        format!("Organization: {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_is_utc_seconds() {
        assert_eq!(created(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(created(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert!(created(u64::MAX).is_err());
    }

    #[test]
    fn ids_are_spdx_safe() {
        assert_eq!(
            element_id(
                "RPM",
                "libstdc++-4.8.5-36.el7.x86_64",
                Some("ABCDEF0123456789")
            ),
            "SPDXRef-RPM-libstdc---4.8.5-36.el7.x86-64-ABCDEF012345"
        );
        assert_eq!(id_part("a:b/c"), "a-b-c");
    }

    #[test]
    fn supplier_drops_email_syntax() {
        assert_eq!(supplier(""), NOASSERTION);
        assert_eq!(
            supplier("CentOS BuildSystem <http://bugs.centos.org>"),
            "Organization: CentOS BuildSystem http://bugs.centos.org"
        );
    }
}
