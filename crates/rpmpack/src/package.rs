//! The package description and its translation into an rpm crate build.

use crate::validate;
use rpm::{
    Dependency, DependencyFlags, FileOptions, Header, HeaderEntry, IndexTag, PackageBuilder,
    PackageMetadata, Scriptlet, SignatureHeaderBuilder, Timestamp,
};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// Build time used when none is set (2020-09-13): packages are
/// bit-identical run to run unless the caller asks otherwise.
pub const DEFAULT_BUILD_TIME: u32 = 1_600_000_000;

/// Payload compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// What CentOS 7 ships; readable by rpm 4.11.
    #[default]
    Xz,
    Gzip,
    /// Needs rpm ≥ 4.14 to install (not CentOS 7's rpm 4.11).
    Zstd,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("package {package}: {field} {value:?}: {expected}")]
    BadField {
        package: String,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("package {package}: path {path:?}: {reason}")]
    BadPath {
        package: String,
        path: String,
        reason: &'static str,
    },
    #[error("package {package}: path {path} is listed twice")]
    DuplicatePath { package: String, path: String },
    #[error("package {package}: dependency {dep:?}: {reason}")]
    BadDep {
        package: String,
        dep: String,
        reason: &'static str,
    },
    #[error("package {package}: source of {path}: {source_path}")]
    Source {
        package: String,
        path: String,
        source_path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("package {package}: tree {dir}")]
    Tree {
        package: String,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("package {package}")]
    Rpm {
        package: String,
        #[source]
        source: rpm::Error,
    },
    #[error("package {package}: writing {path}")]
    Write {
        package: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    /// Read when the package is built (not when it is described).
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    Regular(Content),
    Dir,
    Symlink {
        target: String,
    },
    /// Owned but not in the payload (created by a scriptlet or at run time).
    Ghost,
    GhostDir,
}

/// One entry of the package's file list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: String,
    pub kind: FileKind,
    /// Permission bits only (`0o755`); ignored for symlinks (always 0777).
    pub mode: u16,
    pub user: String,
    pub group: String,
    pub config: bool,
    pub noreplace: bool,
    pub doc: bool,
    pub missingok: bool,
}

impl FileSpec {
    fn new(path: &str, kind: FileKind, mode: u16) -> FileSpec {
        FileSpec {
            path: path.to_owned(),
            kind,
            mode,
            user: "root".to_owned(),
            group: "root".to_owned(),
            config: false,
            noreplace: false,
            doc: false,
            missingok: false,
        }
    }

    /// Regular file with the given bytes, mode 0644.
    pub fn bytes(path: &str, bytes: impl Into<Vec<u8>>) -> FileSpec {
        FileSpec::new(path, FileKind::Regular(Content::Bytes(bytes.into())), 0o644)
    }

    /// Regular file read from `source` at build time, mode 0644.
    pub fn from_disk(path: &str, source: impl Into<PathBuf>) -> FileSpec {
        FileSpec::new(path, FileKind::Regular(Content::Path(source.into())), 0o644)
    }

    /// Directory, mode 0755.
    pub fn dir(path: &str) -> FileSpec {
        FileSpec::new(path, FileKind::Dir, 0o755)
    }

    pub fn symlink(path: &str, target: &str) -> FileSpec {
        FileSpec::new(
            path,
            FileKind::Symlink {
                target: target.to_owned(),
            },
            0o777,
        )
    }

    /// `%ghost` regular file, mode 0644.
    pub fn ghost(path: &str) -> FileSpec {
        FileSpec::new(path, FileKind::Ghost, 0o644)
    }

    /// `%ghost %dir`, mode 0755.
    pub fn ghost_dir(path: &str) -> FileSpec {
        FileSpec::new(path, FileKind::GhostDir, 0o755)
    }

    pub fn mode(mut self, mode: u16) -> Self {
        self.mode = mode;
        self
    }

    pub fn owner(mut self, user: &str, group: &str) -> Self {
        self.user = user.to_owned();
        self.group = group.to_owned();
        self
    }

    /// `%config`.
    pub fn config(mut self) -> Self {
        self.config = true;
        self
    }

    /// `%config(noreplace)` (implies `%config`).
    pub fn noreplace(mut self) -> Self {
        self.config = true;
        self.noreplace = true;
        self
    }

    /// `%doc`.
    pub fn doc(mut self) -> Self {
        self.doc = true;
        self
    }

