//! mk-compose: from offline RPM repositories, kickstarts, container images
//! and overlays builds the signed offline bundle that an air-gapped site
//! receives, and verifies it there. The command line lives on the library
//! side so that tests reach [`cli::Cli`] (help, man pages); `main.rs` only
//! parses, runs and prints the error.

pub mod cli;
pub mod cmd;
mod inputs;
mod progress;
mod select;
