//! The dependency closure of the pinned list (Depends + Pre-Depends, no
//! Recommends), over an abstract archive so that the choice rules are
//! tested without apt. Deterministic: packages are processed in name
//! order, and for `a | b` the first alternative already in the set wins,
//! else the first that exists; a virtual package goes to a provider already
//! in the set, else the provider with the highest Priority, then by name.

use crate::control::{parse_relations, Relation, Stanza};
use std::collections::{BTreeMap, BTreeSet};

/// What the closure needs from the archive (apt on the machine).
pub trait Archive {
    /// Candidate stanzas of the given names; names that are not real
    /// packages are absent from the result.
    fn show(&mut self, names: &[String]) -> Result<Vec<Stanza>, String>;
    /// Real packages whose candidate provides `name`.
    fn providers(&mut self, name: &str) -> Result<Vec<String>, String>;
}

#[derive(Debug, Clone, Default)]
pub struct Closure {
    /// Every selected package's candidate stanza, by name.
    pub packages: BTreeMap<String, Stanza>,
    /// Human-readable notes on choices made (alternatives, virtuals).
    pub choices: Vec<String>,
}

fn priority_rank(p: &str) -> u8 {
    match p {
        "required" => 0,
        "important" => 1,
        "standard" => 2,
        "optional" => 3,
        _ => 4,
    }
}

pub fn relations_of(st: &Stanza, field: &str) -> Result<Vec<Vec<Relation>>, String> {
    parse_relations(st.field(field))
        .map_err(|e| format!("package {}: {field}: {e}", st.field("Package")))
}

/// Names a stanza provides (its own name not included).
pub fn provided_names(st: &Stanza) -> Result<Vec<String>, String> {
    Ok(relations_of(st, "Provides")?
        .into_iter()
        .flatten()
        .map(|r| r.name)
        .collect())
}

struct Lookup<'a, A: Archive> {
    archive: &'a mut A,
    real: BTreeMap<String, Option<Stanza>>,
    providers: BTreeMap<String, Vec<String>>,
}

impl<A: Archive> Lookup<'_, A> {
    fn prefetch(&mut self, names: impl IntoIterator<Item = String>) -> Result<(), String> {
        let want: Vec<String> = names
            .into_iter()
            .filter(|n| !self.real.contains_key(n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if want.is_empty() {
            return Ok(());
        }
        let got = self.archive.show(&want)?;
        for n in &want {
            self.real.insert(n.clone(), None);
        }
        for st in got {
            let name = st.field("Package").to_owned();
            self.real.insert(name, Some(st));
        }
        Ok(())
    }

    fn stanza(&mut self, name: &str) -> Result<Option<Stanza>, String> {
        self.prefetch([name.to_owned()])?;
        Ok(self.real.get(name).cloned().flatten())
    }

    fn providers(&mut self, name: &str) -> Result<Vec<String>, String> {
        if let Some(p) = self.providers.get(name) {
            return Ok(p.clone());
        }
        let p = self.archive.providers(name)?;
        self.providers.insert(name.to_owned(), p.clone());
        Ok(p)
    }
}

/// Computes the closure of `roots` (all must be real packages).
pub fn closure(roots: &[String], archive: &mut impl Archive) -> Result<Closure, String> {
    let mut lk = Lookup {
        archive,
        real: BTreeMap::new(),
        providers: BTreeMap::new(),
    };
    let mut out = Closure::default();
    // Names provided by the selected set -> providers.
    let mut provided: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    lk.prefetch(roots.iter().cloned())?;
    let mut queue: BTreeSet<String> = BTreeSet::new();
    for r in roots {
        let st = lk.stanza(r)?.ok_or_else(|| {
            format!("{r}: not a package in the apt archive (a virtual name or a typo?)")
        })?;
        add(&mut out, &mut provided, &mut queue, st)?;
    }
    while let Some(name) = queue.pop_first() {
        let st = out.packages[&name].clone();
        let mut groups = relations_of(&st, "Pre-Depends")?;
        groups.extend(relations_of(&st, "Depends")?);
        lk.prefetch(groups.iter().flatten().map(|r| r.name.clone()))?;
        for group in groups {
            let satisfied = group
                .iter()
                .any(|r| out.packages.contains_key(&r.name) || provided.contains_key(&r.name));
            if satisfied {
                continue;
            }
            let mut chosen = None;
            for r in &group {
                if let Some(st) = lk.stanza(&r.name)? {
                    chosen = Some(st);
                    break;
                }
                let mut provs = lk.providers(&r.name)?;
                provs.sort();
                provs.dedup();
                if provs.is_empty() {
                    continue;
                }
                lk.prefetch(provs.iter().cloned())?;
                let mut best: Option<(u8, String, Stanza)> = None;
                for p in provs {
                    if let Some(st) = lk.stanza(&p)? {
                        let rank = priority_rank(st.field("Priority"));
                        if best
                            .as_ref()
                            .is_none_or(|(br, bn, _)| (rank, &p) < (*br, bn))
                        {
                            best = Some((rank, p, st));
                        }
                    }
                }
                if let Some((_, p, st)) = best {
                    out.choices
                        .push(format!("{name}: virtual {} -> {p}", r.name));
                    chosen = Some(st);
                    break;
                }
            }
            let st = chosen.ok_or_else(|| {
                format!(
                    "{name}: no installable package for `{}`",
                    group
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" | ")
                )
            })?;
            if group.len() > 1 {
                out.choices.push(format!(
                    "{name}: {} -> {}",
                    group
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" | "),
                    st.field("Package")
                ));
            }
            add(&mut out, &mut provided, &mut queue, st)?;
        }
    }
    Ok(out)
}

