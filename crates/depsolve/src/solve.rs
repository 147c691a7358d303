//! The closure of a request, computed with `resolvo` (a CDCL SAT solver in
//! the spirit of libsolv).
//!
//! Encoding (RPM on top of resolvo's name/version-set model):
//! - A resolvo *name* is a package name of one multilib colour: `foo`
//!   (x86_64 and noarch) and `foo.i686` are different names, so both may be
//!   installed (multilib), but never two versions of either.
//! - A *version set* is an explicit set of packages of one name, computed
//!   here with rpm's rules (`deps` module): which ones provide a capability
//!   (explicit provides, the implicit `name = EVR`, file lists for paths).
//!   A requirement is the union of those sets over all provider names.
//! - Conflicts and obsoletes are resolvo *constraints*: "if this package is
//!   installed, any package of name N must lie outside the conflicting or
//!   obsoleted set". Obsoletes match package names only, as in rpm and dnf.
//! - `rpmlib(...)` requirements are satisfied by rpm itself and dropped, as
//!   are requirements a package satisfies on its own.
//!
//! Before solving, packages that can never be installed (a requirement
//! nobody provides, directly or through other such packages) are removed.
//! That keeps the SAT problem small and gives the usual failure a readable
//! message: the missing capability and the chain from the request to it.
//! Remaining failures (conflicts, obsoletes, version lock-step) are
//! explained by resolvo's conflict report.
//!
//! Preferences, from strongest:
//! 1. the highest EVR of a package name (rpm's comparison, incl. `~`, `^`);
//! 2. for a capability several packages provide: the package named like the
//!    capability, then x86_64/noarch before i686, then package names in
//!    ascending byte order (a stable, documented tie-break);
//! 3. packages the request names explicitly are decided first, so they
//!    satisfy later requirements when they can.
//!
//! Architecture: packages of `opts.arch` and noarch; i686 (and i386..i586,
//! athlon) only if `opts.allow_i686` or the request names a package with
//! such an arch suffix (`glibc.i686`): their own dependencies need 32-bit
//! libraries too.
//!
//! Obsoleted requests: when the request names a package that another
//! available package obsoletes, the obsoleter is installed instead (dnf
//! says "Package foo is obsoleted by bar, trying to install bar instead");
//! [`Resolution::replaced`] records it.
//!
//! Groups: members the repository lacks are skipped and recorded in
//! [`Resolution::missing_group_packages`] (dnf warns and goes on); members
//! that exist must be installable; members removed by `-name` are simply
//! not installed. Conditional members are added when the package they
//! depend on is in the result.

use crate::comps::Comps;
use crate::deps::{self, ProvideIndex};
use crate::glob;
use crate::request::{ItemKind, Request};
use mk_rpmrepo::{Dep, Package};
use resolvo::DenseIndex;
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider,
    HintDependenciesAvailable, Interner, KnownDependencies, NameId, Problem, Requirement,
    SolvableId, Solver, SolverCache, StringId, UnsolvableOrCancelled, VersionSetId,
    VersionSetUnionId,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::rc::Rc;

/// Target architecture settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolveOptions {
    /// The machine architecture (`x86_64`).
    pub arch: String,
    /// Allow 32-bit x86 packages (i686 ...) anywhere in the closure.
    pub allow_i686: bool,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            arch: "x86_64".into(),
            allow_i686: false,
        }
    }
}

/// The result of [`resolve`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Indices into the pool of the packages to install, ordered by NEVRA.
    pub packages: Vec<usize>,
    /// Group members no package matched: `(group id, package name)`.
    pub missing_group_packages: Vec<(String, String)>,
    /// Requested packages replaced by an obsoleting one:
    /// `(requested name, NEVRA installed instead)`.
    pub replaced: Vec<(String, String)>,
}

impl Resolution {
    /// The chosen packages themselves, in [`Resolution::packages`] order
    /// (`pool` must be the slice given to [`resolve`]).
    pub fn chosen<'a>(&self, pool: &'a [Package]) -> Vec<&'a Package> {
        self.packages.iter().map(|&i| &pool[i]).collect()
    }
}

/// A capability nothing installable provides, and who needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingDep {
    /// The capability as rpm prints it (`libfoo.so.1()(64bit)`, `bar >= 2`).
    pub capability: String,
    /// NEVRAs from the package that needs the capability up to the
    /// requested package.
    pub chain: Vec<String>,
    /// The request entry that pulled the chain in (`` `httpd` (line 3) ``).
    pub requested: String,
    /// Why the providers that do exist were not usable, if any exist.
    pub note: Option<String>,
}

