//! This host's interface addresses, for the planner (R30: services bind to
//! the host's address in their plane). Read with iproute2 (`ip -j addr`),
//! which every node has; tests and `plan` on the admin's machine pass
//! addresses instead (`--address`).

use std::net::IpAddr;
use std::process::Command;

/// Every address on the host's interfaces (loopback included: it never
/// lies in a plane).
pub fn host_addresses() -> Result<Vec<IpAddr>, String> {
    let out = Command::new("ip")
        .args(["-j", "addr", "show"])
        .output()
        .map_err(|e| format!("running `ip -j addr show`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip -j addr show` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_ip_json(&out.stdout)
}

/// Addresses from `ip -j addr show` output.
pub fn parse_ip_json(json: &[u8]) -> Result<Vec<IpAddr>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("`ip -j addr show` output: {e}"))?;
    let mut out = Vec::new();
    for link in v.as_array().into_iter().flatten() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if let Some(ip) = a["local"].as_str().and_then(|s| s.parse().ok()) {
                out.push(ip);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_ip_json() {
        let j = br#"[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
            {"ifname":"eth0","addr_info":[{"family":"inet","local":"10.0.0.11","prefixlen":24},
            {"family":"inet6","local":"fe80::1","prefixlen":64}]},{"ifname":"eth1","addr_info":[]}]"#;
        let a = super::parse_ip_json(j).unwrap();
        let s: Vec<String> = a.iter().map(|a| a.to_string()).collect();
        assert_eq!(s, ["10.0.0.11", "127.0.0.1", "fe80::1"]);
    }

    #[test]
    fn reads_this_host() {
        // iproute2 is on every node and in CI; loopback is always there.
        let a = super::host_addresses().unwrap();
        assert!(a.iter().any(|a| a.is_loopback()), "{a:?}");
    }
}
