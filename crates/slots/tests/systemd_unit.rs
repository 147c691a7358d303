//! mk-node-mark-good.service passes `systemd-analyze verify` beside
//! mk-firstboot.service, runs only after first boot succeeded (Requires= +
//! After=) and after the kubelet, and first boot pulls it in.

use std::path::Path;
use std::process::Command;

const SYSTEMD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../firstboot/systemd");

fn values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[test]
fn mark_good_unit_verifies_and_waits_for_first_boot_and_kubelet() {
    let unit =
        std::fs::read_to_string(Path::new(SYSTEMD).join("mk-node-mark-good.service")).unwrap();
    let first = std::fs::read_to_string(Path::new(SYSTEMD).join("mk-firstboot.service")).unwrap();
    assert!(values(&unit, "Requires").contains(&"mk-firstboot.service".into()));
    for after in ["mk-firstboot.service", "kubelet.service"] {
        assert!(
            values(&unit, "After").contains(&after.into()),
            "After={after}"
        );
    }
    assert!(values(&unit, "ExecStart").contains(&"/usr/bin/mk-node".into()));
    assert!(values(&first, "Wants").contains(&"mk-node-mark-good.service".into()));

    let d = tempfile::tempdir().unwrap();
    // The binaries are not installed here; verify checks the commands exist.
    std::fs::write(
        d.path().join("mk-node-mark-good.service"),
        unit.replace("/usr/bin/mk-node mark-good", "/bin/true"),
    )
    .unwrap();
    std::fs::write(
        d.path().join("mk-firstboot.service"),
        first.replace("/usr/bin/mk-firstboot apply", "/bin/true"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(d.path().join("mk-node-mark-good.service"))
        .arg(d.path().join("mk-firstboot.service"))
        .env("SYSTEMD_UNIT_PATH", format!("{}:", d.path().display()))
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
}
