//! Where the role config comes from, in order: a config drive (label
//! `MK-CONFIG`), the URL on the kernel command line (`mk.config=https://...`
//! with `mk.config.ca=sha256:...`), the `--config FILE` given to
//! `mk-firstboot apply`. The first one present wins; a source that is
//! present but broken (a drive without a config, a URL whose server fails
//! the CA pin) is an error, never a reason to fall through to the next.

pub mod cmdline;
pub mod drive;
pub mod https;
pub mod tls;

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error(transparent)]
    Drive(#[from] drive::DriveError),
    #[error(transparent)]
    Cmdline(#[from] cmdline::CmdlineError),
    #[error("config URL")]
    Fetch(#[from] https::FetchError),
    #[error("config URL: {attempts} attempts in {elapsed} s failed; the last")]
    Attempts {
        attempts: u32,
        elapsed: u64,
        #[source]
        source: https::FetchError,
    },
    #[error("config URL {url}: not found (HTTP 404)")]
    NotFound { url: String },
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no role config: no drive labelled {} under {sys}/class/block, no mk.config= in {cmdline}, \
         and no --config FILE", drive::LABEL
    )]
    Nothing { sys: String, cmdline: String },
}

/// The config as delivered, with its signature if one came along.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub config: Vec<u8>,
    pub signature: Option<Vec<u8>>,
    /// For messages: `config drive /dev/sr0 (ISO 9660)`, the URL, the path.
    pub origin: String,
    /// The name used in error messages about the config's content.
    pub name: String,
}

/// Where the sources are looked for: all under the node root, so tests
/// fake them.
#[derive(Debug, Clone)]
pub struct Places {
    pub sys: PathBuf,
    pub dev: PathBuf,
    pub cmdline: PathBuf,
    /// Attempts and pause for a URL that cannot be reached yet.
    pub attempts: u32,
    pub pause: Duration,
    /// Longest wait for a TCP connection, and for each piece of a
    /// response: a server that accepts and says nothing fails after this.
    pub timeout: Duration,
    /// The whole URL source (config and signature, every attempt) ends
    /// within this: retries stop when it is spent, and a server that drips
    /// a byte now and then is given up at it (issue 12).
    pub deadline: Duration,
}

impl Places {
    pub fn under(root: &Path) -> Places {
        Places {
            sys: root.join("sys"),
            dev: root.join("dev"),
            cmdline: root.join("proc/cmdline"),
            attempts: 10,
            pause: Duration::from_secs(3),
            timeout: Duration::from_secs(20),
            // Ten tries three seconds apart fit, with time for one slow
            // answer; the unit must not hold the boot much longer.
            deadline: Duration::from_secs(60),
        }
    }
}

/// Finds and reads the config.
pub fn find(places: &Places, explicit: Option<&Path>) -> Result<Delivered, SourceError> {
    let candidates = drive::candidates(&places.sys, &places.dev)?;
    if let Some(d) = drive::find(&candidates)? {
        if let Some(p) = explicit {
            tracing::warn!(config = %p.display(), "--config ignored: the config drive comes first");
        }
        let origin = format!("config drive {} ({})", d.device.display(), d.fs.as_str());
        return Ok(Delivered {
            config: d.config,
            signature: d.signature,
            name: format!("{}:{}", d.device.display(), drive::CONFIG_NAME),
            origin,
        });
    }
    let cmdline = match std::fs::read_to_string(&places.cmdline) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(SourceError::Io {
                path: places.cmdline.display().to_string(),
                source,
            })
        }
    };
    if let Some(src) = cmdline::parse(&cmdline)? {
        if let Some(p) = explicit {
            tracing::warn!(config = %p.display(), "--config ignored: mk.config= on the kernel command line comes first");
        }
        let url = src.url.to_string();
        let deadline = https::Deadline::after(places.deadline);
        let config = fetch_retrying(places, &deadline, &src.url, src.ca_pin)?
            .ok_or_else(|| SourceError::NotFound { url: url.clone() })?;
        let signature = fetch_retrying(
            places,
            &deadline,
            &src.url.with_suffix(".minisig"),
            src.ca_pin,
        )?;
        tracing::info!(
            url,
            bytes = config.len(),
            signed = signature.is_some(),
            "config fetched"
        );
        return Ok(Delivered {
            config,
            signature,
            origin: format!("{url} (CA pinned)"),
            name: url,
        });
    }
    if let Some(p) = explicit {
        return from_file(p);
    }
    Err(SourceError::Nothing {
        sys: places.sys.display().to_string(),
        cmdline: places.cmdline.display().to_string(),
    })
}

/// `FILE` and `FILE.minisig` beside it, each refused unread when larger
/// than a role config (or a signature) may be.
pub fn from_file(path: &Path) -> Result<Delivered, SourceError> {
    let read_config = |p: &Path| read_optional(p, mk_roleconfig::parse::MAX_CONFIG_BYTES);
    let name = path.display().to_string();
    let config = read_config(path)?.ok_or_else(|| SourceError::Io {
        path: name.clone(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    })?;
    let signature = read_optional(
        &mk_roleconfig::signature_path(path),
        mk_roleconfig::signature::MAX_SIGNATURE_BYTES,
    )?;
    Ok(Delivered {
        config,
        signature,
        origin: format!("file {name}"),
        name,
    })
}

/// `path`'s bytes, at most `max` of them (else an error naming the file and
/// both sizes); `None` when there is no such file.
pub fn read_optional(path: &Path, max: usize) -> Result<Option<Vec<u8>>, SourceError> {
    match mk_roleconfig::parse::read_limited(path, max) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SourceError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// GETs `url`, retrying what may be the network coming up (connection
/// refused, no answer yet) every `places.pause`, at most `places.attempts`
/// times, and only while `deadline` leaves time for another try.
fn fetch_retrying(
    places: &Places,
    deadline: &https::Deadline,
    url: &cmdline::HttpsUrl,
    pin: [u8; 32],
) -> Result<Option<Vec<u8>>, SourceError> {
    let mut attempt = 1;
    loop {
        match https::get(url, pin, places.timeout, deadline) {
            // Another try only when it gets a fair share of time after the
            // pause: one started with milliseconds left can only be cut at
            // its first step, and would report that (a name lookup) instead
            // of what really kept failing.
            Err(e)
                if e.transient()
                    && attempt < places.attempts
                    && deadline.remaining()
                        > places.pause + places.timeout.min(Duration::from_secs(1)) =>
            {
                tracing::warn!(url = %url, attempt, error = %crate::errors::one_line(&e), "config URL not reachable yet; retrying");
                std::thread::sleep(places.pause);
                attempt += 1;
            }
            Err(e) if attempt > 1 => {
                tracing::warn!(url = %url, attempt, "config URL: giving up");
                return Err(SourceError::Attempts {
                    attempts: attempt,
                    elapsed: deadline.elapsed().as_secs(),
                    source: e,
                });
            }
            r => return Ok(r?),
        }
    }
}
