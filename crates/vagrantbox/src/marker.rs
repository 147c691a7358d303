//! Is the image a Vagrant build? The Vagrant overlay (vagrant/overlay)
//! ships [`MARKER`] in the root file system; production recipes never list
//! that overlay, so a production image (no `vagrant` user, no insecure key)
//! is refused. Read with the real tools: `qemu-img dd` copies the GPT and
//! the `root-a` partition out of the image (raw or qcow2), `debugfs` reads
//! the file from that ext4.

use std::path::Path;
use std::process::Command;

use crate::source::{Format, SECTOR};
use crate::Error;

/// The file the Vagrant overlay adds to the root (owned by its package).
pub const MARKER: &str = "/usr/lib/mk/vagrant-build";
/// Its first line.
pub const MARKER_HEADER: &str = "mk-vagrant-build 1";
/// The GPT name of the partition holding the image's root (docs/image.md).
pub const ROOT_PARTITION: &str = "root-a";

/// Reads the marker from `image`'s root partition, working in `work`.
pub fn check(image: &Path, format: Format, work: &Path) -> Result<(), Error> {
    let not_vagrant = |why: String| Error::NotVagrantBuild {
        path: image.to_path_buf(),
        why,
    };
    // The GPT: header and entries lie in the first MiB of any disk
    // `mk-compose image` writes (partitions start at 1 MiB).
    let head = dd(image, format, work, "gpt.bin", 1 << 20, 0, 1)?;
    let gpt = mk_gptimage::Gpt::parse(&head).map_err(|e| not_vagrant(e.to_string()))?;
    let root = gpt
        .partition(ROOT_PARTITION)
        .ok_or_else(|| not_vagrant(format!("its GPT has no partition named {ROOT_PARTITION:?}")))?;
    let (first, last) = (root.first_lba, root.last_lba);
    let (start, len) = (first * SECTOR, (last - first + 1) * SECTOR);
    // Large blocks when aligned (partitions are MiB-aligned): qemu-img dd
    // copies one block per request.
    let bs = [1 << 20, 1 << 12, SECTOR]
        .into_iter()
        .find(|b| start % b == 0 && len % b == 0)
        .unwrap_or(SECTOR);
    let root = work.join("root.ext4");
    run_dd(image, format, &root, bs, start / bs, len / bs)?;
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat {MARKER}"))
        .arg(&root)
        .output()
        .map_err(|e| Error::Tool {
            what: "debugfs".into(),
            path: image.to_path_buf(),
            detail: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.lines().next() == Some(MARKER_HEADER) {
        tracing::info!(marker = MARKER, "the image is a Vagrant build");
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let detail = stderr
        .lines()
        .filter(|l| !l.starts_with("debugfs "))
        .collect::<Vec<_>>()
        .join(" ");
    Err(not_vagrant(format!(
        "{MARKER} (expected first line {MARKER_HEADER:?}) is not in its {ROOT_PARTITION} \
         file system{}",
        if detail.trim().is_empty() {
            String::new()
        } else {
            format!(" (debugfs: {})", detail.trim())
        }
    )))
}

fn dd(
    image: &Path,
    format: Format,
    work: &Path,
    name: &str,
    bs: u64,
    skip: u64,
    count: u64,
) -> Result<Vec<u8>, Error> {
    let out = work.join(name);
    run_dd(image, format, &out, bs, skip, count)?;
    std::fs::read(&out).map_err(|e| Error::Read {
        path: out,
        source: e,
    })
}

fn run_dd(
    image: &Path,
    format: Format,
    out: &Path,
    bs: u64,
    skip: u64,
    count: u64,
) -> Result<(), Error> {
    let _ = std::fs::remove_file(out);
    let mut if_arg = std::ffi::OsString::from("if=");
    if_arg.push(image);
    let mut of_arg = std::ffi::OsString::from("of=");
    of_arg.push(out);
    crate::run_tool(
        image,
        Command::new("qemu-img")
            .args(["dd", "-f", format.qemu_name(), "-O", "raw"])
            .arg(format!("bs={bs}"))
            .arg(format!("skip={skip}"))
            .arg(format!("count={count}"))
            .arg(if_arg)
            .arg(of_arg),
    )
}
