//! OCI image layouts on disk (`oci-layout`, `index.json`, `blobs/sha256/…`)
//! and OCI archives (a tar of such a layout), read and written.
//!
//! Every blob read is checked against its digest (and size, where a
//! descriptor gives one) before its content is used.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use tempfile::{NamedTempFile, TempDir};
use tracing::{debug, info};

use crate::digest::{Digest, HashingWriter};
use crate::error::{io_err, Error, Result};
use crate::spec::{
    to_json, ConfigFile, Descriptor, Index, Manifest, ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, OCI_LAYOUT_CONTENT,
};

/// An OCI image layout directory, opened for reading and writing.
///
/// When opened from an OCI archive, the archive is extracted into a private
/// temporary directory that lives as long as the `Layout`; writes then go
/// to that copy only.
#[derive(Debug)]
pub struct Layout {
    dir: PathBuf,
    source: PathBuf,
    _extracted: Option<TempDir>,
}

/// One entry of `index.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// The `org.opencontainers.image.ref.name` annotation (the tag).
    pub ref_name: Option<String>,
    pub descriptor: Descriptor,
}

/// An image read from a layout: its manifest and config, both verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Digest of the image manifest.
    pub manifest_digest: Digest,
    /// Size of the manifest blob.
    pub manifest_size: u64,
    /// When the image was reached through an image index (multi-platform
    /// list), that index's digest; the manifest is its linux/amd64 entry.
    pub index_digest: Option<Digest>,
    pub manifest: Manifest,
    pub config: ConfigFile,
    /// The layer descriptors, lowest first (same as `manifest.layers`).
    pub layers: Vec<Descriptor>,
}

impl Image {
    /// The uncompressed layer digests from the config (`rootfs.diff_ids`).
    pub fn diff_ids(&self) -> &[Digest] {
        &self.config.rootfs.diff_ids
    }
    /// The manifest's descriptor (media type, digest, size).
    pub fn manifest_descriptor(&self) -> Descriptor {
        let mt = self
            .manifest
            .media_type
            .as_deref()
            .unwrap_or(MEDIA_TYPE_MANIFEST);
        Descriptor::new(mt, self.manifest_digest, self.manifest_size)
    }
}

impl Layout {
    /// Opens an OCI image layout directory, or an OCI archive (a tar file
    /// of one, as `skopeo copy … oci-archive:` writes), which is extracted
    /// into a temporary directory first (regular files and directories
    /// only; any other member, or a path outside the layout, is refused).
    pub fn open(path: &Path) -> Result<Layout> {
        let meta = fs::metadata(path).map_err(io_err("cannot open OCI layout", path))?;
        if meta.is_dir() {
            if !path.join("oci-layout").exists() && path.join("manifest.json").is_file() {
                return Err(Error::DockerArchiveDir {
                    path: path.to_path_buf(),
                });
            }
            check_layout_dir(path, path)?;
            return Ok(Layout {
                dir: path.to_path_buf(),
                source: path.to_path_buf(),
                _extracted: None,
            });
        }
        let tmp = tempfile::Builder::new()
            .prefix("mk-oci-archive.")
            .tempdir()
            .map_err(io_err("cannot create a temporary directory for", path))?;
        let docker_manifest = extract_archive(path, tmp.path())?;
        if docker_manifest && !tmp.path().join("oci-layout").exists() {
            // What `docker save` (before Docker 25) and skopeo's
            // docker-archive write: no OCI layout to read.
            return Err(Error::DockerArchive {
                path: path.to_path_buf(),
            });
        }
        check_layout_dir(tmp.path(), path)?;
        info!(archive = %path.display(), "extracted OCI archive");
        Ok(Layout {
            dir: tmp.path().to_path_buf(),
            source: path.to_path_buf(),
            _extracted: Some(tmp),
        })
    }

    /// Creates an empty layout at `dir` (created if missing), or opens the
    /// layout already there. Idempotent.
    pub fn create(dir: &Path) -> Result<Layout> {
        let blobs = dir.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(io_err("cannot create", &blobs))?;
        let marker = dir.join("oci-layout");
        if !marker.exists() {
            mk_durable::write_atomic_mode(&marker, OCI_LAYOUT_CONTENT.as_bytes(), 0o644)
                .map_err(io_err("cannot write", &marker))?;
        }
        let index = dir.join("index.json");
        if !index.exists() {
            mk_durable::write_atomic_mode(&index, &to_json(&Index::default()), 0o644)
                .map_err(io_err("cannot write", &index))?;
        }
        Layout::open(dir)
    }

