//! First boot on the booted example image (issue 5): the example image
//! (examples/image) with a test overlay holding a freshly generated admin
//! key in /etc/mk/config-trust, booted in QEMU with a second virtio disk: a
//! signed config drive made by `mk-compose config-drive` for a single server
//! (bootstrap control plane + worker) whose control plane is QEMU's user
//! network (the guest is 10.0.2.15). Judged from the serial console:
//! mk-firstboot's summary (applied, N changes, no failed step) and the
//! test overlay's check unit (files, owners, labels, the state-partition
//! bind mounts, SELinux still enforcing).
//!
//! Needs what boot.rs needs, and mtools (the FAT config drive).

use mk_qemu_tests::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const NODE: &str = "node1.example.test";
/// QEMU's default NIC MAC address.
const MAC: &str = "52:54:00:12:34:56";

const CONFIG: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
match:
  macAddresses: [\"52:54:00:12:34:56\"]
metadata:
  name: node1.example.test
spec:
  roles: [bootstrap-control-plane, worker]
  cluster:
    name: lab
    domain: example.test
    apiEndpoint: {dnsName: api.example.test}
  planes:
    control: {cidr: 10.0.2.0/24}
  encryptionAtRest:
    provider: secretbox
    keys:
      - name: key1
        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
";

fn ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// mk-compose from this workspace, built by the cargo that builds this
/// test, into the same target directory (this binary is target/<profile>/deps/x).
fn mk_compose() -> Command {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "-q", "-p", "mk-compose", "--bin", "mk-compose"])
        .current_dir(workspace());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    ok(&mut cargo);
    Command::new(profile_dir.join("mk-compose"))
}

/// The admin's side: PKI, signing key, the node's issued tree, the signed
/// config drive. Returns (drive image, public key).
///
/// FAT, the default format: mformat writes a partition table whose one
/// entry covers the whole disk from sector 0, so the kernel shows the drive
/// twice (vdb and vdb1, same bytes); mk-firstboot must count it once.
/// (ISO drives are covered by firstboot/tests.)
fn site(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let p = |rel: &str| dir.join(rel);
    std::fs::write(p("root-password"), "root password for the test\n").unwrap();
    std::fs::write(p("key-password"), "key password for the test\n").unwrap();
    let compose = || mk_compose();
    ok(compose()
        .args(["pki", "init", "--dir"])
        .arg(p("pki"))
        .args([
            "--domain",
            "example.test",
            "--api-endpoint",
            "api.example.test",
        ])
        .args(["--password-fd", "0"])
        .stdin(std::fs::File::open(p("root-password")).unwrap()));
    ok(compose()
        .args(["keygen", "--out-dir"])
        .arg(p("keys"))
        .arg("--password-file")
        .arg(p("key-password")));
    std::fs::write(
        p("node.yaml"),
        format!(
            "name: {NODE}\ncluster_domain: example.test\nroles: [control-plane, etcd, worker]\n"
        ),
    )
    .unwrap();
    let mut cmd = compose();
    cmd.args(["pki", "intermediate", "--dir"])
        .arg(p("pki"))
        .args(["--host", NODE]);
    for r in ["etcd", "kubernetes", "front-proxy", "kubelet-serving"] {
        cmd.args(["--realm", r]);
    }
    ok(cmd
        .args(["--password-fd", "0"])
        .stdin(std::fs::File::open(p("root-password")).unwrap()));
    ok(compose()
        .args(["pki", "issue-node", "--dir"])
        .arg(p("pki"))
        .arg("--node")
        .arg(p("node.yaml"))
        .arg("--out")
        .arg(p("issued")));
    std::fs::write(p("config.yaml"), CONFIG).unwrap();
    ok(compose()
        .args(["config-drive", "--config"])
        .arg(p("config.yaml"))
        .arg("--pki-dir")
        .arg(p("issued"))
        .arg("--key")
        .arg(p("keys/mk.key"))
        .arg("--password-file")
        .arg(p("key-password"))
        .arg("--out")
        .arg(p("config-drive.img")));
    (p("config-drive.img"), p("keys/mk.pub"))
}

