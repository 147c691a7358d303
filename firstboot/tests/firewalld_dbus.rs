//! The firewall step against a real firewalld (Debian firewalld + dbus-daemon):
//! a private bus (dbus-daemon with its own config and socket in a temp dir)
//! and firewalld in its own network namespace (its nftables rules never
//! touch the host), reading the node root's /etc/firewalld
//! (`--system-config`). `run::apply_with` reloads it over D-Bus (zbus) and
//! checks each source's zone; `firewall-cmd` on the same bus judges.
//!
//! Needs root (network namespace), dbus-daemon, firewalld, firewall-cmd,
//! unshare, ip, nft.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mk_firstboot::engine::CrashPoints;
use mk_firstboot::firewall::{Firewalld, SystemBus};
use mk_firstboot::run::{self, Prepared};
use mk_firstboot::source::Delivered;
use mk_firstboot::state::{Outcome, Report, StepStatus};

const WORKER: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata:
  name: w1.example.test
spec:
  roles: [worker]
  cluster:
    name: lab
    domain: example.test
    apiEndpoint: {dnsName: api.example.test}
  planes:
    control: {cidr: 10.0.0.0/24}
  join:
    token: abcdef.0123456789abcdef
";

/// Children killed (by their own handle) when the test ends, pass or fail.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Bus {
    dir: tempfile::TempDir,
    address: String,
    daemons: Daemons,
}

