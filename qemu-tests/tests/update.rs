//! Updating a node by re-imaging its other root slot (issue 15, part 1), in
//! QEMU (TCG, OVMF), the way an admin does it on an air-gapped site:
//!
//! 1. Image v1 (the example image, `version: 2026.12.1`) boots from slot a.
//!    `mk-node update --bundle /dev/vdb` writes v2 (a second build of the
//!    same recipe, `version: 2026.12.2`) from a signed bundle made by
//!    `mk-compose bundle --node-image` into slot b; after the reboot GRUB
//!    boots slot b on trial, v2 runs, a file written under v1 on /var is
//!    still there, and mk-node-mark-good.service makes b the default.
//! 2. In a second power-on, v2 updates to v3: v2's image with a broken
//!    initramfs (as a bad kernel or dracut package would make it), signed
//!    like any other. Slot a panics (`panic=10` reboots) at each of its 3
//!    tries; GRUB then falls back to slot b by itself and v2 runs again.
//!
//! The node runs a test unit (the overlay below) that reports its slot and
//! version on the console and updates once per request: the bundle is the
//! read-only drive vdb, the request (its version) the drive vdc. First boot
//! is disabled (/etc/mk/firstboot-disabled): this test is about slots, and
//! a skipped first boot lets mark-good run, as on a node whose admin
//! disabled it.

use mk_qemu_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Two boots and a slot write (power-on 1), or a boot, a slot write, three
/// failed tries and a boot (power-on 2), on a busy CI machine.
const POWER_ON_TIMEOUT: Duration = Duration::from_secs(25 * 60);

const V1: &str = "2026.12.1";
const V2: &str = "2026.12.2";
const V3: &str = "2026.12.3";

/// The node side of the test: see the module comment.
const DRIVER: &str = r#"#!/bin/sh
# mk update test (qemu-tests/tests/update.rs): report the running slot and
# version, then update once from the bundle on vdb when vdc asks for it.
systemctl is-system-running --wait >/dev/null 2>&1
. /usr/lib/mk/image-release
slot=$(sed -n 's/.*mk\.slot=\([ab]\).*/\1/p' /proc/cmdline)
state=/var/lib/mk-update-test
mkdir -p "$state"
[ -e "$state/first" ] || { echo "$IMAGE_VERSION" > "$state/first"; sync; }
echo "MK-UPDATE booted slot=$slot version=$IMAGE_VERSION first=$(cat "$state/first")"
echo "MK-UPDATE mark-good=$(systemctl is-active mk-node-mark-good.service) esp=$(findmnt -no FSTYPE /boot/efi || echo not-mounted)"
mk-node status 2>&1 | sed 's/^/MK-UPDATE status: /'
want=$(head -c 64 /dev/vdc 2>/dev/null | tr -dc 'a-z0-9.')
if [ -n "$want" ] && [ ! -e "$state/done-$want" ]; then
  touch "$state/done-$want"; sync
  echo "MK-UPDATE updating to $want"
  if mk-node update --bundle /dev/vdb --trust /etc/mk/update-test.pub 2>&1; then
    echo "MK-UPDATE rebooting"
    systemctl reboot
    exit 0
  fi
  echo "MK-UPDATE update failed"
fi
# After the image check's report, so that a boot's console is complete.
n=0
while systemctl is-active -q mk-image-check.service && [ $n -lt 120 ]; do sleep 1; n=$((n+1)); done
echo "MK-UPDATE end"
"#;

fn update_overlay(dir: &Path, public_key: &Path) -> PathBuf {
    let o = dir.join("update-test-overlay");
    let sys = o.join("root/etc/systemd/system");
    std::fs::create_dir_all(sys.join("multi-user.target.wants")).unwrap();
    std::fs::create_dir_all(o.join("root/etc/mk")).unwrap();
    std::fs::write(o.join("root/etc/mk/firstboot-disabled"), "update test\n").unwrap();
    std::fs::copy(public_key, o.join("root/etc/mk/update-test.pub")).unwrap();
    // After multi-user.target like mk-image-check.service (ordering it
    // after that unit would make a cycle with the target); simple, so that
    // waiting for the boot to finish does not wait for itself.
    std::fs::write(
        sys.join("mk-update-test.service"),
        "[Unit]\nDescription=mk update test driver\nAfter=multi-user.target mk-node-mark-good.service\n\n[Service]\nType=simple\nExecStart=/usr/libexec/mk-update-test/driver\nStandardOutput=journal+console\nStandardError=journal+console\n\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../mk-update-test.service",
        sys.join("multi-user.target.wants/mk-update-test.service"),
    )
    .unwrap();
    let bin = o.join("root/usr/libexec/mk-update-test");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("driver"), DRIVER).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("driver"), std::fs::Permissions::from_mode(0o755)).unwrap();
    o
}

