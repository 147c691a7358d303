//! file_contexts parsing and lookup with libselinux's semantics (the
//! `file` backend of `selabel_lookup(3)`, as in libselinux 2.x/3.x up to 3.7):
//!
//! - a line is `REGEX [TYPE] CONTEXT`; TYPE is `--` (file), `-d`, `-c`,
//!   `-b`, `-s`, `-l` or `-p`; `#` starts a comment line;
//! - the regex is anchored as `^REGEX$` (no grouping is added, exactly as
//!   libselinux does), matched as PCRE with DOTALL on bytes;
//! - specs with no regex meta character ("exact" paths) are moved after all
//!   others, each group keeping file order; a lookup walks the list from the
//!   end, so an exact path beats every regex, and among regexes the *last*
//!   one that matches wins;
//! - a spec with a file type only matches that type (an unknown type
//!   matches all);
//! - `<<none>>` as context means "do not label";
//! - before matching, `//` collapses to `/` and path aliases apply:
//!   `file_contexts.subs` first, then `file_contexts.subs_dist` (each a list
//!   of `ALIAS ORIGINAL` prefixes, the last matching line winning);
//! - `file_contexts.homedirs` and `file_contexts.local` are read after
//!   `file_contexts`, so their specs take precedence.
//!
//! libselinux also splits a regex's leading literal path component (its
//! "stem") off and compares it literally; we do the same, which keeps
//! results identical in the corner cases (top-level `|`) and saves work.

use regex::bytes::Regex;
use std::fmt;

/// A file type as file_contexts names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileType {
    Regular,
    Directory,
    CharDevice,
    BlockDevice,
    Socket,
    Symlink,
    Fifo,
}

impl FileType {
    /// From the type field (`--`, `-d`, ...).
    pub fn from_field(s: &str) -> Option<FileType> {
        Some(match s {
            "--" => FileType::Regular,
            "-d" => FileType::Directory,
            "-c" => FileType::CharDevice,
            "-b" => FileType::BlockDevice,
            "-s" => FileType::Socket,
            "-l" => FileType::Symlink,
            "-p" => FileType::Fifo,
            _ => return None,
        })
    }

    /// From `std::fs::FileType` (of `symlink_metadata`).
    pub fn from_std(t: std::fs::FileType) -> FileType {
        use std::os::unix::fs::FileTypeExt;
        if t.is_symlink() {
            FileType::Symlink
        } else if t.is_dir() {
            FileType::Directory
        } else if t.is_char_device() {
            FileType::CharDevice
        } else if t.is_block_device() {
            FileType::BlockDevice
        } else if t.is_socket() {
            FileType::Socket
        } else if t.is_fifo() {
            FileType::Fifo
        } else {
            FileType::Regular
        }
    }

    /// The S_IFMT bits (what `selabel_lookup(3)` takes as `type`).
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => 0o100000,
            FileType::Directory => 0o040000,
            FileType::CharDevice => 0o020000,
            FileType::BlockDevice => 0o060000,
            FileType::Socket => 0o140000,
            FileType::Symlink => 0o120000,
            FileType::Fifo => 0o010000,
        }
    }
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label<'a> {
    /// The context to set.
    Context(&'a str),
    /// The matching spec says `<<none>>`: leave the file unlabelled.
    DoNotLabel,
    /// No spec matches.
    NoMatch,
}

impl Label<'_> {
    pub fn context(&self) -> Option<&str> {
        match self {
            Label::Context(c) => Some(c),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("{file}:{line}: {message}")]
    Line {
        file: String,
        line: usize,
        message: String,
    },
}

fn line_err(file: &str, line: usize, message: impl Into<String>) -> ParseError {
    ParseError::Line {
        file: file.to_string(),
        line,
        message: message.into(),
    }
}

