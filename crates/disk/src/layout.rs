//! Pure layout planning: partition table, sizes and every identifier of the
//! image, derived from the inputs so that the same inputs give the same bytes.

use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const MIB: u64 = 1024 * 1024;
/// Partitions start and end on 1 MiB boundaries (what parted/sgdisk do; fine
/// for 4K-sector and SSD erase-block alignment).
pub const ALIGN: u64 = MIB;
pub const SECTOR: u64 = 512;
/// ext4 block size we always use (pinned in our mke2fs.conf).
pub const EXT4_BLOCK: u64 = 4096;
/// Bytes per inode on disk (pinned; 256 keeps nanosecond/crtime fields and
/// room for in-inode SELinux xattrs).
pub const EXT4_INODE_SIZE: u64 = 256;
/// mke2fs' default bytes-per-inode ratio, used unless the tree needs more inodes.
pub const EXT4_INODE_RATIO: u64 = 16384;
pub const ESP_DEFAULT_SIZE: u64 = 256 * MIB;
/// FAT32 needs at least 65525 clusters; with 512-byte clusters that is 32 MiB
/// of data plus FATs and reserved sectors. Below this mformat -F fails.
pub const ESP_MIN_SIZE: u64 = 36 * MIB;

/// EFI System Partition.
pub const TYPE_ESP: Uuid = uuid::uuid!("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
/// Discoverable Partitions Specification: root file system, x86-64.
pub const TYPE_ROOT_X86_64: Uuid = uuid::uuid!("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
/// BIOS boot partition: where GRUB's core.img lives on a GPT disk booted by
/// legacy BIOS (issue 14). Reserved from the start, so that adding GRUB
/// does not renumber the partitions of installed nodes.
pub const TYPE_BIOS_BOOT: Uuid = uuid::uuid!("21686148-6449-6E6F-744E-656564454649");
/// Size of the BIOS boot partition: GRUB's core.img for GPT + ext4 is
/// under 100 KiB; 1 MiB is what distribution installers reserve.
pub const BIOS_BOOT_SIZE: u64 = MIB;
/// Generic Linux data. The state partition holds /var *and* persistent /etc
/// paths (readonly-root statetab), so it is not the DPS /var type: a newer
/// systemd-gpt-auto-generator would mount a /var-typed partition at /var.
pub const TYPE_LINUX_DATA: Uuid = uuid::uuid!("0FC63DAF-8483-4772-8E79-3D69D8477DE4");
/// GPT attribute bit 60 (DPS): the partition is mounted read-only.
pub const ATTR_READ_ONLY: u64 = 1 << 60;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("the seed (identity of the inputs, used to derive GUIDs) must not be empty")]
    EmptySeed,
    #[error(
        "{part} partition: {size_mib} MiB is too small, at least {min_mib} MiB is needed ({why})"
    )]
    BelowMinimum {
        part: &'static str,
        size_mib: u64,
        min_mib: u64,
        why: &'static str,
    },
    #[error(
        "{part} content is about {need_mib} MiB ({inodes} inodes, {data_mib} MiB of file data, \
         plus ext4 metadata and journal), partition is {size_mib} MiB"
    )]
    TooSmall {
        part: &'static str,
        need_mib: u64,
        size_mib: u64,
        inodes: u64,
        data_mib: u64,
    },
    #[error("the state partition size must be given explicitly")]
    StateSizeMissing,
}

