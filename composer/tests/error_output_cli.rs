//! How `mk-compose` reports a failure: one `error:` line, each layer's part
//! once, the operating system's error once.

mod common;
use common::{mk, run_err, run_ok};

use mk_bundle::SecretKey;

/// The `error:` line, after checking that no part of it is said twice.
fn error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line:\n{stderr}");
    let line = lines[0];
    let parts: Vec<&str> = line["error: ".len()..].split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(!parts[..i].contains(p), "`{p}` is said twice in:\n{line}");
    }
    line
}

#[test]
fn verify_of_a_missing_iso_names_it_and_says_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate().unwrap();
    let trusted = dir.path().join("mk.pub");
    std::fs::write(&trusted, key.public_key().to_file_text()).unwrap();
    let missing = dir.path().join("missing.iso");

    let stderr = run_err(
        mk().arg("verify")
            .arg(&missing)
            .arg("--trust")
            .arg(&trusted),
    );
    let line = error_line(&stderr);
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert!(
        line.contains(&format!("{}: No such file or directory", missing.display())),
        "{stderr}"
    );
}

#[test]
fn repo_list_with_a_missing_primary_says_each_layer_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    run_ok(mk().args(["repo", "index"]).arg(&repo));
    let primary = std::fs::read_dir(repo.join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-primary.xml.gz"))
        .expect("repo index writes a primary.xml.gz");
    std::fs::remove_file(&primary).unwrap();

    let stderr = run_err(mk().args(["repo", "list"]).arg(&repo));
    let line = error_line(&stderr);
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert!(
        line.ends_with(&format!(
            "{}: No such file or directory (os error 2)",
            primary.display()
        )),
        "{stderr}"
    );
}
