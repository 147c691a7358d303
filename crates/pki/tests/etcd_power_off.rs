//! A real 3-member etcd cluster (Debian etcd-server 3.4) survives a 10-day
//! power-off: its 7-day leaves expire while the nodes are off, the nodes have
//! no /etc/mk/pki.yaml (configured from a config drive), and the renewal at
//! the next start (plan derived from the certificates, nothing running, no
//! reload) brings the cluster and its data back over mTLS.
//!
//! Same set-up as tests/etcd.rs: members on 127.0.0.12-14 (apart from that
//! test's, so both can run at once) known by DNS names only, which resolve
//! through a private /etc/hosts bind-mounted in a mount namespace of each
//! process (`unshare -m`). Needs root, etcd, etcdctl, unshare, openssl.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use common::*;
use mk_pki::config::{ClusterConfig, Role};
use mk_pki::renew::{renew_node, LeafOutcome, NothingRunning, RenewOptions};
use time::{Duration, OffsetDateTime};

fn name(i: usize) -> String {
    format!("pwr{i}.{DOMAIN}")
}

fn ip(i: usize) -> String {
    format!("127.0.0.{}", i + 11)
}

struct Site {
    f: Fixture,
    hosts: PathBuf,
    roots: Vec<PathBuf>,
}

impl Site {
    fn pki(&self, i: usize) -> PathBuf {
        self.roots[i - 1].join("etc/kubernetes/pki/etcd")
    }

