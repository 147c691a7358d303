//! Reading a .deb (deb(5)): an ar archive with `debian-binary`,
//! `control.tar[.gz|.xz|.zst]` and `data.tar[.gz|.xz|.zst]`. Nothing is
//! extracted to disk: members are read into memory, so no link is ever
//! followed. Payloads are untrusted: paths with `..` or leaving the root,
//! symlinks whose target climbs above `/`, entries below a symlink of the
//! same archive, and special files are refused, naming the .deb and member.

use crate::control::{parse_stanzas, Stanza};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("{}: {source}", deb.display())]
    Io {
        deb: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", deb.display())]
    Format { deb: PathBuf, reason: String },
    #[error("{}: member {member:?}: {reason}", deb.display())]
    Member {
        deb: PathBuf,
        member: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    /// Hard link to an earlier member (absolute path).
    HardLink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute, normalised (`/usr/bin/x`).
    pub path: String,
    pub kind: EntryKind,
    pub mode: u16,
    pub user: String,
    pub group: String,
}

#[derive(Debug, Clone)]
pub struct Deb {
    pub path: PathBuf,
    pub control: Stanza,
    /// Paths of `conffiles`.
    pub conffiles: BTreeSet<String>,
    /// Maintainer scripts by name (preinst, postinst, prerm, postrm).
    pub scripts: BTreeMap<String, String>,
    pub entries: Vec<Entry>,
}

/// ar members: (name, bytes).
fn ar_members(deb: &Path, data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, DebError> {
    let fmt = |reason: String| DebError::Format {
        deb: deb.to_path_buf(),
        reason,
    };
    if !data.starts_with(b"!<arch>\n") {
        return Err(fmt("not an ar archive (no !<arch> magic)".into()));
    }
    let mut pos = 8;
    let mut out = Vec::new();
    while pos < data.len() {
        if data.len() - pos < 60 {
            return Err(fmt(format!("truncated ar header at byte {pos}")));
        }
        let h = &data[pos..pos + 60];
        if &h[58..60] != b"`\n" {
            return Err(fmt(format!("bad ar header at byte {pos}")));
        }
        let name = String::from_utf8_lossy(&h[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_owned();
        let size: usize = std::str::from_utf8(&h[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| fmt(format!("ar member {name:?}: bad size field")))?;
        let start = pos + 60;
        let end = start
            .checked_add(size)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| fmt(format!("ar member {name:?}: truncated")))?;
        out.push((name, data[start..end].to_vec()));
        pos = end + (size % 2);
    }
    Ok(out)
}

fn decompress(deb: &Path, member: &str, bytes: Vec<u8>) -> Result<Vec<u8>, DebError> {
    let err = |e: std::io::Error| DebError::Member {
        deb: deb.to_path_buf(),
        member: member.to_owned(),
        reason: format!("decompressing: {e}"),
    };
    let mut out = Vec::with_capacity(bytes.len() * 4);
    if member.ends_with(".xz") {
        liblzma::read::XzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(err)?;
    } else if member.ends_with(".gz") {
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(err)?;
    } else if member.ends_with(".zst") {
        zstd::stream::read::Decoder::new(&bytes[..])
            .map_err(err)?
            .read_to_end(&mut out)
            .map_err(err)?;
    } else if member.ends_with(".tar") {
        return Ok(bytes);
    } else {
        return Err(DebError::Member {
            deb: deb.to_path_buf(),
            member: member.to_owned(),
            reason: "unsupported compression (expected .tar, .tar.gz, .tar.xz or .tar.zst)".into(),
        });
    }
    Ok(out)
}

/// A tar member name as an absolute normalised path, or why not. `./` and
/// `.` give `None` (the archive root). Pure.
pub fn member_path(name: &str) -> Result<Option<String>, &'static str> {
    if name.starts_with('/') {
        return Err("absolute member path (would write outside the root)");
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("`..` in member path (would write outside the root)"),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!("/{}", parts.join("/"))))
}

/// Resolves a symlink target lexically from the link's directory; `None`
/// when it climbs above `/`. Pure.
pub fn resolve_link(link_path: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        let parent = link_path.rsplit_once('/').map_or("", |(p, _)| p);
        parent.split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Reads and checks a .deb.
pub fn read_deb(path: &Path) -> Result<Deb, DebError> {
    let data = std::fs::read(path).map_err(|source| DebError::Io {
        deb: path.to_path_buf(),
        source,
    })?;
    let members = ar_members(path, &data)?;
    let mut control_tar = None;
    let mut data_tar = None;
    for (name, bytes) in members {
        if name.starts_with("control.tar") {
            control_tar = Some(decompress(path, &name, bytes)?);
        } else if name.starts_with("data.tar") {
            data_tar = Some((name.clone(), decompress(path, &name, bytes)?));
        }
    }
    let fmt = |reason: &str| DebError::Format {
        deb: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let control_tar = control_tar.ok_or_else(|| fmt("no control.tar member"))?;
    let (data_name, data_tar) = data_tar.ok_or_else(|| fmt("no data.tar member"))?;

    let mut control = None;
    let mut conffiles = BTreeSet::new();
    let mut scripts = BTreeMap::new();
    let mut ar = tar::Archive::new(&control_tar[..]);
    let entries = ar
        .entries()
        .map_err(|e| fmt(&format!("control.tar: {e}")))?;
    for e in entries {
        let mut e = e.map_err(|e| fmt(&format!("control.tar: {e}")))?;
        let name = e
            .path()
            .map_err(|e| fmt(&format!("control.tar: {e}")))?
            .to_string_lossy()
            .into_owned();
        let name = name.trim_start_matches("./").to_owned();
        let mut text = String::new();
        if e.header().entry_type().is_file() {
            e.read_to_string(&mut text)
                .map_err(|e| fmt(&format!("control.tar {name}: {e}")))?;
        }
        match name.as_str() {
            "control" => {
                let mut st = parse_stanzas(&text).map_err(|e| fmt(&format!("control: {e}")))?;
                if st.len() != 1 {
                    return Err(fmt("control: expected exactly one stanza"));
                }
                control = Some(st.remove(0));
            }
            "conffiles" => {
                for l in text.lines() {
                    // `remove-on-upgrade /path` lines (dpkg 1.20+) keep the path last.
                    if let Some(p) = l.split_whitespace().last() {
                        conffiles.insert(p.to_owned());
                    }
                }
            }
            "preinst" | "postinst" | "prerm" | "postrm" => {
                scripts.insert(name, text);
            }
            _ => {}
        }
    }
    let control = control.ok_or_else(|| fmt("control.tar has no control file"))?;

    let mut entries = Vec::new();
    let mut symlinks: BTreeSet<String> = BTreeSet::new();
    let mut ar = tar::Archive::new(&data_tar[..]);
    let iter = ar
        .entries()
        .map_err(|e| fmt(&format!("{data_name}: {e}")))?;
    for e in iter {
        let mut e = e.map_err(|e| fmt(&format!("{data_name}: {e}")))?;
        let raw = String::from_utf8(e.path_bytes().into_owned()).map_err(|_| DebError::Member {
            deb: path.to_path_buf(),
            member: String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            reason: "member name is not UTF-8".into(),
        })?;
        let bad = |reason: String| DebError::Member {
            deb: path.to_path_buf(),
            member: raw.clone(),
            reason,
        };
        let Some(p) = member_path(&raw).map_err(|r| bad(r.into()))? else {
            continue;
        };
        // A member below a symlink of this archive would be written through
        // the link by a naive extractor: refuse.
        let mut prefix = String::new();
        for comp in p[1..]
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            prefix.push('/');
            prefix.push_str(comp);
            if symlinks.contains(&prefix) {
                return Err(bad(format!(
                    "lies below {prefix}, a symlink in the same archive"
                )));
            }
        }
        let h = e.header();
        let mode = (h.mode().map_err(|e| bad(e.to_string()))? & 0o7777) as u16;
        let uid = h.uid().unwrap_or(0);
        let gid = h.gid().unwrap_or(0);
        let user = match h.username().ok().flatten() {
            Some(u) if !u.is_empty() => u.to_owned(),
            _ if uid == 0 => "root".to_owned(),
            _ => return Err(bad(format!("owner uid {uid} has no name"))),
        };
        let group = match h.groupname().ok().flatten() {
            Some(g) if !g.is_empty() => g.to_owned(),
            _ if gid == 0 => "root".to_owned(),
            _ => return Err(bad(format!("group gid {gid} has no name"))),
        };
        let et = h.entry_type();
        let link = || -> Result<String, DebError> {
            let l = e
                .link_name_bytes()
                .ok_or_else(|| bad("link without target".into()))?;
            String::from_utf8(l.into_owned()).map_err(|_| bad("link target is not UTF-8".into()))
        };
        let kind = if et.is_dir() {
            EntryKind::Dir
        } else if et.is_symlink() {
            let target = link()?;
            if target.is_empty() {
                return Err(bad("empty symlink target".into()));
            }
            if resolve_link(&p, &target).is_none() {
                return Err(bad(format!("symlink target {target:?} escapes the root")));
            }
            symlinks.insert(p.clone());
            EntryKind::Symlink(target)
        } else if et.is_hard_link() {
            let target = link()?;
            let t = member_path(&target)
                .map_err(|r| bad(format!("hard link target {target:?}: {r}")))?
                .ok_or_else(|| bad("hard link to the root".into()))?;
            EntryKind::HardLink(t)
        } else if et.is_file() || et == tar::EntryType::Continuous {
            let mut buf = Vec::with_capacity(e.size() as usize);
            e.read_to_end(&mut buf).map_err(|e| bad(e.to_string()))?;
            EntryKind::File(buf)
        } else {
            return Err(bad(format!(
                "unsupported entry type {et:?} (only files, directories and links)"
            )));
        };
        entries.push(Entry {
            path: p,
            kind,
            mode,
            user,
            group,
        });
    }
    Ok(Deb {
        path: path.to_path_buf(),
        control,
        conffiles,
        scripts,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths() {
        assert_eq!(member_path("./usr/bin/x"), Ok(Some("/usr/bin/x".into())));
        assert_eq!(member_path("./"), Ok(None));
        assert_eq!(member_path("usr//lib/"), Ok(Some("/usr/lib".into())));
        assert!(member_path("./../etc/passwd").is_err());
        assert!(member_path("/etc/passwd").is_err());
        assert!(member_path("./usr/../../x").is_err());
    }

    #[test]
    fn links() {
        assert_eq!(
            resolve_link("/usr/bin/x", "../lib/y").as_deref(),
            Some("/usr/lib/y")
        );
        assert_eq!(
            resolve_link("/usr/bin/x", "/etc/alternatives/x").as_deref(),
            Some("/etc/alternatives/x")
        );
        assert_eq!(resolve_link("/usr/bin/x", "../../../etc"), None);
        assert_eq!(resolve_link("/x", "/../etc/shadow"), None);
    }
}
