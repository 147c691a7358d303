//! Container images carried by the node image (issue 4, item 4): the
//! recipe's `image_archives` (OCI or Docker image archives, `.tar`) are
//! packaged as the RPM `mk-container-images` (R18: every file on a node
//! belongs to a package), installed read-only under [`IMAGES_DIR`], and
//! imported into containerd's content store at boot by
//! `mk-image-import.service` (overlays/node) before the kubelet starts: a
//! node with no network at all has its images.
//!
//! Archives are checked at build time (a readable tar holding `index.json`
//! or `manifest.json`), so a wrong file fails the build, not the node. The
//! package's release is the first 12 hex digits of the SHA-256 over the
//! archives' names and digests, so a changed archive is a new package (and
//! a new image cache key).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Package name.
pub const PACKAGE: &str = "mk-container-images";
/// Where the archives are installed (read-only root at run time).
pub const IMAGES_DIR: &str = "/usr/share/mk/images";
/// The capability the package requires: the import unit runs `ctr`.
pub const REQUIRES: &str = "containerd";

#[derive(Debug, thiserror::Error)]
pub enum ContainersError {
    #[error("image_archives: {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("image_archives: {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("packaging {PACKAGE}")]
    Pack(#[from] mk_rpmpack::PackError),
}

/// What kind of archive `ctr images import` will read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// OCI image layout in a tar (`oci-layout`, `index.json`, `blobs/`).
    Oci,
    /// `docker save` format (`manifest.json`).
    Docker,
}

/// One checked archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub source: PathBuf,
    /// File name under [`IMAGES_DIR`].
    pub name: String,
    pub sha256: String,
    pub format: ArchiveFormat,
    /// The names `ctr images import` gives its images, with the manifest
    /// digest where the archive records one (OCI).
    pub images: Vec<NamedImage>,
}

/// An image inside an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedImage {
    pub name: String,
    /// `sha256:…` of the manifest (OCI archives).
    pub digest: Option<String>,
}

use mk_oci::spec::ctr_keeps_name;
pub use mk_oci::spec::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};

/// Checks an image name found in an archive: a reference by the OCI
/// distribution grammar (`[HOST[:PORT]/]PATH:TAG` or `...@DIGEST`, e.g.
/// `registry.k8s.io/etcd:3.5.12-0`; mk_ocibuild::reference), with a tag or
/// a digest, since pods ask for one. `what` says where the name was found.
fn check_image_name(name: &str, what: &str) -> Result<(), String> {
    let r = mk_ocibuild::reference::check_reference(name)
        .map_err(|m| format!("{what}: not an image reference: {m}"))?;
    if r.tag.is_none() && r.digest.is_none() {
        return Err(format!(
            "{what}: `{name}` has no tag or digest; pods ask for NAME:TAG (e.g. registry.k8s.io/etcd:3.5.12-0)"
        ));
    }
    Ok(())
}