impl fmt::Display for MissingDep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nothing provides {}", self.capability)?;
        if let Some((first, rest)) = self.chain.split_first() {
            write!(f, " needed by {first} (")?;
            for p in rest {
                write!(f, "needed by {p}, ")?;
            }
            write!(f, "requested: {})", self.requested)?;
        } else {
            write!(f, " (requested: {})", self.requested)?;
        }
        if let Some(note) = &self.note {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("request line {line}: no package matches `{spec}`{hint}")]
    NoMatch {
        spec: String,
        line: usize,
        /// Why near matches were not taken (excluded, architecture), with a
        /// leading separator, or empty.
        hint: String,
    },
    #[error("request line {line}: {item}: {message}")]
    Group {
        item: String,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Missing(Box<MissingDep>),
    #[error("the request cannot be satisfied:\n{explanation}")]
    Conflict { explanation: String },
}

/// Multilib colour: which packages share a resolvo name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Color {
    Primary,
    Secondary,
}

const SECONDARY_X86: &[&str] = &["i686", "i586", "i486", "i386", "athlon"];

fn arch_color(arch: &str, opts: &SolveOptions) -> Option<Color> {
    if arch == "noarch" || arch == opts.arch {
        Some(Color::Primary)
    } else if opts.arch == "x86_64" && SECONDARY_X86.contains(&arch) {
        Some(Color::Secondary)
    } else {
        None
    }
}

/// Rank of an arch within its colour, best first.
fn arch_rank(arch: &str, opts: &SolveOptions) -> usize {
    if arch == opts.arch {
        0
    } else if arch == "noarch" {
        1
    } else {
        2 + SECONDARY_X86
            .iter()
            .position(|a| *a == arch)
            .unwrap_or(SECONDARY_X86.len())
    }
}

fn is_known_arch(arch: &str, opts: &SolveOptions) -> bool {
    arch == opts.arch
        || arch == "noarch"
        || SECONDARY_X86.contains(&arch)
        || matches!(arch, "x86_64" | "aarch64" | "ppc64le" | "s390x" | "src")
}

/// One thing the request asks for: install one of `providers`.
#[derive(Debug, Clone)]
struct Goal {
    /// How the request asked for it, for messages.
    origin: String,
    providers: Vec<u32>,
}

/// Why a package can never be installed.
#[derive(Debug, Clone, Copy)]
struct Broken {
    /// Index into the package's requirement list.
    req: usize,
    /// Marking order: a broken package's providers all have smaller marks.
    mark: u32,
}

struct Req<'p> {
    dep: &'p Dep,
    /// Candidate ids, ascending; empty for an unsupported rich dependency.
    providers: Rc<Vec<u32>>,
}

/// A dependency without its pre flag: what provider lookups depend on.
type DepKey<'p> = (&'p str, Option<&'p (mk_rpmrepo::Cmp, mk_rpmrepo::Evr)>);

/// The candidate packages and everything derived from them.
struct Universe<'p> {
    pool: &'p [Package],
    opts: &'p SolveOptions,
    /// Candidate id -> pool index.
    cands: Vec<usize>,
    name_of: Vec<u32>,
    /// Resolvo name -> display name and its members, best first.
    names: Vec<String>,
    members: Vec<Vec<u32>>,
    /// Rank of a candidate within its name (0 = preferred).
    rank: Vec<u32>,
    by_pkgname: HashMap<&'p str, Vec<u32>>,
    index: ProvideIndex<'p>,
    /// Pool index -> request line of the exclusion that removed it.
    excluded: HashMap<usize, (usize, String)>,
    /// Per candidate, computed for reached ones.
    reqs: Vec<Option<Vec<Req<'p>>>>,
    dep_cache: HashMap<DepKey<'p>, Rc<Vec<u32>>>,
    broken: Vec<Option<Broken>>,
}

