use super::*;

/// Two workers, w1.example.com and w2.example.com, no certificates.
const EXAMPLE: &str = include_str!("../../../examples/site/node-config.yaml");
const PEM: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

fn list() -> Draft {
    Draft::parse(EXAMPLE.as_bytes().to_vec(), "rack1.yaml").unwrap()
}

/// The first worker alone, as a single NodeConfig file.
fn single() -> Draft {
    let yaml = serde_norway::to_string(list().doc.configs()[0]).unwrap();
    Draft::parse(yaml.into_bytes(), "w1.yaml").unwrap()
}

fn tree(paths: &[&str]) -> BTreeMap<String, String> {
    paths
        .iter()
        .map(|p| (p.to_string(), PEM.to_string()))
        .collect()
}

fn certificates(d: &Draft, node: &str) -> Vec<String> {
    let c = d.doc.configs();
    let c = c.iter().find(|c| c.metadata.name == node).unwrap();
    c.spec.certificates.keys().cloned().collect()
}

#[test]
fn pki_dir_names_its_node_or_none() {
    assert_eq!(
        PkiDir::parse("w1.example.com=out/w1"),
        PkiDir {
            spec: "w1.example.com=out/w1".into(),
            node: Some("w1.example.com".into()),
            dir: "out/w1".into(),
        }
    );
    let bare = PkiDir::parse("out/w1");
    assert_eq!((bare.node, bare.dir), (None, PathBuf::from("out/w1")));
}

#[test]
fn issue_node_paths_map_to_certificate_keys() {
    assert_eq!(
        certificate_key("etc/kubernetes/pki/etcd/ca.crt").as_deref(),
        Some("etcd/ca.crt")
    );
    assert_eq!(
        certificate_key("var/lib/kubelet/pki/kubelet.crt").as_deref(),
        Some("kubelet/kubelet.crt")
    );
    assert_eq!(certificate_key("etc/mk/pki.yaml"), None);
    assert_eq!(certificate_key("etc/kubernetes/admin.conf"), None);
}

#[test]
fn a_config_without_certificates_is_signed_as_written() {
    let c = list().check(now()).unwrap();
    assert_eq!(c.bytes(), EXAMPLE.as_bytes());
    assert_eq!(c.nodes(), ["w1.example.com", "w2.example.com"]);
    assert_eq!(c.digest(), hex::encode(Sha256::digest(EXAMPLE.as_bytes())));
    assert_eq!(
        c.trusted_comment(),
        format!(
            "mk role config sha256:{} for w1.example.com,w2.example.com",
            c.digest()
        )
    );
}

#[test]
fn certificates_go_to_the_named_node_and_the_manifest_stays_behind() {
    let mut d = list();
    let pki = PkiDir::parse("w2.example.com=drive/w2");
    d.add_certificates(
        &pki,
        tree(&[
            "etc/kubernetes/pki/ca.crt",
            "var/lib/kubelet/pki/kubelet.crt",
            "etc/mk/pki.yaml",
        ]),
    )
    .unwrap();
    assert_eq!(
        certificates(&d, "w2.example.com"),
        ["ca.crt", "kubelet/kubelet.crt"]
    );
    assert!(certificates(&d, "w1.example.com").is_empty());
    // Filled in: rewritten, with a header saying so.
    assert!(d.filled);

    let mut s = single();
    s.add_certificates(
        &PkiDir::parse("drive/w1"),
        tree(&["etc/kubernetes/pki/ca.crt"]),
    )
    .unwrap();
    assert_eq!(certificates(&s, "w1.example.com"), ["ca.crt"]);
}

#[test]
fn a_filled_config_is_rewritten_with_a_header() {
    let mut d = list();
    // The renewal manifest alone adds nothing, but the file is still rewritten.
    d.add_certificates(
        &PkiDir::parse("w1.example.com=drive/w1"),
        tree(&["etc/mk/pki.yaml"]),
    )
    .unwrap();
    let c = d.check(now()).unwrap();
    let text = std::str::from_utf8(c.bytes()).unwrap();
    assert!(text.starts_with(FILLED_HEADER), "{text}");
    assert!(!text.contains("# Each machine picks"), "{text}");
    assert_eq!(c.nodes(), ["w1.example.com", "w2.example.com"]);
}

#[test]
fn pki_dirs_that_fit_no_node_are_refused() {
    let files = || tree(&["etc/kubernetes/pki/ca.crt"]);
    let err = |mut d: Draft, spec: &str, files| {
        d.add_certificates(&PkiDir::parse(spec), files)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(list(), "drive/w1", files()),
        "--pki-dir drive/w1: rack1.yaml is a NodeConfigList; say which node: --pki-dir NAME=DIR"
    );
    assert_eq!(
        err(list(), "w3.example.com=drive/w3", files()),
        "--pki-dir w3.example.com=drive/w3: rack1.yaml has no config named w3.example.com"
    );
    assert_eq!(
        err(single(), "w2.example.com=drive/w2", files()),
        "--pki-dir w2.example.com=drive/w2: w1.yaml is the config of w1.example.com, not w2.example.com"
    );
    assert_eq!(
        err(list(), "w1.example.com=drive/w1", BTreeMap::new()),
        "--pki-dir w1.example.com=drive/w1: no files under drive/w1 \
         (expected the tree of `mk-compose pki issue-node`)"
    );
    assert_eq!(
        err(
            single(),
            "drive/w1",
            tree(&["etc/kubernetes/admin.conf"])
        ),
        "--pki-dir drive/w1: etc/kubernetes/admin.conf: not under etc/kubernetes/pki or var/lib/kubelet/pki"
    );
}

