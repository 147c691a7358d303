//! The baked image archives, read in place: a tar's member table (header
//! seeks only), then `index.json` -> manifest -> config, and for the
//! images whose probes need it the paths their layers leave (tar headers
//! through mk-oci's layer decoders). Nothing is extracted: an archive of
//! hundreds of megabytes costs a header scan unless its layers are needed.
//!
//! OCI archives (what `mk-compose image-build --archive` and skopeo
//! write) name images as `ctr images import` does: the
//! `io.containerd.image.name` annotation, else a full reference in
//! `org.opencontainers.image.ref.name`. Docker archives (`docker save`)
//! by their `RepoTags`. Every blob read is checked against its digest.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use mk_oci::spec::{
    ctr_keeps_name, ANNOTATION_CONTAINERD_NAME, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_INDEX,
    MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_LAYER_ZSTD,
};
use mk_oci::{ConfigFile, Descriptor, Digest, Index, Manifest};
use serde::de::DeserializeOwned;

use crate::inventory::{ImageFacts, ReadError};
use crate::pods::Kind;
use crate::tree::{self, Entry, FileTree, Member};

/// Archives read from one directory, at most.
const MAX_ARCHIVES: usize = 1000;
/// Members of one archive, at most.
const MAX_MEMBERS: usize = 100_000;
/// Largest JSON document (index, manifest, config).
const MAX_JSON: u64 = 4 << 20;
/// Layer entries of one image, at most.
const MAX_LAYER_ENTRIES: usize = 1_000_000;
/// Nested image indexes followed, at most.
const MAX_INDEX_DEPTH: usize = 2;

/// Every image of the `*.tar` archives in `dir` (`None`: no such
/// directory). Layer paths are read for images one of whose references
/// (normalized) is in `want_files`.
pub fn read_dir(
    dir: &Path,
    want_files: &BTreeSet<String>,
) -> Result<Option<Vec<ImageFacts>>, ReadError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::io("cannot list", dir)(e)),
    };
    let mut paths = Vec::new();
    for e in entries {
        let e = e.map_err(ReadError::io("cannot list", dir))?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "tar") && p.is_file() {
            paths.push(p);
        }
        if paths.len() > MAX_ARCHIVES {
            return Err(ReadError::bad(
                dir,
                format!("more than {MAX_ARCHIVES} archives"),
            ));
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for p in &paths {
        out.extend(read_archive(p, want_files)?);
    }
    Ok(Some(out))
}

/// The images of one archive.
pub fn read_archive(
    path: &Path,
    want_files: &BTreeSet<String>,
) -> Result<Vec<ImageFacts>, ReadError> {
    let members = Members::scan(path)?;
    let archive = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut images = if members.has("index.json") {
        members.oci(&archive)?
    } else if members.has("manifest.json") {
        members.docker(&archive)?
    } else {
        return Err(ReadError::bad(
            path,
            "not an OCI or Docker image archive: no index.json or manifest.json",
        ));
    };
    for (facts, layers) in &mut images {
        if facts.keys().iter().any(|k| want_files.contains(k)) {
            facts.files = Some(members.layer_tree(layers)?);
        }
    }
    tracing::debug!(archive = %path.display(), images = images.len(), "image archive read");
    Ok(images.into_iter().map(|(f, _)| f).collect())
}

/// A layer to read: how it is compressed, the member holding it, and the
/// digest of that member when the archive records one.
struct Layer {
    descriptor: Descriptor,
    member: String,
    verify: bool,
}

/// Where each member's bytes are in the archive.
struct Members {
    path: PathBuf,
    /// Regular files: offset of the data and size.
    files: HashMap<String, (u64, u64)>,
    /// Symlinks and hardlinks: the member they point to.
    links: HashMap<String, String>,
}

fn member_name(raw: &str) -> String {
    tree::normalize(raw).trim_start_matches('/').to_string()
}

