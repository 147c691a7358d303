//! Hand-built packages for solver and order tests.
#![allow(dead_code)]

use mk_rpmrepo::{Cmp, Dep, Evr, FileEntry, FileKind, Package};

/// Parses `name`, `name >= [e:]v[-r]` (also `<`, `<=`, `=`, `>`).
pub fn dep(s: &str) -> Dep {
    let parts: Vec<&str> = s.split_whitespace().collect();
    match parts.as_slice() {
        [name] => Dep::any(*name),
        [name, op, evr] => {
            let cmp = match *op {
                "<" => Cmp::Lt,
                "<=" => Cmp::Le,
                "=" => Cmp::Eq,
                ">=" => Cmp::Ge,
                ">" => Cmp::Gt,
                _ => panic!("bad operator in {s}"),
            };
            Dep::versioned(*name, cmp, Evr::parse(evr))
        }
        _ => panic!("bad dependency {s}"),
    }
}

/// A package from `name-[epoch:]version-release.arch`.
pub fn pkg(nevra: &str) -> Package {
    let (rest, arch) = nevra.rsplit_once('.').expect("arch");
    let (rest, release) = rest.rsplit_once('-').expect("release");
    let (name, ev) = rest.rsplit_once('-').expect("version");
    let evr = Evr::parse(&format!("{ev}-{release}"));
    let mut p = Package {
        name: name.into(),
        evr: evr.clone(),
        arch: arch.into(),
        ..Package::default()
    };
    p.provides.push(Dep::versioned(name, Cmp::Eq, evr));
    p
}

pub trait Build {
    fn req(self, d: &str) -> Self;
    fn pre(self, d: &str) -> Self;
    fn prov(self, d: &str) -> Self;
    fn conflicts(self, d: &str) -> Self;
    fn obsoletes(self, d: &str) -> Self;
    fn file(self, path: &str) -> Self;
    fn dir(self, path: &str) -> Self;
}

impl Build for Package {
    fn req(mut self, d: &str) -> Self {
        self.requires.push(dep(d));
        self
    }
    fn pre(mut self, d: &str) -> Self {
        let mut d = dep(d);
        d.pre = true;
        self.requires.push(d);
        self
    }
    fn prov(mut self, d: &str) -> Self {
        self.provides.push(dep(d));
        self
    }
    fn conflicts(mut self, d: &str) -> Self {
        self.conflicts.push(dep(d));
        self
    }
    fn obsoletes(mut self, d: &str) -> Self {
        self.obsoletes.push(dep(d));
        self
    }
    fn file(mut self, path: &str) -> Self {
        self.files.push(FileEntry {
            path: path.into(),
            kind: FileKind::File,
        });
        self
    }
    fn dir(mut self, path: &str) -> Self {
        self.files.push(FileEntry {
            path: path.into(),
            kind: FileKind::Dir,
        });
        self
    }
}