impl<'p> Universe<'p> {
    fn pkg(&self, c: u32) -> &'p Package {
        &self.pool[self.cands[c as usize]]
    }

    fn providers(&mut self, dep: &'p Dep) -> Rc<Vec<u32>> {
        let key = (dep.name.as_str(), dep.version.as_ref());
        if let Some(p) = self.dep_cache.get(&key) {
            return p.clone();
        }
        let p = Rc::new(self.index.providers(dep));
        self.dep_cache.insert(key, p.clone());
        p
    }

    /// Computes the requirements of every candidate reachable from `roots`.
    fn reach(&mut self, roots: impl Iterator<Item = u32>) {
        let mut queue: VecDeque<u32> = roots.collect();
        while let Some(c) = queue.pop_front() {
            if self.reqs[c as usize].is_some() {
                continue;
            }
            let pkg = self.pkg(c);
            let mut reqs = Vec::new();
            for dep in &pkg.requires {
                if dep.is_rpmlib() {
                    continue;
                }
                let providers = if deps::is_rich(dep) {
                    Rc::new(Vec::new())
                } else {
                    self.providers(dep)
                };
                if providers.binary_search(&c).is_ok() {
                    continue;
                }
                queue.extend(providers.iter().copied());
                reqs.push(Req { dep, providers });
            }
            self.reqs[c as usize] = Some(reqs);
        }
    }

    /// Marks reached candidates that can never be installed: some
    /// requirement has no provider that could be installed.
    fn propagate_broken(&mut self) {
        let n = self.cands.len();
        // Provider count per (candidate, requirement) not yet known broken,
        // and reverse edges provider -> (candidate, requirement). Counts
        // start at the totals; every broken provider (earlier rounds
        // included) is queued once and decrements once.
        let mut live: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut rev: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
        let mut queue = VecDeque::new();
        let mut mark = self
            .broken
            .iter()
            .flatten()
            .map(|b| b.mark + 1)
            .max()
            .unwrap_or(0);
        for (c, counts) in live.iter_mut().enumerate() {
            let Some(reqs) = &self.reqs[c] else { continue };
            *counts = reqs.iter().map(|r| r.providers.len()).collect();
            for (ri, r) in reqs.iter().enumerate() {
                for &p in r.providers.iter() {
                    rev[p as usize].push((c as u32, ri as u32));
                }
            }
        }
        for (c, counts) in live.iter().enumerate() {
            if self.broken[c].is_some() {
                queue.push_back(c as u32);
            } else if let Some(ri) = counts.iter().position(|&k| k == 0) {
                self.broken[c] = Some(Broken { req: ri, mark });
                mark += 1;
                queue.push_back(c as u32);
            }
        }
        while let Some(p) = queue.pop_front() {
            for &(c, ri) in &rev[p as usize] {
                let (c, ri) = (c as usize, ri as usize);
                live[c][ri] -= 1;
                if live[c][ri] == 0 && self.broken[c].is_none() {
                    self.broken[c] = Some(Broken { req: ri, mark });
                    mark += 1;
                    queue.push_back(c as u32);
                }
            }
        }
    }

    fn is_live(&self, c: u32) -> bool {
        self.reqs[c as usize].is_some() && self.broken[c as usize].is_none()
    }

    /// Explains why broken candidate `c` cannot be installed.
    fn explain(&self, c: u32, requested: &str) -> MissingDep {
        let mut chain = vec![self.pkg(c).nevra()];
        let mut cur = c;
        loop {
            let b = self.broken[cur as usize].expect("explain() on a package that is not broken");
            let req = &self.reqs[cur as usize].as_ref().expect("reached")[b.req];
            let next = req
                .providers
                .iter()
                .copied()
                .filter_map(|p| self.broken[p as usize].map(|bp| (bp.mark, p)))
                .min();
            match next {
                Some((_, p)) => {
                    chain.push(self.pkg(p).nevra());
                    cur = p;
                }
                None => {
                    chain.reverse();
                    return MissingDep {
                        capability: req.dep.to_string(),
                        chain,
                        requested: requested.to_string(),
                        note: self.note_for(req.dep),
                    };
                }
            }
        }
    }

    /// Why packages that provide `dep` in the pool were not candidates.
    fn note_for(&self, dep: &Dep) -> Option<String> {
        if deps::is_rich(dep) {
            return Some("rich (boolean) dependencies are not supported".into());
        }
        let mut notes = Vec::new();
        for (i, p) in self.pool.iter().enumerate() {
            if !deps::provides(p, dep) {
                continue;
            }
            if let Some((line, spec)) = self.excluded.get(&i) {
                notes.push(format!(
                    "{} provides it but is excluded by `-{spec}` (line {line})",
                    p.nevra()
                ));
            } else if arch_color(&p.arch, self.opts).is_none()
                || arch_color(&p.arch, self.opts) == Some(Color::Secondary)
            {
                notes.push(format!(
                    "{} provides it but architecture {} is not enabled",
                    p.nevra(),
                    p.arch
                ));
            }
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }
}

