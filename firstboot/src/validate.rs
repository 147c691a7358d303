//! `mk-firstboot validate FILE`: check a role config on the admin's
//! machine, exactly as first boot would, without touching anything.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use mk_roleconfig::time::format_description::well_known::Rfc3339;
use mk_roleconfig::time::OffsetDateTime;
use mk_roleconfig::{PublicKey, Verified};

#[derive(clap::Args)]
pub struct Args {
    /// The role config: a NodeConfig or NodeConfigList YAML file.
    file: PathBuf,
    /// Trusted public key (minisign format); repeat for several. With it,
    /// FILE.minisig must be a good signature by one of them; without it
    /// the signature is not checked.
    #[arg(long = "trust", value_name = "KEY.pub")]
    trust: Vec<PathBuf>,
    /// Check certificate expiry at this time (RFC 3339, e.g.
    /// 2027-01-01T00:00:00Z) instead of now: "will it still boot then?"
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let now = match &args.now {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).with_context(|| {
            format!("--now {t:?}: expected RFC 3339, e.g. 2027-01-01T00:00:00Z")
        })?,
        None => OffsetDateTime::now_utc(),
    };
    let name = args.file.display().to_string();
    // Size first: a 200 MB file is refused unread.
    let bytes =
        mk_roleconfig::parse::read_limited(&args.file, mk_roleconfig::parse::MAX_CONFIG_BYTES)
            .with_context(|| format!("reading {name}"))?;
    let signature = if args.trust.is_empty() {
        "signature not checked (no --trust)".to_string()
    } else {
        let keys = args
            .trust
            .iter()
            .map(|p| PublicKey::from_file(p))
            .collect::<Result<Vec<_>, _>>()?;
        let sig_path = mk_roleconfig::signature_path(&args.file);
        let sig = read_optional(&sig_path)?;
        match mk_roleconfig::verify_signed(&bytes, sig.as_deref(), &keys, false, &name)? {
            Verified::Signed { key_id, .. } => format!("signed by trusted key {key_id}"),
            Verified::UnsignedAllowed => unreachable!("unsigned configs are not allowed here"),
        }
    };
    let doc = mk_roleconfig::parse_document(&bytes, &name)?;
    if let Err(errors) = mk_roleconfig::validate_document(&doc, now) {
        for e in &errors {
            eprintln!("{name}: {e}");
        }
        bail!("{name}: {} problem(s); nothing was changed", errors.len());
    }
    println!("{name}: valid {}; {signature}", doc.summary());
    Ok(())
}

fn read_optional(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match mk_roleconfig::parse::read_limited(path, mk_roleconfig::signature::MAX_SIGNATURE_BYTES) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