/// Builds the example image with `version` in `dir/<version>/`.
fn build_image(dir: &Path, inputs: &Inputs, overlay: &Path, version: &str) -> PathBuf {
    let d = dir.join(version);
    std::fs::create_dir_all(&d).unwrap();
    let recipe = write_recipe_with_overlays(&d, inputs, |ks| ks, "1GiB", &[overlay.to_path_buf()]);
    let mut text = std::fs::read_to_string(&recipe).unwrap();
    text.push_str(&format!("version: {version}\n"));
    std::fs::write(&recipe, text).unwrap();
    let t = std::time::Instant::now();
    let report = mk_image::build(&mk_image::BuildOptions {
        recipe,
        allowed_unowned: fixture_allowed_unowned(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("image build {version}: {e:?}"));
    eprintln!(
        "image {version}: built in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    report.raw.unwrap()
}

/// Byte offset of GPT partition `n` of `raw` (sgdisk -i).
fn partition_offset(raw: &Path, n: u32) -> u64 {
    let out = ok(Command::new("sgdisk").arg("-i").arg(n.to_string()).arg(raw));
    let text = String::from_utf8_lossy(&out.stdout);
    let first: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("First sector: "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("sgdisk -i {n}: no first sector in\n{text}"));
    first * 512
}

/// v3: a copy of `v2` whose slot files (the ESP's mk/a/) carry version V3
/// and an initramfs without /init, so the kernel finds no root and panics.
fn broken_image(dir: &Path, v2: &Path) -> PathBuf {
    let v3 = dir.join("v3.raw");
    ok(Command::new("cp").arg("--sparse=always").arg(v2).arg(&v3));
    let esp = partition_offset(&v3, 1);
    // The ESP's files, written as mk-node writes them (mtools on the image).
    let esp = mk_slots::esp::Esp::Partition {
        disk: v3.clone(),
        offset: esp,
    };
    // A newc archive as the installer's step is written (no host cpio).
    let initramfs = mk_installer::iso::cpio(
        &[mk_installer::iso::CpioEntry::File {
            path: "README".into(),
            mode: 0o644,
            data: b"no /init here\n".to_vec(),
        }],
        0,
    );
    esp.write("mk/a/initramfs.img", &initramfs).unwrap();
    let cfg = String::from_utf8(esp.read("mk/a/slot.cfg").unwrap())
        .unwrap()
        .replace(V2, V3);
    assert!(cfg.contains(V3), "slot.cfg of v2 has no {V2}: {cfg}");
    esp.write("mk/a/slot.cfg", cfg.as_bytes()).unwrap();
    v3
}

/// `mk-compose bundle --node-image`: the example's packages and `raw`.
fn bundle(dir: &Path, inputs: &Inputs, keys: &Path, raw: &Path, version: &str) -> PathBuf {
    let out = dir.join(format!("mk-{version}.iso"));
    let ks = dir.join(V1).join("node.ks");
    let t = std::time::Instant::now();
    ok(mk_compose()
        .arg("bundle")
        .arg("--repo")
        .arg(&inputs.fixture_repo)
        .arg("--repo")
        .arg(&inputs.mk_repo)
        .arg("--kickstart")
        .arg(&ks)
        .arg("--key")
        .arg(keys.join("mk.key"))
        .arg("--password-file")
        .arg(dir.join("key-password"))
        .args(["--bundle-version", version])
        .arg("--node-image")
        .arg(raw)
        .arg("--out")
        .arg(&out));
    eprintln!(
        "bundle {version}: {} MB in {:.0} s",
        std::fs::metadata(&out).unwrap().len() >> 20,
        t.elapsed().as_secs_f64()
    );
    out
}

/// The request drive: the version the test wants, padded to a sector.
fn request(dir: &Path, version: &str) -> PathBuf {
    let p = dir.join(format!("request-{version}.raw"));
    let mut b = format!("{version}\n").into_bytes();
    b.resize(512, 0);
    std::fs::write(&p, b).unwrap();
    p
}

/// The console's lines from `marker` on: one power-on can hold several boots.
fn lines_with<'a>(console: &'a str, marker: &str) -> Vec<&'a str> {
    console
        .lines()
        .filter_map(|l| l.find(marker).map(|i| l[i..].trim_end_matches('\r')))
        .collect()
}

/// An AVC denial of what updates and promotes slots: mk-node, the ESP's
/// mount and files (vfat: dosfs_t; its mount point: boot_t). The fixture's
/// policy denies some of systemd's and agetty's own accesses at every boot;
/// those are not this test's.
fn ours_denied(line: &str) -> bool {
    line.contains("avc:  denied")
        && [
            "comm=\"mk-node\"",
            "comm=\"mount\"",
            "dosfs_t",
            "boot_t",
            "fixed_disk_device_t",
        ]
        .iter()
        .any(|m| line.contains(m))
}

fn fail(what: &str, console: &str) -> ! {
    panic!(
        "{what}\n---- serial console ({} bytes) ----\n{console}\n---- end of console ----",
        console.len()
    )
}

#[test]
fn update_boots_the_new_slot_and_a_broken_one_falls_back_by_itself() {
    init_logs();
    let work = scratch("update.");
    let dir = work.path();
    std::fs::write(dir.join("key-password"), "key password for the test\n").unwrap();
    ok(mk_compose()
        .args(["keygen", "--out-dir"])
        .arg(dir.join("keys"))
        .arg("--password-file")
        .arg(dir.join("key-password")));
    let inputs = example_inputs_in(dir);
    let overlay = update_overlay(dir, &dir.join("keys/mk.pub"));
    let v1 = build_image(dir, &inputs, &overlay, V1);
    let v2 = build_image(dir, &inputs, &overlay, V2);
    let v3 = broken_image(dir, &v2);
    let b2 = bundle(dir, &inputs, &dir.join("keys"), &v2, V2);
    let b3 = bundle(dir, &inputs, &dir.join("keys"), &v3, V3);

    let m = Machine::new(&v1);
    // Power-on 1: v1 updates to v2, reboots into it; v2 is marked good.
    let p1 = m.power_on(&PowerOn {
        drives: &[b2, request(dir, V2)],
        network: false,
        reboot: true,
        rtc_base: None,
        until: "MK-UPDATE end",
        timeout: POWER_ON_TIMEOUT,
    });
    let c = &p1.console;
    let Some(secs) = p1.secs else {
        fail("power-on 1: no `MK-UPDATE end` on the console", c)
    };
    eprintln!("power-on 1 (v1 boot, slot write, v2 boot): {secs:.0} s (TCG)");
    let booted = lines_with(c, "MK-UPDATE booted ");
    let want = [
        format!("MK-UPDATE booted slot=a version={V1} first={V1}"),
        format!("MK-UPDATE booted slot=b version={V2} first={V1}"),
    ];
    if booted != want {
        fail(
            &format!("power-on 1: booted {booted:?}, expected {want:?}"),
            c,
        );
    }
    for want in [
        format!("mk: booting slot a (version {V1})"),
        format!("MK-UPDATE updating to {V2}"),
        "MK-UPDATE rebooting".to_string(),
        "mk: slot b on trial, 2 tries left after this boot".to_string(),
        format!("mk: booting slot b (version {V2})"),
    ] {
        if !c.contains(&want) {
            fail(&format!("power-on 1: no `{want}`"), c);
        }
    }
    // v2's boot: the ESP mounted, the slot marked good by the unit, and the
    // status after it says b is the default with nothing on trial.
    let v2_boot = &c[c
        .find(&format!("MK-UPDATE booted slot=b version={V2}"))
        .unwrap()..];
    if !v2_boot.contains("MK-UPDATE mark-good=active esp=vfat") {
        fail(
            "power-on 1: v2 was not marked good by mk-node-mark-good.service with the ESP mounted",
            c,
        );
    }
    let status = lines_with(v2_boot, "MK-UPDATE status: ");
    eprintln!("mk-node status on v2:\n  {}", status.join("\n  "));
    for want in [
        format!("slot b: version {V2}, root-b"),
        "[running, default]".to_string(),
        "grubenv: mk_default=b mk_next= ".to_string(),
    ] {
        if !status.iter().any(|l| l.contains(&want)) {
            fail(
                &format!("power-on 1: mk-node status on v2 has no `{want}`"),
                c,
            );
        }
    }
    let v2_check = &c[c.rfind("MK-CHECK selinux=").unwrap_or(0)..];
    if check_value(v2_check, "selinux") != Some("enforcing") {
        fail("power-on 1: v2 is not enforcing", c);
    }
    if let Some(avc) = c.lines().find(|l| ours_denied(l)) {
        fail(
            &format!("power-on 1: SELinux denied the update path: {avc}"),
            c,
        );
    }

    // Power-on 2: v2 updates to the broken v3, which panics 3 times; GRUB
    // falls back to slot b and v2 runs again.
    let p2 = m.power_on(&PowerOn {
        drives: &[b3, request(dir, V3)],
        network: false,
        reboot: true,
        rtc_base: None,
        until: "MK-UPDATE end",
        timeout: POWER_ON_TIMEOUT,
    });
    let c = &p2.console;
    let Some(secs) = p2.secs else {
        fail("power-on 2: no `MK-UPDATE end` on the console", c)
    };
    eprintln!("power-on 2 (v2 boot, slot write, 3 failed tries, v2 boot): {secs:.0} s (TCG)");
    let booted = lines_with(c, "MK-UPDATE booted ");
    let want = [
        format!("MK-UPDATE booted slot=b version={V2} first={V1}"),
        format!("MK-UPDATE booted slot=b version={V2} first={V1}"),
    ];
    if booted != want {
        fail(
            &format!("power-on 2: booted {booted:?}, expected {want:?}"),
            c,
        );
    }
    let grub = lines_with(c, "mk: ");
    let want = [
        format!("mk: booting slot b (version {V2})"),
        "mk: slot a on trial, 2 tries left after this boot".to_string(),
        format!("mk: booting slot a (version {V3})"),
        "mk: slot a on trial, 1 tries left after this boot".to_string(),
        format!("mk: booting slot a (version {V3})"),
        "mk: slot a on trial, 0 tries left after this boot".to_string(),
        format!("mk: booting slot a (version {V3})"),
        "mk: slot a used up its tries, back to slot b".to_string(),
        format!("mk: booting slot b (version {V2})"),
    ];
    if grub != want {
        fail(
            &format!("power-on 2: GRUB said {grub:#?}, expected {want:#?}"),
            c,
        );
    }
    if let Some(avc) = c.lines().find(|l| ours_denied(l)) {
        fail(
            &format!("power-on 2: SELinux denied the update path: {avc}"),
            c,
        );
    }
    let panics = c.matches("Kernel panic - not syncing").count();
    if panics != 3 {
        fail(
            &format!("power-on 2: {panics} kernel panics, expected one per try (3)"),
            c,
        );
    }
    let last = &c[c.rfind("MK-UPDATE booted ").unwrap()..];
    let status = lines_with(last, "MK-UPDATE status: ");
    eprintln!(
        "mk-node status after the fallback:\n  {}",
        status.join("\n  ")
    );
    // Slot a holds v3 (written, never good); b runs and stays the default.
    for want in [
        format!("slot a: version {V3}, root-a"),
        format!("slot b: version {V2}, root-b"),
        "[running, default]".to_string(),
        "grubenv: mk_default=b mk_next= ".to_string(),
    ] {
        if !status.iter().any(|l| l.contains(&want)) {
            fail(
                &format!("power-on 2: mk-node status after the fallback has no `{want}`"),
                c,
            );
        }
    }
}
