//! Pure boot planning: kernel arguments, where the kernel and the boot
//! loader (shim, GRUB) are in an installed root.

use mk_kickstart::{Kickstart, SelinuxMode};
use std::path::{Path, PathBuf};

/// Where a distribution's packages put shim, the signed GRUB EFI image and
/// GRUB's BIOS (i386-pc) files. One boot path for every image: only these
/// locations differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubLayout {
    pub distro: &'static str,
    /// shim, signed (path inside the root) and its package.
    pub shim: (&'static str, &'static str),
    /// The vendor-signed monolithic GRUB EFI image and its package.
    pub grub_efi: (&'static str, &'static str),
    /// The signed GRUB's built-in prefix on the ESP, where a one-line
    /// grub.cfg forwards to EFI/mk/grub.cfg.
    pub vendor_dir: &'static str,
    /// i386-pc modules and boot.img, and their package.
    pub grub_pc: (&'static str, &'static str),
    /// The target's grub-mkimage (absolute, run inside the root) and its package.
    pub mkimage: (&'static str, &'static str),
}

/// CentOS 7: shim-x64, grub2-efi-x64, grub2-pc-modules, grub2-tools.
pub const CENTOS7: GrubLayout = GrubLayout {
    distro: "CentOS 7",
    shim: ("boot/efi/EFI/centos/shimx64.efi", "shim-x64"),
    grub_efi: ("boot/efi/EFI/centos/grubx64.efi", "grub2-efi-x64"),
    vendor_dir: "EFI/centos",
    grub_pc: ("usr/lib/grub/i386-pc", "grub2-pc-modules"),
    mkimage: ("/usr/bin/grub2-mkimage", "grub2-tools"),
};

/// Debian 12 (the fixture distribution): shim-signed,
/// grub-efi-amd64-signed, grub-pc-bin, grub-common.
pub const DEBIAN: GrubLayout = GrubLayout {
    distro: "Debian (fixture distribution)",
    shim: ("usr/lib/shim/shimx64.efi.signed", "shim-signed"),
    grub_efi: (
        "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
        "grub-efi-amd64-signed",
    ),
    vendor_dir: "EFI/debian",
    grub_pc: ("usr/lib/grub/i386-pc", "grub-pc-bin"),
    mkimage: ("/usr/bin/grub-mkimage", "grub-common"),
};

pub const GRUB_LAYOUTS: [GrubLayout; 2] = [CENTOS7, DEBIAN];

/// Picks the layout whose shim or GRUB EFI image the root has, and checks
/// that every file of it is there; an error names the packages to add.
pub fn find_grub(root: &Path) -> Result<GrubLayout, String> {
    let has = |p: &str| root.join(p.trim_start_matches('/')).exists();
    let Some(layout) = GRUB_LAYOUTS
        .iter()
        .find(|l| has(l.shim.0) || has(l.grub_efi.0))
    else {
        let lists: Vec<String> = GRUB_LAYOUTS
            .iter()
            .map(|l| {
                format!(
                    "{}: {}, {}, {}, {}",
                    l.distro, l.shim.1, l.grub_efi.1, l.grub_pc.1, l.mkimage.1
                )
            })
            .collect();
        return Err(format!(
            "no shim or GRUB EFI image in the image: add the boot loader packages to %packages ({})",
            lists.join("; ")
        ));
    };
    let boot_img = format!("{}/boot.img", layout.grub_pc.0);
    let missing: Vec<String> = [
        (layout.shim.0, layout.shim.1),
        (layout.grub_efi.0, layout.grub_efi.1),
        (boot_img.as_str(), layout.grub_pc.1),
        (layout.mkimage.0, layout.mkimage.1),
    ]
    .iter()
    .filter(|(p, _)| !has(p))
    .map(|(p, pkg)| format!("/{} (package {pkg})", p.trim_start_matches('/')))
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} boot loader incomplete, missing {}: add the package(s) to %packages",
            layout.distro,
            missing.join(", ")
        ));
    }
    Ok(layout.clone())
}

/// Extra kernel arguments after mk-disk's fixed ones (ro,
/// cgroup.memory=nokmem, selinux=1 security=selinux enforcing=1 panic=10;
/// grub.cfg adds root=PARTUUID and mk.slot): the
/// serial console, the kickstart's SELinux mode when it is not enforcing,
/// and `bootloader --append`, without exact duplicates.
pub fn extra_kernel_args(ks: &Kickstart) -> Vec<String> {
    let fixed = [
        "ro",
        "cgroup.memory=nokmem",
        "selinux=1",
        "security=selinux",
        "enforcing=1",
        "panic=10",
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

    #[test]
    fn grub_files_are_found_or_named_by_package() {
        let d = tempfile::tempdir().unwrap();
        let err = find_grub(d.path()).unwrap_err();
        assert!(
            err.contains("shim-x64") && err.contains("grub-efi-amd64-signed"),
            "{err}"
        );
        let put = |p: &str| {
            let f = d.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "x").unwrap();
        };
        put(CENTOS7.grub_efi.0);
        let err = find_grub(d.path()).unwrap_err();
        assert!(err.starts_with("CentOS 7 boot loader incomplete"), "{err}");
        for pkg in ["shim-x64", "grub2-pc-modules", "grub2-tools"] {
            assert!(err.contains(&format!("(package {pkg})")), "{err}");
        }
        assert!(!err.contains("grub2-efi-x64"), "{err}");
        put(CENTOS7.shim.0);
        put("usr/lib/grub/i386-pc/boot.img");
        put(CENTOS7.mkimage.0);
        assert_eq!(find_grub(d.path()).unwrap(), CENTOS7);
    }
}
