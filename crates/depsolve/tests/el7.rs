//! Real CentOS 7 data: the comps file and the el7-base repository (the
//! closure of httpd), checked against dnf's own resolution.

use mk_depsolve::{install_order, resolve, Comps, Request, SolveOptions};
use mk_rpmrepo::Package;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> PathBuf {
    mk_fixtures::fixture("")
}

fn el7_pool() -> Vec<Package> {
    let pool = mk_rpmrepo::repodata::read_repodata(&fixtures().join("el7-base"))
        .expect("el7-base repodata reads");
    assert_eq!(pool.len(), 117, "el7-base lists 117 packages");
    pool
}

fn el7_comps() -> Comps {
    Comps::read(&fixtures().join("el7-comps/c7-x86_64-comps.xml")).expect("comps parses")
}

#[test]
fn centos7_comps() {
    let comps = el7_comps();
    assert_eq!(comps.groups.len(), 84);
    let core = comps.group("core").expect("@core");
    assert_eq!(core.name, "Core");
    for name in [
        "audit",
        "basesystem",
        "bash",
        "glibc",
        "rpm",
        "setup",
        "systemd",
        "yum",
    ] {
        assert!(core.mandatory.iter().any(|m| m == name), "{name} in @core");
    }
    // NetworkManager is a default member, not a mandatory one.
    assert!(!core.mandatory.iter().any(|m| m == "NetworkManager"));
    assert!(core.default.iter().any(|m| m == "NetworkManager"));
    assert!(core.packages(false, true).len() < core.packages(false, false).len());
    let minimal = comps.environment("minimal").expect("@^minimal");
    assert!(minimal.groups.iter().any(|g| g == "core"));
    let web = comps.environment("web-server-environment").unwrap();
    assert!(web.groups.iter().any(|g| g == "web-server"));
    assert!(!web.options.is_empty());
}

/// The packages dnf would install for `spec` from el7-base into an empty
/// root.
fn dnf_closure(spec: &str) -> BTreeSet<String> {
    let root = tempfile::tempdir().unwrap();
    let repo = format!("el7,file://{}", fixtures().join("el7-base").display());
    let out = Command::new("dnf")
        .env("COLUMNS", "250")
        .args([
            "--setopt=reposdir=/dev/null",
            "--repofrompath",
            &repo,
            "--repo=el7",
            "--installroot",
            root.path().to_str().unwrap(),
            "--releasever=7",
            "--forcearch=x86_64",
            "--setopt=install_weak_deps=False",
            "--nogpgcheck",
            "--assumeno",
            "install",
            spec,
        ])
        .output()
        .expect("dnf runs (CI installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut names = BTreeSet::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with("Installing") {
            in_table = true;
            continue;
        }
        if line.starts_with("Transaction Summary") {
            break;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if in_table && f.len() >= 5 && f[1] == "x86_64"
            || in_table && f.len() >= 5 && f[1] == "noarch"
        {
            names.insert(f[0].to_string());
        }
    }
    assert!(
        !names.is_empty(),
        "no transaction in dnf output:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    names
}

#[test]
fn httpd_closure_matches_dnf_and_orders_like_rpm() {
    let pool = el7_pool();
    let res = resolve(
        &pool,
        &Request::parse("httpd").unwrap(),
        None,
        &SolveOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ours: BTreeSet<String> = res.packages.iter().map(|&i| pool[i].name.clone()).collect();
    assert_eq!(ours, dnf_closure("httpd"));
    for name in [
        "httpd",
        "apr",
        "apr-util",
        "glibc",
        "bash",
        "setup",
        "filesystem",
        "systemd",
    ] {
        assert!(ours.contains(name), "{name} in the closure");
    }

    let chosen: Vec<&Package> = res.packages.iter().map(|&i| &pool[i]).collect();
    let order: Vec<&str> = install_order(&chosen)
        .into_iter()
        .map(|i| chosen[i].name.as_str())
        .collect();
    assert_eq!(order.len(), chosen.len());
    let pos = |n: &str| order.iter().position(|o| *o == n).unwrap();
    assert!(pos("setup") < 5, "{order:?}");
    assert!(pos("setup") < pos("filesystem"));
    assert!(pos("filesystem") < pos("basesystem"));
    assert!(pos("basesystem") < pos("glibc"));
    assert!(pos("glibc") < pos("bash"), "{order:?}");
    assert!(pos("bash") < pos("httpd"));
    assert_eq!(*order.last().unwrap(), "httpd");

    // Every pre-requirement is met by an earlier package.
    for (i, p) in order.iter().enumerate() {
        let pkg = chosen.iter().find(|c| c.name == *p).unwrap();
        for dep in pkg.requires.iter().filter(|d| d.pre && !d.is_rpmlib()) {
            let provided_before = order[..i].iter().any(|q| {
                let q = chosen.iter().find(|c| c.name == *q).unwrap();
                q.name == dep.name
                    || q.provides.iter().any(|pr| pr.name == dep.name)
                    || q.has_file(&dep.name)
            });
            let self_provided =
                pkg.provides.iter().any(|pr| pr.name == dep.name) || pkg.has_file(&dep.name);
            assert!(
                provided_before || self_provided,
                "{} pre-requires {dep}, not installed before it: {order:?}",
                pkg.nevra()
            );
        }
    }
}

#[test]
fn core_group_against_el7_base() {
    let pool = el7_pool();
    let comps = el7_comps();
    let res = resolve(
        &pool,
        &Request::parse("@core --nodefaults").unwrap(),
        Some(&comps),
        &SolveOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ours: BTreeSet<&str> = res
        .packages
        .iter()
        .map(|&i| pool[i].name.as_str())
        .collect();
    for name in [
        "bash",
        "coreutils",
        "rpm",
        "setup",
        "filesystem",
        "systemd",
        "util-linux",
    ] {
        assert!(ours.contains(name), "{name} from @core");
    }
    // The repository is httpd's closure: most of @core is not in it.
    let missing: BTreeSet<&str> = res
        .missing_group_packages
        .iter()
        .map(|(g, n)| {
            assert_eq!(g, "core");
            n.as_str()
        })
        .collect();
    for name in ["yum", "openssh-server", "firewalld"] {
        assert!(missing.contains(name), "{name} reported missing");
    }
    assert!(!missing.contains("bash"));
}

#[test]
fn excluding_a_base_package_names_the_chain() {
    let pool = el7_pool();
    let err = resolve(
        &pool,
        &Request::parse("httpd\n-glibc-common").unwrap(),
        None,
        &SolveOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "nothing provides glibc-common = 2.17-317.el7 needed by glibc-2.17-317.el7.x86_64 ("
        ),
        "{err}"
    );
    assert!(err.contains("requested: `httpd` (line 1)"), "{err}");
    assert!(
        err.ends_with("glibc-common-2.17-317.el7.x86_64 provides it but is excluded by `-glibc-common` (line 2)"),
        "{err}"
    );
}
