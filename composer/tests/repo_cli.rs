//! `mk-compose repo verify`: package files checked against the repodata
//! they were indexed into, as an operator runs it before building a bundle.

mod common;
use common::{fixture, mk, names, run_err, run_ok};

use std::path::{Path, PathBuf};

fn el7_base() -> PathBuf {
    fixture("el7-base")
}

/// The example packages, indexed by `mk-compose repo index`.
fn indexed_example_repo(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    for p in mk_synthrpm::example::example_packages() {
        p.write_to_dir(dir).unwrap();
    }
    run_ok(mk().args(["repo", "index"]).arg(dir));
    names(dir)
        .into_iter()
        .filter(|n| n.ends_with(".rpm"))
        .collect()
}

#[test]
fn verify_names_every_flipped_missing_and_truncated_package() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("rpms");
    let rpms = indexed_example_repo(&repo);
    assert!(rpms.len() >= 4, "{rpms:?}");

    let o = run_ok(mk().args(["repo", "verify"]).arg(&repo));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("all {} packages match", rpms.len())),
        "{out}"
    );

    // After indexing: one byte flipped near the end (the payload), one
    // file removed, one cut in half.
    let (flipped, missing, truncated) = (&rpms[0], &rpms[1], &rpms[2]);
    let path = repo.join(flipped);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    std::fs::remove_file(repo.join(missing)).unwrap();
    let path = repo.join(truncated);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    // What repodata says is unchanged: `repo list` still lists all three.
    let o = run_ok(mk().args(["repo", "list"]).arg(&repo));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        rpms.len()
    );

    let err = run_err(mk().args(["repo", "verify"]).arg(&repo));
    assert!(
        err.contains(&format!("3 of {} packages", rpms.len())),
        "{err}"
    );
    let line_of = |name: &str| {
        err.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} not named in:\n{err}"))
            .to_string()
    };
    let l = line_of(flipped);
    assert!(l.contains("checksum mismatch"), "{l}");
    assert!(l.contains("digest mismatch"), "{l}");
    assert!(line_of(missing).ends_with(": missing"), "{err}");
    assert!(line_of(truncated).contains("truncated"), "{err}");
    // The sound packages are not named.
    for good in &rpms[3..] {
        assert!(!err.contains(good.as_str()), "{good} named in:\n{err}");
    }
}

#[test]
fn verify_el7_base_names_its_four_absent_packages() {
    let err = run_err(mk().args(["repo", "verify"]).arg(el7_base()));
    assert!(err.contains("4 of 117 packages"), "{err}");
    let bad: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(bad.len(), 4, "{err}");
    for (line, name) in bad
        .iter()
        .zip(["binutils-", "centos-logos-", "glibc-common-", "systemd-"])
    {
        assert!(line.starts_with(name), "{line}");
        assert!(line.ends_with(": missing"), "{line}");
    }
}

#[test]
fn verify_refuses_a_directory_without_repodata_and_list_points_to_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let err = run_err(mk().args(["repo", "verify"]).arg(tmp.path()));
    assert!(err.contains("no repodata/repomd.xml"), "{err}");

    let o = run_ok(mk().args(["repo", "list", "--help"]));
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("mk-compose repo verify"), "{help}");
    let o = run_ok(mk().args(["repo", "verify", "--help"]));
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Example:"), "{help}");
}
