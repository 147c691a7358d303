//! Install order: requirements before the packages that need them,
//! pre-requirements (`Requires(pre)`, `(post)` ...) strictly so, loops
//! broken the way rpm breaks them.
//!
//! How rpm orders a transaction (lib/order.c, `rpmtsOrder`): every
//! requirement resolved inside the transaction is a relation
//! "provider before requirer", flagged when it is a pre-requirement. Tarjan's
//! algorithm finds the strongly connected components (dependency loops).
//! Packages are then emitted from a queue of those with no pending
//! requirements, the ones most required by others first; a loop counts as
//! one node that becomes ready when everything it needs from outside is in.
//! Inside a loop, rpm measures for each member its distance, along requires
//! relations, from the members that pre-require another member, and starts
//! with the members farthest from them, so that the relations it has to
//! ignore are plain requirements and what pre-requirers need is already
//! there.
//!
//! We do the same, deterministically, with these refinements: members whose
//! requirements are all in go first; when none is free, we emit the member
//! with the fewest pending pre-requirements (none, unless the loop is made
//! of them), then the farthest from the members still waiting for a
//! pre-requirement (rpm's distance, but recomputed at each break: rpm's
//! one-off measure counts glibc as a pre-requirer for its already
//! satisfied `Requires(pre): basesystem` and lets bash, which everything
//! needs for `/bin/sh`, jump ahead of glibc, which real CentOS installs
//! never do), then the one ignoring the fewest relations, then the most
//! required by others, then the earliest in the input.

use crate::deps::{self, ProvideIndex};
use mk_rpmrepo::Package;
use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// Positions in `pkgs` in an order to install them.
pub fn install_order<P: Borrow<Package>>(pkgs: &[P]) -> Vec<usize> {
    let pkgs: Vec<&Package> = pkgs.iter().map(Borrow::borrow).collect();
    let graph = Graph::build(&pkgs);
    let order = graph.order();
    debug_assert_eq!(order.len(), pkgs.len());
    order
}

struct Graph {
    n: usize,
    /// `succ[q]`: packages that require `q` (q must come first), with the
    /// pre-requirement flag; sorted by position.
    succ: Vec<Vec<(usize, bool)>>,
    /// `pred[p]`: packages `p` requires.
    pred: Vec<Vec<(usize, bool)>>,
}

