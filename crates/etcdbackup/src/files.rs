//! The backup directory: snapshot files are `etcd-<member>-<UTC time>.db`
//! (`etcd-cp1.example.com-20261207T140000Z.db`), written under a hidden
//! temporary name first (`.etcd-…db.XXXXXX.tmp`, mk-durable). Only files
//! of exactly that form are ever listed or deleted; pruning keeps the
//! newest N of one member, so members sharing a directory (an NFS export)
//! never prune each other's.
//!
//! Naming, parsing and choosing what to delete are pure; [`list`] and
//! [`prune`] read and change the directory.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const PREFIX: &str = "etcd-";
const SUFFIX: &str = ".db";
/// `20261207T140000Z`
const STAMP_LEN: usize = 16;

/// A temporary file this old was left by a run that died (a run is bounded
/// by its timeout, far less).
pub const STALE_TEMPORARY: Duration = Duration::from_secs(24 * 3600);

/// The file name of a snapshot of `member` taken at `at` (UTC, seconds).
pub fn file_name(member: &str, at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let stamp = at
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .expect("formatting a UTC time");
    format!("{PREFIX}{member}-{stamp}{SUFFIX}")
}

/// Whether `member` (an etcd member name, a node's DNS name) can stand in a
/// file name as it is.
pub fn valid_member(member: &str) -> bool {
    !member.is_empty()
        && member.len() <= 253
        && !member.starts_with('.')
        && member
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Member and time of a snapshot's file name; `None` for any other name.
pub fn parse_name(name: &str) -> Option<(String, OffsetDateTime)> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if rest.len() < STAMP_LEN + 2 || !rest.is_char_boundary(rest.len() - STAMP_LEN - 1) {
        return None;
    }
    let (member, stamp) = rest.split_at(rest.len() - STAMP_LEN - 1);
    let stamp = stamp.strip_prefix('-')?;
    if !valid_member(member) {
        return None;
    }
    let t = PrimitiveDateTime::parse(
        stamp,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .ok()?
    .assume_utc();
    // Only the canonical spelling of that time is ours.
    (file_name(member, t) == name).then(|| (member.to_string(), t))
}

/// One snapshot file in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub member: String,
    /// When it was taken (from its name).
    pub time: OffsetDateTime,
}

/// The snapshot files in `dir`, oldest first: regular files (not links)
/// whose names are ours.
pub fn list(dir: &Path) -> io::Result<Vec<Found>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some((member, time)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        if !entry.file_type()?.is_file() {
            continue;
        }
        out.push(Found {
            path: entry.path(),
            member,
            time,
        });
    }
    out.sort_by(|a, b| (a.time, &a.path).cmp(&(b.time, &b.path)));
    Ok(out)
}

/// The newest snapshot in `dir`, of any member: what a rollout checks
/// before it starts (R7: back up etcd first), with [`crate::verify_file`]
/// to check it.
pub fn latest(dir: &Path) -> io::Result<Option<Found>> {
    Ok(list(dir)?.pop())
}

/// Which of `found` to delete so that `member` keeps its newest `keep`;
/// other members' files are never chosen.
pub fn to_prune<'a>(found: &'a [Found], member: &str, keep: usize) -> Vec<&'a Found> {
    let mut mine: Vec<&Found> = found.iter().filter(|f| f.member == member).collect();
    mine.sort_by(|a, b| (b.time, &b.path).cmp(&(a.time, &a.path)));
    mine.into_iter().skip(keep).collect()
}

/// Whether `name` is one of our temporary files for `member`'s snapshots
/// (`.etcd-<member>-<time>.db.XXXXXX.tmp`).
pub fn is_temporary_of(name: &str, member: &str) -> bool {
    let Some(rest) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    let Some((target, random)) = rest.rsplit_once('.') else {
        return false;
    };
    !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_alphanumeric())
        && parse_name(target).is_some_and(|(m, _)| m == member)
}

/// What [`prune`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Older snapshots of the member.
    pub snapshots: Vec<PathBuf>,
    /// Temporary files of runs that died ([`STALE_TEMPORARY`]).
    pub temporaries: Vec<PathBuf>,
}

