//! Real tools judge the plan's files: kubernetes-validate (PyPI) the static
//! pods, firewall-offline-cmd (Debian firewalld) the firewalld tree, and a
//! real etcd (Debian etcd-server) started with exactly the generated
//! command line, as the etcd account, with certificates issued by mk-pki.
//!
//! Needs root (chown, mount and network namespaces), kubernetes-validate,
//! firewalld, etcd, etcdctl, unshare, setpriv, ip.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use mk_nodeconf::plan;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install it: see docs)"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn cp_plan() -> mk_nodeconf::Plan {
    let c = config(
        CP,
        &["bootstrap-control-plane", "worker"],
        ("10.0.1.0/24", Some("10.0.2.0/24"), Some("10.0.3.0/24")),
        fake_certs(true),
    );
    let mut c = c;
    c.spec.dns_names = vec!["cp1-etcd.example.test".into()];
    c.spec.cluster.api_endpoint.vip = Some("10.0.1.5".into());
    let mut f = facts(&["10.0.1.11", "10.0.2.11", "10.0.3.11"]);
    // The CA-trust mounts in the manifests too.
    f.trust_dirs = centos_trust_dirs();
    plan(DIGEST, &c, &f).unwrap()
}

#[test]
fn kubernetes_validate_accepts_every_static_pod() {
    let p = cp_plan();
    let tmp = tempfile::tempdir().unwrap();
    write_plan(&p, tmp.path(), false);
    let dir = tmp.path().join("etc/kubernetes/manifests");
    let manifests: Vec<PathBuf> = CONTROL_PLANE_PODS
        .iter()
        .map(|n| dir.join(format!("{n}.yaml")))
        .collect();
    let (ok, out) = run(Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .args(&manifests));
    assert!(ok, "{out}");
    assert_eq!(out.matches("passed for resource pod/").count(), 4, "{out}");
    // The judge does judge: an unknown field fails strict validation.
    let bad = tmp.path().join("bad.yaml");
    let text = std::fs::read_to_string(&manifests[1]).unwrap().replace(
        "hostNetwork: true",
        "hostNetwork: true\n  hostNetworking: true",
    );
    std::fs::write(&bad, text).unwrap();
    let (ok, out) = run(Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .arg(&bad));
    assert!(!ok, "{out}");
}

/// `sh -c script` with `dir` mounted over /etc/firewalld, in a private
/// mount namespace (the host's firewalld configuration is untouched).
fn firewalld(dir: &Path, script: &str) -> (bool, String) {
    run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind {} /etc/firewalld && {script}",
            dir.display()
        )))
}

/// Open ports per zone, as firewall-offline-cmd reports them (services
/// resolved to their ports).
fn open_ports(dir: &Path, zones: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut m = BTreeMap::new();
    for z in zones {
        let (ok, services) = firewalld(
            dir,
            &format!("firewall-offline-cmd --zone={z} --list-services"),
        );
        assert!(ok, "{services}");
        let mut ports: BTreeSet<String> = BTreeSet::new();
        let (ok, direct) = firewalld(
            dir,
            &format!("firewall-offline-cmd --zone={z} --list-ports"),
        );
        assert!(ok, "{direct}");
        ports.extend(direct.split_whitespace().map(String::from));
        for s in services.split_whitespace() {
            let (ok, p) = firewalld(
                dir,
                &format!("firewall-offline-cmd --service={s} --get-ports"),
            );
            assert!(ok, "{s}: {p}");
            ports.extend(p.split_whitespace().map(String::from));
        }
        m.insert(z.to_string(), ports);
    }
    m
}

/// firewalld's own settings file comes with the firewalld package on the
/// node, not from first boot: copy the host's next to the generated tree.
fn install_firewalld_conf(dir: &Path) {
    std::fs::copy("/etc/firewalld/firewalld.conf", dir.join("firewalld.conf"))
        .expect("/etc/firewalld/firewalld.conf (Debian package firewalld)");
}