impl Graph {
    fn build(pkgs: &[&Package]) -> Graph {
        let n = pkgs.len();
        let ids: Vec<(u32, &Package)> = pkgs
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u32, *p))
            .collect();
        let files = deps::file_deps(pkgs.iter().flat_map(|p| p.requires.iter()));
        let index = ProvideIndex::build(&ids, &files);
        let mut edges: BTreeMap<(usize, usize), bool> = BTreeMap::new();
        for (p, pkg) in pkgs.iter().enumerate() {
            for dep in &pkg.requires {
                if dep.is_rpmlib() || deps::is_rich(dep) {
                    continue;
                }
                let providers = index.providers(dep);
                if providers.contains(&(p as u32)) {
                    continue;
                }
                // Like rpm, one provider per requirement: the package named
                // like the capability, else the first one.
                let Some(&q) = providers
                    .iter()
                    .find(|&&q| pkgs[q as usize].name == dep.name)
                    .or(providers.first())
                else {
                    continue;
                };
                *edges.entry((q as usize, p)).or_insert(false) |= dep.pre;
            }
        }
        let mut succ = vec![Vec::new(); n];
        let mut pred = vec![Vec::new(); n];
        for (&(q, p), &pre) in &edges {
            succ[q].push((p, pre));
            pred[p].push((q, pre));
        }
        Graph { n, succ, pred }
    }

    /// Strongly connected components (Tarjan, iterative), as a component
    /// number per package.
    fn components(&self) -> (Vec<usize>, usize) {
        const UNSEEN: usize = usize::MAX;
        let n = self.n;
        let mut index = vec![UNSEEN; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut comp = vec![UNSEEN; n];
        let mut ncomp = 0;
        let mut next = 0;
        for root in 0..n {
            if index[root] != UNSEEN {
                continue;
            }
            // (node, next successor to look at)
            let mut work = vec![(root, 0usize)];
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (v, ref mut i)) = work.last_mut() {
                if let Some(&(w, _)) = self.succ[v].get(*i) {
                    *i += 1;
                    if index[w] == UNSEEN {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    loop {
                        let w = stack.pop().expect("tarjan stack");
                        on_stack[w] = false;
                        comp[w] = ncomp;
                        if w == v {
                            break;
                        }
                    }
                    ncomp += 1;
                }
            }
        }
        (comp, ncomp)
    }

    fn order(&self) -> Vec<usize> {
        let (comp, ncomp) = self.components();
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); ncomp];
        for (p, &c) in comp.iter().enumerate() {
            members[c].push(p);
        }
        // How many packages require each one: rpm's queue metric.
        let required_by: Vec<usize> = self.succ.iter().map(Vec::len).collect();
        // Pending requirements from outside the component.
        let mut pending = vec![0usize; ncomp];
        for p in 0..self.n {
            pending[comp[p]] += self.pred[p]
                .iter()
                .filter(|(q, _)| comp[*q] != comp[p])
                .count();
        }
        let key = |c: usize| {
            let m = &members[c];
            let most = m.iter().map(|&p| required_by[p]).max().unwrap_or(0);
            (most, Reverse(m[0]))
        };
        let mut ready: BinaryHeap<((usize, Reverse<usize>), usize)> = (0..ncomp)
            .filter(|&c| pending[c] == 0)
            .map(|c| (key(c), c))
            .collect();
        let mut out = Vec::with_capacity(self.n);
        while let Some((_, c)) = ready.pop() {
            let start = out.len();
            if members[c].len() == 1 {
                out.push(members[c][0]);
            } else {
                self.order_loop(&members[c], &comp, &required_by, &mut out);
            }
            for &q in &out[start..] {
                for &(p, _) in &self.succ[q] {
                    let cp = comp[p];
                    if cp != c {
                        pending[cp] -= 1;
                        if pending[cp] == 0 {
                            ready.push((key(cp), cp));
                        }
                    }
                }
            }
        }
        out
    }

    /// Orders the members of one dependency loop (see the module comment).
    fn order_loop(&self, m: &[usize], comp: &[usize], required_by: &[usize], out: &mut Vec<usize>) {
        let c = comp[m[0]];
        let inside = |p: usize| comp[p] == c;
        // Pending relations inside the loop, per member: (all, pre).
        let mut pending: BTreeMap<usize, (usize, usize)> = m
            .iter()
            .map(|&p| {
                let rel = self.pred[p].iter().filter(|(q, _)| inside(*q));
                let all = rel.clone().count();
                let pre = rel.filter(|(_, pre)| *pre).count();
                (p, (all, pre))
            })
            .collect();
        while !pending.is_empty() {
            let free = pending
                .iter()
                .filter(|(_, (all, _))| *all == 0)
                .map(|(p, _)| *p)
                .max_by_key(|p| (required_by[*p], Reverse(*p)));
            let next = match free {
                Some(p) => p,
                None => {
                    let dist = self.distances(&pending);
                    let pick = *pending
                        .iter()
                        .min_by_key(|(p, (all, pre))| {
                            (
                                *pre,
                                Reverse(dist[*p]),
                                *all,
                                Reverse(required_by[**p]),
                                **p,
                            )
                        })
                        .map(|(p, _)| p)
                        .expect("loop not empty");
                    tracing::debug!(
                        package = pick,
                        ignored = pending[&pick].0,
                        ignored_pre = pending[&pick].1,
                        "depsolve: breaking a dependency loop"
                    );
                    pick
                }
            };
            pending.remove(&next);
            out.push(next);
            for &(p, pre) in &self.succ[next] {
                if let Some(e) = pending.get_mut(&p) {
                    e.0 -= 1;
                    if pre {
                        e.1 -= 1;
                    }
                }
            }
        }
    }

    /// rpm's measure over the members still `pending`: the distance,
    /// following requires relations, from the members that still wait for
    /// a pre-requirement; `usize::MAX` for members no such path reaches.
    fn distances(&self, pending: &BTreeMap<usize, (usize, usize)>) -> BTreeMap<usize, usize> {
        let mut dist: BTreeMap<usize, usize> = pending.keys().map(|&p| (p, usize::MAX)).collect();
        let mut queue = std::collections::VecDeque::new();
        for (&p, &(_, pre)) in pending {
            if pre > 0 {
                dist.insert(p, 0);
                queue.push_back(p);
            }
        }
        while let Some(p) = queue.pop_front() {
            let d = dist[&p];
            for &(q, _) in &self.pred[p] {
                if let Some(dq) = dist.get_mut(&q) {
                    if *dq > d + 1 {
                        *dq = d + 1;
                        queue.push_back(q);
                    }
                }
            }
        }
        dist
    }
}
