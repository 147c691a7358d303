//! `mk-compose token create` and `token hash` as an admin runs them: the
//! token's format and expiry, the YAML pasting into role configs that
//! parse, `--ttl` mistakes named by flag, and the CA hash equal to what
//! kubeadm's documented openssl pipeline prints.

mod common;
use common::{mk, run_err, run_ok, text};

use std::path::Path;
use std::process::Command;

use mk_compose::cmd::token::{expiry, parse_ttl};
use mk_roleconfig::expiry_text as rfc3339;
use time::OffsetDateTime;

fn is_token(t: &str) -> bool {
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    t.split_once('.')
        .is_some_and(|(a, b)| ok(a, 6) && ok(b, 16))
}

/// The value after `key: ` on the first line that has it.
fn field<'a>(yaml: &'a str, key: &str) -> &'a str {
    yaml.lines()
        .find_map(|l| l.trim_start().trim_start_matches("- ").strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in\n{yaml}"))
        .trim()
}

fn parse_time(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(
        s.trim_matches('"'),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

/// Role configs with the snippet pasted under `spec` (indented), parsed by
/// mk-roleconfig: the keys are the schema's (it denies unknown fields).
fn pasted(snippet: &str) -> (mk_roleconfig::NodeConfig, mk_roleconfig::NodeConfig) {
    let (boot, worker) = snippet.split_once("# joining worker").unwrap();
    let worker = format!("# joining worker{worker}");
    let indent = |s: &str| s.lines().map(|l| format!("  {l}\n")).collect::<String>();
    let config = |roles: &str, extra: &str| {
        let yaml = format!(
            "apiVersion: mk.dev/v1alpha1\nkind: NodeConfig\nmetadata: {{name: n1.example.com}}\n\
             spec:\n  roles: [{roles}]\n  cluster:\n    name: lab\n    domain: example.com\n    \
             apiEndpoint: {{dnsName: api.example.com}}\n  planes:\n    control: {{cidr: 10.0.0.0/24}}\n{}",
            indent(extra)
        );
        match mk_roleconfig::parse_document(yaml.as_bytes(), "t.yaml") {
            Ok(mk_roleconfig::Document::Single(c)) => *c,
            other => panic!("{other:?}\n{yaml}"),
        }
    };
    (
        config("bootstrap-control-plane", boot),
        config("worker", &worker),
    )
}

#[test]
fn create_prints_a_token_with_its_expiry_as_role_config_yaml() {
    let before = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let o = run_ok(mk().args(["token", "create"]));
    let after = OffsetDateTime::now_utc();
    let out = String::from_utf8(o.stdout).unwrap();
    let token = field(&out, "token:");
    assert!(is_token(token), "{out}");
    // Default --ttl 24h, whole seconds, UTC.
    let expires = field(&out, "expires:");
    assert!(expires.ends_with("Z\""), "{out}");
    let t = parse_time(expires);
    assert!(
        t >= before + time::Duration::hours(24) && t <= after + time::Duration::hours(24),
        "{expires} not 24h after {before}..{after}"
    );
    assert!(out.contains(&format!("valid 24h (until {})", expires.trim_matches('"'))));
    // Both halves carry the same token; the worker is told where the hash comes from.
    assert_eq!(out.matches(token).count(), 2, "{out}");
    assert!(out.contains("mk-compose token hash --ca"), "{out}");
    let (boot, worker) = pasted(&out);
    assert_eq!(boot.spec.bootstrap_tokens[0].token, token);
    assert_eq!(
        boot.spec.bootstrap_tokens[0].expires,
        expires.trim_matches('"')
    );
    assert_eq!(boot.spec.bootstrap_tokens[0].description, None);
    assert_eq!(worker.spec.join.as_ref().unwrap().token, token);
    // Secret: stdout only.
    assert!(!String::from_utf8_lossy(&o.stderr).contains(token));
}

#[test]
fn create_with_ttl_description_and_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, reference_ca_pem()).unwrap();
    let before = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let o = run_ok(
        mk().args(["token", "create", "--ttl", "1h30m", "--description"])
            .arg("rack \"2\": workers\\ \u{e9}")
            .arg("--ca")
            .arg(&ca),
    );
    let after = OffsetDateTime::now_utc();
    let out = String::from_utf8(o.stdout).unwrap();
    let t = parse_time(field(&out, "expires:"));
    let ttl = time::Duration::minutes(90);
    assert!(t >= before + ttl && t <= after + ttl, "{out}");
    let (boot, worker) = pasted(&out);
    assert_eq!(
        boot.spec.bootstrap_tokens[0].description.as_deref(),
        Some("rack \"2\": workers\\ \u{e9}")
    );
    assert_eq!(
        worker.spec.join.unwrap().ca_cert_hashes,
        [openssl_hash(&ca)]
    );
}

#[test]
fn tokens_are_random_over_the_whole_alphabet() {
    let mut seen = std::collections::BTreeSet::new();
    let mut chars = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let t = mk_compose::cmd::token::generate().unwrap();
        assert!(is_token(&t), "{t}");
        chars.extend(t.chars().filter(|c| *c != '.'));
        assert!(seen.insert(t));
    }
    // 6600 draws from 36 characters: every one appears.
    assert_eq!(chars.len(), 36, "{chars:?}");
}

