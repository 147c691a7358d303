//! The node's disk as far as slots go: the `esp`, `root-a` and `root-b`
//! partitions of its GPT (crates/disk's layout), read with the `gpt` crate.

use std::path::{Path, PathBuf};

use crate::Slot;

/// One partition: where it is and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based GPT entry number (`/dev/sda<number>`).
    pub number: u32,
    pub name: String,
    /// Lowercase hyphenated, as in `root=PARTUUID=`.
    pub partuuid: String,
    /// Byte offset on the disk.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

/// The partitions slot work needs. `root-b` is optional so that a disk laid
/// out before A/B slots is reported as such rather than as unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotDisk {
    pub path: PathBuf,
    pub esp: Partition,
    pub root_a: Partition,
    pub root_b: Option<Partition>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("reading the GPT of {path}: {source}")]
    Gpt {
        path: PathBuf,
        #[source]
        source: gpt::GptError,
    },
    #[error("{path} has no GPT partition named {name:?} (partitions: {found}); is this an mk node disk?")]
    Missing {
        path: PathBuf,
        name: &'static str,
        found: String,
    },
    #[error("{path}: GPT partition {number} ({name:?}) has an invalid extent")]
    Extent {
        path: PathBuf,
        number: u32,
        name: String,
    },
}

impl SlotDisk {
    /// Reads the GPT of a disk (a block device or an image file), read-only.
    pub fn read(path: &Path) -> Result<SlotDisk, DiskError> {
        let gpt = gpt::GptConfig::new()
            .writable(false)
            .open(path)
            .map_err(|source| DiskError::Gpt {
                path: path.to_path_buf(),
                source,
            })?;
        let lb = *gpt.logical_block_size();
        let mut parts = Vec::new();
        for (&number, p) in gpt.partitions() {
            if !p.is_used() {
                continue;
            }
            let extent = (|| Some((p.bytes_start(lb).ok()?, p.bytes_len(lb).ok()?)))();
            let Some((offset, size)) = extent else {
                return Err(DiskError::Extent {
                    path: path.to_path_buf(),
                    number,
                    name: p.name.clone(),
                });
            };
            parts.push(Partition {
                number,
                name: p.name.clone(),
                partuuid: p.part_guid.to_string().to_ascii_lowercase(),
                offset,
                size,
            });
        }
        let found = parts
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let take = |name: &'static str| parts.iter().find(|p| p.name == name).cloned();
        let need = |name: &'static str| {
            take(name).ok_or_else(|| DiskError::Missing {
                path: path.to_path_buf(),
                name,
                found: found.clone(),
            })
        };
        Ok(SlotDisk {
            path: path.to_path_buf(),
            esp: need("esp")?,
            root_a: need("root-a")?,
            root_b: take("root-b"),
        })
    }

    pub fn slot(&self, slot: Slot) -> Option<&Partition> {
        match slot {
            Slot::A => Some(&self.root_a),
            Slot::B => self.root_b.as_ref(),
        }
    }

    /// The slot whose partition has this PARTUUID.
    pub fn slot_of_partuuid(&self, partuuid: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|&s| {
            self.slot(s)
                .is_some_and(|p| p.partuuid.eq_ignore_ascii_case(partuuid))
        })
    }
}