impl Members {
    fn scan(path: &Path) -> Result<Members, ReadError> {
        let bad = |r: String| ReadError::bad(path, r);
        let f = File::open(path).map_err(ReadError::io("cannot open", path))?;
        let mut ar = tar::Archive::new(f);
        let entries = ar
            .entries_with_seek()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        let mut m = Members {
            path: path.to_path_buf(),
            files: HashMap::new(),
            links: HashMap::new(),
        };
        for (n, e) in entries.enumerate() {
            if n >= MAX_MEMBERS {
                return Err(bad(format!("more than {MAX_MEMBERS} members")));
            }
            let e = e.map_err(|e| bad(format!("truncated or unreadable tar: {e}")))?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            if raw.split('/').any(|c| c == "..") {
                return Err(bad(format!("member {raw:?} has a '..' component")));
            }
            let name = member_name(&raw);
            let link = || -> Result<String, ReadError> {
                Ok(e.link_name()
                    .map_err(|err| bad(format!("member {raw:?}: {err}")))?
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default())
            };
            match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    m.files.insert(name, (e.raw_file_position(), e.size()));
                }
                tar::EntryType::Symlink => {
                    let target = link()?;
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    let resolved = member_name(&format!("{dir}/{target}"));
                    m.links.insert(name, resolved);
                }
                tar::EntryType::Link => {
                    m.links.insert(name, member_name(&link()?));
                }
                _ => {}
            }
        }
        Ok(m)
    }

    fn has(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// The member's bytes as a reader, links followed.
    fn open(&self, name: &str) -> Result<std::io::Take<File>, ReadError> {
        let mut name = name.to_string();
        for _ in 0..8 {
            match self.links.get(&name) {
                Some(t) => name = t.clone(),
                None => break,
            }
        }
        let Some(&(offset, size)) = self.files.get(&name) else {
            return Err(ReadError::bad(&self.path, format!("no member {name}")));
        };
        let mut f = File::open(&self.path).map_err(ReadError::io("cannot open", &self.path))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(ReadError::io("cannot read", &self.path))?;
        Ok(f.take(size))
    }

    fn bytes(&self, name: &str) -> Result<Vec<u8>, ReadError> {
        let mut buf = Vec::new();
        self.open(name)?
            .take(MAX_JSON + 1)
            .read_to_end(&mut buf)
            .map_err(ReadError::io("cannot read", &self.path))?;
        if buf.len() as u64 > MAX_JSON {
            return Err(ReadError::bad(
                &self.path,
                format!("{name}: larger than {MAX_JSON} bytes"),
            ));
        }
        Ok(buf)
    }

    fn json<T: DeserializeOwned>(&self, name: &str, bytes: &[u8]) -> Result<T, ReadError> {
        serde_json::from_slice(bytes)
            .map_err(|e| ReadError::bad(&self.path, format!("{name}: invalid JSON: {e}")))
    }

    /// A blob of an OCI layout, checked against its descriptor.
    fn blob(&self, d: &Descriptor) -> Result<Vec<u8>, ReadError> {
        let name = format!("blobs/{}/{}", d.digest.algorithm(), d.digest.hex());
        let data = self.bytes(&name)?;
        if data.len() as u64 != d.size || Digest::of(&data) != d.digest {
            return Err(ReadError::bad(
                &self.path,
                format!(
                    "blob {} does not match its descriptor (size or digest)",
                    d.digest
                ),
            ));
        }
        Ok(data)
    }

    fn oci(&self, archive: &str) -> Result<Vec<(ImageFacts, Vec<Layer>)>, ReadError> {
        let index: Index = self.json("index.json", &self.bytes("index.json")?)?;
        let mut out = Vec::new();
        for d in &index.manifests {
            let ann = |k: &str| d.annotations.get(k).map(String::as_str);
            let name = ann(ANNOTATION_CONTAINERD_NAME)
                .or_else(|| d.ref_name().filter(|r| ctr_keeps_name(r)));
            let Some(name) = name else {
                // `ctr images import` would call it import-<date>:TAG,
                // which no pod names; mk-image refuses such archives.
                tracing::warn!(archive, digest = %d.digest, "image without a full name: ignored");
                continue;
            };
            let manifest = self.manifest(d, 0)?;
            let config: ConfigFile = self.json(
                &format!("config {}", manifest.config.digest),
                &self.blob(&manifest.config)?,
            )?;
            let layers = manifest
                .layers
                .iter()
                .map(|l| Layer {
                    descriptor: l.clone(),
                    member: format!("blobs/{}/{}", l.digest.algorithm(), l.digest.hex()),
                    verify: true,
                })
                .collect();
            out.push((
                facts(
                    archive,
                    vec![name.to_string()],
                    Some(d.digest.to_string()),
                    &config,
                ),
                layers,
            ));
        }
        Ok(out)
    }

    /// The manifest `d` points to, through image indexes (linux/amd64).
    fn manifest(&self, d: &Descriptor, depth: usize) -> Result<Manifest, ReadError> {
        let data = self.blob(d)?;
        let probe: serde_json::Value = self.json(&format!("manifest {}", d.digest), &data)?;
        let is_index = d.media_type == MEDIA_TYPE_INDEX
            || d.media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
            || probe.get("manifests").is_some();
        if !is_index {
            return self.json(&format!("manifest {}", d.digest), &data);
        }
        let index: Index = self.json(&format!("image index {}", d.digest), &data)?;
        let pick = mk_oci::layout::pick_platform(&index).ok_or_else(|| {
            ReadError::bad(
                &self.path,
                format!("image index {}: no linux/amd64 manifest", d.digest),
            )
        })?;
        if depth >= MAX_INDEX_DEPTH {
            return Err(ReadError::bad(&self.path, "image indexes nested too deep"));
        }
        self.manifest(&pick, depth + 1)
    }

    fn docker(&self, archive: &str) -> Result<Vec<(ImageFacts, Vec<Layer>)>, ReadError> {
        #[derive(serde::Deserialize)]
        struct Item {
            #[serde(rename = "Config")]
            config: String,
            #[serde(rename = "RepoTags", default)]
            repo_tags: Option<Vec<String>>,
            #[serde(rename = "Layers", default)]
            layers: Vec<String>,
        }
        let items: Vec<Item> = self.json("manifest.json", &self.bytes("manifest.json")?)?;
        let mut out = Vec::new();
        for item in items {
            let names = item.repo_tags.unwrap_or_default();
            if names.is_empty() {
                continue;
            }
            let config: ConfigFile =
                self.json(&item.config, &self.bytes(&member_name(&item.config))?)?;
            let mut layers = Vec::new();
            for (i, member) in item.layers.iter().enumerate() {
                // Docker archives say nothing of compression: the stream's
                // magic does. The diff_id names the layer in messages.
                let member = member_name(member);
                let mut magic = [0u8; 4];
                let n = self.open(&member)?.read(&mut magic).unwrap_or(0);
                let mt = match &magic[..n.min(4)] {
                    [0x1f, 0x8b, ..] => MEDIA_TYPE_LAYER_GZIP,
                    [0x28, 0xb5, 0x2f, 0xfd] => MEDIA_TYPE_LAYER_ZSTD,
                    _ => MEDIA_TYPE_LAYER_TAR,
                };
                let id = config
                    .rootfs
                    .diff_ids
                    .get(i)
                    .copied()
                    .unwrap_or_else(|| Digest::of(member.as_bytes()));
                layers.push(Layer {
                    descriptor: Descriptor::new(mt, id, 0),
                    member,
                    verify: false,
                });
            }
            out.push((facts(archive, names, None, &config), layers));
        }
        Ok(out)
    }

    /// The paths the layers leave, lowest first, whiteouts applied.
    fn layer_tree(&self, layers: &[Layer]) -> Result<FileTree, ReadError> {
        let mut tree = FileTree::default();
        let mut total = 0usize;
        for layer in layers {
            let d = &layer.descriptor;
            let bad = |r: String| ReadError::bad(&self.path, format!("layer {}: {r}", d.digest));
            if layer.verify {
                let (digest, size) = Digest::of_reader(self.open(&layer.member)?)
                    .map_err(ReadError::io("cannot read", &self.path))?;
                if digest != d.digest || size != d.size {
                    return Err(bad("does not match its descriptor (size or digest)".into()));
                }
            }
            let stream = mk_oci::unpack::decoder(d, self.open(&layer.member)?)
                .map_err(|e| bad(e.to_string()))?;
            let mut ar = tar::Archive::new(stream);
            let mut members = Vec::new();
            for e in ar.entries().map_err(|e| bad(e.to_string()))? {
                let e = e.map_err(|e| bad(format!("unreadable: {e}")))?;
                total += 1;
                if total > MAX_LAYER_ENTRIES {
                    return Err(bad(format!("more than {MAX_LAYER_ENTRIES} entries")));
                }
                let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                if raw.split('/').any(|c| c == "..") {
                    return Err(bad(format!("member {raw:?} has a '..' component")));
                }
                let h = e.header();
                let mode = h.mode().unwrap_or(0) & 0o7777;
                let link = || {
                    e.link_name()
                        .ok()
                        .flatten()
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default()
                };
                let member = match h.entry_type() {
                    tar::EntryType::Directory => Member::Entry(Entry::Node(Kind::Directory)),
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        Member::Entry(Entry::Node(Kind::File { mode }))
                    }
                    tar::EntryType::Symlink => Member::Entry(Entry::Symlink(link())),
                    tar::EntryType::Link => Member::Hardlink {
                        target: link(),
                        mode,
                    },
                    tar::EntryType::Char => Member::Entry(Entry::Node(Kind::CharDevice)),
                    tar::EntryType::Block => Member::Entry(Entry::Node(Kind::BlockDevice)),
                    tar::EntryType::Fifo => Member::Entry(Entry::Node(Kind::Fifo)),
                    _ => continue,
                };
                members.push((raw, member));
            }
            tree.apply(members);
        }
        Ok(tree)
    }
}

fn facts(
    archive: &str,
    names: Vec<String>,
    digest: Option<String>,
    config: &ConfigFile,
) -> ImageFacts {
    let c = config.config.clone().unwrap_or_default();
    ImageFacts {
        archive: archive.to_string(),
        names,
        digest,
        env: c.env,
        user: c.user,
        entrypoint: c.entrypoint.unwrap_or_default(),
        working_dir: c.working_dir,
        files: None,
    }
}

/// The names of the images in the archives of `dir`, by archive (for
/// finding which Kubernetes version an image carries without reading
/// more than the index).
pub fn names_in_dir(dir: &Path) -> Result<Vec<(String, String)>, ReadError> {
    let mut out = Vec::new();
    for facts in read_dir(dir, &BTreeSet::new())?.unwrap_or_default() {
        for n in &facts.names {
            out.push((facts.archive.clone(), n.clone()));
        }
    }
    Ok(out)
}
