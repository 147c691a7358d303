//! The units and drop-ins pass `systemd-analyze verify` (systemd's own
//! parser), the drop-ins tie kubelet and containerd to mk-firstboot and
//! point chronyd at first boot's chrony.conf, and first boot starts the
//! certificate renewal timer at the times docs/pki.md gives.

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
    let api =
        std::fs::read_to_string(Path::new(SYSTEMD).join("mk-firstboot-cluster.service")).unwrap();
    assert!(api.contains("ExecStart=/usr/bin/mk-firstboot cluster\n"));
    let api = api.replace(
        "ExecStart=/usr/bin/mk-firstboot cluster",
        &format!("ExecStart={} cluster", env!("CARGO_BIN_EXE_mk-firstboot")),
    );
    std::fs::write(dir.join("mk-firstboot-cluster.service"), api).unwrap();
    std::fs::copy(
        Path::new(SYSTEMD).join("mk-pki-renew.timer"),
        dir.join("mk-pki-renew.timer"),
    )
    .unwrap();
    let approver =
        std::fs::read_to_string(Path::new(SYSTEMD).join("mk-csr-approver.service")).unwrap();
    assert!(approver.contains("ExecStart=/usr/bin/mk-firstboot approve-csrs\n"));
    let approver = approver.replace(
        "ExecStart=/usr/bin/mk-firstboot approve-csrs",
        &format!(
            "ExecStart={} approve-csrs",
            env!("CARGO_BIN_EXE_mk-firstboot")
        ),
    );
    std::fs::write(dir.join("mk-csr-approver.service"), approver).unwrap();
    std::fs::copy(
        Path::new(SYSTEMD).join("mk-csr-approver.timer"),
        dir.join("mk-csr-approver.timer"),
    )
    .unwrap();
    let backup =
        std::fs::read_to_string(Path::new(SYSTEMD).join("mk-etcd-backup.service")).unwrap();
    assert!(backup.contains("ExecStart=/usr/bin/mk-firstboot etcd-backup\n"));
    let backup = backup.replace(
        "ExecStart=/usr/bin/mk-firstboot etcd-backup",
        &format!(
            "ExecStart={} etcd-backup",
            env!("CARGO_BIN_EXE_mk-firstboot")
        ),
    );
    std::fs::write(dir.join("mk-etcd-backup.service"), backup).unwrap();
    std::fs::copy(
        Path::new(SYSTEMD).join("mk-etcd-backup.timer"),
        dir.join("mk-etcd-backup.timer"),
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
    // CentOS 7's chronyd.service, as far as the drop-in touches it (its
    // ExecStartPost helper is not on Debian). verify checks that
    // /usr/sbin/chronyd exists: Debian's chrony (.ci/setup).
    std::fs::write(dir.join("chronyd.service"), CENTOS7_CHRONYD).unwrap();
    let d = dir.join("chronyd.service.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::copy(
        Path::new(SYSTEMD).join("chronyd.service.d/10-mk.conf"),
        d.join("10-mk.conf"),
    )
    .unwrap();
}

const CENTOS7_CHRONYD: &str = "[Unit]
Description=NTP client/server
After=ntpdate.service sntp.service ntpd.service
Conflicts=ntpd.service systemd-timesyncd.service

[Service]
Type=forking
EnvironmentFile=-/etc/sysconfig/chronyd
ExecStart=/usr/sbin/chronyd $OPTIONS

[Install]
WantedBy=multi-user.target
";

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
            "mk-firstboot-cluster.service",
            "mk-csr-approver.service",
            "mk-csr-approver.timer",
            "mk-etcd-backup.service",
            "mk-etcd-backup.timer",
            "kubelet.service",
            "containerd.service",
            "chronyd.service",
        ],
    );
    assert!(ok && err.trim().is_empty(), "{err}");
    // The API step: pulled in by first boot (no enablement link on a
    // read-only root), after the kubelet that starts the apiserver, on
    // every cluster member (workers label themselves with the image
    // version), not on a node first boot has not configured.
    let api =
        std::fs::read_to_string(Path::new(SYSTEMD).join("mk-firstboot-cluster.service")).unwrap();
    assert!(values(&api, "Unit", "After")
        .iter()
        .any(|a| a.split_whitespace().any(|u| u == "kubelet.service")));
    assert_eq!(
        values(&api, "Unit", "ConditionPathExists"),
        [
            "/etc/kubernetes/kubelet.conf",
            "!/etc/mk/firstboot-disabled"
        ]
    );
    let first = std::fs::read_to_string(Path::new(SYSTEMD).join("mk-firstboot.service")).unwrap();
    assert!(values(&first, "Unit", "Wants").iter().any(|w| w
        .split_whitespace()
        .any(|u| u == "mk-firstboot-cluster.service")));
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
    // chronyd: after first boot but not bound to it (time comes even when
    // first boot fails), reading first boot's file.
    let chrony =
        std::fs::read_to_string(Path::new(SYSTEMD).join("chronyd.service.d/10-mk.conf")).unwrap();
    assert_eq!(values(&chrony, "Unit", "After"), ["mk-firstboot.service"]);
    assert!(values(&chrony, "Unit", "Requires").is_empty(), "{chrony}");
    assert!(values(&chrony, "Unit", "BindsTo").is_empty(), "{chrony}");
    assert_eq!(
        values(&chrony, "Service", "ExecStart"),
        [
            String::new(),
            format!(
                "/usr/sbin/chronyd -f {} $OPTIONS",
                mk_nodeconf::steps::time::CONFIG
            )
        ]
    );
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
    // An override of ExecStart= without the empty line that clears the
    // unit's own command: two commands, refused.
    let drop_in = d.path().join("chronyd.service.d/10-mk.conf");
    let text = std::fs::read_to_string(&drop_in).unwrap();
    std::fs::write(&drop_in, text.replace("ExecStart=\n", "")).unwrap();
    let (ok, err) = verify(d.path(), &["chronyd.service"]);
    assert!(!ok && err.contains("more than one ExecStart="), "{err}");
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

