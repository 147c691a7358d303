//! `spec.network` through mk-firstboot with the real planner: the host's
//! interfaces come from /sys/class/net under the node root; a MAC no
//! interface has refuses the plan naming the field; a matching one plans
//! the `network` step's keyfiles first. `plan` changes nothing.

use std::path::Path;
use std::process::{Command, Output};

const WORKER: &str = "apiVersion: mk.dev/v1alpha1
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
  join:
    token: abcdef.0123456789abcdef
    caCertHashes:
      - sha256:7d2e6c1f0b4f1f5e8a9c3b2d1e0f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f
  network:
    interfaces: [{name: nic0, macAddress: \"MAC\"}]
    planes:
      control: {link: nic0, address: 10.0.0.11/24, gateway: 10.0.0.1}
  hosts:
    - {address: 10.0.0.10, names: [api.example.com]}
  certificates:
    ca.crt: |
";

fn root(dir: &Path) -> std::path::PathBuf {
    let r = dir.join("root");
    std::fs::create_dir_all(r.join("etc/mk")).unwrap();
    std::fs::create_dir_all(r.join("sys/class/net/eth0")).unwrap();
    std::fs::write(r.join("sys/class/net/eth0/address"), "52:54:00:00:00:11\n").unwrap();
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    r
}

/// A throwaway CA certificate (openssl): a worker's config carries the
/// cluster root.
fn ca(dir: &Path) -> String {
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=kubernetes", "-days", "30"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(dir.join("ca.crt"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::read_to_string(dir.join("ca.crt"))
        .unwrap()
        .lines()
        .map(|l| format!("      {l}\n"))
        .collect()
}

fn config(dir: &Path, mac: &str) -> String {
    format!("{}{}", WORKER.replace("MAC", mac), ca(dir))
}

fn plan(root: &Path, config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mk-firstboot"))
        .arg("plan")
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(config)
        .args(["--address", "10.0.0.11"])
        .output()
        .unwrap()
}

#[test]
fn interfaces_are_selected_by_mac_from_the_roots_sysfs() {
    let t = tempfile::tempdir().unwrap();
    let root = root(t.path());
    let cfg = t.path().join("node-config.yaml");

    std::fs::write(&cfg, config(t.path(), "52:54:00:00:00:99")).unwrap();
    let out = plan(&root, &cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("spec.network.interfaces[0].macAddress: no interface of this host has MAC address 52:54:00:00:00:99; it has: eth0 (52:54:00:00:00:11)"),
        "{err}"
    );
    assert!(!root.join("var/lib/mk").exists());

    std::fs::write(&cfg, config(t.path(), "52:54:00:00:00:11")).unwrap();
    let out = plan(&root, &cfg);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let network = stdout.find("step network:").expect(&stdout);
    let hosts = stdout.find("step hosts:").expect(&stdout);
    assert!(network < hosts, "{stdout}");
    assert!(
        stdout.contains("+ /var/lib/mk/etc/NetworkManager/system-connections/mk-nic0.nmconnection"),
        "{stdout}"
    );
    assert!(stdout.contains("+ /var/lib/mk/etc/hosts"), "{stdout}");
    // `plan` writes nothing.
    assert!(!root.join("var/lib/mk").exists());
}

fn apply(root: &Path, config: &Path, address: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mk-firstboot"))
        .arg("apply")
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(config)
        .args(["--address", address])
        .output()
        .unwrap()
}

fn report(root: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root.join(mk_firstboot::state::REPORT)).unwrap()).unwrap()
}

fn step<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {r}"))
}

#[test]
fn apply_brings_networking_in_before_planning_and_a_rerun_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let root = root(t.path());
    std::fs::write(root.join("etc/mk/allow-unsigned-config"), "").unwrap();
    let cfg = t.path().join("node-config.yaml");
    std::fs::write(&cfg, config(t.path(), "52:54:00:00:00:11")).unwrap();

    let out = apply(&root, &cfg, "10.0.0.11");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&root);
    let network = step(&r, "network");
    assert_eq!(network["status"], "applied", "{network}");
    let lines = network["differences"].to_string();
    assert!(lines.contains("mk-nic0.nmconnection"), "{lines}");
    let hosts = step(&r, "hosts");
    assert_eq!(hosts["status"], "applied", "{hosts}");
    let text = std::fs::read_to_string(root.join("var/lib/mk/etc/hosts")).unwrap();
    assert!(text.contains("10.0.0.10   api.example.com"), "{text}");
    // Reported once each, in plan order.
    let names: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(&names[..2], ["network", "hosts"], "{names:?}");

    // The same config again: nothing changes, and the report says so.
    let out = apply(&root, &cfg, "10.0.0.11");
    assert!(out.status.success());
    let r = report(&root);
    assert_eq!(r["totalChanges"], 0, "{r}");
    for name in ["network", "hosts"] {
        assert_eq!(step(&r, name)["status"], "unchanged", "{r}");
    }

    // The host lost the planned control address: the network phase (no
    // NetworkManager under a directory root) names what is missing, and
    // planning never starts.
    let out = apply(&root, &cfg, "10.0.0.99");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "networking: after 0 s the planes' addresses are not all up: \
             spec.network.planes.control: no address 10.0.0.11 on link nic0 \
             (interface eth0, 52:54:00:00:00:11)"
        ),
        "{err}"
    );
}