    /// `%config(missingok)` / `%missingok`: absence is no `rpm -V` failure.
    pub fn missingok(mut self) -> Self {
        self.missingok = true;
        self
    }
}

/// Comparison of a versioned dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    fn flags(self) -> DependencyFlags {
        match self {
            Op::Lt => DependencyFlags::LESS,
            Op::Le => DependencyFlags::LE,
            Op::Eq => DependencyFlags::EQUAL,
            Op::Ge => DependencyFlags::GE,
            Op::Gt => DependencyFlags::GREATER,
        }
    }
}

/// A capability, optionally with a version constraint (`evr` is
/// `[epoch:]version[-release]`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dep {
    pub name: String,
    pub constraint: Option<(Op, String)>,
}

impl Dep {
    pub fn any(name: &str) -> Dep {
        Dep {
            name: name.to_owned(),
            constraint: None,
        }
    }

    pub fn new(name: &str, op: Op, evr: &str) -> Dep {
        Dep {
            name: name.to_owned(),
            constraint: Some((op, evr.to_owned())),
        }
    }
}

/// Which list a dependency goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DepKind {
    Requires,
    /// `Requires(pre)`: installed before this package's `%pre` runs.
    RequiresPre,
    /// `Requires(post)`.
    RequiresPost,
    Provides,
    Conflicts,
    Obsoletes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScriptKind {
    Pre,
    Post,
    Preun,
    Postun,
    Pretrans,
    Posttrans,
}

impl ScriptKind {
    fn body_tag(self) -> IndexTag {
        match self {
            ScriptKind::Pre => IndexTag::RPMTAG_PREIN,
            ScriptKind::Post => IndexTag::RPMTAG_POSTIN,
            ScriptKind::Preun => IndexTag::RPMTAG_PREUN,
            ScriptKind::Postun => IndexTag::RPMTAG_POSTUN,
            ScriptKind::Pretrans => IndexTag::RPMTAG_PRETRANS,
            ScriptKind::Posttrans => IndexTag::RPMTAG_POSTTRANS,
        }
    }

    /// The dependency flag rpmbuild puts on a scriptlet's interpreter.
    fn dep_flag(self) -> DependencyFlags {
        match self {
            ScriptKind::Pre => DependencyFlags::SCRIPT_PRE,
            ScriptKind::Post => DependencyFlags::SCRIPT_POST,
            ScriptKind::Preun => DependencyFlags::SCRIPT_PREUN,
            ScriptKind::Postun => DependencyFlags::SCRIPT_POSTUN,
            ScriptKind::Pretrans => DependencyFlags::PRETRANS,
            ScriptKind::Posttrans => DependencyFlags::POSTTRANS,
        }
    }
}

/// A scriptlet: an interpreter and a body, or a program run with no body
/// (`%post -p /sbin/ldconfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    Body { interpreter: String, body: String },
    Program(String),
}

impl Script {
    /// A `/bin/sh` body.
    pub fn shell(body: &str) -> Script {
        Script::Body {
            interpreter: "/bin/sh".to_owned(),
            body: body.to_owned(),
        }
    }

    pub fn with_interpreter(interpreter: &str, body: &str) -> Script {
        Script::Body {
            interpreter: interpreter.to_owned(),
            body: body.to_owned(),
        }
    }

    pub fn program(program: &str) -> Script {
        Script::Program(program.to_owned())
    }

    fn interpreter(&self) -> &str {
        match self {
            Script::Body { interpreter, .. } => interpreter,
            Script::Program(p) => p,
        }
    }
}

/// A package to build. Setters take `&mut self` so that callers can add
/// files in loops; everything is checked in [`Package::build`].
#[derive(Debug, Clone)]
pub struct Package {
    name: String,
    epoch: Option<u32>,
    version: String,
    release: String,
    arch: String,
    summary: String,
    description: Option<String>,
    license: String,
    url: Option<String>,
    vendor: Option<String>,
    packager: Option<String>,
    group: Option<String>,
    vcs: Option<String>,
    build_host: String,
    build_time: u32,
    compression: Compression,
    compression_level: Option<u32>,
    script_requires: bool,
    deps: Vec<(DepKind, Dep)>,
    pub(crate) files: Vec<FileSpec>,
    scripts: Vec<(ScriptKind, Script)>,
}

