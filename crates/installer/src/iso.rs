//! The installer ISO's pure parts (effects: composer/src/cmd/installer.rs):
//! GRUB's configs for the ISO, the install step appended to the image's
//! initramfs as a second cpio archive, and that archive's bytes.
//!
//! Boot path: BIOS → El Torito (GRUB i386-pc-eltorito, or the hybrid MBR
//! on a USB stick) → [`core_config`] → `boot/grub/grub.cfg`
//! ([`render_grub_cfg`]); UEFI → `boot/efiboot.img` (shim as BOOTX64.EFI,
//! the image's grubx64.efi) → [`efi_forwarder`] → the same grub.cfg. Both
//! boot the image's own kernel with the image's initramfs plus
//! `boot/mk-install.cpio`, whose systemd unit runs `mk-node install`.

use crate::media::VOLUME_LABEL;

/// The ISO's own GRUB script.
pub const GRUB_CFG: &str = "boot/grub/grub.cfg";
pub const KERNEL: &str = "boot/vmlinuz";
pub const INITRAMFS: &str = "boot/initramfs.img";
pub const INSTALL_CPIO: &str = "boot/mk-install.cpio";
pub const EFIBOOT: &str = "boot/efiboot.img";
/// The BIOS El Torito image: hidden from the directory tree, since
/// xorriso patches its boot info table into it (its bytes are not known
/// when the MANIFEST is signed).
pub const ELTORITO: &str = "boot/grub/i386-pc/eltorito.img";
pub const BOOT_CATALOG: &str = "boot/boot.cat";
/// Where the install step lives inside the initramfs.
pub const STEP_DIR: &str = "usr/lib/mk-install";
/// GRUB modules built into the El Torito image.
pub const ELTORITO_MODULES: &[&str] = &[
    "biosdisk",
    "iso9660",
    "part_msdos",
    "part_gpt",
    "search",
    "search_fs_file",
    "normal",
    "configfile",
    "linux16",
    "test",
    "echo",
    "boot",
    "serial",
    "terminal",
];
/// A file only the installer ISO has: GRUB finds its volume by it.
const MARKER: &str = "/install/image.json";

/// Config embedded in the El Torito image (and read from the ESP-like
/// efiboot.img on UEFI): find the ISO volume, read its grub.cfg.
pub fn core_config() -> String {
    format!("search --no-floppy --set=root --file {MARKER}\nset prefix=($root)/boot/grub\n")
}

/// `grub.cfg` in efiboot.img's EFI/BOOT and in the vendor-signed GRUB's
/// prefix (EFI/centos, EFI/debian).
pub fn efi_forwarder() -> String {
    format!("{}configfile /{GRUB_CFG}\n", core_config())
}

/// What the ISO's grub.cfg boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    pub version: String,
    /// The image's kernel arguments (slot.cfg's mk_args).
    pub image_args: Vec<String>,
    /// `mk.install.disk=` to bake in, if any.
    pub disk: Option<String>,
}

/// Kernel arguments of the installer: the image's console and SELinux
/// arguments, `mk.install` (the unit's condition), and a root that never
/// appears so that dracut waits (forever: rd.timeout=0) while the install
/// step works and reboots; dracut refuses to start without any root=.
pub fn installer_args(entry: &BootEntry) -> Vec<String> {
    let mut args: Vec<String> = entry
        .image_args
        .iter()
        .filter(|a| !a.starts_with("root=") && !a.starts_with("mk.slot=") && *a != "ro")
        .cloned()
        .collect();
    args.push("mk.install".into());
    args.push("root=LABEL=MK-NO-ROOT".into());
    args.push("rd.timeout=0".into());
    if let Some(d) = &entry.disk {
        args.push(format!("mk.install.disk={d}"));
    }
    args
}

/// `boot/grub/grub.cfg` of the ISO.
pub fn render_grub_cfg(entry: &BootEntry) -> String {
    let args = installer_args(entry).join(" ");
    let serial = entry
        .image_args
        .iter()
        .rev()
        .find_map(|a| a.strip_prefix("console=ttyS"))
        .map(|rest| {
            let (unit, opts) = rest.split_once(',').unwrap_or((rest, ""));
            let speed: String = opts.chars().take_while(char::is_ascii_digit).collect();
            let speed = if speed.is_empty() { "9600".into() } else { speed };
            format!(
                "serial --unit={unit} --speed={speed}\nterminal_input serial console\nterminal_output serial console\n"
            )
        })
        .unwrap_or_default();
    format!(
        "# mk installer ISO (written by mk-compose installer; docs/install.md)\n\
         {serial}set timeout=5\n\
         set default=0\n\
         menuentry \"Install mk {v} (ERASES the target disk)\" {{\n\
         \x20 if [ \"$grub_platform\" = efi ]; then\n\
         \x20   linuxefi /{KERNEL} {args}\n\
         \x20   initrdefi /{INITRAMFS} /{INSTALL_CPIO}\n\
         \x20 else\n\
         \x20   linux16 /{KERNEL} {args}\n\
         \x20   initrd16 /{INITRAMFS} /{INSTALL_CPIO}\n\
         \x20 fi\n\
         }}\n",
        v = entry.version,
    )
}

/// The systemd unit that runs the install step in the initramfs.
pub fn unit() -> String {
    format!(
        "# mk install step (mk-compose installer; docs/install.md)\n\
         [Unit]\n\
         Description=mk: install the node image onto this machine's disk\n\
         DefaultDependencies=no\n\
         ConditionKernelCommandLine=mk.install\n\
         After=systemd-udev-trigger.service systemd-udevd.service\n\
         Before=initrd-root-device.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart=/{STEP_DIR}/run\n\
         StandardOutput=journal+console\n\
         StandardError=journal+console\n"
    )
}

