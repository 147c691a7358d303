//! Installing a composed node image onto a machine's disk (issue 13 part 1;
//! docs/install.md): the whole raw image goes onto the target disk, so the
//! root partition is byte-identical to the image's and the state partition
//! keeps its initial content.
//!
//! Pure planning — which disk ([`target`], from [`sysfs`] and the
//! [`kickstart`] subset) and the GPT on a bigger disk ([`gpt`]) — is kept
//! apart from the effects: reading the installer ISO ([`media`]) and
//! writing the disk ([`write`]). [`cli`] is `mk-node install`.

pub mod cli;
// Its own crate: mk-vagrantbox reads image GPTs too.
pub use mk_gptimage as gpt;
pub mod iso;
pub mod kickstart;
pub mod media;
pub mod sysfs;
pub mod target;
pub mod write;
