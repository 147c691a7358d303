//! Reading a role-config file: YAML syntax errors with line and column;
//! unknown fields, wrong types and missing fields with the field's path
//! (`spec.planes.etcd`) and line.

use std::fmt;

use serde::de::{DeserializeOwned, DeserializeSeed};

use crate::types::{Document, NodeConfig, NodeConfigList};

pub mod limits;

use limits::{Budget, Census, Shape};

/// Role-config files are small (a rack's worth of nodes with inline PEM is
/// a few MB); refuse anything absurd before parsing.
pub const MAX_CONFIG_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Not YAML (or more than one document, or too large).
    Syntax,
    /// Not a mapping with a known `kind` at the top.
    Structure,
    UnknownField,
    MissingField,
    WrongType,
    /// Right type, value not among the allowed ones (enums).
    InvalidValue,
}

/// Why a file could not be read as a role config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub kind: ParseErrorKind,
    /// Path of the offending field, e.g. `spec.planes.etcd`.
    pub path: Option<String>,
    /// 1-based.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a `NodeConfig` or `NodeConfigList` document. `file` names it in
/// errors. Only the syntax and the types are checked here; see
/// [`crate::validate`] for the rest.
pub fn parse_document(bytes: &[u8], file: &str) -> Result<Document, ParseError> {
    let err = |kind, message: String| ParseError {
        file: file.to_string(),
        kind,
        path: None,
        line: None,
        column: None,
        message,
    };
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(err(
            ParseErrorKind::Syntax,
            format!(
                "{} bytes: larger than the {MAX_CONFIG_BYTES} bytes a role config may have",
                bytes.len()
            ),
        ));
    }
    // Depth and expanded size, on libyaml's events, before the parse that
    // keeps anything (issue 12: quadratic nesting, billion laughs).
    if let Err(r) = limits::prescan(bytes) {
        return Err(err(ParseErrorKind::Syntax, r.to_string()));
    }
    // First pass, untyped: YAML syntax and the `kind` that picks the type,
    // into a census that keeps only that (no `Value`: aliases would be
    // copied) and bounds depth and expansion while it goes.
    let mut budget = Budget::default();
    let census = Census {
        budget: &mut budget,
        depth: 0,
    };
    let shape = census
        .deserialize(serde_norway::Deserializer::from_slice(bytes))
        .map_err(|e| {
            let (line, column) = location(&e);
            match budget.refusal.take() {
                Some(limits::Refusal::TooDeep { line: 0 }) => err(
                    ParseErrorKind::Syntax,
                    limits::Refusal::TooDeep {
                        line: line.unwrap_or(0),
                    }
                    .to_string(),
                ),
                Some(r) => err(ParseErrorKind::Syntax, r.to_string()),
                None => ParseError {
                    line,
                    column,
                    ..err(ParseErrorKind::Syntax, strip_location(&e.to_string()))
                },
            }
        })?;
    let Shape::Mapping { kind } = &shape else {
        return Err(err(
            ParseErrorKind::Structure,
            format!(
                "expected a mapping with `apiVersion` and `kind` at the top, found {}",
                describe(&shape)
            ),
        ));
    };
    match kind.as_deref() {
        Some(Shape::String(Some(k))) if k == "NodeConfig" => {
            typed::<NodeConfig>(bytes, file).map(|c| Document::Single(Box::new(c)))
        }
        Some(Shape::String(Some(k))) if k == "NodeConfigList" => {
            typed::<NodeConfigList>(bytes, file).map(Document::List)
        }
        Some(other) => Err(ParseError {
            path: Some("kind".into()),
            ..err(
                ParseErrorKind::InvalidValue,
                format!(
                    "unknown kind {}, expected `NodeConfig` or `NodeConfigList`",
                    match other {
                        Shape::String(Some(s)) => format!("`{s}`"),
                        v => describe(v),
                    }
                ),
            )
        }),
        None => Err(err(
            ParseErrorKind::MissingField,
            "missing field `kind` (expected `NodeConfig` or `NodeConfigList`)".into(),
        )),
    }
}

/// Reads `path` when it holds at most `max` bytes (a role config:
/// [`MAX_CONFIG_BYTES`]; its signature:
/// [`crate::signature::MAX_SIGNATURE_BYTES`]). The size is checked before
/// reading (a 200 MB file is refused without being read), and the read
/// stops at `max + 1` bytes whatever the metadata said (a file that grows,
/// a device, a FIFO). The error (`InvalidData`) gives both sizes; the
/// caller names the file.
pub fn read_limited(path: &std::path::Path, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let too_large = |size: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{size} bytes: larger than the {max} bytes allowed"),
        )
    };
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > max as u64 {
        return Err(too_large(meta.len().to_string()));
    }
    let mut bytes = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(too_large(format!("more than {max}")));
    }
    Ok(bytes)
}

/// Parses a document that must be a single `NodeConfig`.
pub fn parse_node_config(bytes: &[u8], file: &str) -> Result<NodeConfig, ParseError> {
    match parse_document(bytes, file)? {
        Document::Single(c) => Ok(*c),
        Document::List(_) => Err(ParseError {
            file: file.to_string(),
            kind: ParseErrorKind::Structure,
            path: Some("kind".into()),
            line: None,
            column: None,
            message: "expected a single `NodeConfig`, found a `NodeConfigList`".into(),
        }),
    }
}

fn typed<T: DeserializeOwned>(bytes: &[u8], file: &str) -> Result<T, ParseError> {
    let de = serde_norway::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = location(&inner);
        let text = strip_location(&inner.to_string());
        // serde_norway prefixes its own rendering of the path; ours is
        // kept separately.
        let message = match text.split_once(": ") {
            Some((head, tail)) if !head.contains(' ') || head.contains('[') => tail.to_string(),
            _ => text,
        };
        let kind = if message.starts_with("unknown field") {
            ParseErrorKind::UnknownField
        } else if message.starts_with("missing field") {
            ParseErrorKind::MissingField
        } else if message.starts_with("invalid type") {
            ParseErrorKind::WrongType
        } else if message.starts_with("unknown variant") || message.starts_with("invalid value") {
            ParseErrorKind::InvalidValue
        } else {
            ParseErrorKind::Syntax
        };
        ParseError {
            file: file.to_string(),
            kind,
            path: (path != "." && !path.is_empty()).then_some(path),
            line,
            column,
            message,
        }
    })
}

fn location(e: &serde_norway::Error) -> (Option<usize>, Option<usize>) {
    match e.location() {
        Some(l) => (Some(l.line()), Some(l.column())),
        None => (None, None),
    }
}

/// serde_norway and libyaml put ` at line L column C` into messages; we
/// report the location separately.
fn strip_location(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + " at line ".len()..];
        let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
        let n = digits(tail);
        let after = &tail[n..];
        match after.strip_prefix(" column ") {
            Some(c) if n > 0 && digits(c) > 0 => rest = &c[digits(c)..],
            _ => {
                out.push_str(" at line ");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

fn describe(v: &Shape) -> String {
    match v {
        Shape::Null => "nothing (an empty document?)".into(),
        Shape::Bool => "a boolean".into(),
        Shape::Number => "a number".into(),
        Shape::String(_) => "a string".into(),
        Shape::Sequence => "a list".into(),
        Shape::Mapping { .. } => "a mapping".into(),
        Shape::Tagged => "a tagged value".into(),
    }
}
