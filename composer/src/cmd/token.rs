//! `mk-compose token`: bootstrap tokens for workers that join with
//! `spec.join.token`, minted on the admin's machine (there is no cluster
//! to ask: the bootstrap control plane creates the tokens its config
//! lists), and the CA hash a joining worker checks discovery against.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use time::OffsetDateTime;

#[derive(clap::Args)]
#[command(
    about = "Bootstrap tokens for joining workers, and the CA hash they check",
    after_help = "Example:\n  mk-compose token create --ttl 24h --description rack2 --ca pki/roots/kubernetes.crt\n  mk-compose token hash --ca pki/roots/kubernetes.crt\n\nPaste the token into the bootstrap control plane's spec.bootstrapTokens (it\ncreates it in the cluster) and into the worker's spec.join, then write both\nconfig drives. A worker that first boots after the token expired is refused\n(docs/firstboot.md, \"Workers joining with a token\")."
)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Mint a random bootstrap token and print it as role-config YAML.
    #[command(
        after_help = "Example:\n  mk-compose token create --ttl 24h\n  mk-compose token create --ttl 2h30m --description \"rack 2 workers\" --ca pki/roots/kubernetes.crt\n\nThe token is a secret: it goes to stdout only, as the YAML to paste into the\nbootstrap control plane's spec and the joining worker's spec. It comes from\n/dev/urandom."
    )]
    Create(CreateArgs),
    /// Print `sha256:<hex>` of a CA certificate's public key, for spec.join.caCertHashes.
    #[command(
        after_help = "Example:\n  mk-compose token hash --ca pki/roots/kubernetes.crt\n\nThe same as kubeadm's --discovery-token-ca-cert-hash:\n  openssl x509 -pubkey -noout -in ca.crt | openssl pkey -pubin -outform der | sha256sum"
    )]
    Hash(HashArgs),
}

#[derive(clap::Args)]
struct CreateArgs {
    /// How long the token works: hours, minutes, seconds (24h, 90m, 1h30m; no 0: tokens must expire)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_ttl)]
    ttl: Ttl,
    /// Free text stored with the token's Secret (kubectl -n kube-system get secret)
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// The cluster CA (pki/roots/kubernetes.crt): fills in the worker's caCertHashes
    #[arg(long, value_name = "CA.crt")]
    ca: Option<PathBuf>,
}

#[derive(clap::Args)]
struct HashArgs {
    /// The cluster CA certificate, PEM (pki/roots/kubernetes.crt, or a node's /etc/kubernetes/pki/ca.crt)
    #[arg(long, value_name = "CA.crt")]
    ca: PathBuf,
}

/// A `--ttl` as given and as a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ttl {
    pub text: String,
    pub duration: time::Duration,
}

/// The longest `--ttl`: a year. A token is a shared secret that lets
/// anyone holding it join a node; one meant to live longer is a mistake.
pub const MAX_TTL: time::Duration = time::Duration::days(365);

/// Go's duration syntax, restricted to what a token's life needs: one or
/// more `<integer><unit>` with unit `h`, `m` or `s` (`24h`, `1h30m`).
pub fn parse_ttl(text: &str) -> Result<Ttl, String> {
    let bad = || format!("expected a duration such as 24h, 90m or 1h30m, got {text:?}");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut seconds: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = match rest.as_bytes().get(digits) {
            Some(b'h') => 3600,
            Some(b'm') => 60,
            Some(b's') => 1,
            _ => return Err(bad()),
        };
        seconds = seconds.saturating_add(n.saturating_mul(unit));
        rest = &rest[digits + 1..];
    }
    let duration = time::Duration::seconds(seconds);
    if duration.is_zero() {
        return Err(
            "0: mk's bootstrap tokens always expire (spec.bootstrapTokens[].expires); give a \
             duration such as 24h"
                .into(),
        );
    }
    if duration > MAX_TTL {
        return Err(format!(
            "{text:?} is longer than {} h: a token lets anyone holding it join a node; mint \
             a new one when needed",
            MAX_TTL.whole_hours()
        ));
    }
    Ok(Ttl {
        text: text.trim().to_string(),
        duration,
    })
}

