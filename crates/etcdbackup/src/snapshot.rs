//! The effects: a snapshot taken over mTLS into a directory ([`backup`]),
//! and a snapshot file checked as it is on disk ([`verify_file`]). Behind
//! the `client` feature, so that the pure checks build alone (the fuzz
//! targets) without the TLS client.

use crate::{bolt, files, stream, Pruned};

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use mk_etcdmember::{Client, Streamed};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

/// Defaults shared by `mk-rollout backup` and `mk-firstboot etcd-backup`.
pub const DEFAULT_KEEP: usize = 7;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest wait for any next bytes of the stream.
pub const DEFAULT_STEP: Duration = Duration::from_secs(30);
/// etcd's own largest recommended quota (`--quota-backend-bytes`), 8 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 8 << 30;

const SNAPSHOT: &str = "/v3/maintenance/snapshot";
const STATUS: &str = "/v3/maintenance/status";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// etcd, or the way to it: names the endpoint.
    #[error(transparent)]
    Etcd(#[from] mk_etcdmember::Error),
    /// The snapshot stream is not a whole, consistent snapshot.
    #[error("etcd {endpoint}{SNAPSHOT}: refused the snapshot: {message}; nothing was written")]
    Stream { endpoint: String, message: String },
    /// The connection failed in the middle of the snapshot.
    #[error("{source} (snapshot stream: {got} of {size} bytes received); nothing was written")]
    Interrupted {
        source: mk_etcdmember::Error,
        got: u64,
        /// The database's size, if etcd had said it.
        size: String,
    },
    /// The backup directory.
    #[error("backup directory {}: {message}", .dir.display())]
    Dir { dir: PathBuf, message: String },
    /// Reading or writing a file.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A snapshot file that does not check out.
    #[error("snapshot {}: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What to back up, where, and the bounds.
#[derive(Debug, Clone)]
pub struct Options {
    /// `https://host:2379` (or `host:2379`): the member whose snapshot is taken.
    pub endpoint: String,
    /// An existing directory, local or mounted (NFS).
    pub dir: PathBuf,
    /// Snapshots of this member to keep, the new one included (at least 1).
    pub keep: usize,
    /// The whole snapshot stream ends within this.
    pub timeout: Duration,
    /// The longest wait for the next bytes.
    pub step: Duration,
    /// Larger databases are refused before anything is written.
    pub max_size: u64,
}

impl Options {
    pub fn new(endpoint: &str, dir: &Path) -> Options {
        Options {
            endpoint: endpoint.to_string(),
            dir: dir.to_path_buf(),
            keep: DEFAULT_KEEP,
            timeout: DEFAULT_TIMEOUT,
            step: DEFAULT_STEP,
            max_size: DEFAULT_MAX_SIZE,
        }
    }
}

/// A snapshot file that checked out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verified {
    /// The file's size: the database and the 32-byte SHA-256 trailer.
    pub size: u64,
    /// The trailer: SHA-256 of the database.
    pub sha256: String,
    /// What `etcdctl snapshot status` reports.
    pub status: bolt::Status,
}

/// A backup taken.
#[derive(Debug, Clone)]
pub struct Backup {
    pub path: PathBuf,
    pub endpoint: String,
    pub member: String,
    pub time: OffsetDateTime,
    pub verified: Verified,
    /// From the start of the stream to the file's rename.
    pub elapsed: Duration,
    pub pruned: Pruned,
    /// Snapshots of this member now in the directory, the new one included.
    pub kept: usize,
}

impl Backup {
    /// What happened, for people: one line per fact.
    pub fn summary(&self) -> String {
        let s = &self.verified.status;
        let mut out = format!(
            "etcd snapshot of {} ({}) written to {}\n  {} bytes in {:.1} s; revision {}, {} keys, \
             hash {} (as etcdctl snapshot status), SHA-256 {} verified\n  kept {} snapshot(s) of {}",
            self.member,
            self.endpoint,
            self.path.display(),
            self.verified.size,
            self.elapsed.as_secs_f64(),
            s.revision,
            s.total_key,
            s.hash,
            self.verified.sha256,
            self.kept,
            self.member,
        );
        for p in self.pruned.snapshots.iter().chain(&self.pruned.temporaries) {
            out.push_str(&format!("\n  removed {}", p.display()));
        }
        out.push('\n');
        out
    }
}

