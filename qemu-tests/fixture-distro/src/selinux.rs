//! The container policy module of the fixture distribution (issue 16):
//! Debian's reference policy defines no container types, while containerd's
//! CRI plugin labels containers with the ones the policy's lxc_contexts
//! names (container_t, container_file_t, container_ro_file_t). CentOS nodes
//! get them from container-selinux; the fixture gets ours,
//! qemu-tests/fixture-selinux/mkcontainer.{te,fc}, compiled here with the
//! host's checkmodule (apt `checkpolicy`) and semodule_package, and shipped
//! as the package [`PACKAGE`], whose %posttrans loads it into the image's
//! policy store as container-selinux's %post does on CentOS.

use std::path::Path;
use std::process::Command;

use mk_rpmpack::{Dep, Package, Script, ScriptKind};

/// The package that ships the module.
pub const PACKAGE: &str = "mk-fixture-container-selinux";
/// Module name (the `module` line of the .te).
pub const MODULE: &str = "mkcontainer";
/// Where the package puts the compiled module (as CentOS's
/// container-selinux does, under /usr/share/selinux/packages).
pub const PP_PATH: &str = "/usr/share/selinux/packages/mkcontainer.pp";
/// The module's sources (part of the fixture's cache key).
pub const TE: &str = include_str!("../../fixture-selinux/mkcontainer.te");
pub const FC: &str = include_str!("../../fixture-selinux/mkcontainer.fc");

/// Compiles the module in `work` (a scratch directory): the .pp bytes.
pub fn compile(work: &Path) -> Result<Vec<u8>, String> {
    let te = work.join("mkcontainer.te");
    let fc = work.join("mkcontainer.fc");
    let module = work.join("mkcontainer.mod");
    let pp = work.join("mkcontainer.pp");
    for (p, text) in [(&te, TE), (&fc, FC)] {
        std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let run = |program: &str, args: &[&std::ffi::OsStr]| -> Result<(), String> {
        let out = Command::new(program).args(args).output().map_err(|e| {
            format!("cannot run {program}: {e} (apt packages checkpolicy and semodule-utils)")
        })?;
        if !out.status.success() {
            return Err(format!(
                "{program} failed on qemu-tests/fixture-selinux/mkcontainer: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    };
    run(
        "checkmodule",
        &[
            "-M".as_ref(),
            "-m".as_ref(),
            "-o".as_ref(),
            module.as_os_str(),
            te.as_os_str(),
        ],
    )?;
    run(
        "semodule_package",
        &[
            "-o".as_ref(),
            pp.as_os_str(),
            "-m".as_ref(),
            module.as_os_str(),
            "-f".as_ref(),
            fc.as_os_str(),
        ],
    )?;
    std::fs::read(&pp).map_err(|e| format!("{}: {e}", pp.display()))
}

/// The package: the module file, loaded by %post and removed by %postun
/// on erase (`$1 == 0`).
pub fn package(pp: Vec<u8>, build_time: u32) -> Package {
    let mut p = Package::new(PACKAGE, "1", "0.mk");
    p.arch("noarch")
        .summary("Container types for the fixture's SELinux policy (mk tests)")
        .description(
            "container_t, container_file_t, container_ro_file_t and the \
             container_runtime_t / kubelet_t domains for Debian's reference \
             policy, as container-selinux provides them on CentOS.",
        )
        .license("Apache-2.0")
        .build_host("mk-fixture-distro.invalid")
        .build_time(build_time)
        .requires(Dep::any("selinux-policy-default"))
        .requires_post(Dep::any("policycoreutils"))
        .requires_post(Dep::any("selinux-policy-default"))
        .dir("/usr/share/selinux/packages", 0o755)
        .file(PP_PATH, pp, 0o644)
        // %posttrans: the fixture's selinux-policy-default builds its store
        // in %posttrans (fixture scripts.rs), which runs before ours (we
        // require it); -n: into the store only, as that one does.
        .script(
            ScriptKind::Posttrans,
            Script::shell(&format!("semodule -n -s default -i {PP_PATH}\n")),
        )
        .script(
            ScriptKind::Postun,
            Script::shell(&format!(
                "if [ \"$1\" -eq 0 ]; then semodule -r {MODULE} || :; fi\n"
            )),
        );
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_compiles_with_the_hosts_tools() {
        let dir = tempfile::tempdir().unwrap();
        let pp = compile(dir.path()).unwrap();
        // A policy package starts with its magic (0xf97cff8f, LE).
        assert_eq!(&pp[..4], &0xf97cff8fu32.to_le_bytes());
        let pkg = package(pp, 1_700_000_000);
        assert!(pkg.files().iter().any(|f| f.path == PP_PATH));
    }

    #[test]
    fn lxc_context_types_are_defined() {
        // Debian's contexts/lxc_contexts names these; containerd uses them.
        for t in ["container_t", "container_file_t", "container_ro_file_t"] {
            assert!(
                TE.lines().any(|l| l.trim() == format!("type {t};")),
                "{t} is not declared in mkcontainer.te"
            );
        }
    }
}
