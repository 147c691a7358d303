//! The SBOM judged by the real SPDX validator (PyPI `spdx-tools`:
//! `pyspdxtools -i FILE`), over real CentOS 7 RPMs from the shared
//! fixtures; and broken documents that it must refuse, so that a pass
//! means something.

use mk_sbom::spdx::Document;
use mk_sbom::{oci::ContainerImage, RpmInfo, SbomBuilder, Subject};
use std::path::{Path, PathBuf};
use std::process::Command;

fn el7_rpms(n: usize) -> Vec<PathBuf> {
    let dir = mk_fixtures::fixture("el7-base");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
        .collect();
    v.sort();
    v.truncate(n);
    assert!(v.len() == n, "{}: fewer than {n} RPMs", dir.display());
    v
}

fn rpm_info(path: &Path) -> RpmInfo {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut p = mk_rpmrepo::read_rpm(path, &format!("Packages/{name}")).unwrap();
    p.checksum = sha256_hex(path);
    RpmInfo::read(path, &p).unwrap()
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

fn synthetic_rpm(dir: &Path) -> PathBuf {
    let path = dir.join("mk-firstboot-0.1.0-1.x86_64.rpm");
    let pkg = mk_synthrpm::SynthPackage::new("mk-firstboot", "0.1.0", "1")
        .license("Apache-2.0")
        .vendor("mk")
        .file("/usr/bin/mk-firstboot", b"binary".to_vec(), 0o755)
        .build();
    pkg.write_file(&path).unwrap();
    path
}

fn document(dir: &Path, epoch: u64) -> Document {
    let mut b = SbomBuilder::new(
        Subject {
            name: "mk-bundle".into(),
            version: "0.1.0".into(),
            sha256: None,
            comment: Some("test".into()),
        },
        "mk-compose-0.1.0",
        epoch,
    );
    for p in el7_rpms(6) {
        b.add_rpm(rpm_info(&p));
    }
    b.add_rpm(rpm_info(&synthetic_rpm(dir)));
    b.add_image(ContainerImage {
        repository: "mk/etcd".into(),
        tag: "3.5.17".into(),
        digest: format!("sha256:{}", "ab".repeat(32)),
        base_digest: Some(format!("sha256:{}", "cd".repeat(32))),
        base_name: Some("centos-7.6.1810.oci.tar".into()),
        repository_url: Some("registry.mk.local/mk/etcd".into()),
    });
    b.build().unwrap()
}

/// Runs the validator; Ok(output) when it accepts the file.
fn validate(path: &Path) -> Result<String, String> {
    let out = Command::new("pyspdxtools")
        .arg("-i")
        .arg(path)
        .output()
        .expect("pyspdxtools (pip install spdx-tools; .ci/setup installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // spdx-tools prints validation messages and exits non-zero on invalid
    // documents; also refuse any printed "ValidationMessage".
    if out.status.success() && !text.contains("ValidationMessage") {
        Ok(text)
    } else {
        Err(text)
    }
}

#[test]
fn sbom_of_real_rpms_passes_the_spdx_validator() {
    let dir = tempfile::tempdir().unwrap();
    let doc = document(dir.path(), 1_700_000_000);
    let file = dir.path().join("sbom.spdx.json");
    std::fs::write(&file, doc.to_json().unwrap()).unwrap();
    if let Err(e) = validate(&file) {
        panic!("pyspdxtools refused {}:\n{e}", file.display());
    }
    assert_eq!(doc.creation_info.created, "2023-11-14T22:13:20Z");
    // 1 subject + 7 RPMs + 1 image + its base.
    assert_eq!(doc.packages.len(), 10);
}

#[test]
fn rpm_facts_match_what_rpm_itself_says() {
    let dir = tempfile::tempdir().unwrap();
    let doc = document(dir.path(), 0);
    for path in el7_rpms(6) {
        let q = Command::new("rpm")
            .args(["-qp", "--nosignature", "--nodigest", "--qf"])
            .arg("%{NAME}|%{VERSION}-%{RELEASE}|%{LICENSE}|%{RSAHEADER:pgpsig}")
            .arg(&path)
            .output()
            .unwrap();
        let line = String::from_utf8(q.stdout).unwrap();
        let f: Vec<&str> = line.trim().split('|').collect();
        let key_id = f[3].rsplit(' ').next().unwrap();
        let sha = sha256_hex(&path);
        let p = doc
            .packages
            .iter()
            .find(|p| p.sha256() == Some(sha.as_str()))
            .unwrap_or_else(|| panic!("{} not in the SBOM by its SHA-256", path.display()));
        assert_eq!(p.name, f[0]);
        assert_eq!(p.version_info.as_deref(), Some(f[1]));
        assert!(p
            .purl()
            .unwrap()
            .starts_with(&format!("pkg:rpm/centos/{}@", f[0])));
        let notes: Vec<&str> = p.annotations.iter().map(|a| a.comment.as_str()).collect();
        assert!(
            notes.contains(&format!("rpm-signature-key-id: {key_id}").as_str()),
            "{notes:?} vs rpm's {}",
            f[3]
        );
        // The License tag, verbatim, behind licenseDeclared.
        let declared = &p.license_declared;
        let text = doc
            .has_extracted_licensing_infos
            .iter()
            .find(|l| &l.license_id == declared)
            .map(|l| l.extracted_text.as_str())
            .unwrap_or(declared);
        assert_eq!(text, f[2]);
    }
    let ours = doc
        .packages
        .iter()
        .find(|p| p.name == "mk-firstboot")
        .unwrap();
    assert_eq!(ours.license_declared, "Apache-2.0");
    assert!(ours
        .annotations
        .iter()
        .any(|a| a.comment == "rpm-signature-key-id: none"));
}

#[test]
fn same_inputs_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = document(dir.path(), 1_700_000_000).to_json().unwrap();
    let b = document(dir.path(), 1_700_000_000).to_json().unwrap();
    assert_eq!(a, b);
    let c = document(dir.path(), 1_700_000_001);
    assert_eq!(c.creation_info.created, "2023-11-14T22:13:21Z");
    // The namespace comes from the content, not the time.
    assert_eq!(
        Document::from_json(&a).unwrap().document_namespace,
        c.document_namespace
    );
    assert!(c
        .document_namespace
        .starts_with("https://mk.invalid/spdx/mk-bundle-0.1.0-"));
}

#[test]
fn the_validator_refuses_broken_documents() {
    let dir = tempfile::tempdir().unwrap();
    let good = document(dir.path(), 0);
    // (what, the validator's words for it, document)
    let mut broken: Vec<(&str, &str, Document)> = vec![];
    let mut dup = good.clone();
    let mut copy = dup.packages[2].clone();
    copy.name = "other".into();
    dup.packages.push(copy);
    broken.push(("duplicate SPDXID", "must be unique", dup));
    let mut bad_sum = good.clone();
    bad_sum.packages[1].checksums[0].checksum_value = "not-hex".into();
    broken.push(("bad checksum", "64 lowercase hexadecimal", bad_sum));
    let mut undeclared = good.clone();
    undeclared.has_extracted_licensing_infos.clear();
    broken.push((
        "LicenseRef without extractedLicensingInfos",
        "Unrecognized license reference",
        undeclared,
    ));
    let mut dangling = good.clone();
    dangling.relationships[0].related_spdx_element = "SPDXRef-Nowhere".into();
    broken.push((
        "relationship to a missing element",
        "did not find the referenced spdx_id",
        dangling,
    ));
    for (what, words, doc) in broken {
        let file = dir.path().join("broken.spdx.json");
        std::fs::write(&file, doc.to_json().unwrap()).unwrap();
        let e =
            validate(&file).expect_err(&format!("the validator accepted a document with a {what}"));
        assert!(e.contains(words), "{what}: refused, but not for it:\n{e}");
    }
    // A checksum left out entirely does not parse as our model.
    let mut v: serde_json::Value = serde_json::from_slice(&good.to_json().unwrap()).unwrap();
    v["packages"][1]["checksums"][0]
        .as_object_mut()
        .unwrap()
        .remove("checksumValue");
    let file = dir.path().join("missing.spdx.json");
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(validate(&file).is_err(), "missing checksumValue accepted");
}

#[test]
fn our_packages_carry_their_source_revision_from_the_vcs_tag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mk-firstboot-0.1.0-1.x86_64.rpm");
    let rev = "git+https://example.invalid/mk.git#0123456789abcdef0123456789abcdef01234567";
    rpm::PackageBuilder::new(
        "mk-firstboot",
        "0.1.0",
        "Apache-2.0",
        "x86_64",
        "first boot",
    )
    .release("1")
    .vendor("mk")
    .vcs(rev)
    .build()
    .unwrap()
    .write_file(&path)
    .unwrap();
    // rpm itself reads the same tag.
    let q = Command::new("rpm")
        .args(["-qp", "--nosignature", "--nodigest", "--qf", "%{VCS}"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&q.stdout), rev);
    let info = rpm_info(&path);
    assert_eq!(info.source_revision.as_deref(), Some(rev));
    let mut b = SbomBuilder::new(
        Subject {
            name: "mk-bundle".into(),
            version: "0.1.0".into(),
            sha256: None,
            comment: None,
        },
        "mk-compose-0.1.0",
        0,
    );
    b.add_rpm(info);
    let doc = b.build().unwrap();
    let p = doc
        .packages
        .iter()
        .find(|p| p.name == "mk-firstboot")
        .unwrap();
    assert_eq!(
        p.source_info.as_deref(),
        Some(&*format!("built from source revision {rev}"))
    );
    assert!(p
        .annotations
        .iter()
        .any(|a| a.comment == format!("source-revision: {rev}")));
    let file = dir.path().join("sbom.spdx.json");
    std::fs::write(&file, doc.to_json().unwrap()).unwrap();
    validate(&file).unwrap();
}
