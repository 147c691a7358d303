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
use std::process::Command;
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(25 * 60);
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
# Prints the node's state on the console, then powers off: MK-FB lines at
# the first boot, MK-FB2 lines at the next (the clock 10 days later),
# MK-FB3 at the third (100 days later: past the intermediates' life).
state=/var/lib/mk-test
mkdir -p "$state"
boots=$(( $(cat "$state/boots" 2>/dev/null || echo 0) + 1 ))
echo "$boots" >"$state/boots"
case "$boots" in 1) p=MK-FB ;; 2) p=MK-FB2 ;; *) p=MK-FB3 ;; esac
avcs() { dmesg | grep -E 'avc: +denied' | sed "s/^/$p avc /"; }
report=/var/lib/mk-firstboot/report.json
echo "$p date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "$p getenforce=$(getenforce)"
echo "$p firstboot=$(systemctl is-active mk-firstboot.service)"
if [ "$boots" -ge 3 ]; then
    echo "$p containerd=$(systemctl is-active containerd.service)"
    journalctl -b -u mk-firstboot.service -o cat --no-pager | sed "s/^/$p firstboot-log /"
    echo "$p done"
    systemctl --no-block poweroff
    exit 0
fi
echo "$p var-run=$(readlink /var/run)"
ctr plugins ls 2>&1 | grep -E 'grpc\.v1 +cri ' | tr -s ' ' | sed "s/^/$p cri-plugin /"
for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = containerd ] && echo "$p containerd-context=$(cat "$d/attr/current")"
done
echo "$p mount /etc/cni=$(findmnt -no SOURCE,OPTIONS /etc/cni | tr ' ' ',')"
if [ "$boots" -ge 2 ]; then
    echo "$p cni-marker=$(cat /etc/cni/net.d/mk-test-marker 2>&1)"
    grep -o '"~ /[^"]*: renewed, valid until [^"]*"' "$report" | sed "s/^/$p renewed /"
    # What the next boot does: apply again; the renewed leaves stay.
    before=$(sha256sum /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/etcd/server.crt)
    /usr/bin/mk-firstboot apply >/dev/null 2>&1
    echo "$p reapply-exit=$?"
    after=$(sha256sum /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/etcd/server.crt)
    [ "$before" = "$after" ] && echo "$p reapply-kept=yes" || echo "$p reapply-kept=no"
    tr -d '\n' <"$report" | grep -o '"name": "[a-z-]*", *"inputDigest": "[^"]*", *"inputsChanged": [a-z]*, *"changed": [0-9]*' |
        sed 's/"inputDigest": "[^"]*", *//' | sed "s/^/$p reapply-step /"
    avcs
    echo "$p done"
    systemctl --no-block poweroff
    exit 0
fi
for m in /etc/kubernetes /etc/containerd /etc/firewalld/zones /etc/firewalld/services; do
    echo "$p mount $m=$(findmnt -no SOURCE,OPTIONS "$m" | tr ' ' ',')"
done
ls -ln /etc/kubernetes/manifests | sed "s/^/$p manifests /"
ls /etc/firewalld/zones | sed "s/^/$p zone /"
stat -c "$p stat %n %a %u:%g %C" /etc/kubernetes/pki/apiserver.key \
    /etc/kubernetes/pki/etcd/server.key /etc/containerd/config.toml 2>&1
# CNI configuration is written at run time: persistent across the reboot.
echo mk-test >/etc/cni/net.d/mk-test-marker && echo "$p cni-write=ok"
# The kubelet's domain: systemd starts /usr/bin/kubelet (a stand-in).
systemctl start mk-test-kubelet.service
echo "$p kubelet-context=$(cat /run/mk-test/kubelet-context 2>&1)"
# Every static pod through containerd's CRI, as the kubelet would run it:
# the manifest's image, user, mounts, read-only root; containerd labels.
# No Kubernetes binaries exist here: the Kubernetes components sleep, etcd
# runs for real on loopback (the node's DNS name does not resolve here).
/usr/libexec/mk-test/mk-cri-probe \
    --command-override 'kube-apiserver=sleep 3600' \
    --command-override 'kube-controller-manager=sleep 3600' \
    --command-override 'kube-scheduler=sleep 3600' \
    --command-override 'etcd=etcd --name probe --data-dir /var/lib/etcd --listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 --initial-cluster probe=http://127.0.0.1:12380' \
    2>&1
