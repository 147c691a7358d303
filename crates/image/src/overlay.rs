//! Overlays: directories of files for the image, packaged as RPMs (R18: no
//! file on a node outside an RPM) and installed with everything else.
//!
//! An overlay directory holds `root/` (the files, laid out as on the node)
//! and an optional `overlay.yaml`:
//!
//! ```yaml
//! package: mk-node-overlay     # default: mk-overlay-<directory name>
//! version: "1"                 # default "1"; the release is derived from the content
//! summary: Node settings
//! requires: [systemd]          # capabilities the files need
//! files:                       # per path (optional): mode, owner, group, SELinux context
//!   /etc/kubernetes: {mode: "0750", selinux: "system_u:object_r:etc_t:s0"}
//!   /etc/mk/site.conf: {config: true}
//! ```
//!
//! Files and symlinks under `root/` are packaged with their on-disk
//! permission bits (or the manifest's), owned by root unless the manifest
//! says otherwise. Directories are packaged only when the manifest lists
//! them (otherwise they are the existing system directories, owned by
//! their packages, or created by rpm as parents). The package's release is
//! the first 12 hex digits of the SHA-256 of the overlay's content, so a
//! changed overlay is a new package version.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("overlay {}: {message}", dir.display())]
    Invalid { dir: PathBuf, message: String },
    #[error("overlay {}: {}", dir.display(), path.display())]
    Io {
        dir: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("overlay {}", dir.display())]
    Pack {
        dir: PathBuf,
        #[source]
        source: mk_rpmpack::PackError,
    },
}

/// `overlay.yaml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub files: BTreeMap<String, FileAttrs>,
    /// Directories the package owns, created when absent under root/ (git
    /// keeps no empty directories).
    #[serde(default)]
    pub directories: BTreeMap<String, FileAttrs>,
}

/// Attributes of one overlay path.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileAttrs {
    /// Octal permission bits, e.g. "0640".
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    /// SELinux context overriding the policy's file_contexts.
    #[serde(default)]
    pub selinux: Option<String>,
    /// `%config(noreplace)`.
    #[serde(default)]
    pub config: bool,
}

/// An overlay, read and checked.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Package name.
    pub name: String,
    /// SHA-256 of the content (paths, kinds, modes, bytes, manifest).
    pub digest: String,
    /// Regular files, symlinks and listed directories below root/, as
    /// (installed path, kind).
    entries: Vec<(String, EntryKind)>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum EntryKind {
    File { mode: u32 },
    Symlink { target: String },
    Dir { mode: u32 },
}

fn parse_mode(s: &str) -> Option<u16> {
    u16::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
}