/// Deletes `member`'s snapshots beyond the newest `keep` and its stale
/// temporary files, then fsyncs the directory. Nothing else is touched.
pub fn prune(dir: &Path, member: &str, keep: usize, now: SystemTime) -> io::Result<Pruned> {
    let found = list(dir)?;
    let mut pruned = Pruned::default();
    for f in to_prune(&found, member, keep) {
        std::fs::remove_file(&f.path)?;
        pruned.snapshots.push(f.path.clone());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| is_temporary_of(n, member)) {
            continue;
        }
        let meta = entry.metadata()?;
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_TEMPORARY);
        if meta.is_file() && old {
            std::fs::remove_file(entry.path())?;
            pruned.temporaries.push(entry.path());
        }
    }
    if !pruned.snapshots.is_empty() || !pruned.temporaries.is_empty() {
        mk_durable::sync_dir(dir)?;
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names() {
        let t = datetime!(2026-12-07 14:00:00 UTC);
        let n = file_name("cp1.example.com", t);
        assert_eq!(n, "etcd-cp1.example.com-20261207T140000Z.db");
        assert_eq!(parse_name(&n), Some(("cp1.example.com".into(), t)));
        // Another offset: the same instant, in UTC.
        let local = datetime!(2026-12-07 15:00:00 +01:00);
        assert_eq!(file_name("a", local), "etcd-a-20261207T140000Z.db");
        // Dashes in the member name are fine: the time has a fixed length.
        assert_eq!(
            parse_name("etcd-cp-1-20261207T140000Z.db"),
            Some(("cp-1".into(), t))
        );
        for other in [
            "etcd-cp1-20261207T140000Z.db.part",
            "etcd-cp1-20261207T140000Z.DB",
            "etcd--20261207T140000Z.db",
            "etcd-cp1-20261307T140000Z.db",
            "etcd-cp1-2026127T140000Z.db",
            "etcd-cp1_20261207T140000Z.db",
            "etcd-cp 1-20261207T140000Z.db",
            "etcd-.x-20261207T140000Z.db",
            "snapshot.db",
            "etcd-20261207T140000Z.db",
            "etcd-é-20261207T140000Z.db",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
        assert!(valid_member("cp1.example.com"));
        assert!(!valid_member("../x"));
        assert!(!valid_member(""));
    }

    #[test]
    fn temporaries() {
        let t = "etcd-cp1.example.com-20261207T140000Z.db";
        assert!(is_temporary_of(
            &format!(".{t}.a1B2c3.tmp"),
            "cp1.example.com"
        ));
        assert!(!is_temporary_of(
            &format!(".{t}.a1B2c3.tmp"),
            "cp2.example.com"
        ));
        assert!(!is_temporary_of(&format!(".{t}..tmp"), "cp1.example.com"));
        assert!(!is_temporary_of(
            &format!("{t}.a1B2c3.tmp"),
            "cp1.example.com"
        ));
        assert!(!is_temporary_of(".other.db.a1B2c3.tmp", "cp1.example.com"));
    }

    fn found(member: &str, minute: u8) -> Found {
        let time = datetime!(2026-12-07 14:00:00 UTC) + time::Duration::minutes(minute.into());
        Found {
            path: PathBuf::from(file_name(member, time)),
            member: member.into(),
            time,
        }
    }

    #[test]
    fn pruning_keeps_the_newest_of_one_member() {
        let all = [
            found("a", 1),
            found("b", 2),
            found("a", 3),
            found("a", 5),
            found("b", 0),
            found("a", 4),
        ];
        let names = |v: Vec<&Found>| -> Vec<String> {
            v.iter().map(|f| f.path.display().to_string()).collect()
        };
        assert_eq!(
            names(to_prune(&all, "a", 2)),
            ["etcd-a-20261207T140300Z.db", "etcd-a-20261207T140100Z.db"]
        );
        assert!(to_prune(&all, "a", 4).is_empty());
        assert_eq!(to_prune(&all, "a", 0).len(), 4);
        assert_eq!(
            names(to_prune(&all, "b", 1)),
            ["etcd-b-20261207T140000Z.db"]
        );
        assert!(to_prune(&all, "c", 1).is_empty());
    }

    #[test]
    fn listing_and_pruning_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for m in [1u8, 2, 3, 4] {
            std::fs::write(p.join(found("cp1", m).path), b"x").unwrap();
        }
        std::fs::write(p.join(found("cp2", 0).path), b"x").unwrap();
        // Foreign files, a directory and a link with our names' shape.
        std::fs::write(p.join("notes.txt"), b"x").unwrap();
        std::fs::write(p.join("etcd-cp1-20261207T140000Z.db.bak"), b"x").unwrap();
        std::fs::create_dir(p.join(found("cp1", 0).path)).unwrap();
        std::os::unix::fs::symlink("notes.txt", p.join(found("cp1", 9).path)).unwrap();
        // A fresh and an old temporary file.
        let fresh = format!(".{}.AAAAAA.tmp", found("cp1", 5).path.display());
        let stale = format!(".{}.BBBBBB.tmp", found("cp1", 6).path.display());
        std::fs::write(p.join(&fresh), b"x").unwrap();
        std::fs::write(p.join(&stale), b"x").unwrap();
        let later = SystemTime::now() + STALE_TEMPORARY + Duration::from_secs(60);
        let stale_time = std::fs::File::options()
            .write(true)
            .open(p.join(&stale))
            .unwrap();
        stale_time
            .set_modified(SystemTime::now() - STALE_TEMPORARY - Duration::from_secs(60))
            .unwrap();

        let all = list(p).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(
            latest(p).unwrap().unwrap(),
            Found {
                path: p.join(found("cp1", 4).path),
                ..found("cp1", 4)
            }
        );
        let pruned = prune(p, "cp1", 2, SystemTime::now()).unwrap();
        assert_eq!(
            pruned.snapshots,
            [p.join(found("cp1", 2).path), p.join(found("cp1", 1).path)]
        );
        assert_eq!(pruned.temporaries, [p.join(&stale)]);
        let mut left: Vec<String> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                fresh.as_str(),
                "etcd-cp1-20261207T140000Z.db",
                "etcd-cp1-20261207T140000Z.db.bak",
                "etcd-cp1-20261207T140300Z.db",
                "etcd-cp1-20261207T140400Z.db",
                "etcd-cp1-20261207T140900Z.db",
                "etcd-cp2-20261207T140000Z.db",
                "notes.txt",
            ]
        );
        // Much later, the fresh one is stale too.
        let pruned = prune(p, "cp1", 2, later).unwrap();
        assert_eq!(pruned.temporaries, [p.join(&fresh)]);
        assert!(latest(&p.join("missing")).is_err());
    }
}
