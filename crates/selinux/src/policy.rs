//! What a compiled policy defines, as far as containers need it (issue 16):
//! containerd's CRI plugin with `enable_selinux = true` labels every
//! container with the types the policy's `contexts/lxc_contexts` names
//! (process `container_t`, files `container_file_t`, read-only content
//! `container_ro_file_t`). A policy that names them there but does not
//! define them (Debian's reference policy) makes every pod sandbox fail
//! at mount time with `invalid argument`; the image build checks it first.
//!
//! The types a binary policy defines are read with the host's
//! `checkpolicy -b -C` (the tool that owns the format: the binary policydb
//! has no stable layout worth parsing here), which writes the policy as
//! CIL, whose `(type NAME)` statements list them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::SelinuxError;

/// The `key = "user:role:type:level"` lines of an lxc_contexts file that
/// containerd uses (go-selinux reads `process`, `file` and `ro_file`).
pub const LXC_KEYS: &[&str] = &["process", "file", "ro_file"];

/// (key, type) of each [`LXC_KEYS`] entry in an lxc_contexts text.
pub fn parse_lxc_contexts(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if !LXC_KEYS.contains(&k) {
            continue;
        }
        let context = v.trim().trim_matches('"');
        if let Some(ty) = context.split(':').nth(2) {
            out.push((k.to_string(), ty.to_string()));
        }
    }
    out
}

/// The names of a CIL text's `(type NAME)` statements (type aliases count:
/// `(typealias NAME)`, as the kernel accepts an alias in a context).
pub fn cil_types(cil: &str) -> BTreeSet<String> {
    cil.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix("(type ")
                .or_else(|| l.strip_prefix("(typealias "))?;
            let name = rest.trim_end().strip_suffix(')')?;
            (!name.contains(' ')).then(|| name.to_string())
        })
        .collect()
}

