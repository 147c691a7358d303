//! Builds RPM packages with the `rpm` crate: our own binaries (mk-firstboot),
//! overlay trees for node images, and the Debian-derived fixture
//! distribution.
//!
//! Packages are reproducible: the build time (SOURCE_DATE_EPOCH) is fixed
//! unless set, every file's mtime is that build time, dependency lists are
//! sorted, and trees are walked in sorted order. The same description gives
//! the same bytes.
//!
//! ```no_run
//! use mk_rpmpack::{Dep, Package, Script, ScriptKind};
//! let mut p = Package::new("hello", "1.0", "1");
//! p.summary("Says hello")
//!     .file_from("/usr/bin/hello", "target/release/hello", 0o755)
//!     .requires(Dep::any("systemd"))
//!     .script(ScriptKind::Post, Script::program("/sbin/ldconfig"));
//! let path = p.build_to_dir(std::path::Path::new("out")).unwrap();
//! ```

mod package;
pub mod spec;
mod tree;
pub mod validate;

/// Also used by mk-synthrpm's test packages.
pub use package::drop_script_bodies;
pub use package::{
    Compression, Content, Dep, DepKind, FileKind, FileSpec, Op, PackError, Package, Script,
    ScriptKind, DEFAULT_BUILD_TIME,
};
pub use tree::OwnerRule;