impl Package {
    /// A package with arch `x86_64`, license `Apache-2.0`, xz payload and
    /// build time [`DEFAULT_BUILD_TIME`].
    pub fn new(name: &str, version: &str, release: &str) -> Package {
        Package {
            name: name.to_owned(),
            epoch: None,
            version: version.to_owned(),
            release: release.to_owned(),
            arch: "x86_64".to_owned(),
            summary: name.to_owned(),
            description: None,
            license: "Apache-2.0".to_owned(),
            url: None,
            vendor: None,
            packager: None,
            group: None,
            vcs: None,
            build_host: "mk.invalid".to_owned(),
            build_time: DEFAULT_BUILD_TIME,
            compression: Compression::Xz,
            compression_level: None,
            script_requires: true,
            deps: Vec::new(),
            files: Vec::new(),
            scripts: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn epoch(&mut self, epoch: u32) -> &mut Self {
        self.epoch = Some(epoch);
        self
    }
    pub fn arch(&mut self, arch: &str) -> &mut Self {
        self.arch = arch.to_owned();
        self
    }
    pub fn summary(&mut self, v: &str) -> &mut Self {
        self.summary = v.to_owned();
        self
    }
    pub fn description(&mut self, v: &str) -> &mut Self {
        self.description = Some(v.to_owned());
        self
    }
    pub fn license(&mut self, v: &str) -> &mut Self {
        self.license = v.to_owned();
        self
    }
    pub fn url(&mut self, v: &str) -> &mut Self {
        self.url = Some(v.to_owned());
        self
    }
    pub fn vendor(&mut self, v: &str) -> &mut Self {
        self.vendor = Some(v.to_owned());
        self
    }
    pub fn packager(&mut self, v: &str) -> &mut Self {
        self.packager = Some(v.to_owned());
        self
    }
    pub fn group(&mut self, v: &str) -> &mut Self {
        self.group = Some(v.to_owned());
        self
    }
    /// The `VCS` tag (`rpm -q --qf %{VCS}`): the source revision the
    /// package's files were built from, which the SBOM reports (mk-sbom).
    pub fn vcs(&mut self, v: &str) -> &mut Self {
        self.vcs = Some(v.to_owned());
        self
    }
    /// Default `mk.invalid` (never the machine's name: reproducibility).
    pub fn build_host(&mut self, v: &str) -> &mut Self {
        self.build_host = v.to_owned();
        self
    }
    /// SOURCE_DATE_EPOCH: the header's build time and every file's mtime.
    pub fn build_time(&mut self, t: u32) -> &mut Self {
        self.build_time = t;
        self
    }
    pub fn compression(&mut self, c: Compression) -> &mut Self {
        self.compression = c;
        self
    }
    /// Compression level (xz/gzip 0-9, zstd 1-22); default xz 6, gzip 6, zstd 19.
    pub fn compression_level(&mut self, level: u32) -> &mut Self {
        self.compression_level = Some(level);
        self
    }
    /// Whether each scriptlet's interpreter is added as `Requires(pre)` /
    /// `Requires(post)` / ... as rpmbuild does (default on), so that rpm
    /// orders the interpreter's package first.
    pub fn script_requires(&mut self, on: bool) -> &mut Self {
        self.script_requires = on;
        self
    }

    pub fn dep(&mut self, kind: DepKind, dep: Dep) -> &mut Self {
        self.deps.push((kind, dep));
        self
    }
    pub fn requires(&mut self, dep: Dep) -> &mut Self {
        self.dep(DepKind::Requires, dep)
    }
    pub fn requires_pre(&mut self, dep: Dep) -> &mut Self {
        self.dep(DepKind::RequiresPre, dep)
    }
    pub fn requires_post(&mut self, dep: Dep) -> &mut Self {
        self.dep(DepKind::RequiresPost, dep)
    }
    pub fn provides(&mut self, dep: Dep) -> &mut Self {
        self.dep(DepKind::Provides, dep)
    }
    pub fn conflicts(&mut self, dep: Dep) -> &mut Self {
        self.dep(DepKind::Conflicts, dep)
    }
    pub fn obsoletes(&mut self, dep: Dep) -> &mut Self {
        self.dep(DepKind::Obsoletes, dep)
    }

    /// Sets (replaces) one scriptlet.
    pub fn script(&mut self, kind: ScriptKind, script: Script) -> &mut Self {
        self.scripts.retain(|(k, _)| *k != kind);
        self.scripts.push((kind, script));
        self
    }

    pub fn add(&mut self, file: FileSpec) -> &mut Self {
        self.files.push(file);
        self
    }
    /// Regular file from bytes.
    pub fn file(&mut self, path: &str, bytes: impl Into<Vec<u8>>, mode: u16) -> &mut Self {
        self.add(FileSpec::bytes(path, bytes).mode(mode))
    }
    /// Regular file read from `source` when building.
    pub fn file_from(&mut self, path: &str, source: impl Into<PathBuf>, mode: u16) -> &mut Self {
        self.add(FileSpec::from_disk(path, source).mode(mode))
    }
    pub fn dir(&mut self, path: &str, mode: u16) -> &mut Self {
        self.add(FileSpec::dir(path).mode(mode))
    }
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.add(FileSpec::symlink(path, target))
    }
    pub fn ghost(&mut self, path: &str, mode: u16) -> &mut Self {
        self.add(FileSpec::ghost(path).mode(mode))
    }

    /// The files added so far, in insertion order.
    pub fn files(&self) -> &[FileSpec] {
        &self.files
    }

    /// `NAME-VERSION-RELEASE.ARCH.rpm`, as rpmbuild and createrepo name
    /// packages (the epoch is in the header only).
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }

    fn bad_field(&self, field: &'static str, value: &str, expected: &'static str) -> PackError {
        PackError::BadField {
            package: self.name.clone(),
            field,
            value: value.to_owned(),
            expected,
        }
    }

    /// Checks everything that can be checked without building.
    pub fn validate(&self) -> Result<(), PackError> {
        if let Some(p) = validate::name_problem(&self.name) {
            return Err(self.bad_field("name", &self.name, p));
        }
        if let Some(p) = validate::version_problem(&self.version) {
            return Err(self.bad_field("version", &self.version, p));
        }
        if let Some(p) = validate::version_problem(&self.release) {
            return Err(self.bad_field("release", &self.release, p));
        }
        if let Some(p) = validate::arch_problem(&self.arch) {
            return Err(self.bad_field("arch", &self.arch, p));
        }
        for (field, v) in [
            ("summary", Some(&self.summary)),
            ("license", Some(&self.license)),
            ("build host", Some(&self.build_host)),
            ("url", self.url.as_ref()),
            ("vendor", self.vendor.as_ref()),
            ("vcs", self.vcs.as_ref()),
        ] {
            if let Some(v) = v {
                if v.is_empty() || v.contains(['\n', '\0']) {
                    return Err(self.bad_field(field, v, "expected one non-empty line"));
                }
            }
        }
        for (kind, d) in &self.deps {
            let bad = |reason| PackError::BadDep {
                package: self.name.clone(),
                dep: d.name.clone(),
                reason,
            };
            if let Some(p) = validate::dep_name_problem(&d.name) {
                return Err(bad(p));
            }
            if let Some((_, evr)) = &d.constraint {
                if let Some(p) = validate::evr_problem(evr) {
                    return Err(bad(p));
                }
            }
            if *kind == DepKind::Provides && d.name.starts_with('/') && d.constraint.is_some() {
                return Err(bad("a file provide cannot carry a version"));
            }
        }
        let mut seen = BTreeSet::new();
        for f in &self.files {
            let bad = |reason| PackError::BadPath {
                package: self.name.clone(),
                path: f.path.clone(),
                reason,
            };
            if let Some(p) = validate::path_problem(&f.path) {
                return Err(bad(p));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(PackError::DuplicatePath {
                    package: self.name.clone(),
                    path: f.path.clone(),
                });
            }
            if f.mode > 0o7777 {
                return Err(bad(
                    "mode has bits beyond 07777 (give permission bits only)",
                ));
            }
            if validate::owner_problem(&f.user).is_some()
                || validate::owner_problem(&f.group).is_some()
            {
                return Err(bad(
                    "owner: expected non-empty user and group names without spaces or ':'",
                ));
            }
            match &f.kind {
                FileKind::Symlink { target }
                    if target.is_empty() || target.contains(['\0', '\n']) =>
                {
                    return Err(bad(
                        "symlink target must be non-empty, without NUL or newline",
                    ));
                }
                FileKind::Regular(Content::Path(src)) => {
                    let meta = std::fs::metadata(src).map_err(|source| PackError::Source {
                        package: self.name.clone(),
                        path: f.path.clone(),
                        source_path: src.clone(),
                        source,
                    })?;
                    if !meta.is_file() {
                        return Err(PackError::Source {
                            package: self.name.clone(),
                            path: f.path.clone(),
                            source_path: src.clone(),
                            source: io::Error::new(
                                io::ErrorKind::InvalidInput,
                                "not a regular file",
                            ),
                        });
                    }
                }
                _ => {}
            }
        }
        for (_, s) in &self.scripts {
            let i = s.interpreter();
            if validate::path_problem(i).is_some() {
                return Err(self.bad_field(
                    "scriptlet interpreter",
                    i,
                    "expected an absolute program path such as /bin/sh",
                ));
            }
        }
        Ok(())
    }