impl Bus {
    /// dbus-daemon on a socket in a temp dir, root may own any name (as
    /// firewalld's own policy file allows on a node).
    fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("system_bus_socket");
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--nopidfile"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon)");
        let daemons = Daemons(vec![child]);
        wait_for("the private bus socket", || socket.exists());
        Bus {
            address: format!("unix:path={}", socket.display()),
            dir,
            daemons,
        }
    }

    /// firewalld reading `config` as its /etc/firewalld, in a new network
    /// namespace, on this bus.
    fn start_firewalld(&mut self, config: &Path) -> PathBuf {
        let log = self.dir.path().join("firewalld.log");
        let child = Command::new("unshare")
            .args(["--net", "sh", "-c"])
            .arg(format!(
                "ip link set lo up && exec firewalld --nofork --nopid --system-config {} --log-target console",
                config.display()
            ))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("unshare + firewalld (Debian package firewalld)");
        self.daemons.0.push(child);
        let address = self.address.clone();
        let log2 = log.clone();
        wait_for("firewalld on the bus", move || {
            let up = SystemBus::at(&address).running().unwrap_or(false)
                && firewall_cmd(&address, &["--state"]).0;
            if !up && std::fs::read_to_string(&log2).is_ok_and(|l| l.contains("Traceback")) {
                panic!(
                    "firewalld failed: {}",
                    std::fs::read_to_string(&log2).unwrap()
                );
            }
            up
        });
        log
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: not ready after 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn firewall_cmd(address: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("firewall-cmd")
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", address)
        .output()
        .expect("firewall-cmd (Debian package firewalld)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .trim()
        .to_string(),
    )
}

/// A worker's config, planned by the real planner for 10.0.0.21.
fn prepared() -> Prepared {
    let mut config = mk_roleconfig::parse_node_config(WORKER.as_bytes(), "w1.yaml").unwrap();
    // The planner copies ca.crt without parsing it (it reads only the
    // kubelet's certificates); this test is about the firewall step.
    config.spec.certificates.insert(
        "ca.crt".into(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
    );
    let facts = mk_nodeconf::HostFacts {
        addresses: vec!["10.0.0.21".parse().unwrap()],
        ..Default::default()
    };
    let plan = mk_nodeconf::plan("sha256:00", &config, &facts).unwrap();
    Prepared {
        delivered: Delivered {
            config: WORKER.as_bytes().to_vec(),
            signature: None,
            origin: "test".into(),
            name: "w1.yaml".into(),
        },
        signature: "unsigned (test)".into(),
        config,
        plan,
        etcd_join: None,
        network: None,
    }
}

fn firewall_step(r: &Report) -> &mk_firstboot::state::StepReport {
    r.steps.iter().find(|s| s.name == "firewall").unwrap()
}

#[test]
fn a_running_firewalld_is_reloaded_and_our_zones_become_active() {
    let root = tempfile::tempdir().unwrap();
    let fw_dir = root.path().join("etc/firewalld");
    std::fs::create_dir_all(&fw_dir).unwrap();
    // firewalld.conf comes with the firewalld package on the node.
    std::fs::copy(
        "/etc/firewalld/firewalld.conf",
        fw_dir.join("firewalld.conf"),
    )
    .expect("/etc/firewalld/firewalld.conf (Debian package firewalld)");
    let mut bus = Bus::start();
    let log = bus.start_firewalld(&fw_dir);
    let address = bus.address.clone();
    let (_, zones) = firewall_cmd(&address, &["--get-zones"]);
    assert!(!zones.contains("mk-control"), "{zones}");

    let p = prepared();
    let report = run::apply_with(
        root.path(),
        &p,
        &mut CrashPoints::none(),
        &mut SystemBus::at(&address),
    )
    .unwrap();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let step = firewall_step(&report);
    assert_eq!(step.status, StepStatus::Applied, "{step:?}\n{}", log_text());
    assert!(
        step.differences
            .iter()
            .any(|d| d.starts_with("~ firewalld: reloaded; active: mk-control (10.0.0.0/24)")),
        "{step:?}"
    );
    // firewall-cmd sees what we wrote, at runtime.
    let (ok, active) = firewall_cmd(&address, &["--get-active-zones"]);
    assert!(ok, "{active}");
    assert!(
        active.contains("mk-control\n  sources: 10.0.0.0/24"),
        "{active}"
    );
    assert!(
        active.contains("mk-pods\n  sources: 192.168.0.0/16 10.96.0.0/12"),
        "{active}"
    );
    let (ok, services) = firewall_cmd(&address, &["--zone=mk-control", "--list-services"]);
    assert!(ok, "{services}");
    let mut services: Vec<&str> = services.split_whitespace().collect();
    services.sort();
    assert_eq!(services, ["mk-calico", "mk-kubelet", "mk-nodeports"]);
    let (ok, out) = firewall_cmd(&address, &["--zone=mk-control", "--query-port=6443/tcp"]);
    assert!(!ok && out == "no", "{out}");
    let (ok, out) = firewall_cmd(&address, &["--permanent", "--zone=mk-pods", "--get-target"]);
    assert!(ok && out == "ACCEPT", "{out}");

    // Second run: files unchanged, zones active: no reload, no change.
    let report = run::apply_with(
        root.path(),
        &p,
        &mut CrashPoints::none(),
        &mut SystemBus::at(&address),
    )
    .unwrap();
    assert_eq!(report.total_changes, 0, "{report:?}");
    assert_eq!(firewall_step(&report).status, StepStatus::Unchanged);

    // Runtime drift (someone ran firewall-cmd without --permanent, or a run
    // died between writing and reloading): the next run reloads.
    let (ok, out) = firewall_cmd(
        &address,
        &["--zone=mk-control", "--remove-source=10.0.0.0/24"],
    );
    assert!(ok, "{out}");
    let report = run::apply_with(
        root.path(),
        &p,
        &mut CrashPoints::none(),
        &mut SystemBus::at(&address),
    )
    .unwrap();
    let step = firewall_step(&report);
    assert_eq!(
        (step.status, step.changed),
        (StepStatus::Applied, 1),
        "{step:?}"
    );
    let (_, out) = firewall_cmd(&address, &["--get-zone-of-source=10.0.0.0/24"]);
    assert_eq!(out, "mk-control");

    // A zone firewalld does not take fails the step with firewalld's own
    // reason: another zone on disk already claims our control plane, and
    // our file was edited, so this run rewrites it and reloads.
    std::fs::write(
        fw_dir.join("zones/aaa-site.xml"),
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<zone>\n  <short>site</short>\n  <source address=\"10.0.0.0/24\"/>\n</zone>\n",
    )
    .unwrap();
    std::fs::write(fw_dir.join("zones/mk-control.xml"), "<zone/>\n").unwrap();
    let report = run::apply_with(
        root.path(),
        &p,
        &mut CrashPoints::none(),
        &mut SystemBus::at(&address),
    )
    .unwrap();
    let step = firewall_step(&report);
    assert_eq!(step.status, StepStatus::Failed, "{step:?}\n{}", log_text());
    assert_eq!(report.outcome, Outcome::Failed);
    let err = step.error.as_deref().unwrap();
    assert!(
        err.contains("firewalld over D-Bus: reload:")
            && err.contains("source '10.0.0.0/24' already bound to zone"),
        "{err}"
    );
    // Removing the intruder and running again converges.
    std::fs::remove_file(fw_dir.join("zones/aaa-site.xml")).unwrap();
    let report = run::apply_with(
        root.path(),
        &p,
        &mut CrashPoints::none(),
        &mut SystemBus::at(&address),
    )
    .unwrap();
    assert_eq!(report.outcome, Outcome::Ok, "{report:?}\n{}", log_text());
    let (_, out) = firewall_cmd(&address, &["--get-zone-of-source=10.0.0.0/24"]);
    assert_eq!(out, "mk-control");
}

#[test]
fn no_bus_means_firewalld_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("absent").display());
    assert_eq!(SystemBus::at(&address).running(), Ok(false));
}
