//! The example image (examples/image: the fixture distribution, overlays/node
//! and mk-firstboot) built with `mk-compose image`'s pipeline and booted in
//! QEMU (TCG, OVMF). Judged from the serial console: the kernel booted,
//! SELinux enforcing, root read-only, /var on the state partition,
//! multi-user.target reached, mk-firstboot ran.

use mk_qemu_tests::*;
use std::time::Duration;

/// TCG boots take about 1-3 minutes here; the hard limit is generous for
/// busy CI machines.
const BOOT_TIMEOUT: Duration = Duration::from_secs(8 * 60);

#[test]
fn example_image_boots_enforcing_read_only_to_multi_user() {
    init_logs();
    let work = scratch("boot.");
    let inputs = example_inputs_in(work.path());
    let recipe = write_recipe(work.path(), &inputs, |ks| ks, "1GiB");
    let report = mk_image::build(&mk_image::BuildOptions {
        recipe,
        allowed_unowned: fixture_allowed_unowned(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("image build: {e:?}"));
    let raw = report.raw.clone().unwrap();
    let boot = boot(&raw, "MK-CHECK done", BOOT_TIMEOUT);
    let c = &boot.console;
    let fail = |what: &str| -> ! {
        panic!(
            "{what}\n---- serial console ({} bytes) ----\n{c}\n---- end of console ----",
            c.len()
        )
    };
    let Some(secs) = boot.secs else {
        fail(&format!(
            "no `MK-CHECK done` on the console within {BOOT_TIMEOUT:?}"
        ))
    };
    eprintln!("power-on to boot report: {secs:.0} s (TCG)");
    if !c.contains("Linux version ") {
        fail("the kernel did not boot");
    }
    if !c.contains(&format!("Linux version {}", report.kernel)) {
        fail(&format!("not the image's kernel {}", report.kernel));
    }
    if !c.contains("systemd[1]: Successfully loaded SELinux policy") {
        fail("systemd did not load the SELinux policy");
    }
    match check_value(c, "selinux") {
        Some("enforcing") => {}
        other => fail(&format!("SELinux is {other:?}, expected enforcing")),
    }
    let root = check_value(c, "root").unwrap_or_else(|| fail("no root mount report"));
    if !root.split(',').any(|o| o == "ro") {
        fail(&format!("root is mounted `{root}`, expected ro"));
    }
    let var = check_value(c, "var").unwrap_or_else(|| fail("no /var report"));
    if !var.starts_with("/dev/vda3,rw") {
        fail(&format!(
            "/var is `{var}`, expected the state partition /dev/vda3, rw"
        ));
    }
    if check_value(c, "multi-user") != Some("active") {
        fail("multi-user.target not reached");
    }
    // mk-firstboot ran: its unit started and the binary wrote to the console
    // (without a role config it refuses, which is its documented outcome).
    if !c.contains("mk-firstboot[") {
        fail("mk-firstboot.service wrote nothing to the console: did it run?");
    }
    if check_value(c, "firstboot").is_none_or(|s| s == "inactive") {
        fail("mk-firstboot.service did not run");
    }
    // The persistent /etc bind mounts work under enforcing.
    for unit in [
        "etc-kubernetes.mount",
        "etc-containerd.mount",
        "etc-firewalld-zones.mount",
        "etc-firewalld-services.mount",
    ] {
        if c.contains(&format!("MK-CHECK failed-unit {unit}")) {
            fail(&format!("{unit} failed"));
        }
    }
}
