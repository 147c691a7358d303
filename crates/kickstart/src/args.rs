//! Options of one kickstart command or section header, as pykickstart's
//! option parser reads them: `--name=value`, `--name value`, `--flag`, and
//! positional words. No abbreviations: a misspelt option is an error.

/// One accepted option: its name (with `--`) and whether it takes a value.
pub(crate) type Spec = (&'static str, bool);

/// Options that exist in RHEL 7 kickstart but that mk refuses, with why.
pub(crate) type Refused = (&'static str, &'static str);

#[derive(Debug, Default)]
pub(crate) struct Args {
    options: Vec<(&'static str, Option<String>)>,
    pub positionals: Vec<String>,
}

impl Args {
    pub fn parse(
        what: &str,
        words: &[String],
        specs: &[Spec],
        refused: &[Refused],
    ) -> Result<Args, String> {
        let mut args = Args::default();
        let mut i = 0;
        while i < words.len() {
            let word = &words[i];
            i += 1;
            if !word.starts_with('-') || word == "-" {
                args.positionals.push(word.clone());
                continue;
            }
            let (name, inline) = match word.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (word.as_str(), None),
            };
            let Some(&(spec_name, takes_value)) = specs.iter().find(|(n, _)| *n == name) else {
                if let Some((_, why)) = refused.iter().find(|(n, _)| *n == name) {
                    return Err(format!("`{what} {name}` is not supported: {why}"));
                }
                return Err(format!(
                    "unknown option `{name}` for `{what}`; supported: {}",
                    supported(specs)
                ));
            };
            if args.options.iter().any(|(n, _)| *n == spec_name) {
                return Err(format!("`{what}`: option `{name}` given twice"));
            }
            let value = match (takes_value, inline) {
                (true, Some(v)) => Some(v),
                (true, None) => match words.get(i) {
                    Some(v) if !v.starts_with("--") => {
                        i += 1;
                        Some(v.clone())
                    }
                    _ => return Err(format!("`{what}`: option `{name}` needs a value")),
                },
                (false, Some(_)) => {
                    return Err(format!("`{what}`: option `{name}` takes no value"))
                }
                (false, None) => None,
            };
            args.options.push((spec_name, value));
        }
        Ok(args)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| *n == name)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// A value that must not be empty.
    pub fn nonempty(&self, what: &str, name: &str) -> Result<Option<String>, String> {
        match self.value(name) {
            Some("") => Err(format!("`{what}`: option `{name}` has an empty value")),
            v => Ok(v.map(str::to_string)),
        }
    }

    /// A comma-separated list; empty items are errors.
    pub fn list(&self, what: &str, name: &str) -> Result<Vec<String>, String> {
        match self.value(name) {
            None => Ok(Vec::new()),
            Some(v) => {
                let items: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
                if items.iter().any(String::is_empty) {
                    return Err(format!(
                        "`{what}`: option `{name}` has an empty item in `{v}` (expected a comma-separated list)"
                    ));
                }
                Ok(items)
            }
        }
    }

    pub fn number<T: std::str::FromStr>(
        &self,
        what: &str,
        name: &str,
        unit: &str,
    ) -> Result<Option<T>, String> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                format!("`{what}`: option `{name}` expects a whole number{unit}, got `{v}`")
            }),
        }
    }

    pub fn no_positionals(&self, what: &str) -> Result<(), String> {
        match self.positionals.first() {
            None => Ok(()),
            Some(p) => Err(format!(
                "`{what}` takes no arguments besides options, found `{p}`"
            )),
        }
    }
}

pub(crate) fn supported(specs: &[Spec]) -> String {
    if specs.is_empty() {
        return "no options".into();
    }
    specs
        .iter()
        .map(|(n, v)| {
            if *v {
                format!("{n}=...")
            } else {
                n.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        shlex::split(s).unwrap()
    }

    #[test]
    fn forms() {
        let specs = [("--size", true), ("--grow", false)];
        let a = Args::parse("part", &w("/ --size 10 --grow"), &specs, &[]).unwrap();
        assert_eq!(a.value("--size"), Some("10"));
        assert!(a.flag("--grow"));
        assert_eq!(a.positionals, ["/"]);
        let a = Args::parse("part", &w("--size=10"), &specs, &[]).unwrap();
        assert_eq!(a.value("--size"), Some("10"));
    }

    #[test]
    fn errors() {
        let specs = [("--size", true), ("--grow", false)];
        let e = |s: &str| Args::parse("part", &w(s), &specs, &[("--encrypted", "no")]).unwrap_err();
        assert_eq!(
            e("--siz=1"),
            "unknown option `--siz` for `part`; supported: --size=..., --grow"
        );
        assert_eq!(e("--encrypted"), "`part --encrypted` is not supported: no");
        assert_eq!(e("--size"), "`part`: option `--size` needs a value");
        assert_eq!(e("--size --grow"), "`part`: option `--size` needs a value");
        assert_eq!(e("--grow=yes"), "`part`: option `--grow` takes no value");
        assert_eq!(e("--grow --grow"), "`part`: option `--grow` given twice");
    }
}
