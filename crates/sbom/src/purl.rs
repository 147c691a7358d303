//! Package URLs (github.com/package-url/purl-spec) for RPMs and OCI images.

use crate::{ContainerImage, RpmInfo};

/// Percent-encodes everything but the purl-safe (RFC 3986 unreserved)
/// characters.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `pkg:rpm/<vendor>/<name>@<version>-<release>?arch=<arch>[&epoch=<e>]`;
/// the namespace is the vendor's first word in lower case (`centos`), left
/// out when the package names no vendor.
pub fn rpm(p: &RpmInfo) -> String {
    let ns = p
        .vendor
        .split_whitespace()
        .next()
        .map(|v| format!("{}/", encode(&v.to_ascii_lowercase())))
        .unwrap_or_default();
    let mut s = format!(
        "pkg:rpm/{ns}{}@{}?arch={}",
        encode(&p.name),
        encode(&format!("{}-{}", p.version, p.release)),
        encode(&p.arch)
    );
    if p.epoch != 0 {
        s.push_str(&format!("&epoch={}", p.epoch));
    }
    s
}

/// `pkg:oci/<last path component>@sha256%3A<hex>?repository_url=...&tag=...`
pub fn oci(image: &ContainerImage) -> String {
    let name = image
        .repository
        .rsplit('/')
        .next()
        .unwrap_or(&image.repository);
    let mut s = format!(
        "pkg:oci/{}@{}",
        encode(&name.to_ascii_lowercase()),
        encode(&image.digest)
    );
    let mut q = vec![];
    if let Some(r) = &image.repository_url {
        q.push(format!("repository_url={}", encode(r)));
    }
    q.push(format!("tag={}", encode(&image.tag)));
    s.push('?');
    s.push_str(&q.join("&"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_purl() {
        let p = RpmInfo {
            name: "libstdc++".into(),
            epoch: 1,
            version: "4.8.5".into(),
            release: "36.el7".into(),
            arch: "x86_64".into(),
            vendor: "CentOS".into(),
            ..RpmInfo::default()
        };
        assert_eq!(
            rpm(&p),
            "pkg:rpm/centos/libstdc%2B%2B@4.8.5-36.el7?arch=x86_64&epoch=1"
        );
    }

    #[test]
    fn oci_purl() {
        let i = ContainerImage {
            repository: "mk/etcd".into(),
            tag: "3.5.17".into(),
            digest: "sha256:ab".into(),
            repository_url: Some("registry.mk.local/mk/etcd".into()),
            ..ContainerImage::default()
        };
        assert_eq!(
            oci(&i),
            "pkg:oci/etcd@sha256%3Aab?repository_url=registry.mk.local%2Fmk%2Fetcd&tag=3.5.17"
        );
    }
}
