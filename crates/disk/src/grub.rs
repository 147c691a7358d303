//! GRUB 2 boot path (issue 14, boot contract in docs/image.md): the boot
//! script `EFI/mk/grub.cfg`, each slot's `slot.cfg`, the initial grubenv,
//! the early config embedded in the BIOS core.img, and the two patches
//! `grub-bios-setup` applies to boot.img and core.img (GRUB's
//! util/setup.c with `--no-rs-codes`). All pure: text and bytes in, text
//! and bytes out.

use uuid::Uuid;

/// Shim, loaded by the firmware from the removable-media path.
pub const SHIM: &str = "EFI/BOOT/BOOTX64.EFI";
/// GRUB for UEFI, loaded by shim from its own directory.
pub const GRUB_EFI: &str = "EFI/BOOT/grubx64.efi";
/// Our boot script, the same for every image version.
pub const GRUB_CFG: &str = "EFI/mk/grub.cfg";
/// The GRUB environment block with the slot state.
pub const GRUBENV: &str = "EFI/mk/grubenv";

/// Modules embedded in the BIOS core.img: the ESP is read with them (no
/// module directory on the ESP), and the boot script's commands.
pub const CORE_MODULES: &[&str] = &[
    "biosdisk",
    "part_gpt",
    "fat",
    "search",
    "search_fs_uuid",
    "normal",
    "configfile",
    "loadenv",
    "test",
    "echo",
    "linux16",
    "boot",
    "serial",
    "terminal",
];