/// Resolves `request` against `pool`: the packages to install, or why
/// that is impossible. `comps` is needed for `@group` entries.
pub fn resolve(
    pool: &[Package],
    request: &Request,
    comps: Option<&Comps>,
    opts: &SolveOptions,
) -> Result<Resolution, SolveError> {
    let started = std::time::Instant::now();
    // 32-bit packages when allowed, or when the request names one.
    let want_secondary = opts.allow_i686
        || request.items.iter().any(|i| match &i.kind {
            ItemKind::Package(s) => s
                .rsplit_once('.')
                .is_some_and(|(_, a)| arch_color(a, opts) == Some(Color::Secondary)),
            _ => false,
        });

    // Exclusions.
    let mut excluded: HashMap<usize, (usize, String)> = HashMap::new();
    for item in &request.items {
        if let ItemKind::Exclude(spec) = &item.kind {
            for (i, p) in pool.iter().enumerate() {
                if name_spec_matches(spec, p, opts) {
                    excluded.entry(i).or_insert((item.line, spec.clone()));
                }
            }
        }
    }

    // Candidates, grouped into resolvo names.
    let mut cands = Vec::new();
    let mut key_of: Vec<(&str, Color)> = Vec::new();
    for (i, p) in pool.iter().enumerate() {
        let Some(color) = arch_color(&p.arch, opts) else {
            continue;
        };
        if (color == Color::Secondary && !want_secondary) || excluded.contains_key(&i) {
            continue;
        }
        cands.push(i);
        key_of.push((p.name.as_str(), color));
    }
    let mut name_ids: BTreeMap<(&str, Color), u32> = BTreeMap::new();
    for k in &key_of {
        name_ids.entry(*k).or_insert(0);
    }
    for (i, v) in name_ids.values_mut().enumerate() {
        *v = i as u32;
    }
    let name_of: Vec<u32> = key_of.iter().map(|k| name_ids[k]).collect();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); name_ids.len()];
    for (c, &n) in name_of.iter().enumerate() {
        members[n as usize].push(c as u32);
    }
    for m in &mut members {
        m.sort_by(|&a, &b| {
            let (pa, pb) = (&pool[cands[a as usize]], &pool[cands[b as usize]]);
            pb.evr
                .rpm_cmp(&pa.evr)
                .then_with(|| arch_rank(&pa.arch, opts).cmp(&arch_rank(&pb.arch, opts)))
                .then(a.cmp(&b))
        });
    }
    let mut rank = vec![0u32; cands.len()];
    for m in &members {
        for (r, &c) in m.iter().enumerate() {
            rank[c as usize] = r as u32;
        }
    }
    let names: Vec<String> = name_ids
        .keys()
        .zip(&members)
        .map(|((name, color), m)| match color {
            Color::Primary => name.to_string(),
            Color::Secondary => format!("{name}.{}", pool[cands[m[0] as usize]].arch),
        })
        .collect();
    let mut by_pkgname: HashMap<&str, Vec<u32>> = HashMap::new();
    for (c, &i) in cands.iter().enumerate() {
        by_pkgname
            .entry(pool[i].name.as_str())
            .or_default()
            .push(c as u32);
    }

    // Provide index; file lists only for paths something asks for.
    let cand_pkgs: Vec<(u32, &Package)> = cands
        .iter()
        .enumerate()
        .map(|(c, &i)| (c as u32, &pool[i]))
        .collect();
    let mut file_deps = deps::file_deps(
        cand_pkgs
            .iter()
            .flat_map(|(_, p)| p.requires.iter().chain(&p.conflicts)),
    );
    for item in &request.items {
        if let ItemKind::Package(s) = &item.kind {
            if s.starts_with('/') {
                file_deps.insert(s.as_str());
            }
        }
    }
    let index = ProvideIndex::build(&cand_pkgs, &file_deps);
    tracing::debug!(
        candidates = cands.len(),
        pool = pool.len(),
        excluded = excluded.len(),
        "depsolve: candidates indexed"
    );

    let n = cands.len();
    let mut u = Universe {
        pool,
        opts,
        cands,
        name_of,
        names,
        members,
        rank,
        by_pkgname,
        index,
        excluded,
        reqs: (0..n).map(|_| None).collect(),
        dep_cache: HashMap::new(),
        broken: vec![None; n],
    };

    let mut resolution = Resolution::default();
    let (mut goals, conditionals) = expand_request(&u, request, comps, &mut resolution)?;
    substitute_obsoleted(&u, &mut goals, &mut resolution);

    // Conditional group members depend on the result: solve, add the ones
    // whose condition holds, solve again (at most once per conditional).
    let mut pending = conditionals;
    loop {
        let chosen = solve_goals(&mut u, &goals)?;
        let chosen_names: HashSet<&str> = chosen.iter().map(|&c| u.pkg(c).name.as_str()).collect();
        let (now, later): (Vec<_>, Vec<_>) =
            pending
                .into_iter()
                .partition(|(_, _, req): &(String, String, String)| {
                    chosen_names.contains(req.as_str())
                });
        pending = later;
        let mut added = false;
        for (origin, pkg, _) in now {
            if let Some(providers) = u.by_pkgname.get(pkg.as_str()) {
                if !providers.iter().any(|c| chosen.contains(c)) {
                    goals.push(Goal {
                        origin,
                        providers: primary_first(&u, providers),
                    });
                    added = true;
                }
            }
        }
        if !added {
            let mut packages: Vec<usize> = chosen.iter().map(|&c| u.cands[c as usize]).collect();
            packages.sort_by(|&a, &b| {
                pool[a]
                    .name
                    .cmp(&pool[b].name)
                    .then_with(|| pool[a].evr.rpm_cmp(&pool[b].evr))
                    .then_with(|| pool[a].arch.cmp(&pool[b].arch))
                    .then(a.cmp(&b))
            });
            resolution.packages = packages;
            tracing::info!(
                requested = goals.len(),
                installed = resolution.packages.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "depsolve: resolved"
            );
            return Ok(resolution);
        }
    }
}

/// The members of a package name of the preferred colour (x86_64/noarch),
/// or all of them if it has only 32-bit ones.
fn primary_first(u: &Universe<'_>, providers: &[u32]) -> Vec<u32> {
    let primary: Vec<u32> = providers
        .iter()
        .copied()
        .filter(|&c| arch_color(&u.pkg(c).arch, u.opts) == Some(Color::Primary))
        .collect();
    if primary.is_empty() {
        providers.to_vec()
    } else {
        primary
    }
}

