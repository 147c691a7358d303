//! `mk-node update`, `mark-good` and `status` put together: each reads what
//! it needs, asks [`crate::plan`], then performs the plan's effects in an
//! order that keeps the node bootable at every step (the grubenv, which
//! makes the new slot boot, is written last).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use mk_bundle::iso::{self, IsoEntry};
use mk_bundle::{PublicKey, VerifyError};
use mk_durable::Digest;

use crate::cmdline::{self, Booted};
use crate::disk::{DiskError, SlotDisk};
use crate::esp::{Esp, EspError};
use crate::node_image::{self, IMAGE_DIR, INFO_FILE};
use crate::plan::{self, MarkGood, PlanError, SlotEnv};
use crate::write::{self, WriteError, WriteReport};
use crate::{Slot, SLOT_FILES};

/// Largest kernel, initramfs or slot.cfg read into memory from a bundle.
const MAX_BOOT_FILE: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("bundle check failed, nothing was written: {0}")]
    Verify(#[from] Box<VerifyError>),
    #[error("{iso}: {what}")]
    Bundle { iso: PathBuf, what: String },
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Esp(#[from] EspError),
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("another mk-node is updating or marking {disk} (its lock is held): wait for it")]
    Busy { disk: PathBuf },
    #[error("locking {disk}: {source}")]
    Lock {
        disk: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where a node's pieces are.
#[derive(Debug, Clone)]
pub struct Node {
    pub disk: PathBuf,
    /// The kernel command line the node booted with.
    pub cmdline: String,
    /// The ESP's mount, if it is mounted; otherwise mtools on the partition.
    pub esp_mount: Option<PathBuf>,
}

impl Node {
    /// An exclusive advisory lock on the disk (device or image file) for
    /// as long as the returned file lives: two updates, or an update and
    /// a mark-good, never interleave their writes.
    fn lock(&self) -> Result<File, UpdateError> {
        let lock_err = |source| UpdateError::Lock {
            disk: self.disk.clone(),
            source,
        };
        let f = File::open(&self.disk).map_err(lock_err)?;
        match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(f),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(UpdateError::Busy {
                disk: self.disk.clone(),
            }),
            Err(e) => Err(lock_err(e.into())),
        }
    }

    fn open(&self) -> Result<(SlotDisk, Esp, Booted), UpdateError> {
        let disk = SlotDisk::read(&self.disk)?;
        let esp = match &self.esp_mount {
            Some(dir) => Esp::Mounted(dir.clone()),
            None => Esp::Partition {
                disk: self.disk.clone(),
                offset: disk.esp.offset,
            },
        };
        Ok((disk, esp, cmdline::parse(&self.cmdline)))
    }
}

/// What an update did.
#[derive(Debug, Clone)]
pub struct Updated {
    pub slot: Slot,
    pub version: String,
    pub write: WriteReport,
}

/// Verifies the bundle, then writes its node image into the inactive slot
/// and makes that slot the next boot (3 tries). Nothing is written when the
/// bundle, the grubenv or the disk is not right.
pub fn update(node: &Node, bundle: &Path, trust: &PublicKey) -> Result<Updated, UpdateError> {
    let report = mk_bundle::verify(bundle, trust).map_err(Box::new)?;
    tracing::info!(
        files = report.files,
        "bundle verified ({}, {:.0} MB/s)",
        report.trusted_comment,
        report.megabytes_per_second()
    );
    let bad = |what: String| UpdateError::Bundle {
        iso: bundle.to_path_buf(),
        what,
    };
    let image = iso::open_file(File::open(bundle).map_err(|e| bad(e.to_string()))?)
        .map_err(|e| bad(e.to_string()))?;
    let entries = image.list().map_err(|e| bad(e.to_string()))?;
    let entry = |name: &str| -> Result<&IsoEntry, UpdateError> {
        node_image::bundle_entry(&entries, name).map_err(bad)
    };
    let read = |name: &str| -> Result<Vec<u8>, UpdateError> {
        image
            .read_file(entry(name)?, MAX_BOOT_FILE)
            .map_err(|e| bad(e.to_string()))
    };
    let info = node_image::read_info(&image, &entries).map_err(bad)?;
    if info.format != 1 || info.root.compression != "zstd" {
        return Err(bad(format!(
            "{IMAGE_DIR}/{INFO_FILE}: format {} with {} compression is not one this mk-node reads (format 1, zstd)",
            info.format, info.root.compression
        )));
    }
    let root_digest = Digest::from_hex(&info.root.sha256)
        .map_err(|e| bad(format!("{IMAGE_DIR}/{INFO_FILE}: root.sha256: {e}")))?;
    let boot_files: Vec<(&str, Vec<u8>)> = SLOT_FILES
        .iter()
        .map(|&n| Ok((n, read(n)?)))
        .collect::<Result<_, UpdateError>>()?;
    let root_entry = entry(&info.root.file)?.clone();

    let _lock = node.lock()?;
    let (disk, esp, booted) = node.open()?;
    let env = esp.load_grubenv()?;
    let plan = plan::plan_update(&booted, &env, &disk, info.root.size)?;
    tracing::info!(
        "running slot {}; writing version {} into slot {} ({} on {})",
        plan.booted,
        info.version,
        plan.target,
        plan.partition.name,
        disk.path.display()
    );

    let iso_file = File::open(bundle).map_err(|e| bad(e.to_string()))?;
    let compressed = ExtentReader::new(iso_file, root_entry.extents.clone());
    let decoder = zstd::stream::Decoder::new(compressed)
        .map_err(|e| bad(format!("{IMAGE_DIR}/{}: {e}", info.root.file)))?;
    let written = write::write_root(
        &disk.path,
        &plan.partition,
        decoder,
        info.root.size,
        &root_digest,
    )?;
    for (name, bytes) in &boot_files {
        esp.write(&format!("{}/{name}", plan.target.esp_dir()), bytes)?;
    }
    esp.store_grubenv(&plan.env_after)?;
    tracing::info!(
        "slot {} holds version {}; it boots next (3 tries), then `mk-node mark-good` makes it the default",
        plan.target,
        info.version
    );
    Ok(Updated {
        slot: plan.target,
        version: info.version,
        write: written,
    })
}

/// Makes the running slot the default when it is the one on trial.
pub fn mark_good(node: &Node) -> Result<MarkGood, UpdateError> {
    let _lock = node.lock()?;
    let (disk, esp, booted) = node.open()?;
    let running = plan::booted_slot(&booted, &disk)?;
    let env = esp.load_grubenv()?;
    let decision = plan::plan_mark_good(running, &env)?;
    // Debug, not info: mk-node prints the outcome, and under systemd both
    // would reach the console.
    match &decision {
        MarkGood::Promote { slot, env_after } => {
            esp.store_grubenv(env_after)?;
            tracing::debug!("slot {slot} is good: it is now the default");
        }
        MarkGood::Nothing(why) => tracing::debug!("{why}"),
    }
    Ok(decision)
}

/// `mk-node status`: the slots, their versions, default/next/tries.
pub fn status(node: &Node) -> Result<String, UpdateError> {
    let (disk, esp, booted) = node.open()?;
    let env = esp.load_grubenv()?;
    let state = SlotEnv::from_env(&env)?;
    let running = plan::booted_slot(&booted, &disk).ok();
    let mut out = String::new();
    for slot in Slot::ALL {
        let Some(part) = disk.slot(slot) else {
            out.push_str(&format!(
                "slot {slot}: no partition {}\n",
                slot.partition_name()
            ));
            continue;
        };
        let version = esp
            .read(&format!("{}/slot.cfg", slot.esp_dir()))
            .ok()
            .and_then(|c| crate::node_image::slot_cfg_version(&String::from_utf8_lossy(&c)))
            .unwrap_or_else(|| "(empty)".into());
        let mut marks = Vec::new();
        if running == Some(slot) {
            marks.push("running".to_string());
        }
        if state.default == slot {
            marks.push("default".to_string());
        }
        if state.next == Some(slot) {
            marks.push(format!("next, {} tries left", state.tries));
        }
        out.push_str(&format!(
            "slot {slot}: version {version}, {} ({} MB, PARTUUID={}){}\n",
            part.name,
            part.size / 1_000_000,
            part.partuuid,
            if marks.is_empty() {
                String::new()
            } else {
                format!(" [{}]", marks.join(", "))
            }
        ));
    }
    out.push_str(&format!(
        "grubenv: mk_default={} mk_next={} mk_tries={}\n",
        env.get("mk_default").unwrap_or(""),
        env.get("mk_next").unwrap_or(""),
        env.get("mk_tries").unwrap_or("")
    ));
    Ok(out)
}

/// Reads a file's extents of the ISO in order.
struct ExtentReader {
    file: File,
    extents: Vec<iso::Extent>,
    index: usize,
    done: u64,
}

impl ExtentReader {
    fn new(file: File, extents: Vec<iso::Extent>) -> Self {
        ExtentReader {
            file,
            extents,
            index: 0,
            done: 0,
        }
    }
}

impl Read for ExtentReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        while let Some(e) = self.extents.get(self.index) {
            if self.done < e.len {
                let n = (e.len - self.done).min(buf.len() as u64) as usize;
                let n = self.file.read_at(&mut buf[..n], e.offset + self.done)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.done += n as u64;
                return Ok(n);
            }
            self.index += 1;
            self.done = 0;
        }
        Ok(0)
    }
}
