//! Image references compared as containerd compares them: `pause:3.9`
//! and `docker.io/library/pause:3.9` are one image, `registry.k8s.io/pause:3.9`
//! another. The kubelet asks containerd for the pod's reference in its
//! normalized form, and `ctr images import` stores archive names in it.

/// The normalized form: registry host, repository path, then `:tag`
/// (`:latest` when neither tag nor digest is given) and `@digest`.
pub fn normalize(reference: &str) -> String {
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    // A `:` after the last `/` separates the tag (a `:` before it is a
    // registry port).
    let slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[slash..].find(':') {
        Some(i) => (&name_tag[..slash + i], Some(&name_tag[slash + i + 1..])),
        None => (name_tag, None),
    };
    let name = match name.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => name.to_string(),
        Some(_) => format!("docker.io/{name}"),
        None => format!("docker.io/library/{name}"),
    };
    let mut out = name;
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    out
}

/// The repository's last path component: `kube-apiserver` for
/// `registry.k8s.io/kube-apiserver:v1.30.14`.
pub fn component(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or(reference);
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split(':').next().unwrap_or(last)
}

/// The tag, if the reference has one.
pub fn tag(reference: &str) -> Option<&str> {
    let name = reference.split('@').next().unwrap_or(reference);
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split_once(':').map(|(_, t)| t)
}

/// `name@digest` for a reference with a tag (what a pod asking by
/// digest would match), or `None` if it has a digest already.
pub fn with_digest(reference: &str, digest: &str) -> Option<String> {
    let n = normalize(reference);
    if n.contains('@') {
        return None;
    }
    let slash = n.rfind('/').map_or(0, |i| i + 1);
    let name = match n[slash..].find(':') {
        Some(i) => &n[..slash + i],
        None => &n,
    };
    Some(format!("{name}@{digest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_as_containerd_does() {
        assert_eq!(normalize("pause:3.9"), "docker.io/library/pause:3.9");
        assert_eq!(normalize("etcd"), "docker.io/library/etcd:latest");
        assert_eq!(normalize("mk/etcd:1"), "docker.io/mk/etcd:1");
        assert_eq!(
            normalize("registry.k8s.io/etcd:3.5.12-0"),
            "registry.k8s.io/etcd:3.5.12-0"
        );
        assert_eq!(
            normalize("localhost:5000/etcd"),
            "localhost:5000/etcd:latest"
        );
        assert_eq!(
            normalize("registry.k8s.io/etcd@sha256:ab"),
            "registry.k8s.io/etcd@sha256:ab"
        );
        assert_eq!(
            with_digest("registry.k8s.io/etcd:3.5.12-0", "sha256:ab").as_deref(),
            Some("registry.k8s.io/etcd@sha256:ab")
        );
        assert_eq!(
            component("registry.k8s.io/kube-apiserver:v1.30.14"),
            "kube-apiserver"
        );
        assert_eq!(
            tag("registry.k8s.io/kube-apiserver:v1.30.14"),
            Some("v1.30.14")
        );
        assert_eq!(tag("localhost:5000/kube-apiserver"), None);
    }
}
