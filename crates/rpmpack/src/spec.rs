//! Package specs (packaging/*.yaml, docs/packaging.md): our own binaries
//! as RPMs (R18). Paths in a spec are relative to the spec file's
//! directory; binaries come from a separate directory (a glibc 2.17 build,
//! see packaging/build.sh).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Dep, FileSpec, Op, OwnerRule, PackError, Package, Script, ScriptKind};

/// The package spec.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    /// A version, or `cargo` for the workspace's version.
    pub version: String,
    pub release: String,
    #[serde(default = "default_arch")]
    pub arch: String,
    pub summary: String,
    #[serde(default)]
    pub description: Option<String>,
    pub license: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub vendor: Option<String>,
    /// `name [op evr]`, e.g. `systemd >= 219` or a file path.
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub requires_pre: Vec<String>,
    #[serde(default)]
    pub provides: Vec<String>,
    #[serde(default)]
    pub conflicts: Vec<String>,
    #[serde(default)]
    pub obsoletes: Vec<String>,
    /// Add [`Inputs::service_accounts_pre`] as `%pre` (mk's service
    /// accounts with their fixed IDs).
    #[serde(default)]
    pub service_accounts: bool,
    pub files: Vec<FileItem>,
    /// The spec file's directory: where `source` and `tree` paths start.
    #[serde(skip)]
    pub dir: PathBuf,
}

fn default_arch() -> String {
    "x86_64".into()
}

/// One file (`path` + `binary` or `source`) or a tree (`tree` + `dest`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileItem {
    #[serde(default)]
    pub path: Option<String>,
    /// File name in [`Inputs::binary_dir`].
    #[serde(default)]
    pub binary: Option<String>,
    /// File relative to the spec's directory.
    #[serde(default)]
    pub source: Option<String>,
    /// Directory relative to the spec's directory: everything below it.
    #[serde(default)]
    pub tree: Option<String>,
    #[serde(default)]
    pub dest: Option<String>,
    /// Octal permission bits as a string ("0755"); default 0644 (binaries
    /// 0755, trees: modes as on disk).
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub doc: bool,
    #[serde(default)]
    pub config: bool,
}

/// What a spec is built with besides its own files.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Where the spec's `binary:` files are.
    pub binary_dir: &'a Path,
    /// Build time and every file's mtime (None: [`crate::DEFAULT_BUILD_TIME`]).
    pub build_time: Option<u32>,
    /// What `version: cargo` stands for.
    pub cargo_version: &'a str,
    /// The `%pre` script of `service_accounts: true`.
    pub service_accounts_pre: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a package spec", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_norway::Error,
    },
    #[error("dependency {dep:?}: unknown comparison {op:?} (expected <, <=, =, >=, >)")]
    UnknownComparison { dep: String, op: String },
    #[error("dependency {dep:?}: expected `name` or `name OP VERSION`")]
    BadDependency { dep: String },
    #[error("{item}: mode {mode:?}: expected octal permission bits such as \"0755\"")]
    BadMode { item: String, mode: String },
    #[error("{item}: {}: no such file", path.display())]
    NoSuchFile { item: String, path: PathBuf },
    #[error("{item}: expected `path` with one of `binary` or `source`, or `tree` with `dest`")]
    BadItem { item: String },
    #[error(transparent)]
    Pack(#[from] PackError),
}

