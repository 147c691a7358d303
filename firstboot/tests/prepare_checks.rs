//! `run::prepare`'s refusals before anything is planned (issue 12): a
//! signature in every mode, `match` even with `--node`, a clock before the
//! signing time or the certificates, and config files too large to read.
//! Node roots in temp directories with a fake /sys; plans come from
//! `--plan` JSON so that only the checks are under test.

use std::path::{Path, PathBuf};

use mk_firstboot::errors;
use mk_firstboot::run::{self, Options};
use mk_minisign::SecretKey;
use mk_roleconfig::time::OffsetDateTime;

/// Two workers; w1 is the machine with MAC 52:54:00:00:00:11.
const LIST: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfigList
items:
  - apiVersion: mk.dev/v1alpha1
    kind: NodeConfig
    match: {macAddresses: [\"52:54:00:00:00:11\"]}
    metadata: {name: w1.example.com}
    spec: &spec
      roles: [worker]
      cluster:
        name: lab
        domain: example.com
        apiEndpoint: {dnsName: api.example.com}
      planes:
        control: {cidr: 10.0.0.0/24}
      join:
        token: abcdef.0123456789abcdef
        caCertHashes:
          - sha256:7d2e6c1f0b4f1f5e8a9c3b2d1e0f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f
  - apiVersion: mk.dev/v1alpha1
    kind: NodeConfig
    match: {macAddresses: [\"52:54:00:00:00:22\"]}
    metadata: {name: w2.example.com}
    spec: *spec
";

struct Node {
    dir: tempfile::TempDir,
    key: SecretKey,
}

impl Node {
    /// A node root with this machine's NIC, no trusted key yet.
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in ["sys/class/net/eth0", "sys/class/block", "dev", "proc"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("sys/class/net/eth0/address"), "52:54:00:00:00:11\n").unwrap();
        std::fs::write(r.join("proc/cmdline"), "ro quiet\n").unwrap();
        std::fs::write(r.join("plan.json"), r#"{"configDigest":"x","steps":[]}"#).unwrap();
        Node {
            dir,
            key: SecretKey::generate().unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn trust(&self, key: &SecretKey) {
        let d = self.root().join(run::TRUST_DIR);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("admin.pub"), key.public_key().to_file_text()).unwrap();
    }

    fn allow_unsigned(&self) {
        let p = self.root().join(run::ALLOW_UNSIGNED);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    /// Writes the config (and its signature by `key` with `comment`).
    fn config(&self, text: &str, signed: Option<(&SecretKey, &str)>) -> PathBuf {
        let p = self.root().join("node-config.yaml");
        std::fs::write(&p, text).unwrap();
        let sig = self.root().join("node-config.yaml.minisig");
        let _ = std::fs::remove_file(&sig);
        if let Some((key, comment)) = signed {
            let s = key.sign(text.as_bytes(), comment, "test").to_file_text();
            std::fs::write(&sig, s).unwrap();
        }
        p
    }

    fn options(&self, config: PathBuf) -> Options {
        let mut o = Options::new(self.root());
        o.config = Some(config);
        o.plan_file = Some(self.root().join("plan.json"));
        o.addresses = Some(vec!["10.0.0.11".parse().unwrap()]);
        o.now = at("2026-12-08T00:00:00Z");
        o
    }
}

fn at(t: &str) -> OffsetDateTime {
    OffsetDateTime::parse(
        t,
        &mk_roleconfig::time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

fn refusal(r: Result<run::Prepared, run::RunError>) -> String {
    match r {
        Ok(p) => panic!("accepted: {} ({})", p.config.metadata.name, p.signature),
        Err(e) => errors::one_line(&e),
    }
}

#[test]
fn a_signature_by_the_trusted_key_is_accepted() {
    let n = Node::new();
    n.trust(&n.key);
    let p = run::prepare(&n.options(n.config(LIST, Some((&n.key, "t")))), true).unwrap();
    assert_eq!(p.config.metadata.name, "w1.example.com");
    assert_eq!(
        p.signature,
        format!("signed by {}", n.key.public_key().key_id())
    );
}

#[test]
fn a_signature_by_another_key_is_refused_naming_both() {
    let n = Node::new();
    n.trust(&n.key);
    n.allow_unsigned();
    let other = SecretKey::generate().unwrap();
    let e = refusal(run::prepare(
        &n.options(n.config(LIST, Some((&other, "t")))),
        true,
    ));
    assert!(
        e.contains(&format!(
            "signed by key ID {}, which this image does not trust (trusted: {})",
            other.public_key().key_id(),
            n.key.public_key().key_id()
        )),
        "{e}"
    );
}

#[test]
fn a_config_changed_after_signing_is_refused_even_where_unsigned_is_allowed() {
    let n = Node::new();
    n.trust(&n.key);
    n.allow_unsigned();
    let cfg = n.config(LIST, Some((&n.key, "t")));
    std::fs::write(&cfg, LIST.replace("lab", "lab2")).unwrap();
    let e = refusal(run::prepare(&n.options(cfg), true));
    assert!(e.contains("node-config.yaml"), "{e}");
    assert!(!e.contains("unsigned"), "{e}");
}

#[test]
fn a_signature_this_image_cannot_check_is_refused_even_where_unsigned_is_allowed() {
    let n = Node::new();
    n.allow_unsigned();
    let cfg = n.config(LIST, Some((&n.key, "t")));
    let e = refusal(run::prepare(&n.options(cfg.clone()), true));
    let f = cfg.display();
    assert_eq!(
        e,
        format!(
            "{f}: signed, but this image has no trusted key to check the signature; remove \
             {f}.minisig to deliver it unsigned, or build the image with the key"
        )
    );
    // `plan` on the admin's machine (no keys) does not check it.
    let p = run::prepare(&n.options(cfg), false).unwrap();
    assert_eq!(p.signature, "signature not checked (no trusted keys)");
}

#[test]
fn an_unsigned_config_is_accepted_only_where_the_image_allows_it() {
    let n = Node::new();
    n.trust(&n.key);
    let cfg = n.config(LIST, None);
    let e = refusal(run::prepare(&n.options(cfg.clone()), true));
    assert!(e.contains("the role config is not signed"), "{e}");
    n.allow_unsigned();
    let p = run::prepare(&n.options(cfg), true).unwrap();
    assert_eq!(p.signature, "unsigned (allowed by this image)");
}

#[test]
fn node_picks_by_name_but_apply_still_checks_match() {
    let n = Node::new();
    n.trust(&n.key);
    let cfg = n.config(LIST, Some((&n.key, "t")));
    let mut o = n.options(cfg);
    o.node = Some("w2.example.com".into());
    // plan on the admin's machine: by name, whatever this machine is.
    assert_eq!(
        run::prepare(&o, false).unwrap().config.metadata.name,
        "w2.example.com"
    );
    // apply: w2's match is another machine's.
    let e = refusal(run::prepare(&o, true));
    assert!(
        e.starts_with("the config for w2.example.com is for another machine (match: "),
        "{e}"
    );
    assert!(e.contains("52:54:00:00:00:11"), "{e}");
    // Naming this machine's item is fine.
    o.node = Some("w1.example.com".into());
    assert_eq!(
        run::prepare(&o, true).unwrap().config.metadata.name,
        "w1.example.com"
    );
}

#[test]
fn a_node_clock_before_the_signing_time_is_refused() {
    let n = Node::new();
    n.trust(&n.key);
    let comment = "mk role config sha256:00 for w1.example.com signed=2026-12-07T06:40:00Z";
    let mut o = n.options(n.config(LIST, Some((&n.key, comment))));
    o.now = at("2026-01-01T00:00:00Z");
    let e = refusal(run::prepare(&o, true));
    assert_eq!(
        e,
        "this node's clock (2026-01-01T00:00:00Z) is before the config was signed \
         (2026-12-07T06:40:00Z): set the hardware clock (hwclock) or give the node an NTP \
         server (the image recipe's `timezone --ntpservers`); TLS would fail in every component"
    );
    // Within 5 minutes of the signing time: drift, accepted.
    o.now = at("2026-12-07T06:36:00Z");
    run::prepare(&o, true).unwrap();
    // A comment without a time (minisign by hand) is not checked.
    let mut o = n.options(n.config(LIST, Some((&n.key, "by hand"))));
    o.now = at("2026-01-01T00:00:00Z");
    run::prepare(&o, true).unwrap();
}

#[test]
fn signing_times_are_read_from_the_trusted_comment() {
    assert_eq!(
        run::signing_time("mk role config sha256:ab for a,b signed=2026-12-07T06:40:00Z"),
        Some(at("2026-12-07T06:40:00Z"))
    );
    assert_eq!(run::signing_time("mk role config sha256:ab for a,b"), None);
    assert_eq!(run::signing_time("signed=yesterday"), None);
}

#[test]
fn a_node_clock_long_before_a_certificate_begins_is_refused() {
    use mk_pki::issue::{self, Ca};
    use mk_pki::{KeyAlgorithm, PrivateKey, Realm};
    let begins = at("2026-12-01T00:00:00Z");
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let root = Ca::new(
        issue::root(Realm::Kubernetes, &key, begins, 30).unwrap(),
        key,
        "root",
    )
    .unwrap();
    let pem = root.cert_pem();
    let mut certs = std::collections::BTreeMap::new();
    certs.insert("ca.crt".to_string(), pem);
    let (file, _, not_before) = mk_roleconfig::pki::latest_not_before(&certs).unwrap();
    assert_eq!(file, "ca.crt");
    assert!(not_before <= begins + mk_roleconfig::time::Duration::minutes(1));

    let n = Node::new();
    n.trust(&n.key);
    let text = LIST.replacen(
        "      roles: [worker]\n",
        &format!(
            "      roles: [worker]\n      certificates:\n        ca.crt: |\n{}",
            certs["ca.crt"]
                .lines()
                .map(|l| format!("          {l}\n"))
                .collect::<String>()
        ),
        1,
    );
    let mut o = n.options(n.config(&text, Some((&n.key, "t"))));
    o.now = not_before - mk_roleconfig::time::Duration::hours(2);
    let e = refusal(run::prepare(&o, true));
    assert!(
        e.starts_with(&format!(
            "this node's clock ({}) is before certificate ",
            mk_roleconfig::time::OffsetDateTime::format(
                o.now,
                &mk_roleconfig::time::format_description::well_known::Rfc3339
            )
            .unwrap()
        )),
        "{e}"
    );
    assert!(
        e.contains("(spec.certificates[\"ca.crt\"]) becomes valid"),
        "{e}"
    );
    assert!(e.contains("hwclock"), "{e}");
    // Half an hour early: issuers backdate, clocks drift; accepted.
    o.now = not_before - mk_roleconfig::time::Duration::minutes(30);
    run::prepare(&o, true).unwrap();
}

#[test]
fn oversized_config_files_are_refused_unread() {
    let n = Node::new();
    n.allow_unsigned();
    let cfg = n.root().join("node-config.yaml");
    // Sparse: 200 MB by metadata, nothing written; reading it whole would
    // take 200 MB of memory.
    std::fs::File::create(&cfg)
        .unwrap()
        .set_len(200 << 20)
        .unwrap();
    let e = refusal(run::prepare(&n.options(cfg.clone()), true));
    assert_eq!(
        e,
        format!(
            "{}: 209715200 bytes: larger than the 16777216 bytes allowed",
            cfg.display()
        )
    );
    // A signature file that is no signature.
    std::fs::write(&cfg, LIST).unwrap();
    let sig = n.root().join("node-config.yaml.minisig");
    std::fs::File::create(&sig)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let e = refusal(run::prepare(&n.options(cfg), true));
    assert_eq!(
        e,
        format!(
            "{}: 1048576 bytes: larger than the 65536 bytes allowed",
            sig.display()
        )
    );
}
