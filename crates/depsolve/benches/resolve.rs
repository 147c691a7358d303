//! Resolution and install order on a synthetic 1,000-package pool with deep
//! dependency chains (a chain of 800 names through soname provides, plus
//! versioned, file, virtual and pre requirements, conflicts, obsoletes).
//! Goal: resolving well under 1 s.

use criterion::{criterion_group, criterion_main, Criterion};
use mk_depsolve::{install_order, resolve, Request, SolveOptions};
use mk_rpmrepo::{Cmp, Dep, Evr, FileEntry, FileKind, Package};
use std::hint::black_box;

const NAMES: usize = 800;
/// Names below this have two versions: 1.0 and 2.0 (1,000 packages).
const TWO_VERSIONS: usize = 200;

/// Deterministic pseudo-random numbers (an LCG), so every run builds the
/// same pool.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % below
    }
}

fn name(n: usize) -> String {
    format!("pkg{n:04}")
}

fn package(n: usize, version: &str, rng: &mut Lcg) -> Package {
    let evr = Evr::new(0, version, "1.el7");
    let mut p = Package {
        name: name(n),
        evr: evr.clone(),
        arch: if n.is_multiple_of(9) {
            "noarch"
        } else {
            "x86_64"
        }
        .into(),
        ..Package::default()
    };
    p.provides.push(Dep::versioned(name(n), Cmp::Eq, evr));
    p.provides.push(Dep::any(format!("lib{n}.so.1()(64bit)")));
    p.files.push(FileEntry {
        path: format!("/usr/lib/pkg{n}"),
        kind: FileKind::Dir,
    });
    p.files.push(FileEntry {
        path: format!("/usr/lib/pkg{n}/data"),
        kind: FileKind::File,
    });
    // The chain: each name needs the next one's library.
    if n + 1 < NAMES {
        p.requires
            .push(Dep::any(format!("lib{}.so.1()(64bit)", n + 1)));
    }
    // Two more edges further down, versioned where two versions exist.
    for _ in 0..2 {
        let m = n + 2 + rng.next(48);
        if m < NAMES {
            p.requires.push(if m < TWO_VERSIONS {
                Dep::versioned(name(m), Cmp::Ge, Evr::new(0, "1.0", ""))
            } else {
                Dep::any(name(m))
            });
        }
    }
    if n.is_multiple_of(10) && n + 60 < NAMES {
        p.requires
            .push(Dep::any(format!("/usr/lib/pkg{}/data", n + 60)));
    }
    if n.is_multiple_of(25) && n + 5 < NAMES {
        let mut d = Dep::any(format!("/usr/lib/pkg{}", n + 5));
        d.pre = true;
        p.requires.push(d);
    }
    // Virtual capabilities with several providers.
    if n.is_multiple_of(50) {
        p.provides.push(Dep::any(format!("vcap{}", n % 7)));
        p.requires.push(Dep::any(format!("vcap{}", (n + 3) % 7)));
    }
    // Loops back up the chain, as glibc <-> glibc-common.
    if n % 100 == 99 {
        p.requires.push(Dep::any(name(n - 98)));
    }
    if n.is_multiple_of(37) {
        p.conflicts.push(Dep::versioned(
            name((n + 11) % NAMES),
            Cmp::Lt,
            Evr::new(0, "0.5", ""),
        ));
    }
    if n.is_multiple_of(97) && n > 0 {
        p.obsoletes.push(Dep::versioned(
            format!("old-pkg{n}"),
            Cmp::Lt,
            Evr::new(0, "2", ""),
        ));
    }
    p.requires
        .push(Dep::any("rpmlib(CompressedFileNames) <= 3.0.4-1"));
    p
}

fn pool() -> Vec<Package> {
    let mut rng = Lcg(0x6d6b_2d64_6570);
    let mut pool = Vec::new();
    for n in 0..NAMES {
        if n < TWO_VERSIONS {
            pool.push(package(n, "1.0", &mut rng));
        }
        pool.push(package(n, "2.0", &mut rng));
    }
    assert_eq!(pool.len(), 1000);
    pool
}

fn bench(c: &mut Criterion) {
    let pool = pool();
    let request_ok = Request::parse("pkg0000\npkg0400").unwrap();
    // Excluding the end of the chain makes everything unsatisfiable: the
    // error path walks the whole chain.
    let request_fail = Request::parse("pkg0000\npkg0400\n-pkg0799").unwrap();
    let opts = SolveOptions::default();
    let res = resolve(&pool, &request_ok, None, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.packages.len(), NAMES, "one version of every name");
    assert!(resolve(&pool, &request_fail, None, &opts).is_err());

    let mut group = c.benchmark_group("depsolve");
    group.sample_size(20);
    group.bench_function("resolve 1000-package pool (800 in closure)", |b| {
        b.iter(|| resolve(black_box(&pool), black_box(&request_ok), None, &opts).unwrap())
    });
    group.bench_function(
        "resolve 1000-package pool, unsatisfiable (excluded tail)",
        |b| {
            b.iter(|| resolve(black_box(&pool), black_box(&request_fail), None, &opts).unwrap_err())
        },
    );
    let chosen: Vec<&Package> = res.packages.iter().map(|&i| &pool[i]).collect();
    group.bench_function("install_order of 800 packages", |b| {
        b.iter(|| install_order(black_box(&chosen)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
