//! `mk-compose keygen` as a user runs it.

mod common;
use common::{mk, names, text};

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use mk_bundle::{PublicKey, SecretKey};

#[test]
fn keygen_with_password_file_writes_an_encrypted_pair_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "hunter2 but longer\n").unwrap();
    let o = mk()
        .args(["keygen", "--out-dir"])
        .arg(&keys)
        .arg("--password-file")
        .arg(&pw)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(names(&keys), ["mk.key", "mk.pub"]);
    let mode = |p: &str| {
        std::fs::metadata(keys.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("mk.key"), 0o600);
    assert_eq!(mode("mk.pub"), 0o644);

    let public = PublicKey::from_file(&keys.join("mk.pub")).unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&public.key_id().to_string()),
        "{}",
        text(&o)
    );
    let key_text = std::fs::read_to_string(keys.join("mk.key")).unwrap();
    assert!(SecretKey::file_is_encrypted(&key_text, "mk.key").unwrap());
    let secret = SecretKey::parse(&key_text, b"hunter2 but longer", "mk.key").unwrap();
    assert_eq!(secret.public_key(), public);

    // Second run: refused, keys untouched.
    let before = std::fs::read(keys.join("mk.key")).unwrap();
    let o = mk()
        .args(["keygen", "--out-dir"])
        .arg(&keys)
        .arg("--password-file")
        .arg(&pw)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("mk.key already exists"), "{}", text(&o));
    assert_eq!(std::fs::read(keys.join("mk.key")).unwrap(), before);
    assert_eq!(names(&keys), ["mk.key", "mk.pub"]);
}

#[test]
fn keygen_reads_the_password_from_a_file_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = mk()
        .args(["keygen", "--out-dir"])
        .arg(dir.path())
        .args(["--password-fd", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from a pipe\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let key = SecretKey::from_file(&dir.path().join("mk.key"), b"from a pipe").unwrap();
    assert_eq!(
        key.public_key(),
        PublicKey::from_file(&dir.path().join("mk.pub")).unwrap()
    );
}

#[test]
fn keygen_refuses_missing_or_empty_passwords_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // No terminal (new session, no controlling tty) and no password option.
    let o = Command::new("setsid")
        .arg(env!("CARGO_BIN_EXE_mk-compose"))
        .args(["keygen", "--out-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--password-file"),
        "{}",
        text(&o)
    );
    let pw = dir.path().join("empty");
    std::fs::write(&pw, "\n").unwrap();
    let out = dir.path().join("keys");
    let o = mk()
        .args(["keygen", "--out-dir"])
        .arg(&out)
        .arg("--password-file")
        .arg(&pw)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("password is empty"),
        "{}",
        text(&o)
    );
    assert_eq!(names(&out), Vec::<String>::new());
    assert_eq!(names(dir.path()), ["empty", "keys"]);
    // There is no way to pass the password itself as an argument.
    let o = mk()
        .args(["keygen", "--out-dir"])
        .arg(&out)
        .args(["--password", "x"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
}
