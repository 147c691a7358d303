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
    pub timeout: Duration,
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
        let config = fetch_retrying(places, &src.url, src.ca_pin)?
            .ok_or_else(|| SourceError::NotFound { url: url.clone() })?;
        let signature = fetch_retrying(places, &src.url.with_suffix(".minisig"), src.ca_pin)?;
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

/// `FILE` and `FILE.minisig` beside it.
pub fn from_file(path: &Path) -> Result<Delivered, SourceError> {
    let read = |p: &Path| -> Result<Option<Vec<u8>>, SourceError> {
        match std::fs::read(p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SourceError::Io {
                path: p.display().to_string(),
                source,
            }),
        }
    };
    let name = path.display().to_string();
    let config = read(path)?.ok_or_else(|| SourceError::Io {
        path: name.clone(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    })?;
    let signature = read(&mk_roleconfig::signature_path(path))?;
    Ok(Delivered {
        config,
        signature,
        origin: format!("file {name}"),
        name,
    })
}

fn fetch_retrying(
    places: &Places,
    url: &cmdline::HttpsUrl,
    pin: [u8; 32],
) -> Result<Option<Vec<u8>>, SourceError> {
    let mut attempt = 1;
    loop {
        match https::get(url, pin, places.timeout) {
            Err(e) if e.transient() && attempt < places.attempts => {
                tracing::warn!(url = %url, attempt, error = %crate::errors::one_line(&e), "config URL not reachable yet; retrying");
                std::thread::sleep(places.pause);
                attempt += 1;
            }
            r => return Ok(r?),
        }
    }
}