/// When a token minted at `now` with `ttl` expires, in whole seconds (the
/// Secret's `expiration` is RFC 3339 without fractions).
pub fn expiry(now: OffsetDateTime, ttl: &Ttl) -> OffsetDateTime {
    now.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
        + ttl.duration
}

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `[a-z0-9]{6}.[a-z0-9]{16}`, uniform over the alphabet: bytes from
/// /dev/urandom (mk-pki's source, no getrandom(2) needed), those at or
/// above 252 (7 × 36) dropped so that no character is more likely.
pub fn generate() -> anyhow::Result<String> {
    let mut chars = Vec::with_capacity(22);
    while chars.len() < 22 {
        let bytes = mk_pki::entropy::bytes::<32>()?;
        chars.extend(
            bytes
                .iter()
                .filter(|b| **b < 252)
                .map(|b| ALPHABET[usize::from(*b % 36)]),
        );
    }
    let text = String::from_utf8(chars[..22].to_vec()).expect("ASCII");
    Ok(format!("{}.{}", &text[..6], &text[6..]))
}

/// The YAML an admin pastes: the bootstrap control plane's entry and the
/// worker's `join`. Strings are JSON-quoted (valid YAML, every character
/// escaped).
pub fn snippet(
    token: &str,
    expires: OffsetDateTime,
    ttl: &Ttl,
    description: Option<&str>,
    ca_hash: Option<&str>,
) -> String {
    let q = |s: &str| serde_json_quote(s);
    let id = token.split('.').next().unwrap_or_default();
    let expires = mk_roleconfig::expiry_text(expires);
    let mut out = format!(
        "# bootstrap token {id}: valid {} (until {expires})\n\
         # bootstrap control plane, under spec:\n\
         bootstrapTokens:\n\
         - token: {token}\n  expires: \"{expires}\"\n",
        ttl.text
    );
    if let Some(d) = description {
        out.push_str(&format!("  description: {}\n", q(d)));
    }
    out.push_str("# joining worker, under spec:\njoin:\n");
    out.push_str(&format!("  token: {token}\n"));
    match ca_hash {
        Some(h) => out.push_str(&format!("  caCertHashes: [\"{h}\"]\n")),
        None => out.push_str(
            "  # caCertHashes: [\"<mk-compose token hash --ca pki/roots/kubernetes.crt>\"] \
             (unless spec.certificates has ca.crt)\n",
        ),
    }
    out
}

/// A JSON string literal, which YAML reads as a double-quoted scalar.
fn serde_json_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A CA file is small; anything larger is not one.
const MAX_CA_BYTES: u64 = 1 << 20;

/// `sha256:<hex>` of the SubjectPublicKeyInfo of the first certificate in
/// `path`, warning when the file holds more or it is not a CA.
pub fn hash_file(path: &Path) -> anyhow::Result<String> {
    let what = path.display().to_string();
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {what}"))?
        .len();
    if size > MAX_CA_BYTES {
        bail!("{what}: {size} bytes, not a CA certificate (at most {MAX_CA_BYTES})");
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {what}"))?;
    let certs = mk_pki::cert::parse_pem_chain(&text, &what)?;
    let first = &certs[0];
    if certs.len() > 1 {
        tracing::warn!(
            file = %what,
            count = certs.len(),
            hashed = %first.subject,
            "the file holds several certificates; hashed the first (the cluster root is the one to pin)"
        );
    }
    if !first.is_ca {
        tracing::warn!(
            file = %what,
            subject = %first.subject,
            "not a CA certificate: pin the cluster root (pki/roots/kubernetes.crt)"
        );
    }
    Ok(mk_pki::cert::spki_sha256(&first.der, &what)?)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Create(a) => {
            let ca_hash = a.ca.as_deref().map(hash_file).transpose()?;
            let token = generate().context("minting a bootstrap token")?;
            let expires = expiry(OffsetDateTime::now_utc(), &a.ttl);
            let id = token.split('.').next().unwrap_or_default();
            tracing::info!(id, expires = %mk_roleconfig::expiry_text(expires), "minted bootstrap token");
            print!(
                "{}",
                snippet(
                    &token,
                    expires,
                    &a.ttl,
                    a.description.as_deref(),
                    ca_hash.as_deref()
                )
            );
            Ok(())
        }
        Sub::Hash(a) => {
            println!("{}", hash_file(&a.ca)?);
            Ok(())
        }
    }
}
