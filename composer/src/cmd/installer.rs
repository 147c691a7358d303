//! `mk-compose installer`: the installer ISO (docs/install.md). A signed
//! bundle (`mk-compose verify` covers it) with extra files: the node image
//! (install/), the image's kernel and initramfs, the install step as a
//! second initramfs archive, GRUB for BIOS (El Torito + hybrid MBR) and
//! UEFI (efiboot.img with the image's shim and GRUB). The pure parts are
//! in mk_installer::iso.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use mk_bundle::{Manifest, Sha256Digest, TrustedComment, MANIFEST_NAME, SIGNATURE_NAME};
use mk_installer::gpt::Gpt;
use mk_installer::iso::{self as plan, BootEntry};
use mk_installer::media::{InstallInfo, IMAGE_FILE, INFO_FILE, INSTALL_DIR, VOLUME_LABEL};
use sha2::{Digest as _, Sha256};

use crate::inputs;

/// Build the bootable installer ISO (BIOS and UEFI) that writes a node image onto a machine's disk.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
    mk-compose installer --image out/node.raw --bundle mk.iso \\\n      \
    --key keys/mk.key --password-file pw --out mk-install.iso\n  \
    mk-compose verify mk-install.iso --trust keys/mk.pub\n  \
    dd if=mk-install.iso of=/dev/sdX bs=4M oflag=direct    # a USB stick\n\n\
    The ISO boots the image's own kernel and initramfs plus the install step,\n\
    which checks the ISO's signature, writes the image onto the disk named by\n\
    mk.install.disk= (or --disk here), the kickstart's `ignoredisk --only-use=`,\n\
    or the only eligible disk, reads it back, and reboots (docs/install.md).\n\
    Dates are SOURCE_DATE_EPOCH when set (else 1980-01-01): same inputs, same bytes.")]
pub struct Args {
    /// A raw node disk image from `mk-compose image`.
    #[arg(long, value_name = "NODE.raw")]
    image: PathBuf,
    /// A signed bundle ISO whose files (repo/, registry/, ...) the installer carries.
    #[arg(long, value_name = "B.iso", conflicts_with = "bundle_dir")]
    bundle: Option<PathBuf>,
    /// An unpacked bundle tree to carry instead.
    #[arg(long, value_name = "DIR")]
    bundle_dir: Option<PathBuf>,
    /// Check --bundle against this key first (as `mk-compose verify`).
    #[arg(long, value_name = "KEY.pub")]
    trust: Option<PathBuf>,
    /// Secret key from `mk-compose keygen`; its public key goes into the
    /// install step, which refuses an ISO not signed with it.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[arg(long, value_name = "FILE", conflicts_with = "password_fd")]
    /// Read the key's password from this file.
    password_file: Option<PathBuf>,
    /// Read the key's password from this inherited file descriptor.
    #[arg(long, value_name = "N")]
    password_fd: Option<i32>,
    /// Bake `mk.install.disk=DISK` into the boot entry (unattended installs).
    #[arg(long, value_name = "DISK")]
    disk: Option<String>,
    /// mk-node binary for the install step. Default: /usr/bin/mk-node of the image's root.
    #[arg(long, value_name = "FILE")]
    mk_node: Option<PathBuf>,
    /// Where to write the ISO (replaced atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// FAT's earliest date: the default when SOURCE_DATE_EPOCH is unset.
const DEFAULT_EPOCH: u64 = 315_532_800;
const MIB: u64 = 1 << 20;

fn tool(cmd: &mut Command) -> anyhow::Result<Vec<u8>> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?} (is it installed?)", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// The image's partition by name, as (byte offset, size).
fn partition(gpt: &Gpt, image: &Path, name: &str) -> anyhow::Result<(u64, u64)> {
    let p = gpt.partition(name).with_context(|| {
        format!(
            "{}: no GPT partition {name:?}: not an image from `mk-compose image`",
            image.display()
        )
    })?;
    let r = p.bytes();
    Ok((r.start, r.end - r.start))
}

