//! The node's service accounts (R12), with fixed IDs so that file
//! ownership in plans, images and static pods (runAsUser/runAsGroup/
//! fsGroup) agree on every node. The block 401-409 lies inside CentOS 7's
//! system range (SYS_UID_MIN 201 .. SYS_UID_MAX 999) and clear of the
//! static IDs that CentOS' `setup` package reserves; dynamic system
//! accounts are allocated downwards from 999. Documented in
//! docs/node-users.md.

/// One service account: user and group share the name and the ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAccount {
    pub name: &'static str,
    pub id: u32,
    /// Home directory, also the service's data directory where it has one.
    pub home: &'static str,
    pub comment: &'static str,
}

pub const ETCD: ServiceAccount = ServiceAccount {
    name: "etcd",
    id: 401,
    home: "/var/lib/etcd",
    comment: "etcd key-value store",
};
pub const KUBE_APISERVER: ServiceAccount = ServiceAccount {
    name: "kube-apiserver",
    id: 402,
    home: "/var/lib/kube-apiserver",
    comment: "Kubernetes API server",
};
pub const KUBE_CONTROLLER_MANAGER: ServiceAccount = ServiceAccount {
    name: "kube-controller-manager",
    id: 403,
    home: "/var/lib/kube-controller-manager",
    comment: "Kubernetes controller manager",
};
pub const KUBE_SCHEDULER: ServiceAccount = ServiceAccount {
    name: "kube-scheduler",
    id: 404,
    home: "/var/lib/kube-scheduler",
    comment: "Kubernetes scheduler",
};

/// Every service account, in ID order.
pub const ALL: &[ServiceAccount] = &[
    ETCD,
    KUBE_APISERVER,
    KUBE_CONTROLLER_MANAGER,
    KUBE_SCHEDULER,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_in_the_system_range() {
        let mut ids: Vec<u32> = ALL.iter().map(|a| a.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        let mut names: Vec<&str> = ALL.iter().map(|a| a.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.iter().all(|a| (201..=999).contains(&a.id)));
    }
}
