//! Image versions per Kubernetes minor, as kubeadm of that minor names them
//! (cmd/kubeadm/app/constants: DefaultEtcdVersion / SupportedEtcdVersion,
//! PauseVersion). The static-pod flags are kubeadm 1.30's for every minor
//! (docs/kubeadm-differences.md).

use crate::PlanError;

/// Registry kubeadm pulls from; containerd mirrors it to the bundle's
/// registry (hosts.toml), so names stay kubeadm's.
pub const REGISTRY: &str = "registry.k8s.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// `v1.MINOR.PATCH`: the tag of kube-apiserver & co.
    pub kubernetes: String,
    pub minor: u32,
    /// etcd image tag, e.g. `3.5.12-0`.
    pub etcd: &'static str,
    /// pause image tag.
    pub pause: &'static str,
}

/// (minor, etcd tag, pause tag) of kubeadm's release of that minor.
const TABLE: &[(u32, &str, &str)] = &[
    (30, "3.5.12-0", "3.9"),
    (31, "3.5.15-0", "3.10"),
    (32, "3.5.16-0", "3.10"),
    (33, "3.5.21-0", "3.10"),
];

impl Versions {
    /// From `spec.cluster.kubernetesVersion` (`1.30`, `1.30.4`, `v1.30.4`).
    /// Without a patch, the minor's `.0` release.
    pub fn resolve(version: &str) -> Result<Versions, PlanError> {
        let field = "spec.cluster.kubernetesVersion";
        let bad = |m: String| PlanError::Config {
            field: field.into(),
            message: m,
        };
        let bare = version.strip_prefix('v').unwrap_or(version);
        let parts: Vec<&str> = bare.split('.').collect();
        let nums: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        if !(matches!(parts.len(), 2 | 3) && nums.len() == parts.len() && nums[0] == 1) {
            return Err(bad(format!("{version:?} is not 1.MINOR or 1.MINOR.PATCH")));
        }
        let minor = nums[1];
        let patch = nums.get(2).copied().unwrap_or(0);
        let (_, etcd, pause) = TABLE.iter().find(|(m, ..)| *m == minor).ok_or_else(|| {
            bad(format!(
                "no image versions known for Kubernetes 1.{minor} (known: {})",
                TABLE
                    .iter()
                    .map(|(m, ..)| format!("1.{m}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        Ok(Versions {
            kubernetes: format!("v1.{minor}.{patch}"),
            minor,
            etcd,
            pause,
        })
    }

    pub fn image(&self, component: &str) -> String {
        format!("{REGISTRY}/{component}:{}", self.kubernetes)
    }

    pub fn etcd_image(&self) -> String {
        format!("{REGISTRY}/etcd:{}", self.etcd)
    }

    pub fn pause_image(&self) -> String {
        format!("{REGISTRY}/pause:{}", self.pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_1_30_images() {
        let v = Versions::resolve("1.30").unwrap();
        assert_eq!(
            v.image("kube-apiserver"),
            "registry.k8s.io/kube-apiserver:v1.30.0"
        );
        assert_eq!(v.etcd_image(), "registry.k8s.io/etcd:3.5.12-0");
        assert_eq!(v.pause_image(), "registry.k8s.io/pause:3.9");
        assert_eq!(Versions::resolve("v1.30.4").unwrap().kubernetes, "v1.30.4");
        let e = Versions::resolve("1.29").unwrap_err().to_string();
        assert!(e.contains("1.29") && e.contains("kubernetesVersion"), "{e}");
        assert!(Versions::resolve("2.30").is_err());
    }
}
