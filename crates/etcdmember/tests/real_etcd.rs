//! Control planes join real etcd 3.4 by DNS names only: learner add, start
//! with `initial-cluster-state=existing`, catch-up, promotion; refusals;
//! re-runs after a stop at each point. See tests/common for the setup.

mod common;

use std::time::Duration;

use common::*;
use mk_etcdmember::{join, promote_when_caught_up, Error, Node, Outcome, Promotion};

/// Started voting members in `etcdctl member list` (asked through `via`).
fn started_voters(c: &Cluster, via: usize) -> (usize, String) {
    let (ok, out) = c.etcdctl(via, via, "member list");
    assert!(ok, "{out}");
    let n = out
        .lines()
        .filter(|l| l.contains(", started, ") && l.trim_end().ends_with(", false"))
        .count();
    (n, out)
}

#[test]
fn two_control_planes_join_and_the_cluster_keeps_quorum() {
    if !in_namespace("two_control_planes_join_and_the_cluster_keeps_quorum", 61) {
        return;
    }
    let mut c = Cluster::new(4, false);
    c.bootstrap(1);
    // The role config names the existing members by DNS name.
    let t2 = join_fully(&mut c, 2, &endpoints(1));
    let t3 = join_fully(&mut c, 3, &endpoints(2));
    eprintln!("join to promotion: cp2 {t2:?}, cp3 {t3:?}");
    let (n, list) = started_voters(&c, 3);
    assert_eq!(n, 3, "{list}");

    // Clashes are refused while the cluster is healthy, and change nothing.
    let client = c.client(4);
    let other_url = peer_url(4);
    let e = join(
        &client,
        &endpoints(3),
        Node {
            name: &name(2),
            peer_url: &other_url,
        },
        Duration::from_secs(5),
    )
    .unwrap_err();
    let m = e.to_string();
    assert!(
        matches!(e, Error::Refused(_))
            && m.contains("cp2.example.test is already etcd member")
            && m.contains("https://cp2.example.test:2380")
            && m.contains("not https://cp4.example.test:2380"),
        "{m}"
    );
    let e = join(
        &client,
        &endpoints(3),
        Node {
            name: &name(4),
            peer_url: &peer_url(3),
        },
        Duration::from_secs(5),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(
            "peer URL https://cp3.example.test:2380 belongs to etcd member cp3.example.test"
        ),
        "{e}"
    );
    assert_eq!(started_voters(&c, 3).0, 3);

    // One member lost: the other two keep quorum and serve.
    c.kill(1);
    let k = c.client(2);
    c.wait(20, "put through cp2 after cp1 died", || {
        k.put(&format!("{}:2379", name(2)), b"after", b"cp1 died")
            .is_ok()
    });
    let got = c
        .client(3)
        .get(&format!("{}:2379", name(3)), b"after")
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"cp1 died"[..]));
    let (ok, out) = c.etcdctl(3, 3, "get after --consistency=l");
    assert!(ok && out.contains("cp1 died"), "{out}");

    // Two of three lost: a further control plane is refused, naming why.
    c.kill(2);
    let (n4, u4) = (name(4), peer_url(4));
    let e = join(
        &client,
        &endpoints(3),
        Node {
            name: &n4,
            peer_url: &u4,
        },
        Duration::from_secs(5),
    )
    .unwrap_err();
    let m = e.to_string();
    assert!(
        matches!(e, Error::Unhealthy(_))
            && m.contains("etcd cluster is unhealthy: no quorum")
            && m.contains("3 voting members")
            && m.contains("2 needed")
            && m.contains("cp1.example.test (")
            && m.contains("cp2.example.test ("),
        "{m}"
    );
    // ... and nothing was added.
    let (_, list) = started_voters(&c, 3);
    assert!(!list.contains("cp4"), "{list}");
}

#[test]
fn a_rerun_after_a_stop_at_each_point_converges() {
    if !in_namespace("a_rerun_after_a_stop_at_each_point_converges", 62) {
        return;
    }
    // Ed25519 etcd client keys (pki.yaml `ed25519_where_supported`).
    let mut c = Cluster::new(2, true);
    c.bootstrap(1);
    let client = c.client(2);
    let (n, u) = (name(2), peer_url(2));
    let node = Node {
        name: &n,
        peer_url: &u,
    };
    let eps = endpoints(2); // cp2 itself is listed and not up yet
    let slot = Duration::from_secs(5);
    let first = join(&client, &eps, node, slot).unwrap();
    let Outcome::Added { id } = first.outcome else {
        panic!("{first:?}")
    };
    // Stopped after the add, before etcd started: the unnamed learner is us.
    let again = join(&client, &eps, node, slot).unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyLearner { id });
    // Promotion cannot happen before the learner runs: bounded, and says so.
    let e = promote_when_caught_up(
        &client,
        &eps,
        node,
        Duration::from_millis(500),
        Duration::from_millis(100),
    )
    .unwrap_err();
    assert!(e.to_string().contains("has not started"), "{e}");

    c.start(2, &initial_cluster(2, &again.members), "existing");
    c.wait(30, "cp2 started as learner", || {
        c.client(2)
            .member_list(&eps[0])
            .is_ok_and(|m| m.iter().any(|m| m.name == n && m.is_learner))
    });
    // Stopped after etcd started, before promotion.
    assert_eq!(
        join(&client, &eps, node, slot).unwrap().outcome,
        Outcome::AlreadyLearner { id }
    );
    // A crash of the learner itself: restarts from its data directory.
    c.kill(2);
    c.start(2, &initial_cluster(2, &again.members), "existing");
    let p = promote_when_caught_up(
        &client,
        &eps,
        node,
        Duration::from_secs(60),
        Duration::from_millis(50),
    )
    .unwrap();
    assert!(
        matches!(p, Promotion::Promoted { id: i, .. } if i == id),
        "{p:?}"
    );
    // Stopped after promotion: both steps are done already.
    assert_eq!(
        join(&client, &eps, node, slot).unwrap().outcome,
        Outcome::AlreadyVoter { id }
    );
    assert_eq!(
        promote_when_caught_up(
            &client,
            &eps,
            node,
            Duration::from_secs(5),
            Duration::from_millis(50)
        )
        .unwrap(),
        Promotion::AlreadyVoter { id }
    );
    let (n2, list) = started_voters(&c, 2);
    assert_eq!(n2, 2, "{list}");
}

#[test]
fn errors_name_the_endpoint() {
    if !in_namespace("errors_name_the_endpoint", 63) {
        return;
    }
    let c = Cluster::new(1, false);
    let client = c.client(1).with_timeout(Duration::from_secs(2));
    // Nothing listens: the error names every endpoint tried.
    let e = mk_etcdmember::list_members(&client, &endpoints(2)).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("etcd cp1.example.test:2379: cannot connect")
            && m.contains("etcd cp2.example.test:2379: cannot connect"),
        "{m}"
    );
    let e = client.member_list("nowhere.invalid:2379").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("etcd nowhere.invalid:2379: resolving nowhere.invalid"),
        "{e}"
    );
}
