//! The etcd side of a control plane's upgrade against real etcd 3.4 with
//! mTLS (mk-etcdmember's `testing` set-up, three members): health with all
//! members, a member down is named, a wiped node's member is removed once
//! (again: nothing to do), the backup before the control planes verifies.
//! Needs root, etcd, unshare, mount.

use mk_etcdmember::testing::*;
use mk_rollout::etcd;

#[test]
fn health_member_removal_and_backup_on_real_etcd() {
    if !in_namespace("health_member_removal_and_backup_on_real_etcd", 69) {
        return;
    }
    let mut c = Cluster::new(3, false);
    let initial: Vec<String> = (1..=3)
        .map(|i| format!("{}={}", name(i), peer_url(i)))
        .collect();
    for i in 1..=3 {
        c.start(i, &initial.join(","), "new");
    }
    let client = c.client(1);
    let eps: Vec<String> = endpoints(3)
        .iter()
        .map(|e| format!("https://{e}"))
        .collect();
    c.wait(60, "three members healthy", || {
        etcd::healthy(&client, &eps, Some(3)).is_ok()
    });
    let ok = etcd::healthy(&client, &eps, Some(3)).unwrap();
    assert!(ok.starts_with("3 etcd members healthy, leader "), "{ok}");
    let e = etcd::healthy(&client, &eps, Some(4)).unwrap_err();
    assert_eq!(e, "etcd has 3 members, expected 4");

    // The backup R35 wants before the control planes.
    let dir = c.dir.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let cfg = mk_rollout::inventory::Etcd {
        endpoints: eps.clone(),
        ca: c.pki(1).join("etcd/ca.crt"),
        cert: c.pki(1).join("apiserver-etcd-client.crt"),
        key: c.pki(1).join("apiserver-etcd-client.key"),
        backup_dir: dir.clone(),
        backup_keep: 2,
        backup_max_age: 3600,
    };
    let file = etcd::backup(&client, &cfg).unwrap();
    assert!(file.starts_with(&dir.display().to_string()), "{file}");
    mk_etcdbackup::verify_file(std::path::Path::new(&file)).unwrap();

    // cp3 down: not every member is healthy, and the error names it.
    c.kill(3);
    let e = etcd::healthy(&client, &eps, None).unwrap_err();
    assert!(
        e.starts_with("not every etcd member is healthy: cp3.example.test"),
        "{e}"
    );
    c.start(3, &initial.join(","), "new");
    c.wait(60, "cp3 back", || {
        etcd::healthy(&client, &eps, Some(3)).is_ok()
    });

    // A wiping driver: the member is removed before the re-image (etcd
    // stops the removed member); the two left are healthy; removing again
    // (a resumed run) does nothing.
    etcd::remove_member(&client, &eps, &name(3)).unwrap();
    c.wait(30, "two members healthy", || {
        etcd::healthy(&client, &eps, Some(2)).is_ok()
    });
    etcd::remove_member(&client, &eps, &name(3)).unwrap();
    let (ok, out) = c.etcdctl(1, 1, "member list");
    assert!(
        ok && !out.contains(&name(3)) && out.contains(&name(2)),
        "{out}"
    );

    // With every member down, the backup refuses with the R35 message.
    c.kill(1);
    c.kill(2);
    let e = etcd::backup(&client, &cfg).unwrap_err();
    assert!(
        e.starts_with("no fresh backup, no control-plane upgrade: "),
        "{e}"
    );
}
