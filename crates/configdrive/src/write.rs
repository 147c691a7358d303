//! Laying a [`Drive`] out as an image: FAT with mtools, ISO 9660 with
//! xorriso (mk-bundle), reproducibly (dates from the epoch, the FAT
//! volume serial from the config's digest).

use std::path::Path;
use std::process::Command;

use mk_bundle::iso::{IsoOptions, IsoWriteError};

use crate::{io_error, Drive, Error, Format, LABEL};

pub(crate) fn write(drive: &Drive, format: Format, out: &Path, epoch: u64) -> Result<(), Error> {
    let out_dir = mk_durable::parent(out).to_path_buf();
    std::fs::create_dir_all(&out_dir)
        .map_err(io_error(format!("creating {}", out_dir.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".mk-config-drive.")
        .tempdir_in(&out_dir)
        .map_err(io_error(format!(
            "creating a staging directory in {}",
            out_dir.display()
        )))?;
    let tree = staging.path().join("tree");
    std::fs::create_dir(&tree).map_err(io_error(format!("creating {}", tree.display())))?;
    for (name, data) in drive.files() {
        let path = tree.join(name);
        std::fs::write(&path, data).map_err(io_error(format!("writing {}", path.display())))?;
    }
    match format {
        Format::Iso => mk_bundle::iso::write(
            &tree,
            out,
            &IsoOptions {
                volume_label: LABEL.into(),
                source_date_epoch: epoch,
                ..Default::default()
            },
        )
        .map_err(|e| match e {
            IsoWriteError::NoXorriso(e) => Error::NoXorriso(e),
            e => Error::Iso(e),
        }),
        Format::Fat => write_fat(drive, staging.path(), &tree, out, epoch),
    }
}

/// The size of a FAT drive holding `bytes` of files: room for them, the
/// FATs and the root directory, in whole MiB; at least 2 MiB.
pub(crate) fn fat_size(bytes: usize) -> u64 {
    const MIB: u64 = 1 << 20;
    ((bytes as u64 * 2 + MIB).div_ceil(MIB) * MIB).max(2 * MIB)
}

/// mtools with a fixed environment: no user config, UTC, dates from
/// SOURCE_DATE_EPOCH.
fn mtools(program: &str, home: &Path, epoch: u64) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("HOME", home)
        .env("MTOOLSRC", "/dev/null")
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .stdin(std::process::Stdio::null());
    cmd
}

fn run_tool(what: &str, cmd: &mut Command) -> Result<(), Error> {
    let out = cmd.output().map_err(|source| Error::ToolMissing {
        what: what.to_string(),
        program: cmd.get_program().to_owned(),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::ToolFailed {
            what: what.to_string(),
            program: cmd.get_program().to_owned(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// A FAT12/16 image of the drive's files (already in `tree`) just large
/// enough (mtools picks the FAT type), volume serial from the config
/// digest, written beside `out` and renamed.
fn write_fat(
    drive: &Drive,
    scratch: &Path,
    tree: &Path,
    out: &Path,
    epoch: u64,
) -> Result<(), Error> {
    let size = fat_size(drive.files().iter().map(|(_, d)| d.len()).sum());
    let tmp = mk_durable::temp_beside(out).map_err(io_error(format!(
        "creating a file beside {}",
        out.display()
    )))?;
    let img = tmp.path().to_string_lossy().into_owned();
    tmp.as_file()
        .set_len(size)
        .map_err(io_error(format!("writing {img}")))?;
    let serial = &drive.config().digest()[..8];
    run_tool(
        "formatting the config drive",
        mtools("mformat", scratch, epoch).args([
            "-i",
            &img,
            "-T",
            &(size / 512).to_string(),
            "-h",
            "64",
            "-s",
            "32",
            "-N",
            serial,
            "-v",
            LABEL,
            "::",
        ]),
    )?;
    for (name, _) in drive.files() {
        run_tool(
            &format!("copying {name} onto the config drive"),
            mtools("mcopy", scratch, epoch)
                .args(["-i", &img])
                .arg(tree.join(name))
                .arg(format!("::/{name}")),
        )?;
    }
    mk_durable::persist(tmp, out).map_err(io_error(format!("writing {}", out.display())))
}
