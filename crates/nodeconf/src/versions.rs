//! Image references per Kubernetes minor: the one place that decides which
//! tag of each image a node of that version uses (static pods, containerd's
//! sandbox image, the kube-proxy and CoreDNS addons), as kubeadm of that
//! minor names them (cmd/kubeadm/app/constants: DefaultEtcdVersion /
//! SupportedEtcdVersion, PauseVersion, CoreDNSVersion). The static-pod flags
//! are the same for every minor (docs/kubeadm-differences.md).
//!
//! `kubernetesVersion: "1.MINOR"` means the patch mk's image recipes
//! (`images/*/image.yaml`) pin for that minor, so that the manifests ask
//! for exactly the images the bundle carries; `1.MINOR.PATCH` is taken as
//! given.

use crate::PlanError;

/// Registry kubeadm pulls from; containerd mirrors it to the bundle's
/// registry (hosts.toml), so names stay kubeadm's.
pub const REGISTRY: &str = "registry.k8s.io";

/// Calico release every minor uses (the CNI, R33). One pin for all minors
/// 1.28-1.33 (Calico v3.29 is tested on 1.29-1.32 and uses no API that
/// 1.28 lacks or 1.33 removed); the iptables data plane, as CentOS 7's
/// 3.10 kernel has no eBPF for it. crates/cluster calico models this
/// release's manifest; its CRDs come from the bundle.
pub const CALICO: &str = "v3.29.7";

/// Registry path of Calico's images (`docker.io/calico/node:<tag>`);
/// containerd mirrors docker.io to the bundle's registry.
pub const CALICO_REGISTRY: &str = "docker.io/calico";

/// Calico's images a node runs: calico-node, its CNI installer and the
/// kube-controllers Deployment.
pub const CALICO_IMAGES: &[&str] = &["cni", "kube-controllers", "node"];

/// The Kubernetes components whose image tag is the Kubernetes version.
pub const KUBERNETES_IMAGES: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// `v1.MINOR.PATCH`: the tag of kube-apiserver & co.
    pub kubernetes: String,
    pub minor: u32,
    /// etcd image tag, e.g. `3.5.12-0`.
    pub etcd: &'static str,
    /// pause image tag.
    pub pause: &'static str,
    /// CoreDNS image tag (`registry.k8s.io/coredns/coredns`), e.g. `v1.11.1`.
    pub coredns: &'static str,
    /// Calico image tag ([`CALICO`]), e.g. `v3.29.7`.
    pub calico: &'static str,
}

/// One minor's images, as kubeadm's release of that minor names them.
struct Minor {
    minor: u32,
    /// The patch `1.MINOR` resolves to: the one mk's image recipes pin.
    patch: u32,
    etcd: &'static str,
    pause: &'static str,
    coredns: &'static str,
}

const TABLE: &[Minor] = &[
    // kubeadm v1.28.7 as run for ../shared/reference/kubeadm-1.28.7
    // (etcd 3.5.10-0 in its etcd manifest, coredns v1.10.1 in its addon).
    Minor {
        minor: 28,
        patch: 7,
        etcd: "3.5.10-0",
        pause: "3.9",
        coredns: "v1.10.1",
    },
    // kubeadm 1.29.0's constants.
    Minor {
        minor: 29,
        patch: 15,
        etcd: "3.5.10-0",
        pause: "3.9",
        coredns: "v1.11.1",
    },
    // The patch the image recipes in images/*/image.yaml are tagged with.
    Minor {
        minor: 30,
        patch: 14,
        etcd: "3.5.12-0",
        pause: "3.9",
        coredns: "v1.11.1",
    },
    // 1.31-1.33: no image recipes pin a patch for these minors yet, so
    // `1.MINOR` means `.0`; give `1.MINOR.PATCH` for the patch the bundle
    // ships.
    Minor {
        minor: 31,
        patch: 0,
        etcd: "3.5.15-0",
        pause: "3.10",
        coredns: "v1.11.3",
    },
    Minor {
        minor: 32,
        patch: 0,
        etcd: "3.5.16-0",
        pause: "3.10",
        coredns: "v1.11.3",
    },
    Minor {
        minor: 33,
        patch: 0,
        etcd: "3.5.21-0",
        pause: "3.10",
        coredns: "v1.12.0",
    },
];

