//! A disk image's GPT, read from its first sectors (mk-installer and
//! mk-vagrantbox find partitions with it), and the GPT it gets on a
//! bigger disk: the backup header and entries moved to the disk's last
//! sectors (UEFI looks for them there), `last_usable` moved with them, the
//! protective MBR widened, and optionally the `state` partition extended
//! to the new end. Pure: bytes in, bytes out; 512-byte logical sectors only
//! (the image is laid out in them).

use std::ops::Range;

pub const SECTOR: u64 = 512;
/// Partitions are aligned to 1 MiB (crates/disk/src/layout.rs); a grown
/// `state` partition ends on such a boundary too.
pub const ALIGN_SECTORS: u64 = 2048;
const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Entry arrays larger than this are refused (the image has 128 × 128 bytes).
const MAX_ENTRY_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GptError {
    #[error("the image has no GPT: {0}")]
    Invalid(String),
    #[error(
        "the disk has {disk} sectors, fewer than the {needed} the image's partitions and GPT need"
    )]
    DiskTooSmall { disk: u64, needed: u64 },
}

/// One used partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based entry number.
    pub number: u32,
    pub name: String,
    pub first_lba: u64,
    pub last_lba: u64,
}

impl Partition {
    /// The partition's bytes on the disk.
    pub fn bytes(&self) -> Range<u64> {
        self.first_lba * SECTOR..(self.last_lba + 1) * SECTOR
    }
}

/// The primary GPT of an image: its header and entry array as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    header: Vec<u8>,
    entries: Vec<u8>,
    pub entries_lba: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub alternate_lba: u64,
    pub partitions: Vec<Partition>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// CRC-32 (IEEE, reflected), as the GPT uses.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

impl Gpt {
    /// Parses the primary GPT from the image's first bytes (`head` must
    /// hold LBA 1 and the entry array: the first MiB does).
    pub fn parse(head: &[u8]) -> Result<Gpt, GptError> {
        let bad = |m: String| Err(GptError::Invalid(m));
        let s = SECTOR as usize;
        if head.len() < 2 * s {
            return bad(format!("only {} bytes at the start", head.len()));
        }
        let h = &head[s..2 * s];
        if &h[..8] != SIGNATURE {
            return bad("no `EFI PART` signature at LBA 1".into());
        }
        let size = u32_at(h, 12) as usize;
        if !(92..=s).contains(&size) {
            return bad(format!("header size {size} is not 92..512"));
        }
        let mut hdr = h[..size].to_vec();
        let crc = u32_at(&hdr, 16);
        hdr[16..20].fill(0);
        if crc32(&hdr) != crc {
            return bad("header CRC32 does not match".into());
        }
        hdr[16..20].copy_from_slice(&crc.to_le_bytes());
        if u64_at(h, 24) != 1 {
            return bad(format!("header's own LBA is {}, expected 1", u64_at(h, 24)));
        }
        let alternate_lba = u64_at(h, 32);
        let first_usable = u64_at(h, 40);
        let last_usable = u64_at(h, 48);
        let entries_lba = u64_at(h, 72);
        let count = u64::from(u32_at(h, 80));
        let entry_size = u64::from(u32_at(h, 84));
        if entry_size < 128 || entry_size % 8 != 0 || count == 0 {
            return bad(format!("{count} entries of {entry_size} bytes"));
        }
        let len = count * entry_size;
        if len > MAX_ENTRY_BYTES {
            return bad(format!(
                "entry array of {len} bytes (at most {MAX_ENTRY_BYTES})"
            ));
        }
        let start = entries_lba.saturating_mul(SECTOR);
        let Some(entries) = start
            .checked_add(len)
            .filter(|&end| end <= head.len() as u64)
            .map(|end| head[start as usize..end as usize].to_vec())
        else {
            return bad(format!(
                "entry array at LBA {entries_lba} is beyond the first {} bytes",
                head.len()
            ));
        };
        if crc32(&entries) != u32_at(h, 88) {
            return bad("partition entry array CRC32 does not match".into());
        }
        if first_usable > last_usable || last_usable >= alternate_lba {
            return bad(format!(
                "usable LBAs {first_usable}..{last_usable}, backup header at {alternate_lba}"
            ));
        }
        let mut partitions = Vec::new();
        for (i, e) in entries.chunks(entry_size as usize).enumerate() {
            if e[..16].iter().all(|&b| b == 0) {
                continue;
            }
            let (first_lba, last_lba) = (u64_at(e, 32), u64_at(e, 40));
            if first_lba < first_usable || last_lba > last_usable || first_lba > last_lba {
                return bad(format!(
                    "partition {} spans LBA {first_lba}..{last_lba}, outside {first_usable}..{last_usable}",
                    i + 1
                ));
            }
            let name: Vec<u16> = e[56..128]
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&c| c != 0)
                .collect();
            partitions.push(Partition {
                number: i as u32 + 1,
                name: String::from_utf16_lossy(&name),
                first_lba,
                last_lba,
            });
        }
        let mut sorted: Vec<&Partition> = partitions.iter().collect();
        sorted.sort_by_key(|p| p.first_lba);
        for w in sorted.windows(2) {
            if w[1].first_lba <= w[0].last_lba {
                return bad(format!(
                    "partitions {} and {} overlap",
                    w[0].number, w[1].number
                ));
            }
        }
        Ok(Gpt {
            header: hdr,
            entries,
            entries_lba,
            first_usable,
            last_usable,
            alternate_lba,
            partitions,
        })
    }

    /// Sectors of the image the GPT describes (through its backup header).
    pub fn image_sectors(&self) -> u64 {
        self.alternate_lba + 1
    }

    fn entry_sectors(&self) -> u64 {
        (self.entries.len() as u64).div_ceil(SECTOR)
    }

    /// The partition with this name.
    pub fn partition(&self, name: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.name == name)
    }

    /// Where the GPT ends up on a disk of `disk_sectors`.
    pub fn relocate(&self, disk_sectors: u64, grow: Option<&str>) -> Result<Relocated, GptError> {
        let entry_sectors = self.entry_sectors();
        let needed = self.last_usable + 1 + entry_sectors + 1;
        if disk_sectors < needed {
            return Err(GptError::DiskTooSmall {
                disk: disk_sectors,
                needed,
            });
        }
        let backup_lba = disk_sectors - 1;
        let backup_entries_lba = backup_lba - entry_sectors;
        let last_usable = backup_entries_lba - 1;
        let mut entries = self.entries.clone();
        let mut grown = None;
        if let Some(name) = grow {
            // Only the partition that ends last may grow, and only forwards.
            let last = self.partitions.iter().max_by_key(|p| p.last_lba);
            if let Some(p) = last.filter(|p| p.name == name) {
                let end = (last_usable + 1) / ALIGN_SECTORS * ALIGN_SECTORS - 1;
                if end > p.last_lba {
                    let entry_size = u32_at(&self.header, 84) as usize;
                    let at = (p.number as usize - 1) * entry_size + 40;
                    entries[at..at + 8].copy_from_slice(&end.to_le_bytes());
                    grown = Some(Partition {
                        last_lba: end,
                        ..p.clone()
                    });
                }
            }
        }
        let entries_crc = crc32(&entries);
        let header = |my: u64, alternate: u64, entries_at: u64| {
            let mut h = self.header.clone();
            h[24..32].copy_from_slice(&my.to_le_bytes());
            h[32..40].copy_from_slice(&alternate.to_le_bytes());
            h[48..56].copy_from_slice(&last_usable.to_le_bytes());
            h[72..80].copy_from_slice(&entries_at.to_le_bytes());
            h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
            h[16..20].fill(0);
            let crc = crc32(&h);
            h[16..20].copy_from_slice(&crc.to_le_bytes());
            let mut sector = h;
            sector.resize(SECTOR as usize, 0);
            sector
        };
        let mut entries_padded = entries;
        entries_padded.resize((entry_sectors * SECTOR) as usize, 0);
        Ok(Relocated {
            primary_header: header(1, backup_lba, self.entries_lba),
            backup_header: header(backup_lba, 1, backup_entries_lba),
            entries: entries_padded,
            primary_entries_lba: self.entries_lba,
            backup_entries_lba,
            backup_lba,
            protective_sectors: u32::try_from(disk_sectors - 1).unwrap_or(u32::MAX),
            grown,
        })
    }
}

