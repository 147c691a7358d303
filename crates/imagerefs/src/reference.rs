//! Image references as containerd resolves them: `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`
//! normalised the way containerd's CRI plugin (docker's reference grammar)
//! does, then mapped to what the bundle's registry is asked for.
//!
//! containerd sends a mirror the **same repository path** as upstream
//! (docs/registry.md): `registry.k8s.io/pause:3.9` becomes
//! `GET /v2/pause/manifests/3.9`, `docker.io/calico/node:v3.29.7`
//! `/v2/calico/node/manifests/v3.29.7`, a bare `busybox`
//! `docker.io/library/busybox:latest`, so `/v2/library/busybox/manifests/latest`.
//! With a digest the tag is ignored and the manifest is asked for by digest.

use mk_registry::names;

/// The default registry of a reference without a host.
pub const DOCKER_HUB: &str = "docker.io";

/// One reference, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Registry host (and port): `registry.k8s.io`, `docker.io`.
    pub host: String,
    /// Repository path on that host, and in the bundle's registry tree:
    /// `pause`, `calico/node`, `library/busybox`.
    pub repository: String,
    /// What containerd asks the registry for.
    pub wanted: Wanted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A tag (`latest` when the reference names none).
    Tag(String),
    /// A manifest digest, as 64 lower-case hex digits of SHA-256 (a tag
    /// beside it is ignored, as containerd ignores it).
    Digest(String),
}

impl Parsed {
    /// The full normalised reference, `host/repository:tag` or `host/repository@sha256:hex`.
    pub fn normalised(&self) -> String {
        match &self.wanted {
            Wanted::Tag(t) => format!("{}/{}:{t}", self.host, self.repository),
            Wanted::Digest(h) => format!("{}/{}@sha256:{h}", self.host, self.repository),
        }
    }

    /// The mirror request's path: `/v2/<repository>/manifests/<tag or digest>`.
    pub fn request(&self) -> String {
        let what = match &self.wanted {
            Wanted::Tag(t) => t.clone(),
            Wanted::Digest(h) => format!("sha256:{h}"),
        };
        format!("/v2/{}/manifests/{what}", self.repository)
    }
}

/// Why a reference cannot be pulled from any registry mk serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image reference {reference:?}: {why}")]
pub struct ReferenceError {
    pub reference: String,
    pub why: String,
}

/// Parses and normalises `reference`.
pub fn parse(reference: &str) -> Result<Parsed, ReferenceError> {
    let bad = |why: String| ReferenceError {
        reference: reference.to_string(),
        why,
    };
    if reference.is_empty() {
        return Err(bad("empty".into()));
    }
    if reference.len() > 512
        || reference
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b < 0x20)
    {
        return Err(bad(
            "not an image reference (too long, or holds white space)".into(),
        ));
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => {
            let hex = names::sha256_hex(d).map_err(|e| bad(e.to_string()))?;
            (r, Some(hex.to_string()))
        }
        None => (reference, None),
    };
    // A `:` after the last `/` starts the tag; one before it is a port.
    let slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(c) if slash.is_none_or(|s| c > s) => (&rest[..c], Some(&rest[c + 1..])),
        _ => (rest, None),
    };
    let (host, path) = match name.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), path.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let host = if host == "index.docker.io" || host == "registry-1.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        host
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad(format!("host {host:?} is not lower case")));
    }
    let repository = if host == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    names::check_repository(&repository).map_err(|e| bad(e.to_string()))?;
    if let Some(t) = tag {
        names::check_tag(t).map_err(|e| bad(e.to_string()))?;
    }
    let wanted = match (digest, tag) {
        (Some(h), _) => Wanted::Digest(h),
        (None, Some(t)) => Wanted::Tag(t.to_string()),
        (None, None) => Wanted::Tag("latest".into()),
    };
    Ok(Parsed {
        host,
        repository,
        wanted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(host: &str, repo: &str, t: &str) -> Parsed {
        Parsed {
            host: host.into(),
            repository: repo.into(),
            wanted: Wanted::Tag(t.into()),
        }
    }

    #[test]
    fn normalises_as_containerd_does() {
        assert_eq!(
            parse("registry.k8s.io/pause:3.9").unwrap(),
            tag("registry.k8s.io", "pause", "3.9")
        );
        assert_eq!(
            parse("registry.k8s.io/coredns/coredns:v1.11.1").unwrap(),
            tag("registry.k8s.io", "coredns/coredns", "v1.11.1")
        );
        assert_eq!(
            parse("docker.io/calico/node:v3.29.7").unwrap(),
            tag("docker.io", "calico/node", "v3.29.7")
        );
        assert_eq!(
            parse("busybox").unwrap(),
            tag("docker.io", "library/busybox", "latest")
        );
        assert_eq!(
            parse("index.docker.io/busybox:1").unwrap(),
            tag("docker.io", "library/busybox", "1")
        );
        assert_eq!(
            parse("calico/node:v1").unwrap(),
            tag("docker.io", "calico/node", "v1")
        );
        assert_eq!(
            parse("localhost:5000/etcd").unwrap(),
            tag("localhost:5000", "etcd", "latest")
        );
        let h = "ab".repeat(32);
        let p = parse(&format!("registry.k8s.io/pause:3.9@sha256:{h}")).unwrap();
        assert_eq!(p.wanted, Wanted::Digest(h.clone()));
        assert_eq!(p.request(), format!("/v2/pause/manifests/sha256:{h}"));
        assert_eq!(
            parse("registry.k8s.io/pause:3.9").unwrap().request(),
            "/v2/pause/manifests/3.9"
        );
        assert_eq!(p.normalised(), format!("registry.k8s.io/pause@sha256:{h}"));
    }

    #[test]
    fn refuses_what_no_registry_serves() {
        for bad in [
            "",
            "Registry.k8s.io/pause:3.9",
            "registry.k8s.io/Pause:3.9",
            "registry.k8s.io/pause:",
            "registry.k8s.io/pause@sha512:abcd",
            "registry.k8s.io/pause@sha256:ABCD",
            "registry.k8s.io/../pause:1",
            "a b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let e = parse("registry.k8s.io/pause@sha512:00").unwrap_err();
        assert!(e.to_string().contains("sha512"), "{e}");
    }
}
