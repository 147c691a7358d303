//! `image.yaml`: what a kickstart cannot say about an image build, namely
//! where the packages come from, what to write, partition sizes of the
//! image, overlays and container image archives. See docs/image-recipe.md.

use crate::{FsType, Kickstart, KickstartError};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A parsed `image.yaml`. Relative paths are relative to the YAML file
/// once [`ImageRecipe::load`] (or [`ImageRecipe::resolve`]) has run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRecipe {
    /// The kickstart file with the package set and system settings.
    #[serde(deserialize_with = "kickstart_path")]
    pub kickstart: PathBuf,
    /// RPM repositories (createrepo trees or directories of .rpm files),
    /// searched in order; at least one.
    #[serde(deserialize_with = "repo_paths")]
    pub repos: Vec<PathBuf>,
    pub outputs: Outputs,
    /// Directories copied over the image root, in order.
    #[serde(default, deserialize_with = "overlay_paths")]
    pub overlays: Vec<PathBuf>,
    /// OCI/docker image archives (.tar) preloaded for containerd.
    #[serde(default, deserialize_with = "archive_paths")]
    pub image_archives: Vec<PathBuf>,
    /// Overrides the SOURCE_DATE_EPOCH environment variable.
    #[serde(default)]
    pub source_date_epoch: Option<u64>,
    /// The image's version: written into the image (`/usr/lib/mk/image-release`),
    /// set by first boot as the Node label `mk.dev/image-version`, which
    /// mk-rollout waits for. A Kubernetes label value, since it becomes one.
    #[serde(default, deserialize_with = "image_version")]
    pub version: Option<String>,
}

/// What to write. At least one of `raw` and `qcow2`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outputs {
    #[serde(default, deserialize_with = "raw_path")]
    pub raw: Option<PathBuf>,
    #[serde(default, deserialize_with = "qcow2_path")]
    pub qcow2: Option<PathBuf>,
    /// Size of the root partition (`part /`) in the image.
    #[serde(deserialize_with = "root_size")]
    pub root_size: Size,
    /// Size of the state partition (`part /var`) in the image.
    #[serde(deserialize_with = "state_size")]
    pub state_size: Size,
}

/// A partition size, written with a binary unit: `512MiB`, `4GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size {
    mib: u64,
}