/// The script the unit runs: wait for the media, install, reboot; on a
/// failure say so on the console and stay (nothing bootable was written).
pub fn run_script() -> String {
    format!(
        r#"#!/bin/sh
# mk install step (mk-compose installer; docs/install.md). mk-node runs
# with the image's own dynamic loader and libraries from {STEP_DIR}.
d=/{STEP_DIR}
media=/dev/disk/by-label/{VOLUME_LABEL}
i=0
while [ ! -e "$media" ] && [ "$i" -lt 300 ]; do sleep 1; i=$((i + 1)); done
if "$d/ld-linux-x86-64.so.2" --library-path "$d" "$d/mk-node" install --media "$media" --trust /etc/mk/install.pub; then
    # mk-node synced the disk itself (dracut initramfs have no `sync`).
    echo "mk: install done, rebooting into the installed system"
    systemctl --no-block --force reboot
else
    echo "mk: INSTALL FAILED (see above); the disk holds no bootable half image. Fix the cause and reboot."
    exit 1
fi
"#
    )
}

/// One entry of the install cpio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpioEntry {
    Dir(String),
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Symlink {
        path: String,
        target: String,
    },
}

/// A `newc` cpio archive (what the kernel unpacks), every time set to
/// `mtime`, inode numbers in order: the same entries give the same bytes.
pub fn cpio(entries: &[CpioEntry], mtime: u64) -> Vec<u8> {
    fn pad(out: &mut Vec<u8>) {
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    let mut out = Vec::new();
    let mut push = |ino: usize, name: &str, mode: u32, data: &[u8]| {
        let fields = [
            ino as u64,
            u64::from(mode),
            0,
            0,
            if mode & 0o170000 == 0o040000 { 2 } else { 1 },
            mtime,
            data.len() as u64,
            0,
            0,
            0,
            0,
            name.len() as u64 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{:08x}", f as u32).as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        pad(&mut out);
        out.extend_from_slice(data);
        pad(&mut out);
    };
    for (i, e) in entries.iter().enumerate() {
        match e {
            CpioEntry::Dir(p) => push(i + 1, p, 0o040755, &[]),
            CpioEntry::File { path, mode, data } => push(i + 1, path, 0o100000 | mode, data),
            CpioEntry::Symlink { path, target } => push(i + 1, path, 0o120777, target.as_bytes()),
        }
    }
    push(0, "TRAILER!!!", 0, &[]);
    out
}

/// The install step's entries, given mk-node and the libraries it needs
/// (file name, bytes), and the public key.
pub fn step_entries(mk_node: Vec<u8>, libs: Vec<(String, Vec<u8>)>, key: &str) -> Vec<CpioEntry> {
    let mut e = Vec::new();
    for d in [
        "etc",
        "etc/mk",
        "etc/systemd",
        "etc/systemd/system",
        "etc/systemd/system/initrd.target.wants",
        "usr",
        "usr/lib",
        STEP_DIR,
    ] {
        e.push(CpioEntry::Dir(d.into()));
    }
    e.push(CpioEntry::File {
        path: "etc/mk/install.pub".into(),
        mode: 0o644,
        data: key.as_bytes().to_vec(),
    });
    e.push(CpioEntry::File {
        path: "etc/systemd/system/mk-install.service".into(),
        mode: 0o644,
        data: unit().into_bytes(),
    });
    e.push(CpioEntry::Symlink {
        path: "etc/systemd/system/initrd.target.wants/mk-install.service".into(),
        target: "../mk-install.service".into(),
    });
    e.push(CpioEntry::File {
        path: format!("{STEP_DIR}/run"),
        mode: 0o755,
        data: run_script().into_bytes(),
    });
    e.push(CpioEntry::File {
        path: format!("{STEP_DIR}/mk-node"),
        mode: 0o755,
        data: mk_node,
    });
    for (name, data) in libs {
        e.push(CpioEntry::File {
            path: format!("{STEP_DIR}/{name}"),
            mode: 0o755,
            data,
        });
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_cfg_boots_the_image_kernel_with_the_install_step() {
        let cfg = render_grub_cfg(&BootEntry {
            version: "1.2.3".into(),
            image_args: ["ro", "selinux=1", "enforcing=1", "console=ttyS0,115200"]
                .map(String::from)
                .to_vec(),
            disk: Some("/dev/disk/by-id/virtio-NODE1".into()),
        });
        assert!(cfg.contains("serial --unit=0 --speed=115200"), "{cfg}");
        assert!(cfg.contains("linuxefi /boot/vmlinuz selinux=1 enforcing=1 console=ttyS0,115200 mk.install root=LABEL=MK-NO-ROOT rd.timeout=0 mk.install.disk=/dev/disk/by-id/virtio-NODE1\n"), "{cfg}");
        assert!(
            cfg.contains("initrd16 /boot/initramfs.img /boot/mk-install.cpio"),
            "{cfg}"
        );
    }

    #[test]
    fn cpio_is_newc_and_padded() {
        let a = cpio(
            &step_entries(
                b"ELF".to_vec(),
                vec![("libc.so.6".into(), vec![1, 2, 3])],
                "key",
            ),
            1_700_000_000,
        );
        assert_eq!(&a[..6], b"070701");
        assert_eq!(a.len() % 4, 0);
        assert!(a.windows(10).any(|w| w == b"TRAILER!!!"));
        assert_eq!(
            a,
            cpio(
                &step_entries(
                    b"ELF".to_vec(),
                    vec![("libc.so.6".into(), vec![1, 2, 3])],
                    "key"
                ),
                1_700_000_000
            )
        );
    }
}
