//! systemd-boot loader entries (Boot Loader Specification, type #1).

use uuid::Uuid;

/// Kernel arguments every node boots with: root by PARTUUID, mounted
/// read-only (readonly-root), no kernel memory accounting in memory cgroups
/// (R8: CentOS 7's kernel leaks kmem caches with it on), SELinux enforcing (R13).
pub fn kernel_options(root_partuuid: Uuid) -> Vec<String> {
    vec![
        format!("root=PARTUUID={root_partuuid}"),
        "ro".into(),
        "cgroup.memory=nokmem".into(),
        "selinux=1".into(),
        "security=selinux".into(),
        "enforcing=1".into(),
    ]
}

/// What the entry boots. Paths are relative to the ESP root, with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderEntry {
    /// File name under `loader/entries/`, e.g. `mk.conf`.
    pub file_name: String,
    pub title: String,
    pub linux: String,
    pub initrd: String,
    /// Appended after the fixed options (console=..., etc.).
    pub extra_options: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoaderError {
    #[error("loader entry {field}: {value:?} {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

fn check(field: &'static str, value: &str, path: bool) -> Result<(), LoaderError> {
    let bad = |reason| {
        Err(LoaderError::Invalid {
            field,
            value: value.to_string(),
            reason,
        })
    };
    if value.trim().is_empty() {
        return bad("must not be empty");
    }
    if value.chars().any(char::is_control) {
        return bad("must not contain control characters or newlines");
    }
    if path && !value.starts_with('/') {
        return bad("must be an absolute path on the ESP (starting with /)");
    }
    if path && value.contains(char::is_whitespace) {
        return bad("must not contain whitespace");
    }
    Ok(())
}

/// Renders the entry file's text.
pub fn render_loader_entry(
    entry: &LoaderEntry,
    root_partuuid: Uuid,
) -> Result<String, LoaderError> {
    let name_ok = entry.file_name.ends_with(".conf")
        && !entry.file_name.contains('/')
        && entry.file_name.len() > 5;
    if !name_ok {
        return Err(LoaderError::Invalid {
            field: "file_name",
            value: entry.file_name.clone(),
            reason: "must be a plain file name ending in .conf",
        });
    }
    check("title", &entry.title, false)?;
    check("linux", &entry.linux, true)?;
    check("initrd", &entry.initrd, true)?;
    for o in &entry.extra_options {
        check("extra_options", o, false)?;
        if o.contains(char::is_whitespace) {
            return Err(LoaderError::Invalid {
                field: "extra_options",
                value: o.clone(),
                reason: "must be one word each",
            });
        }
    }
    let mut options = kernel_options(root_partuuid);
    // An extra `enforcing=` / `selinux=` replaces the fixed one: libselinux
    // reads the first `enforcing=` on the command line, so appending
    // `enforcing=0` after `enforcing=1` would leave a permissive image
    // enforcing.
    for key in ["enforcing=", "selinux="] {
        if entry.extra_options.iter().any(|o| o.starts_with(key)) {
            options.retain(|o| !o.starts_with(key));
        }
    }
    options.extend(entry.extra_options.iter().cloned());
    Ok(format!(
        "title {}\nlinux {}\ninitrd {}\noptions {}\n",
        entry.title,
        entry.linux,
        entry.initrd,
        options.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LoaderEntry {
        LoaderEntry {
            file_name: "mk.conf".into(),
            title: "mk node (CentOS 7.6)".into(),
            linux: "/vmlinuz-3.10.0-957.el7.x86_64".into(),
            initrd: "/initramfs-3.10.0-957.el7.x86_64.img".into(),
            extra_options: vec!["console=ttyS0,115200".into()],
        }
    }

    #[test]
    fn renders_bls_entry_with_required_options() {
        let u = uuid::uuid!("0d0e0f10-1112-4314-9516-1718191a1b1c");
        let text = render_loader_entry(&entry(), u).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "title mk node (CentOS 7.6)");
        assert_eq!(lines[1], "linux /vmlinuz-3.10.0-957.el7.x86_64");
        assert_eq!(lines[2], "initrd /initramfs-3.10.0-957.el7.x86_64.img");
        let opts: Vec<&str> = lines[3]
            .strip_prefix("options ")
            .unwrap()
            .split(' ')
            .collect();
        assert_eq!(
            opts[0],
            "root=PARTUUID=0d0e0f10-1112-4314-9516-1718191a1b1c"
        );
        for o in [
            "ro",
            "cgroup.memory=nokmem",
            "selinux=1",
            "security=selinux",
            "enforcing=1",
        ] {
            assert!(opts.contains(&o), "{o} missing in {opts:?}");
        }
        assert_eq!(opts.last(), Some(&"console=ttyS0,115200"));
        assert_eq!(lines.len(), 4);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn an_extra_selinux_mode_replaces_the_fixed_one() {
        let mut e = entry();
        e.extra_options = vec!["enforcing=0".into(), "console=ttyS0,115200".into()];
        let text = render_loader_entry(&e, Uuid::nil()).unwrap();
        let opts = text.lines().find(|l| l.starts_with("options ")).unwrap();
        let n = opts
            .split(' ')
            .filter(|o| o.starts_with("enforcing="))
            .count();
        assert_eq!(n, 1, "{opts}");
        assert!(opts.contains(" enforcing=0 "), "{opts}");
    }

    #[test]
    fn refuses_broken_fields() {
        let u = Uuid::nil();
        let mut e = entry();
        e.title = "a\nlinux /evil".into();
        let err = render_loader_entry(&e, u).unwrap_err().to_string();
        assert!(err.contains("title") && err.contains("newlines"), "{err}");
        let mut e = entry();
        e.linux = "vmlinuz".into();
        assert!(render_loader_entry(&e, u)
            .unwrap_err()
            .to_string()
            .contains("linux"));
        let mut e = entry();
        e.file_name = "../x.conf".into();
        assert!(render_loader_entry(&e, u).is_err());
        let mut e = entry();
        e.extra_options = vec!["a b".into()];
        assert!(render_loader_entry(&e, u).is_err());
    }
}
