//! Pure boot planning: kernel arguments, loader.conf, where the kernel and
//! the boot loader are in an installed root.

use mk_kickstart::{Kickstart, SelinuxMode};
use std::path::{Path, PathBuf};

/// Where systemd-boot-efi installs the EFI binary (Debian, Fedora, EL9).
pub const SYSTEMD_BOOT_EFI: &str = "usr/lib/systemd/boot/efi/systemd-bootx64.efi";

/// Extra kernel arguments after mk-disk's fixed ones (root=PARTUUID, ro,
/// cgroup.memory=nokmem, selinux=1 security=selinux enforcing=1): the
/// serial console, the kickstart's SELinux mode when it is not enforcing,
/// and `bootloader --append`, without exact duplicates.
pub fn extra_kernel_args(ks: &Kickstart) -> Vec<String> {
    let fixed = [
        "ro",
        "cgroup.memory=nokmem",
        "selinux=1",
        "security=selinux",
        "enforcing=1",
    ];
    let mut out: Vec<String> = vec!["console=ttyS0,115200".into()];
    match ks.selinux.as_ref().map(|s| s.mode) {
        Some(SelinuxMode::Permissive) => out.push("enforcing=0".into()),
        Some(SelinuxMode::Disabled) => out.push("selinux=0".into()),
        _ => {}
    }
    if let Some(b) = &ks.bootloader {
        for a in &b.append {
            // The kernel takes the last console= as /dev/console: keep order.
            if a.starts_with("console=") {
                out.retain(|o| o != a);
                out.push(a.clone());
            } else if !fixed.contains(&a.as_str()) && !out.contains(a) {
                out.push(a.clone());
            }
        }
    }
    out
}

/// systemd-boot's loader.conf.
pub fn loader_conf(ks: &Kickstart, entry: &str) -> String {
    let timeout = ks.bootloader.as_ref().and_then(|b| b.timeout).unwrap_or(0);
    format!("default {entry}\ntimeout {timeout}\neditor no\nconsole-mode keep\n")
}

/// The kernel of an installed root: (version, image path inside the root).
/// Exactly one kernel must be installed.
pub fn find_kernel(root: &Path) -> Result<(String, PathBuf), String> {
    let mut versions = Vec::new();
    for dir in ["usr/lib/modules", "lib/modules"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    if let Some(n) = e.file_name().to_str() {
                        if !versions.contains(&n.to_string()) {
                            versions.push(n.to_string());
                        }
                    }
                }
            }
        }
    }
    versions.sort();
    match versions.len() {
        0 => {
            return Err(
                "no kernel installed (no /lib/modules/VERSION): add a kernel package to %packages"
                    .into(),
            )
        }
        1 => {}
        _ => {
            return Err(format!(
                "{} kernels installed ({}): an image boots exactly one",
                versions.len(),
                versions.join(", ")
            ))
        }
    }
    let v = versions.remove(0);
    for cand in [
        format!("boot/vmlinuz-{v}"),
        format!("usr/lib/modules/{v}/vmlinuz"),
        format!("lib/modules/{v}/vmlinuz"),
    ] {
        if root.join(&cand).is_file() {
            return Ok((v, PathBuf::from(cand)));
        }
    }
    Err(format!(
        "kernel {v}: no /boot/vmlinuz-{v} or /lib/modules/{v}/vmlinuz in the root"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_args_follow_the_kickstart() {
        let ks = Kickstart::parse(
            "k.ks",
            "selinux --permissive\nbootloader --timeout=3 --append=\"cgroup.memory=nokmem selinux=1 quiet console=tty0 console=ttyS0,115200\"\n",
        )
        .unwrap();
        assert_eq!(
            extra_kernel_args(&ks),
            [
                "enforcing=0",
                "quiet",
                "console=tty0",
                "console=ttyS0,115200"
            ]
        );
        assert!(loader_conf(&ks, "mk.conf").contains("timeout 3\n"));
        let ks = Kickstart::parse("k.ks", "selinux --enforcing\n").unwrap();
        assert_eq!(extra_kernel_args(&ks), ["console=ttyS0,115200"]);
    }

    #[test]
    fn exactly_one_kernel() {
        let d = tempfile::tempdir().unwrap();
        assert!(find_kernel(d.path()).unwrap_err().contains("no kernel"));
        std::fs::create_dir_all(d.path().join("lib/modules/6.1.0-x")).unwrap();
        assert!(find_kernel(d.path())
            .unwrap_err()
            .contains("no /boot/vmlinuz-6.1.0-x"));
        std::fs::create_dir_all(d.path().join("boot")).unwrap();
        std::fs::write(d.path().join("boot/vmlinuz-6.1.0-x"), "k").unwrap();
        assert_eq!(
            find_kernel(d.path()).unwrap(),
            ("6.1.0-x".to_string(), PathBuf::from("boot/vmlinuz-6.1.0-x"))
        );
        std::fs::create_dir_all(d.path().join("lib/modules/6.2")).unwrap();
        assert!(find_kernel(d.path()).unwrap_err().contains("2 kernels"));
    }
}
