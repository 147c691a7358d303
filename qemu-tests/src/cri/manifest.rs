//! The part of a static pod manifest (a YAML `v1/Pod`, as first boot
//! writes them: crates/nodeconf/src/steps/staticpods.rs) that decides what
//! a kubelet asks of the runtime: host network, security contexts, volumes
//! and mounts, command, resources, exec probes. Unknown fields are ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Pod {
    pub metadata: Metadata,
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    #[serde(default)]
    pub host_network: bool,
    #[serde(default)]
    pub security_context: Option<PodSecurityContext>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub fs_group: Option<i64>,
    #[serde(default)]
    pub supplemental_groups: Vec<i64>,
    pub seccomp_profile: Option<SeccompProfile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompProfile {
    /// RuntimeDefault, Unconfined or Localhost.
    #[serde(rename = "type")]
    pub kind: String,
    pub localhost_profile: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default)]
    pub security_context: Option<ContainerSecurityContext>,
    #[serde(default)]
    pub resources: Option<Resources>,
    #[serde(default)]
    pub liveness_probe: Option<Probe>,
    #[serde(default)]
    pub readiness_probe: Option<Probe>,
    #[serde(default)]
    pub startup_probe: Option<Probe>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvVar {
    pub name: String,
    /// `valueFrom` (downward API, secrets) is not for static pods' runtime
    /// checks: such variables are passed empty.
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSecurityContext {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub read_only_root_filesystem: Option<bool>,
    pub allow_privilege_escalation: Option<bool>,
    pub privileged: Option<bool>,
    pub capabilities: Option<Capabilities>,
    pub seccomp_profile: Option<SeccompProfile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Capabilities {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub drop: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Resources {
    /// Quantities as YAML gives them (`250m`, `100Mi`, `1`).
    #[serde(default)]
    pub requests: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub limits: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(default)]
    pub exec: Option<ExecAction>,
    #[serde(default)]
    pub timeout_seconds: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExecAction {
    #[serde(default)]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    #[serde(default)]
    pub host_path: Option<HostPath>,
    #[serde(default)]
    pub empty_dir: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HostPath {
    pub path: String,
    /// Directory, DirectoryOrCreate, File, FileOrCreate, Socket, ... or
    /// empty (no check).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub sub_path: Option<String>,
}

/// A manifest file and what it parsed to.
pub type Loaded = (PathBuf, Result<Pod, String>);

/// Reads the manifests of `dir` as a kubelet does: every file whose name
/// does not start with `.`, in name order, each parsed on its own (a file
/// that is not a Pod is an error for that file only).
pub fn load_dir(dir: &Path) -> Result<Vec<Loaded>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.path().is_file() {
            continue;
        }
        files.push(e.path());
    }
    files.sort();
    Ok(files
        .into_iter()
        .map(|p| {
            let pod = std::fs::read_to_string(&p)
                .map_err(|e| e.to_string())
                .and_then(|text| parse(&text));
            (p, pod)
        })
        .collect())
}

/// Parses one manifest (YAML or JSON).
pub fn parse(text: &str) -> Result<Pod, String> {
    let v: serde_json::Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
    if kind != "Pod" {
        return Err(format!("kind {kind:?}, expected Pod"));
    }
    let pod: Pod = serde_json::from_value(v).map_err(|e| e.to_string())?;
    if pod.spec.containers.is_empty() {
        return Err("spec.containers is empty".into());
    }
    Ok(pod)
}

/// The security settings a container runs with: its own context over the
/// pod's (kubelet's determineEffectiveSecurityContext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: bool,
    /// fsGroup, then the pod's supplementalGroups.
    pub supplemental_groups: Vec<i64>,
    pub read_only_root: bool,
    pub no_new_privs: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub seccomp: Option<SeccompProfile>,
}

impl Pod {
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.spec.volumes.iter().find(|v| v.name == name)
    }

    /// The pod-level settings, as the sandbox gets them.
    pub fn sandbox_context(&self) -> Effective {
        self.effective(None)
    }

    pub fn effective(&self, c: Option<&Container>) -> Effective {
        let p = self.spec.security_context.clone().unwrap_or_default();
        let s = c
            .and_then(|c| c.security_context.clone())
            .unwrap_or_default();
        let mut groups: Vec<i64> = p.fs_group.into_iter().collect();
        groups.extend(p.supplemental_groups.iter().copied());
        let caps = s.capabilities.unwrap_or_default();
        Effective {
            run_as_user: s.run_as_user.or(p.run_as_user),
            run_as_group: s.run_as_group.or(p.run_as_group),
            run_as_non_root: s.run_as_non_root.or(p.run_as_non_root).unwrap_or(false),
            supplemental_groups: groups,
            read_only_root: c.is_some() && s.read_only_root_filesystem.unwrap_or(false),
            // allowPrivilegeEscalation false sets no_new_privs; unset
            // means allowed (unless privileged, it stays allowed).
            no_new_privs: s.allow_privilege_escalation == Some(false),
            privileged: s.privileged.unwrap_or(false),
            cap_add: caps.add,
            cap_drop: caps.drop,
            seccomp: s.seccomp_profile.or(p.seccomp_profile),
        }
    }

    /// The pod's QoS class (Guaranteed, Burstable, BestEffort), which
    /// names its cgroup.
    pub fn qos(&self) -> &'static str {
        let mut any = false;
        let mut guaranteed = true;
        for c in &self.spec.containers {
            let r = c.resources.clone().unwrap_or_default();
            if !r.requests.is_empty() || !r.limits.is_empty() {
                any = true;
            }
            for res in ["cpu", "memory"] {
                let limit = r.limits.get(res);
                let request = r.requests.get(res).or(limit);
                if limit.is_none() || request != limit {
                    guaranteed = false;
                }
            }
        }
        if !any {
            "BestEffort"
        } else if guaranteed {
            "Guaranteed"
        } else {
            "Burstable"
        }
    }
}