    /// Builds the package in memory.
    pub fn build(&self) -> Result<rpm::Package, PackError> {
        self.validate()?;
        let rpm_err = |source| PackError::Rpm {
            package: self.name.clone(),
            source,
        };
        let compression = match (self.compression, self.compression_level) {
            (Compression::Xz, l) => rpm::CompressionWithLevel::Xz(l.unwrap_or(6)),
            (Compression::Gzip, l) => rpm::CompressionWithLevel::Gzip(l.unwrap_or(6)),
            (Compression::Zstd, l) => rpm::CompressionWithLevel::Zstd(l.unwrap_or(19) as i32),
        };
        let config = rpm::BuildConfig::v4()
            .compression(compression)
            .source_date(self.build_time);
        let mut b = PackageBuilder::new(
            &self.name,
            &self.version,
            &self.license,
            &self.arch,
            &self.summary,
        );
        b.using_config(config)
            .release(self.release.clone())
            .build_host(&self.build_host);
        if let Some(e) = self.epoch {
            b.epoch(e);
        }
        b.description(
            self.description
                .clone()
                .unwrap_or_else(|| self.summary.clone()),
        );
        if let Some(v) = &self.url {
            b.url(v.clone());
        }
        if let Some(v) = &self.vendor {
            b.vendor(v.clone());
        }
        if let Some(v) = &self.packager {
            b.packager(v.clone());
        }
        if let Some(v) = &self.group {
            b.group(v.clone());
        }
        if let Some(v) = &self.vcs {
            b.vcs(v.clone());
        }

        let mut deps: Vec<(DepKind, Dep, DependencyFlags)> = self
            .deps
            .iter()
            .map(|(k, d)| (*k, d.clone(), DependencyFlags::ANY))
            .collect();
        if self.script_requires {
            for (kind, s) in &self.scripts {
                deps.push((
                    DepKind::Requires,
                    Dep::any(s.interpreter()),
                    kind.dep_flag(),
                ));
            }
        }
        // Sorted and deduplicated: the header does not depend on call order.
        deps.sort_by(|a, b| (a.0, &a.1, a.2.bits()).cmp(&(b.0, &b.1, b.2.bits())));
        deps.dedup();
        for (kind, d, extra) in deps {
            let mut flags = extra
                | match kind {
                    DepKind::RequiresPre => DependencyFlags::SCRIPT_PRE,
                    DepKind::RequiresPost => DependencyFlags::SCRIPT_POST,
                    _ => DependencyFlags::ANY,
                };
            if d.name.starts_with("rpmlib(") {
                flags |= DependencyFlags::RPMLIB;
            }
            let version = match &d.constraint {
                Some((op, evr)) => {
                    flags |= op.flags();
                    evr.clone()
                }
                None => String::new(),
            };
            let dep = Dependency {
                name: d.name.clone(),
                flags,
                version,
            };
            match kind {
                DepKind::Provides => b.provides(dep),
                DepKind::Requires | DepKind::RequiresPre | DepKind::RequiresPost => b.requires(dep),
                DepKind::Conflicts => b.conflicts(dep),
                DepKind::Obsoletes => b.obsoletes(dep),
            };
        }

        let mtime = Timestamp::from(self.build_time);
        for f in &self.files {
            let mut o = match &f.kind {
                FileKind::Regular(_) => FileOptions::new(&f.path).permissions(f.mode),
                FileKind::Dir => FileOptions::dir(&f.path).permissions(f.mode),
                FileKind::Symlink { target } => FileOptions::symlink(&f.path, target),
                FileKind::Ghost => FileOptions::ghost(&f.path).permissions(f.mode),
                FileKind::GhostDir => FileOptions::ghost_dir(&f.path).permissions(f.mode),
            }
            .user(f.user.clone())
            .group(f.group.clone())
            .modified_at(mtime);
            if f.config {
                o = o.config();
            }
            if f.noreplace {
                o = o.noreplace();
            }
            if f.doc {
                o = o.doc();
            }
            if f.missingok {
                o = o.missingok();
            }
            match &f.kind {
                FileKind::Regular(Content::Bytes(bytes)) => b.with_file_contents(bytes.clone(), o),
                FileKind::Regular(Content::Path(src)) => b.with_file(src, o),
                FileKind::Dir => b.with_dir_entry(o),
                FileKind::Symlink { .. } => b.with_symlink(o),
                FileKind::Ghost | FileKind::GhostDir => b.with_ghost(o),
            }
            .map_err(rpm_err)?;
        }

        let mut program_only = Vec::new();
        for (kind, s) in &self.scripts {
            let sc = match s {
                // rpmbuild records the interpreter even when it is the default.
                Script::Body { interpreter, body } => {
                    Scriptlet::new(body.clone()).prog(vec![interpreter.clone()])
                }
                Script::Program(p) => {
                    program_only.push(kind.body_tag() as u32);
                    Scriptlet::new("").prog(vec![p.clone()])
                }
            };
            match kind {
                ScriptKind::Pre => b.pre_install_script(sc),
                ScriptKind::Post => b.post_install_script(sc),
                ScriptKind::Preun => b.pre_uninstall_script(sc),
                ScriptKind::Postun => b.post_uninstall_script(sc),
                ScriptKind::Pretrans => b.pre_trans_script(sc),
                ScriptKind::Posttrans => b.post_trans_script(sc),
            };
        }

        let pkg = b.build().map_err(rpm_err)?;
        if program_only.is_empty() {
            Ok(pkg)
        } else {
            drop_script_bodies(pkg, &program_only).map_err(rpm_err)
        }
    }

