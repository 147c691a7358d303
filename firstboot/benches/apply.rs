//! First boot of a single server (bootstrap control plane + worker) into a
//! temp node root, through the library path `mk-firstboot apply` takes
//! (`run::prepare`: source, signature, parse, validate with certificate
//! checks, plan; `run::apply`: diff and atomic writes with fsync).
//! Certificates are issued once by mk-pki before measuring: key generation
//! is the admin's, not first boot's.
//!
//! Goals (issue 5): first apply < 200 ms, second run < 50 ms with zero
//! writes. Run: `cargo bench -p mk-firstboot --bench apply`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mk_firstboot::engine::CrashPoints;
use mk_firstboot::run::{self, Options};

const DOMAIN: &str = "example.test";
const CP: &str = "cp1.example.test";

const CONFIG: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata:
  name: cp1.example.test
spec:
  roles: [bootstrap-control-plane, worker]
  cluster:
    name: lab
    domain: example.test
    apiEndpoint: {dnsName: api.example.test}
  planes:
    control: {cidr: 10.0.0.0/24}
  labels:
    topology.kubernetes.io/zone: rack1
  auth:
    oidc:
      issuerURL: https://sso.example.test/realms/lab
      clientID: kubernetes
  encryptionAtRest:
    provider: secretbox
    keys:
      - name: key1
        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
  certificates:
";

/// A control plane's issued files from a fresh mk-pki, keyed as
/// `spec.certificates` keys them.
fn issued(dir: &Path) -> Vec<(String, String)> {
    use mk_pki::config::{ClusterConfig, NodeSpec, Role};
    use mk_pki::store::PkiDir;
    let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let mut cfg = ClusterConfig::new(DOMAIN);
    cfg.api_endpoint = Some(format!("api.{DOMAIN}"));
    let pki_dir = dir.join("pki");
    PkiDir::init(&pki_dir, &cfg, &mk_pki::Realm::ALL, b"pw", now).unwrap();
    let pki = PkiDir::open(&pki_dir).unwrap();
    let node = NodeSpec {
        name: CP.into(),
        cluster_domain: DOMAIN.into(),
        dns_names: vec![],
        roles: vec![Role::ControlPlane, Role::Etcd, Role::Worker],
    };
    let plan = mk_pki::plan::plan_node(&pki.config, &node);
    for r in plan.realms() {
        pki.intermediate(CP, r, b"pw", now, None).unwrap();
    }
    let out = dir.join("issued");
    let bundle = pki.issue_node(&node, "node.yaml", &out, now).unwrap();
    bundle
        .files
        .into_iter()
        .filter_map(|(path, data, _)| {
            let key = if let Some(k) = path.strip_prefix("/etc/kubernetes/pki/") {
                k.to_string()
            } else {
                format!("kubelet/{}", path.strip_prefix("/var/lib/kubelet/pki/")?)
            };
            Some((key, String::from_utf8(data).unwrap()))
        })
        .collect()
}

/// The site: a signed config with the certificates, and an empty node
/// root template (account files, the trusted key, a NIC).
struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let mut yaml = CONFIG.to_string();
        for (name, pem) in issued(dir.path()) {
            yaml.push_str(&format!("    \"{name}\": |\n"));
            for line in pem.lines() {
                yaml.push_str(&format!("      {line}\n"));
            }
        }
        let key = mk_minisign::SecretKey::generate().unwrap();
        let config = dir.path().join("node-config.yaml");
        std::fs::write(&config, &yaml).unwrap();
        std::fs::write(
            dir.path().join("node-config.yaml.minisig"),
            key.sign(yaml.as_bytes(), "bench", "bench").to_file_text(),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("trust")).unwrap();
        std::fs::write(
            dir.path().join("trust/admin.pub"),
            key.public_key().to_file_text(),
        )
        .unwrap();
        Site { dir, config }
    }

    /// A fresh node root (what the image has before first boot).
    fn root(&self) -> tempfile::TempDir {
        let r = tempfile::tempdir_in(self.dir.path()).unwrap();
        for d in [
            "etc",
            "sys/class/net/eth0",
            "sys/class/block",
            "dev",
            "proc",
        ] {
            std::fs::create_dir_all(r.path().join(d)).unwrap();
        }
        for (f, t) in [
            ("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"),
            ("etc/group", "root:x:0:\n"),
            ("etc/shadow", "root:*::0:99999:7:::\n"),
            ("etc/gshadow", "root:::\n"),
            ("proc/cmdline", "ro quiet\n"),
            ("sys/class/net/eth0/address", "52:54:00:00:00:01\n"),
        ] {
            std::fs::write(r.path().join(f), t).unwrap();
        }
        r
    }

    fn options(&self, root: &Path) -> Options {
        let mut o = Options::new(root);
        o.config = Some(self.config.clone());
        o.trust = Some(self.dir.path().join("trust"));
        o.addresses = Some(vec!["10.0.0.11".parse().unwrap()]);
        o
    }

    /// What `mk-firstboot apply` does after argument parsing.
    fn boot(&self, root: &Path) -> mk_firstboot::state::Report {
        let prepared = run::prepare(&self.options(root), true).unwrap();
        run::apply(root, &prepared, &mut CrashPoints::none()).unwrap()
    }
}

fn bench(c: &mut Criterion) {
    let site = Site::new();

    // Check once that the runs measure what they claim.
    let root = site.root();
    let first = site.boot(root.path());
    assert_eq!(first.outcome, mk_firstboot::state::Outcome::Ok);
    assert!(first.total_changes > 80, "{}", first.total_changes);
    let second = site.boot(root.path());
    assert_eq!(second.total_changes, 0, "second run changed something");

    let mut g = c.benchmark_group("firstboot");
    g.sample_size(30);
    g.bench_function("first apply, control plane (prepare + apply)", |b| {
        b.iter_batched(
            || site.root(),
            |r| {
                let report = site.boot(r.path());
                black_box(report.total_changes);
                r // removed outside the measurement
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("second run, nothing to do (prepare + apply)", |b| {
        b.iter(|| black_box(site.boot(root.path()).total_changes))
    });
    g.bench_function("prepare only (source, signature, validate, plan)", |b| {
        b.iter(|| black_box(run::prepare(&site.options(root.path()), true).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
