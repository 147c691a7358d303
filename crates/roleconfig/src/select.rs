//! One drive, many nodes: picking this machine's config from a
//! `NodeConfigList` by MAC address, DMI serial or system UUID.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::types::{NodeConfig, NodeConfigList, Selector};

/// What identifies this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineFacts {
    /// Lower-case `aa:bb:cc:dd:ee:ff`, sorted, without loopback and zero
    /// addresses.
    pub macs: Vec<String>,
    pub dmi_serial: Option<String>,
    /// Lower case.
    pub system_uuid: Option<String>,
}

impl fmt::Display for MachineFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let macs = if self.macs.is_empty() {
            "none".to_string()
        } else {
            self.macs.join(", ")
        };
        write!(
            f,
            "MAC addresses: {macs}; DMI serial: {}; system UUID: {}",
            self.dmi_serial.as_deref().unwrap_or("none"),
            self.system_uuid.as_deref().unwrap_or("none")
        )
    }
}

#[derive(Debug, Error)]
pub enum FactsError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("no config in the list matches this machine ({facts}); the list has: {candidates}")]
    NoMatch { facts: String, candidates: String },
    #[error("several configs match this machine ({facts}): {}; selectors must be unique", .names.join(", "))]
    Ambiguous { facts: String, names: Vec<String> },
    #[error(
        "the config for {name} is for another machine (match: {selector}; this machine: {facts})"
    )]
    NotThisMachine {
        name: String,
        selector: String,
        facts: String,
    },
}

/// DMI placeholders that vendors leave in unset fields: never identifying.
const PLACEHOLDERS: &[&str] = &[
    "",
    "0",
    "none",
    "default string",
    "to be filled by o.e.m.",
    "not specified",
    "system serial number",
    "03000200-0400-0500-0006-000700080009",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
];

fn meaningful(s: &str) -> Option<String> {
    let t = s.trim();
    (!PLACEHOLDERS.contains(&t.to_ascii_lowercase().as_str())).then(|| t.to_string())
}

/// `aa:bb:cc:dd:ee:ff` in lower case, or None.
pub fn normalize_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    (parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit())))
    .then(|| s.trim().to_ascii_lowercase())
}

/// 8-4-4-4-12 hex, lower case, or None.
pub fn normalize_uuid(s: &str) -> Option<String> {
    let t = s.trim();
    let groups: Vec<&str> = t.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    (lens == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit())))
    .then(|| t.to_ascii_lowercase())
}

impl MachineFacts {
    /// Reads the facts under `sysfs_root` (normally `/sys`):
    /// `class/net/*/address`, `class/dmi/id/product_serial` and
    /// `class/dmi/id/product_uuid`. Missing DMI files (VMs without SMBIOS)
    /// give `None`; unreadable ones are errors (they are root-only: run as
    /// root).
    pub fn read(sysfs_root: &Path) -> Result<Self, FactsError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| FactsError::Io { path, source }
        };
        let net = sysfs_root.join("class/net");
        let mut macs = Vec::new();
        match std::fs::read_dir(&net) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(io(&net))?;
                    if entry.file_name() == "lo" {
                        continue;
                    }
                    let path = entry.path().join("address");
                    let text = match std::fs::read_to_string(&path) {
                        Ok(t) => t,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io(&path)(e)),
                    };
                    // Non-Ethernet link addresses (InfiniBand, tunnels) do
                    // not parse and are skipped.
                    if let Some(mac) = normalize_mac(&text) {
                        if mac != "00:00:00:00:00:00" {
                            macs.push(mac);
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&net)(e)),
        }
        macs.sort();
        macs.dedup();
        let dmi = |name: &str| -> Result<Option<String>, FactsError> {
            let path = sysfs_root.join("class/dmi/id").join(name);
            match std::fs::read_to_string(&path) {
                Ok(t) => Ok(meaningful(&t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io(&path)(e)),
            }
        };
        Ok(MachineFacts {
            macs,
            dmi_serial: dmi("product_serial")?,
            system_uuid: dmi("product_uuid")?.map(|u| u.to_ascii_lowercase()),
        })
    }
}

