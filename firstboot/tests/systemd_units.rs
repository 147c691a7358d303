//! The unit and drop-ins pass `systemd-analyze verify` (systemd's own
//! parser), and the drop-ins tie kubelet and containerd to mk-firstboot.

use std::path::Path;
use std::process::Command;

const SYSTEMD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd");

fn verify(dir: &Path, units: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| dir.join(u)))
        // Our directory first, then the system's (for sysinit.target etc.).
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_units(dir: &Path) {
    let unit = std::fs::read_to_string(Path::new(SYSTEMD).join("mk-firstboot.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/mk-firstboot apply\n"));
    // The binary is not installed here; verify checks the command exists.
    let unit = unit.replace(
        "ExecStart=/usr/bin/mk-firstboot apply",
        &format!("ExecStart={} apply", env!("CARGO_BIN_EXE_mk-firstboot")),
    );
    std::fs::write(dir.join("mk-firstboot.service"), unit).unwrap();
    for svc in ["kubelet", "containerd"] {
        std::fs::write(
            dir.join(format!("{svc}.service")),
            format!("[Unit]\nDescription={svc}\n[Service]\nExecStart=/bin/true\n"),
        )
        .unwrap();
        let d = dir.join(format!("{svc}.service.d"));
        std::fs::create_dir(&d).unwrap();
        std::fs::copy(
            Path::new(SYSTEMD).join(format!("{svc}.service.d/10-mk-firstboot.conf")),
            d.join("10-mk-firstboot.conf"),
        )
        .unwrap();
    }
}

#[test]
fn unit_and_drop_ins_verify_clean() {
    let d = tempfile::tempdir().unwrap();
    copy_units(d.path());
    let (ok, err) = verify(
        d.path(),
        &[
            "mk-firstboot.service",
            "kubelet.service",
            "containerd.service",
        ],
    );
    assert!(ok && err.trim().is_empty(), "{err}");
    for svc in ["kubelet", "containerd"] {
        let text = std::fs::read_to_string(
            Path::new(SYSTEMD).join(format!("{svc}.service.d/10-mk-firstboot.conf")),
        )
        .unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(
            lines.contains(&"Requires=mk-firstboot.service"),
            "{svc}: {text}"
        );
        assert!(
            lines.contains(&"After=mk-firstboot.service"),
            "{svc}: {text}"
        );
    }
    let unit = std::fs::read_to_string(Path::new(SYSTEMD).join("mk-firstboot.service")).unwrap();
    for want in [
        "Type=oneshot",
        "After=local-fs.target network-online.target",
        "Before=containerd.service kubelet.service",
        "StandardOutput=journal+console",
    ] {
        assert!(unit.contains(want), "{want}");
    }
}

#[test]
fn verify_catches_a_broken_drop_in() {
    // The check above can fail: a typo in a drop-in is reported.
    let d = tempfile::tempdir().unwrap();
    copy_units(d.path());
    std::fs::write(
        d.path().join("kubelet.service.d/20-typo.conf"),
        "[Unit]\nRequire=mk-firstboot.service\n",
    )
    .unwrap();
    let (_, err) = verify(d.path(), &["kubelet.service"]);
    assert!(err.contains("Unknown key 'Require'"), "{err}");
}
