//! Signed configs: ours and the real `minisign` tool's signatures, good,
//! wrong key, tampered, unsigned.

use std::process::Command;

use mk_minisign::{PublicKey, SecretKey};
use mk_roleconfig::{signature_path, verify_signed, SignatureError, Verified};

const CONFIG: &[u8] = include_bytes!("../../../examples/site/node-config.yaml");

fn signed(sk: &SecretKey, data: &[u8]) -> String {
    sk.sign(
        data,
        "mk-config file=node-config.yaml",
        "signature from mk-compose",
    )
    .to_file_text()
}

#[test]
fn good_signature_is_accepted() {
    let sk = SecretKey::generate().unwrap();
    let sig = signed(&sk, CONFIG);
    let v = verify_signed(
        CONFIG,
        Some(sig.as_bytes()),
        &[sk.public_key()],
        false,
        "n.yaml",
    )
    .unwrap();
    assert_eq!(
        v,
        Verified::Signed {
            key_id: sk.key_id(),
            trusted_comment: "mk-config file=node-config.yaml".into()
        }
    );
    // With several trusted keys (rotation), the right one is picked.
    let other = SecretKey::generate().unwrap().public_key();
    verify_signed(
        CONFIG,
        Some(sig.as_bytes()),
        &[other, sk.public_key()],
        false,
        "n.yaml",
    )
    .unwrap();
}

#[test]
fn wrong_key_is_refused_naming_both_ids() {
    let sk = SecretKey::generate().unwrap();
    let trusted = SecretKey::generate().unwrap().public_key();
    let sig = signed(&sk, CONFIG);
    let e = verify_signed(
        CONFIG,
        Some(sig.as_bytes()),
        std::slice::from_ref(&trusted),
        false,
        "n.yaml",
    )
    .unwrap_err();
    assert!(matches!(e, SignatureError::UntrustedKey { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "n.yaml.minisig: signed by key ID {}, which this image does not trust (trusted: {})",
            sk.key_id(),
            trusted.key_id()
        )
    );
    // Also when the image allows unsigned configs: a signature that is
    // there must be right.
    assert!(verify_signed(CONFIG, Some(sig.as_bytes()), &[trusted], true, "n.yaml").is_err());
}

#[test]
fn tampered_config_is_refused() {
    let sk = SecretKey::generate().unwrap();
    let sig = signed(&sk, CONFIG);
    let mut changed = CONFIG.to_vec();
    let i = changed
        .windows(10)
        .position(|w| w == b"permissive")
        .unwrap();
    changed[i..i + 10].copy_from_slice(b"disabled  ");
    for allow in [false, true] {
        let e = verify_signed(
            &changed,
            Some(sig.as_bytes()),
            &[sk.public_key()],
            allow,
            "n.yaml",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "n.yaml.minisig: the signature does not match n.yaml (a signature of other data, \
             or n.yaml was changed after signing)",
            "allow_unsigned={allow}"
        );
    }
    // A changed trusted comment.
    let forged = sig.replace("file=node-config.yaml", "file=other.yaml");
    let e = verify_signed(
        CONFIG,
        Some(forged.as_bytes()),
        &[sk.public_key()],
        false,
        "n.yaml",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("trusted comment's signature is invalid"),
        "{e}"
    );
    // Garbage instead of a signature.
    let e = verify_signed(
        CONFIG,
        Some(b"nonsense"),
        &[sk.public_key()],
        false,
        "n.yaml",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("n.yaml.minisig: expected 4 lines"),
        "{e}"
    );
}

#[test]
fn unsigned_is_refused_unless_the_image_allows_it() {
    let pk = SecretKey::generate().unwrap().public_key();
    let e = verify_signed(CONFIG, None, std::slice::from_ref(&pk), false, "n.yaml").unwrap_err();
    assert!(matches!(e, SignatureError::Unsigned { .. }));
    assert!(
        e.to_string()
            .starts_with("n.yaml: the role config is not signed"),
        "{e}"
    );
    assert_eq!(
        verify_signed(CONFIG, None, &[pk], true, "n.yaml").unwrap(),
        Verified::UnsignedAllowed
    );
    // Signed, but the image has no key: refused, even when unsigned configs
    // are allowed (a present signature is always checked; issue 12).
    let sk = SecretKey::generate().unwrap();
    let sig = signed(&sk, CONFIG);
    for allow_unsigned in [false, true] {
        let e =
            verify_signed(CONFIG, Some(sig.as_bytes()), &[], allow_unsigned, "n.yaml").unwrap_err();
        assert!(matches!(e, SignatureError::NoTrustedKey { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "n.yaml: signed, but this image has no trusted key to check the signature; \
             remove n.yaml.minisig to deliver it unsigned, or build the image with the key"
        );
    }
}

#[test]
fn signatures_made_by_the_real_minisign_tool_verify() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("node-config.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let (pk, sk) = (d.path().join("admin.pub"), d.path().join("admin.key"));
    let st = Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(&pk)
        .arg("-s")
        .arg(&sk)
        .output()
        .expect("minisign installed");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let st = Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(&sk)
        .arg("-m")
        .arg(&cfg)
        .args(["-t", "site lab"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let sig = std::fs::read(signature_path(&cfg)).unwrap();
    let trusted = PublicKey::from_file(&pk).unwrap();
    let v = verify_signed(
        CONFIG,
        Some(&sig),
        std::slice::from_ref(&trusted),
        false,
        "node-config.yaml",
    )
    .unwrap();
    assert_eq!(
        v,
        Verified::Signed {
            key_id: trusted.key_id(),
            trusted_comment: "site lab".into()
        }
    );
    let e = verify_signed(b"other", Some(&sig), &[trusted], false, "node-config.yaml");
    assert!(e.is_err());
    // And minisign accepts what we sign.
    let ours = SecretKey::generate().unwrap();
    std::fs::write(&pk, ours.public_key().to_file_text()).unwrap();
    std::fs::write(signature_path(&cfg), signed(&ours, CONFIG)).unwrap();
    let st = Command::new("minisign")
        .args(["-V", "-p"])
        .arg(&pk)
        .arg("-m")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}
