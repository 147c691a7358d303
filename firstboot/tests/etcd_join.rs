//! A joining control plane's real first boot against real etcd (Debian
//! etcd-server 3.4): the site issues a bootstrap control plane cp1 and
//! control planes cp2 and cp3 (`mk-compose pki ...`, `mk-compose
//! config-drive`); cp1's etcd runs from the manifest `mk-firstboot apply`
//! wrote for it; `mk-firstboot apply` on cp2 adds cp2 as a learner through
//! `spec.cluster.etcdEndpoints` and writes its etcd manifest; cp2's etcd
//! runs from that manifest's command line; `mk-firstboot cluster` promotes
//! it. Then re-runs change nothing, and a cluster without quorum refuses
//! cp3. etcdctl judges the member list.
//!
//! Names resolve as on a site, by DNS name only: the test re-runs itself in
//! new mount and network namespaces where a scratch hosts file is bound over
//! /etc/hosts and names cp1..cp3 on 127.0.1.11..13 ([`in_namespace`]);
//! mk-firstboot, etcd and etcdctl are its children and inherit both. The
//! private network also gives cp2's etcd the loopback listener its manifest
//! asks for (127.0.0.1:2379) whatever runs on the machine.
//!
//! Needs: root, etcd, etcdctl, unshare, mount, ip, and end_to_end.rs's tools
//! for issuing (tests/common).

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const NET: &str = "127.0.1";
const CIDR: &str = "127.0.1.0/24";
const PKI_ROLES: &str = "control-plane, etcd";
const REALMS: &[&str] = &["etcd", "kubernetes", "front-proxy", "kubelet-serving"];

fn name(i: usize) -> String {
    format!("cp{i}.{DOMAIN}")
}

fn ip(i: usize) -> String {
    format!("{NET}.{}", 10 + i)
}

fn mac(i: usize) -> String {
    format!("52:54:00:00:01:{i:02x}")
}

fn peer_url(i: usize) -> String {
    format!("https://{}:2380", name(i))
}

/// Runs `test` inside new mount and network namespaces (loopback up, the
/// hosts file naming cp1..cp3). Returns true inside (run the test body),
/// false outside after the inner run passed.
fn in_namespace(test: &str) -> bool {
    if mk_testns::inside() {
        return true;
    }
    for tool in ["etcd", "etcdctl"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} must be installed (Debian etcd-server, etcd-client)"
        );
    }
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for i in 1..=3 {
        hosts.push_str(&format!("{} {}\n", ip(i), name(i)));
    }
    // Built out here: the namespace has no network.
    mk_testns::Namespace::new(hosts)
        .private_network()
        .env(MK_COMPOSE_ENV, mk_compose_path())
        .run_test(test)
}

fn config(i: usize, roles: &str, endpoints: &[usize]) -> String {
    let endpoints = if endpoints.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = endpoints
            .iter()
            .map(|e| format!("{}:2379", name(*e)))
            .collect();
        format!("    etcdEndpoints: [{}]\n", list.join(", "))
    };
    format!(
        "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
match:
  macAddresses: [\"{mac}\"]
metadata:
  name: {name}
spec:
  roles: [{roles}]
  cluster:
    name: lab
    domain: {DOMAIN}
    apiEndpoint: {{dnsName: api.{DOMAIN}}}
{endpoints}  planes:
    control: {{cidr: {CIDR}}}
  encryptionAtRest:
    provider: secretbox
    keys:
      - name: key1
        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
",
        mac = mac(i),
        name = name(i),
    )
}

/// `mk-firstboot apply` of node `i`, logging what etcdjoin decides.
fn apply_node(root: &Path, i: usize) -> Output {
    firstboot()
        .arg("apply")
        .arg("--root")
        .arg(root)
        .args(["--address", &ip(i)])
        .env("RUST_LOG", "warn,mk_firstboot::etcdjoin=info")
        .output()
        .unwrap()
}