/// Whether an exclusion or group-member spec (name, glob, `name.arch`)
/// matches `p`.
fn name_spec_matches(spec: &str, p: &Package, opts: &SolveOptions) -> bool {
    let m = |pat: &str, s: &str| {
        if glob::is_glob(pat) {
            glob::matches(pat, s)
        } else {
            pat == s
        }
    };
    if m(spec, &p.name) {
        return true;
    }
    match spec.rsplit_once('.') {
        Some((name, arch)) if is_known_arch(arch, opts) || glob::is_glob(arch) => {
            m(name, &p.name) && m(arch, &p.arch)
        }
        _ => false,
    }
}

type Conditionals = Vec<(String, String, String)>;

/// Turns request items into goals, in request order.
fn expand_request(
    u: &Universe<'_>,
    request: &Request,
    comps: Option<&Comps>,
    res: &mut Resolution,
) -> Result<(Vec<Goal>, Conditionals), SolveError> {
    let mut goals = Vec::new();
    let mut conditionals = Vec::new();
    // Names that `-@group` removes from what groups bring in.
    let mut dropped: HashSet<&str> = HashSet::new();
    let need_comps = |item: &str, line: usize| {
        comps.ok_or_else(|| SolveError::Group {
            item: item.to_string(),
            line,
            message: "no comps.xml defines groups: no repository lists a `group` file in its repodata/repomd.xml and none was given (--comps FILE)".into(),
        })
    };
    for item in &request.items {
        if let ItemKind::ExcludeGroup(id) = &item.kind {
            let c = need_comps(&item.kind.to_string(), item.line)?;
            let g = c.group(id).ok_or_else(|| SolveError::Group {
                item: item.kind.to_string(),
                line: item.line,
                message: format!("no group with id `{id}` in comps.xml"),
            })?;
            dropped.extend(g.packages(true, false));
        }
    }

    for item in &request.items {
        let line = item.line;
        let mut groups: Vec<(&crate::comps::Group, bool, bool, String)> = Vec::new();
        match &item.kind {
            ItemKind::Package(spec) => {
                let matched = match_spec(u, spec);
                if matched.is_empty() {
                    return Err(SolveError::NoMatch {
                        spec: spec.clone(),
                        line,
                        hint: no_match_hint(u, spec),
                    });
                }
                for providers in matched {
                    goals.push(Goal {
                        origin: format!("`{spec}` (line {line})"),
                        providers,
                    });
                }
            }
            ItemKind::Exclude(_) | ItemKind::ExcludeGroup(_) => {}
            ItemKind::Group {
                id,
                optional,
                nodefaults,
            } => {
                let c = need_comps(&item.kind.to_string(), line)?;
                let g = c.group(id).ok_or_else(|| SolveError::Group {
                    item: item.kind.to_string(),
                    line,
                    message: format!("no group with id `{id}` in comps.xml"),
                })?;
                groups.push((g, *optional, *nodefaults, format!("@{id} (line {line})")));
            }
            ItemKind::Environment(id) => {
                let c = need_comps(&item.kind.to_string(), line)?;
                let env = c.environment(id).ok_or_else(|| SolveError::Group {
                    item: item.kind.to_string(),
                    line,
                    message: format!("no environment with id `{id}` in comps.xml"),
                })?;
                let mut seen = HashSet::new();
                for gid in env.groups.iter().filter(|g| seen.insert(g.as_str())) {
                    let g = c.group(gid).ok_or_else(|| SolveError::Group {
                        item: item.kind.to_string(),
                        line,
                        message: format!(
                            "environment `{id}` names group `{gid}`, which comps.xml lacks"
                        ),
                    })?;
                    groups.push((g, false, false, format!("@^{id}/@{gid} (line {line})")));
                }
            }
        }
        for (g, optional, nodefaults, origin) in groups {
            for name in g.packages(optional, nodefaults) {
                if dropped.contains(name) {
                    continue;
                }
                match u.by_pkgname.get(name) {
                    Some(providers) => goals.push(Goal {
                        origin: origin.clone(),
                        providers: primary_first(u, providers),
                    }),
                    None => {
                        let excluded = u.excluded.keys().any(|&i| u.pool[i].name == name);
                        if !excluded {
                            tracing::warn!(group = %g.id, package = name, "depsolve: group member not in the repository, skipped");
                            res.missing_group_packages
                                .push((g.id.clone(), name.to_string()));
                        }
                    }
                }
            }
            for (pkg, req) in &g.conditional {
                if !dropped.contains(pkg.as_str()) {
                    conditionals.push((origin.clone(), pkg.clone(), req.clone()));
                }
            }
        }
    }
    Ok((goals, conditionals))
}