/// A root slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
    /// `mk/a` or `mk/b` on the ESP.
    pub fn dir(self) -> String {
        format!("mk/{}", self.as_str())
    }
    pub fn kernel(self) -> String {
        format!("{}/vmlinuz", self.dir())
    }
    pub fn initramfs(self) -> String {
        format!("{}/initramfs.img", self.dir())
    }
    pub fn slot_cfg(self) -> String {
        format!("{}/slot.cfg", self.dir())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrubError {
    #[error("{field}: {value:?} {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("{what}: {reason}")]
    Image { what: &'static str, reason: String },
    #[error("grubenv: {0}")]
    Env(String),
}

/// Kernel arguments every node boots with, besides `root=` and `mk.slot=`
/// (grub.cfg adds those): read-only root (readonly-root), no kernel memory
/// accounting in memory cgroups (R8: CentOS 7's kernel leaks kmem caches
/// with it on), SELinux enforcing (R13), and a reboot 10 s after a panic,
/// so that a slot on trial that cannot boot uses up its tries by itself.
pub fn fixed_kernel_args() -> Vec<String> {
    [
        "ro",
        "cgroup.memory=nokmem",
        "selinux=1",
        "security=selinux",
        "enforcing=1",
        "panic=10",
    ]
    .map(String::from)
    .to_vec()
}

/// Characters GRUB would interpret inside a double-quoted value.
fn check_value(field: &'static str, value: &str, word: bool) -> Result<(), GrubError> {
    let bad = |reason| {
        Err(GrubError::Invalid {
            field,
            value: value.to_string(),
            reason,
        })
    };
    if value.trim().is_empty() {
        return bad("must not be empty");
    }
    if value.chars().any(char::is_control) {
        return bad("must not contain control characters or newlines");
    }
    if value.contains(['"', '$', '\\']) {
        return bad("must not contain \", $ or \\ (GRUB would expand them)");
    }
    if word && value.contains(char::is_whitespace) {
        return bad("must be one word each");
    }
    Ok(())
}

/// The fixed arguments followed by `extra` (console=..., the kickstart's
/// `bootloader --append`). An extra `enforcing=` / `selinux=` replaces the
/// fixed one: libselinux reads the first `enforcing=` on the command line,
/// so appending `enforcing=0` after `enforcing=1` would leave a permissive
/// image enforcing. `root=` and `mk.slot=` belong to grub.cfg.
pub fn slot_kernel_args(extra: &[String]) -> Result<Vec<String>, GrubError> {
    for o in extra {
        check_value("kernel argument", o, true)?;
        if o.starts_with("root=") || o.starts_with("mk.slot=") {
            return Err(GrubError::Invalid {
                field: "kernel argument",
                value: o.clone(),
                reason: "is set by the boot script for the slot it boots",
            });
        }
    }
    let mut args = fixed_kernel_args();
    for key in ["enforcing=", "selinux=", "panic="] {
        if extra.iter().any(|o| o.starts_with(key)) {
            args.retain(|o| !o.starts_with(key));
        }
    }
    args.extend(extra.iter().cloned());
    Ok(args)
}

/// `mk/<slot>/slot.cfg`: the image's version and kernel arguments, the same
/// bytes whichever slot it lands in. `args` are the whole argument list
/// ([`slot_kernel_args`]).
pub fn render_slot_cfg(version: &str, args: &[String]) -> Result<String, GrubError> {
    check_value("image version", version, true)?;
    if args.is_empty() {
        return Err(GrubError::Invalid {
            field: "kernel arguments",
            value: String::new(),
            reason: "must not be empty",
        });
    }
    for a in args {
        check_value("kernel argument", a, true)?;
    }
    Ok(format!(
        "set mk_version=\"{version}\"\nset mk_args=\"{}\"\n",
        args.join(" ")
    ))
}

/// A serial port for GRUB's own console on BIOS (UEFI firmware already
/// mirrors its console to the serial port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialConsole {
    pub unit: u32,
    pub speed: u32,
}

/// The serial console the kernel is told to use: the last
/// `console=ttyS<N>[,<speed>...]` (the kernel's /dev/console), if any.
pub fn serial_console(args: &[String]) -> Option<SerialConsole> {
    let last = args.iter().rev().find(|a| a.starts_with("console="))?;
    let rest = last.strip_prefix("console=ttyS")?;
    let (unit, opts) = rest.split_once(',').unwrap_or((rest, ""));
    let unit = unit.parse().ok()?;
    let digits: String = opts.chars().take_while(char::is_ascii_digit).collect();
    let speed = digits.parse().unwrap_or(9600);
    Some(SerialConsole { unit, speed })
}

/// What the boot script is rendered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubCfg {
    /// PARTUUIDs of the root slots.
    pub root_a: Uuid,
    pub root_b: Uuid,
    pub serial: Option<SerialConsole>,
}