fn add(
    out: &mut Closure,
    provided: &mut BTreeMap<String, BTreeSet<String>>,
    queue: &mut BTreeSet<String>,
    st: Stanza,
) -> Result<(), String> {
    let name = st.field("Package").to_owned();
    if out.packages.contains_key(&name) {
        return Ok(());
    }
    for p in provided_names(&st)? {
        provided.entry(p).or_default().insert(name.clone());
    }
    queue.insert(name.clone());
    out.packages.insert(name, st);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::parse_stanzas;

    struct Fake(Vec<Stanza>);
    impl Archive for Fake {
        fn show(&mut self, names: &[String]) -> Result<Vec<Stanza>, String> {
            Ok(self
                .0
                .iter()
                .filter(|s| names.iter().any(|n| n == s.field("Package")))
                .cloned()
                .collect())
        }
        fn providers(&mut self, name: &str) -> Result<Vec<String>, String> {
            Ok(self
                .0
                .iter()
                .filter(|s| provided_names(s).unwrap().iter().any(|p| p == name))
                .map(|s| s.field("Package").to_owned())
                .collect())
        }
    }

    fn fake() -> Fake {
        Fake(
            parse_stanzas(
                "Package: app\nDepends: libc6 (>= 2), awk, initramfs-tools | linux-initramfs-tool, mail | postfix\nPre-Depends: base\n\n\
                 Package: libc6\n\n\
                 Package: base\n\n\
                 Package: gawk\nProvides: awk\nPriority: optional\n\n\
                 Package: mawk\nProvides: awk\nPriority: required\n\n\
                 Package: initramfs-tools\nDepends: heavy\n\n\
                 Package: heavy\n\n\
                 Package: dracut\nProvides: linux-initramfs-tool\n\n\
                 Package: postfix\n",
            )
            .unwrap(),
        )
    }

    #[test]
    fn alternatives_and_virtuals_are_chosen_deterministically() {
        // dracut listed: the alternative already in the set wins.
        let c = closure(&["app".into(), "dracut".into()], &mut fake()).unwrap();
        let names: Vec<&str> = c.packages.keys().map(String::as_str).collect();
        assert_eq!(names, ["app", "base", "dracut", "libc6", "mawk", "postfix"]);
        // Without it, the first alternative that exists.
        let c = closure(&["app".into()], &mut fake()).unwrap();
        assert!(c.packages.contains_key("initramfs-tools"));
        assert!(c.packages.contains_key("heavy"));
        assert!(
            c.choices.iter().any(|n| n.contains("virtual awk -> mawk")),
            "{:?}",
            c.choices
        );
    }

    #[test]
    fn unknown_root_and_unsatisfiable_are_errors() {
        let e = closure(&["nope".into()], &mut fake()).unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let mut f = fake();
        f.0.push(
            parse_stanzas("Package: broken\nDepends: ghost | phantom\n")
                .unwrap()
                .remove(0),
        );
        let e = closure(&["broken".into()], &mut f).unwrap_err();
        assert!(e.contains("broken") && e.contains("ghost | phantom"), "{e}");
    }
}
