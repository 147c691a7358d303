//! Issuing the full certificate set of a 3-control-plane + 10-worker cluster:
//! roots, per-host intermediates and every leaf, in memory (mk-pki), against
//! OpenSSL (`openssl req` / `openssl x509` processes) doing the same set.
//!
//! Run: cargo bench -p mk-pki --bench issue

use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use mk_pki::config::{ClusterConfig, NodeSpec, Role};
use mk_pki::issue::{self, Ca};
use mk_pki::plan::{plan_node, NodePlan, Usage};
use mk_pki::{KeyAlgorithm, PrivateKey, Realm};
use time::OffsetDateTime;

fn cluster_plans(cfg: &ClusterConfig) -> Vec<NodePlan> {
    let mut v = Vec::new();
    for i in 1..=3 {
        let n = NodeSpec {
            name: format!("cp{i}.example.test"),
            cluster_domain: "example.test".into(),
            dns_names: vec![],
            roles: vec![Role::ControlPlane, Role::Etcd],
        };
        v.push(plan_node(cfg, &n));
    }
    for i in 1..=10 {
        let n = NodeSpec {
            name: format!("w{i}.example.test"),
            cluster_domain: "example.test".into(),
            dns_names: vec![],
            roles: vec![Role::Worker],
        };
        v.push(plan_node(cfg, &n));
    }
    v
}

fn issue_all(cfg: &ClusterConfig, plans: &[NodePlan]) -> usize {
    let now = OffsetDateTime::now_utc();
    let mut n = 0;
    let roots: Vec<(Realm, Ca)> = Realm::ALL
        .iter()
        .map(|r| {
            let k = PrivateKey::generate(cfg.algorithm).unwrap();
            let c = issue::root(*r, &k, now, 3650).unwrap();
            n += 1;
            (*r, Ca::new(c, k, "root").unwrap())
        })
        .collect();
    for p in plans {
        let mut inters = Vec::new();
        for i in &p.intermediates {
            let root = &roots.iter().find(|(r, _)| *r == i.realm).unwrap().1;
            let k = PrivateKey::generate(cfg.algorithm).unwrap();
            let permitted = i.realm.permitted_dns(cfg);
            let c = issue::intermediate(root, i.realm, &p.host, permitted.as_deref(), &k, now, 90)
                .unwrap();
            inters.push((i.realm, Ca::new(c, k, "i").unwrap()));
            n += 1;
        }
        for l in &p.leaves {
            let ca = &inters.iter().find(|(r, _)| *r == l.realm).unwrap().1;
            let k = PrivateKey::generate(l.algorithm).unwrap();
            let cert = issue::leaf(ca, l, &k, now).unwrap();
            // Encode as the files would be.
            std::hint::black_box((k.to_pkcs8_pem(), cert.der));
            n += 1;
        }
    }
    n
}

/// The same set with OpenSSL: one `openssl req -x509` per root, and per
/// intermediate / leaf one `openssl req -new -newkey` plus one `openssl x509 -req`.
fn openssl_script(plans: &[NodePlan], curve: &str) -> String {
    let key = if curve == "ed25519" {
        "-newkey ed25519".to_string()
    } else {
        "-newkey ec -pkeyopt ec_paramgen_curve:P-256".to_string()
    };
    let mut s = String::from("set -e\ncd \"$1\"\n");
    s.push_str("printf 'basicConstraints=critical,CA:TRUE,pathlen:0\\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\\nnameConstraints=critical,permitted;DNS:example.test,excluded;IP:0.0.0.0/0.0.0.0\\n' > inter.ext\n");
    for r in Realm::ALL {
        s.push_str(&format!("openssl req -x509 {key} -nodes -keyout root-{r}.key -out root-{r}.crt -subj '/CN={}/O=mk/OU={r}' -days 3650 -addext basicConstraints=critical,CA:TRUE,pathlen:1 -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null\n", r.root_common_name()));
    }
    for (pi, p) in plans.iter().enumerate() {
        for i in &p.intermediates {
            let r = i.realm;
            s.push_str(&format!("openssl req -new {key} -nodes -keyout i{pi}-{r}.key -out i{pi}-{r}.csr -subj '/CN={} {}/O=mk/OU={r}' 2>/dev/null\n", r.root_common_name(), p.host));
            s.push_str(&format!("openssl x509 -req -in i{pi}-{r}.csr -CA root-{r}.crt -CAkey root-{r}.key -set_serial 0x$(openssl rand -hex 16) -days 90 -extfile inter.ext -out i{pi}-{r}.crt 2>/dev/null\n"));
        }
        for (li, l) in p.leaves.iter().enumerate() {
            let r = l.realm;
            let eku: Vec<&str> = l
                .usages
                .iter()
                .map(|u| match u {
                    Usage::ServerAuth => "serverAuth",
                    Usage::ClientAuth => "clientAuth",
                })
                .collect();
            let mut ext = format!(
                "keyUsage=critical,digitalSignature\\nextendedKeyUsage={}\\n",
                eku.join(",")
            );
            if !l.dns_names.is_empty() {
                let sans: Vec<String> = l.dns_names.iter().map(|d| format!("DNS:{d}")).collect();
                ext.push_str(&format!("subjectAltName={}\\n", sans.join(",")));
            }
            let subj = match l.organizations.first() {
                Some(o) => format!("/CN={}/O={o}", l.common_name),
                None => format!("/CN={}", l.common_name),
            };
            s.push_str(&format!("printf '{ext}' > l{pi}-{li}.ext\n"));
            s.push_str(&format!("openssl req -new {key} -nodes -keyout l{pi}-{li}.key -out l{pi}-{li}.csr -subj '{subj}' 2>/dev/null\n"));
            s.push_str(&format!("openssl x509 -req -in l{pi}-{li}.csr -CA i{pi}-{r}.crt -CAkey i{pi}-{r}.key -set_serial 0x$(openssl rand -hex 16) -days 7 -extfile l{pi}-{li}.ext -out l{pi}-{li}.crt 2>/dev/null\n"));
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cluster_3cp_10w");
    g.sample_size(10);
    for (label, alg, ed) in [
        ("mk-pki_p256", KeyAlgorithm::EcdsaP256, false),
        ("mk-pki_p256+ed25519", KeyAlgorithm::EcdsaP256, true),
        ("mk-pki_ed25519", KeyAlgorithm::Ed25519, true),
    ] {
        let mut cfg = ClusterConfig::new("example.test");
        cfg.algorithm = alg;
        cfg.ed25519_where_supported = ed;
        let plans = cluster_plans(&cfg);
        let n = issue_all(&cfg, &plans);
        eprintln!("{label}: {n} certificates per iteration");
        g.bench_function(label, |b| b.iter(|| issue_all(&cfg, &plans)));
    }
    let cfg = ClusterConfig::new("example.test");
    let plans = cluster_plans(&cfg);
    for curve in ["p256", "ed25519"] {
        let script = openssl_script(&plans, curve);
        g.bench_function(format!("openssl_{curve}"), |b| {
            b.iter(|| {
                let d = tempfile::tempdir().unwrap();
                let st = Command::new("sh")
                    .arg("-c")
                    .arg(&script)
                    .arg("sh")
                    .arg(d.path())
                    .status()
                    .unwrap();
                assert!(st.success());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