/// `EFI/mk/grub.cfg` (boot contract): read the grubenv, pick the slot,
/// count the tries of a slot on trial, boot. Paths are relative to `$root`,
/// the ESP (where GRUB was loaded from on UEFI; found by the core.img's
/// early config on BIOS). The kernel commands are CentOS 7's
/// (`linuxefi`/`initrdefi` on UEFI, `linux16`/`initrd16` on BIOS), which
/// Debian's GRUB has as well.
pub fn render_grub_cfg(cfg: &GrubCfg) -> String {
    let mut s = String::new();
    s.push_str(
        "# mk boot script (written by mk-compose image; the same for every image\n\
         # version). Slot state in EFI/mk/grubenv: mk_default (a|b) boots normally;\n\
         # mk_next (a|b or empty) is a slot on trial with mk_tries (3..0) boots left.\n\
         # Each slot's version and kernel arguments: mk/<slot>/slot.cfg.\n",
    );
    if let Some(sc) = cfg.serial {
        s.push_str(&format!(
            "if [ \"$grub_platform\" = pc ]; then\n\
             \x20 serial --unit={} --speed={}\n\
             \x20 terminal_input serial console\n\
             \x20 terminal_output serial console\n\
             fi\n",
            sc.unit, sc.speed
        ));
    }
    s.push_str(&format!(
        r#"set timeout=0
set mk_env=/{GRUBENV}
set mk_default=
set mk_next=
set mk_tries=
load_env -f "$mk_env" mk_default mk_next mk_tries

# Unreadable grubenv or an unknown mk_default: slot a.
set mk_slot=a
if [ "$mk_default" = b ]; then set mk_slot=b; fi
if [ "$mk_next" = a -o "$mk_next" = b ]; then
  set mk_trial=n
  if [ "$mk_tries" = 3 ]; then set mk_tries=2; set mk_trial=y
  elif [ "$mk_tries" = 2 ]; then set mk_tries=1; set mk_trial=y
  elif [ "$mk_tries" = 1 ]; then set mk_tries=0; set mk_trial=y
  fi
  if [ "$mk_trial" = y ]; then
    set mk_slot="$mk_next"
    save_env -f "$mk_env" mk_tries
    echo "mk: slot $mk_next on trial, $mk_tries tries left after this boot"
  else
    echo "mk: slot $mk_next used up its tries, back to slot $mk_slot"
    set mk_next=
    save_env -f "$mk_env" mk_next
  fi
elif [ -n "$mk_next" ]; then
  echo "mk: ignoring mk_next=$mk_next (neither a nor b)"
  set mk_next=
  save_env -f "$mk_env" mk_next
fi

function mk_boot {{
  if [ "$1" = b ]; then set mk_root=PARTUUID={b}; else set mk_root=PARTUUID={a}; fi
  set mk_version=
  set mk_args=
  source "/mk/$1/slot.cfg"
  echo "mk: booting slot $1 (version $mk_version)"
  if [ "$grub_platform" = efi ]; then
    linuxefi "/mk/$1/vmlinuz" root=$mk_root mk.slot=$1 $mk_args
    initrdefi "/mk/$1/initramfs.img"
  else
    linux16 "/mk/$1/vmlinuz" root=$mk_root mk.slot=$1 $mk_args
    initrd16 "/mk/$1/initramfs.img"
  fi
  boot
}}

mk_boot "$mk_slot"
# Only reached when that slot's files did not load: try the other one.
if [ "$mk_slot" = a ]; then set mk_slot=b; else set mk_slot=a; fi
echo "mk: falling back to slot $mk_slot"
mk_boot "$mk_slot"
"#,
        a = cfg.root_a,
        b = cfg.root_b,
    ));
    s
}

/// The one-line `grub.cfg` in a vendor-signed GRUB's fixed prefix
/// (`EFI/centos`, `EFI/debian`) that forwards to ours.
pub fn render_forwarder() -> String {
    format!("configfile /{GRUB_CFG}\n")
}

/// How GRUB names a FAT volume serial (`search --fs-uuid`, `ls`).
pub fn fat_uuid(serial: u32) -> String {
    format!("{:04x}-{:04x}", serial >> 16, serial & 0xffff)
}

/// The config embedded in the BIOS core.img: find the ESP by its FAT
/// volume serial, and let normal mode read `$prefix/grub.cfg`, ours.
pub fn render_core_config(esp_serial: u32) -> String {
    format!(
        "search --no-floppy --fs-uuid --set=root {}\nset prefix=($root)/EFI/mk\n",
        fat_uuid(esp_serial)
    )
}

/// The grubenv of a fresh image: slot a, nothing on trial.
pub fn initial_grubenv() -> Result<Vec<u8>, GrubError> {
    let mut env = mk_grubenv::GrubEnv::new();
    for (k, v) in [("mk_default", "a"), ("mk_next", ""), ("mk_tries", "0")] {
        env.set(k, v).map_err(|e| GrubError::Env(e.to_string()))?;
    }
    env.render().map_err(|e| GrubError::Env(e.to_string()))
}

