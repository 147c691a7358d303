//! What the node image has, as plain data the checks read: the host
//! paths the pods ask about, the kubeconfigs they name that first boot
//! does not write, and the facts of the baked image archives. [`needs`]
//! says what to look up (pure); [`read`] looks it up under a root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::pods::{self, Kind, Planned, Pod};
use crate::reference;
use crate::tree::FileTree;

/// Where mk-container-images installs the archives (crates/image's
/// `containers::IMAGES_DIR`; mk-image depends on this crate, not the
/// other way round).
pub const IMAGES_DIR: &str = "/usr/share/mk/images";

/// What the node has at one host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath {
    /// What it is once symlinks are followed; `None`: it does not exist.
    pub kind: Option<Kind>,
    /// For a missing path: whether the kubelet could create it (its
    /// location is writable on the running node: the state partition,
    /// /run, /tmp; not the read-only root).
    pub creatable: bool,
    /// Why it cannot exist, when a component is not a directory or
    /// symlinks loop.
    pub broken: Option<String>,
}

impl HostPath {
    pub fn present(kind: Kind) -> HostPath {
        HostPath {
            kind: Some(kind),
            creatable: false,
            broken: None,
        }
    }
    pub fn missing(creatable: bool) -> HostPath {
        HostPath {
            kind: None,
            creatable,
            broken: None,
        }
    }
}

/// One image of a baked archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// The archive's file name under [`IMAGES_DIR`].
    pub archive: String,
    /// The names `ctr images import` gives it.
    pub names: Vec<String>,
    /// `sha256:…` of its manifest, where the archive records one.
    pub digest: Option<String>,
    /// The config's `Env` (`NAME=value`).
    pub env: Vec<String>,
    pub user: Option<String>,
    pub entrypoint: Vec<String>,
    pub working_dir: Option<String>,
    /// The paths its layers leave; read only for images whose probes need
    /// them (`None` otherwise).
    pub files: Option<FileTree>,
}

impl ImageFacts {
    /// Every normalized reference this image answers to.
    pub fn keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.names {
            out.push(reference::normalize(n));
            if let Some(d) = self
                .digest
                .as_deref()
                .and_then(|d| reference::with_digest(n, d))
            {
                out.push(d);
            }
        }
        out
    }

    /// The value of `name` in the image's environment.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().find_map(|e| {
            let (k, v) = e.split_once('=')?;
            (k == name).then_some(v)
        })
    }
}

/// Everything the checks know about the node image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// By absolute node path; a path not listed is missing and cannot be
    /// created.
    pub host: BTreeMap<String, HostPath>,
    /// Contents of kubeconfigs the pods name that first boot does not
    /// write, as the node has them.
    pub host_files: BTreeMap<String, Vec<u8>>,
    /// The baked archives' images; `None`: the image bakes none (its
    /// images come from the registry), so references are not checked
    /// unless [`Inventory::registry`] lists some.
    pub images: Option<Vec<ImageFacts>>,
    /// [`crate::hostpath::HOST_NETWORK_FILES`] as the image has them;
    /// empty: not looked up (a running node).
    pub host_network_files: BTreeMap<String, HostPath>,
    /// Normalized references the bundle's registry serves (no facts:
    /// probes and environment are checked only for baked images).
    pub registry: BTreeSet<String>,
}

impl Inventory {
    /// The baked image `reference` names.
    pub fn image(&self, reference: &str) -> Option<&ImageFacts> {
        let want = reference::normalize(reference);
        self.images
            .iter()
            .flatten()
            .find(|i| i.keys().contains(&want))
    }

    /// What `path` is on the host: first boot's plan first (it writes
    /// before the kubelet starts), then the node.
    pub fn kind(&self, planned: &Planned, path: &str) -> Option<Kind> {
        planned
            .kind(path)
            .or_else(|| self.host.get(path).and_then(|h| h.kind))
    }
}

