//! Debian control data (deb-control(5)): stanzas of `Field: value` lines
//! and relationship fields (`a (>= 1) | b, c`). Pure.

/// One stanza; field names compare case-insensitively, as dpkg does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stanza {
    pub fields: Vec<(String, String)>,
}

impl Stanza {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The field or "" when absent.
    pub fn field(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }
}

/// Parses stanzas separated by blank lines; continuation lines start with
/// a space or tab and are kept (joined with '\n', leading blank removed).
pub fn parse_stanzas(text: &str) -> Result<Vec<Stanza>, String> {
    let mut out = Vec::new();
    let mut cur = Stanza::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some((_, v)) = cur.fields.last_mut() else {
                return Err(format!(
                    "line {}: continuation line before any field",
                    n + 1
                ));
            };
            v.push('\n');
            v.push_str(&line[1..]);
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(format!(
                "line {}: expected `Field: value`, got {line:?}",
                n + 1
            ));
        };
        cur.fields.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Debian relation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DebOp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

/// One alternative of a relationship: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Relation {
    pub name: String,
    pub constraint: Option<(DebOp, String)>,
}

/// Parses a relationship field into groups of alternatives. Architecture
/// qualifiers (`:any`, `:amd64`) are dropped: the set is single-arch.
pub fn parse_relations(field: &str) -> Result<Vec<Vec<Relation>>, String> {
    let mut groups = Vec::new();
    for group in field.split(',') {
        let group = group.trim();
        if group.is_empty() {
            continue;
        }
        let mut alts = Vec::new();
        for alt in group.split('|') {
            alts.push(parse_relation(alt.trim())?);
        }
        groups.push(alts);
    }
    Ok(groups)
}

fn parse_relation(s: &str) -> Result<Relation, String> {
    // Build profiles (`<!nocheck>`) and arch lists (`[amd64]`) only appear
    // in source packages; refuse them rather than guess.
    if s.contains('[') || s.contains('<') && !s.contains('(') {
        return Err(format!(
            "{s:?}: architecture or profile restrictions are not supported"
        ));
    }
    let (name_part, constraint) = match s.split_once('(') {
        Some((n, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("{s:?}: missing ')'"))?
                .trim();
            let op_end = inner
                .find(|c: char| !"<>=".contains(c))
                .ok_or_else(|| format!("{s:?}: missing version"))?;
            let op = match &inner[..op_end] {
                "<<" => DebOp::Lt,
                // `<` and `>` are obsolete spellings of `<=` and `>=`.
                "<=" | "<" => DebOp::Le,
                "=" => DebOp::Eq,
                ">=" | ">" => DebOp::Ge,
                ">>" => DebOp::Gt,
                o => return Err(format!("{s:?}: unknown operator {o:?}")),
            };
            let v = inner[op_end..].trim();
            if v.is_empty() {
                return Err(format!("{s:?}: missing version"));
            }
            (n.trim(), Some((op, v.to_owned())))
        }
        None => (s, None),
    };
    let name = name_part.split(':').next().unwrap_or("").trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("{s:?}: bad package name"));
    }
    Ok(Relation {
        name: name.to_owned(),
        constraint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_and_continuations() {
        let s = parse_stanzas(
            "Package: a\nDescription: short\n long line\n .\n more\n\nPackage: b\nVersion: 1\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].get("description"), Some("short\nlong line\n.\nmore"));
        assert_eq!(s[1].field("Version"), "1");
        assert!(parse_stanzas("no colon\n").is_err());
    }

    #[test]
    fn relations() {
        let r =
            parse_relations("libc6 (>= 2.34), awk | mawk:any, python3:any (<< 3.12), x (>>1.0)")
                .unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0][0].constraint, Some((DebOp::Ge, "2.34".into())));
        assert_eq!(r[1].len(), 2);
        assert_eq!(r[1][1].name, "mawk");
        assert_eq!(r[2][0].name, "python3");
        assert_eq!(r[2][0].constraint, Some((DebOp::Lt, "3.12".into())));
        assert_eq!(r[3][0].constraint, Some((DebOp::Gt, "1.0".into())));
        assert!(parse_relations("a (>= )").is_err());
        assert!(parse_relations("a [amd64]").is_err());
    }
}