const SECTOR: usize = 512;
// include/grub/i386/pc/boot.h
const BPB_START: usize = 0x3;
const BPB_END: usize = 0x5a;
const KERNEL_SECTOR: usize = 0x5c;
const BOOT_DRIVE: usize = 0x64;
const DRIVE_CHECK: usize = 0x66;
/// Boot code ends where the disk signature starts (0x1b8).
pub const MBR_CODE: usize = 0x1b8;
// include/grub/offsets.h
const KERNEL_SEG: u16 = 0x800;
const NO_REED_SOLOMON_LENGTH: usize = 0x14;
const LINK_ADDR: usize = 0x9000;
/// One block list entry: start (u64), sectors (u16), segment (u16).
const LIST_SIZE: usize = 12;
/// What diskboot can load below 0x78000 (util/setup.c's maxsec).
pub const CORE_MAX_SECTORS: u64 = ((0x78000 - LINK_ADDR) / SECTOR) as u64;

/// boot.img patched as grub-bios-setup does for a hard disk, returning the
/// MBR's boot code (its first 440 bytes; the disk signature and partition
/// table of `mbr` stay as they are): the BPB area copied from the current
/// sector 0, boot drive 0xff (use the BIOS's), core.img's first sector at
/// 0x5c, and the drive check's jump replaced by two NOPs (BIOSes that
/// pass a wrong boot drive).
pub fn patch_boot_img(
    boot_img: &[u8],
    mbr: &[u8],
    core_lba: u64,
) -> Result<[u8; MBR_CODE], GrubError> {
    let what = "boot.img";
    if boot_img.len() != SECTOR {
        return Err(GrubError::Image {
            what,
            reason: format!("is {} bytes, expected {SECTOR}", boot_img.len()),
        });
    }
    if boot_img[510..] != [0x55, 0xaa] {
        return Err(GrubError::Image {
            what,
            reason: "has no 0x55aa boot signature: not GRUB's i386-pc boot.img".into(),
        });
    }
    if mbr.len() != SECTOR {
        return Err(GrubError::Image {
            what: "sector 0",
            reason: format!("is {} bytes, expected {SECTOR}", mbr.len()),
        });
    }
    let mut out = [0u8; MBR_CODE];
    out.copy_from_slice(&boot_img[..MBR_CODE]);
    out[BPB_START..BPB_END].copy_from_slice(&mbr[BPB_START..BPB_END]);
    out[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    out[BOOT_DRIVE] = 0xff;
    out[DRIVE_CHECK..DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);
    Ok(out)
}

/// core.img as grub-bios-setup writes it into a BIOS boot partition at
/// `core_lba` (contiguous sectors, no Reed-Solomon codes): the block list
/// at the end of its first sector (diskboot) points at the rest, loaded
/// from segment 0x820 on; padded to whole sectors. `room` is the
/// partition's size in sectors.
pub fn patch_core_img(core: &[u8], core_lba: u64, room: u64) -> Result<Vec<u8>, GrubError> {
    let what = "core.img";
    let bad = |reason: String| Err(GrubError::Image { what, reason });
    if core.len() < 2 * SECTOR {
        return bad(format!("is {} bytes: too small", core.len()));
    }
    let sectors = core.len().div_ceil(SECTOR) as u64;
    if sectors > CORE_MAX_SECTORS || sectors > 0xffff {
        return bad(format!(
            "is {sectors} sectors; diskboot loads at most {CORE_MAX_SECTORS}"
        ));
    }
    if sectors > room {
        return bad(format!(
            "is {sectors} sectors; the BIOS boot partition has {room}"
        ));
    }
    let nors = u16::from_le_bytes([
        core[SECTOR + NO_REED_SOLOMON_LENGTH],
        core[SECTOR + NO_REED_SOLOMON_LENGTH + 1],
    ]);
    if nors == 0xffff {
        return bad("version mismatch (no-Reed-Solomon length 0xffff): not an i386-pc core.img made by grub-mkimage".into());
    }
    let mut img = core.to_vec();
    img.resize(sectors as usize * SECTOR, 0);
    // Clear the lists grub-mkimage left, from the first (at the end of the
    // sector) backwards, up to the terminator.
    let first = SECTOR - LIST_SIZE;
    let mut at = first;
    loop {
        let len = u16::from_le_bytes([img[at + 8], img[at + 9]]);
        if len == 0 {
            break;
        }
        img[at..at + LIST_SIZE].fill(0);
        if at < LIST_SIZE {
            return bad("no block list terminator in the first sector".into());
        }
        at -= LIST_SIZE;
    }
    // The first sector is diskboot itself (boot.img loads it); one list
    // entry covers the rest, which follows it on disk.
    let mut entry = [0u8; LIST_SIZE];
    entry[..8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    entry[8..10].copy_from_slice(&((sectors - 1) as u16).to_le_bytes());
    entry[10..12].copy_from_slice(&(KERNEL_SEG + (SECTOR as u16 >> 4)).to_le_bytes());
    img[first..first + LIST_SIZE].copy_from_slice(&entry);
    img[first - LIST_SIZE..first].fill(0);
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn cfg() -> GrubCfg {
        GrubCfg {
            root_a: uuid::uuid!("0d0e0f10-1112-4314-9516-1718191a1b1c"),
            root_b: uuid::uuid!("2d2e2f30-3132-4334-9536-3738393a3b3c"),
            serial: Some(SerialConsole {
                unit: 0,
                speed: 115200,
            }),
        }
    }

    /// `grub-script-check` (grub-common) judges a script.
    fn script_check(name: &str, text: &str) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        let out = Command::new("grub-script-check")
            .arg(&p)
            .output()
            .expect("grub-script-check (apt grub-common)");
        assert!(
            out.status.success(),
            "grub-script-check {name}: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn every_script_we_render_passes_grub_script_check() {
        script_check("grub.cfg", &render_grub_cfg(&cfg()));
        let mut c = cfg();
        c.serial = None;
        script_check("grub-noserial.cfg", &render_grub_cfg(&c));
        let args = slot_kernel_args(&["console=ttyS0,115200".into()]).unwrap();
        script_check("slot.cfg", &render_slot_cfg("1.4.0", &args).unwrap());
        script_check("forward.cfg", &render_forwarder());
        script_check("core.cfg", &render_core_config(0x1234abcd));
    }

    #[test]
    fn a_broken_script_fails_the_check() {
        // The judge can fail: an unterminated if is refused.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bad.cfg");
        std::fs::write(&p, "if [ a = a ]; then\n echo x\n").unwrap();
        let st = Command::new("grub-script-check").arg(&p).status().unwrap();
        assert!(!st.success());
    }

    #[test]
    fn boot_script_boots_each_slot_by_its_partuuid() {
        let text = render_grub_cfg(&cfg());
        assert!(text.contains(
            "if [ \"$1\" = b ]; then set mk_root=PARTUUID=2d2e2f30-3132-4334-9536-3738393a3b3c; else set mk_root=PARTUUID=0d0e0f10-1112-4314-9516-1718191a1b1c; fi"
        ));
        assert!(text.contains("load_env -f \"$mk_env\" mk_default mk_next mk_tries\n"));
        assert!(text.contains("set mk_env=/EFI/mk/grubenv\n"));
        assert!(text.contains("source \"/mk/$1/slot.cfg\""));
        assert!(text.contains("linuxefi \"/mk/$1/vmlinuz\" root=$mk_root mk.slot=$1 $mk_args\n"));
        assert!(text.contains("linux16 \"/mk/$1/vmlinuz\" root=$mk_root mk.slot=$1 $mk_args\n"));
        assert!(text.contains("serial --unit=0 --speed=115200\n"));
        // tries count down 3 -> 2 -> 1 -> 0, each saved before booting.
        for (from, to) in [(3, 2), (2, 1), (1, 0)] {
            assert!(
                text.contains(&format!(
                    "[ \"$mk_tries\" = {from} ]; then set mk_tries={to}; set mk_trial=y"
                )),
                "{from}->{to}"
            );
        }
        let saved = text.find("save_env -f \"$mk_env\" mk_tries").unwrap();
        let booted = text.find("mk_boot \"$mk_slot\"").unwrap();
        assert!(saved < booted);
        let mut c = cfg();
        c.serial = None;
        assert!(!render_grub_cfg(&c).contains("serial"));
    }

    #[test]
    fn slot_cfg_holds_version_and_args() {
        let args = slot_kernel_args(&["console=ttyS0,115200".into()]).unwrap();
        assert_eq!(
            render_slot_cfg("1.4.0", &args).unwrap(),
            "set mk_version=\"1.4.0\"\nset mk_args=\"ro cgroup.memory=nokmem selinux=1 security=selinux enforcing=1 panic=10 console=ttyS0,115200\"\n"
        );
        let err = render_slot_cfg("1.4\"; reboot", &args).unwrap_err();
        assert!(err.to_string().contains("image version"), "{err}");
        assert!(render_slot_cfg("1.0", &["a$b".into()]).is_err());
        assert!(render_slot_cfg("1.0", &[]).is_err());
        assert!(render_slot_cfg("", &args).is_err());
    }

    #[test]
    fn an_extra_selinux_mode_replaces_the_fixed_one() {
        let args = slot_kernel_args(&["enforcing=0".into(), "quiet".into()]).unwrap();
        assert_eq!(
            args.iter().filter(|a| a.starts_with("enforcing=")).count(),
            1
        );
        assert!(args.contains(&"enforcing=0".to_string()));
        assert_eq!(args.last().unwrap(), "quiet");
        assert!(args.contains(&"panic=10".to_string()));
        let err = slot_kernel_args(&["root=/dev/sda1".into()]).unwrap_err();
        assert!(err.to_string().contains("root=/dev/sda1"), "{err}");
        assert!(slot_kernel_args(&["a b".into()]).is_err());
        assert!(slot_kernel_args(&["x\n".into()]).is_err());
    }

    #[test]
    fn serial_console_follows_the_last_console_argument() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            serial_console(&a(&["console=tty0", "console=ttyS1,57600n8"])),
            Some(SerialConsole {
                unit: 1,
                speed: 57600
            })
        );
        assert_eq!(
            serial_console(&a(&["console=ttyS0,115200", "console=tty0"])),
            None
        );
        assert_eq!(
            serial_console(&a(&["console=ttyS0"])),
            Some(SerialConsole {
                unit: 0,
                speed: 9600
            })
        );
        assert_eq!(serial_console(&a(&["quiet"])), None);
    }

    #[test]
    fn core_config_finds_the_esp_by_fat_serial() {
        assert_eq!(fat_uuid(0x0a0b_c0d0), "0a0b-c0d0");
        assert_eq!(
            render_core_config(0xdead_beef),
            "search --no-floppy --fs-uuid --set=root dead-beef\nset prefix=($root)/EFI/mk\n"
        );
    }

    #[test]
    fn initial_grubenv_is_what_grub_editenv_reads() {
        let env = initial_grubenv().unwrap();
        assert_eq!(env.len(), 1024);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("grubenv");
        std::fs::write(&p, &env).unwrap();
        let out = Command::new("grub-editenv")
            .arg(&p)
            .arg("list")
            .output()
            .expect("grub-editenv (apt grub-common)");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "mk_default=a\nmk_next=\nmk_tries=0\n"
        );
    }

    /// A boot.img-shaped sector: GRUB's jump, a recognisable body, 0x55aa.
    fn fake_boot_img() -> Vec<u8> {
        let mut b: Vec<u8> = (0..512u32).map(|i| (i % 251) as u8).collect();
        b[0] = 0xeb;
        b[1] = 0x63;
        b[DRIVE_CHECK..DRIVE_CHECK + 2].copy_from_slice(&[0xeb, 0x05]);
        b[510] = 0x55;
        b[511] = 0xaa;
        b
    }

    #[test]
    fn boot_img_patch_sets_core_sector_drive_and_keeps_the_bpb() {
        let boot = fake_boot_img();
        let mut mbr = vec![0u8; 512];
        mbr[BPB_START..BPB_END].fill(0x42);
        mbr[0x1b8..0x1bc].copy_from_slice(&[1, 2, 3, 4]);
        let code = patch_boot_img(&boot, &mbr, 0x0001_0800).unwrap();
        assert_eq!(code.len(), 440);
        assert_eq!(&code[..3], &boot[..3]);
        assert!(code[BPB_START..BPB_END].iter().all(|&b| b == 0x42));
        assert_eq!(&code[0x5c..0x64], &[0x00, 0x08, 0x01, 0, 0, 0, 0, 0]);
        assert_eq!(code[0x64], 0xff);
        assert_eq!(&code[0x66..0x68], &[0x90, 0x90]);
        assert_eq!(&code[0x68..], &boot[0x68..440]);
        let mut bad = boot.clone();
        bad[511] = 0;
        assert!(patch_boot_img(&bad, &mbr, 1)
            .unwrap_err()
            .to_string()
            .contains("0x55aa"));
        assert!(patch_boot_img(&boot[..100], &mbr, 1).is_err());
    }

    /// A core.img-shaped image: `sectors` sectors, grub-mkimage's default
    /// block list (start 2, all but the first sector) at the end of the
    /// first, and a valid no-Reed-Solomon length.
    fn fake_core(len: usize) -> Vec<u8> {
        let mut c = vec![0x11u8; len];
        let first = 512 - 12;
        c[first - 12..first].fill(0);
        c[first..first + 8].copy_from_slice(&2u64.to_le_bytes());
        c[first + 8..first + 10].copy_from_slice(&7u16.to_le_bytes());
        c[first + 10..first + 12].copy_from_slice(&0x820u16.to_le_bytes());
        c[512 + 0x14..512 + 0x16].copy_from_slice(&0x200u16.to_le_bytes());
        c
    }

    #[test]
    fn core_img_block_list_points_at_the_partition() {
        let core = fake_core(512 * 7 + 100);
        let img = patch_core_img(&core, 4096, 2048).unwrap();
        assert_eq!(img.len(), 512 * 8);
        let first = 512 - 12;
        assert_eq!(&img[first..first + 8], &4097u64.to_le_bytes());
        assert_eq!(&img[first + 8..first + 10], &7u16.to_le_bytes());
        assert_eq!(&img[first + 10..first + 12], &0x820u16.to_le_bytes());
        assert!(img[first - 12..first].iter().all(|&b| b == 0), "terminator");
        assert_eq!(&img[..first - 12], &core[..first - 12]);
        assert_eq!(&img[512..core.len()], &core[512..]);
        assert!(img[core.len()..].iter().all(|&b| b == 0));
        // Deterministic.
        assert_eq!(img, patch_core_img(&core, 4096, 2048).unwrap());
    }

    #[test]
    fn core_img_must_fit_and_be_grubs() {
        let core = fake_core(512 * 7);
        let err = patch_core_img(&core, 4096, 4).unwrap_err().to_string();
        assert!(err.contains("BIOS boot partition has 4"), "{err}");
        let mut bad = core.clone();
        bad[512 + 0x14..512 + 0x16].copy_from_slice(&[0xff, 0xff]);
        assert!(patch_core_img(&bad, 4096, 2048)
            .unwrap_err()
            .to_string()
            .contains("version mismatch"));
        assert!(patch_core_img(&core[..600], 4096, 2048).is_err());
        let big = fake_core(512 * (CORE_MAX_SECTORS as usize + 1));
        assert!(patch_core_img(&big, 4096, 4096).is_err());
    }
}
