//! The CRI requests a kubelet (1.28-1.30) sends for a static pod: the
//! sandbox config (RunPodSandbox) and each container's config
//! (CreateContainer), from the manifest's fields. Pure functions; the
//! directories they name are made by [`super::probe`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use k8s_cri::v1 as cri;

use super::manifest::{self, Container, Effective, Pod, SeccompProfile};

/// How the runtime manages cgroups (containerd's `SystemdCgroup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupDriver {
    Systemd,
    Cgroupfs,
}

impl std::str::FromStr for CgroupDriver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "systemd" => Ok(CgroupDriver::Systemd),
            "cgroupfs" => Ok(CgroupDriver::Cgroupfs),
            o => Err(format!("{o:?}: expected systemd or cgroupfs")),
        }
    }
}

/// kubelet's OOM score for critical pods (static pods are).
pub const CRITICAL_OOM_SCORE_ADJ: i64 = -997;

/// The kubelet's default masked and read-only /proc and /sys paths
/// (procMount Default).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where one pod's host-side files go, as under the kubelet's root dir:
/// `<work>/pods/<uid>/...` and `<work>/logs/<ns>_<name>_<uid>/`.
#[derive(Debug, Clone)]
pub struct PodDirs {
    pub pod: PathBuf,
    pub logs: PathBuf,
}

impl PodDirs {
    pub fn new(work: &Path, pod: &Pod, uid: &str) -> PodDirs {
        PodDirs {
            pod: work.join("pods").join(uid),
            logs: work.join("logs").join(format!(
                "{}_{}_{uid}",
                pod.namespace(),
                pod.metadata.name
            )),
        }
    }
    pub fn empty_dir(&self, volume: &str) -> PathBuf {
        self.pod
            .join("volumes/kubernetes.io~empty-dir")
            .join(volume)
    }
    pub fn etc_hosts(&self) -> PathBuf {
        self.pod.join("etc-hosts")
    }
    pub fn termination_log(&self, container: &str) -> PathBuf {
        self.pod
            .join("containers")
            .join(container)
            .join("termination-log")
    }
}

/// The pod's cgroup parent as the kubelet names it (its QoS class's
/// slice or directory).
pub fn cgroup_parent(driver: CgroupDriver, qos: &str, uid: &str) -> String {
    let uid = uid.replace('-', "_");
    match (driver, qos) {
        (CgroupDriver::Systemd, "Guaranteed") => format!("kubepods-pod{uid}.slice"),
        (CgroupDriver::Systemd, q) => {
            let q = q.to_lowercase();
            format!("kubepods-{q}-pod{uid}.slice")
        }
        (CgroupDriver::Cgroupfs, "Guaranteed") => format!("/kubepods/pod{uid}"),
        (CgroupDriver::Cgroupfs, q) => format!("/kubepods/{}/pod{uid}", q.to_lowercase()),
    }
}

fn seccomp(p: &Option<SeccompProfile>) -> Option<cri::SecurityProfile> {
    use cri::security_profile::ProfileType;
    // No profile in the manifest: the kubelet asks for Unconfined
    // (SeccompDefault off).
    let (t, r) = match p.as_ref().map(|p| p.kind.as_str()) {
        Some("RuntimeDefault") => (ProfileType::RuntimeDefault, String::new()),
        Some("Localhost") => (
            ProfileType::Localhost,
            p.as_ref()
                .and_then(|p| p.localhost_profile.clone())
                .unwrap_or_default(),
        ),
        _ => (ProfileType::Unconfined, String::new()),
    };
    Some(cri::SecurityProfile {
        profile_type: t as i32,
        localhost_ref: r,
    })
}