/// A UUID derived from the inputs: SHA-256 over a domain tag, the seed and
/// the role, shaped as a version-4 UUID (the form every tool expects).
pub fn derive_uuid(seed: &str, role: &str) -> Uuid {
    let d = digest(seed, role);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// The ESP's FAT volume serial for `seed`: known before the disk is
/// written, since GRUB's BIOS core.img finds the ESP by it.
pub fn esp_serial(seed: &str) -> u32 {
    derive_u32(seed, "fat-serial/esp")
}

/// A 32-bit value derived from the inputs (the FAT volume serial).
pub fn derive_u32(seed: &str, role: &str) -> u32 {
    let d = digest(seed, role);
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn digest(seed: &str, role: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"mk-disk/v1\0");
    h.update(seed.as_bytes());
    h.update(b"\0");
    h.update(role.as_bytes());
    h.finalize().into()
}

pub fn align_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

/// What an ext4 filesystem must hold: counted in 4 KiB blocks and inodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeStats {
    pub inodes: u64,
    /// Blocks for file data, directories and long symlinks.
    pub data_blocks: u64,
    /// Bytes of regular-file data (for messages).
    pub file_bytes: u64,
}

impl TreeStats {
    pub fn add_file(&mut self, size: u64) {
        self.file_bytes += size;
        let blocks = size.div_ceil(EXT4_BLOCK);
        // One extent maps up to 32768 blocks; an inode holds 4 extents, more
        // need index blocks (one per ~340 extents).
        let extents = blocks.div_ceil(32768);
        let index = if extents > 4 {
            extents.div_ceil(340)
        } else {
            0
        };
        self.data_blocks += blocks + index;
    }
    pub fn add_symlink(&mut self, target_len: u64) {
        // Targets under 60 bytes live in the inode ("fast" symlinks).
        if target_len >= 60 {
            self.data_blocks += 1;
        }
    }
    pub fn add_dir(&mut self, entries: u64, name_bytes: u64) {
        // ext4 dirent: 8 bytes + name padded to 4; plus "." and ".." and a
        // 75% fill allowance for hashed (htree) directories.
        let bytes = 24 + entries * 12 + name_bytes;
        let blocks = (bytes * 4 / 3).div_ceil(EXT4_BLOCK).max(1);
        self.data_blocks += blocks + if blocks > 1 { 1 } else { 0 };
    }
}

/// Journal blocks mke2fs picks for a filesystem of `blocks` 4 KiB blocks
/// (e2fsprogs' default journal size table).
pub fn journal_blocks(blocks: u64) -> u64 {
    match blocks {
        b if b < 2048 => 0,
        b if b < 32768 => 1024,
        b if b < 256 * 1024 => 4096,
        b if b < 512 * 1024 => 8192,
        b if b < 4096 * 1024 => 16384,
        b if b < 8192 * 1024 => 32768,
        b if b < 16384 * 1024 => 65536,
        b if b < 32768 * 1024 => 131072,
        _ => 262144,
    }
}

/// Inodes to ask mke2fs for (`-N`): the default ratio, or more if the tree has
/// many small files (10% spare plus lost+found and the reserved inodes).
pub fn ext4_inodes(stats: &TreeStats, fs_bytes: u64) -> u64 {
    let by_ratio = fs_bytes / EXT4_INODE_RATIO;
    let needed = stats.inodes + stats.inodes / 10 + 64;
    by_ratio.max(needed)
}

/// Bytes an ext4 filesystem of `fs_bytes` needs to hold the tree: data,
/// inode tables, journal, and ~1% + 1 MiB for bitmaps, group descriptors and
/// the blocks reserved for online resize. An estimate: mke2fs is the judge.
pub fn ext4_needed(stats: &TreeStats, fs_bytes: u64) -> u64 {
    let blocks = fs_bytes / EXT4_BLOCK;
    let itable = (ext4_inodes(stats, fs_bytes) * EXT4_INODE_SIZE).div_ceil(EXT4_BLOCK);
    let meta = blocks / 100 + MIB / EXT4_BLOCK;
    (stats.data_blocks + itable + journal_blocks(blocks) + meta) * EXT4_BLOCK
}

/// Size for a filesystem sized from its content: what it needs plus 10% and
/// 32 MiB of headroom, in whole MiB.
pub fn ext4_auto_size(stats: &TreeStats) -> u64 {
    let mut size = align_up((stats.data_blocks * EXT4_BLOCK).max(MIB), ALIGN);
    // The journal and metadata grow with the size: iterate to a fixed point.
    for _ in 0..8 {
        let need = ext4_needed(stats, size);
        let next = align_up(need + need / 10 + 32 * MIB, ALIGN);
        if next <= size {
            break;
        }
        size = next;
    }
    size
}

