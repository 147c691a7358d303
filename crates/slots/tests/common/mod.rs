//! A small synthetic node disk with the boot contract's layout (docs/update.md):
//! GPT `esp` (FAT32, mtools), `bios-boot`, `root-a` (ext4 from mke2fs -d),
//! `root-b` (empty), `state`; ESP files EFI/mk/grubenv and mk/a/{vmlinuz,
//! initramfs.img,slot.cfg}. Built with the real tools (sgdisk, mformat,
//! mcopy, mke2fs) rather than a full node image.

#![allow(dead_code)]

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const MIB: u64 = 1 << 20;
pub const ESP_MIB: u64 = 34;

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn mtools(program: &str, img: &Path, offset: u64) -> Command {
    let mut c = Command::new(program);
    c.env("MTOOLSRC", "/dev/null")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@{offset}", img.display()));
    c
}

/// A fake bzImage: just the setup header's version pointer.
pub fn fake_kernel(version: &str) -> Vec<u8> {
    let mut k = vec![0x5au8; 0x1000];
    k[0x202..0x206].copy_from_slice(b"HdrS");
    k[0x20e..0x210].copy_from_slice(&0x200u16.to_le_bytes());
    let text = format!("{version} (builder@test) #1 SMP\0");
    k[0x400..0x400 + text.len()].copy_from_slice(text.as_bytes());
    k
}

pub struct Spec {
    pub version: &'static str,
    pub root_mib: u64,
    pub with_root_b: bool,
}

pub struct Synth {
    pub path: PathBuf,
    pub esp_offset: u64,
}

/// Builds the disk image at `dir/name`.
pub fn build(dir: &Path, name: &str, spec: &Spec) -> Synth {
    build_with_data(dir, name, spec, 0)
}

/// As [`build`], with `random_mib` MiB of incompressible files in the root.
pub fn build_with_data(dir: &Path, name: &str, spec: &Spec, random_mib: u64) -> Synth {
    let path = dir.join(name);
    let total = 1 + ESP_MIB + 1 + spec.root_mib * 2 + 4 + 1;
    std::fs::File::create(&path)
        .unwrap()
        .set_len(total * MIB)
        .unwrap();
    let mut sg = Command::new("sgdisk");
    sg.arg("-o")
        .args([
            "-n",
            &format!("1:2048:+{ESP_MIB}M"),
            "-c",
            "1:esp",
            "-t",
            "1:ef00",
        ])
        .args(["-n", "2:0:+1M", "-c", "2:bios-boot", "-t", "2:ef02"])
        .args(["-n", &format!("3:0:+{}M", spec.root_mib), "-c", "3:root-a"]);
    if spec.with_root_b {
        sg.args(["-n", &format!("4:0:+{}M", spec.root_mib), "-c", "4:root-b"]);
    }
    sg.args(["-n", "5:0:+4M", "-c", "5:state"]).arg(&path);
    run(&mut sg);
    let esp_offset = 2048 * 512;
    // As crates/disk formats it: the partition's size, hidden sectors.
    run(mtools("mformat", &path, esp_offset)
        .args(["-F", "-T", &(ESP_MIB * 2048).to_string(), "-H", "2048"])
        .args(["-v", "ESP", "::"]));
    for d in ["::EFI", "::EFI/mk", "::mk", "::mk/a"] {
        run(mtools("mmd", &path, esp_offset).arg(d));
    }
    let staging = tempfile::tempdir().unwrap();
    let mut env = mk_grubenv::GrubEnv::new();
    env.set("mk_default", "a").unwrap();
    env.set("mk_next", "").unwrap();
    env.set("mk_tries", "0").unwrap();
    let initramfs: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let files: [(&str, Vec<u8>); 4] = [
        ("EFI/mk/grubenv", env.render().unwrap()),
        (
            "mk/a/vmlinuz",
            fake_kernel(&format!("6.1.0-{}-amd64", spec.version)),
        ),
        ("mk/a/initramfs.img", initramfs),
        (
            "mk/a/slot.cfg",
            format!(
                "set mk_version=\"{}\"\nset mk_args=\"ro panic=10 console=ttyS0,115200\"\n",
                spec.version
            )
            .into_bytes(),
        ),
    ];
    for (i, (dst, bytes)) in files.iter().enumerate() {
        let src = staging.path().join(i.to_string());
        std::fs::write(&src, bytes).unwrap();
        run(mtools("mcopy", &path, esp_offset)
            .arg(&src)
            .arg(format!("::{dst}")));
    }
    // root-a: an ext4 whose content names the version.
    let tree = staging.path().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(
        tree.join("etc/mk-release"),
        format!("mk {}\n", spec.version),
    )
    .unwrap();
    if random_mib > 0 {
        std::fs::create_dir_all(tree.join("usr")).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..random_mib {
            let chunk: Vec<u8> = (0..MIB / 8)
                .flat_map(|_| {
                    // xorshift: fast, and incompressible for zstd.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()
                })
                .collect();
            std::fs::write(tree.join(format!("usr/blob{i}")), chunk).unwrap();
        }
    }
    let ext4 = staging.path().join("root.ext4");
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&tree)
        .arg(&ext4)
        .arg(format!("{}M", spec.root_mib))
        .env("E2FSPROGS_FAKE_TIME", "1700000000"));
    let root_a = part(&path, "root-a");
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(root_a.offset)).unwrap();
    f.write_all(&std::fs::read(&ext4).unwrap()).unwrap();
    Synth { path, esp_offset }
}

pub fn part(disk: &Path, name: &str) -> mk_slots::disk::Partition {
    let d = mk_slots::disk::SlotDisk::read(disk).unwrap();
    [Some(d.esp), Some(d.root_a), d.root_b]
        .into_iter()
        .flatten()
        .find(|p| p.name == name)
        .unwrap()
}

pub fn sha_range(disk: &Path, offset: u64, len: u64) -> String {
    let f = std::fs::File::open(disk).unwrap();
    mk_durable::Digest::read_back(&f, offset, len)
        .unwrap()
        .hex()
}

pub fn sha_file(path: &Path) -> String {
    let len = std::fs::metadata(path).unwrap().len();
    sha_range(path, 0, len)
}

pub fn esp_read(disk: &Path, esp_offset: u64, rel: &str) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("f");
    run(mtools("mcopy", disk, esp_offset)
        .arg(format!("::{rel}"))
        .arg(&out));
    std::fs::read(out).unwrap()
}

/// `grub-editenv list` of the disk's grubenv.
pub fn grubenv_list(disk: &Path, esp_offset: u64) -> String {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("grubenv");
    std::fs::write(&f, esp_read(disk, esp_offset, "EFI/mk/grubenv")).unwrap();
    run(Command::new("grub-editenv").arg(&f).arg("list"))
}

/// A signed bundle with `raw`'s node image (and nothing else).
pub fn bundle(dir: &Path, name: &str, raw: &Path, key: &mk_bundle::SecretKey) -> PathBuf {
    let staging = dir.join(format!("{name}.staging"));
    std::fs::create_dir_all(&staging).unwrap();
    mk_slots::node_image::stage(raw, &staging).unwrap();
    let out = dir.join(name);
    mk_bundle::finish_bundle(
        &staging,
        &out,
        key,
        &mk_bundle::BundleOptions {
            name: "mk".into(),
            version: "test".into(),
            volume_label: "MK_BUNDLE".into(),
            source_date_epoch: 1_700_000_000,
        },
    )
    .unwrap();
    out
}
