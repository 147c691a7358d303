//! The production kickstart (R15: CentOS 7.6) as mk, pykickstart and the
//! CentOS 7 comps see it.

use mk_depsolve::{Comps, ItemKind};
use mk_kickstart::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kickstart/centos-7.6-node.ks")
}

fn comps_fixture() -> PathBuf {
    mk_fixtures::fixture("el7-comps/c7-x86_64-comps.xml")
}

fn parsed() -> Kickstart {
    Kickstart::read(&shipped()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn our_parser_accepts_the_shipped_kickstart_with_the_node_settings() {
    let ks = parsed();
    assert_eq!(ks.selinux.unwrap().mode, SelinuxMode::Enforcing, "R13");
    let boot = ks.bootloader.unwrap();
    for arg in ["cgroup.memory=nokmem", "selinux=1", "enforcing=1"] {
        assert!(
            boot.append.iter().any(|a| a == arg),
            "{arg} missing: {:?}",
            boot.append
        );
    }
    assert_eq!(
        ks.rootpw.unwrap().crypted_password,
        None,
        "root locked, no hash"
    );
    let fw = ks.firewall.unwrap();
    assert!(fw.enabled);
    assert_eq!(fw.services, ["ssh"]);
    assert!(fw.ports.is_empty());
    let services = ks.services.unwrap();
    // NetworkManager brings the links up (kickstart `network`, then the
    // role config's spec.network; issue 14).
    for s in ["mk-firstboot", "firewalld", "containerd", "NetworkManager"] {
        assert!(services.enabled.iter().any(|e| e == s), "{s} not enabled");
    }
    assert!(!services.disabled.iter().any(|d| d == "NetworkManager"));
    assert_eq!(ks.networks.len(), 1, "the image's default network setup");
    // No password at all; the admin is locked.
    assert!(ks
        .users
        .iter()
        .all(|u| u.lock && u.crypted_password.is_none()));

    // The GPT layout of DESIGN section 2.
    let parts: Vec<(&str, FsType, bool)> = ks
        .parts
        .iter()
        .map(|p| (p.mountpoint.as_str(), p.fstype, p.grow))
        .collect();
    assert_eq!(
        parts,
        [
            ("biosboot", FsType::BiosBoot, false),
            ("/boot/efi", FsType::Efi, false),
            ("/", FsType::Ext4, false),
            ("/var", FsType::Ext4, true),
        ]
    );

    let pkgs = ks.packages.unwrap();
    let names: Vec<String> = pkgs
        .request
        .items
        .iter()
        .map(|i| i.kind.to_string())
        .collect();
    for want in [
        "kernel",
        "containerd",
        "runc",
        "kubelet",
        "etcd",
        "firewalld",
        "NetworkManager",
        "mk-firstboot",
        "-docker",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from %packages: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.contains("kubeadm")),
        "we mimic kubeadm ourselves"
    );
    // Build-time scripts stay offline and fail the build on error.
    assert!(ks.post.iter().all(|p| p.erroronfail && !p.nochroot));
}

#[test]
fn groups_exist_in_centos7_comps_and_exclusions_matter() {
    let comps = Comps::read(&comps_fixture()).unwrap();
    let ks = parsed();
    let request = ks.packages.unwrap().request;
    let mut brought = Vec::new();
    let mut groups = 0;
    for item in &request.items {
        match &item.kind {
            ItemKind::Group {
                id,
                optional,
                nodefaults,
            } => {
                let g = comps.group(id).unwrap_or_else(|| {
                    panic!(
                        "line {}: @{id} is not a group of CentOS 7's comps",
                        item.line
                    )
                });
                brought.extend(g.packages(*optional, *nodefaults));
                groups += 1;
            }
            ItemKind::Environment(id) => {
                assert!(
                    comps.environment(id).is_some(),
                    "line {}: @^{id} unknown",
                    item.line
                );
            }
            ItemKind::ExcludeGroup(id) => {
                assert!(
                    comps.group(id).is_some(),
                    "line {}: -@{id} unknown",
                    item.line
                );
            }
            _ => {}
        }
    }
    assert!(groups > 0, "the node kickstart installs @core");
    // `@core --nodefaults` must not bring NetworkManager or postfix (defaults).
    assert!(!brought.contains(&"postfix"), "{brought:?}");
    assert!(brought.contains(&"systemd") && brought.contains(&"selinux-policy-targeted"));
    // Every exclusion removes something a group brings in, except the
    // Docker ones that guard R16.
    for item in &request.items {
        if let ItemKind::Exclude(name) = &item.kind {
            if !name.starts_with("docker") {
                assert!(
                    brought.contains(&name.as_str()),
                    "line {}: -{name} excludes nothing the groups bring in",
                    item.line
                );
            }
        }
    }
}

fn ksvalidator(file: &Path) -> std::process::Output {
    Command::new("ksvalidator")
        .args(["-v", "RHEL7"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run ksvalidator ({e}); CI installs it with `pip install pykickstart`")
        })
}

#[test]
fn pykickstart_validates_the_shipped_kickstart_for_rhel7() {
    let out = ksvalidator(&shipped());
    assert!(
        out.status.success(),
        "ksvalidator -v RHEL7 failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check has teeth: a command RHEL 7 lacks is reported.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.ks");
    let text = std::fs::read_to_string(shipped()).unwrap()
        + "sshkey --username=root \"ssh-ed25519 AAAA\"\n";
    std::fs::write(&bad, text).unwrap();
    let out = ksvalidator(&bad);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Unknown command: sshkey"), "{stderr}");
}

#[test]
fn example_site_kickstart_parses() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/site/node.ks");
    let ks = Kickstart::read(&p).unwrap_or_else(|e| panic!("{e}"));
    assert!(!ks.packages.unwrap().request.items.is_empty());
    let out = ksvalidator(&p);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
