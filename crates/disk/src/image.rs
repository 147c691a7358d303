//! Building a whole disk image: plan, write at a temporary path beside the
//! output, check with the real tools, then fsync and rename.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{io, DiskError};
use crate::esp::{self, EspJob, FAT_MAX_EPOCH, FAT_MIN_EPOCH};
use crate::ext4::{self, Ext4Job};
use crate::grub;
use crate::layout::{self, Layout, LayoutError, LayoutInput, TreeStats, ESP_DEFAULT_SIZE, MIB};
use crate::tool::{self, command};
use crate::tree::{self, Entry};

/// The ESP: a staging tree (shim and GRUB in EFI/BOOT, slot A's kernel and
/// initramfs in mk/a) and the boot files rendered here (grub.cfg needs the
/// slots' PARTUUIDs, which only the layout knows).
#[derive(Debug, Clone)]
pub struct EspSpec {
    pub tree: PathBuf,
    /// Bytes; rounded up to whole MiB. Default 256 MiB.
    pub size: u64,
    /// FAT volume label (≤ 11 characters).
    pub label: String,
    pub boot: Option<BootSpec>,
}

/// What the GRUB boot files are rendered from (docs/image.md, "Boot").
#[derive(Debug, Clone)]
pub struct BootSpec {
    /// The signed GRUB's built-in prefix (`EFI/centos`, `EFI/debian`): gets
    /// a grub.cfg forwarding to EFI/mk/grub.cfg.
    pub vendor_dir: String,
    /// Image version, written into slot A's slot.cfg.
    pub version: String,
    /// Kernel arguments after the fixed ones (console=..., the
    /// kickstart's --append).
    pub extra_args: Vec<String>,
}

/// GRUB for legacy BIOS: boot.img (512 bytes) goes into the protective
/// MBR's boot code, core.img into the BIOS boot partition, both patched
/// here for their place on this disk.
#[derive(Debug, Clone)]
pub struct BiosSpec {
    pub boot_img: Vec<u8>,
    pub core_img: Vec<u8>,
}

impl EspSpec {
    pub fn new(tree: impl Into<PathBuf>) -> Self {
        EspSpec {
            tree: tree.into(),
            size: ESP_DEFAULT_SIZE,
            label: "ESP".into(),
            boot: None,
        }
    }
}

/// An ext4 partition (root or state).
#[derive(Debug, Clone, Default)]
pub struct FsSpec {
    /// Staging tree (owners, modes and xattrs are copied); `None`: empty.
    pub tree: Option<PathBuf>,
    /// Bytes, rounded up to whole MiB. `None`: from content plus headroom
    /// (root only; the state size must be explicit).
    pub size: Option<u64>,
    /// Filesystem label (≤ 16 bytes).
    pub label: String,
    /// `security.selinux` per absolute path; may be empty.
    pub selinux_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct DiskSpec {
    /// The raw image to write.
    pub output: PathBuf,
    /// Also write a qcow2 copy here.
    pub qcow2: Option<PathBuf>,
    /// Identity of the inputs (e.g. bundle digest + node name): every GUID,
    /// UUID, hash seed and serial is derived from it.
    pub seed: String,
    /// SOURCE_DATE_EPOCH: every timestamp in the image.
    pub source_date_epoch: i64,
    pub esp: EspSpec,
    /// GRUB's BIOS stages; `None`: the disk boots on UEFI only.
    pub bios: Option<BiosSpec>,
    pub root: FsSpec,
    pub state: FsSpec,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub raw: PathBuf,
    pub raw_sha256: String,
    pub qcow2: Option<PathBuf>,
    pub qcow2_sha256: Option<String>,
    pub layout: Layout,
    pub root_stats: TreeStats,
    pub state_stats: TreeStats,
}

/// A staging tree's entries and statistics; an absent tree is empty.
fn scan(tree: Option<&Path>) -> Result<(Vec<Entry>, TreeStats), DiskError> {
    match tree {
        Some(t) => tree::scan(t),
        None => Ok((Vec::new(), tree::stats(&[], 0, 0))),
    }
}

fn validate(spec: &DiskSpec) -> Result<(), DiskError> {
    let e = spec.source_date_epoch;
    if !(FAT_MIN_EPOCH..=FAT_MAX_EPOCH).contains(&e) {
        return Err(DiskError::Spec(format!(
            "source_date_epoch {e} is outside what FAT dates can hold \
             ({FAT_MIN_EPOCH} = 1980-01-01 to {FAT_MAX_EPOCH} = 2107-12-31)"
        )));
    }
    let l = &spec.esp.label;
    if l.is_empty()
        || l.len() > 11
        || !l
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(DiskError::Spec(format!(
            "ESP label {l:?}: 1 to 11 ASCII letters, digits, - or _"
        )));
    }
    for (part, fs) in [("root", &spec.root), ("state", &spec.state)] {
        if fs.label.is_empty() || fs.label.len() > 16 || fs.label.contains(char::is_whitespace) {
            return Err(DiskError::Spec(format!(
                "{part} filesystem label {:?}: 1 to 16 bytes, no spaces",
                fs.label
            )));
        }
    }
    if spec.output.file_name().is_none() {
        return Err(DiskError::Spec(format!(
            "output {} is not a file path",
            spec.output.display()
        )));
    }
    Ok(())
}