#[test]
fn ttl_arithmetic() {
    let now = parse_time("2026-12-07T10:00:00.75Z");
    let at = |ttl: &str| rfc3339(expiry(now, &parse_ttl(ttl).unwrap()));
    assert_eq!(at("24h"), "2026-12-08T10:00:00Z");
    assert_eq!(at("1h30m"), "2026-12-07T11:30:00Z");
    assert_eq!(at("90m"), "2026-12-07T11:30:00Z");
    assert_eq!(at("45s"), "2026-12-07T10:00:45Z");
    assert_eq!(at("2h0m30s"), "2026-12-07T12:00:30Z");
    // Across a year's end, and an offset clock printed in UTC.
    let eve = parse_time("2026-12-31T23:30:00+01:00");
    assert_eq!(
        rfc3339(expiry(eve, &parse_ttl("48h").unwrap())),
        "2027-01-02T22:30:00Z"
    );
    assert_eq!(
        parse_ttl("8760h").unwrap().duration,
        time::Duration::days(365)
    );
    for bad in [
        "",
        "24",
        "h",
        "1d",
        "24H",
        "-1h",
        "1.5h",
        "1h 30m",
        "99999999999h",
    ] {
        assert!(parse_ttl(bad).is_err(), "{bad:?} accepted");
    }
    assert!(parse_ttl("0").unwrap_err().contains("expected a duration"));
    assert!(parse_ttl("0h").unwrap_err().contains("always expire"));
    assert!(parse_ttl("8761h")
        .unwrap_err()
        .contains("longer than 8760 h"));
}

#[test]
fn a_bad_ttl_names_the_flag() {
    for (ttl, says) in [
        ("3d", "expected a duration such as 24h"),
        ("0s", "always expire"),
        ("10000h", "longer than"),
    ] {
        let e = run_err(mk().args(["token", "create", "--ttl", ttl]));
        assert!(e.contains("--ttl"), "{ttl}: {e}");
        assert!(e.contains(says), "{ttl}: {e}");
    }
}

fn reference_ca_pem() -> String {
    // The CA of the reference kubeadm cluster (RSA 2048, as kubeadm makes it).
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/kubeadm-1.28.7/api/configmap-kube-public-cluster-info.yaml");
    let yaml = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let b64 = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap();
    let out = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b64.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// kubeadm's documented pipeline, with the real openssl.
fn openssl_hash(ca: &Path) -> String {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -noout -in '{}' | openssl pkey -pubin -outform der | sha256sum",
            ca.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let hex = String::from_utf8(o.stdout).unwrap();
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

fn hash(ca: &Path) -> String {
    let o = run_ok(mk().args(["token", "hash", "--ca"]).arg(ca));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn hash_equals_openssls_for_rsa_ec_and_ed25519_cas() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("kubeadm-ca.crt");
    std::fs::write(&reference, reference_ca_pem()).unwrap();
    let mut cas = vec![reference];
    for (name, key_args) in [
        ("ec", "-newkey ec -pkeyopt ec_paramgen_curve:P-256"),
        ("rsa", "-newkey rsa:2048"),
        ("ed25519", "-newkey ed25519"),
    ] {
        let ca = dir.path().join(format!("{name}.crt"));
        let key = dir.path().join(format!("{name}.key"));
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl req -x509 {key_args} -nodes -keyout '{}' -out '{}' -days 3 \
                 -subj /CN=kubernetes -addext basicConstraints=critical,CA:TRUE",
                key.display(),
                ca.display()
            ))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        cas.push(ca);
    }
    for ca in &cas {
        let h = hash(ca);
        assert_eq!(h, openssl_hash(ca), "{}", ca.display());
        assert_eq!(h.len(), 7 + 64);
    }
    // A file with the CA followed by another certificate: the first is hashed.
    let both = dir.path().join("both.crt");
    let text_of = |p: &Path| std::fs::read_to_string(p).unwrap();
    std::fs::write(&both, text_of(&cas[1]) + &text_of(&cas[0])).unwrap();
    let o = run_ok(mk().args(["token", "hash", "--ca"]).arg(&both));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        openssl_hash(&cas[1])
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("several certificates"));
}

#[test]
fn hash_of_something_else_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ca.key");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = run_err(mk().args(["token", "hash", "--ca"]).arg(&key));
    assert!(
        e.contains(&key.display().to_string()) && e.contains("CERTIFICATE"),
        "{e}"
    );
    let missing = dir.path().join("nope.crt");
    let e = run_err(mk().args(["token", "hash", "--ca"]).arg(&missing));
    assert!(e.contains("nope.crt"), "{e}");
    let e = run_err(mk().args(["token", "create", "--ca"]).arg(&missing));
    assert!(e.contains("nope.crt"), "{e}");
}

#[test]
fn token_commands_are_documented() {
    use clap::CommandFactory;
    let problems: Vec<String> = mk_clidoc::undocumented(&mk_compose::cli::Cli::command())
        .into_iter()
        .filter(|p| p.starts_with("mk-compose token"))
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
    let o = run_ok(mk().args(["token", "create", "--help"]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("mk-compose token create --ttl 24h"));
}