impl Overlay {
    /// Reads `dir` (its `overlay.yaml` and `root/`).
    pub fn read(dir: &Path) -> Result<Overlay, OverlayError> {
        let invalid = |message: String| OverlayError::Invalid {
            dir: dir.to_path_buf(),
            message,
        };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OverlayError::Io {
                dir: dir.to_path_buf(),
                path,
                source,
            }
        };
        let mf_path = dir.join("overlay.yaml");
        let (manifest, mf_text) = match std::fs::read_to_string(&mf_path) {
            Ok(t) => (
                serde_norway::from_str::<Manifest>(&t)
                    .map_err(|e| invalid(format!("overlay.yaml: {e}")))?,
                t,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (Manifest::default(), String::new())
            }
            Err(e) => return Err(io(&mf_path)(e)),
        };
        let root = dir.join("root");
        if !root.is_dir() {
            return Err(invalid(
                "has no root/ directory (the files, laid out as on the node)".into(),
            ));
        }
        let default_name = format!(
            "mk-overlay-{}",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let name = manifest.package.clone().unwrap_or(default_name);
        for (path, attrs) in manifest.files.iter().chain(&manifest.directories) {
            if !path.starts_with('/') || path.contains("/../") || path.ends_with("/..") {
                return Err(invalid(format!(
                    "overlay.yaml: files: `{path}` must be an absolute path without `..`"
                )));
            }
            if let Some(m) = &attrs.mode {
                if parse_mode(m).is_none() {
                    return Err(invalid(format!(
                        "overlay.yaml: files: {path}: mode `{m}` is not octal permission bits (e.g. \"0640\")"
                    )));
                }
            }
            if let Some(c) = &attrs.selinux {
                if c.split(':').count() < 4 || c.contains(char::is_whitespace) {
                    return Err(invalid(format!(
                        "overlay.yaml: files: {path}: selinux `{c}` is not a context (user:role:type:level)"
                    )));
                }
            }
        }
        // Walk root/ in sorted order.
        let mut entries = Vec::new();
        let mut stack = vec![(root.clone(), String::new())];
        while let Some((d, rel)) = stack.pop() {
            let mut names: Vec<_> = std::fs::read_dir(&d)
                .map_err(io(&d))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(io(&d))?;
            names.sort();
            for p in names.into_iter().rev() {
                let fname = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| invalid(format!("{}: name is not UTF-8", p.display())))?
                    .to_string();
                let inst = format!("{rel}/{fname}");
                let meta = std::fs::symlink_metadata(&p).map_err(io(&p))?;
                let ft = meta.file_type();
                let mode = meta.permissions().mode() & 0o7777;
                if ft.is_symlink() {
                    let target = std::fs::read_link(&p).map_err(io(&p))?;
                    let target = target
                        .to_str()
                        .ok_or_else(|| invalid(format!("{inst}: link target is not UTF-8")))?
                        .to_string();
                    entries.push((inst, EntryKind::Symlink { target }));
                } else if ft.is_dir() {
                    if manifest.files.contains_key(&inst)
                        || manifest.directories.contains_key(&inst)
                    {
                        entries.push((inst.clone(), EntryKind::Dir { mode }));
                    }
                    stack.push((p, inst));
                } else if ft.is_file() {
                    entries.push((inst, EntryKind::File { mode }));
                } else {
                    return Err(invalid(format!(
                        "{inst}: only files, directories and symlinks can be packaged"
                    )));
                }
            }
        }
        for (path, attrs) in &manifest.directories {
            if !entries.iter().any(|(p, _)| p == path) {
                let mode = attrs.mode.as_deref().and_then(parse_mode).unwrap_or(0o755);
                entries.push((path.clone(), EntryKind::Dir { mode: mode as u32 }));
            }
        }
        entries.sort();
        for path in manifest.files.keys() {
            if !entries.iter().any(|(p, _)| p == path) {
                return Err(invalid(format!(
                    "overlay.yaml: files: `{path}` is not under root/"
                )));
            }
        }
        let mut h = Sha256::new();
        h.update(b"mk-overlay/v1\0");
        h.update(mf_text.as_bytes());
        for (p, k) in &entries {
            h.update(format!("\0{p}\0{k:?}\0").as_bytes());
            if let EntryKind::File { .. } = k {
                let bytes = std::fs::read(root.join(&p[1..])).map_err(io(&root.join(&p[1..])))?;
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
        }
        let digest = hex::encode(h.finalize());
        Ok(Overlay {
            dir: dir.to_path_buf(),
            manifest,
            name,
            digest,
            entries,
        })
    }

    /// SELinux context overrides: installed path -> context.
    pub fn selinux_overrides(&self) -> BTreeMap<String, String> {
        self.manifest
            .files
            .iter()
            .chain(&self.manifest.directories)
            .filter_map(|(p, a)| a.selinux.clone().map(|c| (p.clone(), c)))
            .collect()
    }

