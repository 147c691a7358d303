//! SBOM and provenance of `mk-compose bundle` (docs/sbom.md): inside the
//! ISO, listed in the signed MANIFEST, accepted by the real SPDX validator
//! (pyspdxtools), and a changed SBOM fails `mk-compose verify`.

mod common;
use common::{bundle, extract_iso, keygen, mk, run_ok, text};

use std::path::Path;
use std::process::Command;

fn site(root: &Path) {
    let rpms = root.join("rpms");
    std::fs::create_dir_all(&rpms).unwrap();
    for p in mk_synthrpm::example::example_packages() {
        p.write_to_dir(&rpms).unwrap();
    }
    keygen(root);
    std::fs::write(
        root.join("node.ks"),
        "%packages\nexample-kubeadm\nexample-etcd\n%end\n",
    )
    .unwrap();
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn bundle_carries_a_valid_signed_sbom_and_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    site(root);
    run_ok(&mut bundle(
        root,
        &root.join("rpms"),
        &root.join("node.ks"),
        &root.join("a.iso"),
    ));
    let tree = root.join("tree");
    extract_iso(&root.join("a.iso"), &tree);

    // Listed in the MANIFEST (so under its signature) with the right digests.
    let manifest = std::fs::read_to_string(tree.join("MANIFEST")).unwrap();
    for f in ["sbom.spdx.json", "provenance.json"] {
        let line = format!("{}  {f}", sha256_hex(&tree.join(f)));
        assert!(
            manifest.lines().any(|l| l == line),
            "{line} not in MANIFEST:\n{manifest}"
        );
    }

    // The real validator accepts it.
    let o = Command::new("pyspdxtools")
        .arg("-i")
        .arg(tree.join("sbom.spdx.json"))
        .output()
        .expect("pyspdxtools (pip install spdx-tools)");
    let out = text(&o);
    assert!(
        o.status.success() && !out.contains("ValidationMessage"),
        "{out}"
    );

    // Every bundled RPM, by SHA-256, with its NEVRA in the purl.
    let doc =
        mk_sbom::Document::from_json(&std::fs::read(tree.join("sbom.spdx.json")).unwrap()).unwrap();
    let packages: Vec<_> = std::fs::read_dir(tree.join("repo/Packages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!packages.is_empty());
    for rpm in &packages {
        let sha = sha256_hex(rpm);
        let p = doc
            .packages
            .iter()
            .find(|p| p.sha256() == Some(sha.as_str()))
            .unwrap_or_else(|| panic!("{} not in the SBOM", rpm.display()));
        let file = rpm.file_name().unwrap().to_string_lossy();
        assert_eq!(p.package_file_name.as_deref(), Some(&*file));
        assert!(p.purl().unwrap().starts_with("pkg:rpm/"), "{:?}", p.purl());
    }
    assert_eq!(doc.packages.len(), packages.len() + 1);
    assert_eq!(doc.creation_info.created, "2023-11-14T22:13:20Z");

    // Provenance: the kickstart's digest in, the SBOM's digest out.
    let prov = mk_sbom::Provenance::from_json(
        &std::fs::read(tree.join("provenance.json")).unwrap(),
        "provenance.json",
    )
    .unwrap();
    let ks = prov.inputs.iter().find(|a| a.kind == "kickstart").unwrap();
    assert_eq!(
        ks.digest,
        format!("sha256:{}", sha256_hex(&root.join("node.ks")))
    );
    assert_eq!(
        prov.inputs.iter().filter(|a| a.kind == "rpm").count(),
        packages.len()
    );
    let sbom = prov.outputs.iter().find(|a| a.kind == "sbom").unwrap();
    assert_eq!(
        sbom.digest,
        format!("sha256:{}", sha256_hex(&tree.join("sbom.spdx.json")))
    );
    assert_eq!(prov.parameters["role-config-schema"], "mk.dev/v1alpha1");
}

#[test]
fn verify_refuses_a_changed_sbom() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    site(root);
    let iso = root.join("a.iso");
    run_ok(&mut bundle(
        root,
        &root.join("rpms"),
        &root.join("node.ks"),
        &iso,
    ));
    // Change one byte of the SBOM's data, where xorriso says it is.
    let out = Command::new("xorriso")
        .args(["-no_rc", "-indev"])
        .arg(&iso)
        .args(["-find", "/sbom.spdx.json", "-exec", "report_lba"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.starts_with("File data lba:"))
        .unwrap_or_else(|| panic!("no sbom.spdx.json in the ISO: {stdout}"));
    let lba: usize = line.split(',').nth(1).unwrap().trim().parse().unwrap();
    let mut bytes = std::fs::read(&iso).unwrap();
    // Inside "SPDX-2.3" near the start: still JSON-shaped, a silent lie.
    bytes[lba * 2048 + 20] ^= 0x01;
    std::fs::write(&iso, bytes).unwrap();
    let o = mk()
        .arg("verify")
        .arg(&iso)
        .arg("--trust")
        .arg(root.join("keys/mk.pub"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("changed: sbom.spdx.json"), "{}", text(&o));
}
