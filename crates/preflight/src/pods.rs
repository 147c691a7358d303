//! The static pods as the planner renders them, and what first boot
//! writes beside them: the two inputs of every check that come from the
//! plan rather than from the node image.

use std::collections::{BTreeMap, BTreeSet};

use mk_nodeconf::steps::staticpods::MANIFESTS;
use mk_nodeconf::{Action, Plan};
use serde_json::Value;

/// A static pod manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    /// `metadata.name`, or the manifest's file stem when it has none.
    pub name: String,
    /// The node path of the manifest.
    pub source: String,
    pub manifest: Value,
}

/// What the plan creates: files (with their bytes, so that kubeconfigs
/// first boot writes can be read) and directories. Their ancestors count
/// as directories too (first boot creates missing parents).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planned {
    pub files: BTreeMap<String, Vec<u8>>,
    pub dirs: BTreeSet<String>,
}

/// What a node path is (or will be). Symlinks are followed before a
/// path gets one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Directory,
    /// A regular file and its permission bits.
    File {
        mode: u32,
    },
    Socket,
    CharDevice,
    BlockDevice,
    Fifo,
}

impl Kind {
    /// The hostPath `type` this kind satisfies, in kubelet's words.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Directory => "a directory",
            Kind::File { .. } => "a regular file",
            Kind::Socket => "a socket",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Fifo => "a FIFO",
        }
    }
}

impl Planned {
    /// What the plan makes `path`: a file it writes, a directory it
    /// ensures, or the parent of either.
    pub fn kind(&self, path: &str) -> Option<Kind> {
        if self.files.contains_key(path) {
            return Some(Kind::File { mode: 0o644 });
        }
        if self.dirs.contains(path) {
            return Some(Kind::Directory);
        }
        let prefix = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        let below = |k: &String| k.starts_with(&prefix);
        let is_parent = self
            .files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| below(k))
            || self.dirs.range(prefix.clone()..).next().is_some_and(below);
        is_parent.then_some(Kind::Directory)
    }

    /// The bytes the plan writes to `path`.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }
}

/// Why the plan's static pods cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: not a pod manifest: {reason}")]
pub struct ManifestError {
    pub path: String,
    pub reason: String,
}

/// The static pods (`WriteFile` under /etc/kubernetes/manifests) and
/// everything the plan creates.
pub fn from_plan(plan: &Plan) -> Result<(Vec<Pod>, Planned), ManifestError> {
    let mut pods = Vec::new();
    let mut planned = Planned::default();
    let dir = format!("{MANIFESTS}/");
    let mut links = Vec::new();
    for action in plan.steps.iter().flat_map(|s| &s.actions) {
        match action {
            Action::WriteFile { path, contents, .. } => {
                if let Some(file) = path.strip_prefix(&dir) {
                    if !file.contains('/') && (file.ends_with(".yaml") || file.ends_with(".json")) {
                        pods.push(parse_pod(path, contents)?);
                    }
                }
                planned.files.insert(path.clone(), contents.clone());
            }
            Action::EnsureDir { path, .. } => {
                planned.dirs.insert(path.clone());
            }
            // A link to a planned file reads as that file (the kubelet's
            // `*-current.pem`); resolved once every file is known.
            Action::Symlink { path, target } => links.push((path, target)),
            Action::EnsureGroup { .. } | Action::EnsureUser { .. } => {}
        }
    }
    for (path, target) in links {
        if let Some(contents) = planned.files.get(target).cloned() {
            planned.files.insert(path.clone(), contents);
        }
    }
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((pods, planned))
}

/// A manifest as the kubelet reads it (YAML, of which JSON is a subset).
pub fn parse_pod(path: &str, bytes: &[u8]) -> Result<Pod, ManifestError> {
    let err = |reason: String| ManifestError {
        path: path.to_string(),
        reason,
    };
    let manifest: Value = serde_norway::from_slice(bytes).map_err(|e| err(e.to_string()))?;
    if manifest.get("kind").and_then(Value::as_str) != Some("Pod") {
        return Err(err("kind is not Pod".into()));
    }
    let stem = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .trim_end_matches(".yaml")
        .trim_end_matches(".json");
    let name = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(stem)
        .to_string();
    Ok(Pod {
        name,
        source: path.to_string(),
        manifest,
    })
}