/// Refuses to start when the output filesystem cannot even hold the content.
fn check_space(output: &Path, need: u64) -> Result<(), DiskError> {
    let dir = mk_durable::parent(output).to_path_buf();
    let st = rustix::fs::statvfs(&dir).map_err(|e| DiskError::Io {
        path: dir.clone(),
        source: e.into(),
    })?;
    let free = st.f_bavail * st.f_frsize;
    if free < need {
        return Err(DiskError::NoSpace {
            path: output.to_path_buf(),
            dir,
            free_mib: free / MIB,
            need_mib: need.div_ceil(MIB),
        });
    }
    Ok(())
}

/// `sgdisk -v`: it exits 0 even when it finds problems, so read its verdict.
pub fn check_gpt(image: &Path) -> Result<(), DiskError> {
    let out = tool::run(
        "checking the partition table",
        command("sgdisk").arg("-v").arg(image),
    )?;
    if !out.stdout.contains("No problems found") {
        return Err(DiskError::Check {
            what: format!("sgdisk -v {}", image.display()),
            output: tool::tool_text(&out.stdout, &out.stderr),
        });
    }
    Ok(())
}

/// The generated ESP files (ESP path, content): EFI/mk/grub.cfg, the
/// initial EFI/mk/grubenv, slot A's slot.cfg and the vendor prefix's
/// forwarding grub.cfg.
pub fn boot_files(
    boot: &BootSpec,
    layout: &Layout,
) -> Result<BTreeMap<String, Vec<u8>>, DiskError> {
    let spec_err = |e: grub::GrubError| DiskError::Spec(e.to_string());
    let vendor = boot.vendor_dir.trim_matches('/');
    let vendor_ok = vendor.starts_with("EFI/")
        && vendor.len() > 4
        && vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'))
        && !vendor.eq_ignore_ascii_case("EFI/mk")
        && !vendor.eq_ignore_ascii_case("EFI/BOOT");
    if !vendor_ok {
        return Err(DiskError::Spec(format!(
            "GRUB vendor directory {:?}: expected EFI/<name> (e.g. EFI/centos), not EFI/mk or EFI/BOOT",
            boot.vendor_dir
        )));
    }
    let args = grub::slot_kernel_args(&boot.extra_args).map_err(spec_err)?;
    let cfg = grub::GrubCfg {
        root_a: layout.root.guid,
        root_b: layout.root_b.guid,
        serial: grub::serial_console(&args),
    };
    let mut files = BTreeMap::new();
    files.insert(
        grub::GRUB_CFG.to_string(),
        grub::render_grub_cfg(&cfg).into_bytes(),
    );
    files.insert(
        grub::GRUBENV.to_string(),
        grub::initial_grubenv().map_err(spec_err)?,
    );
    files.insert(
        grub::Slot::A.slot_cfg(),
        grub::render_slot_cfg(&boot.version, &args)
            .map_err(spec_err)?
            .into_bytes(),
    );
    files.insert(
        format!("{vendor}/grub.cfg"),
        grub::render_forwarder().into_bytes(),
    );
    Ok(files)
}

