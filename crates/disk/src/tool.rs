//! Running the external filesystem tools (e2fsprogs, mtools, gdisk, dosfstools,
//! qemu-img) with a fixed environment, keeping their stderr for errors.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::DiskError;

/// What a tool printed, once it exited successfully.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// A command with the environment every tool gets: C locale (messages we
/// parse), UTC (mtools stores local time in FAT dates), no stdin (mtools asks
/// on name clashes; it must fail instead of hanging).
pub fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("LC_ALL", "C")
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd`; a missing program, a non-zero exit or a signal is an error
/// carrying what the tool printed. `what` says what we were doing.
pub fn run(what: &str, cmd: &mut Command) -> Result<Output, DiskError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = cmd
        .get_args()
        .map(|a: &OsStr| a.to_string_lossy().into_owned())
        .collect();
    tracing::debug!(%program, ?args, "running");
    let out = cmd.output().map_err(|source| DiskError::Spawn {
        program: program.clone(),
        source,
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(DiskError::Tool {
            what: what.to_string(),
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            output: tool_text(&stdout, &stderr),
        });
    }
    Ok(Output { stdout, stderr })
}

/// Both streams, trimmed, for an error message.
pub fn tool_text(stdout: &str, stderr: &str) -> String {
    let mut text = String::new();
    for part in [stderr.trim(), stdout.trim()] {
        if !part.is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(part);
        }
    }
    text
}

/// `FILE?offset=N`: how e2fsprogs' unix I/O manager (e2fsck, debugfs,
/// dumpe2fs, ≥ 1.43) opens a filesystem inside a disk image.
pub fn at_offset(image: &std::path::Path, offset: u64) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(format!("?offset={offset}"));
    PathBuf::from(s)
}