impl Versions {
    /// From `spec.cluster.kubernetesVersion` (`1.30`, `1.30.4`, `v1.30.4`).
    /// Without a patch, the patch mk's image recipes pin for that minor.
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
        let row = TABLE.iter().find(|r| r.minor == minor).ok_or_else(|| {
            bad(format!(
                "no image versions known for Kubernetes 1.{minor} (known: {})",
                TABLE
                    .iter()
                    .map(|r| format!("1.{}", r.minor))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let patch = nums.get(2).copied().unwrap_or(row.patch);
        Ok(Versions {
            kubernetes: format!("v1.{minor}.{patch}"),
            minor,
            etcd: row.etcd,
            pause: row.pause,
            coredns: row.coredns,
            calico: CALICO,
        })
    }

    /// The minors this table knows, e.g. `[28, 29, ...]`.
    pub fn known_minors() -> Vec<u32> {
        TABLE.iter().map(|r| r.minor).collect()
    }

    /// A Kubernetes component's image (`kube-apiserver`, `kube-proxy`, ...),
    /// tagged with the Kubernetes version.
    pub fn image(&self, component: &str) -> String {
        format!("{REGISTRY}/{component}:{}", self.kubernetes)
    }

    pub fn etcd_image(&self) -> String {
        format!("{REGISTRY}/etcd:{}", self.etcd)
    }

    pub fn pause_image(&self) -> String {
        format!("{REGISTRY}/pause:{}", self.pause)
    }

    pub fn kube_proxy_image(&self) -> String {
        self.image("kube-proxy")
    }

    pub fn coredns_image(&self) -> String {
        format!("{REGISTRY}/coredns/coredns:{}", self.coredns)
    }

    /// A Calico image (`node`, `cni`, `kube-controllers`).
    pub fn calico_image(&self, component: &str) -> String {
        format!("{CALICO_REGISTRY}/{component}:{}", self.calico)
    }

    /// Calico's image references, sorted. Kept apart from
    /// [`Versions::references`] while images/ has no recipes for them: the
    /// recipe tests (nodeconf tests/images.rs, ocibuild tests/recipes.rs)
    /// hold `references()` equal to the recipes mk builds.
    pub fn calico_references(&self) -> Vec<String> {
        CALICO_IMAGES.iter().map(|c| self.calico_image(c)).collect()
    }

    /// Every image reference a node of this version uses, sorted: etcd, the
    /// four Kubernetes components, CoreDNS and pause. What the bundle's
    /// registry (or a node image's baked archives) must hold, besides
    /// [`Versions::calico_references`].
    pub fn references(&self) -> Vec<String> {
        let mut v: Vec<String> = KUBERNETES_IMAGES.iter().map(|c| self.image(c)).collect();
        v.push(self.etcd_image());
        v.push(self.coredns_image());
        v.push(self.pause_image());
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_1_30_images_at_the_recipes_patch() {
        let v = Versions::resolve("1.30").unwrap();
        assert_eq!(v.kubernetes, "v1.30.14");
        assert_eq!(
            v.image("kube-apiserver"),
            "registry.k8s.io/kube-apiserver:v1.30.14"
        );
        assert_eq!(v.etcd_image(), "registry.k8s.io/etcd:3.5.12-0");
        assert_eq!(v.pause_image(), "registry.k8s.io/pause:3.9");
        assert_eq!(v.coredns_image(), "registry.k8s.io/coredns/coredns:v1.11.1");
        assert_eq!(v.kube_proxy_image(), "registry.k8s.io/kube-proxy:v1.30.14");
        // An explicit patch stays as given.
        assert_eq!(Versions::resolve("v1.30.4").unwrap().kubernetes, "v1.30.4");
        assert_eq!(Versions::resolve("1.30.0").unwrap().kubernetes, "v1.30.0");
        assert!(Versions::resolve("2.30").is_err());
        assert!(Versions::resolve("1.30.x").is_err());
        let e = Versions::resolve("1.27").unwrap_err().to_string();
        assert!(
            e.contains("1.27") && e.contains("kubernetesVersion") && e.contains("1.28, 1.29"),
            "{e}"
        );
    }

    #[test]
    fn kubeadm_1_28_as_the_reference_data_set_ran_it() {
        // ../shared/reference/kubeadm-1.28.7: manifests and addons.
        let v = Versions::resolve("1.28").unwrap();
        assert_eq!(
            v.references(),
            [
                "registry.k8s.io/coredns/coredns:v1.10.1",
                "registry.k8s.io/etcd:3.5.10-0",
                "registry.k8s.io/kube-apiserver:v1.28.7",
                "registry.k8s.io/kube-controller-manager:v1.28.7",
                "registry.k8s.io/kube-proxy:v1.28.7",
                "registry.k8s.io/kube-scheduler:v1.28.7",
                "registry.k8s.io/pause:3.9",
            ]
        );
        let v = Versions::resolve("1.29").unwrap();
        assert_eq!(
            (v.kubernetes.as_str(), v.etcd, v.pause, v.coredns),
            ("v1.29.15", "3.5.10-0", "3.9", "v1.11.1")
        );
    }

    #[test]
    fn per_minor_tags() {
        for (minor, kubernetes, etcd, pause, coredns) in [
            ("1.31", "v1.31.0", "3.5.15-0", "3.10", "v1.11.3"),
            ("1.32", "v1.32.0", "3.5.16-0", "3.10", "v1.11.3"),
            ("1.33", "v1.33.0", "3.5.21-0", "3.10", "v1.12.0"),
        ] {
            let v = Versions::resolve(minor).unwrap();
            assert_eq!(
                (v.kubernetes.as_str(), v.etcd, v.pause, v.coredns),
                (kubernetes, etcd, pause, coredns),
                "{minor}"
            );
        }
        assert_eq!(Versions::known_minors(), [28, 29, 30, 31, 32, 33]);
    }

    #[test]
    fn calico_is_pinned_once_for_every_minor() {
        for m in Versions::known_minors() {
            let v = Versions::resolve(&format!("1.{m}")).unwrap();
            assert_eq!(
                v.calico_references(),
                [
                    "docker.io/calico/cni:v3.29.7",
                    "docker.io/calico/kube-controllers:v3.29.7",
                    "docker.io/calico/node:v3.29.7",
                ]
            );
            assert_eq!(v.calico_image("node"), "docker.io/calico/node:v3.29.7");
            assert!(v
                .calico_references()
                .iter()
                .all(|c| !v.references().contains(c)));
        }
    }

    #[test]
    fn references_name_every_image_once() {
        for m in Versions::known_minors() {
            let v = Versions::resolve(&format!("1.{m}")).unwrap();
            let r = v.references();
            assert_eq!(r.len(), 7, "{r:?}");
            let mut d = r.clone();
            d.dedup();
            assert_eq!(d, r);
            for want in [
                v.etcd_image(),
                v.pause_image(),
                v.coredns_image(),
                v.image("kube-apiserver"),
                v.image("kube-controller-manager"),
                v.image("kube-scheduler"),
                v.kube_proxy_image(),
            ] {
                assert!(r.contains(&want), "{want} not in {r:?}");
            }
            assert!(r.iter().all(|i| i.starts_with("registry.k8s.io/")));
        }
    }
}
