//! For tests (this crate's and mk-firstboot's): registry trees written by
//! mk-registry, the project's own writer, from small OCI image layouts
//! made here. Not for production: the layers are not tar archives (the
//! writer copies blobs, it does not unpack them).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn blob(layout: &Path, bytes: &[u8]) -> std::io::Result<(String, usize)> {
    let h = hex::encode(Sha256::digest(bytes));
    std::fs::write(layout.join("blobs/sha256").join(&h), bytes)?;
    Ok((format!("sha256:{h}"), bytes.len()))
}

/// A one-layer OCI image layout at `dir` whose index names it `tag`, its
/// content derived from `seed`. Returns the manifest digest.
pub fn oci_layout(dir: &Path, tag: &str, seed: &str) -> std::io::Result<String> {
    std::fs::create_dir_all(dir.join("blobs/sha256"))?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let (layer, layer_size) = blob(dir, format!("layer of {seed}").as_bytes())?;
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer]},
        "config": {"Labels": {"seed": seed}},
    });
    let (config, config_size) = blob(dir, &serde_json::to_vec(&config)?)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer, "size": layer_size}],
    });
    let (manifest, manifest_size) = blob(dir, &serde_json::to_vec(&manifest)?)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    Ok(manifest)
}

/// A registry tree at `work/registry`, written by `mk_registry::write_registry`,
/// serving each `(repository, tag)`; returns the tree and each image's
/// manifest digest, in order.
pub fn registry_tree(work: &Path, images: &[(&str, &str)]) -> (PathBuf, Vec<String>) {
    let mut inputs = Vec::new();
    let mut digests = Vec::new();
    for (i, (repo, tag)) in images.iter().enumerate() {
        let dir = work.join(format!("layout{i}"));
        let d = oci_layout(&dir, tag, &format!("{repo}:{tag}"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        inputs.push(mk_registry::Image {
            repository: repo.to_string(),
            layout: dir,
        });
        digests.push(d);
    }
    let tree = work.join("registry");
    mk_registry::write_registry(&inputs, &tree).unwrap_or_else(|e| panic!("{e:?}"));
    (tree, digests)
}

/// The registry images of the Kubernetes 1.30 recipes in images/ (which
/// have no Calico yet): repository (the upstream path) and tag.
pub const RECIPE_IMAGES: &[(&str, &str)] = &[
    ("etcd", "3.5.12-0"),
    ("kube-apiserver", "v1.30.14"),
    ("kube-controller-manager", "v1.30.14"),
    ("kube-scheduler", "v1.30.14"),
    ("kube-proxy", "v1.30.14"),
    ("coredns/coredns", "v1.11.1"),
    ("pause", "3.9"),
];
