//! OCI archives: a deterministic tar of an image layout, for
//! `ctr images import`, `skopeo … oci-archive:FILE` and the bundle.
//!
//! Members: `oci-layout`, `index.json`, `blobs/`, `blobs/sha256/`, then
//! every blob in name order; mode 0644 (dirs 0755), uid/gid 0, empty
//! owner names, mtime 0, GNU headers. The same layout gives the same bytes.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use tracing::info;

use crate::error::{io_err, Error, Result};

/// Writes the layout at `layout_dir` as an OCI archive at `out`
/// (atomically: temp file beside it, fsync, rename). Only blobs named by
/// a 64-hex-digit file name are included (leftover temp files are not).
pub fn write_archive(layout_dir: &Path, out: &Path) -> Result<()> {
    for f in ["oci-layout", "index.json"] {
        if !layout_dir.join(f).is_file() {
            return Err(Error::BadLayout {
                path: layout_dir.to_path_buf(),
                reason: format!("no {f}"),
            });
        }
    }
    let blob_dir = layout_dir.join("blobs").join("sha256");
    let mut blobs = Vec::new();
    if blob_dir.is_dir() {
        for e in fs::read_dir(&blob_dir).map_err(io_err("cannot list", &blob_dir))? {
            let e = e.map_err(io_err("cannot list", &blob_dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() == 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                blobs.push(name);
            }
        }
    }
    blobs.sort();
    let tmp = mk_durable::temp_beside(out).map_err(io_err("cannot create a file beside", out))?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, tmp));
    let mut total = 0u64;
    {
        let mut add_file = |name: &str, src: &Path| -> Result<()> {
            let mut f = File::open(src).map_err(io_err("cannot read", src))?;
            let len = f.metadata().map_err(io_err("cannot read", src))?.len();
            let mut h = header(tar::EntryType::Regular, 0o644, len);
            builder
                .append_data(&mut h, name, &mut f)
                .map_err(io_err("cannot write", out))?;
            total += len;
            Ok(())
        };
        add_file("oci-layout", &layout_dir.join("oci-layout"))?;
        add_file("index.json", &layout_dir.join("index.json"))?;
        let mut dir_entry = |name: &str| -> Result<()> {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            builder
                .append_data(&mut h, name, std::io::empty())
                .map_err(io_err("cannot write", out))
        };
        dir_entry("blobs/")?;
        dir_entry("blobs/sha256/")?;
    }
    for b in &blobs {
        let src = blob_dir.join(b);
        let mut f = File::open(&src).map_err(io_err("cannot read", &src))?;
        let len = f.metadata().map_err(io_err("cannot read", &src))?.len();
        let mut h = header(tar::EntryType::Regular, 0o644, len);
        builder
            .append_data(&mut h, format!("blobs/sha256/{b}"), &mut f)
            .map_err(io_err("cannot write", out))?;
        total += len;
    }
    let w = builder.into_inner().map_err(io_err("cannot write", out))?;
    let mut tmp = w
        .into_inner()
        .map_err(|e| io_err("cannot write", out)(e.into_error()))?;
    tmp.flush().map_err(io_err("cannot write", out))?;
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(io_err("cannot write", out))?;
    mk_durable::persist(tmp, out).map_err(io_err("cannot write", out))?;
    info!(archive = %out.display(), blobs = blobs.len(), bytes = total, "OCI archive written");
    Ok(())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    // Empty names: tar::Header::new_gnu leaves them zeroed.
    h
}
