//! The bundle's ISO 9660 image: written by `xorriso`, read by our own
//! reader (so `verify` needs neither mount nor root).

pub mod read;
pub mod write;

pub use read::{
    list_files, open_file, EntryKind, Extent, FileSource, IsoEntry, IsoError, IsoImage, NameSource,
    ReadAt,
};
pub use write::{write, IsoOptions, IsoWriteError};
