//! The config drive: a node's (or a rack's) role config, checked,
//! optionally filled with the certificates of `mk-compose pki issue-node`,
//! signed with the admin key (minisign), on a small FAT or ISO 9660 image
//! labelled [`LABEL`] that mk-firstboot finds at boot (docs/config-drive.md).
//!
//! The steps, each its own value: a [`Draft`] (the config as read, with
//! certificates added), a checked [`Config`] (the bytes to sign), a signed
//! [`Drive`] (the files at the drive's root), written reproducibly by
//! [`Drive::write`]. The names the node reads are in
//! [`mk_roleconfig::drive`], shared with mk-firstboot.
//!
//! Reading a drive, as the node does at boot, is [`read`]; mk-firstboot
//! uses it without the `sign` feature, so the node links no signing code
//! (no scrypt, no getrandom).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use mk_bundle::iso::IsoWriteError;
#[cfg(feature = "sign")]
use mk_minisign::SecretKey;
use mk_roleconfig::time::OffsetDateTime;
use mk_roleconfig::{ConfigError, Document, NodeConfig, ParseError};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub mod read;
mod write;

pub use mk_roleconfig::drive::{CONFIG_NAME, LABEL, SIGNATURE_NAME};

/// Dates on the drive when SOURCE_DATE_EPOCH is unset: the earliest a FAT
/// directory entry holds (1980-01-01), so that the image depends only on
/// its inputs.
pub const DEFAULT_EPOCH: u64 = 315_532_800;

/// The first line of a config rewritten with certificates.
const FILLED_HEADER: &str =
    "# Written by mk-compose config-drive: certificates from mk-compose pki issue-node.\n";

#[derive(Debug, Error)]
pub enum Error {
    /// Reading a file or directory, or making one, failed.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("--pki-dir {spec}: {file} has no config named {node}")]
    NoSuchNode {
        spec: String,
        file: String,
        node: String,
    },
    #[error("--pki-dir {spec}: {file} is a NodeConfigList; say which node: --pki-dir NAME=DIR")]
    WhichNode { spec: String, file: String },
    #[error("--pki-dir {spec}: {file} is the config of {is}, not {node}")]
    OtherNode {
        spec: String,
        file: String,
        is: String,
        node: String,
    },
    #[error(
        "--pki-dir {spec}: no files under {} (expected the tree of `mk-compose pki issue-node`)",
        .dir.display()
    )]
    EmptyPkiDir { spec: String, dir: PathBuf },
    #[error("--pki-dir {spec}: {rel}: not under etc/kubernetes/pki or var/lib/kubelet/pki")]
    NotACertificate { spec: String, rel: String },
    #[error("serialising the role config")]
    Serialise(#[source] serde_norway::Error),
    /// The config breaks the role-config rules; `problems` says how (the
    /// caller shows them, one a line, before this summary).
    #[error("{file}: {n} problem(s); no drive written", n = .problems.len())]
    Invalid {
        file: String,
        problems: Vec<ConfigError>,
    },
    #[error("running xorriso (install it): {0}")]
    NoXorriso(io::Error),
    #[error(transparent)]
    Iso(IsoWriteError),
    #[error("{what}: running {program:?} (install mtools)")]
    ToolMissing {
        what: String,
        program: OsString,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {program:?} failed ({status}): {stderr}")]
    ToolFailed {
        what: String,
        program: OsString,
        status: ExitStatus,
        stderr: String,
    },
}

fn io_error(what: String) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { what, source }
}

/// The file system of a drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// FAT (mtools), for USB sticks and virtual disks.
    Fat,
    /// ISO 9660 (xorriso), for virtual CD-ROMs.
    Iso,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Fat => "FAT",
            Format::Iso => "ISO 9660",
        }
    }
}

/// A `--pki-dir [NAME=]DIR`: the tree `mk-compose pki issue-node` wrote
/// for one node, and which config of the file it is for (`None`: the
/// file's single NodeConfig).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiDir {
    /// As given, for messages.
    pub spec: String,
    pub node: Option<String>,
    pub dir: PathBuf,
}