const CHECK: &str = r#"#!/bin/sh
# Prints first boot's result on the console as MK-FB lines.
echo "MK-FB getenforce=$(getenforce)"
echo "MK-FB firstboot=$(systemctl is-active mk-firstboot.service)"
for m in /etc/kubernetes /etc/containerd /etc/firewalld/zones /etc/firewalld/services; do
    echo "MK-FB mount $m=$(findmnt -no SOURCE,OPTIONS "$m" | tr ' ' ',')"
done
ls -ln /etc/kubernetes/manifests | sed 's/^/MK-FB manifests /'
ls /etc/firewalld/zones | sed 's/^/MK-FB zone /'
stat -c 'MK-FB stat %n %a %u:%g %C' /etc/kubernetes/pki/apiserver.key \
    /etc/kubernetes/pki/etcd/server.key /etc/containerd/config.toml 2>&1
echo "MK-FB done"
"#;

/// The test overlay: the admin's public key, a static address on QEMU's
/// user network (the example image has no DHCP client configured) that
/// first boot waits for, and the check unit.
fn test_overlay(dir: &Path, public_key: &Path) -> PathBuf {
    let o = dir.join("overlay-firstboot-test");
    let root = o.join("root");
    let files: [(&str, String); 6] = [
        (
            "etc/mk/config-trust/test-admin.pub",
            std::fs::read_to_string(public_key).unwrap(),
        ),
        (
            "etc/systemd/network/10-mk-test.network",
            format!("[Match]\nMACAddress={MAC}\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n"),
        ),
        (
            "etc/systemd/system/mk-firstboot.service.d/10-mk-test-network.conf",
            "[Unit]\nWants=systemd-networkd-wait-online.service\nAfter=systemd-networkd-wait-online.service\n".into(),
        ),
        (
            "etc/systemd/system/mk-test-firstboot-check.service",
            "[Unit]\nDescription=mk test: first boot's result on the console\nAfter=mk-firstboot.service\n\n[Service]\nType=oneshot\nExecStart=/usr/libexec/mk-test/firstboot-check\nStandardOutput=journal+console\nStandardError=journal+console\n\n[Install]\nWantedBy=multi-user.target\n".into(),
        ),
        ("usr/libexec/mk-test/firstboot-check", CHECK.into()),
        (
            "overlay.yaml",
            "package: mk-test-firstboot\nsummary: first boot test (key, address, check unit)\nfiles:\n  /usr/libexec/mk-test/firstboot-check: {mode: \"0755\"}\n".into(),
        ),
    ];
    for (rel, text) in files {
        let path = if rel == "overlay.yaml" {
            o.join(rel)
        } else {
            root.join(rel)
        };
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(
        "../mk-test-firstboot-check.service",
        wants.join("mk-test-firstboot-check.service"),
    )
    .unwrap();
    o
}

/// Values of `MK-FB <key>...` console lines, in order.
fn fb_lines<'a>(console: &'a str, key: &str) -> Vec<&'a str> {
    let needle = format!("MK-FB {key}");
    console
        .lines()
        .filter_map(|l| {
            let i = l.find(&needle)?;
            Some(l[i + needle.len()..].trim_end_matches('\r').trim())
        })
        .collect()
}