/// The images an archive's top-level JSON names. Pure.
fn named_images(format: ArchiveFormat, json: &[u8]) -> Result<Vec<NamedImage>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("not valid JSON: {e}"))?;
    let mut out = Vec::new();
    match format {
        ArchiveFormat::Oci => {
            let manifests = v
                .get("manifests")
                .and_then(|m| m.as_array())
                .ok_or("index.json has no `manifests` list")?;
            for m in manifests {
                let digest = m.get("digest").and_then(|d| d.as_str()).unwrap_or("?");
                let ann = |k: &str| {
                    m.get("annotations")
                        .and_then(|a| a.get(k))
                        .and_then(|n| n.as_str())
                };
                let name = match (ann(ANNOTATION_CONTAINERD_NAME), ann(ANNOTATION_REF_NAME)) {
                    (Some(n), _) => n,
                    (None, Some(r)) if ctr_keeps_name(r) => r,
                    (None, r) => {
                        return Err(format!(
                            "index.json: manifest {digest} has no full image name ({}); `ctr images import` would name it import-<date>:TAG. Give it the annotation {ANNOTATION_CONTAINERD_NAME} (e.g. registry.k8s.io/etcd:3.5.12-0) or a full reference in {ANNOTATION_REF_NAME}",
                            match r {
                                Some(r) => format!("{ANNOTATION_REF_NAME} is only the tag `{r}`"),
                                None => "no name annotation".to_string(),
                            }
                        ))
                    }
                };
                let source = if ann(ANNOTATION_CONTAINERD_NAME).is_some() {
                    ANNOTATION_CONTAINERD_NAME
                } else {
                    ANNOTATION_REF_NAME
                };
                check_image_name(name, &format!("index.json: manifest {digest}: {source}"))?;
                out.push(NamedImage {
                    name: name.to_string(),
                    digest: Some(digest.to_string()),
                });
            }
        }
        ArchiveFormat::Docker => {
            let entries = v.as_array().ok_or("manifest.json is not a list")?;
            for e in entries {
                for t in e
                    .get("RepoTags")
                    .and_then(|t| t.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str())
                {
                    check_image_name(t, "manifest.json: RepoTags")?;
                    out.push(NamedImage {
                        name: t.to_string(),
                        digest: None,
                    });
                }
            }
        }
    }
    if out.is_empty() {
        return Err("it names no image".into());
    }
    Ok(out)
}

impl Archive {
    /// Installed path on the node.
    pub fn installed_path(&self) -> String {
        format!("{IMAGES_DIR}/{}", self.name)
    }
}

/// The recipe's archives, checked, in recipe order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImages {
    pub archives: Vec<Archive>,
    /// SHA-256 over names and archive digests (cache key part).
    pub digest: String,
}

/// Which format the archive's top-level entries say it is. Pure.
fn format_of<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<ArchiveFormat> {
    let mut found = None;
    for n in names {
        match n.trim_start_matches("./") {
            "index.json" => return Some(ArchiveFormat::Oci),
            "manifest.json" => found = Some(ArchiveFormat::Docker),
            _ => {}
        }
    }
    found
}

/// A name the package can install and the unit's shell glob picks up.
fn name_problem(name: &str) -> Option<&'static str> {
    if !name.ends_with(".tar") {
        return Some("the file name must end in .tar (an uncompressed image archive)");
    }
    if name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
    {
        return Some(
            "the file name may hold only letters, digits and . _ - + (and not start with .)",
        );
    }
    None
}

/// Checks one archive: a readable tar (every entry read through, so a
/// truncated file fails here) with `index.json` or `manifest.json`.
fn check_archive(path: &Path) -> Result<Archive, ContainersError> {
    let invalid = |message: String| ContainersError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let io = |source| ContainersError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| invalid("file name is not UTF-8".into()))?
        .to_string();
    if let Some(p) = name_problem(&name) {
        return Err(invalid(p.into()));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = mk_durable::HashingReader::new(std::io::BufReader::new(file));
    let mut names = Vec::new();
    // Top-level index.json / manifest.json, for the image names.
    let mut top: Vec<(String, Vec<u8>)> = Vec::new();
    {
        let mut tar = tar::Archive::new(&mut hasher);
        let entries = tar
            .entries()
            .map_err(|e| invalid(format!("not a tar archive: {e}")))?;
        for e in entries {
            let mut e =
                e.map_err(|e| invalid(format!("truncated or not a readable tar archive: {e}")))?;
            let p = e
                .path()
                .map_err(|e| invalid(format!("bad entry name: {e}")))?
                .to_string_lossy()
                .into_owned();
            // Read the body through: a truncated archive fails here.
            let bare = p.trim_start_matches("./");
            if bare == "index.json" || bare == "manifest.json" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut buf)
                    .map_err(|e| invalid(format!("entry {p}: truncated or unreadable: {e}")))?;
                top.push((bare.to_string(), buf));
            } else {
                std::io::copy(&mut e, &mut std::io::sink())
                    .map_err(|e| invalid(format!("entry {p}: truncated or unreadable: {e}")))?;
            }
            names.push(p);
        }
    }
    // The rest of the file (tar end blocks, padding) counts for the digest.
    std::io::copy(&mut hasher, &mut std::io::sink()).map_err(io)?;
    let format = format_of(names.iter().map(String::as_str)).ok_or_else(|| {
        invalid(format!(
            "not an OCI or Docker image archive: no index.json or manifest.json among its {} entries",
            names.len()
        ))
    })?;
    let wanted = match format {
        ArchiveFormat::Oci => "index.json",
        ArchiveFormat::Docker => "manifest.json",
    };
    let json = top
        .iter()
        .find(|(n, _)| n == wanted)
        .map(|(_, b)| b.as_slice())
        .unwrap_or_default();
    let images = named_images(format, json).map_err(|m| invalid(format!("{wanted}: {m}")))?;
    Ok(Archive {
        source: path.to_path_buf(),
        name,
        sha256: hasher.finish().0.hex(),
        format,
        images,
    })
}