avcs
echo "$p first-boot-done"
systemctl --no-block poweroff
"#;

/// Stand-in for the kubelet (no kubelet can be installed here): records
/// the SELinux domain systemd runs /usr/bin/kubelet in.
const KUBELET: &str =
    "#!/bin/sh\nmkdir -p /run/mk-test\ncat /proc/self/attr/current >/run/mk-test/kubelet-context\n";

/// The test overlay: the admin's public key, a static address on QEMU's
/// user network (the example image has no DHCP client configured) that
/// first boot waits for, the check unit, the CRI probe and the kubelet
/// stand-in.
fn test_overlay(dir: &Path, public_key: &Path) -> PathBuf {
    let o = dir.join("overlay-firstboot-test");
    let root = o.join("root");
    let files: [(&str, String); 8] = [
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
            "[Unit]\nDescription=mk test: the node's state on the console\nWants=mk-image-import.service containerd.service\nAfter=mk-firstboot.service mk-image-import.service containerd.service\n\n[Service]\nType=oneshot\nExecStart=/usr/libexec/mk-test/firstboot-check\nStandardOutput=journal+console\nStandardError=journal+console\nTimeoutStartSec=20min\n\n[Install]\nWantedBy=multi-user.target\n".into(),
        ),
        (
            "etc/systemd/system/mk-test-kubelet.service",
            "[Unit]\nDescription=mk test: kubelet stand-in (its SELinux domain)\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/kubelet\n".into(),
        ),
        ("usr/libexec/mk-test/firstboot-check", CHECK.into()),
        ("usr/bin/kubelet", KUBELET.into()),
        (
            "overlay.yaml",
            "package: mk-test-firstboot\nsummary: first boot test (key, address, check unit, CRI probe)\nfiles:\n  /usr/libexec/mk-test/firstboot-check: {mode: \"0755\"}\n  /usr/libexec/mk-test/mk-cri-probe: {mode: \"0755\"}\n  /usr/bin/kubelet: {mode: \"0755\"}\n".into(),
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
    // Built by cargo with this test (same glibc as the fixture's Debian).
    std::fs::copy(
        env!("CARGO_BIN_EXE_mk-cri-probe"),
        root.join("usr/libexec/mk-test/mk-cri-probe"),
    )
    .unwrap();
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(
        "../mk-test-firstboot-check.service",
        wants.join("mk-test-firstboot-check.service"),
    )
    .unwrap();
    o
}

/// Values of `<prefix> <key>...` console lines, in order.
fn lines_of<'a>(console: &'a str, prefix: &str, key: &str) -> Vec<&'a str> {
    let needle = format!("{prefix} {key}");
    console
        .lines()
        .filter_map(|l| {
            let i = l.find(&needle)?;
            Some(l[i + needle.len()..].trim_end_matches('\r').trim())
        })
        .collect()
}

/// Values of `MK-FB <key>...` console lines (first boot).
fn fb_lines<'a>(console: &'a str, key: &str) -> Vec<&'a str> {
    lines_of(console, "MK-FB", key)
}

