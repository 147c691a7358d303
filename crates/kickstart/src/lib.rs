//! mk's image recipe: a kickstart file (a strict subset of what anaconda's
//! pykickstart accepts for RHEL 7) plus a small `image.yaml` for what
//! kickstart cannot say (outputs, overlays, image archives).
//!
//! The kickstart parser is strict on purpose: an image that silently lacks
//! a setting the kickstart asked for is worse than a build that stops.
//! Every unsupported command, option or section is an error that names the
//! file, the line, what was found and what is supported.
//!
//! ```
//! let ks = mk_kickstart::Kickstart::parse(
//!     "node.ks",
//!     "selinux --enforcing\nrootpw --lock\n%packages\nkernel\n%end\n",
//! )
//! .unwrap();
//! assert_eq!(ks.selinux.unwrap().mode, mk_kickstart::SelinuxMode::Enforcing);
//! assert_eq!(ks.packages.unwrap().request.items.len(), 1);
//! ```

mod args;
mod commands;
mod model;
pub mod network;
mod parse;
pub mod recipe;

pub use model::*;
pub use recipe::{ImageRecipe, Outputs, RecipeError, Size};

use std::path::{Path, PathBuf};

/// A kickstart that cannot be used. `Syntax` displays as `FILE:LINE: message`.
#[derive(Debug, thiserror::Error)]
pub enum KickstartError {
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
    #[error("reading kickstart {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl KickstartError {
    /// The 1-based line the error points at (None for I/O errors).
    pub fn line(&self) -> Option<usize> {
        match self {
            KickstartError::Syntax { line, .. } => Some(*line),
            KickstartError::Io { .. } => None,
        }
    }
}

impl Kickstart {
    /// Parses kickstart text. `path_for_messages` only prefixes errors.
    pub fn parse(path_for_messages: &str, text: &str) -> Result<Kickstart, KickstartError> {
        parse::parse(path_for_messages, text)
    }

    /// Reads and parses a kickstart file.
    pub fn read(path: &Path) -> Result<Kickstart, KickstartError> {
        let text = std::fs::read_to_string(path).map_err(|source| KickstartError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let ks = Kickstart::parse(&path.display().to_string(), &text)?;
        tracing::debug!(
            kickstart = %path.display(),
            parts = ks.parts.len(),
            post_scripts = ks.post.len(),
            "kickstart parsed"
        );
        Ok(ks)
    }
}
