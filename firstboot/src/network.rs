//! The network phase of a run (issue 14): a role config with
//! `spec.network` has its `network` and `hosts` steps applied, the
//! profiles brought up through NetworkManager, and the planes' addresses
//! awaited (bounded) BEFORE this host's addresses are read and the rest is
//! planned: the planner picks each plane's address from the interfaces
//! (R30), so they must be up first. Without `spec.network` there is no
//! phase: the addresses are whatever brought the network up.
//!
//! NetworkManager sits behind [`NetworkManager`] (nmcli on the node, a fake
//! in tests) and the address reader behind a closure, so the sequencing is
//! tested without either.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mk_nodeconf::mk_netconf::ID_PREFIX;
use mk_nodeconf::HostFacts;
use mk_roleconfig::names::{Cidr, IfAddress};
use mk_roleconfig::NodeConfig;
use thiserror::Error;

use crate::engine::{CrashPoints, NetworkManager, Node};
use crate::state::{StepReport, StepStatus};

/// How long a node waits for its planes' addresses: DHCP included
/// (NetworkManager's own DHCP timeout is 45 s), and an 802.3ad bond's LACP
/// negotiation. Then the run stops, naming what is missing.
pub const ADDRESS_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the addresses are read while waiting.
pub const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Error)]
pub enum NetworkError {
    #[error("{0}")]
    Plan(String),
    #[error("step {step}: {error}")]
    Step { step: String, error: String },
    #[error("NetworkManager: {0}")]
    BringUp(String),
    #[error("reading this host's addresses: {0}")]
    Addresses(String),
    /// Named plane by plane: the link, its kernel interface and what
    /// NetworkManager says about its profile.
    #[error(
        "after {secs} s the planes' addresses are not all up: {}; addresses seen: {}",
        missing.join("; "),
        if seen.is_empty() { "none".to_string() } else {
            seen.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        }
    )]
    Timeout {
        secs: u64,
        missing: Vec<String>,
        seen: Vec<IpAddr>,
    },
}

/// What the phase did: the step reports (merged into report.json under the
/// same steps by [`crate::run::apply`]) and the addresses it saw last.
#[derive(Debug, Clone)]
pub struct Phase {
    pub steps: Vec<StepReport>,
    pub addresses: Vec<IpAddr>,
}

/// A plane whose address is not on the host yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub plane: &'static str,
    /// The link in `spec.network` the plane is placed on.
    pub link: String,
    pub want: Want,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// The static address the config gives.
    Address(IpAddr),
    /// DHCP: any address inside the plane's CIDR.
    InCidr(Cidr),
}

/// The planes of `spec.network` whose address `addresses` lacks. Pure.
/// Planes not placed by `spec.network` are not awaited (their address
/// comes from elsewhere; the planner says so if it never does).
pub fn pending(config: &NodeConfig, addresses: &[IpAddr]) -> Vec<Pending> {
    let Some(net) = &config.spec.network else {
        return Vec::new();
    };
    let planes = &config.spec.planes;
    let cidr_of = |plane: &str| {
        let p = match plane {
            "workload" => planes.workload.as_ref(),
            "etcd" => planes.etcd.as_ref(),
            _ => None,
        };
        // Planes not given share the control plane's network (as planned).
        Cidr::parse(&p.unwrap_or(&planes.control).cidr).ok()
    };
    let mut out = Vec::new();
    for (plane, pn) in net.planes.iter() {
        let want = match (&pn.address, pn.dhcp) {
            (Some(a), _) => match IfAddress::parse(a) {
                Ok(a) => Want::Address(a.addr),
                Err(_) => continue, // validation refused it already
            },
            (None, true) => match cidr_of(plane) {
                Some(c) => Want::InCidr(c),
                None => continue,
            },
            (None, false) => continue,
        };
        let present = match &want {
            Want::Address(a) => addresses.contains(a),
            Want::InCidr(c) => addresses.iter().any(|a| c.contains(*a)),
        };
        if !present {
            out.push(Pending {
                plane,
                link: pn.link.clone(),
                want,
            });
        }
    }
    out
}