/// What a package spec matches, dnf's way: a package name, `name.arch`, a
/// glob on names (one goal per name), a capability or file, or
/// `name-version[-release][.arch]`.
fn match_spec(u: &Universe<'_>, spec: &str) -> Vec<Vec<u32>> {
    if let Some(providers) = u.by_pkgname.get(spec) {
        return vec![primary_first(u, providers)];
    }
    if let Some((name, arch)) = spec.rsplit_once('.') {
        if is_known_arch(arch, u.opts) {
            if let Some(providers) = u.by_pkgname.get(name) {
                let m: Vec<u32> = providers
                    .iter()
                    .copied()
                    .filter(|&c| u.pkg(c).arch == arch)
                    .collect();
                if !m.is_empty() {
                    return vec![m];
                }
            }
        }
    }
    if glob::is_glob(spec) {
        // One goal per matching resolvo name, in name order.
        let mut per_name: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (c, &i) in u.cands.iter().enumerate() {
            if name_spec_matches(spec, &u.pool[i], u.opts) {
                per_name.entry(u.name_of[c]).or_default().push(c as u32);
            }
        }
        let has_primary: HashSet<&str> = per_name
            .values()
            .filter(|m| arch_color(&u.pkg(m[0]).arch, u.opts) == Some(Color::Primary))
            .map(|m| u.pkg(m[0]).name.as_str())
            .collect();
        // `foo*` means the x86_64 packages when both colours match.
        return per_name
            .into_values()
            .filter(|m| {
                arch_color(&u.pkg(m[0]).arch, u.opts) == Some(Color::Primary)
                    || !has_primary.contains(u.pkg(m[0]).name.as_str())
            })
            .collect();
    }
    let providers = u.index.providers(&Dep::any(spec));
    if !providers.is_empty() {
        return vec![providers];
    }
    // name-version[-release][.arch]
    let m: Vec<u32> = (0..u.cands.len() as u32)
        .filter(|&c| {
            let p = u.pkg(c);
            let nv = format!("{}-{}", p.name, p.evr.version);
            let nvr = format!("{nv}-{}", p.evr.release);
            spec == nv || spec == nvr || spec == format!("{nvr}.{}", p.arch)
        })
        .collect();
    if m.is_empty() {
        Vec::new()
    } else {
        vec![m]
    }
}

fn no_match_hint(u: &Universe<'_>, spec: &str) -> String {
    let mut hints = Vec::new();
    for (i, p) in u.pool.iter().enumerate() {
        let hit = name_spec_matches(spec, p, u.opts) || deps::provides(p, &Dep::any(spec));
        if !hit {
            continue;
        }
        if let Some((line, ex)) = u.excluded.get(&i) {
            hints.push(format!(
                "{} is excluded by `-{ex}` (line {line})",
                p.nevra()
            ));
        } else {
            hints.push(format!(
                "{} has architecture {}, which is not enabled{}",
                p.nevra(),
                p.arch,
                if arch_color(&p.arch, u.opts) == Some(Color::Secondary) {
                    format!(" (ask for `{}.{}` or allow i686)", p.name, p.arch)
                } else {
                    String::new()
                }
            ));
        }
        if hints.len() == 3 {
            break;
        }
    }
    if hints.is_empty() {
        String::new()
    } else {
        format!(": {}", hints.join("; "))
    }
}

/// dnf's rule: asking for a package that an available package obsoletes
/// installs the obsoleter instead.
fn substitute_obsoleted(u: &Universe<'_>, goals: &mut [Goal], res: &mut Resolution) {
    for goal in goals.iter_mut() {
        // Only goals that name one package name.
        let name = &u.pkg(goal.providers[0]).name;
        if !goal.providers.iter().all(|&c| &u.pkg(c).name == name) {
            continue;
        }
        let best = goal
            .providers
            .iter()
            .copied()
            .min_by_key(|&c| u.rank[c as usize])
            .expect("goals are not empty");
        let target = u.pkg(best);
        // The obsoleters: other names, best version first, names ascending.
        let mut obsoleters: Vec<u32> = (0..u.cands.len() as u32)
            .filter(|&c| {
                let p = u.pkg(c);
                p.name != target.name
                    && arch_color(&p.arch, u.opts) == arch_color(&target.arch, u.opts)
                    && p.obsoletes.iter().any(|d| deps::obsoletes(d, target))
            })
            .collect();
        if obsoleters.is_empty() {
            continue;
        }
        obsoleters.sort_by(|&a, &b| {
            u.pkg(a)
                .name
                .cmp(&u.pkg(b).name)
                .then(u.rank[a as usize].cmp(&u.rank[b as usize]))
        });
        let chosen = u.pkg(obsoleters[0]);
        tracing::info!(
            requested = %target.name,
            instead = %chosen.nevra(),
            "depsolve: requested package is obsoleted, installing the obsoleter instead"
        );
        res.replaced.push((target.name.clone(), chosen.nevra()));
        goal.providers = obsoleters
            .into_iter()
            .filter(|&c| u.pkg(c).name == chosen.name)
            .collect();
        goal.origin = format!("{} (obsoletes {})", goal.origin, target.name);
    }
}