#[test]
fn the_api_step_starts_the_csr_approver_timer() {
    let read = |n: &str| std::fs::read_to_string(Path::new(SYSTEMD).join(n)).unwrap();
    let api = read("mk-firstboot-cluster.service");
    // Started, not enabled: the root is read-only on nodes.
    assert!(
        values(&api, "Unit", "Wants")
            .iter()
            .any(|w| w.split_whitespace().any(|u| u == "mk-csr-approver.timer")),
        "{api}"
    );
    let service = read("mk-csr-approver.service");
    assert_eq!(
        values(&service, "Service", "ExecStart"),
        ["/usr/bin/mk-firstboot approve-csrs"]
    );
    assert_eq!(values(&service, "Service", "Type"), ["oneshot"]);
    // Only where an apiserver runs (the timer is started on workers too).
    assert_eq!(
        values(&service, "Unit", "ConditionPathExists"),
        ["/etc/kubernetes/manifests/kube-apiserver.yaml"]
    );
    // After the API step, which applies the approver's RBAC.
    assert!(values(&service, "Unit", "After").iter().any(|a| a
        .split_whitespace()
        .any(|u| u == "mk-firstboot-cluster.service")));

    // The schedule is the one docs/pki.md gives.
    let timer = read("mk-csr-approver.timer");
    assert_eq!(values(&timer, "Timer", "OnBootSec"), ["2min"], "{timer}");
    assert_eq!(
        values(&timer, "Timer", "OnUnitActiveSec"),
        ["1min"],
        "{timer}"
    );
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/pki.md")).unwrap();
    let section = doc
        .split("## Kubelet serving certificates")
        .nth(1)
        .expect("docs/pki.md: section Kubelet serving certificates");
    let section = section.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        section.contains("first pass 2 min after boot, then every minute"),
        "docs/pki.md says: {section}"
    );
}

#[test]
fn the_api_step_starts_the_etcd_backup_timer() {
    let read = |n: &str| std::fs::read_to_string(Path::new(SYSTEMD).join(n)).unwrap();
    let api = read("mk-firstboot-cluster.service");
    // Started, not enabled: the root is read-only on nodes.
    assert!(
        values(&api, "Unit", "Wants")
            .iter()
            .any(|w| w.split_whitespace().any(|u| u == "mk-etcd-backup.timer")),
        "{api}"
    );
    let service = read("mk-etcd-backup.service");
    assert_eq!(
        values(&service, "Service", "ExecStart"),
        ["/usr/bin/mk-firstboot etcd-backup"]
    );
    assert_eq!(values(&service, "Service", "Type"), ["oneshot"]);
    // Only where etcd runs (the timer is started wherever the API step is).
    assert_eq!(
        values(&service, "Unit", "ConditionPathExists"),
        ["/etc/kubernetes/manifests/etcd.yaml"]
    );
    // The documentation it names is shipped there.
    let pkg = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/mk-firstboot.yaml"
    ))
    .unwrap();
    assert_eq!(
        values(&service, "Unit", "Documentation"),
        ["file:///usr/share/doc/mk-firstboot/etcd-backup.md"]
    );
    assert!(
        pkg.contains(
            "- path: /usr/share/doc/mk-firstboot/etcd-backup.md\n    source: ../docs/etcd-backup.md\n"
        ),
        "{pkg}"
    );

    // The schedule is the one docs/etcd-backup.md gives.
    let timer = read("mk-etcd-backup.timer");
    assert_eq!(values(&timer, "Timer", "OnBootSec"), ["1h"], "{timer}");
    assert_eq!(
        values(&timer, "Timer", "OnUnitActiveSec"),
        ["24h"],
        "{timer}"
    );
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/etcd-backup.md"
    ))
    .unwrap();
    let doc = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        doc.contains("`mk-etcd-backup.timer`: first 1 h after boot, then every 24 h"),
        "docs/etcd-backup.md does not give the timer's schedule"
    );
    // The defaults of `mk-firstboot etcd-backup` are the ones documented.
    for default in [
        mk_firstboot::etcdbackup::ENDPOINT,
        mk_firstboot::etcdbackup::DIR,
        mk_firstboot::etcdbackup::CACERT,
    ] {
        assert!(doc.contains(&format!("`{default}`")), "{default}");
    }
}
