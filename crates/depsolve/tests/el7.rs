use mk_depsolve::{install_order, resolve, Request, SolveOptions};
use std::path::Path;
#[test]
fn explore() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/el7-base"));
    let pool = mk_rpmrepo::repodata::read_repodata(root).unwrap();
    let res = resolve(&pool, &Request::parse("httpd").unwrap(), None, &SolveOptions::default()).unwrap();
    let chosen: Vec<_> = res.packages.iter().map(|&i| pool[i].clone()).collect();
    for (i,p) in chosen.iter().enumerate() { eprintln!("{i} {}", p.name); }
    let order = install_order(&chosen);
    for i in order { let p=&chosen[i]; eprintln!("{}", p.name); }
}
