//! firewalld on a running node (R25). The `firewall` step writes zones and
//! services as XML under /etc/firewalld; a running firewalld only reads them
//! on reload. After that step, when firewalld owns its name on the system
//! bus, first boot calls its `reload` over D-Bus and then checks that every
//! source CIDR of our zones is bound to the zone we wrote, so a file
//! firewalld silently skipped (it logs and goes on) fails the step instead
//! of leaving the node open or closed without a word.
//!
//! The calls sit behind [`Firewalld`] so that `apply` into a directory root
//! (tests, image builds, `--root /mnt/x`) never touches the host's bus:
//! only `apply --root /` uses [`SystemBus`].

use mk_nodeconf::{Action, Step};
use thiserror::Error;

/// firewalld's well-known name, object path and interfaces
/// (firewalld.dbus(5)).
pub const BUS_NAME: &str = "org.fedoraproject.FirewallD1";
pub const OBJECT_PATH: &str = "/org/fedoraproject/FirewallD1";
pub const INTERFACE: &str = "org.fedoraproject.FirewallD1";
pub const ZONE_INTERFACE: &str = "org.fedoraproject.FirewallD1.zone";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FirewallError {
    #[error("firewalld over D-Bus: {call}: {error}")]
    Bus { call: &'static str, error: String },
    #[error(
        "firewalld reloaded, but source {source_cidr} is in zone {found:?}, not {zone}: firewalld \
         did not take /etc/firewalld/zones/{zone}.xml (see `journalctl -u firewalld`)"
    )]
    WrongZone {
        source_cidr: String,
        zone: String,
        found: String,
    },
}

/// The three things first boot asks a running firewalld.
pub trait Firewalld {
    /// Whether firewalld is running: its name has an owner on the bus. No
    /// bus at all means no firewalld.
    fn running(&mut self) -> Result<bool, FirewallError>;
    /// Reload the permanent configuration (/etc/firewalld) into the
    /// runtime one. Returns when firewalld has finished.
    fn reload(&mut self) -> Result<(), FirewallError>;
    /// The runtime zone `source` (a CIDR) is bound to; empty when none.
    fn zone_of_source(&mut self, source: &str) -> Result<String, FirewallError>;
}

/// Directory roots: there is no firewalld to tell.
pub struct Offline;

impl Firewalld for Offline {
    fn running(&mut self) -> Result<bool, FirewallError> {
        Ok(false)
    }
    fn reload(&mut self) -> Result<(), FirewallError> {
        Ok(())
    }
    fn zone_of_source(&mut self, _: &str) -> Result<String, FirewallError> {
        Ok(String::new())
    }
}

/// What [`activate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No firewalld running (or nothing to check): the files take effect
    /// when it starts.
    NotRunning,
    /// Running, files unchanged, every zone already active: nothing done.
    Active,
    /// Reloaded, and every source now in its zone.
    Reloaded,
}

impl Outcome {
    /// One line for the report, `None` when nothing happened.
    pub fn line(&self, zones: &[Zone]) -> Option<String> {
        match self {
            Outcome::Reloaded => Some(format!(
                "~ firewalld: reloaded; active: {}",
                zones
                    .iter()
                    .map(|z| format!("{} ({})", z.name, z.sources.join(", ")))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Outcome::NotRunning | Outcome::Active => None,
        }
    }
}

/// A zone of the plan with its source CIDRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub sources: Vec<String>,
}

/// The zones the `firewall` step writes: /etc/firewalld/zones/NAME.xml
/// with their `<source address="..."/>` entries.
pub fn planned_zones(step: &Step) -> Vec<Zone> {
    let dir = format!("{}/", mk_nodeconf::steps::firewall::ZONES);
    let mut zones = Vec::new();
    for a in &step.actions {
        let Action::WriteFile { path, contents, .. } = a else {
            continue;
        };
        let Some(name) = path.strip_prefix(&dir).and_then(|f| f.strip_suffix(".xml")) else {
            continue;
        };
        let text = String::from_utf8_lossy(contents);
        let sources = text
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("<source address=\"")?
                    .split('"')
                    .next()
                    .map(str::to_string)
            })
            .collect();
        zones.push(Zone {
            name: name.to_string(),
            sources,
        });
    }
    zones
}