/// How the phase reaches the host.
pub struct Links<'a> {
    pub nm: &'a mut dyn NetworkManager,
    /// This host's addresses now (`ip -j addr` on the node).
    pub addresses: &'a mut dyn FnMut() -> Result<Vec<IpAddr>, String>,
    pub timeout: Duration,
    pub poll: Duration,
}

/// Applies the network steps under `root`, brings the profiles up when
/// they changed, and waits until every plane of `spec.network` has its
/// address. A second run with the same config writes nothing and calls
/// NetworkManager for nothing (the profiles autoconnected at boot); it
/// still waits, since first boot may start before they are up.
pub fn run(
    root: &Path,
    config: &NodeConfig,
    facts: &HostFacts,
    links: &mut Links<'_>,
    crash: &mut CrashPoints,
) -> Result<Phase, NetworkError> {
    let steps =
        mk_nodeconf::plan_network(config, facts).map_err(|e| NetworkError::Plan(e.to_string()))?;
    let node = Node::new(root);
    let mut reports = Vec::new();
    for step in &steps {
        let t0 = Instant::now();
        let mut a = crate::run::apply_step(&node, step, crash);
        if let Some(error) = a.error {
            return Err(NetworkError::Step {
                step: step.name.clone(),
                error,
            });
        }
        if step.name == mk_nodeconf::steps::hosts::NAME && a.changed > 0 {
            a.lines
                .extend(remount_hosts(root).map_err(|error| NetworkError::Step {
                    step: step.name.clone(),
                    error,
                })?);
        }
        if step.name == mk_nodeconf::steps::network::NAME {
            // Changed profiles are activated; unchanged ones too while a
            // plane lacks its address (an earlier run wrote them, then
            // stopped before they came up).
            let activate = a.changed > 0 || {
                let now = (links.addresses)().map_err(NetworkError::Addresses)?;
                !pending(config, &now).is_empty()
            };
            if let Some(line) =
                crate::engine::bring_up(links.nm, step, activate).map_err(NetworkError::BringUp)?
            {
                a.lines.push(line);
            }
        }
        tracing::info!(step = step.name, changed = a.changed, "network phase");
        reports.push(StepReport {
            name: step.name.clone(),
            input_digest: step.input_digest.clone(),
            inputs_changed: a.changed > 0,
            changed: a.changed,
            duration_ms: t0.elapsed().as_secs_f64() * 1e3,
            status: if a.changed > 0 {
                StepStatus::Applied
            } else {
                StepStatus::Unchanged
            },
            error: None,
            differences: a.lines,
        });
    }
    let addresses = wait(config, facts, links)?;
    Ok(Phase {
        steps: reports,
        addresses,
    })
}

/// Reads the addresses until no plane is [`pending`], at most
/// `links.timeout`; then the error names each missing plane's link, its
/// kernel interface and NetworkManager's word on its profile.
fn wait(
    config: &NodeConfig,
    facts: &HostFacts,
    links: &mut Links<'_>,
) -> Result<Vec<IpAddr>, NetworkError> {
    let start = Instant::now();
    loop {
        let seen = (links.addresses)().map_err(NetworkError::Addresses)?;
        let missing = pending(config, &seen);
        if missing.is_empty() {
            return Ok(seen);
        }
        if start.elapsed() >= links.timeout {
            let missing = missing
                .iter()
                .map(|p| describe(p, config, facts, links.nm))
                .collect();
            return Err(NetworkError::Timeout {
                secs: links.timeout.as_secs(),
                missing,
                seen,
            });
        }
        std::thread::sleep(links.poll);
    }
}

fn describe(
    p: &Pending,
    config: &NodeConfig,
    facts: &HostFacts,
    nm: &mut dyn NetworkManager,
) -> String {
    let want = match &p.want {
        Want::Address(a) => format!("address {a}"),
        Want::InCidr(c) => format!("a DHCP address in {c}"),
    };
    let profile = format!("{ID_PREFIX}{}", p.link);
    format!(
        "spec.network.planes.{}: no {want} on link {}{} (NetworkManager profile {profile}: {})",
        p.plane,
        p.link,
        kernel_name(&p.link, config, facts),
        nm.state(&profile)
    )
}

