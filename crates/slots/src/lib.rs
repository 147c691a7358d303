//! A/B root slots on a node (issue 15 part 1; the boot contract in
//! docs/update.md).
//!
//! Pure planning — [`plan::plan_update`] and [`plan::plan_mark_good`]
//! decide from the kernel command line ([`cmdline`]), the GRUB environment
//! block and the disk's partitions ([`disk`]) — is kept apart from the
//! effects: streaming a root into a partition ([`write`]) and the ESP's
//! files ([`esp`]).

pub mod cli;
pub mod cmdline;
pub mod disk;
pub mod esp;
pub mod node_image;
pub mod plan;
pub mod update;
pub mod write;

use std::fmt;

/// A root slot: partition `root-a` or `root-b`, ESP directory `mk/a` or `mk/b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    /// `a` or `b`, as in `mk.slot=` and the grubenv variables.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "a" => Some(Slot::A),
            "b" => Some(Slot::B),
            _ => None,
        }
    }
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
    /// GPT partition name (crates/disk layout).
    pub fn partition_name(self) -> &'static str {
        match self {
            Slot::A => "root-a",
            Slot::B => "root-b",
        }
    }
    /// The slot's directory on the ESP: `mk/a` or `mk/b`.
    pub fn esp_dir(self) -> String {
        format!("mk/{}", self.as_str())
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three files of a slot on the ESP, in the order they are written.
pub const SLOT_FILES: [&str; 3] = ["vmlinuz", "initramfs.img", "slot.cfg"];
/// The GRUB environment block on the ESP.
pub const GRUBENV: &str = "EFI/mk/grubenv";
/// How many boots a slot on trial gets before GRUB falls back.
pub const TRIES: u32 = 3;