/// One specification line.
#[derive(Debug)]
struct Spec {
    /// The regex as written (for messages and `matching_spec`).
    regex_str: String,
    /// `Some(i)`: `stems[i]` must equal the path's first component and the
    /// regex applies to the rest.
    stem: Option<usize>,
    regex: Regex,
    /// Bytes every match of `regex` starts with (a cheap filter before
    /// running the regex).
    prefix: Vec<u8>,
    file_type: Option<FileType>,
    /// `None`: `<<none>>`.
    context: Option<String>,
    /// Where it came from, `FILE:LINE`.
    origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sub {
    src: String,
    dst: String,
}

/// A loaded set of file contexts: everything `selabel_open(SELABEL_CTX_FILE)`
/// reads for one `file_contexts` path.
#[derive(Debug, Default)]
pub struct FileContexts {
    specs: Vec<Spec>,
    stems: Vec<String>,
    /// Per stem: positions of the specs a path with that stem can match
    /// (that stem or none), in lookup order; the last entry is for paths
    /// with no known stem. Built by `finish`.
    candidates: Vec<Vec<u32>>,
    /// Local aliases (`.subs`), in lookup order (last line first).
    subs: Vec<Sub>,
    /// Distribution aliases (`.subs_dist`), in lookup order.
    dist_subs: Vec<Sub>,
}

/// libselinux's meta characters; `\` escapes the next one.
fn has_meta(regex: &str) -> bool {
    let b = regex.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' | b'^' | b'$' | b'?' | b'*' | b'+' | b'|' | b'[' | b'(' | b'{' => return true,
            b'\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Length of a spec's stem: its first path component (`/usr`) when that
/// holds no meta character and is followed by `/`; 0 otherwise.
fn spec_stem_len(regex: &str) -> usize {
    let b = regex.as_bytes();
    let Some(slash) = b.iter().skip(1).position(|&c| c == b'/').map(|p| p + 1) else {
        return 0;
    };
    if b[..slash].iter().any(|c| b".^$?*+|[({".contains(c)) {
        return 0;
    }
    slash
}

/// Length of a path's stem (up to its second `/`), 0 if none.
fn path_stem_len(path: &[u8]) -> usize {
    path.iter()
        .skip(1)
        .position(|&c| c == b'/')
        .map_or(0, |p| p + 1)
}

/// The literal bytes every match of `^REGEX$` starts with: the text before
/// the first meta character, less the last character when a quantifier
/// (`?`, `*`, `{`) follows it. Empty when a top-level `|` exists (then the
/// anchoring at the start applies to one branch only).
fn literal_prefix(regex: &str) -> Vec<u8> {
    let b = regex.as_bytes();
    // Top-level alternation?
    let (mut depth, mut i, mut in_class) = (0i32, 0, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class => depth += 1,
            b')' if !in_class => depth -= 1,
            b'|' if !in_class && depth == 0 => return Vec::new(),
            _ => {}
        }
        i += 1;
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'?' | b'*' | b'{' => {
                out.pop();
                break;
            }
            b'.' | b'^' | b'$' | b'+' | b'|' | b'[' | b'(' | b')' => break,
            b'\\' => match b.get(i + 1) {
                Some(c) if c.is_ascii_punctuation() => {
                    out.push(*c);
                    i += 1;
                }
                _ => break,
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Splits a line into whitespace-separated words (file_contexts has no
/// quoting).
fn words(line: &str) -> Vec<&str> {
    line.split_ascii_whitespace().collect()
}

/// Parses a subs file (`ALIAS ORIGINAL` per line) into lookup order.
fn parse_subs(text: &str) -> Vec<Sub> {
    let mut out = Vec::new();
    for line in text.lines() {
        let w = words(line);
        if w.is_empty() || w[0].starts_with('#') || w.len() < 2 {
            continue;
        }
        out.push(Sub {
            src: w[0].to_string(),
            dst: w[1].to_string(),
        });
    }
    // libselinux prepends each line to its list: the last line is tried first.
    out.reverse();
    out
}

fn apply_subs(subs: &[Sub], path: &str) -> Option<String> {
    for s in subs {
        if let Some(rest) = path.strip_prefix(s.src.as_str()) {
            if rest.is_empty() || rest.starts_with('/') {
                let rest = if rest.starts_with('/') && s.dst == "/" {
                    &rest[1..]
                } else {
                    rest
                };
                return Some(format!("{}{}", s.dst, rest));
            }
        }
    }
    None
}

impl FileContexts {
    /// An empty set (add spec files with [`FileContexts::add_specs`]).
    pub fn new() -> FileContexts {
        FileContexts::default()
    }

    /// Adds the specs of one file, in order. `file` only names it in
    /// messages. Every regex is compiled here, so a bad one is an error
    /// naming its line.
    pub fn add_specs(&mut self, file: &str, text: &str) -> Result<(), ParseError> {
        let mut new = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let w = words(raw);
            if w.is_empty() || w[0].starts_with('#') {
                continue;
            }
            let (regex_str, type_field, context) = match w.len() {
                2 => (w[0], None, w[1]),
                3 => (w[0], Some(w[1]), w[2]),
                1 => {
                    return Err(line_err(
                        file,
                        line,
                        "missing fields: expected `REGEX [TYPE] CONTEXT`",
                    ))
                }
                _ => {
                    return Err(line_err(
                        file,
                        line,
                        "too many fields: expected `REGEX [TYPE] CONTEXT`",
                    ))
                }
            };
            let file_type = match type_field {
                None => None,
                Some(t) => Some(FileType::from_field(t).ok_or_else(|| {
                    line_err(
                        file,
                        line,
                        format!(
                            "invalid file type `{t}`: expected one of --, -d, -c, -b, -s, -l, -p"
                        ),
                    )
                })?),
            };
            new.push((line, regex_str.to_string(), file_type, context.to_string()));
        }
        // Compile in parallel: a policy has thousands of specs.
        use rayon::prelude::*;
        let compiled: Vec<Result<(Option<String>, Regex), ParseError>> = new
            .par_iter()
            .map(|(line, regex_str, _, _)| {
                let stem_len = spec_stem_len(regex_str);
                let (stem, rest) = if stem_len > 0 {
                    (
                        Some(regex_str[..stem_len].to_string()),
                        &regex_str[stem_len..],
                    )
                } else {
                    (None, &regex_str[..])
                };
                // PCRE2 with DOTALL on bytes, as libselinux compiles them.
                let re = Regex::new(&format!("(?s-u)^{rest}$")).map_err(|e| {
                    line_err(file, *line, format!("invalid regex `{regex_str}`: {e}"))
                })?;
                Ok((stem, re))
            })
            .collect();
        for ((line, regex_str, file_type, context), c) in new.into_iter().zip(compiled) {
            let (stem, regex) = c?;
            let stem = stem.map(|s| match self.stems.iter().position(|x| *x == s) {
                Some(i) => i,
                None => {
                    self.stems.push(s);
                    self.stems.len() - 1
                }
            });
            let rest = match stem {
                Some(i) => &regex_str[self.stems[i].len()..],
                None => &regex_str[..],
            };
            let prefix = literal_prefix(rest);
            self.specs.push(Spec {
                prefix,
                regex_str,
                stem,
                regex,
                file_type,
                context: (context != "<<none>>").then_some(context),
                origin: format!("{file}:{line}"),
            });
        }
        Ok(())
    }

    /// Sets the alias files' contents (`file_contexts.subs_dist`,
    /// `file_contexts.subs`).
    pub fn set_subs(&mut self, subs_dist: Option<&str>, subs: Option<&str>) {
        self.dist_subs = subs_dist.map(parse_subs).unwrap_or_default();
        self.subs = subs.map(parse_subs).unwrap_or_default();
    }

    /// Orders the specs for lookup; call after the last [`add_specs`].
    /// Idempotent (the order is stable).
    ///
    /// [`add_specs`]: FileContexts::add_specs
    pub fn finish(mut self) -> FileContexts {
        let (regexes, exact): (Vec<Spec>, Vec<Spec>) =
            self.specs.into_iter().partition(|s| has_meta(&s.regex_str));
        self.specs = regexes.into_iter().chain(exact).collect();
        self.candidates = (0..=self.stems.len())
            .map(|stem| {
                (0..self.specs.len() as u32)
                    .rev()
                    .filter(|&i| match self.specs[i as usize].stem {
                        None => true,
                        Some(s) => s == stem,
                    })
                    .collect()
            })
            .collect();
        self
    }

    /// Number of specs.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The path actually matched: `//` collapsed, then aliases applied.
    pub fn canonical_key(&self, path: &str) -> String {
        let mut key = String::with_capacity(path.len());
        let mut prev_slash = false;
        for c in path.chars() {
            if c == '/' && prev_slash {
                continue;
            }
            prev_slash = c == '/';
            key.push(c);
        }
        match apply_subs(&self.subs, &key) {
            Some(k) => apply_subs(&self.dist_subs, &k).unwrap_or(k),
            None => apply_subs(&self.dist_subs, &key).unwrap_or(key),
        }
    }

    fn find(&self, path: &str, file_type: Option<FileType>) -> Option<&Spec> {
        let key = self.canonical_key(path);
        let kb = key.as_bytes();
        let stem_len = path_stem_len(kb);
        let file_stem = if stem_len > 0 {
            self.stems
                .iter()
                .position(|s| s.as_bytes() == &kb[..stem_len])
        } else {
            None
        };
        let rest = &kb[if file_stem.is_some() { stem_len } else { 0 }..];
        let candidates = &self.candidates[file_stem.unwrap_or(self.stems.len())];
        candidates
            .iter()
            .map(|&i| &self.specs[i as usize])
            .find(|s| {
                let type_ok = match (file_type, s.file_type) {
                    (Some(f), Some(t)) => f == t,
                    _ => true,
                };
                if !type_ok {
                    return false;
                }
                let subject = match s.stem {
                    None => kb,
                    Some(st) if file_stem == Some(st) => rest,
                    Some(_) => return false,
                };
                subject.starts_with(&s.prefix) && s.regex.is_match(subject)
            })
    }

    /// The label for `path` (absolute, as on the running system) of type
    /// `file_type` (`None`: unknown, any spec type matches).
    pub fn lookup(&self, path: &str, file_type: Option<FileType>) -> Label<'_> {
        match self.find(path, file_type) {
            None => Label::NoMatch,
            Some(s) => match &s.context {
                Some(c) => Label::Context(c),
                None => Label::DoNotLabel,
            },
        }
    }

    /// The spec that decides `path`, as `FILE:LINE REGEX` (for messages).
    pub fn matching_spec(&self, path: &str, file_type: Option<FileType>) -> Option<String> {
        self.find(path, file_type)
            .map(|s| format!("{} {}", s.origin, s.regex_str))
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileType::Regular => "regular file",
            FileType::Directory => "directory",
            FileType::CharDevice => "character device",
            FileType::BlockDevice => "block device",
            FileType::Socket => "socket",
            FileType::Symlink => "symbolic link",
            FileType::Fifo => "fifo",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fc(specs: &str) -> FileContexts {
        let mut f = FileContexts::new();
        f.add_specs("fc", specs).unwrap();
        f.finish()
    }

    #[test]
    fn last_matching_regex_wins_and_exact_beats_regex() {
        let f = fc("/.*\tu:r:default_t\n\
                    /usr/.*\tu:r:usr_t\n\
                    /usr/bin/foo\tu:r:exact_t\n\
                    /usr/bin(/.*)?\tu:r:bin_t\n\
                    /usr/bin/f.*\tu:r:f_t\n");
        assert_eq!(
            f.lookup("/usr/bin/foo", None),
            Label::Context("u:r:exact_t")
        );
        assert_eq!(f.lookup("/usr/bin/fa", None), Label::Context("u:r:f_t"));
        assert_eq!(f.lookup("/usr/bin/x", None), Label::Context("u:r:bin_t"));
        assert_eq!(f.lookup("/usr/lib", None), Label::Context("u:r:usr_t"));
        assert_eq!(f.lookup("/etc", None), Label::Context("u:r:default_t"));
    }

    #[test]
    fn file_type_none_and_no_match() {
        let f = fc("/run/.*\t<<none>>\n/run\t-d\tu:r:run_t\n/x/y\t--\tu:r:file_t\n");
        assert_eq!(f.lookup("/run/a", None), Label::DoNotLabel);
        assert_eq!(
            f.lookup("/run", Some(FileType::Directory)),
            Label::Context("u:r:run_t")
        );
        assert_eq!(f.lookup("/run", Some(FileType::Symlink)), Label::NoMatch);
        assert_eq!(f.lookup("/run", None), Label::Context("u:r:run_t"));
        assert_eq!(f.lookup("/x/y", Some(FileType::Directory)), Label::NoMatch);
        assert_eq!(
            f.lookup("/x/y", Some(FileType::Regular)),
            Label::Context("u:r:file_t")
        );
    }

    #[test]
    fn anchoring_is_textual_like_libselinux() {
        // `^/a|/b$`: the first branch is anchored only at the start.
        let f = fc("/a|/bb\tu:r:alt_t\n");
        assert_eq!(f.lookup("/abc", None), Label::Context("u:r:alt_t"));
        // ... and the second only at the end.
        assert_eq!(f.lookup("/x/bb", None), Label::Context("u:r:alt_t"));
        assert_eq!(f.lookup("/xbb", None), Label::NoMatch);
    }

    #[test]
    fn aliases_local_first_then_dist_last_line_first() {
        let mut f = FileContexts::new();
        f.add_specs(
            "fc",
            "/usr/lib(/.*)?\tu:r:lib_t\n/opt/x(/.*)?\tu:r:x_t\n/\tu:r:root_t\n",
        )
        .unwrap();
        f.set_subs(
            Some("/lib64 /usr/lib\n# comment\n/usr/lib64 /usr/lib\n/usr/lib64/x /opt/x\n"),
            Some("/data /usr/lib64\n/r /\n"),
        );
        let f = f.finish();
        assert_eq!(f.canonical_key("/lib64/libc.so"), "/usr/lib/libc.so");
        assert_eq!(f.canonical_key("/lib64x"), "/lib64x");
        assert_eq!(f.canonical_key("//usr//lib64/x/y"), "/opt/x/y");
        assert_eq!(f.canonical_key("/data/a"), "/usr/lib/a");
        assert_eq!(f.canonical_key("/r/q"), "/q");
        assert_eq!(f.canonical_key("/r"), "/");
        assert_eq!(
            f.lookup("/lib64/libc.so", None),
            Label::Context("u:r:lib_t")
        );
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let mut f = FileContexts::new();
        let e = f
            .add_specs("fc", "# c\n\n/a u:r:t\n/b -x u:r:t\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "fc:4: invalid file type `-x`: expected one of --, -d, -c, -b, -s, -l, -p"
        );
        let e = f.add_specs("fc", "/a(\tu:r:t\n").unwrap_err().to_string();
        assert!(e.starts_with("fc:1: invalid regex `/a(`"), "{e}");
        let e = f.add_specs("fc", "/a\n").unwrap_err().to_string();
        assert!(e.contains("fc:1: missing fields"), "{e}");
    }

    #[test]
    fn stems() {
        assert_eq!(spec_stem_len("/usr/bin(/.*)?"), 4);
        assert_eq!(spec_stem_len("/usr(/.*)?"), 0);
        assert_eq!(spec_stem_len("/u.r/bin"), 0);
        assert_eq!(spec_stem_len("/usr"), 0);
        assert_eq!(path_stem_len(b"/usr/bin"), 4);
        assert_eq!(path_stem_len(b"/usr"), 0);
        assert_eq!(literal_prefix("/bin/ls"), b"/bin/ls");
        assert_eq!(literal_prefix("/lib64?/x"), b"/lib6");
        assert_eq!(literal_prefix("/a\\.so(\\.[0-9])*"), b"/a.so");
        assert_eq!(literal_prefix("/ab+c"), b"/ab");
        assert_eq!(literal_prefix("/a|/b"), b"");
        assert_eq!(literal_prefix("/a(/b|c)"), b"/a");
        assert_eq!(literal_prefix("/a\\d"), b"/a");
        assert!(has_meta("/a.b"));
        assert!(!has_meta("/a\\.b"));
    }
}
