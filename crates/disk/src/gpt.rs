//! Protective MBR and primary/backup GPT, written with the `gpt` crate. Every
//! GUID comes from the layout: the crate would otherwise pick random ones.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use ::gpt::disk::LogicalBlockSize;
use ::gpt::mbr::ProtectiveMBR;
use ::gpt::partition::Partition;
use ::gpt::partition_types::{OperatingSystem, Type};
use ::gpt::GptConfig;

use crate::error::DiskError;
use crate::layout::{Layout, SECTOR};

/// Writes the partition table into `file` (already `disk_size` long).
pub fn write_table(file: &File, path: &Path, layout: &Layout) -> Result<(), DiskError> {
    let err = |reason: String| DiskError::Gpt {
        path: path.to_path_buf(),
        reason,
    };
    let sectors = layout.disk_size / SECTOR;
    let mut dev = file.try_clone().map_err(|e| err(e.to_string()))?;
    // The MBR's one 0xEE entry covers the disk, capped at 2^32-1 sectors.
    let mbr_len = u32::try_from(sectors - 1).unwrap_or(u32::MAX);
    ProtectiveMBR::with_lb_size(mbr_len)
        .overwrite_lba0(&mut dev)
        .map_err(|e| err(format!("protective MBR: {e}")))?;

    let mut disk = GptConfig::new()
        .writable(true)
        .logical_block_size(LogicalBlockSize::Lb512)
        .create_from_device(dev, Some(layout.disk_guid))
        .map_err(|e| err(e.to_string()))?;
    let parts: BTreeMap<u32, Partition> = layout
        .partitions()
        .iter()
        .map(|p| {
            (
                p.number,
                Partition {
                    part_type_guid: Type {
                        guid: p.type_guid,
                        os: OperatingSystem::None,
                    },
                    part_guid: p.guid,
                    first_lba: p.first_lba(),
                    last_lba: p.last_lba(),
                    flags: p.attributes,
                    name: p.name.to_string(),
                },
            )
        })
        .collect();
    disk.update_partitions(parts)
        .map_err(|e| err(e.to_string()))?;
    disk.write().map_err(|e| err(e.to_string()))?;
    Ok(())
}
