//! Builds small but real RPM files for tests, benchmarks and the example
//! repository: several versions and epochs, file requires, scriptlets,
//! obsoletes and conflicts.
//!
//! Output is reproducible: the build time (which the rpm crate also uses for
//! file mtimes) is fixed unless set, and nothing else depends on the clock.

mod chain;
pub mod example;

pub use chain::{chain_plan, generate_chain_repo};

use rpm::{Dependency, DependencyFlags, FileOptions, IndexTag, PackageBuilder, Scriptlet};
use std::io;
use std::path::{Path, PathBuf};

/// Build time used when none is set: 2020-09-13, so that packages are
/// bit-identical run to run.
pub const DEFAULT_BUILD_TIME: u64 = 1_600_000_000;

/// Payload compression of a synthetic package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Xz,
    /// Needs rpm ≥ 4.14 to install (not CentOS 7's rpm 4.11).
    Zstd,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("package {package}: dependency {dep:?}: unknown comparison {op:?} (expected <, <=, =, >=, >)")]
    BadOperator {
        package: String,
        dep: String,
        op: String,
    },
    #[error("package {package}")]
    Rpm {
        package: String,
        #[source]
        source: rpm::Error,
    },
}

impl From<SynthError> for io::Error {
    fn from(e: SynthError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepKind {
    Provides,
    Requires,
    RequiresPre,
    Conflicts,
    Obsoletes,
}

#[derive(Debug, Clone)]
struct DepSpec {
    kind: DepKind,
    name: String,
    version: Option<(String, String)>,
}

#[derive(Debug, Clone)]
enum Entry {
    File {
        path: String,
        contents: Vec<u8>,
        mode: u16,
    },
    Dir(String),
    Symlink {
        path: String,
        target: String,
    },
    Ghost(String),
}

#[derive(Debug, Clone)]
enum Script {
    /// A body run by /bin/sh.
    Body(String),
    /// Interpreter only, no body (`%post -p /sbin/ldconfig`).
    Program(String),
}

#[derive(Debug, Clone)]
struct ChangelogSpec {
    author: String,
    time: u64,
    text: String,
}

/// A synthetic package: set what the test needs, the rest has defaults.
#[derive(Debug, Clone)]
pub struct SynthPackage {
    name: String,
    version: String,
    release: String,
    epoch: Option<u32>,
    arch: String,
    summary: Option<String>,
    description: Option<String>,
    license: String,
    url: Option<String>,
    vendor: Option<String>,
    packager: Option<String>,
    group: Option<String>,
    build_host: String,
    build_time: u64,
    deps: Vec<DepSpec>,
    entries: Vec<Entry>,
    owner: Option<(String, String)>,
    pre: Option<Script>,
    post: Option<Script>,
    compression: Compression,
    changelogs: Vec<ChangelogSpec>,
}

impl SynthPackage {
    pub fn new(name: &str, version: &str, release: &str) -> SynthPackage {
        SynthPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            release: release.to_owned(),
            epoch: None,
            arch: "noarch".to_owned(),
            summary: None,
            description: None,
            license: "MIT".to_owned(),
            url: None,
            vendor: None,
            packager: None,
            group: None,
            build_host: "synthrpm.invalid".to_owned(),
            build_time: DEFAULT_BUILD_TIME,
            deps: Vec::new(),
            entries: Vec::new(),
            owner: None,
            pre: None,
            post: None,
            compression: Compression::Gzip,
            changelogs: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn epoch(mut self, epoch: u32) -> Self {
        self.epoch = Some(epoch);
        self
    }

    /// Default `noarch`.
    pub fn arch(mut self, arch: &str) -> Self {
        self.arch = arch.to_owned();
        self
    }

    fn dep(mut self, kind: DepKind, name: &str, version: Option<(&str, &str)>) -> Self {
        self.deps.push(DepSpec {
            kind,
            name: name.to_owned(),
            version: version.map(|(op, evr)| (op.to_owned(), evr.to_owned())),
        });
        self
    }

    /// `version` is `(op, evr)` with op one of `<`, `<=`, `=`, `>=`, `>`
    /// (or `LT`, `LE`, `EQ`, `GE`, `GT`) and evr `[epoch:]version[-release]`.
    /// The package always provides its own name = EVR as well.
    pub fn provides(self, name: &str, version: Option<(&str, &str)>) -> Self {
        self.dep(DepKind::Provides, name, version)
    }

    /// Also file paths (`/bin/sh`) and `rpmlib(...)` capabilities.
    pub fn requires(self, name: &str, version: Option<(&str, &str)>) -> Self {
        self.dep(DepKind::Requires, name, version)
    }

    /// `Requires(pre):`.
    pub fn requires_pre(self, name: &str, version: Option<(&str, &str)>) -> Self {
        self.dep(DepKind::RequiresPre, name, version)
    }

    pub fn conflicts(self, name: &str, version: Option<(&str, &str)>) -> Self {
        self.dep(DepKind::Conflicts, name, version)
    }

    pub fn obsoletes(self, name: &str, version: Option<(&str, &str)>) -> Self {
        self.dep(DepKind::Obsoletes, name, version)
    }

    /// A regular file; `mode` holds the permission bits (`0o755`).
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>, mode: u16) -> Self {
        self.entries.push(Entry::File {
            path: path.to_owned(),
            contents: contents.into(),
            mode,
        });
        self
    }

    /// A directory owned by the package (mode 0755).
    pub fn dir(mut self, path: &str) -> Self {
        self.entries.push(Entry::Dir(path.to_owned()));
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Symlink {
            path: path.to_owned(),
            target: target.to_owned(),
        });
        self
    }

    /// A `%ghost` file: owned, but not in the payload.
    pub fn ghost(mut self, path: &str) -> Self {
        self.entries.push(Entry::Ghost(path.to_owned()));
        self
    }

    /// Owner of every file, directory and link of the package (default root).
    pub fn owner(mut self, user: &str, group: &str) -> Self {
        self.owner = Some((user.to_owned(), group.to_owned()));
        self
    }

    /// `%pre` with a shell body.
    pub fn pre_script(mut self, body: &str) -> Self {
        self.pre = Some(Script::Body(body.to_owned()));
        self
    }

    /// `%post` with a shell body.
    pub fn post_script(mut self, body: &str) -> Self {
        self.post = Some(Script::Body(body.to_owned()));
        self
    }

    /// `%pre -p PROGRAM` with no body.
    pub fn pre_program(mut self, program: &str) -> Self {
        self.pre = Some(Script::Program(program.to_owned()));
        self
    }

    /// `%post -p PROGRAM` with no body (`%post -p /sbin/ldconfig`).
    pub fn post_program(mut self, program: &str) -> Self {
        self.post = Some(Script::Program(program.to_owned()));
        self
    }

    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    pub fn summary(mut self, summary: &str) -> Self {
        self.summary = Some(summary.to_owned());
        self
    }

    pub fn description(mut self, description: &str) -> Self {
        self.description = Some(description.to_owned());
        self
    }

    /// Default `MIT`.
    pub fn license(mut self, license: &str) -> Self {
        self.license = license.to_owned();
        self
    }

    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(url.to_owned());
        self
    }

