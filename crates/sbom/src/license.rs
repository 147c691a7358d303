//! RPM License tags as SPDX `licenseDeclared`.
//!
//! CentOS 7 tags are Fedora's old short names (`GPLv2+`, `BSD`, `GPLv2
//! and LGPLv2+`), not SPDX expressions. A tag that already is one (`MIT`,
//! `Apache-2.0`, our own packages) is kept; any other becomes
//! `LicenseRef-rpm-...` with the tag verbatim in `hasExtractedLicensingInfos`.
//! That keeps what the packager declared (NOASSERTION would drop it) and
//! is what the SPDX validator accepts: a LicenseRef must be declared in the
//! document, free text in a license field is refused. Translating
//! `GPLv2+` to `GPL-2.0-or-later` is left to tools that own such a table
//! (we would be asserting something the packager did not write).

use crate::spdx::ExtractedLicense;
use sha2::{Digest, Sha256};

/// SPDX license identifiers RPMs of ours and of common upstreams use
/// verbatim. Not the whole list: a tag outside it still gets a correct
/// (LicenseRef) answer.
const SPDX_IDS: &[&str] = &[
    "0BSD",
    "Apache-2.0",
    "Artistic-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSL-1.0",
    "CC0-1.0",
    "EPL-2.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "ISC",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MPL-2.0",
    "OpenSSL",
    "PostgreSQL",
    "Python-2.0",
    "Unlicense",
    "Zlib",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// For `licenseDeclared`.
    pub expression: String,
    /// The LicenseRef to declare in the document, if one is used.
    pub extracted: Option<ExtractedLicense>,
}

pub fn declared(tag: &str) -> Declared {
    let tag = tag.trim();
    if tag.is_empty() {
        return Declared {
            expression: crate::spdx::NOASSERTION.into(),
            extracted: None,
        };
    }
    if is_simple_spdx(tag) {
        return Declared {
            expression: tag.into(),
            extracted: None,
        };
    }
    let id = license_ref(tag);
    Declared {
        expression: id.clone(),
        extracted: Some(ExtractedLicense {
            license_id: id,
            extracted_text: tag.into(),
            name: Some(tag.into()),
            comment: Some("the RPM License tag, verbatim (not an SPDX expression)".into()),
        }),
    }
}

/// Known identifiers joined by ` AND ` / ` OR ` (no parentheses, no WITH).
fn is_simple_spdx(tag: &str) -> bool {
    tag.split(" OR ")
        .flat_map(|t| t.split(" AND "))
        .all(|id| SPDX_IDS.contains(&id))
}

/// `LicenseRef-rpm-<tag with + as "plus", other non-id characters as
/// "-">`; when anything but `+` was replaced, 8 hex of the tag's SHA-256
/// follow, so two tags never share a reference.
pub fn license_ref(tag: &str) -> String {
    let mut lossy = false;
    let mut id = String::from("LicenseRef-rpm-");
    for c in tag.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '.' || c == '-' => id.push(c),
            '+' => id.push_str("plus"),
            _ => {
                lossy = true;
                id.push('-');
            }
        }
    }
    // "plus" itself in a tag would be ambiguous with "+".
    if lossy || tag.contains("plus") || tag.contains('-') {
        id.push('-');
        id.push_str(&hex::encode(&Sha256::digest(tag.as_bytes())[..4]));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdx_tags_stay() {
        assert_eq!(declared("Apache-2.0").expression, "Apache-2.0");
        assert_eq!(
            declared("MIT OR Apache-2.0").expression,
            "MIT OR Apache-2.0"
        );
        assert!(declared("MIT").extracted.is_none());
    }

    #[test]
    fn rpm_tags_become_declared_license_refs() {
        let d = declared("GPLv2+");
        assert_eq!(d.expression, "LicenseRef-rpm-GPLv2plus");
        assert_eq!(d.extracted.unwrap().extracted_text, "GPLv2+");
        let a = declared("GPLv2 and LGPLv2+").expression;
        let b = declared("GPLv2-and-LGPLv2+").expression;
        assert_ne!(a, b);
        assert!(a.starts_with("LicenseRef-rpm-GPLv2-and-LGPLv2plus-"), "{a}");
        assert_eq!(declared("").expression, "NOASSERTION");
    }
}