/// boot.img's code for the MBR and the patched core.img for this layout.
fn bios_stages(
    bios: &BiosSpec,
    layout: &Layout,
) -> Result<([u8; grub::MBR_CODE], Vec<u8>), DiskError> {
    let lba = layout.bios_boot.first_lba();
    let core = grub::patch_core_img(&bios.core_img, lba, layout.bios_boot.size / layout::SECTOR)
        .map_err(|e| DiskError::Spec(e.to_string()))?;
    // The protective MBR as the gpt crate writes it: only its BPB area is
    // read (grub-bios-setup keeps it), and it is all zeros.
    let mbr = [0u8; 512];
    let code = grub::patch_boot_img(&bios.boot_img, &mbr, lba)
        .map_err(|e| DiskError::Spec(e.to_string()))?;
    Ok((code, core))
}

/// Writes boot.img's code over the MBR's first 440 bytes (the disk
/// signature and partition table stay) and core.img at the start of the
/// BIOS boot partition.
fn write_bios_stages(
    image: &Path,
    layout: &Layout,
    code: &[u8; grub::MBR_CODE],
    core: &[u8],
) -> Result<(), DiskError> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .map_err(io(image))?;
    let mut mbr = [0u8; 512];
    f.read_exact(&mut mbr).map_err(io(image))?;
    if mbr[510..] != [0x55, 0xaa] || mbr[0x1c2] != 0xee {
        return Err(DiskError::Spec(format!(
            "{}: sector 0 is not a protective MBR; not installing GRUB's boot.img",
            image.display()
        )));
    }
    if mbr[0x3..0x5a].iter().any(|&b| b != 0) {
        return Err(DiskError::Spec(
            "the protective MBR's BPB area is not empty: boot.img was patched for an empty one"
                .into(),
        ));
    }
    f.seek(SeekFrom::Start(0)).map_err(io(image))?;
    f.write_all(code).map_err(io(image))?;
    f.seek(SeekFrom::Start(layout.bios_boot.offset))
        .map_err(io(image))?;
    f.write_all(core).map_err(io(image))?;
    tracing::info!(
        core_sectors = core.len() / 512,
        lba = layout.bios_boot.first_lba(),
        "GRUB boot.img and core.img written"
    );
    Ok(())
}

