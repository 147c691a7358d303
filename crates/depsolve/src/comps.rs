//! comps.xml: package groups (`@core`) and environments (`@^minimal`).
//!
//! A group lists packages as mandatory, default, optional or conditional
//! (installed when another named package is installed). An environment
//! lists mandatory groups (`grouplist`) and optional ones (`optionlist`).
//! Categories and langpacks are skipped: kickstarts do not name them.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    /// The untranslated name.
    pub name: String,
    pub mandatory: Vec<String>,
    pub default: Vec<String>,
    pub optional: Vec<String>,
    /// `(package, required package)`: install `package` when `required
    /// package` ends up installed.
    pub conditional: Vec<(String, String)>,
}

impl Group {
    /// Package names a kickstart `@group` line brings in: mandatory, then
    /// default ones unless `nodefaults`, then optional ones if `optional`.
    pub fn packages(&self, optional: bool, nodefaults: bool) -> Vec<&str> {
        let mut out: Vec<&str> = self.mandatory.iter().map(String::as_str).collect();
        if !nodefaults {
            out.extend(self.default.iter().map(String::as_str));
        }
        if optional {
            out.extend(self.optional.iter().map(String::as_str));
        }
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    pub id: String,
    pub name: String,
    /// Groups always installed with the environment.
    pub groups: Vec<String>,
    /// Groups offered as options (not installed by `@^id`).
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comps {
    pub groups: Vec<Group>,
    pub environments: Vec<Environment>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompsError {
    #[error("reading {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("comps.xml line {line}: {message}")]
    Invalid { line: usize, message: String },
}

impl Comps {
    /// Reads and parses a comps.xml file.
    pub fn read(path: &Path) -> Result<Comps, CompsError> {
        let text = std::fs::read_to_string(path).map_err(|source| CompsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Comps::parse_file(&text, path)
    }

    /// Parses comps.xml text read from `path`, which errors name.
    pub fn parse_file(xml: &str, path: &Path) -> Result<Comps, CompsError> {
        Comps::parse(xml).map_err(|e| match e {
            CompsError::Invalid { line, message } => CompsError::Invalid {
                line,
                message: format!("{message} (in {})", path.display()),
            },
            e => e,
        })
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub fn environment(&self, id: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.id == id)
    }

    /// Parses comps.xml text.
    pub fn parse(xml: &str) -> Result<Comps, CompsError> {
        Parser::new(xml).run()
    }
}

/// What the element being read belongs to.
enum Open {
    None,
    Group(Group),
    Env(Environment),
}

struct Parser<'a> {
    xml: &'a str,
    reader: Reader<&'a [u8]>,
    /// Names of the open elements, outermost first.
    path: Vec<String>,
    text: String,
    /// The `type`/`requires` of the open `packagereq`, and whether the open
    /// `name` carries `xml:lang` (a translation, skipped).
    req_attrs: (String, Option<String>),
    translated: bool,
    open: Open,
    comps: Comps,
}

impl<'a> Parser<'a> {
    fn new(xml: &'a str) -> Self {
        Parser {
            xml,
            reader: Reader::from_str(xml),
            path: Vec::new(),
            text: String::new(),
            req_attrs: (String::new(), None),
            translated: false,
            open: Open::None,
            comps: Comps::default(),
        }
    }

    fn line(&self) -> usize {
        let pos = (self.reader.buffer_position() as usize).min(self.xml.len());
        self.xml.as_bytes()[..pos]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err(&self, message: impl Into<String>) -> CompsError {
        CompsError::Invalid {
            line: self.line(),
            message: message.into(),
        }
    }

    fn attr(&self, e: &BytesStart<'_>, name: &str) -> Result<Option<String>, CompsError> {
        match e.try_get_attribute(name) {
            Ok(None) => Ok(None),
            Ok(Some(a)) => a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| Some(v.into_owned()))
                .map_err(|e| self.err(format!("attribute {name}: {e}"))),
            Err(e) => Err(self.err(format!("attribute {name}: {e}"))),
        }
    }

    fn run(mut self) -> Result<Comps, CompsError> {
        loop {
            let ev = self
                .reader
                .read_event()
                .map_err(|e| self.err(format!("malformed XML: {e}")))?;
            match ev {
                Event::Start(e) => {
                    let name = e.name().as_ref().to_string();
                    self.start(&name, &e)?;
                    self.path.push(name);
                    self.text.clear();
                }
                Event::Empty(e) => {
                    let name = e.name().as_ref().to_string();
                    self.start(&name, &e)?;
                    self.path.push(name.clone());
                    self.text.clear();
                    self.end(&name)?;
                    self.path.pop();
                }
                Event::End(e) => {
                    let name = e.name().as_ref().to_string();
                    self.end(&name)?;
                    self.path.pop();
                    self.text.clear();
                }
                Event::Text(t) => self.text.push_str(&t.xml10_content()),
                Event::CData(t) => self.text.push_str(&t),
                Event::GeneralRef(r) => {
                    let resolved = match r
                        .resolve_char_ref()
                        .map_err(|e| self.err(format!("bad character reference: {e}")))?
                    {
                        Some(c) => c.to_string(),
                        None => quick_xml::escape::resolve_predefined_entity(&r)
                            .ok_or_else(|| self.err(format!("unknown entity &{};", &*r)))?
                            .to_string(),
                    };
                    self.text.push_str(&resolved);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !self.path.is_empty() {
            return Err(self.err(format!("unexpected end inside <{}>", self.path.join("/"))));
        }
        if self.comps.groups.is_empty() && self.comps.environments.is_empty() {
            return Err(self.err("no <group> or <environment> found: not a comps file"));
        }
        Ok(self.comps)
    }

    fn parent(&self) -> Option<&str> {
        self.path.last().map(String::as_str)
    }

    fn start(&mut self, name: &str, e: &BytesStart<'_>) -> Result<(), CompsError> {
        match name {
            "group" if self.parent() == Some("comps") => self.open = Open::Group(Group::default()),
            "environment" if self.parent() == Some("comps") => {
                self.open = Open::Env(Environment::default())
            }
            "packagereq" => {
                let kind = self.attr(e, "type")?.unwrap_or_else(|| "mandatory".into());
                let requires = self.attr(e, "requires")?;
                self.req_attrs = (kind, requires);
            }
            "name" => self.translated = self.attr(e, "xml:lang")?.is_some(),
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, name: &str) -> Result<(), CompsError> {
        let text = self.text.trim().to_string();
        let parent = self.path.iter().rev().nth(1).map(String::as_str);
        match (&mut self.open, name) {
            (Open::Group(g), "id") if parent == Some("group") => g.id = text,
            (Open::Env(env), "id") if parent == Some("environment") => env.id = text,
            (Open::Group(g), "name") if parent == Some("group") && !self.translated => {
                g.name = text
            }
            (Open::Env(env), "name") if parent == Some("environment") && !self.translated => {
                env.name = text
            }
            (Open::Group(g), "packagereq") => {
                if text.is_empty() {
                    return Err(self.err("empty <packagereq>"));
                }
                match self.req_attrs.0.as_str() {
                    "mandatory" => g.mandatory.push(text),
                    "default" => g.default.push(text),
                    "optional" => g.optional.push(text),
                    "conditional" => match self.req_attrs.1.take() {
                        Some(req) => g.conditional.push((text, req)),
                        None => {
                            return Err(self.err(format!(
                                "conditional <packagereq> {text} has no requires attribute"
                            )))
                        }
                    },
                    other => {
                        return Err(self.err(format!(
                            "<packagereq> {text}: unknown type {other:?} (expected mandatory, \
                             default, optional or conditional)"
                        )))
                    }
                }
            }
            (Open::Env(env), "groupid") => match parent {
                Some("grouplist") => env.groups.push(text),
                Some("optionlist") => env.options.push(text),
                _ => {}
            },
            (_, "group") if parent == Some("comps") => {
                if let Open::Group(g) = std::mem::replace(&mut self.open, Open::None) {
                    if g.id.is_empty() {
                        return Err(self.err("<group> without <id>"));
                    }
                    self.comps.groups.push(g);
                }
            }
            (_, "environment") if parent == Some("comps") => {
                if let Open::Env(env) = std::mem::replace(&mut self.open, Open::None) {
                    if env.id.is_empty() {
                        return Err(self.err("<environment> without <id>"));
                    }
                    self.comps.environments.push(env);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_document() {
        let xml = r#"<?xml version="1.0"?>
<comps>
  <group>
    <id>web</id>
    <name>Web &amp; Server</name>
    <name xml:lang="de">Web-Server</name>
    <packagelist>
      <packagereq type="mandatory">httpd</packagereq>
      <packagereq>mod_ssl</packagereq>
      <packagereq type="default">mod_fcgid</packagereq>
      <packagereq type="optional">mod_auth_kerb</packagereq>
      <packagereq type="conditional" requires="php">php-pear</packagereq>
    </packagelist>
  </group>
  <environment>
    <id>web-env</id>
    <name>Web</name>
    <grouplist><groupid>web</groupid></grouplist>
    <optionlist><groupid>debugging</groupid></optionlist>
  </environment>
</comps>"#;
        let c = Comps::parse(xml).unwrap();
        let g = c.group("web").unwrap();
        assert_eq!(g.name, "Web & Server");
        assert_eq!(g.mandatory, ["httpd", "mod_ssl"]);
        assert_eq!(g.packages(false, false), ["httpd", "mod_ssl", "mod_fcgid"]);
        assert_eq!(g.packages(false, true), ["httpd", "mod_ssl"]);
        assert_eq!(
            g.packages(true, false),
            ["httpd", "mod_ssl", "mod_fcgid", "mod_auth_kerb"]
        );
        assert_eq!(g.conditional, [("php-pear".to_string(), "php".to_string())]);
        let e = c.environment("web-env").unwrap();
        assert_eq!(
            (e.groups.as_slice(), e.options.as_slice()),
            (&["web".to_string()][..], &["debugging".to_string()][..])
        );
    }

    #[test]
    fn errors_name_the_line() {
        let xml = "<comps>\n<group>\n<id>x</id>\n<packagelist>\n<packagereq type=\"sometimes\">a</packagereq>\n</packagelist>\n</group>\n</comps>\n";
        let err = Comps::parse(xml).unwrap_err().to_string();
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("unknown type \"sometimes\""), "{err}");

        let err = Comps::parse("<comps>\n<group>\n<id>x</id>\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unexpected end"), "{err}");

        let err = Comps::parse("<comps><group><id>x</i></group></comps>")
            .unwrap_err()
            .to_string();
        assert!(err.contains("malformed XML"), "{err}");

        let err = Comps::parse("<repomd></repomd>").unwrap_err().to_string();
        assert!(err.contains("not a comps file"), "{err}");
    }
}
