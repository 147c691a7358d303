//! Reading repodata: repomd.xml, then the files it lists, each checked
//! against its checksum before it is decompressed and parsed.

use super::compression::decompress;
use super::parse::{
    parse_filelists, parse_other, parse_primary, parse_repomd, RepomdData, RepomdRecord,
};
use super::RepodataError;
use crate::package::Package;
use sha2::Digest;
use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Reads `repo_root/repodata/` into packages (`location` = the href,
/// relative to `repo_root`). primary and filelists must be present; other
/// (changelogs) is read when listed. Every file is checked against the
/// checksum and size repomd.xml gives before it is used.
pub fn read_repodata(repo_root: &Path) -> Result<Vec<Package>, RepodataError> {
    let (repomd_path, repomd) = read_repomd(repo_root)?;
    let record = |kind: &'static str| {
        repomd
            .record(kind)
            .ok_or_else(|| RepodataError::MissingRecord {
                path: repomd_path.clone(),
                kind,
            })
    };
    let primary = record("primary")?;
    let filelists = record("filelists")?;
    let other = repomd.record("other");

    let xml_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RepodataError::Xml { path, source }
    };
    let (primary, (filelists, other)) = rayon::join(
        || -> Result<_, RepodataError> {
            let (path, xml) = load(repo_root, primary)?;
            parse_primary(&xml).map_err(xml_err(&path))
        },
        || {
            rayon::join(
                || -> Result<_, RepodataError> {
                    let (path, xml) = load(repo_root, filelists)?;
                    Ok((parse_filelists(&xml).map_err(xml_err(&path))?, path))
                },
                || -> Result<_, RepodataError> {
                    let Some(rec) = other else { return Ok(None) };
                    let (path, xml) = load(repo_root, rec)?;
                    Ok(Some((parse_other(&xml).map_err(xml_err(&path))?, path)))
                },
            )
        },
    );
    let mut packages = primary?;
    let (filelists, filelists_path) = filelists?;
    let other = other?;

    // pkgid -> packages with it (the same .rpm may sit at two locations).
    let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in packages.iter().enumerate() {
        by_id.entry(p.checksum.clone()).or_default().push(i);
    }
    let find = |path: &Path,
                taken: &mut Vec<bool>,
                pkgid: &str,
                name: &str,
                arch: &str,
                evr: &crate::Evr|
     -> Result<usize, RepodataError> {
        by_id
            .get(pkgid)
            .and_then(|ids| {
                ids.iter().copied().find(|&i| {
                    let p = &packages[i];
                    !taken[i] && p.name == name && p.arch == arch && &p.evr == evr
                })
            })
            .inspect(|&i| taken[i] = true)
            .ok_or_else(|| RepodataError::UnknownPackage {
                path: path.to_path_buf(),
                pkgid: pkgid.to_string(),
                name: format!("{name}-{evr}.{arch}"),
            })
    };

    let mut got_files = vec![false; packages.len()];
    let mut file_lists = Vec::with_capacity(filelists.len());
    for f in filelists {
        let i = find(
            &filelists_path,
            &mut got_files,
            &f.pkgid,
            &f.name,
            &f.arch,
            &f.evr,
        )?;
        file_lists.push((i, f.files));
    }
    if let Some(i) = got_files.iter().position(|&g| !g) {
        return Err(RepodataError::NotInFilelists {
            path: filelists_path,
            package: packages[i].nevra(),
            pkgid: packages[i].checksum.clone(),
        });
    }
    let mut changelogs = Vec::new();
    if let Some((other, other_path)) = other {
        let mut got = vec![false; packages.len()];
        for o in other {
            let i = find(&other_path, &mut got, &o.pkgid, &o.name, &o.arch, &o.evr)?;
            changelogs.push((i, o.changelogs));
        }
    }
    for (i, files) in file_lists {
        packages[i].files = files;
    }
    for (i, mut cl) in changelogs {
        // other.xml lists oldest first; the model keeps the header's order.
        cl.reverse();
        packages[i].changelogs = cl;
    }
    tracing::debug!(
        packages = packages.len(),
        repo = %repo_root.display(),
        "read repodata"
    );
    Ok(packages)
}

/// The comps.xml a repository declares (`group`, or `group_gz` as
/// `createrepo_c -g` adds them): its path and decompressed content, or
/// `None` when repomd.xml lists neither. Every listed copy is checked
/// against its checksum, so a corrupted one is refused even when the other
/// is intact.
pub fn read_group(repo_root: &Path) -> Result<Option<(PathBuf, Vec<u8>)>, RepodataError> {
    let (_, repomd) = read_repomd(repo_root)?;
    let mut found = None;
    for kind in ["group", "group_gz"] {
        if let Some(rec) = repomd.record(kind) {
            let loaded = load(repo_root, rec)?;
            found.get_or_insert(loaded);
        }
    }
    Ok(found)
}

fn read_repomd(repo_root: &Path) -> Result<(PathBuf, RepomdData), RepodataError> {
    let repomd_path = repo_root.join("repodata").join("repomd.xml");
    let bytes = fs::read(&repomd_path).map_err(RepodataError::io(&repomd_path))?;
    let repomd = parse_repomd(&bytes).map_err(|source| RepodataError::Xml {
        path: repomd_path.clone(),
        source,
    })?;
    Ok((repomd_path, repomd))
}

/// Reads one listed file, checks size and checksum, and decompresses it
/// (checking the open checksum when given).
fn load(repo_root: &Path, rec: &RepomdRecord) -> Result<(PathBuf, Vec<u8>), RepodataError> {
    let href = Path::new(&rec.location_href);
    if href.is_absolute()
        || href
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(RepodataError::BadHref {
            path: repo_root.join("repodata").join("repomd.xml"),
            href: rec.location_href.clone(),
        });
    }
    let path = repo_root.join(href);
    let bytes = fs::read(&path).map_err(RepodataError::io(&path))?;
    verify(&path, &rec.checksum, &bytes, "")?;
    if let Some(size) = rec.size {
        if size != bytes.len() as u64 {
            return Err(RepodataError::SizeMismatch {
                path,
                expected: size,
                actual: bytes.len() as u64,
            });
        }
    }
    let xml = decompress(&path, bytes)?;
    if let Some(sum) = &rec.open_checksum {
        verify(&path, sum, &xml, "open ")?;
    }
    Ok((path, xml))
}

fn verify(
    path: &Path,
    (kind, expected): &(String, String),
    bytes: &[u8],
    what: &str,
) -> Result<(), RepodataError> {
    let actual = match kind.as_str() {
        "sha256" => hex::encode(sha2::Sha256::digest(bytes)),
        "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
        // `sha` is what old yum-era createrepo wrote for SHA-1.
        "sha1" | "sha" => hex::encode(sha1_digest(bytes)),
        _ => {
            return Err(RepodataError::UnsupportedChecksum {
                path: path.to_path_buf(),
                kind: kind.clone(),
            })
        }
    };
    if &actual != expected {
        return Err(RepodataError::ChecksumMismatch {
            path: path.to_path_buf(),
            kind: format!("{what}{kind}"),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

fn sha1_digest(bytes: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(bytes).into()
}