impl Container {
    /// `(kind, probe)` for each exec probe.
    pub fn exec_probes(&self) -> Vec<(&'static str, &Probe)> {
        [
            ("liveness", &self.liveness_probe),
            ("readiness", &self.readiness_probe),
            ("startup", &self.startup_probe),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.as_ref().filter(|p| p.exec.is_some()).map(|p| (k, p)))
        .collect()
    }

    /// CPU request in millicores.
    pub fn cpu_request_millis(&self) -> Option<i64> {
        let r = self.resources.as_ref()?;
        quantity_millis(r.requests.get("cpu").or(r.limits.get("cpu"))?)
    }
}

/// A CPU quantity (`250m`, `1`, `0.5`, or a number) in millicores.
pub fn quantity_millis(q: &serde_json::Value) -> Option<i64> {
    match q {
        serde_json::Value::Number(n) => n.as_f64().map(|f| (f * 1000.0).round() as i64),
        serde_json::Value::String(s) => {
            let s = s.trim();
            if let Some(m) = s.strip_suffix('m') {
                m.parse().ok()
            } else {
                s.parse::<f64>().ok().map(|f| (f * 1000.0).round() as i64)
            }
        }
        _ => None,
    }
}

/// The kubelet's CPU shares for a request (MilliCPUToShares: at least 2).
pub fn cpu_shares(millis: i64) -> i64 {
    (millis * 1024 / 1000).max(2)
}

/// What the kubelet does with a hostPath volume before mounting it
/// (its hostPath type checker): `DirectoryOrCreate` makes a missing
/// directory (0755), `FileOrCreate` a missing file (0644, its directory
/// must exist), the other types must exist as that type; an empty type
/// checks nothing. Returns what it found or did.
pub fn prepare_host_path(path: &Path, kind: &str) -> Result<String, String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path);
    let err = |what: &str| format!("{}: {what} (hostPath type {kind})", path.display());
    match kind {
        "" => Ok(match meta {
            Ok(m) if m.is_dir() => "directory".into(),
            Ok(_) => "exists".into(),
            Err(_) => "absent (no type: not checked)".into(),
        }),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok("directory".into()),
            Ok(_) => Err(err("exists but is not a directory")),
            Err(_) => {
                std::fs::create_dir_all(path).map_err(|e| err(&format!("mkdir: {e}")))?;
                Ok("directory (created, as the kubelet would)".into())
            }
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok("file".into()),
            Ok(_) => Err(err("exists but is not a file")),
            Err(_) => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| err(&format!("create: {e}")))?;
                Ok("file (created, as the kubelet would)".into())
            }
        },
        "Directory" | "File" | "Socket" | "CharDevice" | "BlockDevice" => {
            let m = meta.map_err(|e| err(&e.to_string()))?;
            let t = m.file_type();
            let ok = match kind {
                "Directory" => t.is_dir(),
                "File" => t.is_file(),
                "Socket" => t.is_socket(),
                "CharDevice" => t.is_char_device(),
                _ => t.is_block_device(),
            };
            if ok {
                Ok(kind.to_lowercase())
            } else {
                Err(err("wrong type"))
            }
        }
        other => Err(err(&format!("unknown hostPath type {other:?}"))),
    }
}

