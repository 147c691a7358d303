//! Crafted and damaged drives: each must end quickly with a message that
//! names the cause; drives from our own writer and from the usual tools
//! must read back.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

const CONFIG: &[u8] = include_bytes!("../../../../examples/site/node-config.yaml");
const SIGNATURE: &[u8] = b"untrusted comment: test\nRWQ...\n";

/// A FAT image written byte by byte: boot sector, FATs, root directory
/// with a volume label and long-named files, contiguous data.
struct Img {
    bits: u32,
    bytes: Vec<u8>,
    fat_offset: usize,
    fat_bytes: usize,
    fats: usize,
    data_offset: usize,
    cluster: usize,
    /// (name, first cluster, offset of its short entry).
    files: Vec<(String, u32, usize)>,
    /// Offset of the root directory's label entry.
    label_at: usize,
    next_cluster: u32,
    root_at: usize,
}

impl Img {
    /// An empty filesystem labelled `label` (FAT12: 1.44 MB floppy
    /// layout; FAT16: 10 MiB; FAT32: 33 MiB, the smallest it can be with
    /// 512-byte clusters).
    fn new(bits: u32, label: &str) -> Img {
        let (total, spc, root_entries, fat_sectors, reserved): (usize, usize, usize, usize, usize) =
            match bits {
                12 => (2880, 1, 224, 9, 1),
                16 => (20480, 1, 512, 80, 1),
                _ => (66658, 1, 0, 513, 32),
            };
        let bps = 512;
        let fats = 2;
        let mut b = vec![0u8; total * bps];
        b[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
        b[3..11].copy_from_slice(b"MKTEST  ");
        b[11..13].copy_from_slice(&(bps as u16).to_le_bytes());
        b[13] = spc as u8;
        b[14..16].copy_from_slice(&(reserved as u16).to_le_bytes());
        b[16] = fats as u8;
        b[17..19].copy_from_slice(&(root_entries as u16).to_le_bytes());
        if total < 65536 {
            b[19..21].copy_from_slice(&(total as u16).to_le_bytes());
        } else {
            b[32..36].copy_from_slice(&(total as u32).to_le_bytes());
        }
        b[21] = 0xF8;
        let mut padded = label.as_bytes().to_vec();
        padded.resize(11, b' ');
        if bits == 32 {
            b[36..40].copy_from_slice(&(fat_sectors as u32).to_le_bytes());
            b[44..48].copy_from_slice(&2u32.to_le_bytes());
            b[66] = 0x29;
            b[71..82].copy_from_slice(&padded);
            b[82..90].copy_from_slice(b"FAT32   ");
        } else {
            b[22..24].copy_from_slice(&(fat_sectors as u16).to_le_bytes());
            b[38] = 0x29;
            b[43..54].copy_from_slice(&padded);
            b[54..62].copy_from_slice(if bits == 12 { b"FAT12   " } else { b"FAT16   " });
        }
        b[510] = 0x55;
        b[511] = 0xAA;
        let fat_offset = reserved * bps;
        let root_sectors = root_entries * 32 / bps;
        let data_offset = (reserved + fats * fat_sectors + root_sectors) * bps;
        let mut img = Img {
            bits,
            bytes: b,
            fat_offset,
            fat_bytes: fat_sectors * bps,
            fats,
            data_offset,
            cluster: spc * bps,
            files: Vec::new(),
            label_at: 0,
            next_cluster: 2,
            root_at: (reserved + fats * fat_sectors) * bps,
        };
        img.set_fat(0, 0x0FFF_FFF8);
        img.set_fat(1, img.eoc());
        if bits == 32 {
            // The root directory is cluster 2.
            img.root_at = img.cluster_at(2);
            img.set_fat(2, img.eoc());
            img.next_cluster = 3;
        }
        img.label_at = img.root_at;
        img.bytes[img.root_at..img.root_at + 11].copy_from_slice(&padded);
        img.bytes[img.root_at + 11] = 0x08;
        img
    }

    fn eoc(&self) -> u32 {
        match self.bits {
            12 => 0xFFF,
            16 => 0xFFFF,
            _ => 0x0FFF_FFFF,
        }
    }

    fn cluster_at(&self, c: u32) -> usize {
        self.data_offset + (c as usize - 2) * self.cluster
    }

    fn set_fat(&mut self, c: u32, v: u32) {
        for n in 0..self.fats {
            let fat = self.fat_offset + n * self.fat_bytes;
            match self.bits {
                12 => {
                    let at = fat + c as usize * 3 / 2;
                    let old = u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]]);
                    let v = v as u16 & 0xFFF;
                    let new = if c % 2 == 1 {
                        (old & 0x000F) | (v << 4)
                    } else {
                        (old & 0xF000) | v
                    };
                    self.bytes[at..at + 2].copy_from_slice(&new.to_le_bytes());
                }
                16 => {
                    let at = fat + c as usize * 2;
                    self.bytes[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes());
                }
                _ => {
                    let at = fat + c as usize * 4;
                    self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }

    /// Adds `name` at the root: long-name entries, then the short entry
    /// `short` (11 bytes), data in consecutive clusters.
    fn add(&mut self, name: &str, short: &[u8; 11], data: &[u8]) -> &mut Self {
        let checksum = short
            .iter()
            .fold(0u8, |s, &b| s.rotate_right(1).wrapping_add(b));
        let mut units: Vec<u16> = name.encode_utf16().collect();
        if !units.len().is_multiple_of(13) {
            units.push(0);
        }
        while !units.len().is_multiple_of(13) {
            units.push(0xFFFF);
        }
        let parts = units.len() / 13;
        // The next free slot after the label and files so far.
        let mut at = self.root_at + 32;
        while self.bytes[at] != 0 {
            at += 32;
        }
        for p in (1..=parts).rev() {
            let e = &mut self.bytes[at..at + 32];
            e[0] = p as u8 | if p == parts { 0x40 } else { 0 };
            e[11] = 0x0F;
            e[13] = checksum;
            let chunk = &units[(p - 1) * 13..p * 13];
            let slots = (1..11)
                .step_by(2)
                .chain((14..26).step_by(2))
                .chain((28..32).step_by(2));
            for (u, s) in chunk.iter().zip(slots) {
                e[s..s + 2].copy_from_slice(&u.to_le_bytes());
            }
            at += 32;
        }
        let first = if data.is_empty() {
            0
        } else {
            self.next_cluster
        };
        let e = &mut self.bytes[at..at + 32];
        e[..11].copy_from_slice(short);
        e[11] = 0x20;
        e[20..22].copy_from_slice(&((first >> 16) as u16).to_le_bytes());
        e[26..28].copy_from_slice(&(first as u16).to_le_bytes());
        e[28..32].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.files.push((name.to_string(), first, at));
        for (i, chunk) in data.chunks(self.cluster).enumerate() {
            let c = first + i as u32;
            let off = self.cluster_at(c);
            self.bytes[off..off + chunk.len()].copy_from_slice(chunk);
            let last = (i + 1) * self.cluster >= data.len();
            self.set_fat(c, if last { self.eoc() } else { c + 1 });
        }
        self.next_cluster += data.len().div_ceil(self.cluster) as u32;
        self
    }

    /// A config drive: both files.
    fn drive(bits: u32) -> Img {
        let mut img = Img::new(bits, LABEL);
        img.add(CONFIG_NAME, b"NODE-C~1YAM", CONFIG)
            .add(SIGNATURE_NAME, b"NODE-C~1MIN", SIGNATURE);
        img
    }

    fn first(&self, name: &str) -> u32 {
        self.files.iter().find(|f| f.0 == name).unwrap().1
    }

    fn entry(&self, name: &str) -> usize {
        self.files.iter().find(|f| f.0 == name).unwrap().2
    }
}

/// Probe then read, as mk-firstboot does, timed: Ok(files) or the error
/// text of the first step that failed.
fn read_drive(dev: &[u8]) -> (Result<(FsKind, Files), String>, Duration) {
    let started = Instant::now();
    let result = match probe(dev) {
        Ok(Probe::Labelled { fs, label }) if label.eq_ignore_ascii_case(LABEL) => {
            read_files(dev, fs)
                .map(|f| (fs, f))
                .map_err(|e| e.to_string())
        }
        Ok(Probe::Labelled { label, .. }) => Err(format!("labelled {label:?}")),
        Ok(Probe::Nothing) => Err("nothing".to_string()),
        Ok(Probe::Broken { fs, error }) => Err(format!(
            "broken {}: {error}",
            fs.map_or("-", FsKind::as_str)
        )),
        Err(e) => Err(format!("probe: {e}")),
    };
    (result, started.elapsed())
}

/// The error text of reading `dev`, which must fail within a second.
fn failure(dev: &[u8]) -> String {
    let (r, took) = read_drive(dev);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    match r {
        Ok(_) => panic!("read a damaged drive"),
        Err(e) => e,
    }
}

fn files(dev: &[u8]) -> (FsKind, Files) {
    let (r, took) = read_drive(dev);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    r.unwrap()
}

#[test]
fn crafted_fat12_16_32_drives_are_read() {
    for bits in [12, 16, 32] {
        let img = Img::drive(bits);
        let (fs, f) = files(&img.bytes);
        assert_eq!(fs, FsKind::Fat);
        assert_eq!(f.config.as_deref(), Some(CONFIG), "FAT{bits}");
        assert_eq!(f.signature.as_deref(), Some(SIGNATURE), "FAT{bits}");
        let mut fat = fat::Fat::open(img.bytes.as_slice()).unwrap();
        let kind = match bits {
            12 => fat::FatType::Fat12,
            16 => fat::FatType::Fat16,
            _ => fat::FatType::Fat32,
        };
        assert_eq!(fat.kind, kind);
        assert_eq!(fat.label().unwrap(), LABEL);
    }
}

#[test]
fn names_match_without_case_and_missing_files_are_none() {
    let mut img = Img::new(12, LABEL);
    img.add("NODE-CONFIG.YAML", b"NODE-C~1YAM", CONFIG);
    let (_, f) = files(&img.bytes);
    assert_eq!(f.config.as_deref(), Some(CONFIG));
    assert_eq!(f.signature, None);
    // Only the boot sector's label: the root's entry is the fallback's rival.
    let mut img = Img::drive(16);
    img.bytes[img.label_at] = 0xE5;
    assert!(matches!(
        probe(img.bytes.as_slice()).unwrap(),
        Probe::Labelled { label, .. } if label == LABEL
    ));
}

#[test]
fn a_looping_root_directory_chain_is_named() {
    // FAT[2] = 2: the root directory (cluster 2) is its own successor.
    let mut img = Img::drive(32);
    img.set_fat(2, 2);
    assert_eq!(
        failure(&img.bytes),
        "cluster chain of the root directory loops at cluster 2"
    );
    // Labelled otherwise, the same drive is someone else's and the probe
    // ends (at the label, before the loop).
    let mut other = Img::new(32, "DATA");
    other.set_fat(2, 2);
    assert_eq!(failure(&other.bytes), "labelled \"DATA\"");
}

#[test]
fn a_looping_file_chain_is_named() {
    for bits in [12, 16, 32] {
        let mut img = Img::drive(bits);
        let c = img.first(CONFIG_NAME);
        img.set_fat(c + 2, c + 1);
        assert_eq!(
            failure(&img.bytes),
            format!(
                "cluster chain of node-config.yaml loops at cluster {}",
                c + 1
            ),
            "FAT{bits}"
        );
    }
}

#[test]
fn cross_linked_clusters_are_named() {
    let mut img = Img::drive(16);
    let config = img.first(CONFIG_NAME);
    // The signature's entry points into the config's chain.
    let sig = img.entry(SIGNATURE_NAME);
    img.bytes[sig + 26..sig + 28].copy_from_slice(&((config + 1) as u16).to_le_bytes());
    assert_eq!(
        failure(&img.bytes),
        format!(
            "cross-linked clusters: cluster {} belongs to both node-config.yaml and node-config.yaml.minisig",
            config + 1
        )
    );
    // The config's chain runs on into the signature's.
    let mut img = Img::drive(16);
    let need = CONFIG.len().div_ceil(512) as u32;
    img.set_fat(config + need - 1, img.first(SIGNATURE_NAME));
    assert_eq!(
        failure(&img.bytes),
        format!(
            "node-config.yaml: {} bytes need {need} cluster(s) of 512 bytes but its cluster \
             chain has more than {need}: cross-linked or truncated chain",
            CONFIG.len()
        )
    );
}

#[test]
fn a_chain_shorter_than_the_file_is_named() {
    let mut img = Img::drive(12);
    let c = img.first(CONFIG_NAME);
    img.set_fat(c + 1, img.eoc());
    let need = CONFIG.len().div_ceil(512);
    assert_eq!(
        failure(&img.bytes),
        format!(
            "node-config.yaml: {} bytes need {need} cluster(s) of 512 bytes but its cluster \
             chain has 2: cross-linked or truncated chain",
            CONFIG.len()
        )
    );
    // A free or out-of-range successor.
    img.set_fat(c + 1, 0);
    assert_eq!(
        failure(&img.bytes),
        format!(
            "node-config.yaml: cluster chain reaches cluster {}, marked free",
            c + 1
        )
    );
    img.set_fat(c + 1, 0xFF0);
    assert_eq!(
        failure(&img.bytes),
        format!(
            "node-config.yaml: cluster chain goes from cluster {} to 0xff0, outside the data clusters 2..2849",
            c + 1
        )
    );
}

#[test]
fn a_file_larger_than_a_config_is_refused_before_reading() {
    let mut img = Img::drive(16);
    let e = img.entry(CONFIG_NAME);
    img.bytes[e + 28..e + 32].copy_from_slice(&(2_000_000_000u32).to_le_bytes());
    assert_eq!(
        failure(&img.bytes),
        "node-config.yaml is 2000000000 bytes, more than the 16777216 a config drive's file may have"
    );
}

#[test]
fn truncated_drives_name_both_sizes() {
    for bits in [12, 16, 32] {
        let img = Img::drive(bits);
        let full = img.bytes.len();
        for cut in [512, 513, 4096, img.data_offset + 10, full / 2, full - 1] {
            assert_eq!(
                failure(&img.bytes[..cut]),
                format!(
                    "broken FAT: truncated: the filesystem says {full} bytes, the device has {cut}"
                ),
                "FAT{bits} cut at {cut}"
            );
        }
        // Less than a boot sector: only the label's bytes are left.
        let label_at = if bits == 32 { 71 } else { 43 };
        assert_eq!(
            failure(&img.bytes[..100]),
            format!(
                "broken -: carries the config-drive label at byte {label_at} but no readable \
                 FAT or ISO 9660 filesystem: damaged or overwritten?"
            )
        );
        assert_eq!(failure(&img.bytes[..40]), "nothing");
    }
}

/// xorshift: reproducible noise.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn random_bytes_over_the_first_sectors_are_reported_as_damage() {
    let mut img = Img::drive(12);
    img.bytes[..8 * 512].copy_from_slice(&noise(7, 8 * 512));
    assert_eq!(
        failure(&img.bytes),
        format!(
            "broken -: carries the config-drive label at byte {} but no readable FAT or \
             ISO 9660 filesystem: damaged or overwritten?",
            img.label_at
        )
    );
    // Without the label anywhere, it is just not a config drive.
    let other = noise(8, 2 << 20);
    assert_eq!(failure(&other), "nothing");
}