    /// The layout directory (the extracted copy for an archive).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// What was opened: the directory, or the archive file.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The parsed `index.json`.
    pub fn index(&self) -> Result<Index> {
        let p = self.dir.join("index.json");
        let data = fs::read(&p).map_err(io_err("cannot read", &p))?;
        serde_json::from_slice(&data).map_err(|source| Error::Json {
            layout: self.source.clone(),
            what: "index.json".into(),
            source,
        })
    }

    /// The entries of `index.json`, in file order.
    pub fn images(&self) -> Result<Vec<ImageRef>> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .map(|d| ImageRef {
                ref_name: d.ref_name().map(str::to_string),
                descriptor: d,
            })
            .collect())
    }

    /// The image whose manifest (or image index) has `digest`. The digest
    /// need not be listed in `index.json`, only present as a blob.
    pub fn image(&self, digest: &Digest) -> Result<Image> {
        let listed = self
            .index()?
            .manifests
            .into_iter()
            .find(|d| d.digest == *digest);
        match listed {
            Some(d) => self.image_from_descriptor(&d),
            None => {
                let data = self.read_blob_unsized(digest)?;
                self.image_from_bytes(*digest, data, None)
            }
        }
    }

    /// The image `index.json` names `name` (`org.opencontainers.image.ref.name`).
    pub fn image_by_ref(&self, name: &str) -> Result<Image> {
        let images = self.images()?;
        match images.iter().find(|i| i.ref_name.as_deref() == Some(name)) {
            Some(i) => self.image_from_descriptor(&i.descriptor),
            None => Err(Error::RefNotFound {
                layout: self.source.clone(),
                name: name.to_string(),
                available: images.iter().filter_map(|i| i.ref_name.clone()).collect(),
            }),
        }
    }

    /// The image an `index.json` (or image index) entry points to.
    pub fn image_from_descriptor(&self, desc: &Descriptor) -> Result<Image> {
        let data = self.read_blob(desc)?;
        self.image_from_bytes(desc.digest, data, Some(desc.media_type.as_str()))
    }

    fn image_from_bytes(
        &self,
        digest: Digest,
        data: Vec<u8>,
        media_type: Option<&str>,
    ) -> Result<Image> {
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let what = format!("manifest {digest}");
        let probe: Probe = serde_json::from_slice(&data).map_err(|source| Error::Json {
            layout: self.source.clone(),
            what: what.clone(),
            source,
        })?;
        let mt = probe
            .media_type
            .as_deref()
            .or(media_type)
            .unwrap_or(MEDIA_TYPE_MANIFEST);
        let is_index = probe.manifests.is_some()
            || mt == MEDIA_TYPE_INDEX
            || mt == MEDIA_TYPE_DOCKER_MANIFEST_LIST;
        if is_index {
            let index: Index = serde_json::from_slice(&data).map_err(|source| Error::Json {
                layout: self.source.clone(),
                what: format!("image index {digest}"),
                source,
            })?;
            let pick = pick_platform(&index).ok_or_else(|| Error::BadDocument {
                layout: self.source.clone(),
                what: format!("image index {digest}"),
                reason: "no linux/amd64 manifest in it".into(),
            })?;
            let mut img = self.image_from_descriptor(&pick)?;
            img.index_digest = Some(digest);
            return Ok(img);
        }
        if mt != MEDIA_TYPE_MANIFEST && mt != MEDIA_TYPE_DOCKER_MANIFEST {
            return Err(Error::UnsupportedMediaType {
                digest,
                media_type: mt.to_string(),
                expected: "an OCI image manifest or index",
            });
        }
        let manifest: Manifest = serde_json::from_slice(&data).map_err(|source| Error::Json {
            layout: self.source.clone(),
            what,
            source,
        })?;
        let cmt = manifest.config.media_type.as_str();
        if cmt != MEDIA_TYPE_CONFIG && cmt != MEDIA_TYPE_DOCKER_CONFIG {
            return Err(Error::UnsupportedMediaType {
                digest: manifest.config.digest,
                media_type: cmt.to_string(),
                expected: MEDIA_TYPE_CONFIG,
            });
        }
        let config_data = self.read_blob(&manifest.config)?;
        let config: ConfigFile =
            serde_json::from_slice(&config_data).map_err(|source| Error::Json {
                layout: self.source.clone(),
                what: format!("image config {}", manifest.config.digest),
                source,
            })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::BadDocument {
                layout: self.source.clone(),
                what: format!("image config {}", manifest.config.digest),
                reason: format!(
                    "rootfs.diff_ids has {} entries but manifest {digest} has {} layers",
                    config.rootfs.diff_ids.len(),
                    manifest.layers.len()
                ),
            });
        }
        Ok(Image {
            manifest_digest: digest,
            manifest_size: data.len() as u64,
            index_digest: None,
            layers: manifest.layers.clone(),
            manifest,
            config,
        })
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// Whether a blob file with `digest` exists (not verified).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Checks the blob `desc` points to (size, then SHA-256 of the whole
    /// file) and returns its path.
    pub fn verify_blob(&self, desc: &Descriptor) -> Result<PathBuf> {
        let path = self.blob_path(&desc.digest);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::BlobMissing {
                    layout: self.source.clone(),
                    digest: desc.digest,
                })
            }
            Err(e) => return Err(io_err("cannot read blob", &path)(e)),
        };
        if !meta.is_file() {
            return Err(self.mismatch(&desc.digest, "not a regular file".into()));
        }
        if meta.len() != desc.size {
            return Err(self.mismatch(
                &desc.digest,
                format!(
                    "size is {} bytes, descriptor says {}",
                    meta.len(),
                    desc.size
                ),
            ));
        }
        let (actual, _) = Digest::of_file(&path).map_err(io_err("cannot read blob", &path))?;
        if actual != desc.digest {
            return Err(self.mismatch(&desc.digest, format!("content hashes to {actual}")));
        }
        Ok(path)
    }

    /// Checks every layer blob of `image` (size, digest, and the
    /// uncompressed stream against the config's diff_id), so that a
    /// corrupt base is refused before any other work; the manifest and
    /// config were checked when `image` was read.
    pub fn verify_layers(&self, image: &Image) -> Result<()> {
        let count = image.layers.len();
        for (i, layer) in image.layers.iter().enumerate() {
            let corrupt = |reason: String| Error::LayerCorrupt {
                layout: self.source.clone(),
                index: i + 1,
                count,
                digest: layer.digest,
                reason,
            };
            let path = self.verify_blob(layer).map_err(|e| match e {
                Error::BlobMismatch { reason, .. } => corrupt(reason),
                Error::BlobMissing { .. } => corrupt("the blob is missing".into()),
                other => other,
            })?;
            let Some(want) = image.diff_ids().get(i) else {
                continue;
            };
            let file = File::open(&path).map_err(io_err("cannot read blob", &path))?;
            let stream = crate::unpack::decoder(layer, file)?;
            let (diff_id, _) = Digest::of_reader(stream)
                .map_err(|e| corrupt(format!("cannot decompress it: {e}")))?;
            if diff_id != *want {
                return Err(corrupt(format!(
                    "its uncompressed content hashes to {diff_id}, but the config's diff_id is {want}"
                )));
            }
        }
        Ok(())
    }

    /// Reads a blob, checking size and digest.
    pub fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let data = self.read_blob_unsized(&desc.digest)?;
        if data.len() as u64 != desc.size {
            return Err(self.mismatch(
                &desc.digest,
                format!(
                    "size is {} bytes, descriptor says {}",
                    data.len(),
                    desc.size
                ),
            ));
        }
        Ok(data)
    }

    /// Reads a blob known only by digest, checking the digest.
    pub fn read_blob_unsized(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::BlobMissing {
                    layout: self.source.clone(),
                    digest: *digest,
                })
            }
            Err(e) => return Err(io_err("cannot read blob", &path)(e)),
        };
        let actual = Digest::of(&data);
        if actual != *digest {
            return Err(self.mismatch(digest, format!("content hashes to {actual}")));
        }
        Ok(data)
    }

    pub(crate) fn mismatch(&self, digest: &Digest, reason: String) -> Error {
        Error::BlobMismatch {
            layout: self.source.clone(),
            digest: *digest,
            reason,
        }
    }

    /// Stores `data` as a blob (content-addressed; storing the same bytes
    /// again is a no-op) and returns its descriptor.
    pub fn put_blob(&self, media_type: &str, data: &[u8]) -> Result<Descriptor> {
        let mut w = self.blob_writer()?;
        w.write_all(data)
            .map_err(io_err("cannot write blob in", &self.dir))?;
        w.commit(media_type)
    }

    /// Stores the content of the file at `path` as a blob.
    pub fn put_blob_file(&self, media_type: &str, path: &Path) -> Result<Descriptor> {
        let mut f = File::open(path).map_err(io_err("cannot read", path))?;
        let mut w = self.blob_writer()?;
        io::copy(&mut f, &mut w).map_err(io_err("cannot copy into a blob", path))?;
        w.commit(media_type)
    }

    /// A streaming blob writer: write the content, then [`BlobWriter::commit`].
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let dir = self.dir.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
        let tmp = tempfile::Builder::new()
            .prefix(".blob.")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io_err("cannot create a blob in", &dir))?;
        Ok(BlobWriter {
            inner: HashingWriter::new(BufWriter::with_capacity(1 << 20, tmp)),
            dir,
            source: self.source.clone(),
        })
    }

    /// Copies blob `desc` from `other` into this layout (verified), unless
    /// this layout has it already.
    pub fn copy_blob_from(&self, other: &Layout, desc: &Descriptor) -> Result<()> {
        if self.has_blob(&desc.digest) {
            return Ok(());
        }
        let src = other.verify_blob(desc)?;
        let copied = self.put_blob_file(&desc.media_type, &src)?;
        if copied.digest != desc.digest {
            return Err(other.mismatch(&desc.digest, "changed while being copied".into()));
        }
        Ok(())
    }

    /// Serializes and stores an image manifest; returns its descriptor
    /// (not yet named in `index.json`: see [`Layout::add_manifest`]).
    pub fn put_manifest(&self, manifest: &Manifest) -> Result<Descriptor> {
        self.put_blob(MEDIA_TYPE_MANIFEST, &to_json(manifest))
    }

    /// Adds `manifest` to `index.json` (written atomically), named
    /// `ref_name` if given. An entry with the same ref name is replaced (a
    /// tag moves); an identical entry is not duplicated. The manifest blob
    /// must be in the layout.
    pub fn add_manifest(&self, manifest: &Descriptor, ref_name: Option<&str>) -> Result<()> {
        if !self.has_blob(&manifest.digest) {
            return Err(Error::BlobMissing {
                layout: self.source.clone(),
                digest: manifest.digest,
            });
        }
        let mut desc = manifest.clone();
        desc.annotations.remove(ANNOTATION_REF_NAME);
        if let Some(name) = ref_name {
            check_ref_name(name)?;
            desc.annotations
                .insert(ANNOTATION_REF_NAME.into(), name.into());
        }
        let mut index = self.index()?;
        let pos = match ref_name {
            Some(name) => index
                .manifests
                .iter()
                .position(|d| d.ref_name() == Some(name)),
            None => index.manifests.iter().position(|d| *d == desc),
        };
        match pos {
            Some(i) => index.manifests[i] = desc,
            None => index.manifests.push(desc),
        }
        let p = self.dir.join("index.json");
        mk_durable::write_atomic_mode(&p, &to_json(&index), 0o644)
            .map_err(io_err("cannot write", &p))?;
        debug!(layout = %self.dir.display(), digest = %manifest.digest, ?ref_name, "index.json updated");
        Ok(())
    }
}

