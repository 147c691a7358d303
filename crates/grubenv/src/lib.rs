//! The GRUB environment block (`grubenv`): what GRUB's `load_env` /
//! `save_env` and `grub-editenv` read and write.
//!
//! The block is exactly [`BLOCK_SIZE`] bytes: the signature line
//! `# GRUB Environment Block\n`, then lines (`name=value\n`, or comments
//! starting with `#`), then `#` padding up to the end. Values escape `\` and
//! newline with a backslash, as GRUB's `grub_envblk_set` does. The size never
//! changes: GRUB's `save_env` writes through the file's block list and cannot
//! grow or move it, so edits rewrite the same 1024 bytes in place
//! ([`store_in_place`]).
//!
//! Lines are kept in their order (comments included: Debian's grub-editenv
//! writes a `# WARNING` line under the signature), and [`GrubEnv::set`] of an
//! existing name replaces it where it stands, so a block edited here renders
//! byte for byte as grub-editenv would have left it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Size of every environment block, in bytes.
pub const BLOCK_SIZE: usize = 1024;
/// The first line of every block.
pub const SIGNATURE: &str = "# GRUB Environment Block\n";

/// One line of the block between the signature and the padding.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    /// `#...` up to (not including) its newline; GRUB skips it.
    Comment(String),
    /// `name=value`, the value unescaped.
    Var { name: String, value: String },
}

/// A parsed environment block: its lines in order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GrubEnv {
    lines: Vec<Line>,
}

