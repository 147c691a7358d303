//! RPM repositories for mk: the package model shared by resolution and
//! bundling, rpm's version comparison, reading package headers, and reading
//! and writing createrepo-compatible repodata, and checking package files
//! against it.

pub mod dir;
pub mod evr;
pub mod header;
pub mod package;
pub mod repodata;
pub mod verify;

pub use dir::scan_dir;
pub use evr::{rpmvercmp, Evr};
pub use header::{read_rpm, read_rpm_bytes, read_rpm_with, Check, HeaderError};
pub use package::{Cmp, Dep, FileEntry, FileKind, Package};
pub use verify::{verify_package_bytes, verify_package_file, FileProblem};