impl Spec {
    /// Reads the spec file at `path`.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut spec: Spec = serde_norway::from_str(&text).map_err(|source| SpecError::Parse {
            path: path.to_owned(),
            source,
        })?;
        spec.dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        Ok(spec)
    }

    /// The package the spec describes.
    pub fn package(&self, inputs: &Inputs<'_>) -> Result<Package, SpecError> {
        let version = if self.version == "cargo" {
            inputs.cargo_version
        } else {
            self.version.as_str()
        };
        let mut p = Package::new(&self.name, version, &self.release);
        p.arch(&self.arch)
            .summary(&self.summary)
            .license(&self.license);
        if let Some(t) = inputs.build_time {
            p.build_time(t);
        }
        if let Some(d) = &self.description {
            p.description(d.trim_end());
        }
        if let Some(u) = &self.url {
            p.url(u);
        }
        if let Some(v) = &self.vendor {
            p.vendor(v);
        }
        for (list, f) in [
            (
                &self.requires,
                Package::requires as fn(&mut Package, Dep) -> &mut Package,
            ),
            (&self.requires_pre, Package::requires_pre),
            (&self.provides, Package::provides),
            (&self.conflicts, Package::conflicts),
            (&self.obsoletes, Package::obsoletes),
        ] {
            for d in list {
                f(&mut p, parse_dep(d)?);
            }
        }
        if self.service_accounts {
            p.script(ScriptKind::Pre, Script::shell(inputs.service_accounts_pre));
        }
        for (i, item) in self.files.iter().enumerate() {
            self.add_item(&mut p, &format!("files[{i}]"), item, inputs.binary_dir)?;
        }
        Ok(p)
    }

    fn add_item(
        &self,
        p: &mut Package,
        what: &str,
        item: &FileItem,
        binary_dir: &Path,
    ) -> Result<(), SpecError> {
        match (
            &item.path,
            &item.binary,
            &item.source,
            &item.tree,
            &item.dest,
        ) {
            (Some(path), bin, src, None, None) if bin.is_some() != src.is_some() => {
                let from = match (bin, src) {
                    (Some(b), _) => binary_dir.join(b),
                    (_, Some(s)) => self.dir.join(s),
                    _ => unreachable!("exactly one of binary and source"),
                };
                if !from.is_file() {
                    return Err(SpecError::NoSuchFile {
                        item: what.into(),
                        path: from,
                    });
                }
                let mode = match &item.mode {
                    Some(m) => parse_mode(what, m)?,
                    None if bin.is_some() => 0o755,
                    None => 0o644,
                };
                let mut f = FileSpec::from_disk(path, from).mode(mode);
                if item.doc {
                    f = f.doc();
                }
                if item.config {
                    f = f.noreplace();
                }
                p.add(f);
            }
            (None, None, None, Some(tree), Some(dest)) => {
                p.add_tree(&self.dir.join(tree), dest, OwnerRule::Root)?;
            }
            _ => return Err(SpecError::BadItem { item: what.into() }),
        }
        Ok(())
    }
}

/// Parses `name [op evr]`. Pure.
pub fn parse_dep(s: &str) -> Result<Dep, SpecError> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    Ok(match parts.as_slice() {
        [name] => Dep::any(name),
        [name, op, evr] => {
            let op = match *op {
                "<" => Op::Lt,
                "<=" => Op::Le,
                "=" => Op::Eq,
                ">=" => Op::Ge,
                ">" => Op::Gt,
                o => {
                    return Err(SpecError::UnknownComparison {
                        dep: s.into(),
                        op: o.into(),
                    })
                }
            };
            Dep::new(name, op, evr)
        }
        _ => return Err(SpecError::BadDependency { dep: s.into() }),
    })
}

fn parse_mode(item: &str, m: &str) -> Result<u16, SpecError> {
    u16::from_str_radix(m.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| SpecError::BadMode {
            item: item.into(),
            mode: m.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deps_and_modes() {
        assert_eq!(
            parse_dep("systemd >= 219").unwrap(),
            Dep::new("systemd", Op::Ge, "219")
        );
        assert_eq!(
            parse_dep("/usr/sbin/useradd").unwrap(),
            Dep::any("/usr/sbin/useradd")
        );
        assert!(parse_dep("a ~ 1").is_err());
        assert_eq!(parse_mode("x", "0755").unwrap(), 0o755);
        assert!(parse_mode("x", "999").is_err());
    }

    #[test]
    fn an_item_with_both_binary_and_source_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(
            &path,
            "name: p\nversion: cargo\nrelease: \"1\"\nsummary: s\nlicense: MIT\n\
             files:\n  - path: /usr/bin/p\n    binary: p\n    source: p\n",
        )
        .unwrap();
        let spec = Spec::load(&path).unwrap();
        assert_eq!(spec.dir, dir.path());
        let inputs = Inputs {
            binary_dir: dir.path(),
            build_time: None,
            cargo_version: "1.0",
            service_accounts_pre: "",
        };
        let e = spec.package(&inputs).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("files[0]: expected `path` with one of"),
            "{e}"
        );
    }
}