/// A volume of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub index: usize,
    pub name: String,
    /// hostPath `path` and `type` ("" when unset).
    pub host_path: Option<(String, String)>,
}

/// A volumeMount of a container, with the volume it mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `spec.containers[0].volumeMounts[1]`.
    pub field: String,
    pub mount_path: String,
    pub read_only: bool,
    pub sub_path: Option<String>,
    pub volume: Option<Volume>,
}

impl Mount {
    /// Where the container's `path` (under this mount) lives on the host,
    /// for hostPath volumes.
    pub fn host_path_of(&self, path: &str) -> Option<String> {
        let (host, _) = self.volume.as_ref()?.host_path.as_ref()?;
        let rest = below(&self.mount_path, path)?;
        let mut out = host.trim_end_matches('/').to_string();
        for part in self.sub_path.iter().map(String::as_str).chain([rest]) {
            if !part.is_empty() {
                out.push('/');
                out.push_str(part.trim_matches('/'));
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        Some(out)
    }
}

/// `path` relative to `dir` when it is `dir` or below it (component-wise).
pub fn below<'a>(dir: &str, path: &'a str) -> Option<&'a str> {
    let dir = dir.trim_end_matches('/');
    let rest = path.strip_prefix(dir)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// A container of the pod.
#[derive(Debug, Clone, Copy)]
pub struct Container<'a> {
    /// `spec.containers[0]`.
    pub field_index: usize,
    pub value: &'a Value,
}

/// One word of a container's command line or of an exec probe's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word<'a> {
    /// `spec.containers[0].command[3]`.
    pub field: String,
    pub text: &'a str,
}

/// A `--name=/absolute/path` word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFlag<'a> {
    pub field: String,
    pub flag: &'a str,
    pub path: &'a str,
}

impl<'a> Container<'a> {
    pub fn field(&self) -> String {
        format!("spec.containers[{}]", self.field_index)
    }

    pub fn name(&self) -> &'a str {
        self.value.get("name").and_then(Value::as_str).unwrap_or("")
    }

    pub fn image(&self) -> Option<&'a str> {
        self.value.get("image").and_then(Value::as_str)
    }

    /// `command` then `args`, as the container runs them.
    pub fn argv(&self) -> Vec<Word<'a>> {
        let mut out = Vec::new();
        for key in ["command", "args"] {
            for (i, w) in strings(self.value.get(key)).into_iter().enumerate() {
                out.push(Word {
                    field: format!("{}.{key}[{i}]", self.field()),
                    text: w,
                });
            }
        }
        out
    }

    /// The exec probes: field of the probe, and its command.
    pub fn exec_probes(&self) -> Vec<(String, Vec<Word<'a>>)> {
        let mut out = Vec::new();
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            let Some(cmd) = self
                .value
                .get(probe)
                .and_then(|p| p.pointer("/exec/command"))
            else {
                continue;
            };
            let field = format!("{}.{probe}.exec.command", self.field());
            let words = strings(Some(cmd))
                .into_iter()
                .enumerate()
                .map(|(i, text)| Word {
                    field: format!("{field}[{i}]"),
                    text,
                })
                .collect();
            out.push((field, words));
        }
        out
    }

    /// `env` entries: name and literal value ("" for `valueFrom`).
    pub fn env(&self) -> Vec<(&'a str, &'a str)> {
        let entries = self.value.get("env").and_then(Value::as_array);
        entries
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let value = e.get("value").and_then(Value::as_str).unwrap_or("");
                Some((e.get("name")?.as_str()?, value))
            })
            .collect()
    }

    pub fn mounts(&self, volumes: &[Volume]) -> Vec<Mount> {
        let mut out = Vec::new();
        for (i, m) in self
            .value
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = m.get("name").and_then(Value::as_str).unwrap_or("");
            out.push(Mount {
                field: format!("{}.volumeMounts[{i}]", self.field()),
                mount_path: m
                    .get("mountPath")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                read_only: m.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
                sub_path: m
                    .get("subPath")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                volume: volumes.iter().find(|v| v.name == name).cloned(),
            });
        }
        out
    }
}

