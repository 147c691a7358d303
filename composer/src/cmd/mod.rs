//! One module per subcommand: argument parsing and the effects; the logic
//! lives in the library crates.

pub mod bundle;
pub mod config_drive;
pub mod image;
pub mod image_build;
pub mod installer;
pub mod keygen;
pub mod package;
pub mod pki;
pub mod repo;
pub mod resolve;
pub mod token;
pub mod vagrant_box;
pub mod verify;
