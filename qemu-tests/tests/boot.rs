//! The example image (examples/image: the fixture distribution, overlays/node
//! and mk-firstboot) built with `mk-compose image`'s pipeline and booted in
//! QEMU (TCG) twice, from the same image: with OVMF (UEFI: shim, then GRUB)
//! and with SeaBIOS (legacy BIOS: GRUB's boot.img in the MBR, core.img in
//! the BIOS boot partition). Judged from the serial console: GRUB booted
//! slot A by root-a's PARTUUID, the kernel booted, SELinux enforcing, root
//! read-only, /var on the state partition, multi-user.target reached,
//! mk-firstboot ran.
//!
//! The same boot proves that node images carry container images (issue 4):
//! the recipe lists the fixture etcd image archive (`image_archives`), the
//! VM has no network device at all, and mk-image-import.service imports
//! the image into containerd (ref and manifest digest on the console)
//! before the kubelet. The fixture has no kubelet and this boot has no
//! role config (mk-firstboot refuses, and its drop-ins would keep
//! containerd and kubelet down), so a test overlay neutralises those two
//! drop-ins and adds a stand-in kubelet.service that prints the images it
//! finds when it starts.

use mk_qemu_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// TCG boots take about 1-3 minutes here; the hard limit is generous for
/// busy CI machines.
const BOOT_TIMEOUT: Duration = Duration::from_secs(8 * 60);

const STANDIN: &str = "MK-KUBELET-STANDIN images:";

/// The test overlay described above.
fn kubelet_standin_overlay(dir: &Path) -> PathBuf {
    let o = dir.join("boot-test-overlay");
    let sys = o.join("root/etc/systemd/system");
    for d in [
        "containerd.service.d",
        "kubelet.service.d",
        "multi-user.target.wants",
    ] {
        std::fs::create_dir_all(sys.join(d)).unwrap();
    }
    // Same file name as mk-firstboot's drop-ins in /usr/lib: these win.
    let neutral = "# Boot test: no role config here, so mk-firstboot refuses; containerd and\n# the kubelet stand-in start all the same.\n[Unit]\n";
    for d in ["containerd.service.d", "kubelet.service.d"] {
        std::fs::write(sys.join(d).join("10-mk-firstboot.conf"), neutral).unwrap();
    }
    std::fs::write(
        sys.join("kubelet.service"),
        "[Unit]\nDescription=kubelet stand-in (boot test)\n\n[Service]\nType=oneshot\nExecStart=/usr/libexec/mk-boot-test/kubelet-standin\nStandardOutput=journal+console\nStandardError=journal+console\n\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../kubelet.service",
        sys.join("multi-user.target.wants/kubelet.service"),
    )
    .unwrap();
    let bin = o.join("root/usr/libexec/mk-boot-test");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("kubelet-standin");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"{STANDIN} $(ctr -n k8s.io images ls -q | tr '\\n' ' ')\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    o
}

