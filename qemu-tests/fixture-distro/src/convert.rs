//! One .deb -> one RPM description (mk-rpmpack), given the whole set (to
//! pick alternatives and check versioned relationships with rpm's rules)
//! and the set-wide directory attributes. Pure: no I/O.

use crate::control::{DebOp, Relation, Stanza};
use crate::deb::{Deb, EntryKind};
use crate::resolve::relations_of;
use crate::scripts::curated;
use crate::usrmerge;
use crate::version::{map_constraint_version, map_version, RpmVersion};
use mk_rpmpack::{Dep, DepKind, FileSpec, Op, Package, Script};
use mk_rpmrepo::Evr;
use std::collections::{BTreeMap, BTreeSet};

/// The selected set: versions and what each name provides.
#[derive(Debug, Default)]
pub struct SetIndex {
    pub versions: BTreeMap<String, RpmVersion>,
    /// Provided name -> (provider, mapped version of the provide if any).
    pub provides: BTreeMap<String, Vec<(String, Option<String>)>>,
}

impl SetIndex {
    pub fn new(stanzas: &BTreeMap<String, Stanza>) -> Result<SetIndex, String> {
        let mut ix = SetIndex::default();
        for (name, st) in stanzas {
            let v = map_version(st.field("Version")).map_err(|e| format!("package {name}: {e}"))?;
            ix.versions.insert(name.clone(), v);
            for r in relations_of(st, "Provides")?.into_iter().flatten() {
                let ver = match &r.constraint {
                    Some((_, v)) => Some(
                        map_constraint_version(v)
                            .map_err(|e| format!("package {name}: Provides {}: {e}", r.name))?,
                    ),
                    None => None,
                };
                ix.provides
                    .entry(r.name)
                    .or_default()
                    .push((name.clone(), ver));
            }
        }
        Ok(ix)
    }

    /// Whether `name` is in the set, as a package or a provide.
    fn has(&self, name: &str) -> bool {
        self.versions.contains_key(name) || self.provides.contains_key(name)
    }

    /// Whether some package of the set satisfies `r` with rpm's rules.
    fn satisfies(&self, r: &Relation) -> bool {
        let Some((op, v)) = &r.constraint else {
            return self.has(&r.name);
        };
        let Ok(want) = map_constraint_version(v) else {
            return false;
        };
        let want = Evr::parse(&want);
        let ok = |have: &str| {
            let o = Evr::parse(have).rpm_cmp(&want);
            use std::cmp::Ordering::*;
            match op {
                DebOp::Lt => o == Less,
                DebOp::Le => o != Greater,
                DebOp::Eq => o == Equal,
                DebOp::Ge => o != Less,
                DebOp::Gt => o == Greater,
            }
        };
        if let Some(v) = self.versions.get(&r.name) {
            if ok(&v.evr()) {
                return true;
            }
        }
        self.provides
            .get(&r.name)
            .is_some_and(|ps| ps.iter().any(|(_, pv)| pv.as_deref().is_some_and(ok)))
    }
}

/// Set-wide attributes of directories shared by several packages: rpm -V
/// would report the losers' mode or owner as changed.
#[derive(Debug, Default, Clone)]
pub struct DirAttrs(pub BTreeMap<String, (u16, String, String)>);

fn op(o: DebOp) -> Op {
    match o {
        DebOp::Lt => Op::Lt,
        DebOp::Le => Op::Le,
        DebOp::Eq => Op::Eq,
        DebOp::Ge => Op::Ge,
        DebOp::Gt => Op::Gt,
    }
}

fn dep_of(r: &Relation) -> Result<Dep, String> {
    Ok(match &r.constraint {
        Some((o, v)) => Dep::new(&r.name, op(*o), &map_constraint_version(v)?),
        None => Dep::any(&r.name),
    })
}

/// What a conversion produced besides the package.
#[derive(Debug, Default)]
pub struct Notes {
    pub dropped_versions: Vec<String>,
}

pub fn arch_of(deb_arch: &str) -> Result<&'static str, String> {
    match deb_arch {
        "amd64" => Ok("x86_64"),
        "all" => Ok("noarch"),
        a => Err(format!("architecture {a:?} (expected amd64 or all)")),
    }
}