impl ContainerImages {
    /// Checks every archive; `None` when the list is empty.
    pub fn read(paths: &[PathBuf]) -> Result<Option<ContainerImages>, ContainersError> {
        if paths.is_empty() {
            return Ok(None);
        }
        let mut archives: Vec<Archive> = Vec::new();
        for p in paths {
            let a = check_archive(p)?;
            if let Some(other) = archives.iter().find(|o| o.name == a.name) {
                return Err(ContainersError::Invalid {
                    path: p.clone(),
                    message: format!(
                        "same file name as {} (both would be {})",
                        other.source.display(),
                        a.installed_path()
                    ),
                });
            }
            let names: Vec<&str> = a.images.iter().map(|i| i.name.as_str()).collect();
            tracing::info!(archive = %p.display(), sha256 = %a.sha256, format = ?a.format, images = %names.join(", "), "image archive checked");
            archives.push(a);
        }
        let mut h = Sha256::new();
        h.update(b"mk-container-images/v1\0");
        for a in &archives {
            h.update(format!("{}\0{}\0", a.name, a.sha256).as_bytes());
        }
        Ok(Some(ContainerImages {
            archives,
            digest: hex::encode(h.finalize()),
        }))
    }

    /// The package (not yet built): archives 0644 root:root under
    /// [`IMAGES_DIR`], the directory 0755. Pure.
    pub fn package(&self, build_time: u32) -> mk_rpmpack::Package {
        let mut p = mk_rpmpack::Package::new(PACKAGE, "1", &self.digest[..12]);
        let list: Vec<&str> = self.archives.iter().map(|a| a.name.as_str()).collect();
        p.summary("Container images preloaded into containerd at boot")
            .description(&format!(
                "Image archives imported into containerd's k8s.io namespace by mk-image-import.service before the kubelet starts: {}.",
                list.join(", ")
            ))
            .license("Apache-2.0")
            .arch("noarch")
            .build_time(build_time)
            // The layers inside are compressed already; xz would spend
            // minutes to gain little. gzip is readable by CentOS 7's rpm.
            .compression(mk_rpmpack::Compression::Gzip)
            .compression_level(1)
            .requires(mk_rpmpack::Dep::any(REQUIRES));
        for d in ["/usr/share/mk", IMAGES_DIR] {
            p.add(mk_rpmpack::FileSpec::dir(d).mode(0o755));
        }
        for a in &self.archives {
            p.add(
                mk_rpmpack::FileSpec::from_disk(&a.installed_path(), &a.source)
                    .mode(0o644)
                    .owner("root", "root"),
            );
        }
        p
    }