/// The GPT for the target disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocated {
    /// LBA 1.
    pub primary_header: Vec<u8>,
    /// The last LBA.
    pub backup_header: Vec<u8>,
    /// The entry array, at both `primary_entries_lba` and `backup_entries_lba`.
    pub entries: Vec<u8>,
    pub primary_entries_lba: u64,
    pub backup_entries_lba: u64,
    pub backup_lba: u64,
    /// The protective MBR's partition covers this many sectors from LBA 1.
    pub protective_sectors: u32,
    /// The partition extended to the disk's end, if any.
    pub grown: Option<Partition>,
}

impl Relocated {
    /// Applies the primary side to the image's first bytes (MBR, LBA 1, entries).
    pub fn patch_head(&self, head: &mut [u8]) {
        let s = SECTOR as usize;
        // Protective MBR: entry 0 of type 0xEE covers the whole disk.
        if head[446 + 4] == 0xEE {
            head[446 + 12..446 + 16].copy_from_slice(&self.protective_sectors.to_le_bytes());
        }
        head[s..2 * s].copy_from_slice(&self.primary_header);
        let at = (self.primary_entries_lba * SECTOR) as usize;
        head[at..at + self.entries.len()].copy_from_slice(&self.entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn garbage_is_not_a_gpt() {
        assert!(Gpt::parse(&[0u8; 4096]).is_err());
        assert!(Gpt::parse(&[0u8; 10]).is_err());
    }

    proptest::proptest! {
        // Bounded: any bytes give an error or a GPT, never a panic.
        #[test]
        fn crafted_heads_never_panic(mut head in proptest::collection::vec(proptest::num::u8::ANY, 1024..20000), n in 0u32..200, size in 0u32..1000, lba in 0u64..100) {
            head[512..520].copy_from_slice(SIGNATURE);
            head[524..528].copy_from_slice(&92u32.to_le_bytes());
            head[536..544].copy_from_slice(&1u64.to_le_bytes());
            head[584..592].copy_from_slice(&lba.to_le_bytes());
            head[592..596].copy_from_slice(&n.to_le_bytes());
            head[596..600].copy_from_slice(&size.to_le_bytes());
            let crc = { let mut h = head[512..604].to_vec(); h[16..20].fill(0); crc32(&h) };
            head[528..532].copy_from_slice(&crc.to_le_bytes());
            let _ = Gpt::parse(&head);
        }
    }
}
