//! A repository of synthetic packages with deep dependency chains, for
//! benchmarks and the example: every package requires the one before it
//! (by name), plus earlier ones by versioned capability and by file path;
//! some names come in several versions or epochs, some packages obsolete a
//! legacy package that is also in the repository.
//!
//! The repository is self-contained: every requirement is satisfiable from
//! it (`/bin/sh` and `/sbin/ldconfig` come from `chain-base`, whose files
//! are placeholders: install these packages with `--noscripts`).

use crate::SynthPackage;
use rayon::prelude::*;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// splitmix64: tiny, fast, and its sequence is fixed by the seed, which is
/// all the generator needs (no crate needed for that).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn name_of(n: usize) -> String {
    format!("chain-{n:05}")
}

fn lib_of(n: usize) -> String {
    format!("/usr/lib/chain/libchain-{n:05}.so.1")
}

/// One version of chain name `n` (n ≥ 1), requiring earlier names.
fn chain_package(rng: &mut Rng, n: usize, version: &str, index: usize) -> SynthPackage {
    let name = name_of(n);
    let mut p = SynthPackage::new(&name, version, "1")
        .summary(&format!("Synthetic chain package {n}"))
        .url("https://example.invalid/chain")
        .provides(&format!("chain-cap-{n:05}"), Some(("=", version)))
        .dir(&format!("/usr/share/chain/{n:05}"))
        .file(&lib_of(n), format!("{name} {version}\n"), 0o755)
        .file(
            &format!("/usr/share/chain/{n:05}/README"),
            format!("{name} {version} (package {index})\n"),
            0o644,
        );
    if n.is_multiple_of(3) {
        p = p.arch("x86_64");
    }
    // The chain itself: n requires n-1, so the closure of the last package is
    // the whole repository.
    p = p.requires(&name_of(n - 1), None);
    if n > 1 {
        let k = rng.range(n.saturating_sub(50).max(1), n);
        p = p.requires(&format!("chain-cap-{k:05}"), Some((">=", "1.0")));
        let m = rng.range(n.saturating_sub(200).max(1), n);
        p = p.requires(&lib_of(m), None);
    }
    if n.is_multiple_of(8) {
        let k = rng.range(n.saturating_sub(20).max(1), n);
        p = p.requires_pre(&name_of(k), None);
    }
    if n.is_multiple_of(30) {
        // Never bites (every chain package is ≥ 1.0 or has a higher epoch)
        // but gives resolvers conflicts to check.
        let k = rng.range(1, n);
        p = p.conflicts(&name_of(k), Some(("<", "1.0")));
    }
    if n.is_multiple_of(10) {
        p = p.post_script(&format!("echo {name} installed >/dev/null\n"));
    } else if n % 25 == 7 {
        p = p.post_program("/sbin/ldconfig");
    }
    p.changelog(
        "mk-synthrpm <synth@example.invalid> - 1.0-1",
        crate::DEFAULT_BUILD_TIME - 86_400,
        "- Generated.",
    )
}

/// The packages [`generate_chain_repo`] writes, in order (`count` of them).
pub fn chain_plan(count: usize, seed: u64) -> Vec<SynthPackage> {
    let mut rng = Rng(seed ^ 0x6d6b_2d63_6861_696e);
    let mut plan = Vec::with_capacity(count);
    if count == 0 {
        return plan;
    }
    plan.push(
        SynthPackage::new("chain-base", "1.0", "1")
            .summary("Base of the synthetic chain")
            .dir("/usr/lib/chain")
            .dir("/usr/share/chain")
            .file("/bin/sh", "placeholder\n", 0o755)
            .file("/sbin/ldconfig", "placeholder\n", 0o755),
    );
    // chain-00000 is the base under another name, so that chain-00001 can
    // require "n - 1" like every other.
    let mut names = 0usize;
    while plan.len() < count {
        let index = plan.len();
        if names >= 2 && rng.chance(12) {
            // Another version of an existing name: a higher version, or an
            // epoch bump with a lower version string (epoch wins).
            let n = rng.range(1, names + 1);
            let p = if rng.chance(33) {
                chain_package(&mut rng, n, &format!("0.{index}"), index).epoch(1)
            } else {
                chain_package(&mut rng, n, &format!("{}.{index}", 2 + index % 3), index)
            };
            plan.push(p);
            continue;
        }
        names += 1;
        let n = names;
        let version = format!("1.{}", n % 7);
        let mut p = chain_package(&mut rng, n, &version, index);
        if n.is_multiple_of(20) && plan.len() + 2 <= count {
            // A renamed package: the legacy one stays in the repository, the
            // new one obsoletes and replaces it.
            let legacy = format!("chain-legacy-{n:05}");
            plan.push(SynthPackage::new(&legacy, "0.9", "1").file(
                &format!("/usr/share/chain/legacy-{n:05}"),
                "legacy\n",
                0o644,
            ));
            p = p
                .obsoletes(&legacy, Some(("<", "1.0")))
                .provides(&legacy, Some(("=", "1.0")));
        }
        plan.push(p);
    }
    // Name 0 is the base.
    if let Some(first) = plan.get_mut(0) {
        *first = first.clone().provides(&name_of(0), Some(("=", "1.0")));
    }
    plan
}

/// Writes `count` packages into `dir` (created if missing), built in
/// parallel; the same `seed` gives the same files, bit for bit. Returns
/// their paths in plan order.
pub fn generate_chain_repo(dir: &Path, count: usize, seed: u64) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let plan = chain_plan(count, seed);
    let paths = plan
        .par_iter()
        .map(|p| p.write_to_dir(dir))
        .collect::<io::Result<Vec<_>>>()?;
    tracing::info!(count = paths.len(), dir = %dir.display(), seed, "wrote synthetic chain repository");
    Ok(paths)
}