#[test]
fn firewall_offline_cmd_accepts_the_zones_and_only_role_ports_are_open() {
    let p = cp_plan();
    let tmp = tempfile::tempdir().unwrap();
    write_plan(&p, tmp.path(), false);
    let fw = tmp.path().join("etc/firewalld");
    install_firewalld_conf(&fw);
    let (ok, out) = firewalld(&fw, "firewall-offline-cmd --check-config");
    assert!(ok, "{out}");
    let ports = open_ports(&fw, &["mk-control", "mk-workload", "mk-etcd", "mk-pods"]);
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        ports["mk-control"],
        set(&["6443/tcp", "10250/tcp", "443/tcp"])
    );
    assert_eq!(ports["mk-etcd"], set(&["2379/tcp", "2380/tcp"]));
    assert_eq!(
        ports["mk-workload"],
        set(&[
            "30000-32767/tcp",
            "30000-32767/udp",
            "179/tcp",
            "4789/udp",
            "5473/tcp"
        ])
    );
    assert!(ports["mk-pods"].is_empty());
    let (ok, out) = firewalld(&fw, "firewall-offline-cmd --zone=mk-control --list-sources; firewall-offline-cmd --zone=mk-control --list-protocols; firewall-offline-cmd --zone=mk-pods --get-target; firewall-offline-cmd --zone=mk-pods --list-sources");
    assert!(ok, "{out}");
    for want in [
        "10.0.1.0/24",
        "vrrp",
        "ACCEPT",
        "192.168.0.0/16 10.96.0.0/12",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }

    // A worker on one network: kubelet from the control plane, node ports
    // and CNI; no etcd, no apiserver.
    let w = config(
        "w1.example.test",
        &["worker"],
        ("10.0.1.0/24", None, None),
        fake_certs(false),
    );
    let wp = plan(DIGEST, &w, &facts(&["10.0.1.21"])).unwrap();
    let wtmp = tempfile::tempdir().unwrap();
    write_plan(&wp, wtmp.path(), false);
    let wfw = wtmp.path().join("etc/firewalld");
    install_firewalld_conf(&wfw);
    let (ok, out) = firewalld(&wfw, "firewall-offline-cmd --check-config");
    assert!(ok, "{out}");
    let (ok, zones) = firewalld(&wfw, "firewall-offline-cmd --get-zones");
    assert!(
        ok && !zones.contains("mk-etcd") && !zones.contains("mk-workload"),
        "{zones}"
    );
    let wports = open_ports(&wfw, &["mk-control"]);
    assert!(wports["mk-control"].contains("10250/tcp"));
    assert!(wports["mk-control"].contains("30000-32767/tcp"));
    for never in ["2379/tcp", "2380/tcp", "6443/tcp", "10257/tcp", "10259/tcp"] {
        assert!(!wports["mk-control"].contains(never), "{never}: {wports:?}");
    }
    for never in ["2379", "2380", "6443", "10257", "10259"] {
        let (ok, out) = firewalld(
            &wfw,
            &format!("firewall-offline-cmd --zone=mk-control --query-port={never}/tcp"),
        );
        assert!(!ok && out.trim() == "no", "{never}: {out}");
    }

    // The judge does judge: a zone naming an unknown service is refused.
    std::fs::write(
        wfw.join("zones/mk-broken.xml"),
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<zone><service name=\"mk-nope\"/><source address=\"10.9.0.0/16\"/></zone>\n",
    )
    .unwrap();
    let (ok, out) = firewalld(&wfw, "firewall-offline-cmd --check-config");
    assert!(!ok, "{out}");
}

