//! The kickstart file as lines: commands (with `\` continuations, quoting
//! and `#` comments), and `%section ... %end` blocks whose bodies are kept
//! verbatim.

use crate::args::Args;
use crate::commands;
use crate::model::*;
use crate::KickstartError;
use mk_depsolve::{Request, RequestError};
use std::collections::HashMap;

/// Section keywords: a line starting with one of these inside an open
/// section means a missing `%end`.
const SECTIONS: &[&str] = &[
    "%packages",
    "%post",
    "%pre",
    "%pre-install",
    "%include",
    "%ksappend",
    "%onerror",
    "%traceback",
    "%addon",
    "%anaconda",
];

/// Parser state: the kickstart being filled and where singletons were seen.
pub(crate) struct State<'a> {
    pub path: &'a str,
    pub ks: Kickstart,
    seen: HashMap<&'static str, usize>,
}

impl State<'_> {
    /// Records a command that may appear once; errors on the second one.
    pub fn once(&mut self, name: &'static str, line: usize) -> Result<(), String> {
        if let Some(first) = self.seen.insert(name, line) {
            self.seen.insert(name, first);
            return Err(format!(
                "`{name}` given twice (first at line {first}); it may appear once"
            ));
        }
        Ok(())
    }
}

pub(crate) fn parse(path: &str, text: &str) -> Result<Kickstart, KickstartError> {
    let err = |line: usize, message: String| KickstartError::Syntax {
        path: path.to_string(),
        line,
        message,
    };
    let mut st = State {
        path,
        ks: Kickstart::default(),
        seen: HashMap::new(),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = i + 1;
        if lines[i].trim_start().starts_with('%') {
            i = section(&mut st, &lines, i)?;
            continue;
        }
        // Join `\`-continued lines; errors point at the first of them.
        let mut logical = lines[i].to_string();
        while ends_in_continuation(&logical) {
            logical.pop();
            i += 1;
            match lines.get(i) {
                Some(next) => logical.push_str(next),
                None => {
                    return Err(err(
                        i,
                        "line continuation `\\` at the end of the file".into(),
                    ))
                }
            }
        }
        i += 1;
        let Some(words) = shlex::split(&logical) else {
            return Err(err(line, "unbalanced quote".into()));
        };
        if words.is_empty() {
            continue;
        }
        commands::command(&mut st, line, &words).map_err(|m| err(line, m))?;
    }
    check_whole(&st.ks).map_err(|(line, m)| err(line, m))?;
    Ok(st.ks)
}

/// Whether the line ends in a `\` that continues it: an unescaped
/// backslash outside single quotes and outside a `#` comment.
fn ends_in_continuation(line: &str) -> bool {
    let (mut single, mut double, mut word_start) = (false, false, true);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if single {
            single = c != '\'';
            continue;
        }
        if c == '\\' {
            if chars.next().is_none() {
                return true;
            }
            word_start = false;
            continue;
        }
        if double {
            double = c != '"';
            continue;
        }
        match c {
            '\'' => single = true,
            '"' => double = true,
            '#' if word_start => return false,
            _ => {}
        }
        word_start = c == ' ' || c == '\t';
    }
    false
}

/// Parses the section starting at `lines[start]`; returns the index of the
/// line after its `%end`.
fn section(st: &mut State, lines: &[&str], start: usize) -> Result<usize, KickstartError> {
    let line = start + 1;
    let err = |line: usize, message: String| KickstartError::Syntax {
        path: st.path.to_string(),
        line,
        message,
    };
    let Some(words) = shlex::split(lines[start].trim()) else {
        return Err(err(line, "unbalanced quote".into()));
    };
    let name = words.first().map(String::as_str).unwrap_or_default();
    let refuse = |why: &str| Err(err(line, format!("`{name}` is not supported: {why}")));
    match name {
        "%packages" | "%post" => {}
        "%end" => return Err(err(line, "`%end` without an open section".into())),
        "%pre" | "%pre-install" => {
            return refuse(
                "image builds run no installer environment for it to run in; \
                 do the work in %post (inside the image) or in mk-firstboot",
            )
        }
        "%include" | "%ksappend" => {
            return refuse(
                "a bundle ships each kickstart as a single file (and never fetches URLs); \
                 put the included text into this file",
            )
        }
        _ => return refuse("the supported sections are %packages and %post, each closed by %end"),
    }

    // The body: verbatim lines up to `%end`.
    let mut body = String::new();
    let mut end = None;
    for (j, raw) in lines.iter().enumerate().skip(start + 1) {
        let first = raw.split_whitespace().next().unwrap_or_default();
        if first == "%end" {
            end = Some(j);
            break;
        }
        if SECTIONS.contains(&first) {
            return Err(err(
                j + 1,
                format!(
                    "`{first}` inside {name} (opened at line {line}); close it with `%end` first"
                ),
            ));
        }
        body.push_str(raw);
        body.push('\n');
    }
    let Some(end) = end else {
        return Err(err(line, format!("{name} has no closing `%end`")));
    };
    if shlex::split(lines[end].trim()).is_none_or(|w| w.len() != 1) {
        return Err(err(end + 1, "`%end` takes no arguments".into()));
    }
    let first_line = line + 1;
    let what = name.to_string();
    let result = if name == "%packages" {
        packages(st, line, &words[1..], body, first_line)
    } else {
        post(st, line, &words[1..], body, first_line)
    };
    result.map_err(|(l, m)| err(l, format!("{what}: {m}")))?;
    Ok(end + 1)
}

