//! What the SBOM says about one RPM: NEVRA, SHA-256, License tag, vendor,
//! the key ID of its signature and, for our own packages, the source
//! revision (the header's VCS tag).

use crate::SbomError;
use rpm::{IndexSignatureTag, IndexTag};
use std::io::BufReader;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmInfo {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// Lower-case hex SHA-256 of the .rpm file; None for a package built
    /// inside the image build that left no file behind.
    pub sha256: Option<String>,
    pub file_name: Option<String>,
    pub license: String,
    pub vendor: String,
    pub packager: String,
    pub url: String,
    pub sourcerpm: String,
    /// OpenPGP key ID (16 lower-case hex, as `rpm -qi` prints it) of the
    /// header or header+payload signature; None when unsigned.
    pub signing_key_id: Option<String>,
    /// The VCS tag (`%{VCS}`): the source revision our packages are built from.
    pub source_revision: Option<String>,
}

impl RpmInfo {
    /// From repository metadata alone (no signature, no VCS tag).
    pub fn from_package(p: &mk_rpmrepo::Package) -> RpmInfo {
        RpmInfo {
            name: p.name.clone(),
            epoch: p.evr.epoch,
            version: p.evr.version.clone(),
            release: p.evr.release.clone(),
            arch: p.arch.clone(),
            sha256: (!p.checksum.is_empty()).then(|| p.checksum.to_ascii_lowercase()),
            file_name: p.location.rsplit('/').next().map(str::to_string),
            license: p.license.clone(),
            vendor: p.vendor.clone(),
            packager: p.packager.clone(),
            url: p.url.clone(),
            sourcerpm: p.sourcerpm.clone(),
            signing_key_id: None,
            source_revision: None,
        }
    }

    /// [`RpmInfo::from_package`] plus the signature key ID and VCS tag from
    /// the file's headers (the payload is not read).
    pub fn read(path: &Path, p: &mk_rpmrepo::Package) -> Result<RpmInfo, SbomError> {
        let bad = |message: String| SbomError::Rpm {
            file: path.display().to_string(),
            message,
        };
        let f = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        let meta =
            rpm::PackageMetadata::parse(&mut BufReader::new(f)).map_err(|e| bad(e.to_string()))?;
        let mut info = RpmInfo::from_package(p);
        info.signing_key_id = signing_key_id(&meta);
        info.source_revision = meta
            .header
            .get_entry_data_as_string(IndexTag::RPMTAG_VCS)
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Ok(info)
    }

    pub fn evr(&self) -> String {
        if self.epoch == 0 {
            format!("{}-{}", self.version, self.release)
        } else {
            format!("{}:{}-{}", self.epoch, self.version, self.release)
        }
    }

    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr(), self.arch)
    }

    /// Annotations: facts SPDX 2.3 has no field for. `key: value`, one per
    /// annotation, so that they are easy to grep and parse.
    pub fn notes(&self) -> Vec<String> {
        let mut n = vec![format!("rpm-nevra: {}", self.nevra())];
        n.push(format!(
            "rpm-signature-key-id: {}",
            self.signing_key_id.as_deref().unwrap_or("none")
        ));
        if !self.sourcerpm.is_empty() {
            n.push(format!("rpm-sourcerpm: {}", self.sourcerpm));
        }
        if let Some(r) = &self.source_revision {
            n.push(format!("source-revision: {r}"));
        }
        n
    }
}

/// The issuer key ID of the first signature found, in rpm's order of
/// preference: RSA/DSA over the header, then PGP/GPG over header+payload.
pub fn signing_key_id(meta: &rpm::PackageMetadata) -> Option<String> {
    let sig = &meta.signature;
    [
        IndexSignatureTag::RPMSIGTAG_RSA,
        IndexSignatureTag::RPMSIGTAG_DSA,
        IndexSignatureTag::RPMSIGTAG_PGP,
        IndexSignatureTag::RPMSIGTAG_GPG,
    ]
    .into_iter()
    .filter_map(|t| sig.get_entry_data_as_binary(t).ok())
    .find_map(pgp_issuer)
}

