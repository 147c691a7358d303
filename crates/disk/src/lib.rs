//! mk-disk: reproducible GPT disk images for nodes.
//!
//! Layout (GPT, 1 MiB aligned): 1 ESP (FAT32: bootloader, kernel,
//! initramfs, loader entry), 2 root (ext4, mounted read-only), 3 state (ext4:
//! /var and persistent /etc paths). Planning ([`layout`], [`loader`]) is pure;
//! the writers drive e2fsprogs and mtools. Same inputs (trees, labels, seed,
//! SOURCE_DATE_EPOCH) give the same bytes.

pub mod error;
pub mod esp;
pub mod ext4;
pub mod gpt;
pub mod image;
pub mod layout;
pub mod loader;
mod tool;
pub mod tree;

pub use error::DiskError;
pub use image::{build_image, check_gpt, DiskSpec, EspSpec, FsSpec, Report};
pub use layout::{Layout, LayoutError, PartPlan};
pub use loader::{render_loader_entry, LoaderEntry};