/// A blob being written; [`commit`](BlobWriter::commit) names it by digest.
pub struct BlobWriter {
    inner: HashingWriter<BufWriter<NamedTempFile>>,
    dir: PathBuf,
    source: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.inner.len()
    }

    /// Flushes, fsyncs and renames the blob to `blobs/sha256/<digest>`.
    pub fn commit(self, media_type: &str) -> Result<Descriptor> {
        let (digest, size, buf) = self.inner.into_parts();
        let tmp = buf
            .into_inner()
            .map_err(|e| io_err("cannot write blob in", &self.dir)(e.into_error()))?;
        let target = self.dir.join(digest.hex());
        if target.is_file() {
            // Content-addressed: the same bytes are already there.
            return Ok(Descriptor::new(media_type, digest, size));
        }
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io_err("cannot write blob in", &self.dir))?;
        tmp.as_file()
            .sync_all()
            .map_err(io_err("cannot write blob in", &self.dir))?;
        tmp.persist(&target)
            .map_err(|e| io_err("cannot write blob", &target)(e.error))?;
        mk_durable::sync_dir(&self.dir).map_err(io_err("cannot sync", &self.dir))?;
        debug!(layout = %self.source.display(), %digest, size, "blob stored");
        Ok(Descriptor::new(media_type, digest, size))
    }
}

