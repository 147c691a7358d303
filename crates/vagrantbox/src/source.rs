//! The source disk image: which format it is (qcow2 or a raw GPT disk) and
//! its virtual size. Pure: works on the bytes the caller read. (Its
//! partitions are found with mk-gptimage.)

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
}
