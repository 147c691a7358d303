//! Finishes a bundle from a staging directory with `mk_bundle::finish_bundle`
//! (MANIFEST, MANIFEST.minisig, ISO): what bench/verify.sh builds with.
//!
//! cargo run --release -p mk-bundle --example finish_bundle -- STAGING OUT.iso KEY PASSWORD_FILE

use std::path::PathBuf;

use mk_bundle::{finish_bundle, BundleOptions, PasswordSource, SecretKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [staging, out, key, password_file] = args.as_slice() else {
        return Err("usage: finish_bundle STAGING OUT.iso KEY PASSWORD_FILE".into());
    };
    let password = PasswordSource::File(password_file.clone()).read(false)?;
    let key = SecretKey::from_file(key, password.as_bytes())?;
    let done = finish_bundle(
        staging,
        out,
        &key,
        &BundleOptions {
            name: "mk-bench".into(),
            version: "0".into(),
            volume_label: "MK_BENCH".into(),
            source_date_epoch: 1_700_000_000,
        },
    )?;
    println!(
        "{} files, MANIFEST sha256 {}",
        done.files,
        done.manifest_sha256.hex()
    );
    Ok(())
}
