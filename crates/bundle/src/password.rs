//! Where the secret key's password comes from. Never a command-line
//! argument: those show up in `ps` and shell history.

use std::io::Read;
use std::path::PathBuf;

use thiserror::Error;
use zeroize::Zeroizing;

/// Longest password accepted (as `minisign`).
const MAX_LEN: usize = 1024;

#[derive(Debug, Error)]
pub enum PasswordError {
    #[error("password file {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("password file descriptor {fd}")]
    Fd {
        fd: i32,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot prompt for a password ({0}); give --password-file FILE or --password-fd N instead"
    )]
    NoTerminal(std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// The whole file; one trailing newline is dropped.
    File(PathBuf),
    /// An inherited file descriptor (e.g. a pipe); read to its end, one
    /// trailing newline dropped.
    Fd(i32),
    /// Ask on the controlling terminal (not echoed).
    Prompt,
}

impl PasswordSource {
    /// From the usual pair of options; neither means prompting.
    pub fn from_options(file: Option<PathBuf>, fd: Option<i32>) -> Self {
        match (file, fd) {
            (Some(f), _) => PasswordSource::File(f),
            (None, Some(fd)) => PasswordSource::Fd(fd),
            (None, None) => PasswordSource::Prompt,
        }
    }

    /// Reads the password. With `confirm` (new keys), a prompt asks twice.
    /// Empty passwords are refused: the key must be protected.
    pub fn read(&self, confirm: bool) -> Result<Zeroizing<String>, PasswordError> {
        let password = match self {
            PasswordSource::File(path) => {
                let bytes =
                    Zeroizing::new(std::fs::read(path).map_err(|source| PasswordError::File {
                        path: path.clone(),
                        source,
                    })?);
                from_bytes(&bytes, &format!("password file {}", path.display()))?
            }
            PasswordSource::Fd(fd) => {
                // /dev/fd/N reopens the inherited descriptor without unsafe
                // code (works for pipes and files).
                let io = |source| PasswordError::Fd { fd: *fd, source };
                let mut file = std::fs::File::open(format!("/dev/fd/{fd}")).map_err(io)?;
                let mut bytes = Zeroizing::new(Vec::new());
                file.by_ref()
                    .take(MAX_LEN as u64 + 3)
                    .read_to_end(&mut bytes)
                    .map_err(io)?;
                from_bytes(&bytes, &format!("password file descriptor {fd}"))?
            }
            PasswordSource::Prompt => {
                let first = Zeroizing::new(
                    rpassword::prompt_password("Password for the secret key: ")
                        .map_err(PasswordError::NoTerminal)?,
                );
                if confirm {
                    let second = Zeroizing::new(
                        rpassword::prompt_password("Password (again): ")
                            .map_err(PasswordError::NoTerminal)?,
                    );
                    if *first != *second {
                        return Err(PasswordError::Invalid(
                            "the two passwords differ".to_string(),
                        ));
                    }
                }
                from_bytes(first.as_bytes(), "password")?
            }
        };
        Ok(password)
    }
}

fn from_bytes(bytes: &[u8], what: &str) -> Result<Zeroizing<String>, PasswordError> {
    let bytes = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    if bytes.is_empty() {
        return Err(PasswordError::Invalid(format!(
            "{what}: the password is empty; the secret key must be password-protected"
        )));
    }
    if bytes.len() > MAX_LEN {
        return Err(PasswordError::Invalid(format!(
            "{what}: the password is longer than {MAX_LEN} bytes"
        )));
    }
    let s = std::str::from_utf8(bytes)
        .map_err(|_| PasswordError::Invalid(format!("{what}: the password is not UTF-8")))?;
    Ok(Zeroizing::new(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_password_drops_one_newline_and_refuses_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        let pw = PasswordSource::File(p.clone()).read(true).unwrap();
        assert_eq!(pw.as_str(), "s3cret");
        std::fs::write(&p, "two\n\n").unwrap();
        assert_eq!(
            PasswordSource::File(p.clone())
                .read(false)
                .unwrap()
                .as_str(),
            "two\n"
        );
        std::fs::write(&p, "\n").unwrap();
        let e = PasswordSource::File(p.clone()).read(false).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = PasswordSource::File(dir.path().join("nope"))
            .read(false)
            .unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
