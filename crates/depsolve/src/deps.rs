//! Matching dependencies against packages the way rpm does: versioned
//! ranges compared with rpm's EVR rules, file dependencies against file
//! lists, every package implicitly providing `name = epoch:version-release`.

use mk_rpmrepo::{Cmp, Dep, Evr, Package};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// The version side of a provide: none (matches any requirement), an
/// explicit range, or the package's own `= EVR`.
#[derive(Clone, Copy)]
pub(crate) enum Ver<'a> {
    Any,
    Range(Cmp, &'a Evr),
}

impl<'a> Ver<'a> {
    pub(crate) fn of(dep: &'a Dep) -> Ver<'a> {
        match &dep.version {
            None => Ver::Any,
            Some((cmp, evr)) => Ver::Range(*cmp, evr),
        }
    }
}

fn sense(c: Cmp) -> (bool, bool, bool) {
    // (less, equal, greater) as in rpm's sense flags.
    match c {
        Cmp::Lt => (true, false, false),
        Cmp::Le => (true, true, false),
        Cmp::Eq => (false, true, false),
        Cmp::Ge => (false, true, true),
        Cmp::Gt => (false, false, true),
    }
}

/// Whether two version ranges intersect (rpm's rule for a provide against a
/// requirement). An unversioned side matches everything; a side without a
/// release matches any release of the other (`Evr::rpm_cmp`).
pub(crate) fn overlap(a: Ver<'_>, b: Ver<'_>) -> bool {
    let (Ver::Range(ac, ae), Ver::Range(bc, be)) = (a, b) else {
        return true;
    };
    let (al, aq, ag) = sense(ac);
    let (bl, bq, bg) = sense(bc);
    match ae.rpm_cmp(be) {
        // a's version is lower: they meet if a reaches upwards or b downwards.
        Ordering::Less => ag || bl,
        Ordering::Greater => al || bg,
        Ordering::Equal => (aq && bq) || (al && bl) || (ag && bg),
    }
}

/// Whether `pkg` provides `dep` (explicit provides, the implicit
/// `name = EVR`, and for paths its file list).
pub(crate) fn provides(pkg: &Package, dep: &Dep) -> bool {
    let want = Ver::of(dep);
    if dep.is_file() && pkg.has_file(&dep.name) {
        return true;
    }
    if pkg.name == dep.name && overlap(Ver::Range(Cmp::Eq, &pkg.evr), want) {
        return true;
    }
    pkg.provides
        .iter()
        .any(|p| p.name == dep.name && overlap(Ver::of(p), want))
}

/// Whether an `Obsoletes:` entry applies to `pkg`: obsoletes match package
/// names (not other provides), as in rpm and dnf.
pub(crate) fn obsoletes(dep: &Dep, pkg: &Package) -> bool {
    dep.name == pkg.name && overlap(Ver::Range(Cmp::Eq, &pkg.evr), Ver::of(dep))
}

/// Rich (boolean) dependencies, `(a or b)`: not used by CentOS 7 packages;
/// we report them instead of guessing.
pub fn is_rich(dep: &Dep) -> bool {
    dep.name.starts_with('(')
}

/// Provide lookup over a set of packages, each known by a `u32` id chosen
/// by the caller.
pub(crate) struct ProvideIndex<'a> {
    by_name: HashMap<&'a str, Vec<(u32, Ver<'a>)>>,
    files: HashMap<&'a str, Vec<u32>>,
}