/// Progress of the download: database bytes received, and the database's
/// size once etcd has said it.
pub type Progress<'a> = dyn FnMut(u64, Option<u64>) + 'a;

/// A client with the identity in these PEM files (`etcdctl --cacert
/// --cert --key`).
pub fn client(cacert: &Path, cert: &Path, key: &Path) -> Result<Client, Error> {
    let c = mk_etcdmember::Credentials::from_files(cacert, cert, key)
        .map_err(mk_etcdmember::Error::Credentials)?;
    Ok(Client::new(&c)?)
}

/// The member behind `endpoint`: its id, name and database size.
fn member(client: &Client, endpoint: &str) -> Result<(u64, String, u64), Error> {
    let v = client.post(endpoint, STATUS, &json!({}))?;
    let malformed = |message: String| {
        Error::Etcd(mk_etcdmember::Error::Malformed {
            endpoint: endpoint.to_string(),
            path: STATUS.to_string(),
            message,
        })
    };
    let uint = |v: Option<&Value>, what: &str| -> Result<u64, Error> {
        match v {
            Some(Value::String(s)) => s.parse().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            None => Some(0),
            _ => None,
        }
        .ok_or_else(|| malformed(format!("`{what}` is not a uint64")))
    };
    let id = uint(
        v.get("header").and_then(|h| h.get("member_id")),
        "member_id",
    )?;
    let db_size = uint(v.get("dbSize"), "dbSize")?;
    let members = client.member_list(endpoint)?;
    let name = members
        .iter()
        .find(|m| m.id == id)
        .map(|m| m.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("{id:x}"));
    if !files::valid_member(&name) {
        return Err(malformed(format!(
            "member name {name:?} cannot be part of a file name"
        )));
    }
    Ok((id, name, db_size))
}