    pub fn vendor(mut self, vendor: &str) -> Self {
        self.vendor = Some(vendor.to_owned());
        self
    }

    pub fn packager(mut self, packager: &str) -> Self {
        self.packager = Some(packager.to_owned());
        self
    }

    pub fn group(mut self, group: &str) -> Self {
        self.group = Some(group.to_owned());
        self
    }

    /// Default `synthrpm.invalid`.
    pub fn build_host(mut self, host: &str) -> Self {
        self.build_host = host.to_owned();
        self
    }

    /// Seconds since the epoch; also every file's mtime. Must lie in the
    /// past (the rpm crate uses the current time otherwise). Default
    /// [`DEFAULT_BUILD_TIME`].
    pub fn build_time(mut self, time: u64) -> Self {
        self.build_time = time;
        self
    }

    pub fn changelog(mut self, author: &str, time: u64, text: &str) -> Self {
        self.changelogs.push(ChangelogSpec {
            author: author.to_owned(),
            time,
            text: text.to_owned(),
        });
        self
    }

    /// Builds the package.
    ///
    /// # Panics
    /// On invalid input (a bad comparison operator, a relative path, a
    /// duplicate path): this builder makes test fixtures, where such input is
    /// a bug in the test. Use [`SynthPackage::try_build`] to get the error.
    pub fn build(&self) -> rpm::Package {
        match self.try_build() {
            Ok(p) => p,
            Err(e) => panic!("mk-synthrpm: {e}"),
        }
    }

