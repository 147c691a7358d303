//! `mk-compose keygen`: the bundle signing key pair, in minisign format.

use std::path::PathBuf;

use anyhow::{bail, Context};
use mk_bundle::{KdfParams, PasswordSource, SecretKey};

const SECRET_NAME: &str = "mk.key";
const PUBLIC_NAME: &str = "mk.pub";

/// Make a signing key pair: mk.key (password-encrypted) and mk.pub
#[derive(clap::Args)]
#[command(after_help = "\
The secret key is encrypted with scrypt (minisign's default cost), so
`minisign -S -s mk.key` can sign with it too; mk.pub is what sites trust.
The password is never taken from the command line.

Examples:
  mk-compose keygen --out-dir keys                      # asks twice on the terminal
  mk-compose keygen --out-dir keys --password-file pw   # pw: the password (one trailing newline ignored)
  pass show mk/signing | mk-compose keygen --out-dir keys --password-fd 0")]
pub struct Args {
    /// Directory to write mk.key and mk.pub into (created if missing; existing keys are never overwritten)
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Read the password from FILE
    #[arg(long, value_name = "FILE", conflicts_with = "password_fd")]
    pub password_file: Option<PathBuf>,
    /// Read the password from inherited file descriptor N (e.g. 0 for stdin)
    #[arg(long, value_name = "N")]
    pub password_fd: Option<i32>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let secret_path = args.out_dir.join(SECRET_NAME);
    let public_path = args.out_dir.join(PUBLIC_NAME);
    for p in [&secret_path, &public_path] {
        if p.symlink_metadata().is_ok() {
            bail!(
                "{} already exists; refusing to overwrite a key (move it away or pick another --out-dir)",
                p.display()
            );
        }
    }
    let password = PasswordSource::from_options(args.password_file, args.password_fd)
        .read(true)
        .context("reading the secret key's password")?;
    let key = SecretKey::generate()?;
    tracing::info!(key_id = %key.key_id(), "deriving the encryption key from the password (scrypt, 1 GiB)");
    let secret_text = key.to_encrypted_file_text(password.as_bytes(), KdfParams::SENSITIVE)?;
    mk_durable::write_new(&secret_path, secret_text.as_bytes(), 0o600)
        .with_context(|| format!("writing {}", secret_path.display()))?;
    if let Err(e) = mk_durable::write_new(
        &public_path,
        key.public_key().to_file_text().as_bytes(),
        0o644,
    ) {
        // Both or neither: a secret key without its public half is useless.
        let _ = std::fs::remove_file(&secret_path);
        return Err(e).with_context(|| format!("writing {}", public_path.display()));
    }
    println!(
        "key ID {}: wrote {} (encrypted secret key) and {} (public key to trust)",
        key.key_id(),
        secret_path.display(),
        public_path.display()
    );
    Ok(())
}
