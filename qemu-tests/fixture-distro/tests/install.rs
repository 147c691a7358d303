//! Acceptance test of the fixture distribution: the whole converted set
//! installs into an empty root with mk-install (the set's own rpm 4.18, in
//! a chroot), and the result is what a booting SELinux node needs, checked
//! with the root's own tools: accounts, policy, kernel, boot loader, the
//! merged-usr and /var/run links, /etc/hosts, the CA trust store.

mod common;

use mk_depsolve::{Request, SolveOptions};
use mk_install::{install, plan_from_repo, InstallOptions};
use mk_rpmrepo::repodata::read_repodata;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// `chroot ROOT CMD` in a private mount namespace with /dev and /proc.
fn in_chroot(root: &Path, cmd: &str) -> (bool, String, String) {
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-euc"])
        .arg(format!(
            "mount --bind /dev \"$1/dev\"; mount -t proc proc \"$1/proc\"; \
             exec env -i PATH=/usr/sbin:/usr/bin LANG=C chroot \"$1\" {cmd}"
        ))
        .arg("sh")
        .arg(root)
        .output()
        .expect("unshare (util-linux) must be installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn whole_set_installs_and_is_a_bootable_selinux_root() {
    let repo = common::fixture_repo();
    let pool = read_repodata(&repo).unwrap();
    assert!(pool.len() > 100, "{} packages", pool.len());
    let names: BTreeSet<&str> = pool.iter().map(|p| p.name.as_str()).collect();
    for n in [
        "systemd",
        "linux-image-cloud-amd64",
        "selinux-policy-default",
        "firewalld",
        "containerd",
        "runc",
        "etcd-server",
        "rpm",
        "dracut",
        "shim-signed",
        "grub-efi-amd64-signed",
        "grub-pc-bin",
        "grub-common",
        "filesystem",
        "etcd-client",
        "netbase",
        "ca-certificates",
    ] {
        assert!(names.contains(n), "{n} not in the repository");
    }
    let request = Request::from_specs(&names).unwrap();
    let plan = plan_from_repo(&repo, &pool, &request, None, &SolveOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        plan.missing.is_empty() && plan.unmet.is_empty(),
        "{:?}",
        plan.unmet
    );
    assert_eq!(plan.packages.len(), pool.len());

    let work = tempfile::Builder::new()
        .prefix("mk-fixture-distro-test.")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = work.path().join("root");
    let opts = InstallOptions {
        allow_missing: false,
        allowed_unowned: mk_fixture_distro::SCRIPTLET_STATE
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let report = install(&plan, &root, &opts).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "installed {} packages: bootstrap {:?}, rpm {:?}, verify {:?}; implicit dirs {:?}; allowed unowned {}",
        report.installed.len(),
        report.timings.bootstrap,
        report.timings.rpm,
        report.timings.verify,
        report.unowned.implicit_dirs,
        report.unowned.allowed.len()
    );

    // rpm -qa in the root: every package.
    let (ok, qa, err) = in_chroot(&root, "rpm -qa --qf '%{NAME}\\n'");
    assert!(ok, "{err}");
    let qa: BTreeSet<&str> = qa.lines().collect();
    assert_eq!(qa, names);

    // rpm -Va: nothing missing or altered, no unmet dependency.
    let (ok, va, err) = in_chroot(&root, "rpm -Va");
    assert!(ok && va.trim().is_empty(), "rpm -Va:\n{va}{err}");

    // Accounts from base-passwd, passwd (shadow) and systemd-sysusers.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
    for user in ["daemon", "nobody", "messagebus", "systemd-network"] {
        assert!(
            passwd.lines().any(|l| l.starts_with(&format!("{user}:"))),
            "{user} not in /etc/passwd:\n{passwd}"
        );
    }
    for g in ["shadow", "systemd-journal", "messagebus"] {
        assert!(
            group.lines().any(|l| l.starts_with(&format!("{g}:"))),
            "{g} not in /etc/group:\n{group}"
        );
    }
    let shadow = root.join("etc/shadow");
    assert!(std::fs::read_to_string(&shadow)
        .unwrap()
        .starts_with("root:"));

    // SELinux: the binary policy and file_contexts built by semodule, and
    // the config selecting it, enforcing.
    let pol = root.join("etc/selinux/default/policy/policy.33");
    assert!(
        std::fs::metadata(&pol).unwrap().len() > 1_000_000,
        "{pol:?}"
    );
    let fc = std::fs::read_to_string(root.join("etc/selinux/default/contexts/files/file_contexts"))
        .unwrap();
    assert!(
        fc.contains("system_u:object_r:bin_t"),
        "file_contexts lacks bin_t"
    );
    let config = std::fs::read_to_string(root.join("etc/selinux/config")).unwrap();
    assert!(config.contains("SELINUX=enforcing") && config.contains("SELINUXTYPE=default"));
    // Our container module is in that policy: the types containerd labels
    // containers with, and the domains of containerd and the kubelet.
    let types = mk_selinux::policy::check_container_types(&root, "default")
        .unwrap_or_else(|e| panic!("container types: {e}"));
    assert_eq!(
        types,
        ["container_t", "container_file_t", "container_ro_file_t"]
    );
    assert!(
        fc.contains("/usr/bin/containerd\t--\tsystem_u:object_r:container_runtime_exec_t:s0")
            && fc.contains("kubelet_exec_t"),
        "file_contexts lacks the mkcontainer module's entries"
    );

    // Kernel, modules.dep, boot loader.
    let vmlinuz: Vec<_> = std::fs::read_dir(root.join("boot"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("vmlinuz-"))
        .collect();
    assert_eq!(vmlinuz.len(), 1, "{vmlinuz:?}");
    let kver = vmlinuz[0].trim_start_matches("vmlinuz-");
    assert!(root
        .join(format!("usr/lib/modules/{kver}/modules.dep"))
        .is_file());
    // The boot loader files the image build copies (docs/image.md, "Boot").
    for f in [
        "usr/lib/shim/shimx64.efi.signed",
        "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
        "usr/lib/grub/i386-pc/boot.img",
        "usr/lib/grub/i386-pc/linux16.mod",
        "usr/bin/grub-mkimage",
    ] {
        assert!(root.join(f).is_file(), "{f} not installed");
    }

    // Merged /usr.
    for (top, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        assert_eq!(
            std::fs::read_link(root.join(top)).unwrap(),
            Path::new(target)
        );
    }
    // The root layout CentOS's filesystem and setup packages give (issue
    // 16): /var/run is a link to /run, /etc/hosts names localhost.
    assert_eq!(
        std::fs::read_link(root.join("var/run")).unwrap(),
        Path::new("../run")
    );
    let (ok, owner, err) = in_chroot(&root, "rpm -qf --qf '%{NAME}' /var/run");
    assert!(ok && owner == "base-files", "{owner}{err}");
    let hosts = std::fs::read_to_string(root.join("etc/hosts")).unwrap();
    assert_eq!(hosts, mk_fixture_distro::scripts::ETC_HOSTS);
    assert!(root.join("etc/services").is_file(), "netbase");
    // ca-certificates' scriptlet filled the trust store: the bundle, a link
    // per certificate and openssl's hash links.
    let certs = root.join("etc/ssl/certs");
    let bundle = std::fs::read_to_string(certs.join("ca-certificates.crt")).unwrap();
    let n = bundle.matches("-----BEGIN CERTIFICATE-----").count();
    assert!(n > 100, "{n} certificates in the bundle");
    let names: Vec<String> = std::fs::read_dir(&certs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let pems = names.iter().filter(|n| n.ends_with(".pem")).count();
    let hashes = names.iter().filter(|n| n.ends_with(".0")).count();
    assert!(
        pems == n && hashes >= n,
        "{pems} .pem, {hashes} hash links, {n} certificates"
    );
    let (ok, out, err) = in_chroot(
        &root,
        "openssl verify -CApath /etc/ssl/certs /usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt",
    );
    assert!(ok && out.contains(": OK"), "{out}{err}");
    // etcdctl for the etcd pod's probes.
    let (ok, out, err) = in_chroot(&root, "etcdctl version");
    assert!(ok && out.contains("etcdctl version:"), "{out}{err}");

    // Programs run from the root: the dynamic loader through /lib64.
    let (ok, out, err) = in_chroot(&root, "/bin/sh -c 'systemctl --version && bash --version'");
    assert!(ok && out.contains("systemd 252"), "{out}{err}");
}