#[test]
fn example_image_applies_a_signed_config_drive_on_first_boot() {
    init_logs();
    let work = scratch("firstboot.");
    let (drive, public_key) = site(&work.path().join("site"));
    let overlay = test_overlay(work.path(), &public_key);
    let inputs = example_inputs_in(work.path());
    // Every image the static pods and containerd's sandbox name, baked in.
    let images = mk_qemu_tests::containers::shared_node_fixture_images();
    let recipe = write_recipe_with_archives(
        work.path(),
        &inputs,
        |ks| ks,
        "2GiB",
        &[overlay],
        &images.archives(),
    );
    let report = mk_image::build(&mk_image::BuildOptions {
        recipe,
        allowed_unowned: fixture_allowed_unowned(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("image build: {e:?}"));
    let raw = report.raw.clone().unwrap();
    // Three power-ons of one machine: now, 10 days later (every leaf
    // expired while it was off), 100 days later (the intermediates too).
    let machine = Machine::new(&raw);
    let drives = [drive];
    let power_on = |days: i64, until: &str| {
        let boot = machine.power_on(&PowerOn {
            drives: &drives,
            network: true,
            reboot: false,
            rtc_base: (days > 0).then(|| clock_in_days(days)),
            until,
            timeout: BOOT_TIMEOUT,
        });
        (boot.secs, boot.console)
    };
    let (s1, c1) = power_on(0, "MK-FB first-boot-done");
    let (s2, c2) = if s1.is_some() {
        power_on(10, "MK-FB2 done")
    } else {
        (None, String::new())
    };
    let (s3, c3) = if s2.is_some() {
        power_on(100, "MK-FB3 done")
    } else {
        (None, String::new())
    };
    let c = &format!("{c1}{c2}");
    let all = format!(
        "{c1}\n---- power-on 2 (+10 days) ----\n{c2}\n---- power-on 3 (+100 days) ----\n{c3}"
    );
    let fail = |what: &str| -> ! {
        panic!(
            "{what}\n---- serial console ({} bytes) ----\n{all}\n---- end of console ----",
            all.len()
        )
    };
    for (secs, what) in [
        (s1, "MK-FB first-boot-done"),
        (s2, "MK-FB2 done"),
        (s3, "MK-FB3 done"),
    ] {
        match secs {
            Some(secs) => eprintln!("power-on to `{what}`: {secs:.0} s (TCG)"),
            None => fail(&format!(
                "no `{what}` on the console within {BOOT_TIMEOUT:?}"
            )),
        }
    }
    power_off_checks(&c2, &c3).unwrap_or_else(|e| fail(&e));

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

    // The control plane's runtime (issue 16).
    for prefix in ["MK-FB", "MK-FB2"] {
        if let Err(e) = runtime_checks(c, prefix) {
            fail(&e);
        }
    }
    if fb_lines(c, "cni-write=") != ["ok"] {
        fail("could not write /etc/cni/net.d (CNI configuration is written at run time)");
    }
    if fb2_lines(c, "cni-marker=") != ["mk-test"] {
        fail("/etc/cni/net.d/mk-test-marker did not survive the reboot");
    }
    // systemd starts /usr/bin/kubelet in the kubelet's domain.
    let kubelet = fb_lines(c, "kubelet-context=");
    if kubelet.len() != 1 || selinux_type(kubelet[0]) != Some("kubelet_t") {
        fail(&format!(
            "the kubelet ran as {kubelet:?}, expected the kubelet_t domain"
        ));
    }
    // Every static pod through the CRI: the probe's verdict and its checks.
    let cri: Vec<&str> = c
        .lines()
        .filter_map(|l| Some(l[l.find("MK-CRI ")? + 7..].trim_end_matches('\r').trim()))
        .collect();
    if !cri.contains(&"done failures=0") {
        fail(&format!("the CRI probe failed or did not finish: {cri:#?}"));
    }
    for pod in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let mine: Vec<&&str> = cri
            .iter()
            .filter(|l| l.starts_with(&format!("pod={pod} ")))
            .collect();
        for check in ["state", "uid", "gid", "read-only-root", "selinux-process"] {
            if !mine
                .iter()
                .any(|l| l.contains(&format!(" check={check}")) && l.contains(" ok=true"))
            {
                fail(&format!(
                    "CRI probe: no passing `{check}` check for pod {pod}: {mine:#?}"
                ));
            }
        }
    }
    // No AVC denial anywhere, at either boot (containerd, runc, the
    // containers, the kubelet, first boot).
    // (Debian's policy denies a few things to systemd's own helpers on
    // every boot, e.g. systemd-sysctl's credentials search: not ours,
    // listed but not judged.)
    let (ours, others): (Vec<&str>, Vec<&str>) = fb_lines(c, "avc ")
        .into_iter()
        .chain(fb2_lines(c, "avc "))
        .partition(|l| concerns_containers(l));
    for l in &others {
        eprintln!("AVC denial outside the container runtime (not judged): {l}");
    }
    if !ours.is_empty() {
        fail(&format!("SELinux denials: {ours:#?}"));
    }
}

/// The host's clock `days` from now, as `-rtc base=` takes it.
fn clock_in_days(days: i64) -> String {
    let out = ok(Command::new("date")
        .arg("-u")
        .arg("-d")
        .arg(format!("+{days} days"))
        .arg("+%Y-%m-%dT%H:%M:%S"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// After 10 days off: every leaf renewed at boot before the kubelet could
/// start, kept by the next apply; after 100 days: first boot refuses,
/// names the expired intermediates and the admin's commands, and
/// containerd stays down.
fn power_off_checks(c2: &str, c3: &str) -> Result<(), String> {
    let renewed = lines_of(c2, "MK-FB2", "renewed ");
    for leaf in [
        "/etc/kubernetes/pki/apiserver.crt",
        "/etc/kubernetes/pki/etcd/server.crt",
        "/etc/kubernetes/pki/etcd/peer.crt",
        "/etc/kubernetes/pki/front-proxy-client.crt",
        "/etc/kubernetes/pki/controller-manager.crt",
    ] {
        if !renewed
            .iter()
            .any(|l| l.contains(&format!("~ {leaf}: renewed")))
        {
            return Err(format!(
                "10 days later: {leaf} was not renewed at boot: {renewed:#?}"
            ));
        }
    }
    // `  renew-certificates 12 changes   850.0 ms` in first boot's summary.
    let line = c2
        .lines()
        .find(|l| l.contains(" renew-certificates ") && l.contains(" ms"))
        .ok_or("10 days later: no renew-certificates line in first boot's summary")?;
    eprintln!(
        "boot-time renewal of the control plane's leaves (10 days off): {}",
        line.trim()
    );
    if lines_of(c2, "MK-FB2", "firstboot=") != ["active"] {
        return Err("10 days later: mk-firstboot.service is not active".into());
    }
    if lines_of(c2, "MK-FB2", "reapply-exit=") != ["0"]
        || lines_of(c2, "MK-FB2", "reapply-kept=") != ["yes"]
    {
        return Err(
            "10 days later: applying the drive again did not keep the renewed certificates".into(),
        );
    }
    let steps = lines_of(c2, "MK-FB2", "reapply-step ");
    for step in ["pki", "renew-certificates"] {
        let needle = format!("\"name\": \"{step}\"");
        let Some(l) = steps.iter().find(|l| l.starts_with(&needle)) else {
            return Err(format!(
                "10 days later, applying again: no {step} step: {steps:#?}"
            ));
        };
        if !l.ends_with("\"changed\": 0") {
            return Err(format!(
                "10 days later, applying again: {step} changed something: {l}"
            ));
        }
    }
    let log = lines_of(c3, "MK-FB3", "firstboot-log ").join("\n");
    if lines_of(c3, "MK-FB3", "firstboot=") == ["active"] {
        return Err(format!(
            "100 days later: mk-firstboot accepted the config:\n{log}"
        ));
    }
    if lines_of(c3, "MK-FB3", "containerd=") == ["active"] {
        return Err(
            "100 days later: containerd started although first boot refused the config".into(),
        );
    }
    for want in [
        "host intermediate(s) of realm(s)",
        "mk-compose pki intermediate --dir PKI --host",
        "mk-compose config-drive",
    ] {
        if !log.contains(want) {
            return Err(format!(
                "100 days later: first boot's message lacks `{want}`:\n{log}"
            ));
        }
    }
    Ok(())
}

/// Values of `MK-FB2 <key>...` console lines (after the reboot).
fn fb2_lines<'a>(console: &'a str, key: &str) -> Vec<&'a str> {
    lines_of(console, "MK-FB2", key)
}

/// An AVC denial that involves the container runtime, a container, the
/// kubelet or first boot: by the domains and types of the container policy
/// or by the program.
fn concerns_containers(avc: &str) -> bool {
    const TYPES: &[&str] = &[
        ":container_runtime_t:",
        ":container_t:",
        ":container_file_t:",
        ":container_ro_file_t:",
        ":kubelet_t:",
        ":kubelet_exec_t:",
        ":container_runtime_exec_t:",
    ];
    const PROGRAMS: &[&str] = &[
        "comm=\"containerd",
        "comm=\"runc",
        "comm=\"ctr\"",
        "comm=\"etcd",
        "comm=\"kubelet",
        "comm=\"sleep\"",
        "comm=\"mk-cri-probe",
        "comm=\"mk-firstboot",
        "comm=\"image-import",
        "cmdline=\"runc",
    ];
    TYPES.iter().chain(PROGRAMS).any(|t| avc.contains(t))
}

/// The type of an SELinux context `user:role:type:level`.
fn selinux_type(context: &str) -> Option<&str> {
    context.split(':').nth(2)
}

/// What both boots must show: enforcing, /var/run a link to /run,
/// containerd's CRI plugin loaded, containerd in its domain, /etc/cni a
/// bind mount from the state partition.
fn runtime_checks(c: &str, prefix: &str) -> Result<(), String> {
    let get = |k: &str| lines_of(c, prefix, k);
    if get("getenforce=") != ["Enforcing"] {
        return Err(format!("{prefix}: SELinux is not enforcing"));
    }
    if get("firstboot=") != ["active"] {
        return Err(format!("{prefix}: mk-firstboot.service is not active"));
    }
    let var_run = get("var-run=");
    if !(var_run == ["/run"] || var_run == ["../run"]) {
        return Err(format!(
            "{prefix}: /var/run is {var_run:?}, expected a link to /run"
        ));
    }
    // `io.containerd.grpc.v1 cri linux/amd64 ok` (TYPE ID PLATFORMS STATUS).
    let cri = get("cri-plugin ");
    if cri.len() != 1 || cri[0].split(' ').next_back() != Some("ok") {
        return Err(format!(
            "{prefix}: containerd's CRI plugin is not loaded (`ctr plugins ls`)"
        ));
    }
    let ctx = get("containerd-context=");
    if ctx.len() != 1 || selinux_type(ctx[0]) != Some("container_runtime_t") {
        return Err(format!(
            "{prefix}: containerd runs as {ctx:?}, expected container_runtime_t"
        ));
    }
    let cni = get("mount /etc/cni=");
    if cni.len() != 1 || !cni[0].contains("[/lib/mk/etc/cni]") {
        return Err(format!(
            "{prefix}: /etc/cni is {cni:?}, expected a bind mount of /var/lib/mk/etc/cni"
        ));
    }
    Ok(())
}

#[test]
fn console_lines_are_read_per_boot() {
    let c = "[ 1.0] x[1]: MK-FB cni-write=ok\r\n[ 2.0] x[2]: MK-FB2 cni-marker=mk-test\n";
    assert_eq!(fb_lines(c, "cni-write="), ["ok"]);
    assert_eq!(fb2_lines(c, "cni-marker="), ["mk-test"]);
    assert!(fb_lines(c, "cni-marker=").is_empty());
}

#[test]
fn avc_filter_judges_the_container_runtime_and_not_systemds_helpers() {
    // Seen on the fixture node: the first is ours (runc's systemd cgroup
    // call), the second Debian's policy and systemd-sysctl.
    let runc = "audit: type=1107 msg='avc:  denied  { start } for cmdline=\"runc --root /run/containerd/runc/k8s.io\" function=\"method_start_transient_unit\" scontext=system_u:system_r:container_runtime_t:s0 tcontext=system_u:system_r:init_t:s0 tclass=system";
    let sysctl = "audit: type=1400 avc:  denied  { search } for  pid=335 comm=\"systemd-sysctl\" name=\"credentials\" scontext=system_u:system_r:systemd_sysctl_t:s0 tcontext=system_u:object_r:tmpfs_t:s0 tclass=dir";
    let etcd = "avc:  denied  { write } for pid=9 comm=\"etcd\" name=\"member\" scontext=system_u:system_r:container_t:s0:c1,c2 tcontext=system_u:object_r:var_lib_t:s0 tclass=dir";
    assert!(concerns_containers(runc));
    assert!(concerns_containers(etcd));
    assert!(!concerns_containers(sysctl));
}