impl<'a> ProvideIndex<'a> {
    /// Indexes `pkgs`. Only the paths in `file_deps` are indexed from file
    /// lists: the lists are large, the paths that anything requires few.
    pub(crate) fn build(pkgs: &[(u32, &'a Package)], file_deps: &HashSet<&str>) -> Self {
        let mut by_name: HashMap<&'a str, Vec<(u32, Ver<'a>)>> = HashMap::new();
        let mut files: HashMap<&'a str, Vec<u32>> = HashMap::new();
        for &(id, p) in pkgs {
            by_name
                .entry(p.name.as_str())
                .or_default()
                .push((id, Ver::Range(Cmp::Eq, &p.evr)));
            for d in &p.provides {
                by_name
                    .entry(d.name.as_str())
                    .or_default()
                    .push((id, Ver::of(d)));
            }
            if !file_deps.is_empty() {
                for f in &p.files {
                    if file_deps.contains(f.path.as_str()) {
                        files.entry(f.path.as_str()).or_default().push(id);
                    }
                }
            }
        }
        ProvideIndex { by_name, files }
    }

    /// Ids of the packages providing `dep`, ascending, without duplicates.
    pub(crate) fn providers(&self, dep: &Dep) -> Vec<u32> {
        let want = Ver::of(dep);
        let mut out: Vec<u32> = self
            .by_name
            .get(dep.name.as_str())
            .into_iter()
            .flatten()
            .filter(|(_, v)| overlap(*v, want))
            .map(|(id, _)| *id)
            .collect();
        if dep.is_file() {
            out.extend(self.files.get(dep.name.as_str()).into_iter().flatten());
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The file paths that `deps` name.
pub(crate) fn file_deps<'a>(deps: impl Iterator<Item = &'a Dep>) -> HashSet<&'a str> {
    deps.filter(|d| d.is_file())
        .map(|d| d.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(c: Cmp, s: &str) -> (Cmp, Evr) {
        (c, Evr::parse(s))
    }

    fn ov(a: (Cmp, Evr), b: (Cmp, Evr)) -> bool {
        overlap(Ver::Range(a.0, &a.1), Ver::Range(b.0, &b.1))
    }

    #[test]
    fn ranges_like_rpm() {
        use Cmp::*;
        // A provide `= 1.2-3` against various requirements.
        assert!(ov(r(Eq, "1.2-3"), r(Ge, "1.2")));
        assert!(ov(r(Eq, "1.2-3"), r(Eq, "1.2")), "no release matches any");
        assert!(!ov(r(Eq, "1.2-3"), r(Eq, "1.2-4")));
        assert!(ov(r(Eq, "1.2-3"), r(Lt, "1.3")));
        assert!(!ov(r(Eq, "1.2-3"), r(Gt, "1.2")));
        assert!(!ov(r(Eq, "1.2-3"), r(Lt, "1.2")));
        assert!(ov(r(Eq, "1.2-3"), r(Le, "1.2")));
        // Epoch wins over version.
        assert!(!ov(r(Eq, "1:1.0-1"), r(Le, "2.0")));
        assert!(ov(r(Eq, "1:1.0-1"), r(Ge, "2.0")));
        // Tilde sorts before the release it precedes, caret after.
        assert!(ov(r(Eq, "2.0~rc1-1"), r(Lt, "2.0")));
        assert!(ov(r(Eq, "2.0^git1-1"), r(Gt, "2.0")));
        // Two open ranges.
        assert!(ov(r(Ge, "1.0"), r(Lt, "2.0")));
        assert!(!ov(r(Lt, "1.0"), r(Gt, "2.0")));
        assert!(overlap(Ver::Any, Ver::Range(Ge, &Evr::parse("5"))));
    }
}

/// Who provides what within a set of packages (explicit provides, the
/// implicit `name = EVR`, every file path), matched the way the solver
/// matches: for checks outside the solver, such as the install step's.
pub struct Providers<'a>(ProvideIndex<'a>);

impl<'a> Providers<'a> {
    pub fn new(pkgs: &[&'a Package]) -> Self {
        let ids: Vec<(u32, &'a Package)> = pkgs
            .iter()
            .enumerate()
            .map(|(i, p)| (u32::try_from(i).expect("fewer than 2^32 packages"), *p))
            .collect();
        let files: HashSet<&str> = pkgs
            .iter()
            .flat_map(|p| p.files.iter().map(|f| f.path.as_str()))
            .collect();
        Providers(ProvideIndex::build(&ids, &files))
    }

    /// Positions (in the slice given to [`Providers::new`]) of the packages
    /// providing `dep`, ascending, without duplicates.
    pub fn providers(&self, dep: &Dep) -> Vec<usize> {
        self.0
            .providers(dep)
            .into_iter()
            .map(|id| id as usize)
            .collect()
    }
}

#[cfg(test)]
mod providers_tests {
    use super::*;

    #[test]
    fn providers_cover_names_provides_and_files() {
        let mut a = Package {
            name: "a".into(),
            evr: Evr::parse("1.0-1"),
            ..Package::default()
        };
        a.provides
            .push(Dep::versioned("cap", Cmp::Eq, Evr::parse("3")));
        a.files.push(mk_rpmrepo::FileEntry {
            path: "/bin/a".into(),
            kind: mk_rpmrepo::FileKind::File,
        });
        let b = Package {
            name: "b".into(),
            evr: Evr::parse("2.0-1"),
            ..Package::default()
        };
        let idx = Providers::new(&[&a, &b]);
        assert_eq!(idx.providers(&Dep::any("b")), [1]);
        assert_eq!(
            idx.providers(&Dep::versioned("a", Cmp::Ge, Evr::parse("1.0"))),
            [0]
        );
        assert!(idx
            .providers(&Dep::versioned("a", Cmp::Gt, Evr::parse("1.0-1")))
            .is_empty());
        assert_eq!(
            idx.providers(&Dep::versioned("cap", Cmp::Ge, Evr::parse("2"))),
            [0]
        );
        assert_eq!(idx.providers(&Dep::any("/bin/a")), [0]);
        assert!(idx.providers(&Dep::any("/bin/b")).is_empty());
    }
}