/// The compiled policy of `root` for `policy_type`: the highest
/// `policy.NN` in its policy directory.
pub fn binary_policy_path(root: &Path, policy_type: &str) -> Result<PathBuf, SelinuxError> {
    let dir = root.join("etc/selinux").join(policy_type).join("policy");
    let entries = std::fs::read_dir(&dir).map_err(|source| SelinuxError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut best: Option<(u32, PathBuf)> = None;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(v) = name.strip_prefix("policy.").and_then(|v| v.parse().ok()) {
            if best.as_ref().is_none_or(|(b, _)| v > *b) {
                best = Some((v, e.path()));
            }
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| SelinuxError::Config {
        path: dir,
        message: "no compiled policy (policy.NN): is the policy package installed?".into(),
    })
}

/// The types the binary policy at `policy` defines (`checkpolicy -M -b -C`).
pub fn defined_types(policy: &Path) -> Result<BTreeSet<String>, SelinuxError> {
    let dir = tempfile::tempdir().map_err(|source| SelinuxError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let cil = dir.path().join("policy.cil");
    // checkpolicy must be told whether the policy is MLS/MCS (-M), and
    // refuses the wrong guess: MCS policies (CentOS, Debian) first, then
    // without.
    let run = |mls: bool| {
        let mut cmd = Command::new("checkpolicy");
        if mls {
            cmd.arg("-M");
        }
        cmd.args(["-b", "-C", "-o"])
            .arg(&cil)
            .arg(policy)
            .output()
            .map_err(|e| SelinuxError::Config {
                path: policy.to_path_buf(),
                message: format!("cannot run checkpolicy (apt package checkpolicy): {e}"),
            })
    };
    let mut out = run(true)?;
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("non-MLS policy") {
        out = run(false)?;
    }
    if !out.status.success() {
        return Err(SelinuxError::Config {
            path: policy.to_path_buf(),
            message: format!(
                "checkpolicy could not read it: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let text = std::fs::read_to_string(&cil).map_err(|source| SelinuxError::Io {
        path: cil.clone(),
        source,
    })?;
    Ok(cil_types(&text))
}

/// Checks that `root`'s policy defines the container types its
/// lxc_contexts names, so that containerd can label containers. Returns
/// the types checked.
pub fn check_container_types(root: &Path, policy_type: &str) -> Result<Vec<String>, SelinuxError> {
    let lxc = root
        .join("etc/selinux")
        .join(policy_type)
        .join("contexts/lxc_contexts");
    let text = std::fs::read_to_string(&lxc).map_err(|e| SelinuxError::Config {
        path: lxc.clone(),
        message: format!(
            "{e}: containerd labels containers with the types this file names; \
             install the container policy (CentOS: container-selinux)"
        ),
    })?;
    let wanted = parse_lxc_contexts(&text);
    let missing_keys: Vec<&str> = LXC_KEYS
        .iter()
        .copied()
        .filter(|k| !wanted.iter().any(|(w, _)| w == k))
        .collect();
    if !missing_keys.is_empty() {
        return Err(SelinuxError::Config {
            path: lxc,
            message: format!(
                "no {} context: containerd needs `process`, `file` and `ro_file`",
                missing_keys.join(", ")
            ),
        });
    }
    let policy = binary_policy_path(root, policy_type)?;
    let defined = defined_types(&policy)?;
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(_, t)| !defined.contains(t))
        .map(|(k, t)| format!("{t} ({k})"))
        .collect();
    if !missing.is_empty() {
        return Err(SelinuxError::Config {
            path: policy,
            message: format!(
                "the policy does not define {}, which {} names for containers: containerd's \
                 pod sandboxes would fail (`invalid argument` mounting their root); install \
                 the container policy module (CentOS: container-selinux; the fixture \
                 distribution: mk-fixture-container-selinux)",
                missing.join(", "),
                lxc.strip_prefix(root)
                    .map(|p| format!("/{}", p.display()))
                    .unwrap_or_else(|_| lxc.display().to_string())
            ),
        });
    }
    Ok(wanted.into_iter().map(|(_, t)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_LXC: &str = r#"process = "system_u:system_r:container_t:s0"
content = "system_u:object_r:virt_var_lib_t:s0"
file = "system_u:object_r:container_file_t:s0"
ro_file = "system_u:object_r:container_ro_file_t:s0"
sandbox_lxc_process = "system_u:system_r:container_t:s0"
"#;

    #[test]
    fn lxc_contexts_types_are_read() {
        assert_eq!(
            parse_lxc_contexts(DEBIAN_LXC),
            vec![
                ("process".to_string(), "container_t".to_string()),
                ("file".into(), "container_file_t".into()),
                ("ro_file".into(), "container_ro_file_t".into()),
            ]
        );
    }

    #[test]
    fn cil_types_lists_types_and_aliases_only() {
        let cil = "(type init_t)\n(typealias docker_t)\n(typeattribute domain)\n(typeattributeset domain (init_t))\n(allow init_t self (process (fork)))\n";
        let t = cil_types(cil);
        assert_eq!(
            t.into_iter().collect::<Vec<_>>(),
            vec!["docker_t".to_string(), "init_t".to_string()]
        );
    }

    /// A tiny but complete policy compiled by the host's checkpolicy, with
    /// or without container_file_t.
    fn root_with_policy(with_file_type: bool) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("etc/selinux/t");
        std::fs::create_dir_all(d.join("policy")).unwrap();
        std::fs::create_dir_all(d.join("contexts")).unwrap();
        std::fs::write(d.join("contexts/lxc_contexts"), DEBIAN_LXC).unwrap();
        let extra = if with_file_type {
            "type container_file_t;\n"
        } else {
            ""
        };
        let conf = format!(
            "class process\nclass file\nsid kernel\ncommon file {{ read }}\nclass process {{ fork }}\nclass file inherits file\n\
             type kernel_t;\ntype container_t;\ntype container_ro_file_t;\n{extra}\
             allow kernel_t self:process fork;\nrole system_r;\nrole system_r types {{ kernel_t container_t }};\n\
             user system_u roles system_r;\nsid kernel system_u:system_r:kernel_t\n"
        );
        let src = root.path().join("policy.conf");
        std::fs::write(&src, conf).unwrap();
        let st = Command::new("checkpolicy")
            .arg("-o")
            .arg(d.join("policy/policy.33"))
            .arg(&src)
            .output()
            .expect("checkpolicy (apt package checkpolicy)");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        root
    }

    #[test]
    fn a_policy_without_the_file_type_is_refused_naming_it() {
        let root = root_with_policy(false);
        let e = check_container_types(root.path(), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("container_file_t (file)"), "{e}");
        assert!(e.contains("/etc/selinux/t/contexts/lxc_contexts"), "{e}");
        assert!(!e.contains("container_t (process)"), "{e}");
        let root = root_with_policy(true);
        assert_eq!(
            check_container_types(root.path(), "t").unwrap(),
            vec!["container_t", "container_file_t", "container_ro_file_t"]
        );
    }

    #[test]
    fn no_lxc_contexts_is_refused() {
        let root = root_with_policy(true);
        std::fs::remove_file(root.path().join("etc/selinux/t/contexts/lxc_contexts")).unwrap();
        let e = check_container_types(root.path(), "t")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lxc_contexts") && e.contains("container-selinux"),
            "{e}"
        );
    }
}
