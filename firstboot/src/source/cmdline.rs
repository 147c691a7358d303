//! `mk.config=` and `mk.config.ca=` on the kernel command line.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CmdlineError {
    #[error(
        "kernel command line: mk.config={url}: plain http is refused (anyone on the path could \
         swap the config); serve it over https and pin the CA with mk.config.ca=sha256:<hex>"
    )]
    PlainHttp { url: String },
    #[error("kernel command line: mk.config={url}: expected https://HOST[:PORT]/PATH")]
    BadUrl { url: String },
    #[error(
        "kernel command line: mk.config={url} needs mk.config.ca=sha256:<64 hex digits> (SHA-256 \
         of the DER certificate of the CA that the server presents)"
    )]
    MissingPin { url: String },
    #[error("kernel command line: mk.config.ca={value}: expected sha256:<64 hex digits>")]
    BadPin { value: String },
}

/// Where to fetch the config from, and the pinned CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSource {
    pub url: HttpsUrl,
    /// SHA-256 of the pinned CA certificate's DER.
    pub ca_pin: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl {
    pub host: String,
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
}

impl std::fmt::Display for HttpsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.port == 443 {
            write!(f, "https://{}{}", self.host, self.path)
        } else {
            write!(f, "https://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

impl HttpsUrl {
    pub fn parse(url: &str) -> Result<HttpsUrl, CmdlineError> {
        let bad = || CmdlineError::BadUrl { url: url.into() };
        if url.to_ascii_lowercase().starts_with("http://") {
            return Err(CmdlineError::PlainHttp { url: url.into() });
        }
        let rest = url.strip_prefix("https://").ok_or_else(bad)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') || path.contains('#') || path.contains(char::is_whitespace) {
            return Err(bad());
        }
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            let (h, p) = h.split_once(']').ok_or_else(bad)?;
            (h, p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None => 443,
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(HttpsUrl {
            host: host.to_ascii_lowercase(),
            port,
            path: path.into(),
        })
    }

    /// The same URL with `suffix` appended to the path (`.minisig`).
    pub fn with_suffix(&self, suffix: &str) -> HttpsUrl {
        let (path, query) = match self.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.path.as_str(), None),
        };
        let mut path = format!("{path}{suffix}");
        if let Some(q) = query {
            path = format!("{path}?{q}");
        }
        HttpsUrl {
            path,
            ..self.clone()
        }
    }
}

/// Parses `sha256:<hex>`.
pub fn parse_pin(value: &str) -> Result<[u8; 32], CmdlineError> {
    let bad = || CmdlineError::BadPin {
        value: value.into(),
    };
    let hex_part = value.strip_prefix("sha256:").ok_or_else(bad)?;
    let bytes = hex::decode(hex_part).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// The URL source named on the command line, if any.
pub fn parse(cmdline: &str) -> Result<Option<UrlSource>, CmdlineError> {
    let mut url = None;
    let mut pin = None;
    // Later parameters win, as the kernel's own parsing does.
    for word in cmdline.split_ascii_whitespace() {
        if let Some(v) = word.strip_prefix("mk.config=") {
            url = Some(v.to_string());
        } else if let Some(v) = word.strip_prefix("mk.config.ca=") {
            pin = Some(v.to_string());
        }
    }
    let Some(url) = url else { return Ok(None) };
    let parsed = HttpsUrl::parse(&url)?;
    let pin = pin.ok_or(CmdlineError::MissingPin { url: url.clone() })?;
    Ok(Some(UrlSource {
        url: parsed,
        ca_pin: parse_pin(&pin)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn url_and_pin() {
        let s = parse(&format!(
            "BOOT_IMAGE=/vmlinuz ro mk.config=https://Cfg.example.com:8443/rack1/node-config.yaml {PIN} quiet"
        ).replace("sha256:", "mk.config.ca=sha256:"))
        .unwrap()
        .unwrap();
        assert_eq!(s.url.host, "cfg.example.com");
        assert_eq!(s.url.port, 8443);
        assert_eq!(s.url.path, "/rack1/node-config.yaml");
        assert_eq!(
            s.url.with_suffix(".minisig").to_string(),
            "https://cfg.example.com:8443/rack1/node-config.yaml.minisig"
        );
        assert_eq!(s.ca_pin[1], 0x11);
        assert_eq!(parse("ro quiet").unwrap(), None);
    }

    #[test]
    fn refusals_say_why() {
        let e = parse(&format!("mk.config=http://cfg/x mk.config.ca={PIN}")).unwrap_err();
        assert!(e.to_string().contains("plain http is refused"), "{e}");
        let e = parse("mk.config=https://cfg/x").unwrap_err();
        assert!(e.to_string().contains("needs mk.config.ca=sha256:"), "{e}");
        let e = parse("mk.config=https://cfg/x mk.config.ca=md5:00").unwrap_err();
        assert_eq!(
            e,
            CmdlineError::BadPin {
                value: "md5:00".into()
            }
        );
        let e = parse(&format!("mk.config=ftp://cfg/x mk.config.ca={PIN}")).unwrap_err();
        assert!(matches!(e, CmdlineError::BadUrl { .. }));
        assert_eq!(HttpsUrl::parse("https://[::1]:9/a").unwrap().host, "::1");
    }
}
