//! Each container against the image it names: the reference must be
//! among the node image's baked archives (or the bundle's registry;
//! issue 16, item 9), its exec probes' commands must be in that image
//! (item 6: `exec: "etcdctl": executable file not found in $PATH`), and
//! no environment variable may set what a flag sets (item 5: etcd exits
//! with `conflicting environment variable "ETCD_DATA_DIR" is shadowed by
//! corresponding command-line flag`).

use crate::inventory::{ImageFacts, Inventory, IMAGES_DIR};
use crate::pods::{Container, Kind, Pod, Word};
use crate::problem::{Check, Reporter};
use crate::reference;
use crate::tree::{self, Resolved};

/// runc's PATH when neither the image nor the container sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Components that read flags from the environment too, and how a flag
/// becomes a variable name. etcd: `--data-dir` is `ETCD_DATA_DIR`
/// (go.etcd.io/etcd/pkg/flags: prefix `ETCD_`, upper case, `-` as `_`);
/// with both set it refuses to start. The Kubernetes components read no
/// flag from the environment.
pub const ENV_FLAG_PREFIXES: &[(&str, &str)] = &[("etcd", "ETCD_")];

/// The variable `component` reads for `--flag`, if it reads one.
pub fn env_for_flag(component: &str, flag: &str) -> Option<String> {
    let (_, prefix) = ENV_FLAG_PREFIXES.iter().find(|(c, _)| *c == component)?;
    Some(format!(
        "{prefix}{}",
        flag.to_ascii_uppercase().replace('-', "_")
    ))
}

/// Checks one pod's containers.
pub(crate) fn check(pod: &Pod, inv: &Inventory, r: &mut Reporter) {
    for c in pod.containers() {
        let Some(image) = c.image() else { continue };
        let facts = inv.image(image);
        let checked = inv.images.is_some() || !inv.registry.is_empty();
        if facts.is_none() && checked && !inv.registry.contains(&reference::normalize(image)) {
            r.push(
                Check::Image,
                format!("{}.image", c.field()),
                image,
                not_baked(inv),
                format!(
                    "an archive in {IMAGES_DIR} naming {image} (io.containerd.image.name), \
                     or the bundle's registry serving it"
                ),
            );
        }
        env_collisions(&c, facts, r);
        if let Some(facts) = facts {
            probes(&c, facts, r);
        }
    }
}

fn not_baked(inv: &Inventory) -> String {
    let images = inv.images.as_deref().unwrap_or_default();
    if images.is_empty() {
        return "not among the image's baked archives (it bakes none)".into();
    }
    let names: Vec<String> = images
        .iter()
        .map(|i| format!("{} ({})", i.names.join(", "), i.archive))
        .collect();
    format!(
        "not among the image's baked archives, which hold: {}",
        names.join("; ")
    )
}

fn env_collisions(c: &Container, facts: Option<&ImageFacts>, r: &mut Reporter) {
    let argv = c.argv();
    let program = argv
        .first()
        .map(|w| w.text.to_string())
        .or_else(|| facts.and_then(|f| f.entrypoint.first().cloned()));
    let Some(program) = program else { return };
    let component = program.rsplit('/').next().unwrap_or(&program);
    let container_env = c.env();
    for w in argv.iter().skip(1) {
        let Some(flag) = w.text.strip_prefix("--") else {
            continue;
        };
        let flag = flag.split_once('=').map_or(flag, |(f, _)| f);
        let Some(var) = env_for_flag(component, flag) else {
            continue;
        };
        let shadowed = |origin: String| {
            format!(
                "{origin} also sets {var}, which {component} reads for --{flag}: it exits with \
                 `conflicting environment variable \"{var}\" is shadowed by corresponding \
                 command-line flag`"
            )
        };
        if let Some(f) = facts {
            if f.env_var(&var).is_some() {
                r.push(
                    Check::Env,
                    w.field.clone(),
                    w.text,
                    shadowed(format!("image {} (config Env)", f.names.join(", "))),
                    format!("flags only: no {var} in the image's environment"),
                );
            }
        }
        if container_env.iter().any(|(n, _)| *n == var) {
            r.push(
                Check::Env,
                w.field.clone(),
                w.text,
                shadowed(format!("container `{}` (env)", c.name())),
                format!("flags only: no {var} in the container's env"),
            );
        }
    }
}

fn probes(c: &Container, facts: &ImageFacts, r: &mut Reporter) {
    let Some(files) = &facts.files else { return };
    let path_var = c
        .env()
        .iter()
        .find(|(n, _)| *n == "PATH")
        .map(|(_, v)| v.to_string())
        .or_else(|| facts.env_var("PATH").map(str::to_string))
        .unwrap_or_else(|| DEFAULT_PATH.to_string());
    for (field, words) in c.exec_probes() {
        let Some(Word {
            field: f0,
            text: argv0,
        }) = words.first()
        else {
            r.push(
                Check::Probe,
                field,
                "",
                "an empty command",
                "a command the image carries",
            );
            continue;
        };
        let candidates: Vec<String> = if argv0.contains('/') {
            let base = facts.working_dir.as_deref().unwrap_or("/");
            vec![if argv0.starts_with('/') {
                argv0.to_string()
            } else {
                format!("{}/{argv0}", base.trim_end_matches('/'))
            }]
        } else {
            path_var
                .split(':')
                .filter(|d| d.starts_with('/'))
                .map(|d| format!("{}/{argv0}", d.trim_end_matches('/')))
                .collect()
        };
        // As execvp: the first executable regular file wins.
        let mut seen = Vec::new();
        let mut found = false;
        for cand in &candidates {
            match tree::resolve(files, cand) {
                Resolved::Found {
                    kind: Kind::File { mode },
                    ..
                } if mode & 0o111 != 0 => {
                    found = true;
                    break;
                }
                Resolved::Found { kind, path } => seen.push(format!(
                    "{cand} is {}",
                    match kind {
                        Kind::File { .. } => format!("not executable ({path})"),
                        k => k.describe().to_string(),
                    }
                )),
                Resolved::Missing { .. } | Resolved::Broken { .. } => {}
            }
        }
        if found {
            continue;
        }
        let mut what = format!(
            "not found in image {} ({})",
            facts.names.join(", "),
            if argv0.contains('/') {
                "looked up as given".to_string()
            } else {
                format!("PATH={path_var}")
            }
        );
        if !seen.is_empty() {
            what.push_str(&format!("; {}", seen.join(", ")));
        }
        r.push(
            Check::Probe,
            f0.clone(),
            *argv0,
            what,
            "an executable file in the image: add the package that ships it to the image recipe",
        );
    }
}
