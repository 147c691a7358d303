//! The source disk image: which format it is (qcow2 or a raw GPT disk),
//! its virtual size, and where a partition lies. Pure: works on the bytes
//! the caller read.

/// qcow2's magic, "QFI\xfb" (QEMU's docs/interop/qcow2.txt).
const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";
/// The GPT header's signature, at LBA 1.
const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
pub const SECTOR: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Qcow2,
    /// A raw disk with a GPT (what `mk-compose image` writes).
    Raw,
}

impl Format {
    /// qemu-img's name of the format.
    pub fn qemu_name(self) -> &'static str {
        match self {
            Format::Qcow2 => "qcow2",
            Format::Raw => "raw",
        }
    }
}

/// What the first bytes of a file say it is, with the disk's virtual size
/// (qcow2: its header's size field; raw: the file's length). `head` must
/// hold at least the first 1024 bytes of the file (or all of a shorter
/// one). An error says what was expected.
pub fn detect(head: &[u8], file_len: u64) -> Result<(Format, u64), String> {
    if head.len() >= 32 && head[..4] == *QCOW2_MAGIC {
        let version = u32::from_be_bytes(head[4..8].try_into().unwrap());
        if version < 2 {
            return Err(format!("qcow version {version} (expected qcow2: 2 or 3)"));
        }
        let size = u64::from_be_bytes(head[24..32].try_into().unwrap());
        return Ok((Format::Qcow2, size));
    }
    if head.len() >= 1024 && head[510..512] == [0x55, 0xaa] && head[512..520] == *GPT_SIGNATURE {
        return Ok((Format::Raw, file_len));
    }
    Err(
        "neither a qcow2 image (magic QFI\\xfb) nor a raw disk with a GPT \
         (\"EFI PART\" at byte 512): expected a node image of `mk-compose image`"
            .into(),
    )
}

/// Where the GPT's partition entries are: (first LBA, count, entry size).
pub fn gpt_entries(header_lba1: &[u8]) -> Result<(u64, u32, u32), String> {
    if header_lba1.len() < 92 || header_lba1[..8] != *GPT_SIGNATURE {
        return Err("no GPT header (\"EFI PART\") at LBA 1".into());
    }
    let lba = u64::from_le_bytes(header_lba1[72..80].try_into().unwrap());
    let count = u32::from_le_bytes(header_lba1[80..84].try_into().unwrap());
    let size = u32::from_le_bytes(header_lba1[84..88].try_into().unwrap());
    if !(128..=4096).contains(&size) || count == 0 || count > 1024 {
        return Err(format!(
            "implausible GPT entry table ({count} entries of {size} bytes)"
        ));
    }
    Ok((lba, count, size))
}

/// The first and last LBA of the partition whose GPT name is `name`, from
/// the raw partition entry table.
pub fn find_partition(entries: &[u8], entry_size: u32, name: &str) -> Option<(u64, u64)> {
    entries.chunks_exact(entry_size as usize).find_map(|e| {
        if e[..16].iter().all(|b| *b == 0) {
            return None; // unused entry (zero type GUID)
        }
        let units: Vec<u16> = e[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|u| *u != 0)
            .collect();
        let first = u64::from_le_bytes(e[32..40].try_into().unwrap());
        let last = u64::from_le_bytes(e[40..48].try_into().unwrap());
        (String::from_utf16_lossy(&units) == name && last >= first).then_some((first, last))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_head() -> Vec<u8> {
        let mut h = vec![0u8; 1024];
        h[510] = 0x55;
        h[511] = 0xaa;
        h[512..520].copy_from_slice(b"EFI PART");
        h
    }

    #[test]
    fn formats_are_told_apart_by_their_first_bytes() {
        let mut q = vec![0u8; 512];
        q[..4].copy_from_slice(b"QFI\xfb");
        q[4..8].copy_from_slice(&3u32.to_be_bytes());
        q[24..32].copy_from_slice(&(5u64 << 30).to_be_bytes());
        assert_eq!(detect(&q, 200_000).unwrap(), (Format::Qcow2, 5 << 30));
        assert_eq!(
            detect(&raw_head(), 7 << 20).unwrap(),
            (Format::Raw, 7 << 20)
        );

        let e = detect(b"hello, not a disk", 17).unwrap_err();
        assert!(e.contains("neither a qcow2") && e.contains("GPT"), "{e}");
        // An MBR-only raw disk is not a node image.
        let mut mbr = raw_head();
        mbr[512..520].fill(0);
        assert!(detect(&mbr, 1 << 20).is_err());
        q[4..8].copy_from_slice(&1u32.to_be_bytes());
        assert!(detect(&q, 1).unwrap_err().contains("qcow version 1"));
    }

    #[test]
    fn partitions_are_found_by_gpt_name() {
        let mut entries = vec![0u8; 128 * 4];
        let mut put = |i: usize, name: &str, first: u64, last: u64| {
            let e = &mut entries[i * 128..(i + 1) * 128];
            e[0] = 1; // any non-zero type GUID
            e[32..40].copy_from_slice(&first.to_le_bytes());
            e[40..48].copy_from_slice(&last.to_le_bytes());
            for (j, u) in name.encode_utf16().enumerate() {
                e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
            }
        };
        put(0, "esp", 2048, 4095);
        put(2, "root-a", 8192, 16383);
        assert_eq!(find_partition(&entries, 128, "root-a"), Some((8192, 16383)));
        assert_eq!(find_partition(&entries, 128, "esp"), Some((2048, 4095)));
        assert_eq!(find_partition(&entries, 128, "root"), None);
        assert_eq!(find_partition(&entries, 128, "state"), None);

        let mut hdr = vec![0u8; 512];
        hdr[..8].copy_from_slice(b"EFI PART");
        hdr[72..80].copy_from_slice(&2u64.to_le_bytes());
        hdr[80..84].copy_from_slice(&128u32.to_le_bytes());
        hdr[84..88].copy_from_slice(&128u32.to_le_bytes());
        assert_eq!(gpt_entries(&hdr).unwrap(), (2, 128, 128));
        assert!(gpt_entries(&[0u8; 512]).is_err());
    }
}