/// Converts `deb` into a package description.
pub fn convert(
    deb: &Deb,
    set: &SetIndex,
    dirs: &DirAttrs,
    build_time: u32,
) -> Result<(Package, Notes), String> {
    let st = &deb.control;
    let name = st.field("Package");
    let ctx = |e: String| format!("{}: package {name}: {e}", deb.path.display());
    let v = map_version(st.field("Version")).map_err(ctx)?;
    let arch = arch_of(st.field("Architecture")).map_err(ctx)?;
    let mut p = Package::new(name, &v.version, &v.release);
    let mut notes = Notes::default();
    if let Some(e) = v.epoch {
        p.epoch(e);
    }
    let desc = st.field("Description");
    let (summary, long) = desc.split_once('\n').unwrap_or((desc, ""));
    let summary = if summary.trim().is_empty() {
        name
    } else {
        summary.trim()
    };
    p.arch(arch)
        .summary(summary)
        .description(&format!(
            "{}\n\nRepackaged from Debian {name} {} by mk-fixture-distro.",
            long.lines()
                .map(|l| if l.trim() == "." { "" } else { l })
                .collect::<Vec<_>>()
                .join("\n"),
            st.field("Version")
        ))
        .license(&format!("see /usr/share/doc/{name}/copyright"))
        .vendor("Debian (repackaged by mk-fixture-distro)")
        .build_host("mk-fixture-distro.invalid")
        .build_time(build_time);
    if let Some(h) = st.get("Homepage") {
        p.url(h);
    }
    if let Some(m) = st.get("Maintainer") {
        p.packager(m);
    }

    // Relationships.
    for (field, kind) in [
        ("Pre-Depends", DepKind::RequiresPre),
        ("Depends", DepKind::Requires),
    ] {
        for group in relations_of(st, field).map_err(ctx)? {
            // The alternative the closure chose: the first one in the set.
            let chosen = group
                .iter()
                .find(|r| set.has(&r.name))
                .ok_or_else(|| ctx(format!("{field}: nothing in the set provides {group:?}")))?;
            let mut r = chosen.clone();
            if r.constraint.is_some() && !set.satisfies(&r) {
                notes.dropped_versions.push(format!(
                    "{name}: {field} {} {:?}: rpm's version order disagrees; version dropped",
                    r.name, r.constraint
                ));
                r.constraint = None;
            }
            p.dep(kind, dep_of(&r).map_err(ctx)?);
        }
    }
    for r in relations_of(st, "Provides")
        .map_err(ctx)?
        .into_iter()
        .flatten()
    {
        p.provides(dep_of(&r).map_err(ctx)?);
    }
    // Conflicts/Breaks against packages of the set are what Debian
    // resolves with Replaces or upgrades; within one consistent set they
    // are satisfied (or self-references), so only the rest is kept.
    for field in ["Conflicts", "Breaks"] {
        for r in relations_of(st, field).map_err(ctx)?.into_iter().flatten() {
            if r.name == name || set.satisfies(&r) || set.has(&r.name) {
                continue;
            }
            p.conflicts(dep_of(&r).map_err(ctx)?);
        }
    }
    if name != "filesystem" {
        // Lays out the merged-usr symlinks before anything lands below them.
        p.requires_pre(Dep::any("filesystem"));
    }

    // Files. Curated additions first: some replace a payload entry.
    let payload: Vec<String> = deb
        .entries
        .iter()
        .filter(|e| !usrmerge::is_merged_top(&e.path))
        .map(|e| usrmerge::canonical(&e.path))
        .collect();
    let cur = curated(
        name,
        &payload.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for r in &cur.replaces {
        if !payload.contains(&r.path) {
            return Err(ctx(format!(
                "curated replacement {} is not in the payload",
                r.path
            )));
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut file_bytes: BTreeMap<String, &[u8]> = BTreeMap::new();
    for e in &deb.entries {
        if let EntryKind::File(b) = &e.kind {
            file_bytes.insert(e.path.clone(), b);
        }
    }
    let mut old_bin_paths = BTreeSet::new();
    for e in &deb.entries {
        if usrmerge::is_merged_top(&e.path) {
            continue;
        }
        let path = usrmerge::canonical(&e.path);
        if cur.replaces.iter().any(|r| r.path == path) {
            continue;
        }
        if path != e.path
            && (e.path.starts_with("/bin/") || e.path.starts_with("/sbin/"))
            && !matches!(e.kind, EntryKind::Dir)
        {
            old_bin_paths.insert(e.path.clone());
        }
        if let Some(first) = seen.get(&path) {
            if matches!(e.kind, EntryKind::Dir) {
                continue;
            }
            return Err(ctx(format!(
                "members {first:?} and {:?} are the same file on a merged-usr system",
                e.path
            )));
        }
        seen.insert(path.clone(), e.path.clone());
        let spec = match &e.kind {
            EntryKind::File(b) => FileSpec::bytes(&path, b.clone()),
            EntryKind::HardLink(t) => {
                let b = file_bytes.get(t).ok_or_else(|| {
                    ctx(format!(
                        "member {:?}: hard link to {t:?}, not a file of the package",
                        e.path
                    ))
                })?;
                FileSpec::bytes(&path, b.to_vec())
            }
            EntryKind::Dir => FileSpec::dir(&path),
            EntryKind::Symlink(t) => {
                FileSpec::symlink(&path, &usrmerge::relocated_target(&e.path, &path, t))
            }
        };
        let mut spec = spec.mode(e.mode).owner(&e.user, &e.group);
        if matches!(e.kind, EntryKind::Dir) {
            if let Some((m, u, g)) = dirs.0.get(&path) {
                spec = spec.mode(*m).owner(u, g);
            }
        }
        if deb.conffiles.contains(&e.path) {
            spec = spec.noreplace();
        }
        p.add(spec);
    }
    // Packages and scripts name programs by their old paths (/bin/sh).
    for old in old_bin_paths {
        p.provides(Dep::any(&old));
    }

    for f in cur.replaces {
        p.add(f);
    }
    for f in cur.files {
        if seen.contains_key(&f.path) {
            return Err(ctx(format!(
                "curated entry {} is already in the payload",
                f.path
            )));
        }
        p.add(f);
    }
    for (kind, body) in cur.scripts {
        p.script(kind, Script::shell(&body));
    }
    for r in cur.requires_post {
        p.requires_post(Dep::any(r));
    }
    for r in cur.requires_pre {
        p.requires_pre(Dep::any(r));
    }
    Ok((p, notes))
}

/// The synthetic `filesystem` package: merged-usr symlinks and the
/// top-level directories, as CentOS's `filesystem` lays them out.
pub fn filesystem_package(build_time: u32, dirs: &DirAttrs) -> Package {
    let mut p = Package::new("filesystem", "1", "0.mk");
    p.arch("noarch")
        .summary("The merged-usr root layout (mk-fixture-distro)")
        .license("Apache-2.0")
        .build_host("mk-fixture-distro.invalid")
        .build_time(build_time);
    for (top, usr) in usrmerge::MERGED {
        if matches!(*top, "/lib32" | "/libx32") {
            continue;
        }
        p.symlink(top, usr);
    }
    for (d, mode) in FILESYSTEM_DIRS {
        let spec = FileSpec::dir(d).mode(*mode);
        let spec = match dirs.0.get(*d) {
            Some((m, u, g)) => spec.mode(*m).owner(u, g),
            None => spec,
        };
        p.add(spec);
    }
    p
}

pub const FILESYSTEM_DIRS: &[(&str, u16)] = &[
    ("/boot", 0o755),
    ("/dev", 0o755),
    ("/etc", 0o755),
    ("/home", 0o755),
    ("/media", 0o755),
    ("/mnt", 0o755),
    ("/opt", 0o755),
    ("/proc", 0o555),
    ("/root", 0o700),
    ("/run", 0o755),
    ("/srv", 0o755),
    ("/sys", 0o555),
    ("/tmp", 0o1777),
    ("/usr", 0o755),
    ("/usr/bin", 0o755),
    ("/usr/lib", 0o755),
    ("/usr/lib64", 0o755),
    ("/usr/sbin", 0o755),
    ("/usr/share", 0o755),
    ("/var", 0o755),
    ("/var/lib", 0o755),
    ("/var/log", 0o755),
    ("/var/tmp", 0o1777),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::parse_stanzas;
    use crate::deb::Entry;
    use mk_rpmpack::{Content, FileKind};

    fn entry(path: &str, kind: EntryKind) -> Entry {
        Entry {
            path: path.into(),
            mode: if matches!(kind, EntryKind::Dir) {
                0o755
            } else {
                0o644
            },
            kind,
            user: "root".into(),
            group: "root".into(),
        }
    }

    /// Converts a crafted .deb of `package` holding `entries`.
    fn convert_one(package: &str, entries: Vec<Entry>) -> Package {
        let st = parse_stanzas(&format!(
            "Package: {package}\nVersion: 1.0-1\nArchitecture: all\nDescription: test\n"
        ))
        .unwrap()
        .remove(0);
        let stanzas = BTreeMap::from([(package.to_string(), st.clone())]);
        let set = SetIndex::new(&stanzas).unwrap();
        let deb = Deb {
            path: format!("{package}.deb").into(),
            control: st,
            conffiles: Default::default(),
            scripts: Default::default(),
            entries,
        };
        convert(&deb, &set, &DirAttrs::default(), 0).unwrap().0
    }

    fn file<'a>(p: &'a Package, path: &str) -> Option<&'a FileSpec> {
        p.files().iter().find(|f| f.path == path)
    }

    #[test]
    fn base_files_ships_var_run_as_a_link_to_run_and_etc_hosts() {
        let p = convert_one(
            "base-files",
            vec![
                entry("/run", EntryKind::Dir),
                entry("/var", EntryKind::Dir),
                entry("/var/run", EntryKind::Dir),
                entry("/etc/issue", EntryKind::File(b"Debian\n".to_vec())),
            ],
        );
        // As CentOS's filesystem package ships it.
        let run = file(&p, "/var/run").expect("/var/run");
        assert_eq!(
            run.kind,
            FileKind::Symlink {
                target: "../run".into()
            }
        );
        assert_eq!(
            p.files().iter().filter(|f| f.path == "/var/run").count(),
            1,
            "the directory is gone"
        );
        assert!(matches!(file(&p, "/run").unwrap().kind, FileKind::Dir));
        // As CentOS's setup package ships it.
        let hosts = file(&p, "/etc/hosts").expect("/etc/hosts");
        assert_eq!(
            hosts.kind,
            FileKind::Regular(Content::Bytes(crate::scripts::ETC_HOSTS.into()))
        );
        assert!(hosts.noreplace && hosts.mode == 0o644);
        assert!(crate::scripts::ETC_HOSTS.starts_with("127.0.0.1   localhost "));
    }

    #[test]
    fn a_replacement_must_replace_something() {
        let st =
            parse_stanzas("Package: base-files\nVersion: 1\nArchitecture: all\nDescription: t\n")
                .unwrap()
                .remove(0);
        let stanzas = BTreeMap::from([("base-files".to_string(), st.clone())]);
        let deb = Deb {
            path: "base-files.deb".into(),
            control: st,
            conffiles: Default::default(),
            scripts: Default::default(),
            entries: vec![entry("/run", EntryKind::Dir)],
        };
        let e = convert(
            &deb,
            &SetIndex::new(&stanzas).unwrap(),
            &DirAttrs::default(),
            0,
        )
        .unwrap_err();
        assert!(e.contains("/var/run is not in the payload"), "{e}");
    }

    #[test]
    fn ca_certificates_trusts_every_certificate_it_ships() {
        let p = convert_one(
            "ca-certificates",
            vec![
                entry("/etc/ssl/certs", EntryKind::Dir),
                entry(
                    "/usr/share/ca-certificates/mozilla/B_Root.crt",
                    EntryKind::File(b"b".to_vec()),
                ),
                entry(
                    "/usr/share/ca-certificates/mozilla/A Root (2).crt",
                    EntryKind::File(b"a".to_vec()),
                ),
                entry(
                    "/usr/share/ca-certificates/README",
                    EntryKind::File(b"r".to_vec()),
                ),
            ],
        );
        let conf = file(&p, "/etc/ca-certificates.conf").expect("conf");
        let FileKind::Regular(Content::Bytes(b)) = &conf.kind else {
            panic!("{conf:?}")
        };
        let text = String::from_utf8(b.clone()).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines, ["mozilla/A Root (2).crt", "mozilla/B_Root.crt"]);
        assert!(conf.noreplace);
        assert_eq!(
            file(&p, "/etc/ssl/certs/ca-certificates.crt").unwrap().kind,
            FileKind::Ghost
        );
    }
}