    fn etcdctl(&self, i: usize, args: &str) -> (bool, String) {
        let p = self.pki(i);
        let script = format!(
            "env ETCDCTL_API=3 etcdctl --dial-timeout=3s --command-timeout=5s --endpoints=https://{}:2379 --cacert={} --cert={} --key={} {args}",
            name(i),
            p.join("ca.crt").display(),
            p.join("healthcheck-client.crt").display(),
            p.join("healthcheck-client.key").display()
        );
        let out = in_ns(&self.hosts, &script).output().expect("unshare");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Start the three members on their data directories (created on first
    /// start), logging to `etcd<i>-<phase>.log`.
    fn start(&self, phase: &str) -> Members {
        let initial: Vec<String> = (1..=3)
            .map(|i| format!("{}=https://{}:2380", name(i), name(i)))
            .collect();
        let mut members = Members(Vec::new());
        for i in 1..=3 {
            let data = self.f.path(&format!("data{i}"));
            std::fs::create_dir_all(&data).unwrap();
            let script = etcd_member(
                &name(i),
                &ip(i),
                &data,
                &self.pki(i),
                &initial,
                "mk-power-off",
            );
            let log = std::fs::File::create(self.f.path(&format!("etcd{i}-{phase}.log"))).unwrap();
            members.0.push(
                in_ns(&self.hosts, &script)
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("unshare"),
            );
        }
        members
    }

    /// Every member healthy, each asked over its own endpoint with mTLS.
    fn wait_healthy(&self, phase: &str) {
        let start = Instant::now();
        loop {
            let outs: Vec<(bool, String)> = (1..=3)
                .map(|i| self.etcdctl(i, "endpoint health"))
                .collect();
            if outs.iter().all(|(ok, o)| *ok && o.contains("is healthy")) {
                return;
            }
            if start.elapsed() > StdDuration::from_secs(20) {
                let logs: String = (1..=3)
                    .map(|i| {
                        std::fs::read_to_string(self.f.path(&format!("etcd{i}-{phase}.log")))
                            .unwrap_or_default()
                    })
                    .collect();
                panic!(
                    "{phase}: cluster not healthy after 20 s: {outs:?}\n--- etcd logs ---\n{logs}"
                );
            }
            std::thread::sleep(StdDuration::from_millis(300));
        }
    }
}

#[test]
fn etcd_cluster_survives_a_ten_day_power_off() {
    if Command::new("etcd").arg("--version").output().is_err()
        || Command::new("etcdctl").arg("version").output().is_err()
    {
        eprintln!("SKIPPED: etcd/etcdctl not installed (Debian etcd-server, etcd-client)");
        return;
    }
    let started = Instant::now();
    let now = OffsetDateTime::now_utc();
    let off = now - Duration::days(10);
    let f = fixture(ClusterConfig::new(DOMAIN), off - Duration::hours(1));
    let hosts = f.path("hosts");
    let mut h = String::from("127.0.0.1 localhost\n");
    for i in 1..=3 {
        h.push_str(&format!("{} {}\n", ip(i), name(i)));
    }
    std::fs::write(&hosts, h).unwrap();
    let nodes: Vec<_> = (1..=3)
        .map(|i| node(&format!("pwr{i}"), &[Role::Etcd]))
        .collect();

    // Before the power-off: a healthy cluster holding data.
    let roots: Vec<PathBuf> = nodes.iter().map(|n| f.issue(n, now)).collect();
    let mut site = Site { f, hosts, roots };
    {
        let _members = site.start("before");
        site.wait_healthy("before");
        let (ok, out) = site.etcdctl(1, "put mk-key before-the-power-off");
        assert!(ok, "{out}");
    } // Power cut: SIGKILL.

    // The nodes' certificates as the power-off left them: issued 10 days
    // ago (intermediates too), so the 7-day leaves expired 3 days ago. Nodes
    // configured from a config drive have no manifest.
    site.roots = nodes.iter().map(|n| site.f.issue(n, off)).collect();
    for r in &site.roots {
        std::fs::remove_file(r.join("etc/mk/pki.yaml")).unwrap();
    }
    let p1 = site.pki(1);
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        p1.join("ca.crt").to_str().unwrap(),
        "-untrusted",
        p1.join("ca-intermediate.crt").to_str().unwrap(),
        p1.join("server.crt").to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("certificate has expired"), "{out}");
    // etcd cannot serve with them: the client refuses the expired server
    // certificate (and the members each other's).
    {
        let _members = site.start("expired");
        // The members refuse each other's peer certificates (rafthttp logs
        // Go's x509 error); no leader, no service.
        let log = site.f.path("etcd1-expired.log");
        let start = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("x509: certificate has expired")
        {
            assert!(
                start.elapsed() < StdDuration::from_secs(15),
                "no expiry refusal in 15 s:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(StdDuration::from_millis(300));
        }
        let (ok, out) = site.etcdctl(1, "endpoint health");
        assert!(!ok, "etcd healthy with expired certificates: {out}");
    }

    // The next start: renewal first, nothing running, with the real clock.
    for (i, r) in site.roots.iter().enumerate() {
        let report = renew_node(
            &RenewOptions {
                root: r.clone(),
                metrics_file: None,
            },
            now,
            &mut NothingRunning,
        )
        .unwrap();
        assert_eq!(
            report.failures(),
            0,
            "member {}: {}",
            i + 1,
            report.summary()
        );
        let mut renewed = report.renewed();
        renewed.sort();
        assert_eq!(
            renewed,
            vec!["etcd/healthcheck-client", "etcd/peer", "etcd/server"],
            "member {}",
            i + 1
        );
        assert!(report
            .leaves
            .iter()
            .all(|l| !matches!(l.outcome, LeafOutcome::Failed { .. })));
    }
    let _members = site.start("after");
    site.wait_healthy("after");
    // The data from before the power-off, read through another member.
    let (ok, out) = site.etcdctl(3, "get mk-key --consistency=l");
    assert!(ok && out.contains("before-the-power-off"), "{out}");
    let (ok, out) = site.etcdctl(2, "put mk-key after-the-power-off");
    assert!(ok, "{out}");
    let (ok, out) = site.etcdctl(1, "get mk-key --consistency=l");
    assert!(ok && out.contains("after-the-power-off"), "{out}");
    let (ok, out) = site.etcdctl(1, "endpoint health --cluster");
    assert!(ok && out.matches("is healthy").count() == 3, "{out}");
    eprintln!("etcd power-off test took {:?}", started.elapsed());
}
