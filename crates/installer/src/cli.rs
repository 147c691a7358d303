//! `mk-node install`: the command line and the run (the binary is
//! firstboot/src/bin/mk-node.rs). In the installer's initramfs it runs with
//! no arguments: the media is /dev/disk/by-label/MK-INSTALL, the key
//! /etc/mk/install.pub, the disk from `mk.install.disk=` or the only
//! eligible one.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::media::{self, VOLUME_LABEL};
use crate::sysfs::{self, BlockDisk};
use crate::target::{self, Request};
use crate::write::{self, Options};

/// Install the node image from an mk installer ISO onto a disk of this machine.
#[derive(clap::Parser, Debug)]
#[command(
    name = "install",
    after_help = "Example:\n  \
    mk-node install                                   # in the installer: all defaults\n  \
    mk-node install --disk /dev/disk/by-id/virtio-NODE1 --dry-run\n  \
    mk-node install --media mk-install.iso --trust mk.pub --sysfs fake-sys --dev-dir fake-dev\n\n\
    The ISO's signature and every file are checked first (as `mk-compose verify`);\n\
    the image is streamed onto the disk with its SHA-256 checked while writing and\n\
    each partition read back; the GPT is written last, so a failure never leaves a\n\
    disk that boots a half image. See /usr/share/doc/mk-firstboot/install.md."
)]
pub struct InstallArgs {
    /// The installer ISO: a device or a file. Default: `mk.install.media=`
    /// on the kernel command line, else /dev/disk/by-label/MK-INSTALL.
    #[arg(long, value_name = "DEV|ISO")]
    pub media: Option<PathBuf>,
    /// Public key the ISO must be signed with (minisign format).
    #[arg(long, value_name = "KEY.pub", default_value = "/etc/mk/install.pub")]
    pub trust: PathBuf,
    /// The target disk: /dev/sda, sda, a serial, a WWID or
    /// /dev/disk/by-id/NAME. Default: `mk.install.disk=` on the kernel
    /// command line, else the kickstart's drives, else the only eligible disk.
    #[arg(long, value_name = "DISK")]
    pub disk: Option<String>,
    /// A kickstart whose `ignoredisk --only-use=` / `clearpart --drives=`
    /// name the disk. Default: `mk.install.ks=` (a file path) on the kernel command line.
    #[arg(long, value_name = "FILE")]
    pub kickstart: Option<PathBuf>,
    /// Leave the `state` partition at the image's size instead of extending
    /// it to the end of the disk.
    #[arg(long)]
    pub keep_state_size: bool,
    /// Choose the disk and check the media, print what would be done, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where sysfs is (tests use a fake tree).
    #[arg(long, value_name = "DIR", default_value = "/sys")]
    pub sysfs: PathBuf,
    /// Where device nodes are: the target is DIR/NAME (tests use files).
    #[arg(long, value_name = "DIR", default_value = "/dev")]
    pub dev_dir: PathBuf,
    /// The kernel command line to read mk.install.* from.
    #[arg(long, value_name = "FILE", default_value = "/proc/cmdline")]
    pub cmdline: PathBuf,
}

/// `key=value` of the first `key=` word on a kernel command line.
pub fn cmdline_value(cmdline: &str, key: &str) -> Option<String> {
    cmdline.split_whitespace().find_map(|w| {
        w.strip_prefix(key)
            .and_then(|v| v.strip_prefix('='))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    })
}

fn read_bounded(path: &Path, max: u64) -> Result<String, String> {
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max).read_to_string(&mut s))
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(s)
}

/// What `run` did.
pub enum Outcome {
    DryRun {
        disk: BlockDisk,
        version: String,
    },
    Installed {
        disk: BlockDisk,
        version: String,
        report: write::Report,
    },
}

/// Everything `mk-node install` does; errors are one message each.
pub fn run(args: &InstallArgs) -> Result<Outcome, String> {
    let cmdline = if args.cmdline.exists() {
        read_bounded(&args.cmdline, 64 << 10)?
    } else {
        String::new()
    };
    let media_path = args
        .media
        .clone()
        .or_else(|| cmdline_value(&cmdline, "mk.install.media").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(format!("/dev/disk/by-label/{VOLUME_LABEL}")));
    let key = mk_bundle::PublicKey::from_file(&args.trust)
        .map_err(|e| format!("reading the trusted key {}: {e}", args.trust.display()))?;
    let disks = sysfs::scan(&args.sysfs)
        .map_err(|e| format!("listing disks in {}/block: {e}", args.sysfs.display()))?;
    // The media's disk by the device it resolves to (sr0, sdb1 -> sdb).
    let media_dev = std::fs::canonicalize(&media_path)
        .map_err(|e| format!("install media {}: {e}", media_path.display()))?;
    let media_disk = media_dev
        .starts_with(&args.dev_dir)
        .then(|| media_dev.file_name()?.to_str())
        .flatten()
        .and_then(|n| sysfs::disk_of(&disks, n))
        .map(|d| d.name.clone());
    let request = if let Some(d) = &args.disk {
        Request::Named {
            token: d.clone(),
            from: "--disk".into(),
        }
    } else if let Some(d) = cmdline_value(&cmdline, "mk.install.disk") {
        Request::Named {
            token: d,
            from: "mk.install.disk= on the kernel command line".into(),
        }
    } else {
        let ks = args
            .kickstart
            .clone()
            .or_else(|| cmdline_value(&cmdline, "mk.install.ks").map(PathBuf::from));
        match ks {
            Some(ks) => {
                let text = read_bounded(&ks, 1 << 20)?;
                crate::kickstart::drives(&ks.display().to_string(), &text)
                    .map_err(|e| e.to_string())?
                    .unwrap_or(Request::Auto)
            }
            None => Request::Auto,
        }
    };
    // A by-id symlink that exists here is resolved to its device name.
    let request = match request {
        Request::Named { token, from } if token.starts_with('/') => {
            let token = std::fs::canonicalize(&token)
                .ok()
                .filter(|p| p.starts_with(&args.dev_dir))
                .and_then(|p| p.file_name()?.to_str().map(str::to_string))
                .unwrap_or(token);
            Request::Named { token, from }
        }
        r => r,
    };
    // Media first: the image's size decides which disks fit.
    let opened = media::open(&media_path, Some(&key)).map_err(|e| e.to_string())?;
    let info = opened.info.clone();
    let disk = target::choose(&disks, &request, media_disk.as_deref(), info.size)
        .map_err(|e| e.to_string())?
        .clone();
    tracing::info!(
        "installing mk {} ({} MB) onto {disk}",
        info.version,
        info.size / 1_000_000
    );
    if args.dry_run {
        return Ok(Outcome::DryRun {
            disk,
            version: info.version,
        });
    }
    let target = args.dev_dir.join(&disk.name);
    let report = write::install(
        &target,
        opened.reader,
        &info.spec(),
        &Options {
            grow_state: !args.keep_state_size,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(Outcome::Installed {
        disk,
        version: info.version,
        report,
    })
}