/// The issuer key ID of an OpenPGP signature packet (RFC 4880 §5.2): at a
/// fixed offset in v3; the Issuer (16) or Issuer Fingerprint (33)
/// subpacket in v4. Every length is checked against the packet.
pub fn pgp_issuer(packet: &[u8]) -> Option<String> {
    let body = packet_body(packet)?;
    match *body.first()? {
        3 => body.get(7..15).map(hex::encode),
        4 => {
            let hashed_len = u16::from_be_bytes([*body.get(4)?, *body.get(5)?]) as usize;
            let hashed = body.get(6..6 + hashed_len)?;
            let rest = body.get(6 + hashed_len..)?;
            let unhashed_len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
            let unhashed = rest.get(2..2 + unhashed_len)?;
            issuer_subpacket(hashed).or_else(|| issuer_subpacket(unhashed))
        }
        _ => None,
    }
}

fn packet_body(p: &[u8]) -> Option<&[u8]> {
    let b0 = *p.first()?;
    if b0 & 0x80 == 0 {
        return None;
    }
    let (tag, len, start): (u8, usize, usize) = if b0 & 0x40 != 0 {
        let l1 = *p.get(1)? as usize;
        match l1 {
            0..=191 => (b0 & 0x3f, l1, 2),
            192..=223 => (b0 & 0x3f, ((l1 - 192) << 8) + *p.get(2)? as usize + 192, 3),
            255 => (
                b0 & 0x3f,
                u32::from_be_bytes(p.get(2..6)?.try_into().ok()?) as usize,
                6,
            ),
            _ => return None,
        }
    } else {
        let tag = (b0 >> 2) & 0x0f;
        match b0 & 3 {
            0 => (tag, *p.get(1)? as usize, 2),
            1 => (
                tag,
                u16::from_be_bytes([*p.get(1)?, *p.get(2)?]) as usize,
                3,
            ),
            2 => (
                tag,
                u32::from_be_bytes(p.get(1..5)?.try_into().ok()?) as usize,
                5,
            ),
            _ => (tag, p.len().checked_sub(1)?, 1),
        }
    };
    if tag != 2 {
        return None;
    }
    p.get(start..start.checked_add(len)?)
}

fn issuer_subpacket(mut s: &[u8]) -> Option<String> {
    while !s.is_empty() {
        let l1 = s[0] as usize;
        let (len, hdr): (usize, usize) = match l1 {
            0..=191 => (l1, 1),
            192..=254 => (((l1 - 192) << 8) + *s.get(1)? as usize + 192, 2),
            _ => (
                u32::from_be_bytes(s.get(1..5)?.try_into().ok()?) as usize,
                5,
            ),
        };
        let sub = s.get(hdr..hdr.checked_add(len)?)?;
        s = &s[hdr + len..];
        let (&kind, data) = sub.split_first()?;
        match kind & 0x7f {
            16 if data.len() == 8 => return Some(hex::encode(data)),
            // Version byte, then the fingerprint; the key ID is its last 8 bytes (v4).
            33 if data.len() == 21 => return Some(hex::encode(&data[13..])),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_issuer_subpacket() {
        // Old-format header (tag 2, 1-byte length), v4, hashed area with
        // a creation time, unhashed area with the issuer.
        let mut body = vec![4, 0, 1, 8, 0, 6, 5, 2, 0, 0, 0, 1, 0, 10, 9, 16];
        body.extend_from_slice(&[0x24, 0xc6, 0xa8, 0xa7, 0xf4, 0xa8, 0x0e, 0xb5]);
        body.extend_from_slice(&[0, 0]);
        let mut p = vec![0x88, body.len() as u8];
        p.extend_from_slice(&body);
        assert_eq!(pgp_issuer(&p).as_deref(), Some("24c6a8a7f4a80eb5"));
        // Truncated: no answer, no panic.
        for n in 0..p.len() {
            let _ = pgp_issuer(&p[..n]);
        }
        assert_eq!(pgp_issuer(&p[..p.len() - 3]), None);
    }
}
