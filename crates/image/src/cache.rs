//! Content-addressed cache of finished images: the key is the SHA-256 of
//! every input that shapes the bytes (tool version, recipe and kickstart
//! text, each resolved package's NEVRA and SHA-256, overlay digests,
//! container image archives (name and SHA-256),
//! SOURCE_DATE_EPOCH, sizes, allow-lists, which outputs). Builds are
//! reproducible, so a cached image is the image a fresh build would write;
//! the cache only saves the time.

use crate::ImageError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bump when the pipeline's output changes for the same inputs.
/// 2: the disk got the BIOS boot partition and root slot B.
pub const PIPELINE_REVISION: u32 = 2;

/// Builds a cache key from named parts (order matters). Pure.
#[derive(Default)]
pub struct KeyBuilder {
    h: Sha256,
}

impl KeyBuilder {
    pub fn new() -> KeyBuilder {
        let mut k = KeyBuilder { h: Sha256::new() };
        k.part(
            "tool",
            &format!(
                "mk-image {} r{PIPELINE_REVISION}",
                env!("CARGO_PKG_VERSION")
            ),
        );
        k
    }
    pub fn part(&mut self, name: &str, value: &str) -> &mut Self {
        self.h.update((name.len() as u64).to_le_bytes());
        self.h.update(name.as_bytes());
        self.h.update((value.len() as u64).to_le_bytes());
        self.h.update(value.as_bytes());
        self
    }
    pub fn finish(self) -> String {
        hex::encode(self.h.finalize())
    }
}

/// Copies keeping holes (raw images are mostly sparse) and sharing extents
/// where the filesystem can.
pub fn sparse_copy(from: &Path, to: &Path) -> Result<(), ImageError> {
    let out = Command::new("cp")
        .args(["--sparse=always", "--reflink=auto"])
        .arg(from)
        .arg(to)
        .output()
        .map_err(ImageError::io(to))?;
    if !out.status.success() {
        return Err(ImageError::Step {
            step: "cache".into(),
            message: format!(
                "cp {} {}: {}",
                from.display(),
                to.display(),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(())
}

/// Where an entry lives.
pub fn entry_dir(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join(key)
}

/// Copies `file` to `target` through a temporary file beside it, fsynced,
/// then renamed: no half-written output.
pub fn install_file(file: &Path, target: &Path) -> Result<(), ImageError> {
    let tmp = mk_durable::temp_beside(target).map_err(ImageError::io(target))?;
    let tmp_path = tmp.path().to_path_buf();
    sparse_copy(file, &tmp_path)?;
    std::fs::File::open(&tmp_path)
        .and_then(|f| f.sync_all())
        .map_err(ImageError::io(&tmp_path))?;
    mk_durable::persist(tmp, target).map_err(ImageError::io(target))?;
    Ok(())
}

/// Stores files into the entry for `key` (a directory built beside it and
/// renamed in, so a reader never sees half an entry).
pub fn store(cache_dir: &Path, key: &str, files: &[(&str, &Path)]) -> Result<(), ImageError> {
    std::fs::create_dir_all(cache_dir).map_err(ImageError::io(cache_dir))?;
    let dir = entry_dir(cache_dir, key);
    if dir.is_dir() {
        return Ok(());
    }
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{key}."))
        .tempdir_in(cache_dir)
        .map_err(ImageError::io(cache_dir))?;
    for (name, src) in files {
        let dst = tmp.path().join(name);
        sparse_copy(src, &dst)?;
        std::fs::File::open(&dst)
            .and_then(|f| f.sync_all())
            .map_err(ImageError::io(&dst))?;
    }
    let tmp_path = tmp.keep();
    match std::fs::rename(&tmp_path, &dir) {
        Ok(()) => {}
        // Another build stored the same entry meanwhile: same bytes.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp_path);
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp_path);
            return Err(ImageError::io(&dir)(e));
        }
    }
    mk_durable::sync_dir(cache_dir).map_err(ImageError::io(cache_dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_part_and_its_boundaries() {
        let k = |parts: &[(&str, &str)]| {
            let mut b = KeyBuilder::new();
            for (n, v) in parts {
                b.part(n, v);
            }
            b.finish()
        };
        assert_eq!(k(&[("a", "1")]), k(&[("a", "1")]));
        assert_ne!(k(&[("a", "1")]), k(&[("a", "2")]));
        assert_ne!(k(&[("a", "12")]), k(&[("a1", "2")]));
        assert_ne!(k(&[("a", "1"), ("b", "")]), k(&[("a", "1")]));
    }
}