/// What was wrong with a block, a name or a value.
#[derive(Debug, thiserror::Error)]
pub enum GrubEnvError {
    #[error("grubenv is {len} bytes; a GRUB environment block is exactly {BLOCK_SIZE}")]
    WrongSize { len: usize },
    #[error("grubenv does not start with the signature line {SIGNATURE:?}")]
    NoSignature,
    #[error(
        "grubenv: byte {offset} ({byte:?}) comes right before the '#' padding; GRUB needs a newline there (the last line is unterminated)"
    )]
    Unterminated { offset: usize, byte: char },
    #[error(
        "grubenv: line at byte {offset} ({line:?}) is neither a comment ('#...') nor name=value"
    )]
    NoEquals { offset: usize, line: String },
    #[error("grubenv: line at byte {offset} is not UTF-8")]
    NotUtf8 { offset: usize },
    #[error("grubenv: line at byte {offset} contains a NUL byte, which GRUB cannot hold")]
    Nul { offset: usize },
    #[error("grubenv variable name {name:?} is not allowed: {why}")]
    BadName { name: String, why: &'static str },
    #[error("grubenv value of {name:?} is not allowed: {why}")]
    BadValue { name: String, why: &'static str },
    #[error(
        "grubenv content needs {needed} bytes, more than the {BLOCK_SIZE}-byte block holds (shorten or unset variables)"
    )]
    TooLarge { needed: usize },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl GrubEnv {
    /// An empty block (what GRUB 2.02's `grub-editenv create` writes).
    pub fn new() -> GrubEnv {
        GrubEnv::default()
    }

    /// Parses a block: exactly [`BLOCK_SIZE`] bytes, the signature, lines,
    /// `#` padding. Bounded: one pass over 1024 bytes.
    pub fn parse(bytes: &[u8]) -> Result<GrubEnv, GrubEnvError> {
        if bytes.len() != BLOCK_SIZE {
            return Err(GrubEnvError::WrongSize { len: bytes.len() });
        }
        if !bytes.starts_with(SIGNATURE.as_bytes()) {
            return Err(GrubEnvError::NoSignature);
        }
        // As GRUB finds its free space: the trailing run of '#', which must
        // follow a newline (the signature's own at the least).
        let mut end = bytes.len();
        while end > SIGNATURE.len() && bytes[end - 1] == b'#' {
            end -= 1;
        }
        if bytes[end - 1] != b'\n' {
            return Err(GrubEnvError::Unterminated {
                offset: end - 1,
                byte: bytes[end - 1] as char,
            });
        }
        let mut lines = Vec::new();
        let mut p = SIGNATURE.len();
        while p < end {
            let start = p;
            if bytes[p] == b'#' {
                // Comments end at the next newline, escapes or not (GRUB's
                // find_next_line).
                let nl = start + bytes[start..end].iter().position(|&b| b == b'\n').unwrap();
                lines.push(Line::Comment(text(&bytes[start..nl], start)?));
                p = nl + 1;
                continue;
            }
            let Some(eq) = bytes[start..end].iter().position(|&b| b == b'=') else {
                return Err(no_equals(bytes, start, end));
            };
            let eq = start + eq;
            if bytes[start..eq].contains(&b'\n') {
                return Err(no_equals(bytes, start, end));
            }
            let name = text(&bytes[start..eq], start)?;
            let mut value = Vec::new();
            let mut q = eq + 1;
            loop {
                // `end` is right after a newline, so an unescaped one comes
                // first unless the last one is escaped.
                if q >= end {
                    return Err(GrubEnvError::Unterminated {
                        offset: end - 1,
                        byte: '\n',
                    });
                }
                match bytes[q] {
                    b'\n' => break,
                    b'\\' if q + 1 < end => {
                        value.push(bytes[q + 1]);
                        q += 2;
                    }
                    b => {
                        value.push(b);
                        q += 1;
                    }
                }
            }
            let value = text(&value, eq + 1)?;
            lines.push(Line::Var { name, value });
            p = q + 1;
        }
        Ok(GrubEnv { lines })
    }

    /// The value GRUB's `load_env` ends up with (the last line of that
    /// name, should a hand-edited block hold it twice).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lines.iter().rev().find_map(|l| match l {
            Line::Var { name: n, value } if n == name => Some(value.as_str()),
            _ => None,
        })
    }

    /// The variables in block order (`name`, `value`).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(|l| match l {
            Line::Var { name, value } => Some((name.as_str(), value.as_str())),
            Line::Comment(_) => None,
        })
    }

    /// Sets `name` to `value`: in place where the name already is (further
    /// lines of the same name are dropped), else appended, as grub-editenv
    /// does. Refuses what GRUB cannot hold or read back: an empty name, a
    /// name with `=`, a newline or a leading `#`, and NUL anywhere. Newlines
    /// and backslashes in values are escaped when rendered. Whether the
    /// block still fits is checked by [`GrubEnv::render`].
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), GrubEnvError> {
        check_name(name)?;
        if value.contains('\0') {
            return Err(GrubEnvError::BadValue {
                name: name.to_string(),
                why: "it contains a NUL byte",
            });
        }
        let mut seen = false;
        self.lines.retain_mut(|l| match l {
            Line::Var { name: n, value: v } if n == name => {
                if seen {
                    return false;
                }
                seen = true;
                *v = value.to_string();
                true
            }
            _ => true,
        });
        if !seen {
            self.lines.push(Line::Var {
                name: name.to_string(),
                value: value.to_string(),
            });
        }
        Ok(())
    }

    /// Removes every line setting `name` (nothing when there is none).
    pub fn unset(&mut self, name: &str) {
        self.lines
            .retain(|l| !matches!(l, Line::Var { name: n, .. } if n == name));
    }

    /// The block: always [`BLOCK_SIZE`] bytes, `#`-padded.
    pub fn render(&self) -> Result<Vec<u8>, GrubEnvError> {
        let mut out = Vec::with_capacity(BLOCK_SIZE);
        out.extend_from_slice(SIGNATURE.as_bytes());
        for line in &self.lines {
            match line {
                Line::Comment(c) => out.extend_from_slice(c.as_bytes()),
                Line::Var { name, value } => {
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'=');
                    for b in value.bytes() {
                        if b == b'\\' || b == b'\n' {
                            out.push(b'\\');
                        }
                        out.push(b);
                    }
                }
            }
            out.push(b'\n');
        }
        if out.len() > BLOCK_SIZE {
            return Err(GrubEnvError::TooLarge { needed: out.len() });
        }
        out.resize(BLOCK_SIZE, b'#');
        Ok(out)
    }
}

impl fmt::Display for GrubEnv {
    /// `name=value` per line, as `grub-editenv FILE list` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self.vars() {
            writeln!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), GrubEnvError> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.contains('=') {
        "it contains '='"
    } else if name.contains('\n') {
        "it contains a newline"
    } else if name.starts_with('#') {
        "it starts with '#', which makes the line a comment"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(GrubEnvError::BadName {
        name: name.to_string(),
        why,
    })
}

fn text(bytes: &[u8], offset: usize) -> Result<String, GrubEnvError> {
    if bytes.contains(&0) {
        return Err(GrubEnvError::Nul { offset });
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| GrubEnvError::NotUtf8 { offset })
}

fn no_equals(bytes: &[u8], start: usize, end: usize) -> GrubEnvError {
    let nl = bytes[start..end]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(end, |n| start + n);
    GrubEnvError::NoEquals {
        offset: start,
        line: String::from_utf8_lossy(&bytes[start..nl]).into_owned(),
    }
}

