//! Maintainer scripts that matter, rewritten as RPM scriptlets. Debian's
//! own scripts call dpkg and debconf helpers (dpkg-maintscript-helper,
//! deb-systemd-helper, update-alternatives ...) that make no sense under
//! rpm, so none is carried over; this table lists, per package, what a
//! booting, SELinux-enforcing root needs, with the files those scriptlets
//! create declared `%ghost` so that the image's unowned-file check passes.
//! What scriptlets create below directories we cannot list file by file
//! is in [`SCRIPTLET_STATE`]. A few packages also get files Debian's
//! installer or scripts would create (/etc/hosts, /etc/ca-certificates.conf)
//! or a payload entry replaced (/var/run: a link to /run, as on CentOS).

use mk_rpmpack::{FileSpec, ScriptKind};

/// Unowned paths the curated scriptlets leave (allow-list for
/// `mk_install::InstallOptions::allowed_unowned`).
pub const SCRIPTLET_STATE: &[&str] = &[
    // Backups and lock of useradd/groupadd/pwconv/systemd-sysusers.
    "/etc/passwd-",
    "/etc/group-",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/.pwd.lock",
    "/etc/subuid",
    "/etc/subgid",
    "/etc/subuid-",
    "/etc/subgid-",
    // The SELinux module store and the files semodule builds from it
    // (policy.33 and file_contexts are ghosts; the rest varies).
    "/var/lib/selinux/**",
    "/etc/selinux/default/**",
    // update-ca-certificates' links: one per certificate (NAME.pem) and one
    // per subject hash (HASH.0), names only openssl computes. The bundle
    // programs read, ca-certificates.crt, is a ghost of ca-certificates.
    "/etc/ssl/certs/**",
];

/// `/etc/hosts` as CentOS 7's `setup` package ships it (byte for byte):
/// Debian's installer writes one, no package ships it.
pub const ETC_HOSTS: &str =
    "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n\
::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n";

/// Where Debian's ca-certificates keeps the certificates it ships.
const CA_CERTS_DIR: &str = "/usr/share/ca-certificates/";

/// The curated additions for one package.
#[derive(Debug, Default)]
pub struct Curated {
    pub scripts: Vec<(ScriptKind, String)>,
    /// Extra entries (ghosts, or files Debian creates in scripts).
    pub files: Vec<FileSpec>,
    /// Entries that replace the payload's entry at the same path (a
    /// directory Debian's scripts turn into a symlink).
    pub replaces: Vec<FileSpec>,
    /// `Requires(post)` for what the scriptlets run.
    pub requires_post: Vec<&'static str>,
    /// `Requires(pre)`.
    pub requires_pre: Vec<&'static str>,
}

/// Files `depmod` writes for a kernel.
const DEPMOD_OUTPUT: &[&str] = &[
    "modules.alias",
    "modules.alias.bin",
    "modules.builtin.alias.bin",
    "modules.builtin.bin",
    "modules.dep",
    "modules.dep.bin",
    "modules.devname",
    "modules.softdep",
    "modules.symbols",
    "modules.symbols.bin",
];