/// ` (interface eth1, 52:54:00:aa:00:02)` for an interface selected by
/// MAC, when the host has it; empty otherwise (the link's name is the
/// kernel's: a name-selected interface, a bond or a VLAN).
fn kernel_name(link: &str, config: &NodeConfig, facts: &HostFacts) -> String {
    let net = config.spec.network.as_ref();
    let Some(mac) = net
        .and_then(|n| n.interfaces.iter().find(|i| i.name == link))
        .and_then(|i| i.mac_address.as_deref())
        .and_then(mk_roleconfig::select::normalize_mac)
    else {
        return String::new();
    };
    match facts
        .interfaces
        .iter()
        .flatten()
        .find(|i| i.mac.eq_ignore_ascii_case(&mac))
    {
        Some(i) => format!(" (interface {}, {mac})", i.name),
        None => format!(" (MAC {mac})"),
    }
}

/// The node overlay's unit that binds the state partition's hosts file
/// over /etc/hosts.
pub const HOSTS_MOUNT: &str = "etc-hosts.mount";

/// After the `hosts` step replaced the state partition's hosts file (by
/// rename: a new inode), the bind mount over /etc/hosts still shows the old
/// one: restart the node overlay's [`HOSTS_MOUNT`]. Only on the running
/// node (`root` is `/`), and only where the image has the unit (without the
/// node overlay /etc/hosts stays the distribution's file, and the file
/// written is not used: said in the log).
pub fn remount_hosts(root: &Path) -> Result<Option<String>, String> {
    if root != Path::new("/") {
        return Ok(None);
    }
    let unit = ["etc/systemd/system", "usr/lib/systemd/system"]
        .iter()
        .any(|d| root.join(d).join(HOSTS_MOUNT).is_file());
    if !unit {
        tracing::warn!(
            "this image has no {HOSTS_MOUNT} (node overlay): /etc/hosts stays the distribution's"
        );
        return Ok(None);
    }
    let out = std::process::Command::new("systemctl")
        .args(["restart", HOSTS_MOUNT])
        .output()
        .map_err(|e| format!("running `systemctl restart {HOSTS_MOUNT}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`systemctl restart {HOSTS_MOUNT}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Some(format!("/etc/hosts: {HOSTS_MOUNT} restarted")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::OfflineNm;

    const CONFIG: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata:
  name: w1.example.com
spec:
  roles: [worker]
  cluster:
    name: lab
    domain: example.com
    apiEndpoint: {dnsName: api.example.com}
  planes:
    control: {cidr: 10.0.0.0/24}
    workload: {cidr: 10.0.2.0/24}
  join:
    token: abcdef.0123456789abcdef
    caCertHashes:
      - sha256:7d2e6c1f0b4f1f5e8a9c3b2d1e0f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f
  network:
    interfaces:
      - {name: nic0, macAddress: \"52:54:00:00:00:11\"}
      - {name: nic1, macAddress: \"52:54:00:00:00:12\"}
      - {name: nic2, macAddress: \"52:54:00:00:00:13\"}
    bonds: [{name: bond0, mode: active-backup, members: [nic1, nic2]}]
    planes:
      control: {link: nic0, address: 10.0.0.11/24, gateway: 10.0.0.1}
      workload: {link: bond0, dhcp: true}
  hosts:
    - {address: 10.0.0.10, names: [api.example.com]}
";

    fn config(text: &str) -> NodeConfig {
        mk_roleconfig::parse_node_config(text.as_bytes(), "w1.yaml").unwrap()
    }

    fn facts() -> HostFacts {
        let i = |name: &str, mac: &str| mk_nodeconf::NetInterface {
            name: name.into(),
            mac: mac.into(),
        };
        HostFacts {
            interfaces: Some(vec![
                i("eth0", "52:54:00:00:00:11"),
                i("eth1", "52:54:00:00:00:12"),
                i("eth2", "52:54:00:00:00:13"),
            ]),
            ..HostFacts::default()
        }
    }

    fn ips(a: &[&str]) -> Vec<IpAddr> {
        a.iter().map(|a| a.parse().unwrap()).collect()
    }

    /// NetworkManager as a log of what it was asked.
    #[derive(Default)]
    struct Nm(Vec<String>);
    impl NetworkManager for Nm {
        fn reload(&mut self) -> Result<(), String> {
            self.0.push("reload".into());
            Ok(())
        }
        fn up(&mut self, id: &str) -> Result<(), String> {
            self.0.push(format!("up {id}"));
            Ok(())
        }
        fn state(&mut self, id: &str) -> String {
            self.0.push(format!("state {id}"));
            "activating".into()
        }
    }

    /// Runs the phase; the host shows `later` after `polls` reads of
    /// `first` (links coming up).
    fn phase(
        root: &Path,
        c: &NodeConfig,
        nm: &mut Nm,
        first: &[&str],
        later: &[&str],
        polls: usize,
        timeout: Duration,
    ) -> (Result<Phase, NetworkError>, usize) {
        let (first, later) = (ips(first), ips(later));
        let mut reads = 0;
        let mut read = || {
            reads += 1;
            Ok(if reads > polls {
                later.clone()
            } else {
                first.clone()
            })
        };
        let mut links = Links {
            nm,
            addresses: &mut read,
            timeout,
            poll: Duration::from_millis(1),
        };
        let r = run(root, c, &facts(), &mut links, &mut CrashPoints::none());
        (r, reads)
    }

    #[test]
    fn pending_planes_are_the_static_address_and_a_dhcp_address_in_the_cidr() {
        let c = config(CONFIG);
        let p = pending(&c, &ips(&["127.0.0.1"]));
        assert_eq!(
            p,
            [
                Pending {
                    plane: "control",
                    link: "nic0".into(),
                    want: Want::Address("10.0.0.11".parse().unwrap())
                },
                Pending {
                    plane: "workload",
                    link: "bond0".into(),
                    want: Want::InCidr(Cidr::parse("10.0.2.0/24").unwrap())
                },
            ]
        );
        // Another address in the control CIDR is not the planned one.
        assert_eq!(pending(&c, &ips(&["10.0.0.12", "10.0.2.77"])).len(), 1);
        assert!(pending(&c, &ips(&["10.0.0.11", "10.0.2.77"])).is_empty());
        // Without spec.network nothing is awaited.
        let mut bare = c.clone();
        bare.spec.network = None;
        assert!(pending(&bare, &[]).is_empty());
    }

    #[test]
    fn first_run_writes_brings_up_and_waits_then_a_rerun_changes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let c = config(CONFIG);
        let mut nm = Nm::default();
        let up = ["127.0.0.1", "10.0.0.11", "10.0.2.50"];
        let (r, reads) = phase(
            t.path(),
            &c,
            &mut nm,
            &["127.0.0.1"],
            &up,
            3,
            Duration::from_secs(10),
        );
        let p = r.unwrap();
        assert_eq!(reads, 4, "waited until the addresses came");
        assert_eq!(p.addresses, ips(&up));
        assert_eq!(
            nm.0,
            [
                "reload",
                "up mk-bond0",
                "up mk-nic0",
                "up mk-nic1",
                "up mk-nic2"
            ]
        );
        let names: Vec<(&str, StepStatus)> = p
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.status))
            .collect();
        assert_eq!(
            names,
            [
                ("network", StepStatus::Applied),
                ("hosts", StepStatus::Applied)
            ]
        );
        assert!(p.steps[0]
            .differences
            .iter()
            .any(|l| l.starts_with("NetworkManager: reloaded, brought up mk-bond0")));
        let hosts = std::fs::read_to_string(t.path().join("var/lib/mk/etc/hosts")).unwrap();
        assert!(hosts.contains("10.0.0.10   api.example.com"), "{hosts}");
        assert!(t
            .path()
            .join("var/lib/mk/etc/NetworkManager/system-connections/mk-bond0.nmconnection")
            .is_file());

        // The same config again (next boot: NetworkManager autoconnected
        // the profiles): nothing written, NetworkManager not asked.
        let mut nm = Nm::default();
        let (r, _) = phase(t.path(), &c, &mut nm, &up, &up, 0, Duration::ZERO);
        let p = r.unwrap();
        assert!(nm.0.is_empty(), "{:?}", nm.0);
        assert!(p
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Unchanged && s.differences.is_empty()));

        // A new control address (R29): the network step re-applies and
        // brings the links up again; hosts stays.
        let moved = config(&CONFIG.replace("10.0.0.11/24", "10.0.0.21/24"));
        let mut nm = Nm::default();
        let (r, _) = phase(
            t.path(),
            &moved,
            &mut nm,
            &up,
            &["10.0.0.21", "10.0.2.50"],
            1,
            Duration::from_secs(10),
        );
        let p = r.unwrap();
        assert_eq!(p.steps[0].status, StepStatus::Applied);
        // Every profile of the step carries the step's input digest (R19).
        assert_eq!(p.steps[0].changed, 4, "{:?}", p.steps[0].differences);
        let nic0 = std::fs::read_to_string(
            t.path()
                .join("var/lib/mk/etc/NetworkManager/system-connections/mk-nic0.nmconnection"),
        )
        .unwrap();
        assert!(nic0.contains("address1=10.0.0.21/24"), "{nic0}");
        assert_eq!(p.steps[1].status, StepStatus::Unchanged);
        assert_eq!(nm.0[0], "reload");
    }

    #[test]
    fn addresses_that_never_come_are_named_with_link_interface_and_nm_state() {
        let t = tempfile::tempdir().unwrap();
        let c = config(CONFIG);
        let mut nm = Nm::default();
        let (r, reads) = phase(
            t.path(),
            &c,
            &mut nm,
            &["127.0.0.1", "10.0.0.11"],
            &[],
            usize::MAX,
            Duration::from_millis(30),
        );
        let e = r.unwrap_err().to_string();
        assert!(reads > 1, "polled until the timeout");
        assert_eq!(
            e,
            "after 0 s the planes' addresses are not all up: spec.network.planes.workload: \
             no a DHCP address in 10.0.2.0/24 on link bond0 (NetworkManager profile mk-bond0: \
             activating); addresses seen: 127.0.0.1, 10.0.0.11"
        );
        assert_eq!(nm.0.last().unwrap(), "state mk-bond0");
        // A MAC-selected interface is named by its kernel name too.
        let mut nm = Nm::default();
        let (r, _) = phase(
            t.path(),
            &c,
            &mut nm,
            &["10.0.2.9"],
            &[],
            usize::MAX,
            Duration::ZERO,
        );
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains(
                "spec.network.planes.control: no address 10.0.0.11 on link nic0 \
                 (interface eth0, 52:54:00:00:00:11) (NetworkManager profile mk-nic0: activating)"
            ),
            "{e}"
        );
    }

    #[test]
    fn unchanged_profiles_are_activated_while_a_plane_lacks_its_address() {
        let t = tempfile::tempdir().unwrap();
        let c = config(CONFIG);
        let up = ["10.0.0.11", "10.0.2.50"];
        let mut nm = Nm::default();
        phase(t.path(), &c, &mut nm, &up, &up, 0, Duration::ZERO)
            .0
            .unwrap();
        // An earlier run wrote the profiles and stopped before they came
        // up (or NetworkManager gave up on them): this run asks again.
        let mut nm = Nm::default();
        let (r, _) = phase(
            t.path(),
            &c,
            &mut nm,
            &["127.0.0.1"],
            &up,
            2,
            Duration::from_secs(10),
        );
        let p = r.unwrap();
        assert_eq!(nm.0[0], "reload", "{:?}", nm.0);
        assert_eq!(p.steps[0].changed, 0);
        assert_eq!(p.steps[0].status, StepStatus::Unchanged);
    }

    #[test]
    fn a_directory_root_activates_nothing() {
        let t = tempfile::tempdir().unwrap();
        let c = config(CONFIG);
        let mut nm = OfflineNm;
        let mut read = || Ok(ips(&["10.0.0.11", "10.0.2.5"]));
        let mut links = Links {
            nm: &mut nm,
            addresses: &mut read,
            timeout: Duration::ZERO,
            poll: POLL,
        };
        let p = run(t.path(), &c, &facts(), &mut links, &mut CrashPoints::none()).unwrap();
        assert_eq!(remount_hosts(t.path()), Ok(None));
        assert_eq!(p.steps.len(), 2);
    }
}