impl PkiDir {
    pub fn parse(spec: &str) -> PkiDir {
        let (node, dir) = match spec.split_once('=') {
            Some((n, d)) => (Some(n.to_string()), PathBuf::from(d)),
            None => (None, PathBuf::from(spec)),
        };
        PkiDir {
            spec: spec.to_string(),
            node,
            dir,
        }
    }
}

/// Node-root-relative path of an issue-node file -> its key in
/// spec.certificates.
pub fn certificate_key(rel: &str) -> Option<String> {
    if let Some(k) = rel.strip_prefix("etc/kubernetes/pki/") {
        Some(k.to_string())
    } else {
        rel.strip_prefix("var/lib/kubelet/pki/")
            .map(|k| format!("kubelet/{k}"))
    }
}

/// The files under `dir` (recursively) as text, by path relative to `dir`.
pub fn read_tree(dir: &Path) -> Result<BTreeMap<String, String>, Error> {
    let mut files = BTreeMap::new();
    collect(dir, Path::new(""), &mut files)?;
    Ok(files)
}

fn collect(dir: &Path, rel: &Path, out: &mut BTreeMap<String, String>) -> Result<(), Error> {
    let reading = || format!("reading {}", dir.display());
    for e in std::fs::read_dir(dir).map_err(io_error(reading()))? {
        let e = e.map_err(io_error(reading()))?;
        let p = e.path();
        let r = rel.join(e.file_name());
        if e.file_type().map_err(io_error(reading()))?.is_dir() {
            collect(&p, &r, out)?;
        } else {
            let text = std::fs::read_to_string(&p).map_err(io_error(format!(
                "reading {} (PEM text expected)",
                p.display()
            )))?;
            out.insert(r.to_string_lossy().into_owned(), text);
        }
    }
    Ok(())
}

/// A role config as read, before it is checked; certificates may be
/// added to it.
#[derive(Debug)]
pub struct Draft {
    /// The file's name, for messages.
    file: String,
    original: Vec<u8>,
    doc: Document,
    filled: bool,
}

impl Draft {
    /// Reads and parses the config file at `path`.
    pub fn read(path: &Path) -> Result<Draft, Error> {
        let file = path.display().to_string();
        // Size first: a 200 MB file is refused unread.
        let original =
            mk_roleconfig::parse::read_limited(path, mk_roleconfig::parse::MAX_CONFIG_BYTES)
                .map_err(io_error(format!("reading {file}")))?;
        Draft::parse(original, &file)
    }

    /// Parses `original`, the contents of `file`.
    pub fn parse(original: Vec<u8>, file: &str) -> Result<Draft, Error> {
        let doc = mk_roleconfig::parse_document(&original, file)?;
        Ok(Draft {
            file: file.to_string(),
            original,
            doc,
            filled: false,
        })
    }

    /// Adds the certificates of `pki`'s tree (read from disk) to the config
    /// it names.
    pub fn add_pki_dir(&mut self, pki: &PkiDir) -> Result<(), Error> {
        // Which config first: a wrong name is reported before the tree is read.
        self.target(pki)?;
        let files = read_tree(&pki.dir)?;
        self.add_certificates(pki, files)
    }

    /// Adds `files` (issue-node's tree under `pki.dir`, by relative path) to
    /// the config `pki` names, as spec.certificates.
    pub fn add_certificates(
        &mut self,
        pki: &PkiDir,
        files: BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let target = self.target(pki)?;
        if files.is_empty() {
            return Err(Error::EmptyPkiDir {
                spec: pki.spec.clone(),
                dir: pki.dir.clone(),
            });
        }
        for (rel, text) in files {
            if Path::new("/").join(&rel) == Path::new(mk_pki::plan::MANIFEST_PATH) {
                // issue-node's renewal manifest is no certificate: the role
                // config has no field for it, so it is not carried (yet).
                tracing::warn!(file = %pki.dir.join(&rel).display(), "not carried on the config drive: the renewal manifest has no place in spec.certificates");
                continue;
            }
            let key = certificate_key(&rel).ok_or_else(|| Error::NotACertificate {
                spec: pki.spec.clone(),
                rel: rel.clone(),
            })?;
            target.spec.certificates.insert(key, text);
        }
        self.filled = true;
        Ok(())
    }