/// The curated additions for `package`, whose payload holds `paths`
/// (canonical, merged-usr).
pub fn curated(package: &str, paths: &[&str]) -> Curated {
    let mut c = Curated::default();
    match package {
        // The root layout CentOS's `filesystem` and `setup` packages ship
        // and Debian's base-files does not: /var/run is a link to /run
        // (base-files ships a directory, which its postinst, not carried
        // over, migrates), so that /var/run/... and /run/... are the same
        // tmpfs on a node whose /var is the persistent state partition;
        // and /etc/hosts (localhost), which the kubelet mounts into
        // host-network pods.
        "base-files" => {
            c.replaces.push(FileSpec::symlink("/var/run", "../run"));
            c.files.push(
                FileSpec::bytes("/etc/hosts", ETC_HOSTS)
                    .mode(0o644)
                    .noreplace(),
            );
        }
        // Debian's postinst writes /etc/ca-certificates.conf from debconf
        // (every certificate enabled by default) and runs
        // update-ca-certificates: links in /etc/ssl/certs and the bundle
        // /etc/ssl/certs/ca-certificates.crt. The same here, the list from
        // the payload; after the whole transaction (openssl's rehash).
        "ca-certificates" => {
            let mut conf = String::from(
                "# Written by mk-fixture-distro (Debian's ca-certificates postinst writes it\n\
                 # from debconf): every certificate the package ships is trusted.\n",
            );
            let mut certs: Vec<&str> = paths
                .iter()
                .filter_map(|p| p.strip_prefix(CA_CERTS_DIR))
                .filter(|p| p.ends_with(".crt"))
                .collect();
            certs.sort();
            for crt in certs {
                conf.push_str(crt);
                conf.push('\n');
            }
            c.files.push(
                FileSpec::bytes("/etc/ca-certificates.conf", conf)
                    .mode(0o644)
                    .noreplace(),
            );
            c.scripts.push((
                ScriptKind::Posttrans,
                "update-ca-certificates --hooksdir \"\"\n".into(),
            ));
            c.files
                .push(FileSpec::ghost("/etc/ssl/certs/ca-certificates.crt").mode(0o644));
            c.requires_post
                .extend(["openssl", "coreutils", "sed", "findutils"]);
        }
        // dpkg's base-passwd postinst copies the master files when absent:
        // every other account tool edits them.
        "base-passwd" => {
            c.scripts.push((
                ScriptKind::Post,
                "[ -e /etc/passwd ] || cp /usr/share/base-passwd/passwd.master /etc/passwd\n\
                 [ -e /etc/group ] || cp /usr/share/base-passwd/group.master /etc/group\n\
                 chmod 0644 /etc/passwd /etc/group\n"
                    .into(),
            ));
            c.files
                .push(FileSpec::ghost("/etc/passwd").mode(0o644).noreplace());
            c.files
                .push(FileSpec::ghost("/etc/group").mode(0o644).noreplace());
            c.requires_post.push("coreutils");
        }
        // passwd's postinst runs `shadowconfig on`: shadow files from passwd
        // and group, readable by group shadow.
        "passwd" => {
            c.scripts.push((
                ScriptKind::Post,
                "[ -e /etc/shadow ] || pwconv\n\
                 [ -e /etc/gshadow ] || grpconv\n\
                 chown root:shadow /etc/shadow /etc/gshadow\n\
                 chmod 0640 /etc/shadow /etc/gshadow\n"
                    .into(),
            ));
            for p in ["/etc/shadow", "/etc/gshadow"] {
                c.files.push(
                    FileSpec::ghost(p)
                        .mode(0o640)
                        .owner("root", "shadow")
                        .noreplace(),
                );
            }
            c.requires_post.extend(["base-passwd", "coreutils"]);
            c.requires_pre.push("base-passwd");
        }
        // The system users and groups of every sysusers.d file in the set
        // (systemd-journal, systemd-network, messagebus ...): after the
        // whole transaction, so that files of packages installed after
        // systemd are seen.
        "systemd" => {
            c.scripts
                .push((ScriptKind::Posttrans, "systemd-sysusers\n".into()));
            c.requires_post.extend(["passwd", "base-passwd"]);
        }
        // The dynamic linker's cache, once all libraries are in.
        "libc-bin" => {
            c.scripts.push((ScriptKind::Posttrans, "ldconfig\n".into()));
            c.files
                .push(FileSpec::ghost("/etc/ld.so.cache").mode(0o644));
            c.files
                .push(FileSpec::ghost("/var/cache/ldconfig/aux-cache").mode(0o600));
        }
        // Install the policy modules into the store and build the binary
        // policy and file_contexts (what Debian's postinst does with
        // semodule), without loading it into the running kernel (-n).
        "selinux-policy-default" => {
            c.scripts.push((
                ScriptKind::Posttrans,
                "set -e\n\
                 cd /usr/share/selinux/default\n\
                 args=\n\
                 for m in $(cat .modules); do args=\"$args -i $m.pp.bz2\"; done\n\
                 semodule -X 100 -n -s default $args\n"
                    .into(),
            ));
            c.files.push(
                FileSpec::bytes(
                    "/etc/selinux/config",
                    "# Written by mk-fixture-distro (Debian's selinux-basics would).\n\
                     SELINUX=enforcing\n\
                     SELINUXTYPE=default\n",
                )
                .noreplace(),
            );
            c.files
                .push(FileSpec::ghost("/etc/selinux/default/policy/policy.33").mode(0o644));
            c.files.push(
                FileSpec::ghost("/etc/selinux/default/contexts/files/file_contexts").mode(0o644),
            );
            c.requires_post
                .extend(["policycoreutils", "semodule-utils", "libsemanage-common"]);
        }
        // Debian's rpm keeps its database in ~/.rpmdb (rpm is a guest on a
        // dpkg system there); in this distribution rpm owns the system, so
        // the database lives where CentOS keeps it.
        "rpm-common" => {
            c.files.push(
                FileSpec::bytes(
                    "/usr/lib/rpm/macros.d/macros.mk-dbpath",
                    "# mk-fixture-distro: rpm is the system's package manager here.\n\
                     %_dbpath /var/lib/rpm\n",
                )
                .mode(0o644),
            );
        }
        _ => {}
    }
    // Kernel images: module dependency files, which Debian's postinst
    // generates with depmod (dracut and modprobe need them).
    if let Some(kver) = package.strip_prefix("linux-image-") {
        if kver.starts_with(|c: char| c.is_ascii_digit()) {
            c.scripts
                .push((ScriptKind::Posttrans, format!("depmod -a {kver}\n")));
            for f in DEPMOD_OUTPUT {
                c.files
                    .push(FileSpec::ghost(&format!("/usr/lib/modules/{kver}/{f}")).mode(0o644));
            }
            c.requires_post.push("kmod");
        }
    }
    c
}
