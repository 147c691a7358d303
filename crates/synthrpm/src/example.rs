//! The bundled example's repository: a small node-shaped package set (a
//! base system, containerd and runc, etcd, kubelet/kubeadm) that exercises
//! what real repositories do: several versions of one package, versions in
//! lock-step, virtual and file provides, a pre-requirement, a dependency
//! loop, an obsoleted package, a conflict and a 32-bit package that must not
//! be chosen.

use crate::SynthPackage;

const GE: &str = ">=";
const EQ: &str = "=";

fn pkg(name: &str, version: &str, release: &str, arch: &str, summary: &str) -> SynthPackage {
    SynthPackage::new(name, version, release)
        .arch(arch)
        .summary(summary)
        .description(&format!("{summary} (mk example package)."))
        .license("Apache-2.0")
        .url("https://example.invalid/mk")
        .vendor("mk example")
        .packager("mk example <mk@example.invalid>")
}

/// Every package of the example repository.
pub fn example_packages() -> Vec<SynthPackage> {
    let libc = "libc.so.6()(64bit)";
    vec![
        pkg(
            "example-setup",
            "2.8.71",
            "11.el7",
            "noarch",
            "Base configuration files",
        )
        .file("/etc/hosts", "127.0.0.1 localhost\n", 0o644)
        .file("/etc/services", "etcd-client 2379/tcp\n", 0o644),
        pkg(
            "example-filesystem",
            "3.2",
            "25.el7",
            "noarch",
            "The directory layout",
        )
        .requires_pre("example-setup", None)
        .dir("/etc")
        .dir("/usr")
        .dir("/usr/bin")
        .dir("/var")
        .dir("/var/lib"),
        // glibc and bash need each other: rpm installs such a loop by
        // breaking it at the edge that is not a pre-requirement.
        pkg(
            "example-glibc",
            "2.17",
            "317.el7",
            "x86_64",
            "The C library",
        )
        .provides(libc, None)
        .requires("example-glibc-common", Some((EQ, "2.17-317.el7")))
        .requires("/bin/sh", None)
        .requires_pre("example-filesystem", None)
        .file("/usr/lib64/libc.so.6", "not really a C library\n", 0o755),
        pkg(
            "example-glibc",
            "2.17",
            "317.el7",
            "i686",
            "The C library (32-bit)",
        )
        .provides("libc.so.6", None)
        .file("/usr/lib/libc.so.6", "not really a C library\n", 0o755),
        pkg(
            "example-glibc-common",
            "2.17",
            "317.el7",
            "x86_64",
            "Locale data for the C library",
        )
        .file("/usr/share/locale/locale.alias", "C C.UTF-8\n", 0o644),
        pkg("example-bash", "4.2.46", "34.el7", "x86_64", "The shell")
            .requires(libc, None)
            .requires_pre("example-filesystem", None)
            .file("/usr/bin/bash", "#!not really bash\n", 0o755)
            .symlink("/bin/sh", "../usr/bin/bash"),
        pkg(
            "example-runc",
            "1.0.0",
            "1.el7",
            "x86_64",
            "OCI runtime (old)",
        )
        .requires(libc, None)
        .file("/usr/bin/runc", "runc 1.0.0\n", 0o755),
        pkg(
            "example-runc",
            "1.1.12",
            "1.el7",
            "x86_64",
            "OCI runtime, built without kmem accounting",
        )
        .requires(libc, None)
        .file("/usr/bin/runc", "runc 1.1.12\n", 0o755),
        pkg(
            "example-containerd",
            "1.6.33",
            "1.el7",
            "x86_64",
            "Container runtime",
        )
        .requires("example-runc", Some((GE, "1.1")))
        .requires(libc, None)
        .conflicts("example-docker", None)
        .file("/usr/bin/containerd", "containerd 1.6.33\n", 0o755)
        .file("/etc/containerd/config.toml", "version = 2\n", 0o644),
        pkg(
            "example-docker",
            "20.10.24",
            "1.el7",
            "x86_64",
            "Not for mk nodes (R16)",
        )
        .file("/usr/bin/dockerd", "dockerd\n", 0o755),
        pkg(
            "example-crictl",
            "1.26.0",
            "1.el7",
            "x86_64",
            "CRI command line (old name)",
        )
        .file("/usr/bin/crictl", "crictl 1.26\n", 0o755),
        pkg(
            "example-cri-tools",
            "1.30.1",
            "1.el7",
            "x86_64",
            "CRI command line",
        )
        .provides("crictl", Some((EQ, "1.30.1")))
        .obsoletes("example-crictl", Some(("<", "1.30")))
        .requires(libc, None)
        .file("/usr/bin/crictl", "crictl 1.30.1\n", 0o755),
        pkg(
            "example-conntrack-tools",
            "1.4.4",
            "7.el7",
            "x86_64",
            "Connection tracking tools",
        )
        .provides("conntrack", None)
        .requires(libc, None)
        .file("/usr/sbin/conntrack", "conntrack\n", 0o755),
        pkg(
            "example-etcd",
            "3.4.23",
            "1.el7",
            "x86_64",
            "Distributed key-value store",
        )
        .requires(libc, None)
        .requires_pre("/bin/sh", None)
        .pre_script(
            "getent passwd etcd >/dev/null || useradd -r -d /var/lib/etcd -s /sbin/nologin etcd",
        )
        .file("/usr/bin/etcd", "etcd 3.4.23\n", 0o755)
        .dir("/var/lib/etcd"),
        pkg(
            "example-kubelet",
            "1.29.10",
            "1.el7",
            "x86_64",
            "Kubernetes node agent (previous)",
        )
        .requires("example-containerd", Some((GE, "1.6")))
        .requires("conntrack", None)
        .requires(libc, None)
        .file("/usr/bin/kubelet", "kubelet 1.29.10\n", 0o755),
        pkg(
            "example-kubelet",
            "1.30.6",
            "1.el7",
            "x86_64",
            "Kubernetes node agent",
        )
        .requires("example-containerd", Some((GE, "1.6")))
        .requires("conntrack", None)
        .requires(libc, None)
        .file("/usr/bin/kubelet", "kubelet 1.30.6\n", 0o755),
        pkg(
            "example-kubeadm",
            "1.30.6",
            "1.el7",
            "x86_64",
            "Kubernetes cluster bootstrap",
        )
        .requires("example-kubelet", Some((EQ, "1.30.6-1.el7")))
        .requires("crictl", Some((GE, "1.30")))
        .requires(libc, None)
        .file("/usr/bin/kubeadm", "kubeadm 1.30.6\n", 0o755),
    ]
}