/// The node's certificates from a real mk-pki bundle, keyed as
/// `spec.certificates` keys them.
fn issued_certificates(dir: &Path) -> BTreeMap<String, String> {
    use mk_pki::config::{ClusterConfig, NodeSpec, Role};
    use mk_pki::store::PkiDir;
    let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let mut cfg = ClusterConfig::new(DOMAIN);
    cfg.api_endpoint = Some(format!("api.{DOMAIN}"));
    let pki_dir = dir.join("pki");
    PkiDir::init(&pki_dir, &cfg, &mk_pki::Realm::ALL, b"root password", now).unwrap();
    let pki = PkiDir::open(&pki_dir).unwrap();
    let node = NodeSpec {
        name: CP.into(),
        cluster_domain: DOMAIN.into(),
        dns_names: vec![],
        roles: vec![Role::ControlPlane, Role::Etcd, Role::Worker],
    };
    let p = mk_pki::plan::plan_node(&pki.config, &node);
    for r in p.realms() {
        pki.intermediate(CP, r, b"root password", now, None)
            .unwrap();
    }
    let out = dir.join("issued");
    pki.issue_node(&node, "node.yaml", &out, now).unwrap();
    let mut certs = BTreeMap::new();
    for (base, prefix) in [
        ("etc/kubernetes/pki", ""),
        ("var/lib/kubelet/pki", "kubelet/"),
    ] {
        let base = out.join(base);
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap().path();
                if e.is_dir() {
                    stack.push(e);
                    continue;
                }
                let rel = format!("{prefix}{}", e.strip_prefix(&base).unwrap().display());
                if mk_roleconfig::pki::kind_of(&rel).is_some() {
                    certs.insert(rel, std::fs::read_to_string(&e).unwrap());
                }
            }
        }
    }
    certs
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn etcd_runs_from_the_generated_manifest_as_the_etcd_account() {
    assert!(
        Command::new("etcd").arg("--version").output().is_ok(),
        "etcd must be installed (Debian etcd-server)"
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let certs = issued_certificates(tmp.path());
    // A single-homed bootstrap control plane on 127.0.0.2, in its own
    // network namespace (no clash with any etcd on the host).
    let mut c = config(
        CP,
        &["bootstrap-control-plane", "worker"],
        ("127.0.0.0/24", None, None),
        certs,
    );
    c.spec.cluster.pod_cidr = "192.168.0.0/16".into();
    mk_roleconfig::validate(&c, time::OffsetDateTime::now_utc())
        .unwrap_or_else(|e| panic!("test config is not valid: {e:?}"));
    let p = plan(DIGEST, &c, &facts(&["127.0.0.2"])).unwrap();
    // CSR-signed certificates live as long as mk-pki's leaves (7 days,
    // notBefore backdated by minutes).
    let cm = pod_command(&text(
        &p,
        "/etc/kubernetes/manifests/kube-controller-manager.yaml",
    ));
    assert!(
        cm.contains(&"--cluster-signing-duration=168h0m0s".to_string()),
        "{cm:?}"
    );
    let root = tmp.path().join("root");
    write_plan(&p, &root, true);
    let manifest = pod(&text(&p, "/etc/kubernetes/manifests/etcd.yaml"));
    // Paths mapped by rewriting only their prefix into the temp root.
    let r = root.display().to_string();
    let map = |s: &str| {
        s.replace("/etc/kubernetes/", &format!("{r}/etc/kubernetes/"))
            .replace("/var/lib/etcd", &format!("{r}/var/lib/etcd"))
    };
    let argv = |v: &serde_json::Value| -> String {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| quote(&map(a.as_str().unwrap())))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let container = &manifest["spec"]["containers"][0];
    let etcd_cmd = argv(&container["command"]);
    assert!(etcd_cmd.starts_with("'etcd' "), "{etcd_cmd}");
    let live = argv(&container["livenessProbe"]["exec"]["command"]);
    let startup = argv(&container["startupProbe"]["exec"]["command"]);
    let api_servers = pod_command(&text(&p, "/etc/kubernetes/manifests/kube-apiserver.yaml"))
        .into_iter()
        .find_map(|a| a.strip_prefix("--etcd-servers=").map(String::from))
        .unwrap();
    assert_eq!(api_servers, "https://localhost:2379");
    let hosts = tmp.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1 localhost\n127.0.0.2 {CP}\n")).unwrap();
    let pki = format!("{r}/etc/kubernetes/pki");
    let as_user = |uid: u32| format!("setpriv --reuid={uid} --regid={uid} --clear-groups --");
    // etcdctl as kube-apiserver, with the apiserver's etcd client pair.
    let apictl = |endpoint: &str, args: &str| {
        format!(
            "{} env ETCDCTL_API=3 etcdctl --dial-timeout=3s --command-timeout=5s --endpoints={endpoint} --cacert={pki}/etcd/ca.crt --cert={pki}/apiserver-etcd-client.crt --key={pki}/apiserver-etcd-client.key {args}",
            as_user(402)
        )
    };
    let log = tmp.path().join("etcd.log");
    let script = format!(
        r#"set -u
mount --bind {hosts} /etc/hosts
ip link set lo up
{etcd_user} {etcd_cmd} >{log} 2>&1 &
ETCD=$!
ok=
for i in $(seq 1 60); do
  if {etcd_user} {startup} >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.5
done
[ -n "$ok" ] || {{ echo "STARTUP PROBE NEVER PASSED"; {etcd_user} {startup}; kill $ETCD; exit 1; }}
echo "== startup probe"; {etcd_user} {startup} || echo "FAILED startup"
echo "== liveness probe"; {etcd_user} {live} && echo "LIVENESS OK" || echo "FAILED liveness"
echo "== put by name"; {put} || echo "FAILED put"
echo "== get over the etcd plane name"; {get} || echo "FAILED get"
echo "== no client certificate"; env ETCDCTL_API=3 etcdctl --dial-timeout=3s --command-timeout=5s --endpoints=https://{CP}:2379 --cacert={pki}/etcd/ca.crt get mk-key && echo "ACCEPTED WITHOUT CERT" || echo "REFUSED WITHOUT CERT"
echo "== by IP"; {by_ip} && echo "ACCEPTED BY IP" || echo "REFUSED BY IP"
echo "== openssl by IP"; openssl s_client -connect 127.0.0.2:2379 -CAfile {pki}/etcd/ca.crt -verify_ip 127.0.0.2 -verify_return_error -cert {pki}/apiserver-etcd-client.crt -cert_chain {pki}/apiserver-etcd-client.crt -key {pki}/apiserver-etcd-client.key </dev/null 2>&1 | grep -E "verify error|Verify return code"
echo "== openssl by name"; openssl s_client -connect 127.0.0.2:2379 -CAfile {pki}/etcd/ca.crt -verify_hostname {CP} -verify_return_error -cert {pki}/apiserver-etcd-client.crt -cert_chain {pki}/apiserver-etcd-client.crt -key {pki}/apiserver-etcd-client.key </dev/null 2>&1 | grep -E "verify error|Verify return code"
echo "== key readable by kube-apiserver only"; {etcd_user} cat {pki}/apiserver-etcd-client.key >/dev/null 2>&1 && echo "ETCD READS APISERVER KEY" || echo "ETCD CANNOT READ APISERVER KEY"
kill $ETCD; wait $ETCD 2>/dev/null
exit 0
"#,
        etcd_user = as_user(401),
        hosts = hosts.display(),
        log = log.display(),
        put = apictl(&api_servers, "put mk-key mk-value"),
        get = apictl(
            &format!("https://{CP}:2379"),
            "get mk-key --print-value-only"
        ),
        by_ip = apictl("https://127.0.0.2:2379", "get mk-key"),
    );
    let (ok, out) = run(Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "sh", "-c"])
        .arg(&script));
    let etcd_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(ok, "{out}\n--- etcd log ---\n{etcd_log}");
    for want in [
        "LIVENESS OK",
        "is healthy",
        "OK\n",
        "mk-value",
        "REFUSED WITHOUT CERT",
        "REFUSED BY IP",
        "ETCD CANNOT READ APISERVER KEY",
    ] {
        assert!(
            out.contains(want),
            "{want:?} missing:\n{out}\n--- etcd log ---\n{etcd_log}"
        );
    }
    assert!(
        !out.contains("FAILED"),
        "{out}\n--- etcd log ---\n{etcd_log}"
    );
    // The IP connection fails on the server's name (no IP SANs, R28),
    // the DNS name passes: spelt out by OpenSSL on what etcd serves.
    let section = |from: &str, to: &str| {
        out.split(from)
            .nth(1)
            .unwrap_or_default()
            .split(to)
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let ip = section("== openssl by IP", "== openssl by name");
    assert!(ip.contains("IP address mismatch"), "{ip}");
    let name = section("== openssl by name", "== key readable");
    assert!(name.contains("Verify return code: 0 (ok)"), "{name}");
}