/// A file of the image's root (ext4 at `offset`), symlinks followed.
fn root_file(image: &Path, offset: u64, path: &str, out: &Path) -> anyhow::Result<()> {
    let dev = format!("{}?offset={offset}", image.display());
    let mut path = path.to_string();
    for _ in 0..8 {
        let stat = tool(Command::new("debugfs").args(["-R", &format!("stat {path}"), &dev]))?;
        let stat = String::from_utf8_lossy(&stat);
        if stat.trim().is_empty() {
            bail!("{}: no {path} in the root partition", image.display());
        }
        if stat.contains("Type: symlink") {
            let target = stat
                .lines()
                .find_map(|l| l.trim().strip_prefix("Fast link dest: "))
                .map(|t| t.trim_matches('"').to_string())
                .with_context(|| format!("{}: {path}: unreadable symlink", image.display()))?;
            path = if target.starts_with('/') {
                target
            } else {
                let dir = Path::new(&path).parent().unwrap_or(Path::new("/"));
                dir.join(target).display().to_string()
            };
            continue;
        }
        tool(Command::new("debugfs").args([
            "-R",
            &format!("dump {path} {}", out.display()),
            &dev,
        ]))?;
        if !out.is_file() {
            bail!(
                "{}: could not read {path} from the root partition",
                image.display()
            );
        }
        return Ok(());
    }
    bail!("{}: {path}: too many symlinks", image.display())
}

/// The shared libraries an ELF file needs (readelf's NEEDED).
fn needed(bin: &Path) -> anyhow::Result<Vec<String>> {
    let out = tool(Command::new("readelf").arg("-d").arg(bin))?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_string()))
        .collect())
}