#[test]
fn label_bytes_inside_a_partition_belong_to_it() {
    // A disk whose MBR lists a partition from sector 63: the partition is
    // probed as its own device, so its label does not make the disk damaged.
    let mut disk = vec![0u8; 63 * 512];
    disk[446 + 8..446 + 12].copy_from_slice(&63u32.to_le_bytes());
    disk[446 + 12..446 + 16].copy_from_slice(&2880u32.to_le_bytes());
    disk[510] = 0x55;
    disk[511] = 0xAA;
    disk.extend_from_slice(&Img::drive(12).bytes);
    assert_eq!(failure(&disk), "nothing");
}

/// What is expected, and the edit of the boot sector that gives it.
type Case = (&'static str, fn(&mut Vec<u8>));

#[test]
fn insane_boot_sectors_are_named() {
    let cases: [Case; 8] = [
        ("3 sectors per cluster (expected a power of two up to 128)", |b| b[13] = 3),
        ("0 reserved sectors (the boot sector itself is one)", |b| {
            b[14] = 0;
            b[15] = 0
        }),
        ("0 FATs (expected 1 or 2)", |b| b[16] = 0),
        ("3 FATs (expected 1 or 2)", |b| b[16] = 3),
        ("a total sector count of 0", |b| {
            b[19] = 0;
            b[20] = 0
        }),
        ("a FAT size of 0 sectors", |b| {
            // Both the 16-bit size and the FAT32 one it defers to.
            b[22..24].fill(0);
            b[36..40].fill(0)
        }),
        ("a FAT of 512 bytes cannot map 2863 clusters (4298 bytes needed)", |b| {
            // One-sector FATs leave 16 more sectors for clusters.
            b[22] = 1;
            b[23] = 0
        }),
        (
            "reserved sectors, FATs and root directory take 65567 sectors, leaving no cluster of the 2880",
            |b| {
                b[14] = 0xFF;
                b[15] = 0xFF
            },
        ),
    ];
    for (want, edit) in cases {
        let mut img = Img::drive(12);
        edit(&mut img.bytes);
        assert_eq!(
            failure(&img.bytes),
            format!("broken FAT: FAT boot sector: {want}")
        );
    }
    // More sectors than the device: truncated.
    let mut img = Img::drive(12);
    img.bytes[19..21].copy_from_slice(&2888u16.to_le_bytes());
    assert_eq!(
        failure(&img.bytes),
        "broken FAT: truncated: the filesystem says 1478656 bytes, the device has 1474560"
    );
    // FAT32's root outside the data area.
    let mut img = Img::drive(32);
    img.bytes[44..48].copy_from_slice(&0x0FFF_FFF0u32.to_le_bytes());
    assert_eq!(
        failure(&img.bytes),
        "broken FAT: FAT boot sector: root directory at cluster 268435440, outside the data clusters 2..65602"
    );
}

#[test]
fn random_damage_never_panics_or_hangs() {
    let clean = Img::drive(12).bytes;
    let meta = 40 * 512;
    let mut worst = Duration::ZERO;
    for seed in 1..400u64 {
        let mut img = clean.clone();
        let n = noise(seed, 16);
        for pair in n.chunks(2) {
            let at = (u16::from_le_bytes([pair[0], pair[1]]) as usize * 7) % meta;
            img[at] = pair[1] ^ pair[0];
        }
        let (_, took) = read_drive(&img);
        worst = worst.max(took);
    }
    assert!(worst < Duration::from_secs(1), "worst {worst:?}");
}

// ---- drives made by real tools ---------------------------------------------

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

fn signed_drive() -> crate::Drive {
    let now = mk_roleconfig::time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let key = mk_minisign::SecretKey::generate().unwrap();
    crate::Draft::parse(CONFIG.to_vec(), "rack1.yaml")
        .unwrap()
        .check(now)
        .unwrap()
        .sign(&key)
}

#[test]
fn drives_from_our_writer_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let drive = signed_drive();
    let [(_, config), (_, sig)] = drive.files();
    for (format, fs, tool) in [
        (crate::Format::Fat, FsKind::Fat, "mformat"),
        (crate::Format::Iso, FsKind::Iso9660, "xorriso"),
    ] {
        if !have(tool) {
            eprintln!("skipped {}: no {tool}", format.as_str());
            continue;
        }
        let out = dir.path().join(format.as_str());
        drive.write(format, &out, crate::DEFAULT_EPOCH).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        let (got_fs, f) = files(&bytes);
        assert_eq!(got_fs, fs);
        assert_eq!(f.config.as_deref(), Some(config));
        assert_eq!(f.signature.as_deref(), Some(sig));
        // And through a device file.
        let dev = Device::open(&out).unwrap();
        assert!(read_files(&dev, fs).unwrap().config.is_some());
    }
}

