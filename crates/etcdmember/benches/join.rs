//! etcd learner join to promotion on real etcd 3.4: a bootstrap member
//! serves; each iteration adds cp2 as a learner through its DNS name,
//! starts its etcd with `initial-cluster-state=existing` (fresh data
//! directory), waits until it has caught up and promotes it; then removes it
//! again (not measured). Runs itself inside a mount namespace with a
//! private /etc/hosts, as the tests do. Needs root, etcd, unshare.
//!
//! Run: `cargo bench -p mk-etcdmember --bench join`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use criterion::{Criterion, SamplingMode};
use mk_etcdmember::{join, promote_when_caught_up, Node};

fn main() {
    if !in_namespace_bench() {
        return;
    }
    let mut c = Cluster::new(2, false);
    c.bootstrap(1);
    let client = c.client(2);
    let eps = endpoints(1);
    let (n, u) = (name(2), peer_url(2));
    let node = Node {
        name: &n,
        peer_url: &u,
    };
    // One join per sample, ten samples: each costs a real etcd start.
    let mut crit = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(100))
        .configure_from_args();
    let mut group = crit.benchmark_group("etcdmember");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("etcd learner join to promotion", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let data = c.dir.path().join("data2");
                let _ = std::fs::remove_dir_all(&data);
                let start = Instant::now();
                let joined = join(&client, &eps, node, Duration::from_secs(30)).unwrap();
                c.start(2, &initial_cluster(2, &joined.members), "existing");
                promote_when_caught_up(
                    &client,
                    &eps,
                    node,
                    Duration::from_secs(60),
                    Duration::from_millis(20),
                )
                .unwrap();
                total += start.elapsed();
                // Back to one member for the next round: removed while both
                // run (two voters need both for the change), then stopped.
                // etcd refuses changes for 5 s after a promotion.
                let id = joined.outcome.id();
                let remove = format!("member remove {id:x}");
                c.wait(30, "member remove", || c.etcdctl(1, 1, &remove).0);
                c.kill(2);
            }
            total
        })
    });
    group.finish();
    crit.final_summary();
}

/// Criterion's own arguments are passed through to the inner run.
fn in_namespace_bench() -> bool {
    if mk_testns::inside() {
        return true;
    }
    let status = namespace(70).run(std::env::args().skip(1));
    assert!(
        status.success(),
        "the benchmark failed inside its namespace"
    );
    false
}
