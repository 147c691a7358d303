//! First boot's API step against the mock apiserver of tests/mock (TLS,
//! client certificate, answers shaped like kube-apiserver v1.28.7's):
//!
//! - first apply: from the first /readyz 200 (connection open) to every
//!   object of a bootstrap control plane's plan applied (a GET answering
//!   404 and a server-side apply PATCH each);
//! - re-run with nothing to do: GETs only, no PATCH.
//!
//! The mock answers from memory, so this is the client's own cost plus
//! loopback TLS round trips; a real apiserver adds etcd writes.
//! Run: `cargo bench -p mk-kubeapi --bench apply`.

#[path = "../tests/mock/mod.rs"]
mod mock;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mk_cluster::object::ApiObject;
use mk_kubeapi::{client, Outcome};

/// What the bootstrap control plane of the example site applies
/// (`mk_cluster::plan` of a config like examples/site/cp1.yaml, with one
/// bootstrap token).
fn objects() -> Vec<ApiObject> {
    let yaml = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata: {name: cp1.example.com}
spec:
  roles: [bootstrap-control-plane, worker]
  cluster:
    name: lab
    domain: example.com
    apiEndpoint: {dnsName: api.example.com}
  planes:
    control: {cidr: 10.0.0.0/24}
    workload: {cidr: 10.0.1.0/24}
  bootstrapTokens:
    - {token: abcdef.0123456789abcdef, expires: \"2099-01-01T00:00:00Z\"}
";
    let config = mk_roleconfig::parse_node_config(yaml.as_bytes(), "cp1.yaml").unwrap();
    let pki = mock::pki();
    let plan = mk_cluster::plan(&mk_cluster::Inputs {
        config: &config,
        ca_pem: &pki.ca_pem,
        now: time::OffsetDateTime::now_utc(),
    })
    .unwrap();
    plan.objects.into_iter().chain(plan.node).collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pki = mock::pki();
    let objs = objects();
    let n = objs.len();
    eprintln!("{n} objects");

    let mut g = c.benchmark_group("kubeapi");
    g.sample_size(30);
    g.bench_function(
        format!("first apply of the bootstrap node's {n} objects, from /readyz ok"),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rt.block_on(async {
                        let mock = mock::Mock::start(&pki).await;
                        let api = client(&pki.credentials(&mock.url())).unwrap();
                        api.wait_ready(Duration::from_secs(5)).await.unwrap();
                        let started = Instant::now();
                        let out = api.apply(&objs).await.unwrap();
                        let took = started.elapsed();
                        assert!(out.iter().all(|a| a.outcome == Outcome::Created));
                        black_box(out);
                        took
                    });
                }
                total
            })
        },
    );

    // One populated mock for the re-runs; it must see GETs only.
    let (mock, api) = rt.block_on(async {
        let mock = mock::Mock::start(&pki).await;
        let api = client(&pki.credentials(&mock.url())).unwrap();
        api.wait_ready(Duration::from_secs(5)).await.unwrap();
        api.apply(&objs).await.unwrap();
        (mock, api)
    });
    mock.take_requests();
    g.bench_function(
        format!("re-run of {n} unchanged objects (GETs only)"),
        |b| {
            b.iter(|| {
                let out = rt.block_on(api.apply(&objs)).unwrap();
                assert!(out.iter().all(|a| a.outcome == Outcome::Unchanged));
                black_box(out)
            })
        },
    );
    let reqs = mock.take_requests();
    assert!(reqs.iter().all(|r| r.method == "GET"), "a re-run wrote");
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