    fn target(&mut self, pki: &PkiDir) -> Result<&mut NodeConfig, Error> {
        let spec = || pki.spec.clone();
        let file = self.file.clone();
        match (&mut self.doc, pki.node.as_deref()) {
            (Document::Single(c), Some(n)) if c.metadata.name != n => Err(Error::OtherNode {
                spec: spec(),
                file,
                is: c.metadata.name.clone(),
                node: n.to_string(),
            }),
            (Document::Single(c), _) => Ok(c),
            (Document::List(l), Some(n)) => l
                .items
                .iter_mut()
                .find(|c| c.metadata.name == n)
                .ok_or_else(|| Error::NoSuchNode {
                    spec: spec(),
                    file,
                    node: n.to_string(),
                }),
            (Document::List(_), None) => Err(Error::WhichNode { spec: spec(), file }),
        }
    }

    /// The bytes to sign (the file as written, comments kept, unless
    /// certificates were added), validated at `now`.
    pub fn check(self, now: OffsetDateTime) -> Result<Config, Error> {
        let bytes = if self.filled {
            let mut text = String::from(FILLED_HEADER);
            text.push_str(&serde_norway::to_string(&self.doc).map_err(Error::Serialise)?);
            text.into_bytes()
        } else {
            self.original
        };
        if let Err(problems) = mk_roleconfig::validate_document(&self.doc, now) {
            return Err(Error::Invalid {
                file: self.file,
                problems,
            });
        }
        Ok(Config {
            digest: hex::encode(Sha256::digest(&bytes)),
            nodes: self
                .doc
                .configs()
                .iter()
                .map(|c| c.metadata.name.clone())
                .collect(),
            bytes,
        })
    }
}

/// A checked role config, ready to sign.
#[derive(Debug, Clone)]
pub struct Config {
    bytes: Vec<u8>,
    digest: String,
    nodes: Vec<String>,
}

impl Config {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of [`Config::bytes`], hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The names of the configs in the file, in order.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The trusted comment of the signature without its time: the digest
    /// and the nodes.
    pub fn trusted_comment(&self) -> String {
        format!(
            "mk role config sha256:{} for {}",
            self.digest,
            self.nodes.join(",")
        )
    }

    /// The trusted comment signed at `signed`: [`Config::trusted_comment`]
    /// then ` signed=2026-12-07T06:40:00Z` (UTC, whole seconds), one more
    /// space-separated word, which first boot reads to refuse a node whose
    /// clock is before the signing time (docs/firstboot.md).
    pub fn trusted_comment_at(&self, signed: OffsetDateTime) -> String {
        let signed = signed
            .to_offset(mk_roleconfig::time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or(signed);
        let text = signed
            .format(&mk_roleconfig::time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| signed.unix_timestamp().to_string());
        format!("{} signed={text}", self.trusted_comment())
    }

    /// Signs the config with the admin's key, now.
    #[cfg(feature = "sign")]
    pub fn sign(self, key: &SecretKey) -> Drive {
        self.sign_at(key, OffsetDateTime::now_utc())
    }

    /// Signs the config with the admin's key, stating `signed` as the
    /// signing time (SOURCE_DATE_EPOCH for a reproducible drive).
    #[cfg(feature = "sign")]
    pub fn sign_at(self, key: &SecretKey, signed: OffsetDateTime) -> Drive {
        let sig = key.sign(
            &self.bytes,
            &self.trusted_comment_at(signed),
            "signature from mk-compose config-drive",
        );
        Drive {
            signature: sig.to_file_text(),
            config: self,
        }
    }
}

/// A signed config: what goes on the drive.
#[derive(Debug, Clone)]
pub struct Drive {
    config: Config,
    signature: String,
}

impl Drive {
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The files at the drive's root, by name.
    pub fn files(&self) -> [(&'static str, &[u8]); 2] {
        [
            (CONFIG_NAME, &self.config.bytes),
            (SIGNATURE_NAME, self.signature.as_bytes()),
        ]
    }

    /// Writes the drive to `out` (replaced atomically), its dates
    /// `epoch` (seconds since 1970): the same drive gives the same bytes.
    pub fn write(&self, format: Format, out: &Path, epoch: u64) -> Result<(), Error> {
        write::write(self, format, out, epoch)
    }
}

#[cfg(test)]
mod tests;
