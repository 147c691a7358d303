//! Writing a [`BoxPlan`] as the .box file: a gzip-compressed tar, the
//! format `vagrant box add` unpacks. Reproducible: entries in the plan's
//! (sorted) order, every header with the plan's mtime, uid/gid 0, no user
//! or group names, mode 0644; gzip with mtime 0, no file name, OS 255.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};

use crate::plan::{BoxPlan, Content};

/// Writes the archive to `out` (any writer: the caller's temp file) and
/// returns it.
pub fn write<W: Write>(plan: &BoxPlan, out: W) -> io::Result<W> {
    // GzBuilder writes mtime 0 unless told; the OS byte is fixed (255).
    let gz: GzEncoder<BufWriter<W>> = GzBuilder::new().operating_system(255).write(
        BufWriter::with_capacity(1 << 20, out),
        Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for entry in &plan.entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(plan.mtime);
        match &entry.content {
            Content::Bytes(b) => {
                header.set_size(b.len() as u64);
                tar.append_data(&mut header, entry.name, b.as_slice())?;
            }
            Content::File(path) => {
                let f = File::open(path)?;
                header.set_size(f.metadata()?.len());
                tar.append_data(
                    &mut header,
                    entry.name,
                    io::BufReader::with_capacity(1 << 20, f),
                )?;
            }
        }
    }
    let gz = tar.into_inner()?;
    let buf = gz.finish()?;
    buf.into_inner().map_err(|e| e.into_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plan;
    use std::io::Read;

    #[test]
    fn same_plan_same_bytes_and_fixed_headers() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.qcow2");
        std::fs::write(&img, b"QFI\xfbnot really").unwrap();
        let p = plan(img.clone(), 1 << 30, "t", 1_700_000_000);
        let a = write(&p, Vec::new()).unwrap();
        // Touching the source file (mtime) must not change the box.
        std::fs::write(&img, b"QFI\xfbnot really").unwrap();
        let b = write(&p, Vec::new()).unwrap();
        assert_eq!(a, b);
        // gzip header: no mtime (bytes 4..8), OS 255.
        assert_eq!(&a[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        assert_eq!(a[9], 255);

        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(a.as_slice()));
        let mut seen = vec![];
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            assert_eq!(h.mtime().unwrap(), 1_700_000_000);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert_eq!(h.mode().unwrap(), 0o644);
            let mut body = vec![];
            e.read_to_end(&mut body).unwrap();
            seen.push((e.path().unwrap().display().to_string(), body));
        }
        let names: Vec<_> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Vagrantfile", "box.img", "metadata.json"]);
        assert_eq!(seen[1].1, b"QFI\xfbnot really");
    }
}
