//! `verify` on good and tampered bundles. Tampering is done the way an
//! attacker would: on the image bytes (located with xorriso, not with our
//! reader) or by re-mastering the ISO from a changed tree.

mod common;

use std::path::{Path, PathBuf};

use common::{dir_names, key_in, make_staging, options, xorriso_extents};
use mk_bundle::iso::{self, IsoOptions};
use mk_bundle::{finish_bundle, verify, Problem, PublicKey, SignError, VerifyError};

struct Bundle {
    _dir: tempfile::TempDir,
    root: PathBuf,
    staging: PathBuf,
    iso: PathBuf,
    key: mk_bundle::SecretKey,
    trusted: PublicKey,
}

fn bundle() -> Bundle {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let staging = root.join("staging");
    make_staging(&staging, 11);
    let (key, pub_path) = key_in(&root, "mk");
    let iso = root.join("out/bundle.iso");
    std::fs::create_dir(root.join("out")).unwrap();
    finish_bundle(&staging, &iso, &key, &options()).unwrap();
    let trusted = PublicKey::from_file(&pub_path).unwrap();
    Bundle {
        _dir: dir,
        root,
        staging,
        iso,
        key,
        trusted,
    }
}

/// Re-masters the ISO from the (changed) staging tree, keeping its MANIFEST.
fn remaster(b: &Bundle) {
    iso::write(
        &b.staging,
        &b.iso,
        &IsoOptions {
            volume_label: "MK_TEST".into(),
            source_date_epoch: 1,
            ..Default::default()
        },
    )
    .unwrap();
}

fn problems(e: VerifyError) -> Vec<Problem> {
    match e {
        VerifyError::Files { problems, .. } => problems,
        other => panic!("expected file problems, got: {other}"),
    }
}

fn flip_byte(iso: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::options()
        .read(true)
        .write(true)
        .open(iso)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0x01], offset).unwrap();
}

#[test]
fn good_bundle_verifies_and_nothing_else_is_in_the_output_dir() {
    let b = bundle();
    let report = verify(&b.iso, &b.trusted).unwrap();
    assert_eq!(report.files, 8);
    assert_eq!(report.key_id, b.key.key_id());
    assert!(report.trusted_comment.contains("version=1.2.3"));
    let expected: u64 = [70_000, 300_000, 3_000, 20_000, 1_200, 0, 5_000, 10]
        .iter()
        .sum();
    assert_eq!(report.bytes, expected);
    assert_eq!(dir_names(&b.root.join("out")), ["bundle.iso"]);
}

#[test]
fn one_flipped_byte_is_refused_naming_the_file() {
    let b = bundle();
    let (offset, size) = xorriso_extents(&b.iso)["repo/kernel-3.10.0-957.el7.x86_64.rpm"];
    flip_byte(&b.iso, offset + size / 2);
    let e = verify(&b.iso, &b.trusted).unwrap_err();
    let msg = e.to_string();
    let p = problems(e);
    assert_eq!(p.len(), 1, "{msg}");
    assert!(
        matches!(&p[0], Problem::Changed { path, .. } if path == "repo/kernel-3.10.0-957.el7.x86_64.rpm"),
        "{msg}"
    );
    assert!(
        msg.contains("changed: repo/kernel-3.10.0-957.el7.x86_64.rpm: sha256 is"),
        "{msg}"
    );
}

#[test]
fn flipped_byte_in_the_manifest_breaks_the_signature() {
    let b = bundle();
    let (offset, _) = xorriso_extents(&b.iso)["MANIFEST"];
    flip_byte(&b.iso, offset + 3);
    let e = verify(&b.iso, &b.trusted).unwrap_err();
    assert!(
        matches!(e, VerifyError::Signature(SignError::BadSignature { .. })),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("MANIFEST.minisig: the signature does not match MANIFEST"),
        "{e}"
    );
}

#[test]
fn extra_missing_and_changed_files_are_all_reported() {
    let b = bundle();
    std::fs::write(b.staging.join("repo/evil.rpm"), "extra").unwrap();
    std::fs::remove_file(b.staging.join("kickstart/node.ks")).unwrap();
    std::fs::write(b.staging.join("repo/repodata/repomd.xml"), "changed").unwrap();
    remaster(&b);
    let e = verify(&b.iso, &b.trusted).unwrap_err();
    let msg = e.to_string();
    let p = problems(e);
    assert_eq!(p.len(), 3, "{msg}");
    assert_eq!(
        p[0],
        Problem::Missing {
            path: "kickstart/node.ks".into()
        }
    );
    assert_eq!(
        p[1],
        Problem::Extra {
            path: "repo/evil.rpm".into()
        }
    );
    assert!(matches!(&p[2], Problem::Changed { path, .. } if path == "repo/repodata/repomd.xml"));
    assert!(msg.contains("3 problem(s)"), "{msg}");
    assert!(msg.contains("missing: kickstart/node.ks"), "{msg}");
    assert!(msg.contains("extra: repo/evil.rpm"), "{msg}");
}