/// Solves for `goals`: reachability, pruning, then resolvo.
fn solve_goals(u: &mut Universe<'_>, goals: &[Goal]) -> Result<Vec<u32>, SolveError> {
    u.reach(goals.iter().flat_map(|g| g.providers.iter().copied()));
    u.propagate_broken();
    for goal in goals {
        if goal.providers.iter().all(|&c| !u.is_live(c)) {
            let best = goal
                .providers
                .iter()
                .copied()
                .min_by_key(|&c| (u.rank[c as usize], c))
                .expect("goals are not empty");
            return Err(SolveError::Missing(Box::new(u.explain(best, &goal.origin))));
        }
    }
    let reached = u.reqs.iter().filter(|r| r.is_some()).count();
    tracing::debug!(reached, goals = goals.len(), "depsolve: solving");

    let provider = RpmProvider::new(u, goals);
    let requirements = provider.root.clone();
    let mut solver = Solver::new(provider);
    let problem = Problem::new().requirements(requirements);
    match solver.solve(problem) {
        Ok(ids) => Ok(ids.into_iter().map(|s| s.to_index() as u32).collect()),
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => Err(SolveError::Conflict {
            explanation: conflict.display_user_friendly(&solver).to_string(),
        }),
        Err(UnsolvableOrCancelled::Cancelled(_)) => Err(SolveError::Conflict {
            explanation: "the solver was cancelled".into(),
        }),
    }
}

struct VersionSetData {
    name: u32,
    /// Candidate ids, ascending.
    members: Vec<u32>,
    label: String,
}

/// resolvo's view of the universe: everything precomputed, so the solver
/// never waits on us and the result does not depend on query order.
struct RpmProvider<'u, 'p> {
    u: &'u Universe<'p>,
    vsets: Vec<VersionSetData>,
    unions: Vec<Vec<VersionSetId>>,
    deps: Vec<Option<KnownDependencies>>,
    root: Vec<ConditionalRequirement>,
}

#[derive(Default)]
struct Interning {
    vsets: Vec<VersionSetData>,
    vset_ids: HashMap<(u32, Vec<u32>), VersionSetId>,
    unions: Vec<Vec<VersionSetId>>,
    union_ids: HashMap<Vec<VersionSetId>, VersionSetUnionId>,
    reqs: HashMap<Vec<u32>, Requirement>,
}

impl Interning {
    fn vset(
        &mut self,
        name: u32,
        members: Vec<u32>,
        label: impl FnOnce() -> String,
    ) -> VersionSetId {
        let key = (name, members);
        if let Some(id) = self.vset_ids.get(&key) {
            return *id;
        }
        let id = VersionSetId::from_index(self.vsets.len());
        self.vsets.push(VersionSetData {
            name,
            members: key.1.clone(),
            label: label(),
        });
        self.vset_ids.insert(key, id);
        id
    }

    /// The requirement "one of `providers`", in preference order across
    /// names. `capability` is the name the dependency asks for.
    fn requirement(
        &mut self,
        u: &Universe<'_>,
        providers: &[u32],
        capability: &str,
        label: &str,
    ) -> Requirement {
        if let Some(r) = self.reqs.get(providers) {
            return *r;
        }
        let mut by_name: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &c in providers {
            by_name.entry(u.name_of[c as usize]).or_default().push(c);
        }
        let mut order: Vec<(u32, Vec<u32>)> = by_name.into_iter().collect();
        order.sort_by(|(a, ma), (b, mb)| {
            let (pa, pb) = (u.pkg(ma[0]), u.pkg(mb[0]));
            let key = |p: &Package| (p.name != capability, arch_color(&p.arch, u.opts));
            key(pa)
                .cmp(&key(pb))
                .then_with(|| pa.name.cmp(&pb.name))
                .then(a.cmp(b))
        });
        let ids: Vec<VersionSetId> = order
            .into_iter()
            .map(|(n, m)| self.vset(n, m, || label.to_string()))
            .collect();
        let r = if ids.len() == 1 {
            Requirement::Single(ids[0])
        } else if let Some(id) = self.union_ids.get(&ids) {
            Requirement::Union(*id)
        } else {
            let id = VersionSetUnionId::from_index(self.unions.len());
            self.unions.push(ids.clone());
            self.union_ids.insert(ids, id);
            Requirement::Union(id)
        };
        self.reqs.insert(providers.to_vec(), r);
        r
    }
}