/// Whether every criterion of `sel` holds for `facts` (and it has one).
pub fn matches(sel: &Selector, facts: &MachineFacts) -> bool {
    let mut any = false;
    if !sel.mac_addresses.is_empty() {
        any = true;
        let hit = sel
            .mac_addresses
            .iter()
            .filter_map(|m| normalize_mac(m))
            .any(|m| facts.macs.contains(&m));
        if !hit {
            return false;
        }
    }
    if let Some(serial) = &sel.dmi_serial {
        any = true;
        if facts.dmi_serial.as_deref() != Some(serial.trim()) {
            return false;
        }
    }
    if let Some(uuid) = &sel.system_uuid {
        any = true;
        let want = normalize_uuid(uuid);
        if want.is_none() || facts.system_uuid != want {
            return false;
        }
    }
    any
}

pub fn describe_selector(sel: &Selector) -> String {
    let mut parts = Vec::new();
    if !sel.mac_addresses.is_empty() {
        parts.push(format!("macAddresses {}", sel.mac_addresses.join(", ")));
    }
    if let Some(s) = &sel.dmi_serial {
        parts.push(format!("dmiSerial {s}"));
    }
    if let Some(u) = &sel.system_uuid {
        parts.push(format!("systemUUID {u}"));
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(" and ")
    }
}

/// This machine's config: exactly one item must match.
pub fn select<'a>(
    list: &'a NodeConfigList,
    facts: &MachineFacts,
) -> Result<&'a NodeConfig, SelectError> {
    let hits: Vec<&NodeConfig> = list
        .items
        .iter()
        .filter(|c| c.selector.as_ref().is_some_and(|s| matches(s, facts)))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(SelectError::NoMatch {
            facts: facts.to_string(),
            candidates: list
                .items
                .iter()
                .map(|c| {
                    format!(
                        "{} ({})",
                        c.metadata.name,
                        c.selector
                            .as_ref()
                            .map_or("no match".into(), describe_selector)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        }),
        many => Err(SelectError::Ambiguous {
            facts: facts.to_string(),
            names: many.iter().map(|c| c.metadata.name.clone()).collect(),
        }),
    }
}

/// A single config: refused when it has a selector that this machine does
/// not satisfy.
pub fn check_single<'a>(
    cfg: &'a NodeConfig,
    facts: &MachineFacts,
) -> Result<&'a NodeConfig, SelectError> {
    match &cfg.selector {
        Some(sel) if !matches(sel, facts) => Err(SelectError::NotThisMachine {
            name: cfg.metadata.name.clone(),
            selector: describe_selector(sel),
            facts: facts.to_string(),
        }),
        _ => Ok(cfg),
    }
}

/// Syntax of a selector, for validation.
pub(crate) fn check_selector(sel: &Selector, path: &str, add: &mut dyn FnMut(String, String)) {
    if sel.mac_addresses.is_empty() && sel.dmi_serial.is_none() && sel.system_uuid.is_none() {
        add(
            path.to_string(),
            "empty selector: give macAddresses, dmiSerial and/or systemUUID".into(),
        );
    }
    for (i, m) in sel.mac_addresses.iter().enumerate() {
        if normalize_mac(m).is_none() {
            add(
                format!("{path}.macAddresses[{i}]"),
                format!("{m:?} is not a MAC address (expected aa:bb:cc:dd:ee:ff)"),
            );
        }
    }
    if let Some(s) = &sel.dmi_serial {
        if meaningful(s).is_none() {
            add(
                format!("{path}.dmiSerial"),
                format!(
                    "{s:?} is a placeholder that vendors leave unset; it identifies no machine"
                ),
            );
        }
    }
    if let Some(u) = &sel.system_uuid {
        if normalize_uuid(u).is_none() {
            add(
                format!("{path}.systemUUID"),
                format!("{u:?} is not a UUID (expected 8-4-4-4-12 hex digits)"),
            );
        } else if meaningful(u).is_none() {
            add(
                format!("{path}.systemUUID"),
                format!("{u:?} is a placeholder UUID; it identifies no machine"),
            );
        }
    }
}

/// The identifying values a selector claims (for duplicate detection).
pub(crate) fn claims(sel: &Selector) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = sel
        .mac_addresses
        .iter()
        .filter_map(|m| normalize_mac(m))
        .map(|m| ("MAC address", m))
        .collect();
    // Without MACs, serial and UUID together are the identity (AND).
    if out.is_empty() {
        let mut parts = Vec::new();
        if let Some(s) = &sel.dmi_serial {
            parts.push(format!("dmiSerial {}", s.trim()));
        }
        if let Some(u) = &sel.system_uuid {
            parts.push(format!("systemUUID {}", u.trim().to_ascii_lowercase()));
        }
        if !parts.is_empty() {
            out.push(("selector", parts.join(" and ")));
        }
    }
    out
}