/// An etcd static pod shaped like first boot's (crates/nodeconf
/// staticpods.rs), for the tests of the probe (unit tests here, and
/// tests/cri.rs against real containerd): host network, user 401,
/// read-only root, no privilege escalation, capabilities dropped, seccomp
/// RuntimeDefault, read-only hostPath directory (`/etc/kubernetes/pki/etcd`)
/// and file (`/etc/kubernetes/etcd-probe.conf`), a writable data directory
/// (`/var/lib/etcd`), an emptyDir `/tmp`, and `probe` as its exec liveness
/// probe. `host` is where the host paths are (`/` on a node); `command`
/// is etcd's command line.
pub fn sample_etcd(image: &str, host: &Path, command: &[&str], probe: &[&str]) -> String {
    let json = |v: &[&str]| serde_json::to_string(v).expect("strings");
    format!(
        r#"# mk-firstboot-like etcd manifest (mk-qemu-tests)
apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  labels: {{component: etcd, tier: control-plane}}
spec:
  hostNetwork: true
  priority: 2000001000
  priorityClassName: system-node-critical
  securityContext:
    runAsUser: 401
    runAsGroup: 401
    runAsNonRoot: true
    fsGroup: 401
    seccompProfile: {{type: RuntimeDefault}}
  containers:
  - name: etcd
    image: {image}
    imagePullPolicy: IfNotPresent
    command: {command}
    resources:
      requests: {{cpu: 100m, memory: 100Mi}}
    livenessProbe:
      exec:
        command: {probe}
      initialDelaySeconds: 10
      timeoutSeconds: 15
      failureThreshold: 8
      periodSeconds: 10
    securityContext:
      runAsUser: 401
      runAsGroup: 401
      runAsNonRoot: true
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL]}}
    volumeMounts:
    - {{name: etcd-certs, mountPath: /etc/kubernetes/pki/etcd, readOnly: true}}
    - {{name: etcd-data, mountPath: /var/lib/etcd}}
    - {{name: probe-conf, mountPath: /etc/kubernetes/etcd-probe.conf, readOnly: true}}
    - {{name: tmp, mountPath: /tmp}}
  volumes:
  - {{name: etcd-certs, hostPath: {{path: {certs}, type: DirectoryOrCreate}}}}
  - {{name: etcd-data, hostPath: {{path: {data}, type: DirectoryOrCreate}}}}
  - {{name: probe-conf, hostPath: {{path: {conf}, type: FileOrCreate}}}}
  - {{name: tmp, emptyDir: {{}}}}
"#,
        command = json(command),
        probe = json(probe),
        certs = host.join("etc/kubernetes/pki/etcd").display(),
        data = host.join("var/lib/etcd").display(),
        conf = host.join("etc/kubernetes/etcd-probe.conf").display(),
    )
}

/// [`sample_etcd`] as the unit tests use it.
#[cfg(test)]
pub(crate) fn test_etcd() -> String {
    sample_etcd(
        "registry.k8s.io/etcd:3.5.12-0",
        Path::new("/"),
        &["etcd", "--data-dir=/var/lib/etcd"],
        &["etcdctl", "get", "health"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_first_boot_manifest() {
        let p = parse(&test_etcd()).unwrap();
        assert_eq!(p.metadata.name, "etcd");
        assert_eq!(p.namespace(), "kube-system");
        assert!(p.spec.host_network);
        let c = &p.spec.containers[0];
        let e = p.effective(Some(c));
        assert_eq!((e.run_as_user, e.run_as_group), (Some(401), Some(401)));
        assert!(e.run_as_non_root && e.read_only_root && e.no_new_privs && !e.privileged);
        assert_eq!(e.cap_drop, ["ALL"]);
        assert_eq!(e.supplemental_groups, [401]);
        assert_eq!(e.seccomp.unwrap().kind, "RuntimeDefault");
        assert!(!p.sandbox_context().read_only_root);
        assert_eq!(c.cpu_request_millis(), Some(100));
        assert_eq!(c.exec_probes().len(), 1);
        assert_eq!(p.qos(), "Burstable");
        assert!(p.volume("tmp").unwrap().empty_dir.is_some());
        assert_eq!(
            p.volume("etcd-data")
                .unwrap()
                .host_path
                .as_ref()
                .unwrap()
                .path,
            "/var/lib/etcd"
        );
    }

    #[test]
    fn rejects_what_is_not_a_pod() {
        assert!(parse("kind: Deployment\nmetadata: {name: x}\nspec: {}\n")
            .unwrap_err()
            .contains("expected Pod"));
        assert!(
            parse("kind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n")
                .unwrap_err()
                .contains("empty")
        );
    }

    #[test]
    fn cpu_quantities_as_the_kubelet_reads_them() {
        let q = |s: &str| quantity_millis(&serde_json::Value::String(s.into()));
        assert_eq!(q("250m"), Some(250));
        assert_eq!(q("1"), Some(1000));
        assert_eq!(q("0.5"), Some(500));
        assert_eq!(cpu_shares(250), 256);
        assert_eq!(cpu_shares(1), 2);
    }

    #[test]
    fn host_path_types() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("a/b");
        assert!(prepare_host_path(&sub, "DirectoryOrCreate")
            .unwrap()
            .contains("created"));
        assert!(sub.is_dir());
        assert!(prepare_host_path(&d.path().join("f"), "File").is_err());
        assert!(prepare_host_path(&d.path().join("f"), "FileOrCreate")
            .unwrap()
            .contains("created"));
        assert_eq!(
            prepare_host_path(&d.path().join("f"), "File").unwrap(),
            "file"
        );
        assert!(prepare_host_path(&sub, "File").is_err());
        assert!(prepare_host_path(&d.path().join("f"), "Directory").is_err());
    }
}
