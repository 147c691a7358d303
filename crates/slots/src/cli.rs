//! `mk-node`'s command line (the binary is firstboot/src/bin/mk-node.rs,
//! shipped in the mk-firstboot RPM); here so that its tests and man pages
//! are generated from the same definitions.

use std::path::{Path, PathBuf};

use crate::update::Node;

/// An mk node's disk: install the node image, update the inactive root slot from a signed bundle, mark a slot good.
#[derive(clap::Parser, Debug)]
#[command(
    name = "mk-node",
    version,
    after_help = "Example:\n  \
    mk-node update --bundle /media/mk-2.iso --trust /etc/mk/mk.pub && systemctl reboot\n  \
    mk-node status\n  \
    mk-node install --disk /dev/sda      # in the installer ISO's initramfs\n\n\
    See /usr/share/doc/mk-firstboot/update.md and install.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    Update(UpdateArgs),
    MarkGood(MarkGoodArgs),
    Status(StatusArgs),
    // Its arguments and run are mk-installer's (docs/install.md).
    /// Install the node image from an mk installer ISO onto a disk of this machine.
    Install(mk_installer::cli::InstallArgs),
}

/// Where the node's disk, kernel command line and ESP are.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// The disk holding the slots (a block device or a disk image file).
    /// Default: the disk of the running root (root=PARTUUID= on the kernel
    /// command line).
    #[arg(long, value_name = "DEV")]
    pub disk: Option<PathBuf>,
    /// The kernel command line to read the running slot from.
    #[arg(long, value_name = "FILE", default_value = "/proc/cmdline")]
    pub cmdline: PathBuf,
    /// The ESP's mount point. Default: /boot/efi when it is mounted and the
    /// disk is a block device; otherwise the ESP partition is read and
    /// written with mtools.
    #[arg(long, value_name = "DIR")]
    pub esp_dir: Option<PathBuf>,
}

/// Verify a bundle, write its node image into the inactive slot, boot it next (3 tries).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  \
    mk-node update --bundle /media/mk-2.iso --trust /etc/mk/mk.pub\n  \
    mk-node update --bundle mk-2.iso --trust mk.pub --disk disk.raw --cmdline cmdline.txt\n\n\
    The bundle's signature and every file are checked first (as `mk-compose\n\
    verify`); a bad bundle, a slot on trial, or a root larger than the slot stops\n\
    it before anything is written. After the reboot, `mk-node mark-good` (run by\n\
    mk-node-mark-good.service) makes the new slot the default; a slot that fails\n\
    to boot 3 times falls back by itself.")]
pub struct UpdateArgs {
    /// The signed bundle ISO (from `mk-compose bundle --node-image`).
    #[arg(long, value_name = "X.iso")]
    pub bundle: PathBuf,
    /// Public key to trust (minisign format, mk.pub from `mk-compose keygen`).
    #[arg(long, value_name = "KEY.pub")]
    pub trust: PathBuf,
    #[command(flatten)]
    pub node: NodeArgs,
}

impl Command {
    /// The slot commands' node; `None` for `install` (no slots yet).
    pub fn node(&self) -> Option<&NodeArgs> {
        match self {
            Command::Update(u) => Some(&u.node),
            Command::MarkGood(m) => Some(&m.node),
            Command::Status(s) => Some(&s.node),
            Command::Install(_) => None,
        }
    }
}

/// Make the running slot the default if it is the one on trial; otherwise change nothing.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  \
    mk-node mark-good\n  \
    systemctl status mk-node-mark-good\n\n\
    Run at every boot by mk-node-mark-good.service, after mk-firstboot succeeded\n\
    (and the kubelet, on cluster nodes). It only promotes the running slot when\n\
    it is mk_next: an update written but not yet booted is left alone.")]
pub struct MarkGoodArgs {
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Show both slots (partition, version), which one runs, and default/next/tries.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  \
    mk-node status\n  \
    mk-node status --disk disk.raw --cmdline cmdline.txt")]
pub struct StatusArgs {
    #[command(flatten)]
    pub node: NodeArgs,
}

impl NodeArgs {
    /// Resolves the disk, the command line and the ESP's access.
    pub fn node(&self) -> Result<Node, String> {
        let cmdline = std::fs::read_to_string(&self.cmdline)
            .map_err(|e| format!("reading {}: {e}", self.cmdline.display()))?;
        let disk = match &self.disk {
            Some(d) => d.clone(),
            None => boot_disk(&cmdline)?,
        };
        let esp_mount = match &self.esp_dir {
            Some(d) => Some(d.clone()),
            None => {
                use std::os::unix::fs::FileTypeExt;
                let device = std::fs::metadata(&disk)
                    .map(|m| m.file_type().is_block_device())
                    .unwrap_or(false);
                (device && is_mount_point(Path::new("/boot/efi")))
                    .then(|| PathBuf::from("/boot/efi"))
            }
        };
        Ok(Node {
            disk,
            cmdline,
            esp_mount,
        })
    }
}

/// The whole disk holding the running root: /dev/disk/by-partuuid/<uuid>
/// resolved to its partition, whose parent in /sys/class/block is the disk.
fn boot_disk(cmdline: &str) -> Result<PathBuf, String> {
    let booted = crate::cmdline::parse(cmdline);
    let uuid = booted.root_partuuid.ok_or_else(|| {
        "the kernel command line has no root=PARTUUID=: name the disk with --disk".to_string()
    })?;
    let link = PathBuf::from(format!("/dev/disk/by-partuuid/{uuid}"));
    let part = std::fs::canonicalize(&link)
        .map_err(|e| format!("{}: {e}: name the disk with --disk", link.display()))?;
    let name = part
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sys = std::fs::canonicalize(format!("/sys/class/block/{name}"))
        .map_err(|e| format!("/sys/class/block/{name}: {e}: name the disk with --disk"))?;
    let disk = sys
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("no parent disk for {name}: name the disk with --disk"))?;
    Ok(PathBuf::from(format!("/dev/{disk}")))
}

fn is_mount_point(dir: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines()
                .any(|l| l.split(' ').nth(4) == Some(&*dir.to_string_lossy()))
        })
        .unwrap_or(false)
}