/// Refuses an explicit ext4 size the content cannot fit in.
pub fn check_ext4_fits(
    part: &'static str,
    stats: &TreeStats,
    size: u64,
) -> Result<(), LayoutError> {
    let min = 8 * MIB;
    if size < min {
        return Err(LayoutError::BelowMinimum {
            part,
            size_mib: size / MIB,
            min_mib: min / MIB,
            why: "ext4 with a journal",
        });
    }
    let need = ext4_needed(stats, size);
    if need > size {
        return Err(LayoutError::TooSmall {
            part,
            need_mib: need.div_ceil(MIB),
            size_mib: size / MIB,
            inodes: stats.inodes,
            data_mib: stats.file_bytes.div_ceil(MIB),
        });
    }
    Ok(())
}

/// Which partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Esp,
    BiosBoot,
    /// Root slot A: the composed image's root.
    RootA,
    /// Root slot B: same size, left empty; an update writes the next image
    /// here, and the two slots take turns (issue 15, DESIGN section 2).
    RootB,
    State,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Esp => "esp",
            Role::BiosBoot => "bios-boot",
            Role::RootA => "root-a",
            Role::RootB => "root-b",
            Role::State => "state",
        }
    }
}

/// One planned GPT entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartPlan {
    pub role: Role,
    /// 1-based partition number.
    pub number: u32,
    /// GPT partition name.
    pub name: &'static str,
    pub type_guid: Uuid,
    /// Unique partition GUID (PARTUUID).
    pub guid: Uuid,
    /// Byte offset in the disk.
    pub offset: u64,
    pub size: u64,
    pub attributes: u64,
}

impl PartPlan {
    pub fn first_lba(&self) -> u64 {
        self.offset / SECTOR
    }
    pub fn last_lba(&self) -> u64 {
        (self.offset + self.size) / SECTOR - 1
    }
}

/// Identifiers of one ext4 filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsIds {
    pub uuid: Uuid,
    /// htree directory hash seed (mke2fs picks a random one otherwise).
    pub hash_seed: Uuid,
}

/// Sizes, already decided (explicit or from content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutInput {
    pub seed: String,
    pub esp_size: u64,
    pub root_size: u64,
    pub state_size: u64,
}

/// The whole disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub disk_guid: Uuid,
    pub disk_size: u64,
    pub esp: PartPlan,
    pub bios_boot: PartPlan,
    /// Root slot A, which holds the composed root.
    pub root: PartPlan,
    /// Root slot B, empty until the first update.
    pub root_b: PartPlan,
    pub state: PartPlan,
    /// FAT volume serial of the ESP.
    pub esp_serial: u32,
    pub root_fs: FsIds,
    pub state_fs: FsIds,
}

impl Layout {
    pub fn partitions(&self) -> [&PartPlan; 5] {
        [
            &self.esp,
            &self.bios_boot,
            &self.root,
            &self.root_b,
            &self.state,
        ]
    }
}

