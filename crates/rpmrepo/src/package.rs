//! The package model: what mk needs to know about one RPM to resolve it,
//! order it, and describe it in repodata. Filled from a header
//! (`header` module) or from repodata (`repodata` module).

use crate::evr::Evr;
use std::fmt;

/// Comparison operator of a versioned dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Cmp {
    /// The repodata spelling (`LT`, `LE`, `EQ`, `GE`, `GT`).
    pub fn as_repodata(self) -> &'static str {
        match self {
            Cmp::Lt => "LT",
            Cmp::Le => "LE",
            Cmp::Eq => "EQ",
            Cmp::Ge => "GE",
            Cmp::Gt => "GT",
        }
    }

    pub fn from_repodata(s: &str) -> Option<Cmp> {
        Some(match s {
            "LT" => Cmp::Lt,
            "LE" => Cmp::Le,
            "EQ" => Cmp::Eq,
            "GE" => Cmp::Ge,
            "GT" => Cmp::Gt,
            _ => return None,
        })
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Eq => "=",
            Cmp::Ge => ">=",
            Cmp::Gt => ">",
        }
    }
}

/// One provides/requires/conflicts/obsoletes entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dep {
    /// Capability name: a package name, a virtual capability, a file path
    /// (`/bin/sh`), or `rpmlib(...)`.
    pub name: String,
    /// `None` for an unversioned dependency.
    pub version: Option<(Cmp, Evr)>,
    /// Pre-requirement (`Requires(pre)`, `Requires(post)` ...): must be
    /// installed before this package, which drives install order.
    pub pre: bool,
}

impl Dep {
    pub fn any(name: impl Into<String>) -> Dep {
        Dep {
            name: name.into(),
            version: None,
            pre: false,
        }
    }

    pub fn versioned(name: impl Into<String>, cmp: Cmp, evr: Evr) -> Dep {
        Dep {
            name: name.into(),
            version: Some((cmp, evr)),
            pre: false,
        }
    }

    pub fn is_file(&self) -> bool {
        self.name.starts_with('/')
    }

    pub fn is_rpmlib(&self) -> bool {
        self.name.starts_with("rpmlib(")
    }
}

impl fmt::Display for Dep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some((cmp, evr)) = &self.version {
            write!(f, " {} {}", cmp.symbol(), evr)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    File,
    Dir,
    /// `%ghost`: owned by the package but not in its payload.
    Ghost,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileEntry {
    pub path: String,
    pub kind: FileKind,
}

/// A changelog entry, for other.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changelog {
    pub author: String,
    pub time: u64,
    pub text: String,
}

/// One binary RPM as repositories describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub evr: Evr,
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub url: String,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    pub sourcerpm: String,
    pub packager: String,
    pub build_time: u64,
    /// Size of the .rpm file.
    pub size_package: u64,
    pub size_installed: u64,
    pub size_archive: u64,
    /// Byte range of the main header in the .rpm file (repodata's
    /// `rpm:header-range`).
    pub header_start: u64,
    pub header_end: u64,
    pub provides: Vec<Dep>,
    pub requires: Vec<Dep>,
    pub conflicts: Vec<Dep>,
    pub obsoletes: Vec<Dep>,
    pub files: Vec<FileEntry>,
    pub changelogs: Vec<Changelog>,
    /// Path of the .rpm relative to the repository root (`Packages/a.rpm`).
    pub location: String,
    /// Lower-case hex SHA-256 of the .rpm file (repodata's pkgid).
    pub checksum: String,
}

impl Default for Evr {
    fn default() -> Self {
        Evr::new(0, "", "")
    }
}

impl Package {
    /// `name-[epoch:]version-release.arch`, as rpm and dnf print it.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr, self.arch)
    }

    /// Whether this package provides a file path (payload files, directories
    /// and ghosts all count, as for rpm).
    pub fn has_file(&self, path: &str) -> bool {
        self.files.iter().any(|f| f.path == path)
    }
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.nevra())
    }
}