#[test]
fn mkfs_fat_drives_of_each_type_read_back() {
    if !have("mkfs.fat") || !have("mcopy") {
        eprintln!("skipped: no mkfs.fat or mcopy");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join(CONFIG_NAME), CONFIG).unwrap();
    std::fs::write(src.join(SIGNATURE_NAME), SIGNATURE).unwrap();
    for (bits, mib) in [(12, 2), (16, 16), (32, 40)] {
        let img = dir.path().join(format!("fat{bits}.img"));
        std::fs::File::create(&img)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        run(Command::new("mkfs.fat")
            .args(["-F", &bits.to_string(), "-S", "512", "-s", "1", "-n", LABEL])
            .arg(&img));
        for name in [CONFIG_NAME, SIGNATURE_NAME] {
            run(Command::new("mcopy")
                .env("MTOOLS_SKIP_CHECK", "1")
                .env("MTOOLSRC", "/dev/null")
                .arg("-i")
                .arg(&img)
                .arg(src.join(name))
                .arg(format!("::/{name}")));
        }
        let bytes = std::fs::read(&img).unwrap();
        let (_, f) = files(&bytes);
        assert_eq!(f.config.as_deref(), Some(CONFIG), "FAT{bits}");
        assert_eq!(f.signature.as_deref(), Some(SIGNATURE), "FAT{bits}");
    }
}