    /// Builds the RPM into `out_dir`; returns its path.
    pub fn build_rpm(&self, out_dir: &Path, build_time: u32) -> Result<PathBuf, OverlayError> {
        let pack = |source| OverlayError::Pack {
            dir: self.dir.clone(),
            source,
        };
        let version = self.manifest.version.clone().unwrap_or_else(|| "1".into());
        let release = self.digest[..12].to_string();
        let mut p = mk_rpmpack::Package::new(&self.name, &version, &release);
        p.summary(
            self.manifest
                .summary
                .as_deref()
                .unwrap_or("mk image overlay"),
        )
        .description(&format!(
            "Files of the image overlay {} (packaged by mk-compose image).",
            self.dir.file_name().unwrap_or_default().to_string_lossy()
        ))
        .license("Apache-2.0")
        .build_time(build_time);
        for r in &self.manifest.requires {
            p.requires(mk_rpmpack::Dep::any(r));
        }
        let root = self.dir.join("root");
        for (path, kind) in &self.entries {
            let attrs = self
                .manifest
                .files
                .get(path)
                .or_else(|| self.manifest.directories.get(path))
                .cloned()
                .unwrap_or_default();
            let mode = |disk: u32| {
                attrs
                    .mode
                    .as_deref()
                    .and_then(parse_mode)
                    .unwrap_or(disk as u16)
            };
            let mut spec = match kind {
                EntryKind::File { mode: m } => {
                    mk_rpmpack::FileSpec::from_disk(path, root.join(&path[1..])).mode(mode(*m))
                }
                EntryKind::Symlink { target } => mk_rpmpack::FileSpec::symlink(path, target),
                EntryKind::Dir { mode: m } => mk_rpmpack::FileSpec::dir(path).mode(mode(*m)),
            };
            spec = spec.owner(
                attrs.owner.as_deref().unwrap_or("root"),
                attrs.group.as_deref().unwrap_or("root"),
            );
            if attrs.config {
                spec = spec.config().noreplace();
            }
            p.add(spec);
        }
        p.build_to_dir(out_dir).map_err(pack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_errors_name_the_problem() {
        let d = tempfile::tempdir().unwrap();
        let o = d.path().join("node");
        std::fs::create_dir_all(o.join("root/etc/mk")).unwrap();
        std::fs::write(o.join("root/etc/mk/a.conf"), "x\n").unwrap();
        let ov = Overlay::read(&o).unwrap();
        assert_eq!(ov.name, "mk-overlay-node");
        // Directories not in the manifest are not packaged.
        assert_eq!(ov.entries.len(), 1);

        std::fs::write(o.join("overlay.yaml"), "files:\n  /etc/mk: {mode: \"9\"}\n").unwrap();
        let e = Overlay::read(&o).unwrap_err().to_string();
        assert!(e.contains("mode `9` is not octal"), "{e}");
        std::fs::write(o.join("overlay.yaml"), "files:\n  /etc/nope: {}\n").unwrap();
        let e = Overlay::read(&o).unwrap_err().to_string();
        assert!(e.contains("`/etc/nope` is not under root/"), "{e}");
        std::fs::write(o.join("overlay.yaml"), "bogus: 1\n").unwrap();
        let e = Overlay::read(&o).unwrap_err().to_string();
        assert!(e.contains("unknown field `bogus`"), "{e}");
        std::fs::write(
            o.join("overlay.yaml"),
            "package: mk-x\nfiles:\n  /etc/mk: {mode: \"0750\", selinux: \"system_u:object_r:etc_t:s0\"}\n",
        )
        .unwrap();
        let ov = Overlay::read(&o).unwrap();
        assert_eq!(ov.entries.len(), 2);
        assert_eq!(
            ov.selinux_overrides().get("/etc/mk").map(String::as_str),
            Some("system_u:object_r:etc_t:s0")
        );
        // The digest follows the content.
        let before = ov.digest.clone();
        std::fs::write(o.join("root/etc/mk/a.conf"), "y\n").unwrap();
        assert_ne!(Overlay::read(&o).unwrap().digest, before);
    }
}