/// Plans the table: ESP, BIOS boot, root slots A and B (the same size), state,
/// each rounded up to whole MiB and laid out from 1 MiB in that order, with
/// 1 MiB at the end for the backup GPT. The numbers are fixed (1 to 5) for
/// every image, so that an update finds the slots of any earlier image.
pub fn plan(input: &LayoutInput) -> Result<Layout, LayoutError> {
    if input.seed.is_empty() {
        return Err(LayoutError::EmptySeed);
    }
    let esp_size = align_up(input.esp_size, ALIGN);
    if esp_size < ESP_MIN_SIZE {
        return Err(LayoutError::BelowMinimum {
            part: "ESP",
            size_mib: esp_size / MIB,
            min_mib: ESP_MIN_SIZE / MIB,
            why: "FAT32 needs 65525 clusters",
        });
    }
    let seed = input.seed.as_str();
    let mut offset = ALIGN;
    let mut part = |role: Role, number, name, type_guid, size: u64, attributes| {
        let size = align_up(size, ALIGN);
        let p = PartPlan {
            role,
            number,
            name,
            type_guid,
            guid: derive_uuid(seed, &format!("partition/{}", role.as_str())),
            offset,
            size,
            attributes,
        };
        offset += size;
        p
    };
    let esp = part(Role::Esp, 1, "esp", TYPE_ESP, esp_size, 0);
    let bios_boot = part(
        Role::BiosBoot,
        2,
        "bios-boot",
        TYPE_BIOS_BOOT,
        BIOS_BOOT_SIZE,
        0,
    );
    let root = part(
        Role::RootA,
        3,
        "root-a",
        TYPE_ROOT_X86_64,
        input.root_size,
        ATTR_READ_ONLY,
    );
    let root_b = part(
        Role::RootB,
        4,
        "root-b",
        TYPE_ROOT_X86_64,
        input.root_size,
        ATTR_READ_ONLY,
    );
    let state = part(
        Role::State,
        5,
        "state",
        TYPE_LINUX_DATA,
        input.state_size,
        0,
    );
    let disk_size = offset + ALIGN;
    let fs = |role: &str| FsIds {
        uuid: derive_uuid(seed, &format!("fs/{role}")),
        hash_seed: derive_uuid(seed, &format!("hash-seed/{role}")),
    };
    Ok(Layout {
        disk_guid: derive_uuid(seed, "disk"),
        disk_size,
        esp,
        bios_boot,
        root,
        root_b,
        state,
        esp_serial: esp_serial(seed),
        root_fs: fs("root"),
        state_fs: fs("state"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(seed: &str) -> LayoutInput {
        LayoutInput {
            seed: seed.into(),
            esp_size: ESP_DEFAULT_SIZE,
            root_size: 700 * MIB + 5,
            state_size: 1024 * MIB,
        }
    }

    #[test]
    fn partitions_are_aligned_contiguous_and_typed() {
        let l = plan(&input("bundle-sha256:abc node-1")).unwrap();
        assert_eq!(l.esp.offset, MIB);
        assert_eq!(l.esp.size, 256 * MIB);
        assert_eq!(l.bios_boot.offset, 257 * MIB);
        assert_eq!(l.bios_boot.size, MIB);
        assert_eq!(l.root.offset, 258 * MIB);
        // rounded up to whole MiB; slot B the same size, right after A
        assert_eq!(l.root.size, 701 * MIB);
        assert_eq!(l.root_b.size, l.root.size);
        assert_eq!(l.root_b.offset, l.root.offset + l.root.size);
        assert_eq!(l.state.offset, l.root_b.offset + l.root_b.size);
        assert_eq!(l.disk_size, l.state.offset + l.state.size + MIB);
        for p in l.partitions() {
            assert_eq!(p.offset % MIB, 0);
            assert_eq!(p.size % MIB, 0);
        }
        assert_eq!(l.esp.first_lba(), 2048);
        assert_eq!(l.esp.last_lba(), 2048 + 256 * 2048 - 1);
        assert_eq!(
            l.esp.type_guid.to_string().to_uppercase(),
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
        );
        assert_eq!(
            l.root.type_guid.to_string().to_uppercase(),
            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
        );
        assert_eq!(l.root.attributes, 1 << 60);
        assert_eq!(l.root_b.attributes, 1 << 60);
        assert_eq!(l.root_b.type_guid, l.root.type_guid);
        assert_eq!(
            l.bios_boot.type_guid.to_string().to_uppercase(),
            "21686148-6449-6E6F-744E-656564454649"
        );
        let numbers: Vec<u32> = l.partitions().iter().map(|p| p.number).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
        let names: Vec<&str> = l.partitions().iter().map(|p| p.name).collect();
        assert_eq!(names, ["esp", "bios-boot", "root-a", "root-b", "state"]);
    }

    #[test]
    fn identifiers_follow_the_seed() {
        let a = plan(&input("seed-a")).unwrap();
        let a2 = plan(&input("seed-a")).unwrap();
        let b = plan(&input("seed-b")).unwrap();
        assert_eq!(a, a2);
        assert_ne!(a.disk_guid, b.disk_guid);
        assert_ne!(a.root.guid, b.root.guid);
        assert_ne!(a.root_fs, b.root_fs);
        assert_ne!(a.esp_serial, b.esp_serial);
        // all distinct within one disk
        let mut ids = vec![
            a.disk_guid,
            a.esp.guid,
            a.bios_boot.guid,
            a.root.guid,
            a.root_b.guid,
            a.state.guid,
            a.root_fs.uuid,
            a.root_fs.hash_seed,
            a.state_fs.uuid,
            a.state_fs.hash_seed,
        ];
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10);
        assert_eq!(a.disk_guid.get_version_num(), 4);
        assert_eq!(a.disk_guid.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn derived_uuid_is_sha256_of_tag_seed_role() {
        let d: [u8; 32] = Sha256::digest(b"mk-disk/v1\0s\0disk").into();
        let u = derive_uuid("s", "disk");
        let b = u.as_bytes();
        assert_eq!(b[0..6], d[0..6]);
        assert_eq!(b[6] & 0x0f, d[6] & 0x0f);
        assert_eq!(b[6] >> 4, 4);
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert_eq!(plan(&input("")), Err(LayoutError::EmptySeed));
        let mut i = input("s");
        i.esp_size = 32 * MIB;
        let e = plan(&i).unwrap_err();
        assert!(
            e.to_string().contains("ESP partition: 32 MiB is too small"),
            "{e}"
        );
    }

    #[test]
    fn journal_table_matches_e2fsprogs() {
        assert_eq!(journal_blocks(1024), 0);
        assert_eq!(journal_blocks(16384), 1024);
        assert_eq!(journal_blocks(100_000), 4096);
        assert_eq!(journal_blocks(300_000), 8192);
        assert_eq!(journal_blocks(1_000_000), 16384);
    }

    fn tree(files: u64, each: u64) -> TreeStats {
        let mut st = TreeStats {
            inodes: 1,
            ..Default::default()
        };
        st.add_dir(files, files * 10);
        for _ in 0..files {
            st.inodes += 1;
            st.add_file(each);
        }
        st
    }

    #[test]
    fn auto_size_fits_with_headroom() {
        let st = tree(15_000, 20_000);
        let size = ext4_auto_size(&st);
        assert_eq!(size % MIB, 0);
        let need = ext4_needed(&st, size);
        assert!(need + need / 10 <= size, "need {need} size {size}");
        check_ext4_fits("root", &st, size).unwrap();
        // 15000 files of 20000 bytes = 5 blocks each: ~293 MiB of blocks
        assert!(size > 293 * MIB && size < 450 * MIB, "{}", size / MIB);
    }

    #[test]
    fn too_small_names_both_sizes() {
        let st = tree(1000, 800 * 1024);
        let e = check_ext4_fits("root", &st, 512 * MIB).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("root content is about "), "{msg}");
        assert!(msg.ends_with("partition is 512 MiB"), "{msg}");
        assert!(msg.contains("782 MiB of file data"), "{msg}");
        assert!(check_ext4_fits("state", &TreeStats::default(), 4 * MIB).is_err());
    }

    #[test]
    fn many_tiny_files_get_more_inodes_than_the_ratio() {
        let st = tree(100_000, 10);
        assert!(ext4_inodes(&st, 256 * MIB) >= 110_000);
        let st = tree(10, 10);
        assert_eq!(ext4_inodes(&st, 256 * MIB), 256 * MIB / 16384);
    }
}