fn first_misplaced(
    fw: &mut dyn Firewalld,
    zones: &[Zone],
) -> Result<Option<FirewallError>, FirewallError> {
    for z in zones {
        for s in &z.sources {
            let found = fw.zone_of_source(s)?;
            if found != z.name {
                return Ok(Some(FirewallError::WrongZone {
                    source_cidr: s.clone(),
                    zone: z.name.clone(),
                    found,
                }));
            }
        }
    }
    Ok(None)
}

/// Makes a running firewalld use the zones on disk: reload when the files
/// changed, or when a source is not in its zone (a run killed between the
/// write and the reload), then check every source.
pub fn activate(
    fw: &mut dyn Firewalld,
    zones: &[Zone],
    files_changed: bool,
) -> Result<Outcome, FirewallError> {
    if zones.is_empty() || !fw.running()? {
        return Ok(Outcome::NotRunning);
    }
    if !files_changed && first_misplaced(fw, zones)?.is_none() {
        return Ok(Outcome::Active);
    }
    tracing::info!(zones = zones.len(), "reloading firewalld");
    fw.reload()?;
    match first_misplaced(fw, zones)? {
        Some(e) => Err(e),
        None => Ok(Outcome::Reloaded),
    }
}

/// firewalld on the system bus (`DBUS_SYSTEM_BUS_ADDRESS`, else
/// /run/dbus/system_bus_socket), through zbus's blocking `block_on`: one
/// connection, opened on first use.
#[derive(Default)]
pub struct SystemBus {
    /// A D-Bus address instead of the system bus's (tests: a private bus).
    address: Option<String>,
    conn: Option<zbus::Connection>,
}

fn bus_err(call: &'static str) -> impl FnOnce(zbus::Error) -> FirewallError {
    move |e| FirewallError::Bus {
        call,
        error: e.to_string(),
    }
}

impl SystemBus {
    pub fn new() -> Self {
        SystemBus::default()
    }

    /// The bus at `address` (`unix:path=...`) instead of the system bus.
    pub fn at(address: &str) -> Self {
        SystemBus {
            address: Some(address.into()),
            conn: None,
        }
    }

    /// The connection; `None` when there is no system bus to connect to.
    fn connection(&mut self) -> Result<Option<&zbus::Connection>, FirewallError> {
        if self.conn.is_none() {
            let builder = match &self.address {
                Some(a) => zbus::connection::Builder::address(a.as_str()),
                None => zbus::connection::Builder::system(),
            };
            match zbus::block_on(builder.build()) {
                Ok(c) => self.conn = Some(c),
                Err(zbus::Error::Connection(e, _))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    tracing::info!(error = %e, "no system bus: firewalld is not running");
                    return Ok(None);
                }
                Err(e) => return Err(bus_err("connecting to the system bus")(e)),
            }
        }
        Ok(self.conn.as_ref())
    }

    fn call<B, R>(
        &mut self,
        what: &'static str,
        (dest, path, iface, method): (&str, &str, &str, &str),
        body: &B,
    ) -> Result<R, FirewallError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
        let conn = self.connection()?.ok_or(FirewallError::Bus {
            call: what,
            error: "no system bus".into(),
        })?;
        let msg = zbus::block_on(conn.call_method(Some(dest), path, Some(iface), method, body))
            .map_err(bus_err(what))?;
        msg.body().deserialize::<R>().map_err(bus_err(what))
    }
}

impl Firewalld for SystemBus {
    fn running(&mut self) -> Result<bool, FirewallError> {
        if self.connection()?.is_none() {
            return Ok(false);
        }
        self.call(
            "NameHasOwner",
            (
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "NameHasOwner",
            ),
            &(BUS_NAME,),
        )
    }

    fn reload(&mut self) -> Result<(), FirewallError> {
        self.call("reload", (BUS_NAME, OBJECT_PATH, INTERFACE, "reload"), &())
    }

