//! The units and drop-ins pass `systemd-analyze verify` (systemd's own
//! parser), the drop-ins tie kubelet and containerd to mk-firstboot, and
//! first boot starts the certificate renewal timer at the times
//! docs/pki.md gives.

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
    let renew = std::fs::read_to_string(Path::new(SYSTEMD).join("mk-pki-renew.service")).unwrap();
    assert!(renew.contains("ExecStart=/usr/bin/mk-firstboot renew\n"));
    let renew = renew.replace(
        "ExecStart=/usr/bin/mk-firstboot renew",
        &format!("ExecStart={} renew", env!("CARGO_BIN_EXE_mk-firstboot")),
    );
    std::fs::write(dir.join("mk-pki-renew.service"), renew).unwrap();
    std::fs::copy(
        Path::new(SYSTEMD).join("mk-pki-renew.timer"),
        dir.join("mk-pki-renew.timer"),
    )
    .unwrap();
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
            "mk-pki-renew.service",
            "mk-pki-renew.timer",
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

/// `[Section]` `Key=` values of a unit file (comments left out).
fn values(text: &str, section: &str, key: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if inside && k.trim() == key {
                out.push(v.trim().to_string());
            }
        }
    }
    out
}

/// A systemd time span of one unit (`30min`, `6h`) as (number, unit).
fn span(v: &str) -> (u64, &str) {
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    (v[..digits].parse().unwrap(), &v[digits..])
}

#[test]
fn first_boot_starts_the_renewal_timer() {
    let read = |n: &str| std::fs::read_to_string(Path::new(SYSTEMD).join(n)).unwrap();
    let firstboot = read("mk-firstboot.service");
    // Started, not enabled: the root is read-only on nodes.
    assert!(
        values(&firstboot, "Unit", "Wants")
            .iter()
            .any(|w| w.split_whitespace().any(|u| u == "mk-pki-renew.timer")),
        "{firstboot}"
    );
    let service = read("mk-pki-renew.service");
    assert_eq!(values(&service, "Unit", "After"), ["mk-firstboot.service"]);
    assert_eq!(
        values(&service, "Service", "ExecStart"),
        ["/usr/bin/mk-firstboot renew"]
    );
    assert_eq!(values(&service, "Service", "Type"), ["oneshot"]);

    // The schedule is the one docs/pki.md gives.
    let timer = read("mk-pki-renew.timer");
    let boot = values(&timer, "Timer", "OnBootSec");
    let every = values(&timer, "Timer", "OnUnitActiveSec");
    assert_eq!((boot.len(), every.len()), (1, 1), "{timer}");
    let (boot, boot_unit) = span(&boot[0]);
    let (every, every_unit) = span(&every[0]);
    assert_eq!((boot_unit, every_unit), ("min", "h"), "{timer}");
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/pki.md")).unwrap();
    let para = doc
        .split("## Renewal on the node")
        .nth(1)
        .and_then(|s| s.split("\n\n").nth(1))
        .expect("docs/pki.md: section Renewal on the node");
    let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        para.contains(&format!(
            "first run {boot} min after boot, then every {every} h"
        )),
        "docs/pki.md says: {para}"
    );

    // The package ships this directory where systemd looks.
    let pkg = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/mk-firstboot.yaml"
    ))
    .unwrap();
    assert!(
        pkg.contains("- tree: ../firstboot/systemd\n    dest: /usr/lib/systemd/system\n"),
        "{pkg}"
    );
}