/// What to look up for a set of pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Host paths whose kind matters (hostPath volumes, files kubeconfigs
    /// reference).
    pub host_paths: BTreeSet<String>,
    /// Kubeconfigs flags name that the plan does not write: read them
    /// from the node.
    pub kubeconfigs: BTreeSet<String>,
    /// Normalized references of images whose file lists the probes need.
    pub image_files: BTreeSet<String>,
}

/// What [`read`] must look up for `pods`. `host_files`: kubeconfigs
/// already read from the node (their references are needed too).
pub fn needs(pods: &[Pod], planned: &Planned, host_files: &BTreeMap<String, Vec<u8>>) -> Needs {
    let mut n = Needs::default();
    for pod in pods {
        let volumes = pod.volumes();
        for v in &volumes {
            if let Some((path, _)) = &v.host_path {
                n.host_paths.insert(path.clone());
            }
        }
        for c in pod.containers() {
            let mounts = c.mounts(&volumes);
            for kc in crate::mounts::kubeconfigs(&c, &mounts) {
                let Some(host) = kc.host_path else { continue };
                let bytes = planned
                    .file(&host)
                    .or(host_files.get(&host).map(Vec::as_slice));
                let Some(bytes) = bytes else {
                    n.kubeconfigs.insert(host);
                    continue;
                };
                for r in crate::mounts::kubeconfig_references(bytes, kc.path).unwrap_or_default() {
                    if let Some(h) =
                        pods::mount_for(&mounts, &r.path).and_then(|m| m.host_path_of(&r.path))
                    {
                        n.host_paths.insert(h);
                    }
                }
            }
            if !c.exec_probes().is_empty() {
                if let Some(image) = c.image() {
                    n.image_files.insert(reference::normalize(image));
                }
            }
        }
    }
    n
}

/// How to judge whether a missing host path could be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootMode {
    /// The running node (or any directory as it is): a path can be
    /// created where its nearest existing directory is on a writable
    /// filesystem (statvfs).
    Live,
    /// A node image tree before it is written to disk: everything is on
    /// the read-only root except /var (the state partition), /run, /tmp,
    /// /dev and what the image's mount units mount writable.
    Image,
}

/// Why the node could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {what}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Bad { path: PathBuf, reason: String },
}

impl ReadError {
    pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ReadError {
        let path = path.to_path_buf();
        move |source| ReadError::Io { what, path, source }
    }
    pub(crate) fn bad(path: &Path, reason: impl Into<String>) -> ReadError {
        ReadError::Bad {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Largest kubeconfig read from the node.
const MAX_KUBECONFIG: u64 = 1 << 20;

/// Looks up under `root` what the checks need for `pods`: host paths,
/// kubeconfigs the plan does not write, and the archives under
/// `root`[`IMAGES_DIR`] (configs of all, layer paths only of images with
/// exec probes). Reads only; nothing is extracted. No pods: nothing is
/// read.
pub fn read(
    root: &Path,
    mode: RootMode,
    pods: &[Pod],
    planned: &Planned,
) -> Result<Inventory, ReadError> {
    let mut inv = Inventory::default();
    if pods.is_empty() {
        return Ok(inv);
    }
    let first = needs(pods, planned, &BTreeMap::new());
    for path in &first.kubeconfigs {
        let file = root.join(path.trim_start_matches('/'));
        if let Some(bytes) = crate::root::read_small(&file, MAX_KUBECONFIG)? {
            inv.host_files.insert(path.clone(), bytes);
        }
    }
    let needs = needs(pods, planned, &inv.host_files);
    let tree = crate::root::RootTree::new(root, mode)?;
    for path in &needs.host_paths {
        inv.host.insert(path.clone(), tree.host_path(path));
    }
    if mode == RootMode::Image {
        for path in crate::hostpath::HOST_NETWORK_FILES {
            inv.host_network_files
                .insert(path.to_string(), tree.host_path(path));
        }
    }
    let dir = root.join(IMAGES_DIR.trim_start_matches('/'));
    inv.images = crate::archive::read_dir(&dir, &needs.image_files)?;
    Ok(inv)
}