/// Free bytes for an unprivileged writer in `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Takes a snapshot of the member at `opts.endpoint` into `opts.dir`,
/// checks it and keeps the newest `opts.keep` of that member.
pub fn backup(
    client: &Client,
    opts: &Options,
    progress: &mut Progress<'_>,
) -> Result<Backup, Error> {
    let dir = &opts.dir;
    let dir_error = |message: String| Error::Dir {
        dir: dir.clone(),
        message,
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(dir_error("not a directory".into())),
        Err(e) => {
            return Err(dir_error(format!(
                "{e} (create it, or mount the backup share, first)"
            )))
        }
    }
    if opts.keep == 0 {
        return Err(dir_error("keep 0 snapshots: nothing to do".into()));
    }
    let endpoint = opts.endpoint.as_str();
    let (id, name, db_size) = member(client, endpoint)?;
    tracing::info!(endpoint, member = %name, id = %format!("{id:x}"), db_size, "etcd snapshot: starting");
    if db_size > opts.max_size {
        return Err(Error::Stream {
            endpoint: endpoint.to_string(),
            message: format!(
                "the database is {db_size} bytes, more than the {} allowed (--max-size)",
                opts.max_size
            ),
        });
    }
    if let Some(free) = free_space(dir) {
        if free < db_size.saturating_add(1 << 20) {
            return Err(dir_error(format!(
                "{free} bytes free, the snapshot of {name} needs about {db_size}"
            )));
        }
    }

    let now = OffsetDateTime::now_utc();
    let time = now.replace_nanosecond(0).expect("0 is a valid nanosecond");
    let target = dir.join(files::file_name(&name, time));
    if target.exists() {
        return Err(dir_error(format!(
            "{} exists already (two backups within one second?)",
            target.display()
        )));
    }
    let tmp = mk_durable::temp_beside(&target).map_err(io_error("creating a file in", dir))?;
    let tmp_path = tmp.path().to_path_buf();
    let started = Instant::now();
    let mut decoder = stream::Decoder::new(opts.max_size);
    let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
    let mut write = |b: &[u8]| out.write_all(b);
    let streamed = client.post_stream(
        endpoint,
        SNAPSHOT,
        &json!({}),
        opts.step,
        opts.timeout,
        |bytes: &[u8]| {
            decoder.feed(bytes, &mut write)?;
            let (got, size) = decoder.progress();
            progress(got, size);
            Ok::<(), stream::Fed<io::Error>>(())
        },
    );
    let refused = |message: String| Error::Stream {
        endpoint: endpoint.to_string(),
        message,
    };
    match streamed {
        Ok(()) => {}
        Err(Streamed::Etcd(e)) => {
            let (got, size) = decoder.progress();
            if size.is_none() && got == 0 {
                return Err(e.into());
            }
            return Err(Error::Interrupted {
                source: e,
                got,
                size: size.map_or("?".into(), |s| s.to_string()),
            });
        }
        Err(Streamed::Sink(stream::Fed::Bad(m))) => return Err(refused(m)),
        Err(Streamed::Sink(stream::Fed::Out(e))) => return Err(io_error("writing", &tmp_path)(e)),
    }
    let done = match decoder.finish(&mut write) {
        Ok(d) => d,
        Err(stream::Fed::Bad(m)) => return Err(refused(m)),
        Err(stream::Fed::Out(e)) => return Err(io_error("writing", &tmp_path)(e)),
    };
    out.flush().map_err(io_error("writing", &tmp_path))?;
    drop(out);
    tmp.as_file()
        .sync_all()
        .map_err(io_error("fsync of", &tmp_path))?;
    tracing::debug!(bytes = done.size, messages = done.messages, elapsed = ?started.elapsed(), "etcd snapshot: received");

    // From the disk, as restore will read it.
    let verified = verify_file(&tmp_path).map_err(|e| match e {
        Error::Invalid { message, .. } => Error::Invalid {
            path: target.clone(),
            message: format!("{message}; received from {endpoint}, not kept"),
        },
        other => other,
    })?;
    if verified.size != done.size + stream::HASH_LEN as u64
        || verified.sha256 != hex::encode(done.sha256)
    {
        return Err(Error::Invalid {
            path: tmp_path,
            message: format!(
                "{} bytes with SHA-256 {} on disk, {} bytes with SHA-256 {} received",
                verified.size,
                verified.sha256,
                done.size + stream::HASH_LEN as u64,
                hex::encode(done.sha256)
            ),
        });
    }
    mk_durable::persist_new(tmp, &target).map_err(io_error("renaming into place", &target))?;
    let elapsed = started.elapsed();
    tracing::info!(path = %target.display(), bytes = verified.size, revision = verified.status.revision, keys = verified.status.total_key, ?elapsed, "etcd snapshot: written");

    let pruned = files::prune(dir, &name, opts.keep, SystemTime::now())
        .map_err(io_error("pruning old snapshots in", dir))?;
    let kept = files::list(dir)
        .map_err(io_error("listing", dir))?
        .iter()
        .filter(|f| f.member == name)
        .count();
    Ok(Backup {
        path: target,
        endpoint: endpoint.to_string(),
        member: name,
        time,
        verified,
        elapsed,
        pruned,
        kept,
    })
}

/// Checks a snapshot file as `etcdctl snapshot restore` and `status` would:
/// it ends with the SHA-256 of everything before it, and the rest is an
/// etcd bbolt database whose pages all check out.
pub fn verify_file(path: &Path) -> Result<Verified, Error> {
    let invalid = |message: String| Error::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(io_error("opening", path))?;
    let size = file.metadata().map_err(io_error("reading", path))?.len();
    let hash_len = stream::HASH_LEN as u64;
    // etcdctl restore looks for the trailer where the size is a multiple of
    // 512 plus 32 (bbolt's pages are multiples of 512).
    if size < hash_len || !(size - hash_len).is_multiple_of(512) {
        return Err(invalid(format!(
            "{size} bytes: expected a database of whole pages and a {hash_len}-byte SHA-256 trailer"
        )));
    }
    let db_len = size - hash_len;
    let mut sha = Sha256::new();
    let mut r = (&file).take(db_len);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf).map_err(io_error("reading", path))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
    }
    let mut trailer = [0u8; stream::HASH_LEN];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut trailer, db_len)
        .map_err(io_error("reading", path))?;
    let want: [u8; stream::HASH_LEN] = sha.finalize().into();
    if trailer != want {
        return Err(invalid(format!(
            "SHA-256 trailer {} does not match the database ({})",
            hex::encode(trailer),
            hex::encode(want)
        )));
    }
    let status = bolt::status(&file, db_len).map_err(invalid)?;
    Ok(Verified {
        size,
        sha256: hex::encode(trailer),
        status,
    })
}
