//! Install order on hand-built package sets.

mod common;

use common::{pkg, Build};
use mk_depsolve::install_order;
use mk_rpmrepo::Package;

fn names(pkgs: &[Package]) -> Vec<String> {
    install_order(pkgs)
        .into_iter()
        .map(|i| pkgs[i].name.clone())
        .collect()
}

fn pos(order: &[String], name: &str) -> usize {
    order
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("{name} missing from {order:?}"))
}

/// Every requirement that is not part of a loop comes first.
fn assert_before(order: &[String], first: &str, then: &str) {
    assert!(
        pos(order, first) < pos(order, then),
        "{first} should come before {then}: {order:?}"
    );
}

#[test]
fn requirements_and_pre_requirements_come_first() {
    let pkgs = [
        pkg("app-1-1.x86_64")
            .req("libapp.so.1()(64bit)")
            .pre("/usr/sbin/useradd"),
        pkg("shadow-utils-4.6-5.el7.x86_64")
            .file("/usr/sbin/useradd")
            .req("libc.so.6()(64bit)"),
        pkg("libapp-1-1.x86_64")
            .prov("libapp.so.1()(64bit)")
            .req("libc.so.6()(64bit)"),
        pkg("glibc-2.17-317.el7.x86_64")
            .prov("libc.so.6()(64bit)")
            .pre("filesystem"),
        pkg("filesystem-3.2-25.el7.x86_64").pre("setup"),
        pkg("setup-2.8.71-11.el7.noarch"),
    ];
    let order = names(&pkgs);
    assert_eq!(order.len(), pkgs.len());
    assert_eq!(order[0], "setup");
    assert_eq!(order[1], "filesystem");
    assert_before(&order, "glibc", "libapp");
    assert_before(&order, "glibc", "shadow-utils");
    assert_before(&order, "shadow-utils", "app");
    assert_before(&order, "libapp", "app");
}

#[test]
fn loop_is_broken_at_a_plain_requirement() {
    // a pre-requires b, b requires a: only b -> a can be ignored, so b
    // goes first, whatever the input order.
    for pkgs in [
        vec![pkg("a-1-1.x86_64").pre("b"), pkg("b-1-1.x86_64").req("a")],
        vec![pkg("b-1-1.x86_64").req("a"), pkg("a-1-1.x86_64").pre("b")],
    ] {
        assert_eq!(names(&pkgs), ["b", "a"]);
    }
    // The glibc <-> glibc-common loop of CentOS, with bash needing both
    // and glibc-common pre-requiring /bin/sh only through a plain chain:
    // glibc (pre: glibc-common) <-> glibc-common (plain: glibc).
    let pkgs = [
        pkg("bash-4.2.46-34.el7.x86_64")
            .file("/bin/sh")
            .req("libc.so.6()(64bit)"),
        pkg("glibc-common-2.17-317.el7.x86_64").req("glibc = 2.17-317.el7"),
        pkg("glibc-2.17-317.el7.x86_64")
            .prov("libc.so.6()(64bit)")
            .pre("glibc-common = 2.17-317.el7"),
    ];
    let order = names(&pkgs);
    assert_eq!(order, ["glibc-common", "glibc", "bash"]);
}

#[test]
fn longer_loop_keeps_pre_requirements() {
    // a -> b -> c -> a with one pre edge (c pre-requires a): the members
    // farthest from c come first; a must precede c.
    let pkgs = [
        pkg("a-1-1.x86_64").req("b"),
        pkg("b-1-1.x86_64").req("c"),
        pkg("c-1-1.x86_64").pre("a"),
        pkg("d-1-1.x86_64").req("a").req("c"),
    ];
    let order = names(&pkgs);
    assert_before(&order, "a", "c");
    assert_eq!(order.last().unwrap(), "d");
    // All-pre loop: still a complete, deterministic order.
    let pkgs = [pkg("x-1-1.x86_64").pre("y"), pkg("y-1-1.x86_64").pre("x")];
    let first = names(&pkgs);
    assert_eq!(first.len(), 2);
    assert_eq!(names(&pkgs), first);
}

#[test]
fn independent_packages_keep_a_stable_order() {
    let pkgs: Vec<Package> = (0..10).map(|i| pkg(&format!("p{i}-1-1.noarch"))).collect();
    let order = install_order(&pkgs);
    assert_eq!(order, (0..10).collect::<Vec<_>>());
    // More-required packages first among the ready ones (rpm's metric).
    let pkgs = [
        pkg("leaf-1-1.noarch"),
        pkg("base-1-1.noarch"),
        pkg("u1-1-1.noarch").req("base"),
        pkg("u2-1-1.noarch").req("base"),
    ];
    assert_eq!(names(&pkgs)[0], "base");
    // Works on references too.
    let refs: Vec<&Package> = pkgs.iter().collect();
    assert_eq!(install_order(&refs).len(), 4);
}