fn all(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn step(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {report:#}"))
        .clone()
}

/// Every `command:` of a static pod manifest (block lists, as mk-nodeconf
/// writes them), named `container` or by its exec probe (`livenessProbe`,
/// `startupProbe`), with each absolute path in a flag's value taken under
/// `root`, as the pod's host mounts make them.
fn manifest_commands(root: &Path, pod: &str) -> Vec<(String, Vec<String>)> {
    let path = root.join(format!("etc/kubernetes/manifests/{pod}.yaml"));
    let yaml = std::fs::read_to_string(&path).unwrap();
    let under_root = |arg: &str| match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => {
            let mapped: Vec<String> = value
                .split(',')
                .map(|v| match v.strip_prefix('/') {
                    Some(rel) => root.join(rel).display().to_string(),
                    None => v.to_string(),
                })
                .collect();
            format!("{flag}={}", mapped.join(","))
        }
        _ => arg.to_string(),
    };
    let lines: Vec<&str> = yaml.lines().map(str::trim).collect();
    let commands: Vec<(String, Vec<String>)> = (0..lines.len())
        .filter(|at| lines[*at].trim_start_matches("- ") == "command:")
        .map(|at| {
            let what = match at.checked_sub(2) {
                Some(probe) if lines[at - 1] == "exec:" => lines[probe].trim_end_matches(':'),
                _ => "container",
            };
            let items = lines[at + 1..]
                .iter()
                .map_while(|l| l.strip_prefix("- "))
                .map(|v| under_root(v.trim_matches(|c| c == '"' || c == '\'')))
                .collect();
            (what.to_string(), items)
        })
        .collect();
    assert!(
        !commands.is_empty() && commands.iter().all(|(_, c)| !c.is_empty()),
        "{}: {yaml}",
        path.display()
    );
    commands
}

/// The container's command line of the etcd static pod under `root`.
fn etcd_command(root: &Path) -> Vec<String> {
    let (what, c) = manifest_commands(root, "etcd").remove(0);
    assert_eq!(
        (what.as_str(), c[0].as_str()),
        ("container", "etcd"),
        "{c:?}"
    );
    c
}

/// Runs the exec probe `probe` of the etcd static pod under `root` as the
/// kubelet would: whether it passed, and its output.
fn etcd_probe(root: &Path, probe: &str) -> (bool, String) {
    let commands = manifest_commands(root, "etcd");
    let (_, c) = commands
        .iter()
        .find(|(what, _)| what == probe)
        .unwrap_or_else(|| panic!("no {probe} in {commands:?}"));
    let out = Command::new(&c[0]).args(&c[1..]).output().unwrap();
    (out.status.success(), format!("{c:?}: {}", all(&out)))
}

/// The value of `--<name>=...` in `command`.
fn flag<'a>(command: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    command.iter().find_map(|a| a.strip_prefix(&prefix))
}

/// One node's etcd, killed (as a power cut) when dropped and when the test
/// thread ends.
struct Etcd {
    child: Child,
}

impl Etcd {
    fn start(command: &[String], log: &Path) -> Etcd {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..]).stdout(Stdio::null()).stderr(log);
        // SAFETY: prctl(2) only, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ))
                .map_err(std::io::Error::from)
            });
        }
        Etcd {
            child: cmd.spawn().expect("etcd (Debian etcd-server)"),
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One line of `etcdctl member list` (simple format).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    id: String,
    started: bool,
    name: String,
    peer_urls: String,
    learner: bool,
}

struct Test {
    site: Site,
    roots: Vec<PathBuf>,
}

impl Test {
    fn root(&self, i: usize) -> &Path {
        &self.roots[i - 1]
    }

    fn log(&self, i: usize) -> PathBuf {
        self.site.p(&format!("etcd-cp{i}.log"))
    }

    fn logs(&self) -> String {
        (1..=2)
            .map(|i| {
                format!(
                    "--- etcd cp{i} ---\n{}",
                    std::fs::read_to_string(self.log(i)).unwrap_or_default()
                )
            })
            .collect()
    }

