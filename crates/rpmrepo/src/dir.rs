//! Reading every binary RPM below a directory, in parallel.

use crate::header::{read_rpm_with, Check, HeaderError};
use crate::package::Package;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Reads every `*.rpm` below `dir` (recursively; structure, size and header
/// digests checked, payload digests left to `repo verify`, `bundle` and
/// rpm: [`Check::Header`]), sorted by
/// path relative to `dir`, which becomes each package's `location` (with
/// `/`). Source RPMs (`*.src.rpm`) are skipped with a log line. Hidden
/// files and directories (`.name`, e.g. a `.repodata` temp dir) are not
/// read. The first error (in path order) is returned; it names the file.
pub fn scan_dir(dir: &Path) -> Result<Vec<Package>, HeaderError> {
    let start = Instant::now();
    let mut found = Vec::new();
    walk(dir, "", &mut found)?;
    found.sort();
    let (sources, binaries): (Vec<_>, Vec<_>) =
        found.into_iter().partition(|rel| rel.ends_with(".src.rpm"));
    for rel in &sources {
        tracing::info!(file = %rel, "skipping source RPM");
    }
    tracing::info!(
        dir = %dir.display(),
        packages = binaries.len(),
        skipped_source = sources.len(),
        "reading RPM headers"
    );
    // Collecting into Result keeps path order, so the error reported is the
    // first failing file's whatever thread finished first.
    let packages: Vec<Package> = binaries
        .par_iter()
        .map(|rel| read_rpm_with(&dir.join(rel), rel, Check::Header))
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<_, _>>()?;
    tracing::info!(
        dir = %dir.display(),
        packages = packages.len(),
        ms = start.elapsed().as_millis() as u64,
        "read RPM headers"
    );
    Ok(packages)
}

fn walk(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), HeaderError> {
    let here: PathBuf = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let io_err = |source| HeaderError::Io {
        path: here.clone(),
        source,
    };
    for entry in std::fs::read_dir(&here).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(HeaderError::Malformed {
                file: entry.path().display().to_string(),
                what: "file name is not UTF-8 (repodata locations must be)".into(),
            });
        };
        if name.starts_with('.') {
            continue;
        }
        let child = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        // Follows symlinks, as createrepo_c does.
        let meta = std::fs::metadata(entry.path()).map_err(|source| HeaderError::Io {
            path: entry.path(),
            source,
        })?;
        if meta.is_dir() {
            walk(root, &child, out)?;
        } else if meta.is_file() && name.ends_with(".rpm") {
            out.push(child);
        }
    }
    Ok(())
}
