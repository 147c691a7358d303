//! The `%packages` body of a kickstart: one entry per line.
//!
//! Accepted forms (what anaconda's pykickstart and dnf accept, minus
//! versioned specs):
//! - `name`, `name.arch`, a capability (`/bin/sh`, `libc.so.6()(64bit)`,
//!   `foo(x86-64)`), or a glob on package names (`kernel-*`);
//! - `@group`, `@group --nodefaults` (mandatory only), `@group --optional`
//!   (plus optional packages), `@^environment`;
//! - `-spec` to exclude packages (names, `name.arch`, globs), `-@group` to
//!   drop a group's packages from what groups bring in;
//! - blank lines and `#` comments (whole line or after whitespace).

use std::fmt;
use std::str::FromStr;

/// One request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// 1-based line number (with the offset given to
    /// [`Request::parse_with_offset`]).
    pub line: usize,
    pub kind: ItemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// Install: a package name, `name.arch`, capability, file or glob.
    Package(String),
    /// Never install packages matching this name, `name.arch` or glob.
    Exclude(String),
    /// Install a comps group: mandatory packages, default ones unless
    /// `nodefaults`, optional ones if `optional`.
    Group {
        id: String,
        optional: bool,
        nodefaults: bool,
    },
    /// Do not install the packages of this group that other groups bring in.
    ExcludeGroup(String),
    /// Install a comps environment (its mandatory groups).
    Environment(String),
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemKind::Package(s) => f.write_str(s),
            ItemKind::Exclude(s) => write!(f, "-{s}"),
            ItemKind::Group {
                id,
                optional,
                nodefaults,
            } => {
                write!(f, "@{id}")?;
                if *nodefaults {
                    f.write_str(" --nodefaults")?;
                }
                if *optional {
                    f.write_str(" --optional")?;
                }
                Ok(())
            }
            ItemKind::ExcludeGroup(s) => write!(f, "-@{s}"),
            ItemKind::Environment(s) => write!(f, "@^{s}"),
        }
    }
}

/// A parsed `%packages` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub items: Vec<Item>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("%packages line {line}: {message}: `{text}`")]
    Syntax {
        line: usize,
        text: String,
        message: String,
    },
}

impl Request {
    /// Parses a `%packages` body (the lines between `%packages` and `%end`);
    /// line numbers start at 1.
    pub fn parse(body: &str) -> Result<Request, RequestError> {
        Request::parse_with_offset(body, 0)
    }

    /// Like [`Request::parse`], numbering lines from `offset + 1` so that
    /// errors point into the whole kickstart file.
    pub fn parse_with_offset(body: &str, offset: usize) -> Result<Request, RequestError> {
        let mut items = Vec::new();
        for (i, raw) in body.lines().enumerate() {
            let line = offset + i + 1;
            if let Some(kind) = parse_line(raw).map_err(|message| RequestError::Syntax {
                line,
                text: raw.trim().to_string(),
                message,
            })? {
                items.push(Item { line, kind });
            }
        }
        Ok(Request { items })
    }

    /// A request for the given package specs, one per line, as if written
    /// in a `%packages` body.
    pub fn from_specs<S: AsRef<str>>(
        specs: impl IntoIterator<Item = S>,
    ) -> Result<Request, RequestError> {
        let body: Vec<String> = specs.into_iter().map(|s| s.as_ref().to_string()).collect();
        Request::parse(&body.join("\n"))
    }
}

impl FromStr for Request {
    type Err = RequestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Request::parse(s)
    }
}

fn strip_comment(line: &str) -> &str {
    // `#` starts a comment at the start of a line or after whitespace; package
    // names never contain it.
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return &line[..i];
        }
        prev_space = c.is_whitespace();
    }
    line
}

