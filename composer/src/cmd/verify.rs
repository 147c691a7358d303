//! `mk-compose verify`: check a bundle ISO against a trusted public key.

use std::path::PathBuf;

use anyhow::Context;
use mk_bundle::PublicKey;

/// Verify a bundle: its signature, and every file against MANIFEST
#[derive(clap::Args)]
#[command(after_help = "\
Reads the ISO directly (no mount, no root). Checks MANIFEST.minisig against
the trusted key, then the SHA-256 of every file in the image against
MANIFEST. Any changed, missing or extra file, a bad signature or an
untrusted key makes it fail (exit status 1), listing every problem.

Examples:
  mk-compose verify mk-1.0.iso --trust keys/mk.pub
  RUST_LOG=warn mk-compose verify /media/usb/mk-1.0.iso --trust /etc/mk/mk.pub

The signature alone can also be checked with minisign, on an extracted tree:
  minisign -V -p mk.pub -m MANIFEST && sha256sum -c MANIFEST")]
pub struct Args {
    /// The bundle ISO image
    #[arg(value_name = "BUNDLE.iso")]
    pub bundle: PathBuf,
    /// Public key to trust (minisign format, e.g. mk.pub from `mk-compose keygen`)
    #[arg(long, value_name = "KEY.pub")]
    pub trust: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let trusted = PublicKey::from_file(&args.trust).context("reading the trusted key")?;
    let report = mk_bundle::verify(&args.bundle, &trusted).with_context(|| {
        format!(
            "{} is NOT a valid bundle signed by {} (key ID {})",
            args.bundle.display(),
            args.trust.display(),
            trusted.key_id()
        )
    })?;
    println!(
        "OK {}: {} files, {:.1} MB verified in {:.2} s ({:.0} MB/s)",
        args.bundle.display(),
        report.files,
        report.bytes as f64 / 1e6,
        report.elapsed.as_secs_f64(),
        report.megabytes_per_second()
    );
    println!(
        "signed by key ID {} ({})",
        report.key_id,
        args.trust.display()
    );
    println!("trusted comment: {}", report.trusted_comment);
    Ok(())
}