    /// Builds the package into `out_dir`; returns its path.
    pub fn build_rpm(&self, out_dir: &Path, build_time: u32) -> Result<PathBuf, ContainersError> {
        Ok(self.package(build_time).build_to_dir(out_dir)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_read_from_top_level_entries() {
        assert_eq!(
            format_of(["oci-layout", "index.json", "blobs/sha256/aa"]),
            Some(ArchiveFormat::Oci)
        );
        assert_eq!(
            format_of(["./manifest.json", "abc/layer.tar"]),
            Some(ArchiveFormat::Docker)
        );
        assert_eq!(format_of(["blobs/index.json", "x"]), None);
    }

    #[test]
    fn images_need_a_name_ctr_keeps() {
        let oci = |ann: &str| {
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"digest":"sha256:ab","annotations":{{{ann}}}}}]}}"#
            )
        };
        let ok = named_images(
            ArchiveFormat::Oci,
            oci(r#""io.containerd.image.name":"registry.k8s.io/etcd:3.5","org.opencontainers.image.ref.name":"3.5""#).as_bytes(),
        )
        .unwrap();
        assert_eq!(ok[0].name, "registry.k8s.io/etcd:3.5");
        assert_eq!(ok[0].digest.as_deref(), Some("sha256:ab"));
        let full = named_images(
            ArchiveFormat::Oci,
            oci(r#""org.opencontainers.image.ref.name":"etcd:3.5""#).as_bytes(),
        )
        .unwrap();
        assert_eq!(full[0].name, "etcd:3.5");
        let e = named_images(
            ArchiveFormat::Oci,
            oci(r#""org.opencontainers.image.ref.name":"3.5""#).as_bytes(),
        )
        .unwrap_err();
        assert!(
            e.contains("sha256:ab") && e.contains("only the tag `3.5`"),
            "{e}"
        );
        let e = named_images(ArchiveFormat::Oci, oci("").as_bytes()).unwrap_err();
        assert!(e.contains("no name annotation"), "{e}");
        // Full references with a registry host and port are names ctr keeps.
        let port = named_images(
            ArchiveFormat::Oci,
            oci(r#""io.containerd.image.name":"localhost:5000/coredns/coredns:v1.11.1""#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(port[0].name, "localhost:5000/coredns/coredns:v1.11.1");
        // Names that are not references, or carry no tag, are refused by
        // where they were found and what is wrong.
        for (ann, want) in [
            (
                r#""io.containerd.image.name":"registry.k8s.io/Etcd:3.5""#,
                "io.containerd.image.name: not an image reference: reference `registry.k8s.io/Etcd:3.5`: `registry.k8s.io/Etcd`: path component `Etcd`",
            ),
            (
                r#""io.containerd.image.name":"registry.k8s.io/etcd""#,
                "`registry.k8s.io/etcd` has no tag or digest",
            ),
            (
                r#""org.opencontainers.image.ref.name":"registry.k8s.io:x/etcd:1""#,
                "org.opencontainers.image.ref.name: not an image reference",
            ),
        ] {
            let e = named_images(ArchiveFormat::Oci, oci(ann).as_bytes()).unwrap_err();
            assert!(e.contains("manifest sha256:ab") && e.contains(want), "{e}");
        }
        let e = named_images(
            ArchiveFormat::Docker,
            br#"[{"Config":"c.json","RepoTags":["Pause:3.9"],"Layers":[]}]"#,
        )
        .unwrap_err();
        assert!(e.contains("RepoTags") && e.contains("`Pause`"), "{e}");
        let d = named_images(
            ArchiveFormat::Docker,
            br#"[{"Config":"c.json","RepoTags":["pause:3.9"],"Layers":[]}]"#,
        )
        .unwrap();
        assert_eq!(d[0].name, "pause:3.9");
        assert!(named_images(ArchiveFormat::Docker, b"[]").is_err());
        assert!(named_images(ArchiveFormat::Oci, b"{").is_err());
    }

    #[test]
    fn names_must_be_plain_tar_names() {
        assert!(name_problem("etcd-3.5.tar").is_none());
        assert!(name_problem("etcd.tar.gz").is_some());
        assert!(name_problem("a b.tar").is_some());
        assert!(name_problem(".hidden.tar").is_some());
    }
}