/// The import unit's ordering, read from overlays/node (static: the fixture
/// has no kubelet to order against at run time) and checked by
/// `systemd-analyze verify` in a scratch root with stand-ins for the units
/// it names.
fn check_import_unit_ordering(scratch: &Path) {
    let ws = workspace();
    let sys = ws.join("overlays/node/root/etc/systemd/system");
    let unit = std::fs::read_to_string(sys.join("mk-image-import.service")).unwrap();
    let values = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    for (key, want) in [
        ("Requires", "containerd.service"),
        ("After", "containerd.service"),
        ("Before", "kubelet.service"),
        ("WantedBy", "multi-user.target"),
    ] {
        assert!(
            values(key).iter().any(|v| v == want),
            "mk-image-import.service: no {key}={want}:\n{unit}"
        );
    }
    assert_eq!(
        std::fs::read_link(sys.join("multi-user.target.wants/mk-image-import.service")).unwrap(),
        Path::new("../mk-image-import.service"),
        "mk-image-import.service is not enabled in overlays/node"
    );
    let root = scratch.join("verify-root");
    let lib = root.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    std::fs::create_dir_all(root.join("usr/libexec/mk")).unwrap();
    std::fs::copy(
        sys.join("mk-image-import.service"),
        root.join("etc/systemd/system/mk-image-import.service"),
    )
    .unwrap();
    let script = root.join("usr/libexec/mk/image-import");
    std::fs::copy(
        ws.join("overlays/node/root/usr/libexec/mk/image-import"),
        &script,
    )
    .unwrap();
    for u in ["containerd.service", "kubelet.service"] {
        std::fs::write(lib.join(u), "[Service]\nExecStart=/bin/true\n").unwrap();
    }
    // The targets of a service's default dependencies.
    for t in [
        "sysinit.target",
        "basic.target",
        "shutdown.target",
        "multi-user.target",
    ] {
        std::fs::write(lib.join(t), "[Unit]\n").unwrap();
    }
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("/etc/systemd/system/mk-image-import.service")
        .output()
        .expect("systemd-analyze (systemd)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify mk-image-import.service: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// [`boot_offline`] with QEMU's default firmware, SeaBIOS (legacy BIOS),
/// instead of OVMF: the image (a copy-on-write overlay of it) is the only
/// disk, no network device.
fn boot_bios_offline(image: &Path, until: &str, timeout: Duration) -> Boot {
    Machine::new_bios(image).power_on(&PowerOn {
        drives: &[],
        network: false,
        reboot: false,
        rtc_base: None,
        until,
        timeout,
    })
}

/// root-a's PARTUUID as sgdisk reads it from the image (lower case).
fn root_a_partuuid(raw: &Path) -> String {
    let out = Command::new("sgdisk")
        .args(["-i", "3"])
        .arg(raw)
        .output()
        .expect("sgdisk (apt gdisk)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Partition unique GUID: "))
        .unwrap_or_else(|| panic!("sgdisk -i 3: no unique GUID in\n{text}"))
        .trim()
        .to_lowercase()
}

/// What both firmwares' boots must show: GRUB booted slot A by root-a's
/// PARTUUID, the image's kernel, SELinux enforcing, a read-only root, the
/// state partition on /var, multi-user.target, mk-firstboot ran.
fn assert_node_booted(firmware: &str, boot: &Boot, kernel: &str, partuuid: &str) {
    let c = &boot.console;
    let fail = |what: &str| -> ! {
        panic!(
            "{what}\n---- serial console, {firmware} ({} bytes) ----\n{c}\n---- end of console ----",
            c.len()
        )
    };
    let Some(secs) = boot.secs else {
        fail(&format!(
            "{firmware}: no `MK-CHECK done` on the console within {BOOT_TIMEOUT:?}"
        ))
    };
    eprintln!("{firmware}: power-on to boot report: {secs:.0} s (TCG)");
    if !c.contains("mk: booting slot a (version ") {
        fail(&format!("{firmware}: GRUB did not report booting slot a"));
    }
    let cmdline = c
        .lines()
        .find(|l| l.contains("Kernel command line: "))
        .unwrap_or_else(|| fail(&format!("{firmware}: no kernel command line")));
    for want in [
        format!("root=PARTUUID={partuuid}"),
        "mk.slot=a".to_string(),
        "panic=10".to_string(),
        "cgroup.memory=nokmem".to_string(),
    ] {
        if !cmdline.split_whitespace().any(|w| w == want) {
            fail(&format!("{firmware}: no `{want}` in `{cmdline}`"));
        }
    }
    if !c.contains(&format!("Linux version {kernel}")) {
        fail(&format!("{firmware}: not the image's kernel {kernel}"));
    }
    if !c.contains("systemd[1]: Successfully loaded SELinux policy") {
        fail(&format!(
            "{firmware}: systemd did not load the SELinux policy"
        ));
    }
    match check_value(c, "selinux") {
        Some("enforcing") => {}
        other => fail(&format!(
            "{firmware}: SELinux is {other:?}, expected enforcing"
        )),
    }
    let root = check_value(c, "root").unwrap_or_else(|| fail("no root mount report"));
    if !root.split(',').any(|o| o == "ro") {
        fail(&format!(
            "{firmware}: root is mounted `{root}`, expected ro"
        ));
    }
    let var = check_value(c, "var").unwrap_or_else(|| fail("no /var report"));
    if !var.starts_with("/dev/vda5,rw") {
        fail(&format!(
            "{firmware}: /var is `{var}`, expected the state partition /dev/vda5, rw"
        ));
    }
    if check_value(c, "multi-user") != Some("active") {
        fail(&format!("{firmware}: multi-user.target not reached"));
    }
    // mk-firstboot ran: its unit started and the binary wrote to the console
    // (without a role config it refuses, which is its documented outcome).
    if !c.contains("mk-firstboot[") {
        fail(&format!(
            "{firmware}: mk-firstboot.service wrote nothing to the console: did it run?"
        ));
    }
    if check_value(c, "firstboot").is_none_or(|s| s == "inactive") {
        fail(&format!("{firmware}: mk-firstboot.service did not run"));
    }
}

#[test]
fn example_image_boots_enforcing_read_only_to_multi_user() {
    init_logs();
    let work = scratch("boot.");
    check_import_unit_ordering(work.path());
    let inputs = example_inputs_in(work.path());
    // Built once per target dir and shared; read, not modified.
    let (_, etcd) = containers::shared_fixture_images();
    let overlay = kubelet_standin_overlay(work.path());
    let recipe = write_recipe_with_archives(
        work.path(),
        &inputs,
        |ks| ks,
        "1GiB",
        &[overlay],
        std::slice::from_ref(&etcd.archive),
    );
    let report = mk_image::build(&mk_image::BuildOptions {
        recipe,
        allowed_unowned: fixture_allowed_unowned(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("image build: {e:?}"));
    let raw = report.raw.clone().unwrap();
    let partuuid = root_a_partuuid(&raw);
    // The same image on both firmwares, booted side by side (no second
    // image build: CI time).
    let (boot, bios) = std::thread::scope(|s| {
        let bios = s.spawn(|| boot_bios_offline(&raw, "MK-CHECK done", BOOT_TIMEOUT));
        let uefi = boot_offline(&raw, "MK-CHECK done", BOOT_TIMEOUT);
        (uefi, bios.join().unwrap())
    });
    assert_node_booted("BIOS (SeaBIOS)", &bios, &report.kernel, &partuuid);
    assert_node_booted("UEFI (OVMF)", &boot, &report.kernel, &partuuid);
    let c = &boot.console;
    let fail = |what: &str| -> ! {
        panic!(
            "{what}\n---- serial console ({} bytes) ----\n{c}\n---- end of console ----",
            c.len()
        )
    };
    // The persistent /etc bind mounts work under enforcing.
    for unit in [
        "etc-kubernetes.mount",
        "etc-containerd.mount",
        "etc-firewalld-zones.mount",
        "etc-firewalld-services.mount",
        "etc-cni.mount",
        "etc-hosts.mount",
    ] {
        if c.contains(&format!("MK-CHECK failed-unit {unit}")) {
            fail(&format!("{unit} failed"));
        }
    }
    // Node paths (docs/image.md): one /run for clients and daemons, CNI
    // configuration writable and persistent, a resolv.conf that can be
    // written at run time.
    if !matches!(check_value(c, "var-run"), Some("../run" | "/run")) {
        fail("/var/run is not a link to /run");
    }
    if !check_value(c, "etc-cni")
        .is_some_and(|v| v.contains("[/lib/mk/etc/cni]") && v.contains("rw"))
    {
        fail("/etc/cni is not bound read-write from /var/lib/mk/etc/cni");
    }
    // /etc/hosts shows the state partition's file (first boot writes it
    // from spec.hosts), bound over the distribution's under enforcing.
    if !check_value(c, "etc-hosts").is_some_and(|v| v.contains("[/lib/mk/etc/hosts]")) {
        fail("/etc/hosts is not bound from /var/lib/mk/etc/hosts");
    }
    if check_value(c, "resolv-conf") != Some("/var/lib/mk/etc/resolv.conf") {
        fail("/etc/resolv.conf is not the link to /var/lib/mk/etc/resolv.conf");
    }

    for l in c
        .lines()
        .filter(|l| l.contains("mk-image-import") || l.contains(STANDIN))
    {
        eprintln!("console: {}", l.trim_end());
    }
    // No network device: the image came from the node image itself.
    if c.contains("virtio_net") {
        fail("the VM has a network device; this boot must be offline");
    }
    // The container image was imported into containerd before the kubelet.
    let archive = etcd.archive.file_name().unwrap().to_string_lossy();
    let imported = format!(
        "mk-image-import: imported {} {} from {archive}",
        etcd.reference, etcd.manifest_digest
    );
    let Some(at_import) = c.find(&imported) else {
        fail(&format!("no `{imported}` on the console"))
    };
    if c.contains("mk-image-import: FAILED") {
        fail("mk-image-import reported a failure");
    }
    for unit in [
        "mk-image-import.service",
        "containerd.service",
        "kubelet.service",
    ] {
        if c.contains(&format!("MK-CHECK failed-unit {unit}")) {
            fail(&format!("{unit} failed"));
        }
    }
    let Some(at_kubelet) = c.find(STANDIN) else {
        fail("the kubelet stand-in did not run")
    };
    if at_kubelet < at_import {
        fail("the kubelet stand-in started before the import");
    }
    let seen = c[at_kubelet..].lines().next().unwrap_or_default();
    if !seen.split_whitespace().any(|r| r == etcd.reference) {
        fail(&format!(
            "the kubelet stand-in did not see {} in containerd: `{seen}`",
            etcd.reference
        ));
    }
    // `ctr images ls` as printed by the unit: ref and digest on one line.
    if !c.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.windows(3)
            .any(|w| w[0] == etcd.reference && w[2] == etcd.manifest_digest)
    }) {
        fail("`ctr images ls` on the console does not show the image with its digest");
    }
}