    fn zone_of_source(&mut self, source: &str) -> Result<String, FirewallError> {
        self.call(
            "getZoneOfSource",
            (BUS_NAME, OBJECT_PATH, ZONE_INTERFACE, "getZoneOfSource"),
            &(source,),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A firewalld that records calls; `runtime` is what it has loaded,
    /// `disk` what a reload would load.
    struct Fake {
        running: bool,
        runtime: Vec<(String, String)>,
        disk: Vec<(String, String)>,
        calls: Vec<String>,
    }

    impl Firewalld for Fake {
        fn running(&mut self) -> Result<bool, FirewallError> {
            self.calls.push("running".into());
            Ok(self.running)
        }
        fn reload(&mut self) -> Result<(), FirewallError> {
            self.calls.push("reload".into());
            self.runtime = self.disk.clone();
            Ok(())
        }
        fn zone_of_source(&mut self, s: &str) -> Result<String, FirewallError> {
            self.calls.push(format!("zoneOf {s}"));
            Ok(self
                .runtime
                .iter()
                .find(|(src, _)| src == s)
                .map(|(_, z)| z.clone())
                .unwrap_or_default())
        }
    }

    fn zones() -> Vec<Zone> {
        vec![
            Zone {
                name: "mk-control".into(),
                sources: vec!["10.0.0.0/24".into()],
            },
            Zone {
                name: "mk-pods".into(),
                sources: vec!["192.168.0.0/16".into(), "10.96.0.0/12".into()],
            },
        ]
    }

    fn bound(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(s, z)| (s.to_string(), z.to_string()))
            .collect()
    }

    const ALL: &[(&str, &str)] = &[
        ("10.0.0.0/24", "mk-control"),
        ("192.168.0.0/16", "mk-pods"),
        ("10.96.0.0/12", "mk-pods"),
    ];

    #[test]
    fn not_running_means_no_calls_but_the_question() {
        let mut f = Fake {
            running: false,
            runtime: vec![],
            disk: bound(ALL),
            calls: vec![],
        };
        assert_eq!(activate(&mut f, &zones(), true), Ok(Outcome::NotRunning));
        assert_eq!(f.calls, ["running"]);
        assert_eq!(
            activate(&mut Offline, &zones(), true),
            Ok(Outcome::NotRunning)
        );
    }

    #[test]
    fn changed_files_reload_then_every_source_is_checked() {
        let mut f = Fake {
            running: true,
            runtime: vec![],
            disk: bound(ALL),
            calls: vec![],
        };
        assert_eq!(activate(&mut f, &zones(), true), Ok(Outcome::Reloaded));
        assert_eq!(
            f.calls,
            [
                "running",
                "reload",
                "zoneOf 10.0.0.0/24",
                "zoneOf 192.168.0.0/16",
                "zoneOf 10.96.0.0/12"
            ]
        );
        // Unchanged files, zones active: checked, not reloaded.
        f.calls.clear();
        assert_eq!(activate(&mut f, &zones(), false), Ok(Outcome::Active));
        assert!(!f.calls.contains(&"reload".to_string()), "{:?}", f.calls);
    }

    #[test]
    fn unchanged_files_but_inactive_zones_reload() {
        // A run killed after writing the files but before the reload.
        let mut f = Fake {
            running: true,
            runtime: bound(&ALL[..1]),
            disk: bound(ALL),
            calls: vec![],
        };
        assert_eq!(activate(&mut f, &zones(), false), Ok(Outcome::Reloaded));
        assert_eq!(f.calls.iter().filter(|c| *c == "reload").count(), 1);
    }

    #[test]
    fn a_zone_firewalld_did_not_take_is_an_error() {
        let mut f = Fake {
            running: true,
            runtime: vec![],
            disk: bound(&[("10.0.0.0/24", "public")]),
            calls: vec![],
        };
        let e = activate(&mut f, &zones(), true).unwrap_err();
        assert_eq!(
            e,
            FirewallError::WrongZone {
                source_cidr: "10.0.0.0/24".into(),
                zone: "mk-control".into(),
                found: "public".into()
            }
        );
        assert!(e
            .to_string()
            .contains("is in zone \"public\", not mk-control"));
    }

    #[test]
    fn zones_are_read_from_the_step() {
        let step = Step {
            name: "firewall".into(),
            input_digest: "sha256:x".into(),
            actions: vec![
                Action::WriteFile {
                    path: "/etc/firewalld/services/mk-kubelet.xml".into(),
                    contents: b"<service/>".to_vec(),
                    mode: 0o644,
                    owner: mk_nodeconf::Owner::ROOT,
                },
                Action::WriteFile {
                    path: "/etc/firewalld/zones/mk-pods.xml".into(),
                    contents: b"<zone target=\"ACCEPT\">\n  <source address=\"192.168.0.0/16\"/>\n  <source address=\"10.96.0.0/12\"/>\n</zone>\n".to_vec(),
                    mode: 0o644,
                    owner: mk_nodeconf::Owner::ROOT,
                },
            ],
        };
        assert_eq!(planned_zones(&step), zones()[1..]);
    }
}
