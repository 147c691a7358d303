//! Facts about this host, for the planner: its interface addresses (R30:
//! services bind to the host's address in their plane), read with iproute2
//! (`ip -j addr`), which every node has (tests and `plan` on the admin's
//! machine pass addresses instead: `--address`); and which of kubeadm's
//! CA-trust directories the node's root has (the control-plane pods mount
//! only those: the root is read-only, the kubelet cannot create them).

use std::net::IpAddr;
use std::path::Path;
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

/// Which of [`mk_nodeconf::CA_TRUST_DIRS`] are directories under `root`
/// (symlinks followed, resolved inside `root`: CentOS' /etc/ssl/certs is a
/// link to ../pki/tls/certs), as absolute node paths in the table's order:
/// [`mk_preflight::root::directories`], the resolver the preflight checks
/// host paths with.
pub fn trust_dirs(root: &Path) -> Vec<String> {
    mk_preflight::root::directories(root, mk_nodeconf::CA_TRUST_DIRS.iter().map(|(_, p)| *p))
}

/// The network interfaces under `root`'s /sys/class/net (name and MAC),
/// for `spec.network`'s selection by MAC or name: on the node `root` is `/`
/// and this is the kernel's sysfs; tests fake it under their root. None
/// when the directory is absent (a plan made away from the node): the
/// selection is then not checked. Interfaces without a MAC (loopback,
/// tunnels) are left out. Bounded: at most 4096 entries are read.
pub fn interfaces(root: &Path) -> Option<Vec<mk_nodeconf::NetInterface>> {
    let dir = root.join("sys/class/net");
    let entries = std::fs::read_dir(&dir).ok()?;
    let mut out = Vec::new();
    for entry in entries.flatten().take(4096) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read_to_string(entry.path().join("address")) else {
            continue;
        };
        let Some(mac) = mk_roleconfig::select::normalize_mac(text.trim()) else {
            continue;
        };
        if mac != "00:00:00:00:00:00" {
            out.push(mk_nodeconf::NetInterface { name, mac });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn interfaces_come_from_sysfs_under_the_root() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(super::interfaces(t.path()), None);
        let net = t.path().join("sys/class/net");
        for (n, mac) in [
            ("lo", "00:00:00:00:00:00\n"),
            ("eth1", "52:54:00:AA:00:02\n"),
            ("eth0", "52:54:00:aa:00:01\n"),
            ("tun0", "\n"),
        ] {
            std::fs::create_dir_all(net.join(n)).unwrap();
            std::fs::write(net.join(n).join("address"), mac).unwrap();
        }
        let got = super::interfaces(t.path()).unwrap();
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|i| (i.name.as_str(), i.mac.as_str()))
            .collect();
        assert_eq!(
            got,
            [("eth0", "52:54:00:aa:00:01"), ("eth1", "52:54:00:aa:00:02")]
        );
    }

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

    #[test]
    fn trust_dirs_are_the_ones_the_root_has() {
        use std::os::unix::fs::symlink;
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        assert!(super::trust_dirs(r).is_empty());
        // CentOS: /etc/ssl/certs -> ../pki/tls/certs, and /etc/pki.
        std::fs::create_dir_all(r.join("etc/pki/tls/certs")).unwrap();
        std::fs::create_dir_all(r.join("etc/ssl")).unwrap();
        symlink("../pki/tls/certs", r.join("etc/ssl/certs")).unwrap();
        // A file where a directory is expected does not count.
        std::fs::create_dir_all(r.join("usr/share")).unwrap();
        std::fs::write(r.join("usr/share/ca-certificates"), "").unwrap();
        // An absolute link resolves inside the root, not on this machine.
        std::fs::create_dir_all(r.join("usr/local/share")).unwrap();
        std::fs::create_dir_all(r.join("srv/ca")).unwrap();
        symlink("/srv/ca", r.join("usr/local/share/ca-certificates")).unwrap();
        // A dangling link does not count.
        symlink("/nonexistent", r.join("etc/ca-certificates")).unwrap();
        assert_eq!(
            super::trust_dirs(r),
            [
                "/etc/ssl/certs",
                "/etc/pki",
                "/usr/local/share/ca-certificates"
            ]
        );
        // Link loops end, and a loop is no directory.
        std::fs::create_dir_all(r.join("etc/ca-certificates.d")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        std::fs::remove_file(r.join("etc/ca-certificates")).unwrap();
        symlink("/loop", r.join("etc/ca-certificates")).unwrap();
        assert!(!super::trust_dirs(r).contains(&"/etc/ca-certificates".to_string()));
        // `..` never leaves the root.
        std::fs::remove_file(r.join("etc/ca-certificates")).unwrap();
        symlink(
            "../../../../etc/ca-certificates.d",
            r.join("etc/ca-certificates"),
        )
        .unwrap();
        assert!(super::trust_dirs(r).contains(&"/etc/ca-certificates".to_string()));
    }
}