fn namespaces(pod: &Pod) -> cri::NamespaceOption {
    use cri::NamespaceMode;
    cri::NamespaceOption {
        network: if pod.spec.host_network {
            NamespaceMode::Node
        } else {
            NamespaceMode::Pod
        } as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn int64(v: Option<i64>) -> Option<cri::Int64Value> {
    v.map(|value| cri::Int64Value { value })
}

pub fn labels(pod: &Pod, uid: &str) -> HashMap<String, String> {
    let mut l: HashMap<String, String> = pod.metadata.labels.clone().into_iter().collect();
    l.insert("io.kubernetes.pod.name".into(), pod.metadata.name.clone());
    l.insert("io.kubernetes.pod.namespace".into(), pod.namespace().into());
    l.insert("io.kubernetes.pod.uid".into(), uid.into());
    l.insert(PROBE_LABEL.into(), "true".into());
    l
}

/// Marks what mk-cri-probe started (and may remove when stale).
pub const PROBE_LABEL: &str = "io.mk.cri-probe";

/// RunPodSandbox's config.
pub fn sandbox(
    pod: &Pod,
    uid: &str,
    dirs: &PodDirs,
    driver: CgroupDriver,
) -> cri::PodSandboxConfig {
    let e: Effective = pod.sandbox_context();
    let mut annotations: HashMap<String, String> =
        pod.metadata.annotations.clone().into_iter().collect();
    annotations.insert("kubernetes.io/config.source".into(), "file".into());
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: pod.metadata.name.clone(),
            uid: uid.into(),
            namespace: pod.namespace().into(),
            attempt: 0,
        }),
        // Host network: none (the node's UTS namespace; runc refuses a
        // hostname without a private one), as the kubelet does.
        hostname: if pod.spec.host_network {
            String::new()
        } else {
            pod.metadata.name.clone()
        },
        log_directory: dirs.logs.display().to_string(),
        labels: labels(pod, uid),
        annotations,
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent(driver, pod.qos(), uid),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces(pod)),
                run_as_user: int64(e.run_as_user),
                run_as_group: int64(e.run_as_group),
                supplemental_groups: e.supplemental_groups.clone(),
                seccomp: seccomp(&e.seccomp),
                // No SELinux options: the runtime picks the policy's
                // container type with random categories (lxc_contexts).
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A mount as the kubelet passes it, and how the probe checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMount {
    pub volume: String,
    pub host_path: PathBuf,
    pub container_path: String,
    pub readonly: bool,
    pub relabel: bool,
    /// A hostPath volume (else an emptyDir or one of the kubelet's files).
    pub host_volume: bool,
}

/// The container's mounts: its volumeMounts (hostPath as given, emptyDir
/// from the pod directory, both relabelled only for emptyDir, as the
/// kubelet's volume plugins say), then the kubelet's own /etc/hosts (host
/// network) and /dev/termination-log, both relabelled.
pub fn mounts(pod: &Pod, c: &Container, dirs: &PodDirs) -> Result<Vec<PlannedMount>, String> {
    let mut v = Vec::new();
    for m in &c.volume_mounts {
        let vol = pod
            .volume(&m.name)
            .ok_or_else(|| format!("volumeMounts {:?}: no volume of that name", m.name))?;
        let (mut host, relabel, host_volume) = if let Some(h) = &vol.host_path {
            (PathBuf::from(&h.path), false, true)
        } else if vol.empty_dir.is_some() {
            (dirs.empty_dir(&vol.name), true, false)
        } else {
            return Err(format!(
                "volume {:?}: only hostPath and emptyDir volumes are supported",
                vol.name
            ));
        };
        if let Some(s) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            host = host.join(s);
        }
        v.push(PlannedMount {
            volume: vol.name.clone(),
            host_path: host,
            container_path: m.mount_path.clone(),
            readonly: m.read_only,
            relabel,
            host_volume,
        });
    }
    if pod.spec.host_network && !v.iter().any(|m| m.container_path == "/etc/hosts") {
        v.push(PlannedMount {
            volume: "etc-hosts".into(),
            host_path: dirs.etc_hosts(),
            container_path: "/etc/hosts".into(),
            readonly: false,
            relabel: true,
            host_volume: false,
        });
    }
    v.push(PlannedMount {
        volume: "termination-log".into(),
        host_path: dirs.termination_log(&c.name),
        container_path: "/dev/termination-log".into(),
        readonly: false,
        relabel: true,
        host_volume: false,
    });
    Ok(v)
}