fn packages(
    st: &mut State,
    line: usize,
    options: &[String],
    body: String,
    first_line: usize,
) -> Result<(), (usize, String)> {
    st.once("%packages", line).map_err(|m| (line, m))?;
    let args = Args::parse(
        "%packages",
        options,
        &[("--nocore", false), ("--excludedocs", false)],
        &[
            (
                "--ignoremissing",
                "a package that is missing must stop the build, not vanish from the image",
            ),
            (
                "--default",
                "name the packages; the installer's defaults are not ours",
            ),
            ("--nobase", "use --nocore"),
            ("--multilib", "nodes are 64-bit only"),
            ("--instLangs", "not supported"),
            (
                "--excludeWeakdeps",
                "CentOS 7's rpm has no weak dependencies",
            ),
        ],
    )
    .map_err(|m| (line, m))?;
    args.no_positionals("%packages").map_err(|m| (line, m))?;
    let request = Request::parse_with_offset(&body, first_line - 1).map_err(
        |RequestError::Syntax {
             line,
             text,
             message,
         }| (line, format!("{message}: `{text}`")),
    )?;
    st.ks.packages = Some(Packages {
        line,
        nocore: args.flag("--nocore"),
        excludedocs: args.flag("--excludedocs"),
        body,
        first_line,
        request,
    });
    Ok(())
}

fn post(
    st: &mut State,
    line: usize,
    options: &[String],
    body: String,
    first_line: usize,
) -> Result<(), (usize, String)> {
    let args = Args::parse(
        "%post",
        options,
        &[
            ("--nochroot", false),
            ("--interpreter", true),
            ("--erroronfail", false),
            ("--log", true),
        ],
        &[],
    )
    .map_err(|m| (line, m))?;
    args.no_positionals("%post").map_err(|m| (line, m))?;
    let interpreter = args
        .nonempty("%post", "--interpreter")
        .map_err(|m| (line, m))?;
    if let Some(i) = &interpreter {
        if !i.starts_with('/') {
            return Err((
                line,
                format!("`--interpreter` must be an absolute path, got `{i}`"),
            ));
        }
    }
    offline_script(&body, first_line)?;
    st.ks.post.push(PostScript {
        line,
        nochroot: args.flag("--nochroot"),
        interpreter,
        erroronfail: args.flag("--erroronfail"),
        log: args.nonempty("%post", "--log").map_err(|m| (line, m))?,
        body,
        first_line,
    });
    Ok(())
}

/// Image builds are offline (R2). This catches the obvious ways a script
/// reaches for the network (URLs, curl, wget); it is a guard, not a proof.
fn offline_script(body: &str, first_line: usize) -> Result<(), (usize, String)> {
    for (i, raw) in body.lines().enumerate() {
        let code = raw.trim_start();
        if code.starts_with('#') {
            continue;
        }
        let words = code.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.:/+".contains(c)));
        for word in words {
            let is_url = word
                .split_once("://")
                .is_some_and(|(scheme, _)| !scheme.is_empty() && scheme != "file");
            if is_url || word == "curl" || word == "wget" {
                return Err((
                    first_line + i,
                    format!(
                        "the script reaches for the network (`{word}`), but image builds are \
                         offline; ship what it needs in an RPM or an overlay"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Rules across commands.
fn check_whole(ks: &Kickstart) -> Result<(), (usize, String)> {
    if let (Some(a), Some(p)) = (&ks.autopart, ks.parts.first()) {
        let line = a.line.max(p.line);
        return Err((
            line,
            format!(
                "`autopart` (line {}) and `part` (line {}) exclude each other; use one",
                a.line, p.line
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ends_in_continuation as c;

    #[test]
    fn continuation() {
        assert!(c("a \\"));
        assert!(!c("a \\\\"));
        assert!(c("a \\\\\\"));
        assert!(!c("a # \\"));
        assert!(c("a#b \\"));
        assert!(!c("a '\\"));
        assert!(c("a \"x\" \\"));
        assert!(!c(""));
    }
}