#[test]
fn example_image_applies_a_signed_config_drive_on_first_boot() {
    init_logs();
    let work = scratch("firstboot.");
    let (drive, public_key) = site(&work.path().join("site"));
    let overlay = test_overlay(work.path(), &public_key);
    let inputs = example_inputs_in(work.path());
    let recipe = write_recipe_with_overlays(work.path(), &inputs, |ks| ks, "1GiB", &[overlay]);
    let report = mk_image::build(&mk_image::BuildOptions {
        recipe,
        allowed_unowned: fixture_allowed_unowned(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("image build: {e:?}"));
    let raw = report.raw.clone().unwrap();
    let boot = boot_with_drives(&raw, &[drive], "MK-FB done", BOOT_TIMEOUT);
    let c = &boot.console;
    let fail = |what: &str| -> ! {
        panic!(
            "{what}\n---- serial console ({} bytes) ----\n{c}\n---- end of console ----",
            c.len()
        )
    };
    let Some(secs) = boot.secs else {
        fail(&format!(
            "no `MK-FB done` on the console within {BOOT_TIMEOUT:?}"
        ))
    };
    eprintln!("power-on to first boot's check: {secs:.0} s (TCG)");

    // mk-firstboot's summary: this node, from the drive, signed, every
    // step applied with changes.
    if !c
        .lines()
        .any(|l| l.contains(&format!("{NODE} from config drive")) && l.contains("signed by"))
    {
        fail("no mk-firstboot summary for the signed config drive");
    }
    // The step summary's `FAILED step ...` and systemd's `[FAILED] Failed
    // to start mk-firstbo…` (the unit's description is cut short).
    if c.lines()
        .any(|l| l.contains("FAILED") && l.contains("mk-firstbo"))
        || c.contains("config refused")
    {
        fail("mk-firstboot refused the config or a step failed");
    }
    let total: usize = c
        .lines()
        .find_map(|l| {
            let rest = &l[l.find("total: ")? + "total: ".len()..];
            rest.split(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| fail("no `total: N changes` line from mk-firstboot"));
    if total == 0 {
        fail("mk-firstboot applied 0 changes on a fresh node");
    }
    for step in ["pki", "kubeconfig", "staticpods", "containerd", "firewall"] {
        // `  pki          12 changes      3.1 ms`, after the console prefix.
        let line = c
            .lines()
            .find(|l| l.contains(&format!(" {step} ")) && l.contains(" change"))
            .unwrap_or_else(|| fail(&format!("no summary line for step {step}")));
        if line.contains(" 0 changes") {
            fail(&format!("step {step} changed nothing: {line}"));
        }
    }

    if c.lines()
        .any(|l| l.contains("avc:  denied") && l.contains("comm=\"mk-firstboot\""))
    {
        fail("SELinux denied mk-firstboot something");
    }

    // The check unit's view of the node.
    if fb_lines(c, "getenforce=") != ["Enforcing"] {
        fail("SELinux is not enforcing after first boot");
    }
    if fb_lines(c, "firstboot=") != ["active"] {
        fail("mk-firstboot.service is not active");
    }
    for m in [
        "/etc/kubernetes",
        "/etc/containerd",
        "/etc/firewalld/zones",
        "/etc/firewalld/services",
    ] {
        let v = fb_lines(c, &format!("mount {m}="));
        let want = format!("[/lib/mk{m}],rw");
        if v.len() != 1 || !v[0].contains(&want) {
            fail(&format!(
                "{m} is {v:?}, expected a bind mount of /var/lib/mk{m} (`{want}`)"
            ));
        }
    }
    let manifests = fb_lines(c, "manifests ");
    for pod in [
        "etcd.yaml",
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
    ] {
        // `-rw-------. 1 0 0 3435 Nov 25 17:07 etcd.yaml` (`.`: an SELinux
        // context, no other ACL).
        let ok = manifests.iter().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 9
                && f[0].starts_with("-rw-------")
                && f[2..4] == ["0", "0"]
                && f[f.len() - 1] == pod
        });
        if !ok {
            fail(&format!(
                "/etc/kubernetes/manifests/{pod} missing or not 0600 root"
            ));
        }
    }
    if fb_lines(c, "zone ").is_empty() {
        fail("no firewalld zone written");
    }
    let stats = fb_lines(c, "stat ");
    for (path, want) in [
        ("/etc/kubernetes/pki/apiserver.key", "600 402:402 "),
        ("/etc/kubernetes/pki/etcd/server.key", "600 401:401 "),
        ("/etc/containerd/config.toml", "644 0:0 "),
    ] {
        let Some(l) = stats.iter().find(|l| l.starts_with(&format!("{path} "))) else {
            fail(&format!("no stat of {path}: {stats:?}"))
        };
        if !l[path.len() + 1..].starts_with(want) {
            fail(&format!("{path}: `{l}`, expected mode owner `{want}`"));
        }
        // Labelled by the policy (a type for files in /etc), not left
        // without a label on the state partition.
        let ty = l.rsplit(' ').next().unwrap_or("").split(':').nth(2);
        if !ty.is_some_and(|t| t.starts_with("etc_")) {
            fail(&format!("{path}: `{l}`, expected an /etc file type"));
        }
    }
}