/// Builds the raw (and optionally qcow2) image described by `spec`.
pub fn build_image(spec: &DiskSpec) -> Result<Report, DiskError> {
    validate(spec)?;
    let started = std::time::Instant::now();
    let epoch = spec.source_date_epoch;

    let (esp_entries, _) = tree::scan(&spec.esp.tree)?;
    let (root_entries, root_stats) = scan(spec.root.tree.as_deref())?;
    let (state_entries, state_stats) = scan(spec.state.tree.as_deref())?;
    tracing::info!(
        esp = esp_entries.len(),
        root = root_entries.len(),
        state = state_entries.len(),
        "staging trees scanned"
    );

    let root_size = match spec.root.size {
        Some(s) => layout::align_up(s, MIB),
        None => layout::ext4_auto_size(&root_stats),
    };
    layout::check_ext4_fits("root", &root_stats, root_size)?;
    let state_size = layout::align_up(spec.state.size.ok_or(LayoutError::StateSizeMissing)?, MIB);
    layout::check_ext4_fits("state", &state_stats, state_size)?;
    let layout = layout::plan(&LayoutInput {
        seed: spec.seed.clone(),
        esp_size: spec.esp.size,
        root_size,
        state_size,
    })?;

    let generated = match &spec.esp.boot {
        Some(b) => boot_files(b, &layout)?,
        None => BTreeMap::new(),
    };
    let bios = match &spec.bios {
        Some(b) => Some(bios_stages(b, &layout)?),
        None => None,
    };
    let esp_content = esp::content_bytes(&esp_entries, &generated);
    check_space(
        &spec.output,
        esp_content + root_stats.file_bytes + state_stats.file_bytes,
    )?;

    let raw =
        mk_durable::temp_beside(&spec.output).map_err(io(mk_durable::parent(&spec.output)))?;
    let raw_path = raw.path().to_path_buf();
    let scratch = tempfile::Builder::new()
        .prefix(".mk-disk-scratch.")
        .tempdir_in(mk_durable::parent(&spec.output))
        .map_err(io(mk_durable::parent(&spec.output)))?;
    tracing::info!(
        output = %spec.output.display(),
        disk_mib = layout.disk_size / MIB,
        esp_mib = layout.esp.size / MIB,
        root_mib = layout.root.size / MIB,
        state_mib = layout.state.size / MIB,
        "writing disk image"
    );
    raw.as_file()
        .set_len(layout.disk_size)
        .map_err(io(&raw_path))?;
    crate::gpt::write_table(raw.as_file(), &raw_path, &layout)?;

    let empty = scratch.path().join("empty");
    fs::create_dir(&empty).map_err(io(&empty))?;
    esp::write_esp(&EspJob {
        image: &raw_path,
        offset: layout.esp.offset,
        size: layout.esp.size,
        tree: &spec.esp.tree,
        entries: &esp_entries,
        generated: &generated,
        serial: layout.esp_serial,
        volume_label: &spec.esp.label,
        epoch,
        scratch: scratch.path(),
    })?;
    for (part, fs_spec, plan, ids, entries, stats, reserved) in [
        (
            "root",
            &spec.root,
            &layout.root,
            layout.root_fs,
            &root_entries,
            &root_stats,
            0,
        ),
        (
            "state",
            &spec.state,
            &layout.state,
            layout.state_fs,
            &state_entries,
            &state_stats,
            5,
        ),
    ] {
        ext4::write_ext4(&Ext4Job {
            part,
            image: &raw_path,
            offset: plan.offset,
            size: plan.size,
            tree: fs_spec.tree.as_deref().unwrap_or(&empty),
            entries,
            selinux_labels: &fs_spec.selinux_labels,
            ids,
            volume_label: &fs_spec.label,
            inodes: layout::ext4_inodes(stats, plan.size),
            reserved_percent: reserved,
            epoch,
            scratch: scratch.path(),
        })?;
    }

    if let Some((code, core)) = &bios {
        write_bios_stages(&raw_path, &layout, code, core)?;
    }
    check_gpt(&raw_path)?;
    esp::check_fat(
        &raw_path,
        layout.esp.offset,
        layout.esp.size,
        scratch.path(),
    )?;
    ext4::check_ext4("root", &raw_path, layout.root.offset)?;
    ext4::check_ext4("state", &raw_path, layout.state.offset)?;
    raw.as_file().sync_all().map_err(io(&raw_path))?;
    let raw_sha256 = mk_durable::sha256_file(&raw_path).map_err(io(&raw_path))?;
    tracing::info!(sha256 = %raw_sha256, "raw image checked");

    let qcow = match &spec.qcow2 {
        None => None,
        Some(target) => {
            let tmp = mk_durable::temp_beside(target).map_err(io(mk_durable::parent(target)))?;
            let tmp_path = tmp.path().to_path_buf();
            tool::run(
                "converting to qcow2",
                command("qemu-img")
                    .args(["convert", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1"])
                    .arg(&raw_path)
                    .arg(&tmp_path),
            )?;
            tool::run(
                "checking the qcow2 image",
                command("qemu-img")
                    .args(["check", "-f", "qcow2"])
                    .arg(&tmp_path),
            )?;
            tmp.as_file().sync_all().map_err(io(&tmp_path))?;
            let sum = mk_durable::sha256_file(&tmp_path).map_err(io(&tmp_path))?;
            Some((tmp, target.clone(), sum))
        }
    };

    raw.persist(&spec.output).map_err(|e| DiskError::Io {
        path: spec.output.clone(),
        source: e.error,
    })?;
    let out_dir = mk_durable::parent(&spec.output);
    mk_durable::sync_dir(out_dir).map_err(io(out_dir))?;
    let (qcow2, qcow2_sha256) = match qcow {
        None => (None, None),
        Some((tmp, target, sum)) => {
            tmp.persist(&target).map_err(|e| DiskError::Io {
                path: target.clone(),
                source: e.error,
            })?;
            let dir = mk_durable::parent(&target);
            mk_durable::sync_dir(dir).map_err(io(dir))?;
            (Some(target), Some(sum))
        }
    };
    tracing::info!(secs = started.elapsed().as_secs_f32(), "disk image written");
    Ok(Report {
        raw: spec.output.clone(),
        raw_sha256,
        qcow2,
        qcow2_sha256,
        layout,
        root_stats,
        state_stats,
    })
}