    /// etcdctl as node `i`'s healthcheck client (its delivered files), at
    /// `endpoint`'s client URL.
    fn etcdctl(&self, i: usize, endpoint: usize, args: &[&str]) -> (bool, String) {
        let p = self.root(i).join("etc/kubernetes/pki/etcd");
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--dial-timeout=2s",
                "--command-timeout=5s",
                &format!("--endpoints=https://{}:2379", name(endpoint)),
                &format!("--cacert={}", p.join("ca.crt").display()),
                &format!("--cert={}", p.join("healthcheck-client.crt").display()),
                &format!("--key={}", p.join("healthcheck-client.key").display()),
            ])
            .args(args)
            .output()
            .expect("etcdctl (Debian etcd-client)");
        (out.status.success(), all(&out))
    }

    fn members(&self, via: usize) -> Vec<Member> {
        let (ok, out) = self.etcdctl(via, via, &["member", "list"]);
        assert!(
            ok,
            "etcdctl member list via cp{via}: {out}\n{}",
            self.logs()
        );
        let mut v: Vec<Member> = out
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(", ").map(str::trim).collect();
                assert_eq!(f.len(), 6, "{l}");
                Member {
                    id: f[0].into(),
                    started: f[1] == "started",
                    name: f[2].into(),
                    peer_urls: f[3].into(),
                    learner: f[5] == "true",
                }
            })
            .collect();
        v.sort_by(|a, b| a.peer_urls.cmp(&b.peer_urls));
        v
    }

    fn wait(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            if start.elapsed() > Duration::from_secs(secs) {
                panic!("{what}: not within {secs} s\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_control_plane_joins_etcd_at_first_boot_and_is_promoted_by_the_cluster_step() {
    if !in_namespace("a_control_plane_joins_etcd_at_first_boot_and_is_promoted_by_the_cluster_step")
    {
        return;
    }
    let started = Instant::now();
    // The site: cp1 bootstraps; cp2 joins through cp1; cp3 will try to
    // join through both.
    let site = Site::new();
    let configs = [
        config(1, "bootstrap-control-plane", &[]),
        config(2, "control-plane", &[1]),
        config(3, "control-plane", &[1, 2]),
    ];
    let issued: Vec<PathBuf> = (1..=3)
        .map(|i| site.issue(&name(i), PKI_ROLES, REALMS))
        .collect();
    // Signing decrypts the key (scrypt, 1 GiB): the drives in parallel.
    let drives: Vec<PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=3)
            .map(|i| {
                let (site, cfg, issued) = (&site, &configs[i - 1], &issued[i - 1]);
                s.spawn(move || site.drive(&format!("cp{i}"), cfg, issued, "fat"))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let roots = (1..=3)
        .map(|i| site.node_root(&format!("cp{i}-root"), &mac(i), &drives[i - 1]))
        .collect();
    let t = Test { site, roots };
    eprintln!("site issued: {:?}", started.elapsed());

    // cp1's first boot, and its etcd from the manifest it got. Both etcds
    // share this test's one loopback: cp1 leaves 127.0.0.1:2379 to cp2,
    // whose command line runs unchanged.
    let out = apply_node(t.root(1), 1);
    assert!(out.status.success(), "{}", all(&out));
    let mut cp1_cmd = etcd_command(t.root(1));
    assert_eq!(flag(&cp1_cmd, "initial-cluster-state"), None, "{cp1_cmd:?}");
    for a in cp1_cmd.iter_mut() {
        if let Some(urls) = a.strip_prefix("--listen-client-urls=") {
            let kept: Vec<&str> = urls
                .split(',')
                .filter(|u| *u != "https://127.0.0.1:2379")
                .collect();
            *a = format!("--listen-client-urls={}", kept.join(","));
        }
    }
    let mut cp1 = Some(Etcd::start(&cp1_cmd, &t.log(1)));
    t.wait(30, "cp1's etcd serves", || {
        t.etcdctl(1, 1, &["endpoint", "health"]).0
    });
    let before = t.members(1);
    assert_eq!(before.len(), 1, "{before:?}");

    // cp2's first boot: added as a learner (not started: no name yet)
    // through etcdEndpoints, with the config's apiserver-etcd-client.
    let t0 = Instant::now();
    let out = apply_node(t.root(2), 2);
    eprintln!("cp2 apply (join): {:?}", t0.elapsed());
    let log = all(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(report(t.root(2))["outcome"], "ok");
    let joined = t.members(1);
    assert_eq!(joined.len(), 2, "{joined:?}");
    assert_eq!(joined[0], before[0]);
    let learner = joined[1].clone();
    assert_eq!(
        (
            learner.started,
            learner.name.as_str(),
            learner.peer_urls.as_str(),
            learner.learner
        ),
        (false, "", peer_url(2).as_str(), true),
        "{joined:?}"
    );
    assert!(
        log.contains("added to etcd as a learner")
            && log.contains(&format!("id=\"{}\"", learner.id)),
        "{log}"
    );
    // report.json says so, first.
    let r = report(t.root(2));
    assert_eq!(r["steps"][0]["name"], "etcd-join", "{r:#}");
    let join = step(&r, "etcd-join");
    assert_eq!(
        (&join["status"], &join["changed"]),
        (&serde_json::json!("applied"), &serde_json::json!(1)),
        "{join:#}"
    );
    assert_eq!(
        join["differences"][0].as_str().unwrap(),
        format!(
            "+ etcd member {} ({}) at {}: added as a learner through {}:2379",
            learner.id,
            name(2),
            peer_url(2),
            name(1)
        ),
        "{join:#}"
    );
    // Its etcd manifest joins the existing cluster with both members.
    let cp2_cmd = etcd_command(t.root(2));
    assert_eq!(
        flag(&cp2_cmd, "initial-cluster-state"),
        Some("existing"),
        "{cp2_cmd:?}"
    );
    assert_eq!(
        flag(&cp2_cmd, "initial-cluster"),
        Some(format!("{}={},{}={}", name(1), peer_url(1), name(2), peer_url(2)).as_str()),
        "{cp2_cmd:?}"
    );
    assert_eq!(flag(&cp2_cmd, "name"), Some(name(2).as_str()));
    assert_eq!(
        flag(&cp2_cmd, "initial-advertise-peer-urls"),
        Some(peer_url(2).as_str())
    );

    // Stopped before its etcd ever ran (a crash, a reboot): the re-run finds
    // the unnamed learner with its peer URL and adds nobody.
    let out = apply_node(t.root(2), 2);
    let log = all(&out);
    assert!(out.status.success(), "{log}");
    assert!(text(&out.stdout).contains("total: 0 changes"), "{log}");
    assert!(
        log.contains("already an etcd member") && log.contains("AlreadyLearner"),
        "{log}"
    );
    let join = step(&report(t.root(2)), "etcd-join");
    assert_eq!(join["status"], "unchanged", "{join:#}");
    assert_eq!(t.members(1), joined);

    // The kubelet would start cp2's etcd: its command line, paths under the
    // node root.
    let mut cp2 = Some(Etcd::start(&cp2_cmd, &t.log(2)));
    t.wait(30, "cp2's etcd started as a learner", || {
        let (ok, out) = t.etcdctl(1, 1, &["member", "list"]);
        ok && out
            .lines()
            .any(|l| l.contains(&format!(", started, {}, ", name(2))) && l.ends_with(", true"))
    });
    // The kubelet's liveness probe (a serializable read through localhost,
    // the manifest's loopback listener) passes on the learner. (Its startup
    // probe, `endpoint health`, cannot until the promotion: etcd refuses a
    // learner's linearizable reads.)
    let (ok, out) = etcd_probe(t.root(2), "livenessProbe");
    assert!(ok, "{out}");

    // `mk-firstboot cluster`: the promotion first; no apiserver answers, so
    // api-ready fails afterwards, and the report says both.
    let t0 = Instant::now();
    let cluster = |ready_timeout: &str| {
        firstboot()
            .arg("cluster")
            .arg("--root")
            .arg(t.root(2))
            .args(["--address", &ip(2)])
            .args(["--server", &format!("https://{}:6443", ip(2))])
            .args(["--ready-timeout", ready_timeout, "--node-timeout", "1"])
            .output()
            .unwrap()
    };
    let out = cluster("1");
    eprintln!("cp2 cluster (promote): {:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(2), "{}\n{}", all(&out), t.logs());
    let r = report(t.root(2));
    let promote = step(&r, "etcd-promote");
    assert_eq!(promote["status"], "applied", "{r:#}\n{}", t.logs());
    assert_eq!(promote["changed"], 1, "{promote:#}");
    let line = promote["differences"][0].as_str().unwrap();
    assert!(
        line.starts_with(&format!(
            "~ etcd member {} ({}): learner promoted to voter after ",
            learner.id,
            name(2)
        )),
        "{promote:#}"
    );
    assert_eq!(step(&r, "api-ready")["status"], "failed", "{r:#}");
    assert_eq!(step(&r, "api-objects")["status"], "skipped", "{r:#}");
    assert_eq!(r["outcome"], "failed");
    // Two started voters, as both see it (the leader answered the
    // promotion once applied; cp2 may apply it a moment later).
    let both_voters = |m: &[Member]| m.len() == 2 && m.iter().all(|m| m.started && !m.learner);
    t.wait(10, "cp2 applies its promotion", || {
        both_voters(&t.members(2))
    });
    for via in [1, 2] {
        let m = t.members(via);
        assert!(both_voters(&m), "via cp{via}: {m:?}");
        assert_eq!(
            (m[1].id.as_str(), m[1].name.as_str()),
            (learner.id.as_str(), name(2).as_str())
        );
    }
    // Now a voter, both of the kubelet's probes pass.
    for probe in ["livenessProbe", "startupProbe"] {
        let (ok, out) = etcd_probe(t.root(2), probe);
        assert!(ok, "{out}");
    }
    // Again: a voter already, nothing promoted.
    let out = cluster("1");
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    let promote = step(&report(t.root(2)), "etcd-promote");
    assert_eq!(
        (&promote["status"], &promote["changed"]),
        (&serde_json::json!("unchanged"), &serde_json::json!(0)),
        "{promote:#}"
    );

    // The next boot of cp2 (its etcd running, a voter): nothing changes,
    // in etcd or on disk.
    let voters = t.members(1);
    let out = apply_node(t.root(2), 2);
    let log = all(&out);
    assert!(out.status.success(), "{log}");
    assert!(text(&out.stdout).contains("total: 0 changes"), "{log}");
    assert!(
        log.contains("already an etcd member") && log.contains("AlreadyVoter"),
        "{log}"
    );
    assert_eq!(changed_steps(t.root(2)), Vec::<(String, u64)>::new());
    assert_eq!(t.members(1), voters);

    // cp1 lost: the two voters have no quorum (once cp2 has noticed: it
    // knows no leader), and cp3 is refused.
    drop(cp1.take());
    t.wait(30, "cp2 notices that cp1 is gone", || {
        let (ok, out) = t.etcdctl(2, 2, &["endpoint", "status", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        ok && v[0]["Status"]["header"]["member_id"].is_u64()
            && v[0]["Status"]["leader"].as_u64().unwrap_or(0) == 0
    });
    let before = snapshot(t.root(3));
    let t0 = Instant::now();
    let out = apply_node(t.root(3), 3);
    eprintln!("cp3 apply (refused): {:?}", t0.elapsed());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    for want in [
        "config refused",
        "etcd cluster is unhealthy: no quorum",
        "2 voting members",
        "2 needed",
        &format!(
            "{} ({}): etcd https://{}:2379: cannot connect",
            name(1),
            voters[0].id,
            name(1)
        ),
        // etcd 3.4's status carries the error "etcdserver: no leader".
        &format!("{} ({}): ", name(2), voters[1].id),
        "no leader",
        "nothing was changed",
    ] {
        assert!(err.contains(want), "`{want}` missing from:\n{err}");
    }
    let after = snapshot(t.root(3));
    let written: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(
        written,
        [
            "var",
            "var/lib",
            "var/lib/mk-firstboot",
            "var/lib/mk-firstboot/report.json"
        ],
        "{after:#?}"
    );
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k} changed");
    }
    let r = report(t.root(3));
    assert_eq!(r["outcome"], "refused", "{r:#}");
    let refusal: String = r["refusal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(refusal.contains("no quorum"), "{r:#}");
    // Nobody was added (cp2 answers the member list alone).
    assert_eq!(t.members(2), voters);
    drop(cp2.take());
    eprintln!("whole test: {:?}", started.elapsed());
}