fn copy_tree(from: &Path, to: &Path, top: bool) -> anyhow::Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        if top && (name_s == MANIFEST_NAME || name_s == SIGNATURE_NAME) {
            continue;
        }
        if top && (name_s == INSTALL_DIR || name_s == "boot") {
            bail!("the bundle has a top-level {name_s}/, which the installer ISO uses itself");
        }
        let (src, dst) = (e.path(), to.join(&name));
        let ft = e.file_type()?;
        if ft.is_dir() {
            std::fs::create_dir_all(&dst)?;
            n += copy_tree(&src, &dst, false)?;
        } else if ft.is_file() {
            // A hard link when the tree is on the same file system.
            if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
            }
            n += 1;
        } else {
            bail!("{}: not a regular file or directory", src.display());
        }
    }
    Ok(n)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let epoch = inputs::source_date_epoch()?.unwrap_or(DEFAULT_EPOCH);
    let key = inputs::secret_key(&args.key, args.password_file.clone(), args.password_fd)?;
    let out_dir = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".mk-installer.")
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a staging directory in {}", out_dir.display()))?;
    let work = tempfile::tempdir()?;
    let tree = staging.path().join("tree");
    std::fs::create_dir_all(tree.join("boot/grub/i386-pc"))?;
    std::fs::create_dir_all(tree.join(INSTALL_DIR))?;

    // The image: GPT, ESP files, root files.
    let mut head = vec![0u8; MIB as usize];
    std::fs::File::open(&args.image)
        .and_then(|mut f| f.read_exact(&mut head))
        .with_context(|| format!("reading {}", args.image.display()))?;
    let gpt = Gpt::parse(&head).with_context(|| args.image.display().to_string())?;
    let (esp, _) = partition(&gpt, &args.image, "esp")?;
    let (root, _) = partition(&gpt, &args.image, "root-a")?;
    let esp = mk_slots::esp::Esp::Partition {
        disk: args.image.clone(),
        offset: esp,
    };
    let mcopy_out = |from: &str, to: &Path| -> anyhow::Result<()> {
        let bytes = esp
            .read(from)
            .with_context(|| format!("{}: reading {from} from its ESP", args.image.display()))?;
        std::fs::write(to, bytes).with_context(|| format!("writing {}", to.display()))
    };
    mcopy_out("mk/a/vmlinuz", &tree.join(plan::KERNEL))?;
    mcopy_out("mk/a/initramfs.img", &tree.join(plan::INITRAMFS))?;
    mcopy_out("mk/a/slot.cfg", &work.path().join("slot.cfg"))?;
    mcopy_out("EFI/BOOT/BOOTX64.EFI", &work.path().join("BOOTX64.EFI"))?;
    mcopy_out("EFI/BOOT/grubx64.efi", &work.path().join("grubx64.efi"))?;
    let slot_cfg = std::fs::read_to_string(work.path().join("slot.cfg"))?;
    let version = mk_slots::node_image::slot_cfg_version(&slot_cfg)
        .context("the image's mk/a/slot.cfg has no mk_version")?;
    let image_args = mk_slots::node_image::slot_cfg_args(&slot_cfg);

    // The install step: mk-node and the libraries it needs, from the
    // image's root, run with the image's own loader.
    let mk_node = work.path().join("mk-node");
    match &args.mk_node {
        Some(p) => {
            std::fs::copy(p, &mk_node).with_context(|| format!("copying {}", p.display()))?;
        }
        None => root_file(&args.image, root, "/usr/bin/mk-node", &mk_node)?,
    }
    let mut libs = Vec::new();
    for lib in needed(&mk_node)? {
        let out = work.path().join(&lib);
        let found = [
            "/lib64",
            "/usr/lib64",
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
        ]
        .iter()
        .any(|d| root_file(&args.image, root, &format!("{d}/{lib}"), &out).is_ok());
        if !found {
            bail!(
                "{}: mk-node needs {lib}, which the image's root does not have",
                args.image.display()
            );
        }
        libs.push((lib.clone(), std::fs::read(&out)?));
    }
    if !libs.iter().any(|(l, _)| l == "ld-linux-x86-64.so.2") {
        let out = work.path().join("ld-linux-x86-64.so.2");
        root_file(&args.image, root, "/lib64/ld-linux-x86-64.so.2", &out)?;
        libs.push(("ld-linux-x86-64.so.2".into(), std::fs::read(&out)?));
    }
    let pubkey = key.public_key().to_file_text();
    let cpio = plan::cpio(
        &plan::step_entries(std::fs::read(&mk_node)?, libs, &pubkey),
        epoch,
    );
    std::fs::write(tree.join(plan::INSTALL_CPIO), cpio)?;
    std::fs::write(
        tree.join(plan::GRUB_CFG),
        plan::render_grub_cfg(&BootEntry {
            version: version.clone(),
            image_args,
            disk: args.disk.clone(),
        }),
    )?;

    // BIOS: GRUB's El Torito image and hybrid MBR, from the image's
    // i386-pc modules (the host's grub-mkimage assembles them).
    let dev = format!("{}?offset={root}", args.image.display());
    tool(Command::new("debugfs").args([
        "-R",
        &format!("rdump /usr/lib/grub/i386-pc {}", work.path().display()),
        &dev,
    ]))?;
    let modules = work.path().join("i386-pc");
    if !modules.join("cdboot.img").is_file() {
        bail!("{}: no /usr/lib/grub/i386-pc/cdboot.img in the root: add GRUB's i386-pc modules (grub-pc-bin, grub2-pc-modules) to the image", args.image.display());
    }
    let core_cfg = work.path().join("core.cfg");
    std::fs::write(&core_cfg, plan::core_config())?;
    let eltorito = work.path().join("eltorito.img");
    tool(
        Command::new("grub-mkimage")
            .args(["-O", "i386-pc-eltorito", "-p", "/boot/grub", "-d"])
            .arg(&modules)
            .arg("-c")
            .arg(&core_cfg)
            .arg("-o")
            .arg(&eltorito)
            .args(plan::ELTORITO_MODULES),
    )?;

    // UEFI: a FAT image with the image's shim and GRUB.
    let efiboot = tree.join(plan::EFIBOOT);
    let efi_bytes: u64 = ["BOOTX64.EFI", "grubx64.efi"]
        .iter()
        .map(|f| {
            std::fs::metadata(work.path().join(f))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum();
    let kib = (efi_bytes / MIB + 2) * 1024;
    tool(
        Command::new("mkfs.vfat")
            .args(["-C", "--invariant", "-i", "4d4b4546", "-n", "MKEFI"])
            .arg(&efiboot)
            .arg(kib.to_string()),
    )?;
    let img = efiboot.display().to_string();
    let epoch_s = epoch.to_string();
    for d in ["EFI", "EFI/BOOT", "EFI/debian", "EFI/centos"] {
        tool(
            Command::new("mmd")
                .args(["-i", &img, &format!("::/{d}")])
                .env("SOURCE_DATE_EPOCH", &epoch_s),
        )?;
    }
    let fwd = work.path().join("grub.cfg");
    std::fs::write(&fwd, plan::efi_forwarder())?;
    for (src, dst) in [
        ("BOOTX64.EFI", "EFI/BOOT/BOOTX64.EFI"),
        ("grubx64.efi", "EFI/BOOT/grubx64.efi"),
        ("grub.cfg", "EFI/BOOT/grub.cfg"),
        ("grub.cfg", "EFI/debian/grub.cfg"),
        ("grub.cfg", "EFI/centos/grub.cfg"),
    ] {
        tool(
            Command::new("mcopy")
                .args(["-i", &img])
                .arg(work.path().join(src))
                .arg(format!("::/{dst}"))
                .env("SOURCE_DATE_EPOCH", &epoch_s),
        )?;
    }

    // The node image, compressed, and what it decompresses to.
    let mut raw = std::fs::File::open(&args.image)?;
    let size = raw.metadata()?.len();
    let zst = tree.join(INSTALL_DIR).join(IMAGE_FILE);
    let mut enc = zstd::stream::Encoder::new(std::fs::File::create(&zst)?, 3)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = raw.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        enc.write_all(&buf[..n])?;
    }
    enc.finish()?.sync_all()?;
    let info = InstallInfo {
        format: 1,
        file: IMAGE_FILE.into(),
        compression: "zstd".into(),
        size,
        sha256: hex::encode(hasher.finalize()),
        version: version.clone(),
    };
    let mut json = serde_json::to_string_pretty(&info)?;
    json.push('\n');
    std::fs::write(tree.join(INSTALL_DIR).join(INFO_FILE), json)?;

    // The bundle's files.
    let bundled = if let Some(iso) = &args.bundle {
        if let Some(t) = &args.trust {
            let pk = mk_bundle::PublicKey::from_file(t)?;
            mk_bundle::verify(iso, &pk).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let x = work.path().join("bundle");
        tool(
            Command::new("xorriso")
                .args(["-no_rc", "-osirrox", "on", "-indev"])
                .arg(iso)
                .args(["-extract", "/"])
                .arg(&x),
        )?;
        copy_tree(&x, &tree, true)?
    } else if let Some(d) = &args.bundle_dir {
        copy_tree(d, &tree, true)?
    } else {
        0
    };

    // Signed like a bundle: MANIFEST over every file in the tree.
    let manifest = Manifest::build(&tree)?;
    let text = manifest.to_text();
    let digest = Sha256Digest::of(text.as_bytes());
    let comment = TrustedComment::render("mk-install", &version, &digest);
    let sig = key.sign(
        text.as_bytes(),
        &comment,
        &format!(
            "signature from mk-compose, key ID {} (verify: minisign -V -p mk.pub -m MANIFEST)",
            key.key_id()
        ),
    );
    std::fs::write(tree.join(MANIFEST_NAME), &text)?;
    std::fs::write(tree.join(SIGNATURE_NAME), sig.to_file_text())?;
    // After signing: xorriso patches its boot info table into it.
    std::fs::copy(&eltorito, tree.join(plan::ELTORITO))?;

    // Sort weights, dates and the rest as every bundle ISO (mk_bundle::iso).
    let hide = tree.join(plan::ELTORITO);
    let boot: Vec<std::ffi::OsString> = [
        "--grub2-mbr".into(),
        modules.join("boot_hybrid.img").into(),
        "-b".into(),
        plan::ELTORITO.into(),
        "-no-emul-boot".into(),
        "-boot-load-size".into(),
        "4".into(),
        "-boot-info-table".into(),
        "--grub2-boot-info".into(),
        "-c".into(),
        plan::BOOT_CATALOG.into(),
        "-eltorito-alt-boot".into(),
        "-e".into(),
        plan::EFIBOOT.into(),
        "-no-emul-boot".into(),
        "-efi-boot-part".into(),
        "--efi-boot-image".into(),
        "--protective-msdos-label".into(),
        // Hidden from every tree (patterns are disk paths): unsigned, see above.
        "-hide".into(),
        hide.clone().into(),
        "-hide-joliet".into(),
        hide.into(),
        "--boot-catalog-hide".into(),
    ]
    .into();
    mk_bundle::iso::write(
        &tree,
        &args.out,
        &mk_bundle::iso::IsoOptions {
            volume_label: VOLUME_LABEL.into(),
            source_date_epoch: epoch,
            boot,
        },
    )?;
    let iso_size = std::fs::metadata(&args.out)?.len();
    tracing::info!(
        files = manifest.len(),
        bundle_files = bundled,
        iso_bytes = iso_size,
        secs = started.elapsed().as_secs_f32(),
        "installer ISO written"
    );
    println!(
        "{}: installer for mk {version}, {} MB, {} files under the signed MANIFEST (key {})",
        args.out.display(),
        iso_size / 1_000_000,
        manifest.len(),
        key.key_id()
    );
    Ok(())
}
