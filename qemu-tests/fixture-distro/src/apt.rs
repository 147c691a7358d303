//! The machine's apt: candidate stanzas (`apt-cache show`), providers of
//! virtual names (`apt-cache showpkg`), and downloads (`apt-get download`).

use crate::control::{parse_stanzas, Stanza};
use crate::resolve::Archive;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// apt's candidate records, read once with `apt-cache dumpavail` (one
/// stanza per package: its candidate version). One call instead of one
/// `apt-cache show` per round keeps a warm build at seconds.
pub struct Apt {
    records: HashMap<String, String>,
    provides: HashMap<String, Vec<String>>,
}

fn run(cmd: &mut Command) -> Result<(bool, String, String), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("running {cmd:?}: {e} (is apt installed?)"))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

impl Apt {
    pub fn load() -> Result<Apt, String> {
        let (ok, stdout, stderr) = run(Command::new("apt-cache").arg("dumpavail"))?;
        if !ok {
            return Err(format!("apt-cache dumpavail: {stderr}"));
        }
        Ok(Apt::from_dump(&stdout))
    }

    /// Indexes a dumpavail text. Pure.
    pub fn from_dump(text: &str) -> Apt {
        let mut records = HashMap::new();
        let mut provides: HashMap<String, Vec<String>> = HashMap::new();
        for block in text.split("\n\n") {
            let mut name = None;
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("Package:") {
                    name = Some(n.trim().to_owned());
                } else if let Some(p) = line.strip_prefix("Provides:") {
                    if let Some(n) = &name {
                        for item in p.split(',') {
                            let pn = item.split(['(', ':']).next().unwrap_or("").trim();
                            if !pn.is_empty() {
                                provides.entry(pn.to_owned()).or_default().push(n.clone());
                            }
                        }
                    }
                }
            }
            if let Some(n) = name {
                records.insert(n, block.to_owned());
            }
        }
        Apt { records, provides }
    }
}

impl Archive for Apt {
    fn show(&mut self, names: &[String]) -> Result<Vec<Stanza>, String> {
        let mut out = Vec::new();
        for n in names {
            if let Some(text) = self.records.get(n) {
                let mut st = parse_stanzas(text).map_err(|e| format!("apt record of {n}: {e}"))?;
                if st.len() == 1 {
                    out.push(st.remove(0));
                }
            }
        }
        Ok(out)
    }

    fn providers(&mut self, name: &str) -> Result<Vec<String>, String> {
        Ok(self.provides.get(name).cloned().unwrap_or_default())
    }
}

/// The file name `apt-get download` gives a package (epoch colon escaped).
pub fn deb_file_name(name: &str, version: &str, arch: &str) -> String {
    format!("{name}_{}_{arch}.deb", version.replace(':', "%3a"))
}

/// Downloads `pkgs` (name, version, arch, expected SHA-256) into `dir`,
/// skipping files already there with the right digest. Returns the paths in
/// input order.
pub fn download(
    pkgs: &[(String, String, String, String)],
    dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut missing = Vec::new();
    for (name, version, arch, sha) in pkgs {
        let path = dir.join(deb_file_name(name, version, arch));
        let ok = path.exists()
            && mk_durable::sha256_file(&path).is_ok_and(|d| d.eq_ignore_ascii_case(sha));
        if !ok {
            missing.push(format!("{name}={version}"));
        }
    }
    if !missing.is_empty() {
        tracing::info!(packages = missing.len(), dir = %dir.display(), "apt-get download");
        for chunk in missing.chunks(100) {
            let (ok, _, stderr) = run(Command::new("apt-get")
                .current_dir(dir)
                .args(["download", "-q", "--"])
                .args(chunk))?;
            if !ok {
                return Err(format!(
                    "apt-get download failed (the mirror may have moved on: run `apt-get update` and build again):\n{stderr}"
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (name, version, arch, sha) in pkgs {
        let path = dir.join(deb_file_name(name, version, arch));
        let actual =
            mk_durable::sha256_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !actual.eq_ignore_ascii_case(sha) {
            return Err(format!(
                "{}: SHA-256 {actual}, but apt's index says {sha}",
                path.display()
            ));
        }
        out.push(path);
    }
    Ok(out)
}