impl<'u, 'p> RpmProvider<'u, 'p> {
    fn new(u: &'u Universe<'p>, goals: &[Goal]) -> Self {
        let mut it = Interning::default();
        let live = |c: &u32| u.is_live(*c);
        let mut root = Vec::new();
        for g in goals {
            let providers: Vec<u32> = g.providers.iter().copied().filter(live).collect();
            let cap = u.pkg(providers[0]).name.clone();
            let label = format!("(requested: {})", g.origin);
            root.push(it.requirement(u, &providers, &cap, &label).into());
        }
        let mut deps_out: Vec<Option<KnownDependencies>> =
            (0..u.cands.len()).map(|_| None).collect();
        for c in 0..u.cands.len() as u32 {
            if !u.is_live(c) {
                continue;
            }
            let pkg = u.pkg(c);
            let mut kd = KnownDependencies::default();
            for r in u.reqs[c as usize].as_ref().expect("live means reached") {
                let providers: Vec<u32> = r.providers.iter().copied().filter(live).collect();
                let label = format!("(provides {})", r.dep);
                kd.requirements
                    .push(it.requirement(u, &providers, &r.dep.name, &label).into());
            }
            // Conflicts: packages providing the capability, except itself.
            for dep in &pkg.conflicts {
                if deps::is_rich(dep) {
                    tracing::warn!(package = %pkg.nevra(), conflict = %dep, "depsolve: rich conflict ignored");
                    continue;
                }
                let hit: Vec<u32> = u
                    .index
                    .providers(dep)
                    .into_iter()
                    .filter(|&q| q != c && u.is_live(q))
                    .collect();
                constrain(u, &mut it, &mut kd, c, &hit, || {
                    format!("(outside `Conflicts: {dep}` of {})", pkg.nevra())
                });
            }
            // Obsoletes: packages of that name whose EVR matches.
            for dep in &pkg.obsoletes {
                let hit: Vec<u32> = u
                    .by_pkgname
                    .get(dep.name.as_str())
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&q| q != c && u.is_live(q) && deps::obsoletes(dep, u.pkg(q)))
                    .collect();
                constrain(u, &mut it, &mut kd, c, &hit, || {
                    format!("(outside `Obsoletes: {dep}` of {})", pkg.nevra())
                });
            }
            deps_out[c as usize] = Some(kd);
        }
        RpmProvider {
            u,
            vsets: it.vsets,
            unions: it.unions,
            deps: deps_out,
            root,
        }
    }
}

/// Adds "if `c` is installed, none of `hit`" as one constraint per name:
/// the allowed set is the name's live members outside `hit`.
fn constrain(
    u: &Universe<'_>,
    it: &mut Interning,
    kd: &mut KnownDependencies,
    c: u32,
    hit: &[u32],
    label: impl Fn() -> String,
) {
    let names: std::collections::BTreeSet<u32> =
        hit.iter().map(|&q| u.name_of[q as usize]).collect();
    for n in names {
        let mut allowed: Vec<u32> = u.members[n as usize]
            .iter()
            .copied()
            .filter(|q| (u.is_live(*q) && !hit.contains(q)) || *q == c)
            .collect();
        allowed.sort_unstable();
        let id = it.vset(n, allowed, &label);
        if !kd.constrains.contains(&id) {
            kd.constrains.push(id);
        }
    }
}

impl Interner for RpmProvider<'_, '_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl fmt::Display + '_ {
        self.u.pkg(solvable.to_index() as u32).nevra()
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl fmt::Display + '_ {
        // Our solvables print as full NEVRAs, which already name the package.
        let mut shown: Vec<String> = solvables
            .iter()
            .map(|s| self.u.pkg(s.to_index() as u32).nevra())
            .collect();
        shown.sort();
        shown.dedup();
        shown.join(" | ")
    }

    fn display_name(&self, name: NameId) -> impl fmt::Display + '_ {
        self.u.names[name.to_index()].as_str()
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl fmt::Display + '_ {
        self.vsets[version_set.to_index()].label.as_str()
    }

    fn display_string(&self, string_id: StringId) -> impl fmt::Display + '_ {
        // No strings are interned: nothing is excluded through resolvo.
        let _ = string_id;
        ""
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        NameId::from_index(self.vsets[version_set.to_index()].name as usize)
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        NameId::from_index(self.u.name_of[solvable.to_index()] as usize)
    }

    fn version_sets_in_union(
        &self,
        version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        self.unions[version_set_union.to_index()].iter().copied()
    }

    fn resolve_condition(&self, _condition: ConditionId) -> Condition {
        unreachable!("depsolve builds no conditional requirements")
    }
}

impl DependencyProvider for RpmProvider<'_, '_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let members = &self.vsets[version_set.to_index()].members;
        candidates
            .iter()
            .copied()
            .filter(|s| members.binary_search(&(s.to_index() as u32)).is_ok() != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        let candidates: Vec<SolvableId> = self.u.members[name.to_index()]
            .iter()
            .filter(|&&c| self.u.is_live(c))
            .map(|&c| SolvableId::from_index(c as usize))
            .collect();
        Some(Candidates {
            candidates,
            hint_dependencies_available: HintDependenciesAvailable::All,
            ..Candidates::default()
        })
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        solvables.sort_by(|a, b| {
            let (a, b) = (a.to_index(), b.to_index());
            self.u.rank[a].cmp(&self.u.rank[b]).then(a.cmp(&b))
        });
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        match &self.deps[solvable.to_index()] {
            Some(kd) => Dependencies::Known(kd.clone()),
            // Not reachable or not installable: never a candidate anyway.
            None => Dependencies::Known(KnownDependencies::default()),
        }
    }
}