fn parse_line(raw: &str) -> Result<Option<ItemKind>, String> {
    let line = strip_comment(raw).trim();
    if line.is_empty() {
        return Ok(None);
    }
    if line.starts_with('%') {
        return Err("section directives do not belong in a %packages body".into());
    }
    let mut words = line.split_whitespace();
    let head = words.next().unwrap_or_default();
    let options: Vec<&str> = words.collect();

    let check_spec = |spec: &str, what: &str| -> Result<(), String> {
        if spec.is_empty() {
            return Err(format!("expected {what} after the prefix"));
        }
        if spec.starts_with('-') || spec.starts_with('@') {
            return Err(format!("expected {what}, found another prefix"));
        }
        Ok(())
    };
    let no_options = |what: &str| -> Result<(), String> {
        match options.first() {
            None => Ok(()),
            Some(o) if o.starts_with("--") => Err(format!("option {o} is not valid for {what}")),
            Some(_) => Err("expected one package spec per line".into()),
        }
    };

    if let Some(rest) = head.strip_prefix("-@") {
        check_spec(rest, "a group id")?;
        no_options("a group exclusion")?;
        return Ok(Some(ItemKind::ExcludeGroup(rest.to_string())));
    }
    if let Some(rest) = head.strip_prefix('-') {
        check_spec(rest, "a package name or glob")?;
        no_options("a package exclusion")?;
        return Ok(Some(ItemKind::Exclude(rest.to_string())));
    }
    if let Some(rest) = head.strip_prefix("@^") {
        check_spec(rest, "an environment id")?;
        no_options("an environment")?;
        return Ok(Some(ItemKind::Environment(rest.to_string())));
    }
    if let Some(rest) = head.strip_prefix('@') {
        check_spec(rest, "a group id")?;
        let (mut optional, mut nodefaults) = (false, false);
        for o in &options {
            match *o {
                "--optional" => optional = true,
                "--nodefaults" => nodefaults = true,
                o if o.starts_with("--") => {
                    return Err(format!(
                        "unknown group option {o} (expected --optional or --nodefaults)"
                    ))
                }
                _ => return Err("expected one group per line".into()),
            }
        }
        if optional && nodefaults {
            return Err("--optional and --nodefaults exclude each other".into());
        }
        return Ok(Some(ItemKind::Group {
            id: rest.to_string(),
            optional,
            nodefaults,
        }));
    }
    no_options("a package")?;
    Ok(Some(ItemKind::Package(head.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kickstart_body() {
        let body = "\
# base system
@core
@base --nodefaults
@development --optional
@^minimal-environment
-@dial-up
kernel-*
/bin/sh
foo(x86-64)
glibc.i686
httpd   # the web server
-NetworkManager*
-iwl*-firmware

";
        let r = Request::parse_with_offset(body, 10).unwrap();
        let kinds: Vec<(usize, ItemKind)> = r.items.into_iter().map(|i| (i.line, i.kind)).collect();
        let pkg = |s: &str| ItemKind::Package(s.to_string());
        assert_eq!(
            kinds,
            vec![
                (
                    12,
                    ItemKind::Group {
                        id: "core".into(),
                        optional: false,
                        nodefaults: false
                    }
                ),
                (
                    13,
                    ItemKind::Group {
                        id: "base".into(),
                        optional: false,
                        nodefaults: true
                    }
                ),
                (
                    14,
                    ItemKind::Group {
                        id: "development".into(),
                        optional: true,
                        nodefaults: false
                    }
                ),
                (15, ItemKind::Environment("minimal-environment".into())),
                (16, ItemKind::ExcludeGroup("dial-up".into())),
                (17, pkg("kernel-*")),
                (18, pkg("/bin/sh")),
                (19, pkg("foo(x86-64)")),
                (20, pkg("glibc.i686")),
                (21, pkg("httpd")),
                (22, ItemKind::Exclude("NetworkManager*".into())),
                (23, ItemKind::Exclude("iwl*-firmware".into())),
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("bash\n@core --bogus\n", 2, "unknown group option --bogus"),
            ("bash\nzsh\n-\n", 3, "expected a package name or glob"),
            ("httpd mod_ssl\n", 1, "one package spec per line"),
            ("@\n", 1, "expected a group id"),
            ("\n\n%end\n", 3, "section directives"),
            ("-foo --optional\n", 1, "not valid for a package exclusion"),
            ("@^env --optional\n", 1, "not valid for an environment"),
            ("@x --optional --nodefaults\n", 1, "exclude each other"),
        ];
        for (body, line, msg) in cases {
            let err = Request::parse(body).unwrap_err();
            let RequestError::Syntax { line: l, .. } = &err;
            assert_eq!(*l, line, "{body:?}: {err}");
            let text = err.to_string();
            assert!(text.contains(msg), "{body:?}: {text}");
            assert!(text.contains(&format!("line {line}")), "{text}");
        }
    }

    #[test]
    fn from_specs_and_display_round_trip() {
        let r = Request::from_specs(["httpd", "-mod_ssl", "@core --nodefaults"]).unwrap();
        let shown: Vec<String> = r.items.iter().map(|i| i.kind.to_string()).collect();
        assert_eq!(shown, ["httpd", "-mod_ssl", "@core --nodefaults"]);
        let again = Request::parse(&shown.join("\n")).unwrap();
        assert_eq!(again, r);
    }
}