/// Ref names as the image-spec allows them (a tag or a full reference).
fn check_ref_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:@/+=".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadConfig {
            field: "ref name",
            reason: format!("{name:?}: expected letters, digits and -._:@/+= only"),
        })
    }
}

/// The linux/amd64 manifest of an image index (or its only manifest
/// when none names a platform).
pub fn pick_platform(index: &Index) -> Option<Descriptor> {
    let manifests: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.media_type == MEDIA_TYPE_MANIFEST || d.media_type == MEDIA_TYPE_DOCKER_MANIFEST
        })
        .collect();
    if let Some(d) = manifests.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
    }) {
        return Some((*d).clone());
    }
    match manifests.as_slice() {
        [only] if only.platform.is_none() => Some((*only).clone()),
        _ => None,
    }
}

fn check_layout_dir(dir: &Path, source: &Path) -> Result<()> {
    let bad = |reason: String| Error::BadLayout {
        path: source.to_path_buf(),
        reason,
    };
    let marker = dir.join("oci-layout");
    let data = fs::read(&marker).map_err(|e| bad(format!("cannot read oci-layout: {e}")))?;
    #[derive(serde::Deserialize)]
    struct Marker {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let m: Marker = serde_json::from_slice(&data)
        .map_err(|e| bad(format!("oci-layout is not valid JSON: {e}")))?;
    if !m.version.starts_with("1.") {
        return Err(bad(format!(
            "imageLayoutVersion {:?}, expected 1.x",
            m.version
        )));
    }
    if !dir.join("index.json").is_file() {
        return Err(bad("no index.json".into()));
    }
    Ok(())
}

/// Extracts an OCI archive: only `oci-layout`, `index.json` and
/// `blobs/<alg>/<hex>` regular files (and directories) are taken; other
/// members, whatever their type, are ignored; links or devices at those
/// paths, and any path with `..`, refuse the archive. Returns whether a top-level `manifest.json` (the docker-archive
/// format's index) was among the members.
fn extract_archive(archive: &Path, dest: &Path) -> Result<bool> {
    let bad = |reason: String| Error::BadLayout {
        path: archive.to_path_buf(),
        reason,
    };
    let f = File::open(archive).map_err(io_err("cannot open OCI archive", archive))?;
    let mut ar = tar::Archive::new(io::BufReader::with_capacity(1 << 20, f));
    let entries = ar
        .entries()
        .map_err(|e| bad(format!("not a tar archive: {e}")))?;
    let mut count = 0usize;
    let mut docker_manifest = false;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("bad tar entry: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| bad(format!("bad member name: {e}")))?
            .into_owned();
        let mut parts = Vec::new();
        for c in raw.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::CurDir | Component::RootDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(bad(format!(
                        "member {:?} has a '..' component",
                        raw.display().to_string()
                    )))
                }
            }
        }
        let et = entry.header().entry_type();
        if et.is_dir() {
            continue;
        }
        let rel: PathBuf = match parts
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["oci-layout"] | ["index.json"] => PathBuf::from(&parts[0]),
            ["blobs", alg, hex]
                if alg.chars().all(|c| c.is_ascii_alphanumeric())
                    && hex.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                PathBuf::from("blobs").join(alg).join(hex)
            }
            _ => {
                docker_manifest |= parts == ["manifest.json"];
                // Whatever its type: docker-archive's `<id>/layer.tar`
                // are symlinks, and nothing outside the layout is written.
                debug!(member = %raw.display(), "ignoring archive member outside the OCI layout");
                continue;
            }
        };
        if !et.is_file() {
            return Err(bad(format!(
                "member {:?} is a {:?}, only regular files and directories are allowed",
                raw.display().to_string(),
                et
            )));
        }
        let target = dest.join(&rel);
        if let Some(p) = target.parent() {
            fs::create_dir_all(p).map_err(io_err("cannot create", p))?;
        }
        let mut out = File::create(&target).map_err(io_err("cannot write", &target))?;
        io::copy(&mut entry, &mut out).map_err(|e| {
            bad(format!(
                "member {:?}: {e} (truncated archive?)",
                raw.display().to_string()
            ))
        })?;
        count += 1;
    }
    // A truncated archive can end cleanly at a member boundary; the blobs'
    // digests catch the rest when they are read.
    let _ = ar.into_inner().read(&mut [0u8; 1]);
    debug!(archive = %archive.display(), files = count, "archive extracted");
    Ok(docker_manifest)
}