/// CreateContainer's config; `command` replaces the manifest's command and
/// args when given.
pub fn container(
    pod: &Pod,
    c: &Container,
    uid: &str,
    mounts: &[PlannedMount],
    command: Option<&[String]>,
) -> cri::ContainerConfig {
    let e = pod.effective(Some(c));
    let (command, args) = match command {
        Some(cmd) => (cmd.to_vec(), Vec::new()),
        None => (c.command.clone(), c.args.clone()),
    };
    let mut labels = labels(pod, uid);
    labels.retain(|k, _| k.starts_with("io.kubernetes.") || k == PROBE_LABEL);
    labels.insert("io.kubernetes.container.name".into(), c.name.clone());
    let cpu = c
        .cpu_request_millis()
        .map(manifest::cpu_shares)
        .unwrap_or(2);
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: c.name.clone(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: c.image.clone(),
            user_specified_image: c.image.clone(),
            ..Default::default()
        }),
        command,
        args,
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs: c
            .env
            .iter()
            .map(|v| cri::KeyValue {
                key: v.name.clone(),
                value: v.value.clone().unwrap_or_default(),
            })
            .collect(),
        mounts: mounts
            .iter()
            .map(|m| cri::Mount {
                container_path: m.container_path.clone(),
                host_path: m.host_path.display().to_string(),
                readonly: m.readonly,
                selinux_relabel: m.relabel,
                propagation: cri::MountPropagation::PropagationPrivate as i32,
                ..Default::default()
            })
            .collect(),
        labels,
        log_path: format!("{}/0.log", c.name),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                cpu_period: 100_000,
                cpu_shares: cpu,
                oom_score_adj: CRITICAL_OOM_SCORE_ADJ,
                ..Default::default()
            }),
            security_context: Some(cri::LinuxContainerSecurityContext {
                capabilities: Some(cri::Capability {
                    add_capabilities: e.cap_add.clone(),
                    drop_capabilities: e.cap_drop.clone(),
                    ..Default::default()
                }),
                privileged: e.privileged,
                namespace_options: Some(namespaces(pod)),
                run_as_user: int64(e.run_as_user),
                run_as_group: int64(e.run_as_group),
                readonly_rootfs: e.read_only_root,
                supplemental_groups: e.supplemental_groups.clone(),
                no_new_privs: e.no_new_privs,
                masked_paths: MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
                readonly_paths: READONLY_PATHS.iter().map(|s| s.to_string()).collect(),
                seccomp: seccomp(&e.seccomp),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cri::manifest::parse;

    fn etcd() -> Pod {
        parse(&crate::cri::manifest::test_etcd()).unwrap()
    }

    #[test]
    fn sandbox_as_the_kubelet_asks_for_it() {
        let p = etcd();
        let dirs = PodDirs::new(Path::new("/w"), &p, "u-1");
        let s = sandbox(&p, "u-1", &dirs, CgroupDriver::Systemd);
        assert_eq!(s.hostname, "");
        assert_eq!(s.log_directory, "/w/logs/kube-system_etcd_u-1");
        let l = s.linux.unwrap();
        assert_eq!(l.cgroup_parent, "kubepods-burstable-podu_1.slice");
        let sc = l.security_context.unwrap();
        assert_eq!(
            sc.namespace_options.unwrap().network,
            cri::NamespaceMode::Node as i32
        );
        assert_eq!(sc.run_as_user.unwrap().value, 401);
        assert_eq!(sc.supplemental_groups, [401]);
        assert_eq!(
            sc.seccomp.unwrap().profile_type,
            cri::security_profile::ProfileType::RuntimeDefault as i32
        );
        assert!(sc.selinux_options.is_none() && !sc.readonly_rootfs);
        assert_eq!(
            cgroup_parent(CgroupDriver::Cgroupfs, "Burstable", "u-1"),
            "/kubepods/burstable/podu_1"
        );
    }

    #[test]
    fn container_as_the_kubelet_asks_for_it() {
        let p = etcd();
        let c = &p.spec.containers[0];
        let dirs = PodDirs::new(Path::new("/w"), &p, "u");
        let m = mounts(&p, c, &dirs).unwrap();
        let paths: Vec<(&str, bool, bool)> = m
            .iter()
            .map(|m| (m.container_path.as_str(), m.readonly, m.relabel))
            .collect();
        assert_eq!(
            paths,
            [
                ("/etc/kubernetes/pki/etcd", true, false),
                ("/var/lib/etcd", false, false),
                ("/etc/kubernetes/etcd-probe.conf", true, false),
                ("/tmp", false, true),
                ("/etc/hosts", false, true),
                ("/dev/termination-log", false, true),
            ]
        );
        assert_eq!(
            m[3].host_path,
            Path::new("/w/pods/u/volumes/kubernetes.io~empty-dir/tmp")
        );
        let cfg = container(&p, c, "u", &m, None);
        assert_eq!(cfg.command, ["etcd", "--data-dir=/var/lib/etcd"]);
        assert_eq!(cfg.image.unwrap().image, "registry.k8s.io/etcd:3.5.12-0");
        let l = cfg.linux.unwrap();
        assert_eq!(l.resources.unwrap().cpu_shares, 102);
        let sc = l.security_context.unwrap();
        assert_eq!(sc.run_as_user.unwrap().value, 401);
        assert_eq!(sc.run_as_group.unwrap().value, 401);
        assert!(sc.readonly_rootfs && sc.no_new_privs && !sc.privileged);
        assert_eq!(sc.capabilities.unwrap().drop_capabilities, ["ALL"]);
        let o = ["sh".to_string(), "-c".into(), "true".into()];
        let cfg = container(&p, c, "u", &m, Some(&o));
        assert_eq!(cfg.command, o);
        assert!(cfg.args.is_empty());
    }
}