fn iso_drive(dir: &Path) -> Option<Vec<u8>> {
    if !have("xorriso") {
        eprintln!("skipped: no xorriso");
        return None;
    }
    let out = dir.join("drive.iso");
    signed_drive()
        .write(crate::Format::Iso, &out, crate::DEFAULT_EPOCH)
        .unwrap();
    Some(std::fs::read(out).unwrap())
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn set_both_endian(img: &mut [u8], at: usize, v: u32) {
    img[at..at + 4].copy_from_slice(&v.to_le_bytes());
    img[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn damaged_iso_drives_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let Some(clean) = iso_drive(dir.path()) else {
        return;
    };
    let full = clean.len();
    // Truncated: the volume space size says more than the device has.
    for cut in [36 * 1024, full / 2, full - 1] {
        assert_eq!(
            failure(&clean[..cut]),
            format!("truncated: the filesystem says {full} bytes, the device has {cut}"),
            "cut at {cut}"
        );
    }
    // The root directory's extent points outside the image.
    let pvd = 16 * 2048;
    let mut img = clean.clone();
    set_both_endian(&mut img, pvd + 156 + 2, 1_000_000);
    assert_eq!(
        failure(&img),
        "ISO 9660: /: directory extent (block 1000000, 2048 bytes) runs past the end of the image"
    );
    // A file's extent points outside the image.
    let (root_block, root_size) = (le32(&clean, pvd + 158), le32(&clean, pvd + 166));
    let start = root_block as usize * 2048;
    let mut pos = start;
    let mut img = clean.clone();
    while pos < start + root_size as usize && img[pos] != 0 {
        // The config's record: the one of its size.
        if le32(&img, pos + 10) as usize == CONFIG.len() {
            set_both_endian(&mut img, pos + 2, 900_000);
        }
        pos += img[pos] as usize;
    }
    let e = failure(&img);
    assert!(
        e.starts_with("ISO 9660: node-config.yaml: data extent (block 900000, "),
        "{e}"
    );
    // The volume descriptors overwritten: the label elsewhere in the first
    // MiB says what the drive was, if any copy is left.
    let mut img = clean.clone();
    img[pvd..pvd + 2048].copy_from_slice(&noise(3, 2048));
    let e = failure(&img);
    assert!(
        e == "nothing" || e.contains("carries the config-drive label at byte"),
        "{e}"
    );
}

/// Writes the crafted images to `$MK_DRIVE_IMAGES` for timing them with
/// the `read-drive` example (`cargo test -p mk-configdrive -- --ignored
/// crafted_images`).
#[test]
#[ignore]
fn crafted_images() {
    let Some(dir) = std::env::var_os("MK_DRIVE_IMAGES") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut images: Vec<(String, Vec<u8>)> = Vec::new();
    for bits in [12, 16, 32] {
        let img = Img::drive(bits);
        images.push((format!("fat{bits}-good"), img.bytes.clone()));
        images.push((
            format!("fat{bits}-truncated"),
            img.bytes[..img.bytes.len() / 2].to_vec(),
        ));
        let mut l = Img::drive(bits);
        let c = l.first(CONFIG_NAME);
        l.set_fat(c + 2, c + 1);
        images.push((format!("fat{bits}-file-loop"), l.bytes));
        let mut x = Img::drive(bits);
        let sig = x.entry(SIGNATURE_NAME);
        x.bytes[sig + 26..sig + 28].copy_from_slice(&((c + 1) as u16).to_le_bytes());
        images.push((format!("fat{bits}-cross-linked"), x.bytes));
    }
    let mut r = Img::drive(32);
    r.set_fat(2, 2);
    images.push(("fat32-root-loop".into(), r.bytes));
    let mut n = Img::drive(12);
    n.bytes[..8 * 512].copy_from_slice(&noise(7, 8 * 512));
    images.push(("fat12-noise".into(), n.bytes));
    if let Some(iso) = iso_drive(dir) {
        images.push(("iso-truncated".into(), iso[..iso.len() / 2].to_vec()));
        images.push(("iso-good".into(), iso));
    }
    for (name, bytes) in images {
        std::fs::write(dir.join(format!("{name}.img")), bytes).unwrap();
    }
}
