//! Is the image a Vagrant build? The Vagrant overlay (vagrant/overlay)
//! ships [`MARKER`] in the root file system; production recipes never list
//! that overlay, so a production image (no `vagrant` user, no insecure key)
//! is refused. Read with the real tools: `qemu-img dd` copies the GPT and
//! the `root-a` partition out of the image (raw or qcow2), `debugfs` reads
//! the file from that ext4.

use std::path::Path;
use std::process::Command;

use crate::source::{self, Format, SECTOR};
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
    // The GPT: header at LBA 1, entries (usually at LBA 2) in the first 34
    // sectors of any disk `mk-compose image` writes.
    let head = dd(image, format, work, "gpt.bin", SECTOR, 0, 34)?;
    let (lba, count, size) = source::gpt_entries(&head[SECTOR as usize..]).map_err(not_vagrant)?;
    let table_end = lba * SECTOR + u64::from(count) * u64::from(size);
    let head = if table_end > head.len() as u64 {
        dd(
            image,
            format,
            work,
            "gpt.bin",
            SECTOR,
            0,
            table_end.div_ceil(SECTOR),
        )?
    } else {
        head
    };
    let entries = &head[(lba * SECTOR) as usize..table_end as usize];
    let (first, last) = source::find_partition(entries, size, ROOT_PARTITION)
        .ok_or_else(|| not_vagrant(format!("its GPT has no partition named {ROOT_PARTITION:?}")))?;
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
