//! `<out>.spdx.json` and `<out>.provenance.json` of a node image, from the
//! inputs `mk-compose image` passes (a repository of real CentOS RPMs, a
//! generated package, recipe, kickstart, output digests): valid for the
//! SPDX validator, and the same inputs give the same bytes.

use mk_sbom::image::{read_repo, write_image_records, ImageRecord};
use mk_sbom::{Document, Provenance};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Inputs {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repos: Vec<(PathBuf, Vec<mk_rpmrepo::Package>)>,
    installed: Vec<String>,
}

fn inputs() -> Inputs {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let src = mk_fixtures::fixture("el7-base");
    for name in [
        "cpio-2.11-28.el7.x86_64.rpm",
        "gmp-6.0.0-15.el7.x86_64.rpm",
        "pcre-8.32-17.el7.x86_64.rpm",
    ] {
        std::fs::copy(src.join(name), repo.join(name)).unwrap();
    }
    std::fs::write(root.join("image.yaml"), "kickstart: node.ks\n").unwrap();
    std::fs::write(root.join("node.ks"), "%packages\ncpio\n%end\n").unwrap();
    std::fs::write(root.join("node.raw"), b"disk").unwrap();
    let packages = read_repo(&repo).unwrap();
    let mut installed: Vec<String> = packages.iter().map(|p| p.nevra()).collect();
    installed.push("mk-settings-0.1-1.noarch".into());
    Inputs {
        _dir: dir,
        root,
        repos: vec![(repo, packages)],
        installed,
    }
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

fn write(i: &Inputs, raw_sha: &str) -> (Vec<u8>, Vec<u8>) {
    let recipe = i.root.join("image.yaml");
    let ks = i.root.join("node.ks");
    let out = i.root.join("node.raw");
    let r = ImageRecord {
        name: "node",
        version: "0.1.0",
        tool: "mk-compose-0.1.0",
        source_date_epoch: 1_700_000_000,
        installed: &i.installed,
        repos: &i.repos,
        recipe: &recipe,
        kickstart: &ks,
        outputs: vec![("raw", out.clone(), raw_sha.to_string())],
        parameters: vec![("image-inputs-key".into(), "00".repeat(32))],
    };
    let (s, p) = write_image_records(&out, &r).unwrap();
    assert_eq!(s, i.root.join("node.raw.spdx.json"));
    assert_eq!(p, i.root.join("node.raw.provenance.json"));
    (std::fs::read(s).unwrap(), std::fs::read(p).unwrap())
}

#[test]
fn image_sbom_is_valid_and_lists_every_installed_rpm() {
    let i = inputs();
    let raw = sha256_hex(&i.root.join("node.raw"));
    write(&i, &raw);
    let o = Command::new("pyspdxtools")
        .arg("-i")
        .arg(i.root.join("node.raw.spdx.json"))
        .output()
        .expect("pyspdxtools (pip install spdx-tools)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() && !text.contains("ValidationMessage"),
        "{text}"
    );

    let doc =
        Document::from_json(&std::fs::read(i.root.join("node.raw.spdx.json")).unwrap()).unwrap();
    assert_eq!(
        doc.packages[0].sha256(),
        Some(raw.as_str()),
        "the image itself, by its raw digest"
    );
    for (dir, packages) in &i.repos {
        for p in packages {
            let sha = sha256_hex(&dir.join(&p.location));
            assert!(
                doc.packages
                    .iter()
                    .any(|q| q.sha256() == Some(sha.as_str())),
                "{}",
                p.nevra()
            );
        }
    }
    // The generated package is listed by name, without a digest to claim.
    let g = doc
        .packages
        .iter()
        .find(|p| p.name == "mk-settings")
        .unwrap();
    assert!(g.checksums.is_empty());

    let prov = Provenance::from_json(
        &std::fs::read(i.root.join("node.raw.provenance.json")).unwrap(),
        "node.raw.provenance.json",
    )
    .unwrap();
    assert_eq!(prov.builder, "mk-compose 0.1.0");
    // Not secret: readable by whoever may read the image.
    use std::os::unix::fs::PermissionsExt;
    for f in ["node.raw.spdx.json", "node.raw.provenance.json"] {
        let mode = std::fs::metadata(i.root.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{f}");
    }
    let sbom = prov.outputs.iter().find(|a| a.kind == "sbom").unwrap();
    assert_eq!(sbom.name, "node.raw.spdx.json");
    assert_eq!(
        sbom.digest,
        format!("sha256:{}", sha256_hex(&i.root.join("node.raw.spdx.json")))
    );
    let out = prov.outputs.iter().find(|a| a.kind == "raw").unwrap();
    assert_eq!(out.digest, format!("sha256:{raw}"));
    let recipe = prov.inputs.iter().find(|a| a.kind == "recipe").unwrap();
    assert_eq!(
        recipe.digest,
        format!("sha256:{}", sha256_hex(&i.root.join("image.yaml")))
    );
    assert_eq!(prov.inputs.iter().filter(|a| a.kind == "rpm").count(), 3);
}

#[test]
fn same_inputs_give_identical_records() {
    let i = inputs();
    let a = write(&i, &"11".repeat(32));
    let b = write(&i, &"11".repeat(32));
    assert!(a == b, "two writes from the same inputs differ");
    // Another output digest: a different SBOM (subject checksum) and provenance.
    let c = write(&i, &"22".repeat(32));
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
}
