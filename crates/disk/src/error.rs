use std::path::PathBuf;

use crate::layout::LayoutError;

/// Everything that can stop an image build. Tool failures carry the tool's
/// own output.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run {program} (is it installed?)")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: `{command}` failed ({status}):\n{output}")]
    Tool {
        what: String,
        command: String,
        status: String,
        output: String,
    },
    #[error("{what}: check failed:\n{output}")]
    Check { what: String, output: String },
    #[error("{path}: {reason}")]
    Tree { path: PathBuf, reason: String },
    #[error("SELinux label for {path}: {reason}")]
    Label { path: String, reason: String },
    #[error("writing the GPT into {path}: {reason}")]
    Gpt { path: PathBuf, reason: String },
    #[error(
        "not enough space for {path}: {free_mib} MiB free in {dir}, the content alone is {need_mib} MiB"
    )]
    NoSpace {
        path: PathBuf,
        dir: PathBuf,
        free_mib: u64,
        need_mib: u64,
    },
    #[error("invalid disk spec: {0}")]
    Spec(String),
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DiskError {
    let path = path.into();
    move |source| DiskError::Io { path, source }
}
