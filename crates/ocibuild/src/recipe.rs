//! `images/<name>/image.yaml`: what a container image is made of. Parsing
//! and checking are pure ([`Recipe::parse`]); [`Recipe::read`] adds the
//! file. See docs/container-images.md for the reference.
//!
//! Images only ever add RPMs (R18, R20): keys that would fetch or copy any
//! other file (`files:`, `download:`, `url:` ...) are refused with a
//! message saying so, not merely as unknown fields.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::reference::check_tag;

/// Keys that would bring a non-RPM file into an image: refused anywhere in
/// the recipe with an explicit message.
pub const NON_RPM_KEYS: &[&str] = &[
    "files",
    "file",
    "download",
    "downloads",
    "url",
    "urls",
    "copy",
    "add",
    "fetch",
    "sources",
    "source_url",
    "run",
    "script",
    "scripts",
];

/// Labels the builder always sets; a recipe may not set them itself.
pub const BUILDER_LABELS: &[&str] = &[
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.source",
    "org.opencontainers.image.created",
    "org.opencontainers.image.base.digest",
    "org.opencontainers.image.base.name",
];

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `field` is a dotted path (`base.digest`, `ports[1]`), or empty for
    /// the document itself.
    #[error("{}: {}{message}", file.display(), if field.is_empty() { String::new() } else { format!("{field}: ") })]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
}

/// Where the base image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// No base: the image is built from RPMs alone (mk-install's bootstrap
    /// install into an empty root). Its rpm must be in the package set.
    Scratch,
    Image(BaseImage),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub source: BaseSource,
    /// Selects the manifest by its `org.opencontainers.image.ref.name`
    /// when the index holds several.
    pub reference: Option<String>,
    /// The pinned manifest digest (`sha256:<64 hex>`); `--base-digest`
    /// overrides it, and one of the two must exist.
    pub digest: Option<String>,
}

/// A base image on local disk. Relative paths are relative to the recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    /// An OCI archive: a tar of an OCI image layout.
    Archive(PathBuf),
    /// An OCI image layout directory.
    Layout(PathBuf),
}

impl BaseSource {
    pub fn path(&self) -> &Path {
        match self {
            BaseSource::Archive(p) | BaseSource::Layout(p) => p,
        }
    }
    /// Guesses the kind from the file system: a directory is a layout,
    /// anything else an archive (used for `--base PATH`).
    pub fn from_path(path: &Path) -> BaseSource {
        if path.is_dir() {
            BaseSource::Layout(path.to_path_buf())
        } else {
            BaseSource::Archive(path.to_path_buf())
        }
    }
}

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }
}

/// A numeric, non-root user and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// An exposed port: number and protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Port {
    pub number: u16,
    pub protocol: String,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.number, self.protocol)
    }
}