/// Reads and parses the block at `path` (at most one byte more than a
/// block is read, so a wrong file is refused without reading it whole).
pub fn load(path: &Path) -> Result<GrubEnv, GrubEnvError> {
    let io = |what, source| GrubEnvError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(|e| io("opening", e))?;
    let mut bytes = Vec::with_capacity(BLOCK_SIZE + 1);
    file.take(BLOCK_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io("reading", e))?;
    GrubEnv::parse(&bytes)
}

/// Rewrites the existing block at `path` in place: the same file, the same
/// 1024 bytes (no truncation, no rename), then fsync. GRUB's `save_env`
/// writes through the file's block list, so the file must keep its blocks;
/// a file that is not exactly one block is refused untouched.
pub fn store_in_place(path: &Path, env: &GrubEnv) -> Result<(), GrubEnvError> {
    let io = |what, source| GrubEnvError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let bytes = env.render()?;
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io("opening for writing", e))?;
    let len = file
        .metadata()
        .map_err(|e| io("reading metadata of", e))?
        .len();
    if len != BLOCK_SIZE as u64 {
        return Err(GrubEnvError::WrongSize { len: len as usize });
    }
    file.write_all(&bytes).map_err(|e| io("writing", e))?;
    file.sync_all().map_err(|e| io("syncing", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(content: &str) -> Vec<u8> {
        let mut b = format!("{SIGNATURE}{content}").into_bytes();
        b.resize(BLOCK_SIZE, b'#');
        b
    }

    #[test]
    fn parses_vars_comments_and_escapes() {
        let env = GrubEnv::parse(&block("#c\na=1\nv=x\\\\y\\\nz\nk=p=q\n")).unwrap();
        assert_eq!(env.get("a"), Some("1"));
        assert_eq!(env.get("v"), Some("x\\y\nz"));
        assert_eq!(env.get("k"), Some("p=q"));
        assert_eq!(env.get("c"), None);
        assert_eq!(env.to_string(), "a=1\nv=x\\y\nz\nk=p=q\n");
    }

    #[test]
    fn set_keeps_order_and_unset_removes() {
        let mut env = GrubEnv::parse(&block("a=1\nb=2\n")).unwrap();
        env.set("a", "x").unwrap();
        env.set("c", "3").unwrap();
        env.unset("b");
        assert_eq!(env.render().unwrap(), block("a=x\nc=3\n"));
    }

    #[test]
    fn refuses_bad_blocks_naming_the_problem() {
        let e = GrubEnv::parse(&[b'#'; 1000]).unwrap_err();
        assert!(e.to_string().contains("1000 bytes"), "{e}");
        let mut wrong = block("");
        wrong[2] = b'X';
        assert!(matches!(
            GrubEnv::parse(&wrong),
            Err(GrubEnvError::NoSignature)
        ));
        let e = GrubEnv::parse(&block("a=1\nnoequals\n")).unwrap_err();
        assert!(e.to_string().contains("\"noequals\""), "{e}");
        let mut unterminated = block("a=1");
        unterminated.truncate(BLOCK_SIZE);
        let e = GrubEnv::parse(&unterminated).unwrap_err();
        assert!(matches!(e, GrubEnvError::Unterminated { .. }), "{e}");
        // Full to the last byte with no padding is still a valid block.
        let full = format!(
            "{SIGNATURE}a={}\n",
            "x".repeat(BLOCK_SIZE - SIGNATURE.len() - 3)
        );
        assert_eq!(full.len(), BLOCK_SIZE);
        assert!(GrubEnv::parse(full.as_bytes()).is_ok());
    }

    #[test]
    fn refuses_names_grub_cannot_hold() {
        let mut env = GrubEnv::new();
        for bad in ["", "a=b", "a\nb", "#a", "a\0"] {
            let e = env.set(bad, "v").unwrap_err();
            assert!(matches!(e, GrubEnvError::BadName { .. }), "{bad:?}: {e}");
        }
        assert!(env.set("a", "v\0").is_err());
        env.set("a", "line\nbreak\\").unwrap();
        assert_eq!(env.render().unwrap(), block("a=line\\\nbreak\\\\\n"));
    }

    #[test]
    fn too_much_content_is_an_error() {
        let mut env = GrubEnv::new();
        env.set("a", &"x".repeat(BLOCK_SIZE)).unwrap();
        let e = env.render().unwrap_err();
        assert!(
            e.to_string().contains("more than the 1024-byte block"),
            "{e}"
        );
    }
}