#[test]
fn symlinks_and_empty_directories() {
    let b = bundle();
    // An empty directory is not a file: fine.
    std::fs::create_dir(b.staging.join("registry/blobs")).unwrap();
    remaster(&b);
    verify(&b.iso, &b.trusted).unwrap();
    // A symlink is not covered by the manifest: refused.
    std::os::unix::fs::symlink("/etc/shadow", b.staging.join("repo/link.rpm")).unwrap();
    remaster(&b);
    let e = verify(&b.iso, &b.trusted).unwrap_err();
    assert!(
        e.to_string()
            .contains("extra: repo/link.rpm: a symbolic link"),
        "{e}"
    );
    // And the manifest builder refuses it too, naming it.
    let e = mk_bundle::Manifest::build(&b.staging).unwrap_err();
    assert!(
        e.to_string().contains("link.rpm: is a symbolic link"),
        "{e}"
    );
}

#[test]
fn signature_from_another_key_is_refused_naming_both_key_ids() {
    let b = bundle();
    let other_dir = tempfile::tempdir().unwrap();
    let (other, _) = key_in(other_dir.path(), "other");
    let manifest = std::fs::read(b.staging.join("MANIFEST")).unwrap();
    let forged = other.sign(&manifest, "mk-bundle name=mk-test version=1.2.3", "x");
    std::fs::write(b.staging.join("MANIFEST.minisig"), forged.to_file_text()).unwrap();
    remaster(&b);
    let e = verify(&b.iso, &b.trusted).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, VerifyError::Signature(SignError::UntrustedKey { .. })),
        "{msg}"
    );
    assert!(msg.contains("MANIFEST.minisig: signed by key ID"), "{msg}");
    assert!(msg.contains(&other.key_id().to_string()), "{msg}");
    assert!(msg.contains(&b.key.key_id().to_string()), "{msg}");
}

#[test]
fn signature_of_another_manifest_is_refused() {
    let b = bundle();
    // Same trusted key, but the signature was made for a different manifest.
    let other = b
        .key
        .sign(b"0000  x\n", "mk-bundle name=mk-test version=0.9", "x");
    std::fs::write(b.staging.join("MANIFEST.minisig"), other.to_file_text()).unwrap();
    remaster(&b);
    let e = verify(&b.iso, &b.trusted).unwrap_err();
    assert!(
        matches!(e, VerifyError::Signature(SignError::BadSignature { .. })),
        "{e}"
    );
}

#[test]
fn untrusted_key_is_refused() {
    let b = bundle();
    let stranger = mk_bundle::SecretKey::generate().unwrap().public_key();
    let e = verify(&b.iso, &stranger).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("signed by key ID {}", b.key.key_id())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("has key ID {}", stranger.key_id())),
        "{msg}"
    );
}

#[test]
fn unsigned_or_broken_images_are_refused() {
    let b = bundle();
    std::fs::remove_file(b.staging.join("MANIFEST.minisig")).unwrap();
    remaster(&b);
    let e = verify(&b.iso, &b.trusted).unwrap_err();
    assert!(e.to_string().contains("MANIFEST.minisig is missing"), "{e}");

    let data = std::fs::read(&b.iso).unwrap();
    std::fs::write(&b.iso, &data[..data.len() / 3]).unwrap();
    let e = anyhow::Error::new(verify(&b.iso, &b.trusted).unwrap_err());
    assert!(format!("{e:#}").contains("truncated"), "{e:#}");

    let e = verify(&b.root.join("nope.iso"), &b.trusted).unwrap_err();
    assert!(e.to_string().contains("nope.iso"), "{e}");
}

#[test]
fn failed_finish_leaves_no_iso() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    make_staging(&staging, 2);
    let (key, _) = key_in(dir.path(), "k");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut bad = options();
    bad.volume_label = "label with spaces".into();
    let e = finish_bundle(&staging, &out.join("b.iso"), &key, &bad).unwrap_err();
    assert!(e.to_string().contains("volume label"), "{e}");
    std::os::unix::fs::symlink("x", staging.join("repo/l")).unwrap();
    let e = finish_bundle(&staging, &out.join("b.iso"), &key, &options()).unwrap_err();
    assert!(e.to_string().contains("repo/l"), "{e}");
    assert_eq!(dir_names(&out), Vec::<String>::new());
}