#[test]
fn a_pki_dir_is_read_from_disk_by_relative_path() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    for rel in [
        "etc/kubernetes/pki/etcd/ca.crt",
        "var/lib/kubelet/pki/kubelet.crt",
    ] {
        std::fs::create_dir_all(base.join(rel).parent().unwrap()).unwrap();
        std::fs::write(base.join(rel), PEM).unwrap();
    }
    let files = read_tree(base).unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [
            "etc/kubernetes/pki/etcd/ca.crt",
            "var/lib/kubelet/pki/kubelet.crt"
        ]
    );
    let mut s = single();
    s.add_pki_dir(&PkiDir::parse(&base.display().to_string()))
        .unwrap();
    assert_eq!(
        certificates(&s, "w1.example.com"),
        ["etcd/ca.crt", "kubelet/kubelet.crt"]
    );
    // A wrong node is named before the tree is read.
    let e = list()
        .add_pki_dir(&PkiDir::parse("w9=/nonexistent"))
        .unwrap_err();
    assert!(matches!(e, Error::NoSuchNode { .. }), "{e}");
    let e = single()
        .add_pki_dir(&PkiDir::parse("/nonexistent"))
        .unwrap_err();
    assert_eq!(e.to_string(), "reading /nonexistent");
}

#[test]
fn a_bad_config_is_refused_naming_the_file() {
    let bad = EXAMPLE.replacen("name: w1.example.com", "name: 10.0.0.11", 1);
    let d = Draft::parse(bad.into_bytes(), "bad.yaml").unwrap();
    let e = d.check(now()).unwrap_err();
    assert_eq!(e.to_string(), "bad.yaml: 1 problem(s); no drive written");
    let Error::Invalid { file, problems } = e else {
        panic!("{e:?}")
    };
    assert_eq!(file, "bad.yaml");
    let p = problems[0].to_string();
    assert!(
        p.contains(
            "items[0].metadata.name: \"10.0.0.11\": IP address where a DNS name is required"
        ),
        "{p}"
    );

    let e = Draft::parse(b"kind: [".to_vec(), "broken.yaml").unwrap_err();
    assert!(e.to_string().contains("broken.yaml"), "{e}");
    let e = Draft::read(Path::new("/nonexistent/c.yaml")).unwrap_err();
    assert_eq!(e.to_string(), "reading /nonexistent/c.yaml");
}

#[test]
fn the_drive_holds_the_config_and_a_signature_that_verifies() {
    let key = SecretKey::generate().unwrap();
    let drive = list().check(now()).unwrap().sign(&key);
    let [(config_name, config), (sig_name, sig)] = drive.files();
    assert_eq!((config_name, sig_name), (CONFIG_NAME, SIGNATURE_NAME));
    assert_eq!(config, EXAMPLE.as_bytes());
    let verified =
        mk_roleconfig::verify_signed(config, Some(sig), &[key.public_key()], false, CONFIG_NAME)
            .unwrap();
    assert!(
        matches!(verified, mk_roleconfig::Verified::Signed { key_id, .. } if key_id == key.key_id())
    );
    let text = std::str::from_utf8(sig).unwrap();
    assert!(
        text.contains(&format!(
            "trusted comment: {}",
            drive.config().trusted_comment()
        )),
        "{text}"
    );
}

#[test]
fn fat_drives_are_whole_mebibytes_of_at_least_two() {
    const MIB: u64 = 1 << 20;
    assert_eq!(write::fat_size(0), 2 * MIB);
    assert_eq!(write::fat_size(4000), 2 * MIB);
    assert_eq!(write::fat_size(MIB as usize), 3 * MIB);
    assert_eq!(write::fat_size(5 * MIB as usize / 2), 6 * MIB);
}

#[test]
fn the_signature_states_when_it_was_made() {
    let c = list().check(now()).unwrap();
    let at = OffsetDateTime::from_unix_timestamp(1_796_625_600).unwrap()
        + std::time::Duration::from_millis(250);
    assert_eq!(
        c.trusted_comment_at(at),
        format!(
            "mk role config sha256:{} for w1.example.com,w2.example.com signed=2026-12-07T06:40:00Z",
            c.digest()
        )
    );
    let key = SecretKey::generate().unwrap();
    let drive = c.sign_at(&key, at);
    let [(_, config), (_, sig)] = drive.files();
    let v =
        mk_roleconfig::verify_signed(config, Some(sig), &[key.public_key()], false, "c").unwrap();
    let mk_roleconfig::Verified::Signed {
        trusted_comment, ..
    } = v
    else {
        panic!("{v:?}");
    };
    assert!(
        trusted_comment.ends_with(" signed=2026-12-07T06:40:00Z"),
        "{trusted_comment}"
    );
}
