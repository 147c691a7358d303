//! Vagrant boxes for the libvirt provider from mk node images
//! (`mk-compose vagrant-box`, docs/vagrant.md).
//!
//! A box is a gzip-compressed tar of `metadata.json`, `Vagrantfile` and
//! `box.img` (qcow2), as vagrant-libvirt documents it. [`plan`] decides its
//! content (pure), [`archive`] writes it reproducibly, [`source`] tells what
//! the input image is, [`marker`] checks it is a Vagrant build. [`build`]
//! runs them: check, convert (qemu-img), write to a temporary file beside
//! the output, fsync, rename.

pub mod archive;
pub mod marker;
pub mod plan;
pub mod source;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use source::Format;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    NotAnImage { path: PathBuf, why: String },
    #[error(
        "{path}: not a Vagrant build of the node image: {why}. Build it with a recipe that \
         lists the overlay vagrant/overlay (docs/vagrant.md); production images carry no \
         vagrant user on purpose"
    )]
    NotVagrantBuild { path: PathBuf, why: String },
    #[error("{path} exists: pass --force to replace it")]
    Exists { path: PathBuf },
    #[error("{what} on {path} failed: {detail}")]
    Tool {
        what: String,
        path: PathBuf,
        detail: String,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Options {
    /// The node image, qcow2 or raw (`mk-compose image`).
    pub image: PathBuf,
    /// The .box file to write.
    pub out: PathBuf,
    /// The box's name (its Vagrantfile's comment; `vagrant box add --name`).
    pub name: String,
    /// Replace an existing `out`.
    pub force: bool,
    /// Archive entries' mtime (SOURCE_DATE_EPOCH); 0 when unset.
    pub source_date_epoch: Option<u64>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Report {
    pub out: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub format: Format,
    pub virtual_size: u64,
}

/// Builds the box: nothing is left at `out` unless it is complete.
pub fn build(opts: &Options) -> Result<Report, Error> {
    let image = &opts.image;
    if !opts.force && opts.out.symlink_metadata().is_ok() {
        return Err(Error::Exists {
            path: opts.out.clone(),
        });
    }
    let (format, virtual_size) = inspect(image)?;
    tracing::info!(image = %image.display(), format = format.qemu_name(), virtual_size, "source image");
    let out_dir = mk_durable::parent(&opts.out);
    let work = tempfile::Builder::new()
        .prefix(".mk-vagrant-box.")
        .tempdir_in(out_dir)
        .map_err(|e| Error::Write {
            path: out_dir.to_path_buf(),
            source: e,
        })?;
    marker::check(image, format, work.path())?;
    let box_img = match format {
        Format::Qcow2 => image.clone(),
        Format::Raw => {
            let q = work.path().join("box.img");
            tracing::info!("converting the raw image to qcow2 (qemu-img convert)");
            run_tool(
                image,
                Command::new("qemu-img")
                    .args(["convert", "-f", "raw", "-O", "qcow2"])
                    .arg(image)
                    .arg(&q),
            )?;
            q
        }
    };
    let plan = plan::plan(
        box_img,
        virtual_size,
        &opts.name,
        opts.source_date_epoch.unwrap_or(0),
    );
    let write_err = |e| Error::Write {
        path: opts.out.clone(),
        source: e,
    };
    let tmp = mk_durable::temp_beside(&opts.out).map_err(write_err)?;
    let tmp = archive::write(&plan, tmp).map_err(write_err)?;
    // tempfile makes 0600 files; a box is read by vagrant and libvirt users.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
        .map_err(write_err)?;
    if opts.force {
        mk_durable::persist(tmp, &opts.out).map_err(write_err)?;
    } else {
        mk_durable::persist_new(tmp, &opts.out).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Exists {
                    path: opts.out.clone(),
                }
            } else {
                write_err(e)
            }
        })?;
    }
    let (digest, size) = mk_durable::Digest::of_file(&opts.out).map_err(|e| Error::Read {
        path: opts.out.clone(),
        source: e,
    })?;
    Ok(Report {
        out: opts.out.clone(),
        sha256: digest.hex(),
        size,
        format,
        virtual_size,
    })
}

/// The image's format and virtual size, from its first bytes; a qcow2 is
/// also checked by `qemu-img check` and must stand alone (no backing file).
pub fn inspect(image: &Path) -> Result<(Format, u64), Error> {
    let read_err = |e| Error::Read {
        path: image.to_path_buf(),
        source: e,
    };
    let mut f = std::fs::File::open(image).map_err(read_err)?;
    let len = f.metadata().map_err(read_err)?.len();
    let mut head = Vec::with_capacity(1024);
    f.by_ref()
        .take(1024)
        .read_to_end(&mut head)
        .map_err(read_err)?;
    let (format, size) = source::detect(&head, len).map_err(|why| Error::NotAnImage {
        path: image.to_path_buf(),
        why,
    })?;
    if format == Format::Qcow2 {
        run_tool(
            image,
            Command::new("qemu-img")
                .args(["check", "-q", "-f", "qcow2"])
                .arg(image),
        )?;
        let out = Command::new("qemu-img")
            .args(["info", "--output=json", "-f", "qcow2"])
            .arg(image)
            .output()
            .map_err(|e| tool_err(image, "qemu-img info", e.to_string()))?;
        let info: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| tool_err(image, "qemu-img info", e.to_string()))?;
        if let Some(b) = info.get("backing-filename") {
            return Err(Error::NotAnImage {
                path: image.to_path_buf(),
                why: format!(
                    "a qcow2 overlay with the backing file {b}: a box needs a standalone \
                     image (qemu-img convert -O qcow2 first)"
                ),
            });
        }
    }
    Ok((format, size))
}

fn tool_err(path: &Path, what: &str, detail: String) -> Error {
    Error::Tool {
        what: what.into(),
        path: path.to_path_buf(),
        detail,
    }
}

/// Runs a tool about `path`; its stderr is the error's detail.
pub(crate) fn run_tool(path: &Path, cmd: &mut Command) -> Result<(), Error> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let sub = cmd
        .get_args()
        .next()
        .map(|a| format!("{program} {}", a.to_string_lossy()))
        .unwrap_or(program);
    tracing::debug!(command = ?cmd, "running");
    let out = cmd
        .output()
        .map_err(|e| tool_err(path, &sub, e.to_string()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    Err(tool_err(
        path,
        &sub,
        format!("{} {}{}", out.status, stderr.trim(), stdout.trim()),
    ))
}