impl Pod {
    pub fn containers(&self) -> Vec<Container<'_>> {
        self.manifest
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(field_index, value)| Container { field_index, value })
            .collect()
    }

    pub fn volumes(&self) -> Vec<Volume> {
        self.manifest
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(index, v)| Volume {
                index,
                name: v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                host_path: v.get("hostPath").map(|h| {
                    let s = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    (s("path"), s("type"))
                }),
            })
            .collect()
    }
}

/// The mount that holds the container path `path`: the deepest
/// `mountPath` it lies under.
pub fn mount_for<'m>(mounts: &'m [Mount], path: &str) -> Option<&'m Mount> {
    mounts
        .iter()
        .filter(|m| !m.mount_path.is_empty() && below(&m.mount_path, path).is_some())
        .max_by_key(|m| m.mount_path.trim_end_matches('/').len())
}

/// Every `--name=/absolute/path` among `words`.
pub fn path_flags<'a>(words: &[Word<'a>]) -> Vec<PathFlag<'a>> {
    words
        .iter()
        .filter_map(|w| {
            let (flag, value) = w.text.strip_prefix("--")?.split_once('=')?;
            value.starts_with('/').then(|| PathFlag {
                field: w.field.clone(),
                flag,
                path: value,
            })
        })
        .collect()
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_parents_count_as_directories() {
        let mut p = Planned::default();
        p.files
            .insert("/etc/kubernetes/pki/etcd/ca.crt".into(), b"x".to_vec());
        p.dirs.insert("/var/lib/etcd".into());
        assert_eq!(
            p.kind("/etc/kubernetes/pki/etcd/ca.crt"),
            Some(Kind::File { mode: 0o644 })
        );
        assert_eq!(p.kind("/etc/kubernetes/pki"), Some(Kind::Directory));
        assert_eq!(p.kind("/var/lib/etcd"), Some(Kind::Directory));
        assert_eq!(p.kind("/var/lib"), Some(Kind::Directory));
        assert_eq!(p.kind("/etc/kubernetes/pk"), None);
        assert_eq!(p.kind("/etc/pki"), None);
    }

    #[test]
    fn planned_links_read_as_their_planned_target() {
        let plan = Plan {
            config_digest: String::new(),
            steps: vec![mk_nodeconf::Step {
                name: "pki".into(),
                input_digest: String::new(),
                actions: vec![
                    Action::Symlink {
                        path: "/k/dangling.pem".into(),
                        target: "/k/nowhere.pem".into(),
                    },
                    Action::WriteFile {
                        path: "/k/client-1.pem".into(),
                        contents: b"C".to_vec(),
                        mode: 0o600,
                        owner: mk_nodeconf::Owner::ROOT,
                    },
                    Action::Symlink {
                        path: "/k/client-current.pem".into(),
                        target: "/k/client-1.pem".into(),
                    },
                ],
            }],
        };
        let (pods, planned) = from_plan(&plan).unwrap();
        assert!(pods.is_empty());
        assert_eq!(planned.file("/k/client-current.pem"), Some(&b"C"[..]));
        assert_eq!(planned.kind("/k/dangling.pem"), None);
    }

    #[test]
    fn mounts_map_container_paths_to_host_paths() {
        let m = Mount {
            field: "f".into(),
            mount_path: "/etc/kubernetes/pki".into(),
            read_only: true,
            sub_path: None,
            volume: Some(Volume {
                index: 0,
                name: "k8s-certs".into(),
                host_path: Some(("/var/lib/mk/pki".into(), "Directory".into())),
            }),
        };
        assert_eq!(
            m.host_path_of("/etc/kubernetes/pki/ca.crt").as_deref(),
            Some("/var/lib/mk/pki/ca.crt")
        );
        assert_eq!(
            m.host_path_of("/etc/kubernetes/pki").as_deref(),
            Some("/var/lib/mk/pki")
        );
        assert_eq!(m.host_path_of("/etc/kubernetes/pkix"), None);
        assert_eq!(below("/", "/etc"), Some("etc"));
    }

    #[test]
    fn path_flags_are_absolute_values() {
        let words: Vec<Word> = [
            "etcd",
            "--data-dir=/var/lib/etcd",
            "--name=cp1",
            "--x=rel/p",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| Word {
            field: format!("c[{i}]"),
            text: t,
        })
        .collect();
        let f = path_flags(&words);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].flag, f[0].path), ("data-dir", "/var/lib/etcd"));
        assert_eq!(f[0].field, "c[1]");
    }
}
