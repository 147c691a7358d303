//! RPM repositories for mk: the package model shared by resolution and
//! bundling, rpm's version comparison, reading package headers, and reading
//! and writing createrepo-compatible repodata.

pub mod evr;
pub mod package;

pub use evr::{rpmvercmp, Evr};
pub use package::{Cmp, Dep, FileEntry, FileKind, Package};