impl Size {
    pub fn from_mib(mib: u64) -> Size {
        Size { mib }
    }
    pub fn mib(self) -> u64 {
        self.mib
    }
    pub fn bytes(self) -> u64 {
        self.mib << 20
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mib.is_multiple_of(1024) {
            write!(f, "{}GiB", self.mib / 1024)
        } else {
            write!(f, "{}MiB", self.mib)
        }
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Size, String> {
        let bad =
            || format!("invalid size `{s}`: expected a whole number with MiB or GiB, e.g. 4GiB");
        let t = s.trim();
        let (num, factor) = if let Some(n) = t.strip_suffix("GiB") {
            (n, 1024)
        } else if let Some(n) = t.strip_suffix("MiB") {
            (n, 1)
        } else {
            return Err(bad());
        };
        let n: u64 = num.trim().parse().map_err(|_| bad())?;
        let mib = n
            .checked_mul(factor)
            .filter(|m| *m > 0 && *m < 1 << 30)
            .ok_or_else(bad)?;
        Ok(Size { mib })
    }
}

fn check_local(p: String) -> Result<PathBuf, String> {
    if p.is_empty() {
        return Err("empty path".into());
    }
    if p.contains("://") {
        return Err(format!(
            "`{p}` is a URL; image builds read local files only (copy it into the bundle)"
        ));
    }
    Ok(PathBuf::from(p))
}

fn local_paths(v: Vec<String>) -> Result<Vec<PathBuf>, String> {
    v.into_iter().map(check_local).collect()
}

/// Our own checks name their field (`FIELD: ...`) so that [`locate`] can
/// point at its line.
fn named<T>(field: &str, r: Result<T, String>) -> Result<T, String> {
    r.map_err(|e| format!("{field}: {e}"))
}

/// A deserializer for one field: reads the raw value, checks it, and names
/// the field in the error.
macro_rules! field_deserializer {
    ($fn:ident, $field:literal, $raw:ty => $out:ty, $check:expr) => {
        fn $fn<'de, D: Deserializer<'de>>(d: D) -> Result<$out, D::Error> {
            let raw = <$raw>::deserialize(d)?;
            named($field, $check(raw)).map_err(de::Error::custom)
        }
    };
}

fn opt_local(v: Option<String>) -> Result<Option<PathBuf>, String> {
    v.map(check_local).transpose()
}

fn nonempty_local(v: Vec<String>) -> Result<Vec<PathBuf>, String> {
    if v.is_empty() {
        return Err("expected at least one repository".into());
    }
    local_paths(v)
}

fn size(v: String) -> Result<Size, String> {
    v.parse()
}

fn version(v: Option<String>) -> Result<Option<String>, String> {
    if let Some(v) = &v {
        if v.is_empty() {
            return Err("empty: give a version such as 2026.12.1, or leave `version` out".into());
        }
        // It becomes the Node label mk.dev/image-version.
        mk_roleconfig::names::check_label_value(v)
            .map_err(|e| format!("{e} (it becomes the Node label mk.dev/image-version)"))?;
    }
    Ok(v)
}

field_deserializer!(kickstart_path, "kickstart", String => PathBuf, check_local);
field_deserializer!(raw_path, "raw", Option<String> => Option<PathBuf>, opt_local);
field_deserializer!(qcow2_path, "qcow2", Option<String> => Option<PathBuf>, opt_local);
field_deserializer!(overlay_paths, "overlays", Vec<String> => Vec<PathBuf>, local_paths);
field_deserializer!(archive_paths, "image_archives", Vec<String> => Vec<PathBuf>, local_paths);
field_deserializer!(repo_paths, "repos", Vec<String> => Vec<PathBuf>, nonempty_local);
field_deserializer!(root_size, "root_size", String => Size, size);
field_deserializer!(state_size, "state_size", String => Size, size);
field_deserializer!(image_version, "version", Option<String> => Option<String>, version);

/// serde_norway places errors raised by our checks at the start of the
/// enclosing mapping; point at the line of the field they name instead.
fn locate(text: &str, message: String) -> String {
    const FIELDS: &[&str] = &[
        "kickstart",
        "repos",
        "raw",
        "qcow2",
        "root_size",
        "state_size",
        "overlays",
        "image_archives",
        "version",
    ];
    let body = message
        .rfind(" at line ")
        .map_or(&message[..], |at| &message[..at]);
    let field = FIELDS
        .iter()
        .find(|f| body.starts_with(&format!("{f}: ")) || body.contains(&format!(": {f}: ")));
    match field {
        Some(f) => format!("{body} (line {})", key_line(text, f)),
        None => message,
    }
}

/// The line of the first `key:` (keys are unique in image.yaml).
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(1, |i| i + 1)
}

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("reading {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// serde_norway's message names the field and gives line and column.
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: String,
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Kickstart(#[from] KickstartError),
}

impl ImageRecipe {
    /// Parses `image.yaml` text; paths stay as written.
    pub fn parse(path_for_messages: &str, text: &str) -> Result<ImageRecipe, RecipeError> {
        let recipe: ImageRecipe = serde_norway::from_str(text).map_err(|e| RecipeError::Parse {
            path: path_for_messages.to_string(),
            message: locate(text, e.to_string()),
        })?;
        // Rules across fields, reported with the line of their mapping.
        let o = &recipe.outputs;
        let problem = if o.raw.is_none() && o.qcow2.is_none() {
            Some("name at least one of `raw`, `qcow2` (an output file)")
        } else if o.raw.is_some() && o.raw == o.qcow2 {
            Some("`raw` and `qcow2` name the same file")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(RecipeError::Invalid {
                path: path_for_messages.to_string(),
                field: "outputs",
                message: format!("{problem} (at line {})", key_line(text, "outputs")),
            });
        }
        Ok(recipe)
    }

    /// Reads `image.yaml` and makes its relative paths relative to the
    /// directory it is in.
    pub fn load(path: &Path) -> Result<ImageRecipe, RecipeError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut recipe = ImageRecipe::parse(&path.display().to_string(), &text)?;
        recipe.resolve(path.parent().unwrap_or(Path::new(".")));
        Ok(recipe)
    }

    /// Makes relative paths relative to `base`.
    pub fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.kickstart);
        self.repos.iter_mut().for_each(fix);
        self.overlays.iter_mut().for_each(fix);
        self.image_archives.iter_mut().for_each(fix);
        self.outputs.raw.as_mut().map(fix);
        self.outputs.qcow2.as_mut().map(fix);
    }

    /// Reads the recipe's kickstart and checks that the two agree.
    pub fn load_kickstart(&self, recipe_path: &str) -> Result<Kickstart, RecipeError> {
        let ks = Kickstart::read(&self.kickstart)?;
        self.check_kickstart(recipe_path, &self.kickstart.display().to_string(), &ks)?;
        Ok(ks)
    }

    /// The image layout (DESIGN section 2) needs `part /` and `part /var`
    /// in ext4, and image sizes no smaller than the kickstart's minimums.
    pub fn check_kickstart(
        &self,
        recipe_path: &str,
        ks_path: &str,
        ks: &Kickstart,
    ) -> Result<(), RecipeError> {
        let invalid = |field, message| RecipeError::Invalid {
            path: recipe_path.to_string(),
            field,
            message,
        };
        if let Some(a) = &ks.autopart {
            return Err(invalid(
                "kickstart",
                format!(
                    "{ks_path}:{} uses `autopart`; an image needs `part /` and `part /var` lines",
                    a.line
                ),
            ));
        }
        for (field, mountpoint, size) in [
            ("outputs.root_size", "/", self.outputs.root_size),
            ("outputs.state_size", "/var", self.outputs.state_size),
        ] {
            let Some(part) = ks.parts.iter().find(|p| p.mountpoint == mountpoint) else {
                return Err(invalid(
                    "kickstart",
                    format!("{ks_path} has no `part {mountpoint}` line; the image layout needs it"),
                ));
            };
            if part.fstype != FsType::Ext4 {
                return Err(invalid(
                    "kickstart",
                    format!("{ks_path}:{}: `part {mountpoint}` must be ext4", part.line),
                ));
            }
            if size.mib() < part.size_mib {
                return Err(invalid(
                    field,
                    format!(
                        "{size} is smaller than `part {mountpoint} --size={}` (MiB) at {ks_path}:{}",
                        part.size_mib, part.line
                    ),
                ));
            }
        }
        Ok(())
    }
}
