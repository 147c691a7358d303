//! `mk-firstboot validate`: exit 0 and one summary line for a good config,
//! non-zero and every problem for a bad one; signatures with --trust.

use std::path::Path;
use std::process::{Command, Output};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/site/node-config.yaml"
);

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mk-firstboot"))
        .arg("validate")
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn good_config_one_line_summary() {
    let out = validate(&[EXAMPLE]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{EXAMPLE}: valid NodeConfigList with 2 config(s): w1.example.com (worker; \
             Kubernetes 1.30), w2.example.com (worker; Kubernetes 1.30); signature not \
             checked (no --trust)\n"
        )
    );
}

#[test]
fn bad_config_lists_every_problem_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("bad.yaml");
    let good = std::fs::read_to_string(EXAMPLE).unwrap();
    let bad = good
        .replacen("name: w1.example.com", "name: 10.0.0.11", 1)
        .replacen(
            "workload: {cidr: 10.0.1.0/24}",
            "workload: {cidr: 10.0.0.0/16}",
            1,
        );
    std::fs::write(&f, &bad).unwrap();
    let out = validate(&[f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    let name = f.display();
    assert!(
        err.contains(&format!(
            "{name}: items[0].metadata.name: \"10.0.0.11\": IP address where a DNS name is required (R28)\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{name}: items[0].spec.planes.workload.cidr: 10.0.0.0/16 overlaps"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{name}: 2 problem(s); nothing was changed")),
        "{err}"
    );
    // Only the file we wrote is in the directory.
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), bad);

    std::fs::write(
        &f,
        "apiVersion: mk.dev/v1alpha1\nkind: NodeConfig\nmetadata: {name: a, x: 1}\n",
    )
    .unwrap();
    let out = validate(&[f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!(
            "{name}:3:21: metadata.x: unknown field `x`, expected `name`"
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn expiry_is_checked_at_the_given_time() {
    let out = validate(&[EXAMPLE, "--now", "yesterday"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--now \"yesterday\": expected RFC 3339"));
    let out = validate(&[EXAMPLE, "--now", "2030-01-01T00:00:00Z"]);
    assert!(out.status.success());
}

fn write_key(dir: &Path, sk: &mk_minisign::SecretKey) -> String {
    let p = dir.join("admin.pub");
    std::fs::write(&p, sk.public_key().to_file_text()).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn trust_requires_a_good_signature() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("node-config.yaml");
    let data = std::fs::read(EXAMPLE).unwrap();
    std::fs::write(&f, &data).unwrap();
    let sk = mk_minisign::SecretKey::generate().unwrap();
    let key = write_key(d.path(), &sk);
    let file = f.to_str().unwrap();

    let out = validate(&[file, "--trust", &key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the role config is not signed"),
        "{}",
        text(&out.stderr)
    );

    let sig = sk.sign(&data, "mk-config", "test").to_file_text();
    std::fs::write(format!("{file}.minisig"), &sig).unwrap();
    let out = validate(&[file, "--trust", &key]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with(&format!("signed by trusted key {}\n", sk.key_id())));

    let mut changed = data.clone();
    changed.extend_from_slice(b"# appended\n");
    std::fs::write(&f, &changed).unwrap();
    let out = validate(&[file, "--trust", &key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the signature does not match"),
        "{}",
        text(&out.stderr)
    );
}
