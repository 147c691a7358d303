//! mk-disk: reproducible GPT disk images for nodes.
//!
//! Layout (GPT, 1 MiB aligned): 1 ESP (FAT32: shim, GRUB, our grub.cfg and
//! grubenv, each slot's kernel, initramfs and slot.cfg), 2 BIOS boot (GRUB's
//! core.img; boot.img in the protective MBR), 3 and 4 root slots A and B
//! (ext4, mounted read-only), 5 state (ext4: /var and persistent /etc
//! paths). Planning ([`layout`], [`grub`]) is pure; the writers drive
//! e2fsprogs and mtools. Same inputs (trees, labels, seed,
//! SOURCE_DATE_EPOCH) give the same bytes.

pub mod error;
pub mod esp;
pub mod ext4;
pub mod gpt;
pub mod grub;
pub mod image;
pub mod layout;
mod tool;
pub mod tree;

pub use error::DiskError;
pub use image::{build_image, check_gpt, BiosSpec, BootSpec, DiskSpec, EspSpec, FsSpec, Report};
pub use layout::{Layout, LayoutError, PartPlan};
