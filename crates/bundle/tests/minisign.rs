//! Our minisign format against the real `minisign` tool, both directions.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{key_in, make_staging, options, run};
use mk_bundle::{
    finish_bundle, KdfParams, PublicKey, SecretKey, SignError, Signature, TrustedComment,
};

#[test]
fn real_minisign_verifies_our_bundle_signature() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    make_staging(&staging, 1);
    let (sk, pub_path) = key_in(dir.path(), "mk");
    let done = finish_bundle(&staging, &dir.path().join("b.iso"), &sk, &options()).unwrap();

    let out = run(Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(&pub_path)
        .arg("-m")
        .arg(staging.join("MANIFEST")));
    let comment = out
        .lines()
        .find_map(|l| l.strip_prefix("Trusted comment: "))
        .unwrap_or_else(|| panic!("no trusted comment in {out:?}"));
    let parsed = TrustedComment::parse(comment);
    assert_eq!(parsed.name.as_deref(), Some("mk-test"));
    assert_eq!(parsed.version.as_deref(), Some("1.2.3"));
    assert_eq!(parsed.manifest_sha256, Some(done.manifest_sha256.hex()));
    // And sha256sum agrees with the manifest, from the bundle root.
    run(Command::new("sha256sum")
        .args(["--strict", "-c", "MANIFEST"])
        .current_dir(&staging));

    // A changed manifest is refused by minisign too.
    let manifest = staging.join("MANIFEST");
    let mut text = std::fs::read(&manifest).unwrap();
    text[0] = if text[0] == b'0' { b'1' } else { b'0' };
    std::fs::write(&manifest, text).unwrap();
    let status = Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(&pub_path)
        .arg("-m")
        .arg(&manifest)
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
}

#[test]
fn we_verify_signatures_made_by_real_minisign() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(d.join("m.pub"))
        .arg("-s")
        .arg(d.join("m.key")));
    let data = d.join("MANIFEST");
    std::fs::write(&data, "0000  a\n").unwrap();
    run(Command::new("minisign")
        .args(["-S", "-s"])
        .arg(d.join("m.key"))
        .arg("-m")
        .arg(&data)
        .args(["-t", "made by minisign"]));
    let pk = PublicKey::from_file(&d.join("m.pub")).unwrap();
    let sig_text = std::fs::read(d.join("MANIFEST.minisig")).unwrap();
    let sig = Signature::parse(&sig_text, "MANIFEST.minisig").unwrap();
    assert_eq!(sig.key_id(), pk.key_id());
    assert_eq!(sig.trusted_comment(), "made by minisign");
    sig.verify(&pk, b"0000  a\n", "MANIFEST.minisig", "MANIFEST", None)
        .unwrap();
    let e = sig
        .verify(&pk, b"0000  b\n", "MANIFEST.minisig", "MANIFEST", None)
        .unwrap_err();
    assert!(matches!(e, SignError::BadSignature { .. }), "{e}");

    // minisign's key ID as it prints it (hex, without leading zeros) is ours.
    let pub_text = std::fs::read_to_string(d.join("m.pub")).unwrap();
    let printed = pub_text.lines().next().unwrap().rsplit(' ').next().unwrap();
    assert_eq!(
        u64::from_str_radix(printed, 16).unwrap(),
        u64::from_le_bytes(pk.key_id().0),
        "{pub_text}"
    );

    // Its unencrypted secret key loads, and what we sign with it, it accepts.
    let sk = SecretKey::from_file(&d.join("m.key"), b"").unwrap();
    assert_eq!(sk.public_key(), pk);
    std::fs::write(
        d.join("MANIFEST.minisig"),
        sk.sign(b"0000  a\n", "ours", "ours").to_file_text(),
    )
    .unwrap();
    run(Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(d.join("m.pub"))
        .arg("-m")
        .arg(&data));
}

#[test]
fn real_minisign_signs_with_our_encrypted_key_and_refuses_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sk = SecretKey::generate().unwrap();
    std::fs::write(
        d.join("k.key"),
        sk.to_encrypted_file_text(b"correct horse", KdfParams::INTERACTIVE)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    std::fs::write(d.join("k.pub"), sk.public_key().to_file_text()).unwrap();
    std::fs::write(d.join("data"), "payload").unwrap();
    let sign = |password: &str| {
        let mut child = Command::new("minisign")
            .args(["-S", "-s"])
            .arg(d.join("k.key"))
            .arg("-m")
            .arg(d.join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap().status.success()
    };
    assert!(
        !sign("wrong"),
        "minisign decrypted our key with a wrong password"
    );
    assert!(sign("correct horse"), "minisign could not decrypt our key");
    let sig = Signature::parse(&std::fs::read(d.join("data.minisig")).unwrap(), "sig").unwrap();
    sig.verify(&sk.public_key(), b"payload", "sig", "data", None)
        .unwrap();

    // And we decrypt keys that minisign encrypted (its own scrypt cost).
    let mut child = Command::new("minisign")
        .args(["-G", "-p"])
        .arg(d.join("g.pub"))
        .arg("-s")
        .arg(d.join("g.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"pw pw\npw pw\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(d.join("g.key")).unwrap();
    assert!(SecretKey::file_is_encrypted(&text, "g.key").unwrap());
    let g = SecretKey::parse(&text, b"pw pw", "g.key").unwrap();
    assert_eq!(
        g.public_key(),
        PublicKey::from_file(&d.join("g.pub")).unwrap()
    );
    let e = SecretKey::parse(&text, b"nope", "g.key").unwrap_err();
    assert!(e.to_string().starts_with("g.key: wrong password"), "{e}");
}

#[test]
fn same_key_and_tree_give_the_same_signature_file() {
    let dir = tempfile::tempdir().unwrap();
    let (sk, _) = key_in(dir.path(), "mk");
    let mut sigs = Vec::new();
    for n in 0..2 {
        let staging = dir.path().join(format!("s{n}"));
        make_staging(&staging, 7);
        finish_bundle(
            &staging,
            &dir.path().join(format!("{n}.iso")),
            &sk,
            &options(),
        )
        .unwrap();
        sigs.push(std::fs::read(staging.join("MANIFEST.minisig")).unwrap());
    }
    assert_eq!(sigs[0], sigs[1]);
}