    /// The package file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PackError> {
        let pkg = self.build()?;
        let mut bytes = Vec::with_capacity(64 * 1024);
        pkg.write(&mut bytes).map_err(|source| PackError::Rpm {
            package: self.name.clone(),
            source,
        })?;
        Ok(bytes)
    }

    /// Writes the package into `dir` as [`Package::file_name`] (temporary
    /// file, fsync, rename) and returns its path.
    pub fn build_to_dir(&self, dir: &Path) -> Result<PathBuf, PackError> {
        let bytes = self.to_bytes()?;
        let path = dir.join(self.file_name());
        // Readable by all, as a package copied by hand would be.
        mk_durable::write_atomic_mode(&path, &bytes, 0o644).map_err(|source| PackError::Write {
            package: self.name.clone(),
            path: path.clone(),
            source,
        })?;
        tracing::debug!(package = %self.name, path = %path.display(), bytes = bytes.len(), "wrote package");
        Ok(path)
    }
}

/// The rpm crate always writes a scriptlet's body tag, even when empty; rpm
/// would then run `PROGRAM <empty temp file>`. rpmbuild writes only the
/// program tag for `%post -p PROGRAM`, so rebuild the header without the body
/// tags and re-digest it (the payload is unchanged).
pub fn drop_script_bodies(pkg: rpm::Package, tags: &[u32]) -> Result<rpm::Package, rpm::Error> {
    let immutable = IndexTag::RPMTAG_HEADERIMMUTABLE as u32;
    let entries = pkg
        .metadata
        .header
        .get_all_entries()?
        .into_iter()
        .filter(|(tag, _)| *tag != immutable && !tags.contains(tag))
        .map(|(tag, data)| HeaderEntry::new(tag, data));
    let mut metadata = PackageMetadata {
        lead: pkg.metadata.lead,
        signature: pkg.metadata.signature,
        header: Header::<IndexTag>::from_entries(entries, IndexTag::RPMTAG_HEADERIMMUTABLE),
    };
    let header_bytes = metadata.header_bytes()?;
    metadata.signature = SignatureHeaderBuilder::from_existing(&metadata.signature)?
        .set_content_length(header_bytes.len() as u64 + pkg.payload.len() as u64)
        .calculate_digests(&header_bytes)
        .build()?;
    Ok(rpm::Package {
        metadata,
        payload: pkg.payload,
    })
}