    pub fn try_build(&self) -> Result<rpm::Package, SynthError> {
        let rpm_err = |source| SynthError::Rpm {
            package: self.name.clone(),
            source,
        };
        let summary = self
            .summary
            .clone()
            .unwrap_or_else(|| format!("Synthetic package {}", self.name));
        let compression = match self.compression {
            // Fast levels: these packages are tiny, and benches build thousands.
            Compression::Gzip => rpm::CompressionWithLevel::Gzip(6),
            Compression::Xz => rpm::CompressionWithLevel::Xz(6),
            Compression::Zstd => rpm::CompressionWithLevel::Zstd(3),
        };
        let config = rpm::BuildConfig::v4()
            .compression(compression)
            .source_date(self.build_time as u32);
        let mut b = PackageBuilder::new(
            &self.name,
            &self.version,
            &self.license,
            &self.arch,
            &summary,
        );
        b.using_config(config)
            .release(self.release.clone())
            .build_host(&self.build_host);
        if let Some(e) = self.epoch {
            b.epoch(e);
        }
        let description = self.description.clone().unwrap_or_else(|| {
            format!(
                "{} {}-{}, made by mk-synthrpm for tests.",
                self.name, self.version, self.release
            )
        });
        b.description(description);
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
        for c in &self.changelogs {
            b.add_changelog_entry(&c.author, &c.text, c.time as u32);
        }

        for d in &self.deps {
            let dep = self.to_dependency(d)?;
            match d.kind {
                DepKind::Provides => b.provides(dep),
                DepKind::Requires | DepKind::RequiresPre => b.requires(dep),
                DepKind::Conflicts => b.conflicts(dep),
                DepKind::Obsoletes => b.obsoletes(dep),
            };
        }

        let own = |o: rpm::FileOptionsBuilder| match &self.owner {
            Some((u, g)) => o.user(u.clone()).group(g.clone()),
            None => o,
        };
        for e in &self.entries {
            match e {
                Entry::File {
                    path,
                    contents,
                    mode,
                } => b
                    .with_file_contents(
                        contents.clone(),
                        own(FileOptions::new(path).permissions(*mode)),
                    )
                    .map_err(rpm_err)?,
                Entry::Dir(path) => b
                    .with_dir_entry(own(FileOptions::dir(path)))
                    .map_err(rpm_err)?,
                Entry::Symlink { path, target } => b
                    .with_symlink(own(FileOptions::symlink(path, target)))
                    .map_err(rpm_err)?,
                Entry::Ghost(path) => b
                    .with_ghost(own(FileOptions::ghost(path).permissions(0o644)))
                    .map_err(rpm_err)?,
            };
        }

        let mut program_only = Vec::new();
        if let Some(s) = &self.pre {
            b.pre_install_script(scriptlet(s));
            if matches!(s, Script::Program(_)) {
                program_only.push(IndexTag::RPMTAG_PREIN as u32);
            }
        }
        if let Some(s) = &self.post {
            b.post_install_script(scriptlet(s));
            if matches!(s, Script::Program(_)) {
                program_only.push(IndexTag::RPMTAG_POSTIN as u32);
            }
        }

        let pkg = b.build().map_err(rpm_err)?;
        if program_only.is_empty() {
            Ok(pkg)
        } else {
            mk_rpmpack::drop_script_bodies(pkg, &program_only).map_err(rpm_err)
        }
    }

    fn to_dependency(&self, d: &DepSpec) -> Result<Dependency, SynthError> {
        let mut flags = match d.kind {
            DepKind::RequiresPre => DependencyFlags::SCRIPT_PRE,
            _ => DependencyFlags::ANY,
        };
        if d.name.starts_with("rpmlib(") {
            flags |= DependencyFlags::RPMLIB;
        }
        let version = match &d.version {
            None => String::new(),
            Some((op, evr)) => {
                flags |= match op.as_str() {
                    "<" | "LT" => DependencyFlags::LESS,
                    "<=" | "LE" => DependencyFlags::LE,
                    "=" | "==" | "EQ" => DependencyFlags::EQUAL,
                    ">=" | "GE" => DependencyFlags::GE,
                    ">" | "GT" => DependencyFlags::GREATER,
                    _ => {
                        return Err(SynthError::BadOperator {
                            package: self.name.clone(),
                            dep: d.name.clone(),
                            op: op.clone(),
                        })
                    }
                };
                evr.clone()
            }
        };
        Ok(Dependency {
            name: d.name.clone(),
            flags,
            version,
        })
    }

    /// The file name rpm tools give this package: `name-version-release.arch.rpm`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }

    /// Writes the package into `dir` under its canonical file name
    /// (atomically: temporary file, fsync, rename) and returns the path.
    pub fn write_to_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        let pkg = self.try_build()?;
        let mut bytes = Vec::with_capacity(8192);
        pkg.write(&mut bytes)
            .map_err(|e| io::Error::other(format!("package {}: {e}", self.name)))?;
        let path = dir.join(self.file_name());
        // Readable by all, as a package file copied by hand would be.
        mk_durable::write_atomic_mode(&path, &bytes, 0o644)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}

fn scriptlet(s: &Script) -> Scriptlet {
    match s {
        // rpmbuild records the interpreter even when it is the default.
        Script::Body(body) => Scriptlet::new(body.clone()).prog(vec!["/bin/sh"]),
        Script::Program(p) => Scriptlet::new("").prog(vec![p.clone()]),
    }
}