/// A checked recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// Image name, `[HOST[:PORT]/]PATH` (`registry.k8s.io/etcd`): what
    /// `ctr images import` and the kubelet call the image, without the tag
    /// ([`crate::reference::check_name`]).
    pub name: String,
    /// Tag and `org.opencontainers.image.version` (`3.5.12-0`).
    pub version: String,
    pub base: Base,
    /// RPM names or capabilities, resolved with mk-depsolve.
    pub packages: Vec<String>,
    pub user: User,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// Sorted, without duplicates.
    pub ports: Vec<Port>,
    /// Environment, sorted by name (deterministic config).
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    /// Extra labels (never one of [`BUILDER_LABELS`]).
    pub labels: BTreeMap<String, String>,
    /// `org.opencontainers.image.revision` unless `--revision` is given.
    pub revision: Option<String>,
    /// `org.opencontainers.image.source`; default `images/<last path
    /// component of the name>`.
    pub source: Option<String>,
    pub compression: Compression,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    name: String,
    version: String,
    base: RawBase,
    #[serde(default)]
    packages: Vec<String>,
    user: String,
    #[serde(default)]
    entrypoint: Vec<String>,
    #[serde(default)]
    cmd: Vec<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    compression: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawBase {
    Word(String),
    Image(RawBaseImage),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseImage {
    #[serde(default)]
    archive: Option<String>,
    #[serde(default)]
    layout: Option<String>,
    #[serde(default, rename = "ref")]
    reference: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

/// `sha256:` and 64 lower-case hex digits. Pure.
pub fn check_digest(d: &str) -> Result<(), String> {
    let ok = d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{d}` is not a manifest digest: expected sha256: and 64 lower-case hex digits"
        ))
    }
}

/// Parses `UID:GID` (numbers, neither 0). Pure.
pub fn parse_user(s: &str) -> Result<User, String> {
    let bad = || format!("`{s}` is not UID:GID with numeric IDs, e.g. 401:401");
    let (u, g) = s.split_once(':').ok_or_else(bad)?;
    let num = |t: &str| -> Result<u32, String> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let (uid, gid) = (num(u)?, num(g)?);
    if uid == 0 || gid == 0 {
        return Err(format!(
            "`{s}`: images run as a non-root user and group (R12, R20); 0 is root"
        ));
    }
    Ok(User { uid, gid })
}

/// Parses `2379/tcp` (a bare number means tcp, as in OCI). Pure.
pub fn parse_port(s: &str) -> Result<Port, String> {
    let (n, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let number: u16 =
        n.parse().ok().filter(|&p| p > 0).ok_or_else(|| {
            format!("`{s}`: expected PORT/PROTOCOL with PORT 1-65535, e.g. 2379/tcp")
        })?;
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(format!("`{s}`: protocol must be tcp, udp or sctp"));
    }
    Ok(Port {
        number,
        protocol: proto.to_string(),
    })
}

fn check_local(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("empty path".into());
    }
    if s.contains("://") {
        return Err(format!(
            "`{s}` is a URL: the base image must be a local OCI archive or layout (nothing is downloaded, R2)"
        ));
    }
    Ok(PathBuf::from(s))
}

/// Finds a key of [`NON_RPM_KEYS`] anywhere in the document; returns its
/// dotted path.
fn find_non_rpm_key(v: &serde_norway::Value, at: &str) -> Option<String> {
    let serde_norway::Value::Mapping(m) = v else {
        return None;
    };
    for (k, val) in m {
        let Some(k) = k.as_str() else { continue };
        let path = if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        };
        // `labels` and `env` hold free-form names, not recipe keys.
        if at.is_empty() && matches!(k, "labels" | "env") {
            continue;
        }
        if NON_RPM_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
            return Some(path);
        }
        if let Some(p) = find_non_rpm_key(val, &path) {
            return Some(p);
        }
    }
    None
}

impl Recipe {
    /// Reads and checks `path` (an image.yaml, or a directory holding
    /// one). Relative base paths become relative to the file's directory.
    pub fn read(path: &Path) -> Result<(Recipe, PathBuf), RecipeError> {
        let file = if path.is_dir() {
            path.join("image.yaml")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| RecipeError::Io {
            path: file.clone(),
            source,
        })?;
        let mut r = Recipe::parse(&file, &text)?;
        let dir = file.parent().unwrap_or(Path::new("."));
        if let Base::Image(b) = &mut r.base {
            let p = match &mut b.source {
                BaseSource::Archive(p) | BaseSource::Layout(p) => p,
            };
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        Ok((r, file))
    }

    /// Parses and checks recipe text; `file` names it in errors. Pure.
    pub fn parse(file: &Path, text: &str) -> Result<Recipe, RecipeError> {
        let err = |field: &str, message: String| RecipeError::Invalid {
            file: file.to_path_buf(),
            field: field.to_string(),
            message,
        };
        let value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| err("", e.to_string()))?;
        if !matches!(value, serde_norway::Value::Mapping(_)) {
            return Err(err("", "expected a mapping of recipe fields".into()));
        }
        if let Some(key) = find_non_rpm_key(&value, "") {
            return Err(err(
                &key,
                "images only add RPMs (R18, R20): a recipe cannot download or copy other files; package them as an RPM (mk-compose package) and list it under `packages`".into(),
            ));
        }
        let raw: RawRecipe = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            err(&field, e.into_inner().to_string())
        })?;

        crate::reference::check_name(&raw.name).map_err(|m| err("name", m))?;
        check_tag(&raw.version).map_err(|m| err("version", m))?;
        let base = match raw.base {
            RawBase::Word(w) if w == "scratch" => Base::Scratch,
            RawBase::Word(w) => {
                return Err(err(
                    "base",
                    format!("`{w}`: expected `scratch` or a mapping with `archive:` or `layout:` (and `digest:`)"),
                ))
            }
            RawBase::Image(b) => {
                let source = match (b.archive, b.layout) {
                    (Some(a), None) => {
                        BaseSource::Archive(check_local(&a).map_err(|m| err("base.archive", m))?)
                    }
                    (None, Some(l)) => {
                        BaseSource::Layout(check_local(&l).map_err(|m| err("base.layout", m))?)
                    }
                    _ => {
                        return Err(err(
                            "base",
                            "give exactly one of `archive:` (an OCI archive) and `layout:` (an OCI layout directory)".into(),
                        ))
                    }
                };
                if let Some(d) = &b.digest {
                    check_digest(d).map_err(|m| err("base.digest", m))?;
                }
                if let Some(r) = &b.reference {
                    check_tag(r).map_err(|m| err("base.ref", m))?;
                }
                Base::Image(BaseImage {
                    source,
                    reference: b.reference,
                    digest: b.digest,
                })
            }
        };
        if raw.packages.is_empty() {
            return Err(err(
                "packages",
                "expected at least one RPM name or capability".into(),
            ));
        }
        for (i, p) in raw.packages.iter().enumerate() {
            let t = p.trim();
            if t.is_empty()
                || t.starts_with('@')
                || t.starts_with('-')
                || t.contains(char::is_whitespace)
            {
                return Err(err(
                    &format!("packages[{i}]"),
                    format!("`{p}`: expected one RPM name or capability (no groups, exclusions or spaces)"),
                ));
            }
            if t.contains("://") || t.ends_with(".rpm") {
                return Err(err(
                    &format!("packages[{i}]"),
                    format!(
                        "`{p}`: name a package of the repositories (--repo), not a file or URL"
                    ),
                ));
            }
        }
        let user = parse_user(&raw.user).map_err(|m| err("user", m))?;
        if raw.entrypoint.is_empty() && raw.cmd.is_empty() {
            return Err(err(
                "entrypoint",
                "expected an entrypoint (or a cmd): the program the container runs".into(),
            ));
        }
        // The program is the entrypoint's first word, or the cmd's when
        // there is no entrypoint (with one, cmd holds its arguments).
        let (field, program) = if raw.entrypoint.is_empty() {
            ("cmd", raw.cmd.first())
        } else {
            ("entrypoint", raw.entrypoint.first())
        };
        if let Some(first) = program.filter(|p| !p.starts_with('/')) {
            return Err(err(
                field,
                format!("`{first}`: the program must be an absolute path in the image"),
            ));
        }
        let mut ports = Vec::new();
        for (i, p) in raw.ports.iter().enumerate() {
            ports.push(parse_port(p).map_err(|m| err(&format!("ports[{i}]"), m))?);
        }
        ports.sort();
        ports.dedup();
        for k in raw.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(err(
                    &format!("env.{k}"),
                    "variable names are non-empty and contain no `=`".into(),
                ));
            }
        }
        if let Some(w) = &raw.workdir {
            if !w.starts_with('/') {
                return Err(err("workdir", format!("`{w}`: expected an absolute path")));
            }
        }
        for k in raw.labels.keys() {
            if BUILDER_LABELS.contains(&k.as_str()) {
                return Err(err(
                    &format!("labels.{k}"),
                    "set by the builder (from name, version, revision, source, SOURCE_DATE_EPOCH and the base)".into(),
                ));
            }
            if k.is_empty() {
                return Err(err("labels", "empty label name".into()));
            }
        }
        let compression = match raw.compression.as_deref() {
            None | Some("gzip") => Compression::Gzip,
            Some("zstd") => Compression::Zstd,
            Some("none") => Compression::None,
            Some(o) => {
                return Err(err(
                    "compression",
                    format!("`{o}`: expected gzip, zstd or none"),
                ))
            }
        };
        if let Some(r) = &raw.revision {
            if r.trim().is_empty() {
                return Err(err("revision", "empty".into()));
            }
        }
        Ok(Recipe {
            name: raw.name,
            version: raw.version,
            base,
            packages: raw.packages.iter().map(|p| p.trim().to_string()).collect(),
            user,
            entrypoint: raw.entrypoint,
            cmd: raw.cmd,
            ports,
            env: raw.env,
            workdir: raw.workdir,
            labels: raw.labels,
            revision: raw.revision,
            source: raw.source,
            compression,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETCD: &str = "name: etcd\nversion: 3.4.23-0\nbase:\n  archive: base.tar\n  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\npackages: [etcd-server]\nuser: \"401:401\"\nentrypoint: [/usr/bin/etcd]\nports: [2380/tcp, 2379/tcp]\nenv:\n  ETCD_DATA_DIR: /var/lib/etcd\nlabels:\n  io.mk.role: control-plane\n";

    fn parse(text: &str) -> Result<Recipe, String> {
        Recipe::parse(Path::new("images/x/image.yaml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_recipe_parses() {
        let r = parse(ETCD).unwrap();
        assert_eq!(r.name, "etcd");
        assert_eq!(r.user, User { uid: 401, gid: 401 });
        assert_eq!(
            r.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["2379/tcp", "2380/tcp"]
        );
        assert_eq!(r.compression, Compression::Gzip);
        let Base::Image(b) = &r.base else { panic!() };
        assert_eq!(b.source, BaseSource::Archive("base.tar".into()));
        assert!(b.digest.is_some());
    }

    #[test]
    fn full_names_with_a_registry_host_are_names() {
        for name in [
            "registry.k8s.io/kube-apiserver",
            "registry.k8s.io/coredns/coredns",
            "localhost:5000/etcd",
            "etcd",
        ] {
            let r = parse(&ETCD.replace("name: etcd", &format!("name: {name}")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r.name, name);
        }
    }

    #[test]
    fn with_an_entrypoint_cmd_holds_its_arguments() {
        let r = parse(&ETCD.replace(
            "entrypoint: [/usr/bin/etcd]",
            "entrypoint: [/usr/bin/sleep]\ncmd: [infinity]",
        ))
        .unwrap();
        assert_eq!(
            (r.entrypoint.as_slice(), r.cmd.as_slice()),
            (
                &["/usr/bin/sleep".to_string()][..],
                &["infinity".to_string()][..]
            )
        );
    }

    #[test]
    fn scratch_base() {
        let t = ETCD.replace(
            "base:\n  archive: base.tar\n  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
            "base: scratch\n",
        );
        assert_eq!(parse(&t).unwrap().base, Base::Scratch);
    }

    #[test]
    fn non_rpm_files_are_refused_explicitly() {
        for extra in [
            "files:\n  - /etc/foo\n",
            "download: http://example.com/etcd.tgz\n",
            "url: https://x/\n",
        ] {
            let e = parse(&format!("{ETCD}{extra}")).unwrap_err();
            assert!(e.starts_with("images/x/image.yaml: "), "{e}");
            assert!(e.contains("images only add RPMs"), "{e}");
        }
        let e = parse(&ETCD.replace(
            "  archive: base.tar\n",
            "  archive: base.tar\n  url: http://x\n",
        ))
        .unwrap_err();
        assert!(e.contains("base.url: images only add RPMs"), "{e}");
        let e =
            parse(&ETCD.replace("archive: base.tar", "archive: https://x/base.tar")).unwrap_err();
        assert!(
            e.contains("base.archive: `https://x/base.tar` is a URL"),
            "{e}"
        );
        let e = parse(&ETCD.replace("[etcd-server]", "[http://x/etcd.rpm]")).unwrap_err();
        assert!(e.contains("packages[0]"), "{e}");
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                ETCD.replace("\"401:401\"", "\"0:0\""),
                "user: `0:0`: images run as a non-root",
            ),
            (ETCD.replace("\"401:401\"", "\"401:0\""), "user: "),
            (
                ETCD.replace("\"401:401\"", "etcd"),
                "user: `etcd` is not UID:GID",
            ),
            (ETCD.replace("2380/tcp", "2380/xyz"), "ports[0]: `2380/xyz`"),
            (ETCD.replace("2380/tcp", "70000/tcp"), "ports[0]: "),
            (ETCD.replace("sha256:0123", "sha256:X123"), "base.digest: "),
            (ETCD.replace("name: etcd", "name: Etcd"), "name: `Etcd`"),
            (
                ETCD.replace("name: etcd", "name: registry.k8s.io/etcd:3.5"),
                "name: `registry.k8s.io/etcd:3.5`: path component `etcd:3.5`: a name carries no tag",
            ),
            (
                ETCD.replace("name: etcd", "name: \"registry.k8s.io:x/etcd\""),
                "name: `registry.k8s.io:x/etcd`: registry host `registry.k8s.io:x`: port `x`",
            ),
            (
                ETCD.replace("version: 3.4.23-0", "version: 3.4/23"),
                "version: ",
            ),
            (
                ETCD.replace("io.mk.role", "org.opencontainers.image.title"),
                "labels.org.opencontainers.image.title: set by the builder",
            ),
            (format!("{ETCD}colour: blue\n"), "unknown field `colour`"),
            (format!("{ETCD}compression: lz4\n"), "compression: `lz4`"),
            (
                ETCD.replace("[/usr/bin/etcd]", "[etcd]"),
                "entrypoint: `etcd`",
            ),
            (
                ETCD.replace("entrypoint: [/usr/bin/etcd]", "cmd: [etcd]"),
                "cmd: `etcd`",
            ),
            (
                ETCD.replace("  archive: base.tar\n", "  archive: a\n  layout: b\n"),
                "base: give exactly one",
            ),
            (
                ETCD.replace("[etcd-server]", "[]"),
                "packages: expected at least one",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.starts_with("images/x/image.yaml: "), "{e}");
            assert!(e.contains(want), "want {want:?} in {e}");
        }
    }

    #[test]
    fn relative_base_paths_follow_the_recipe() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("image.yaml"), ETCD).unwrap();
        let (r, file) = Recipe::read(dir.path()).unwrap();
        assert_eq!(file, dir.path().join("image.yaml"));
        let Base::Image(b) = r.base else { panic!() };
        assert_eq!(b.source.path(), dir.path().join("base.tar"));
        let e = Recipe::read(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
    }
}
