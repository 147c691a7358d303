//! `mk-compose config-drive`: a node's (or a rack's) role config, checked,
//! optionally filled with the certificates of `mk-compose pki issue-node`,
//! signed with the admin key (minisign), on a small FAT or ISO 9660 image
//! labelled MK-CONFIG that mk-firstboot finds at boot. The drive is built
//! by mk-configdrive.

use std::path::PathBuf;

use mk_configdrive::{Draft, PkiDir, DEFAULT_EPOCH};

use crate::inputs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// FAT (mtools), for USB sticks and virtual disks.
    Fat,
    /// ISO 9660 (xorriso), for virtual CD-ROMs.
    Iso,
}

#[derive(clap::Args)]
#[command(
    about = "Build a signed config drive (label MK-CONFIG) from a role config",
    after_help = "Example:\n  mk-compose pki issue-node --dir pki --node cp1.yaml --out drive/cp1\n  \
    mk-compose config-drive --config cp1.yaml --pki-dir drive/cp1 --key keys/mk.key \\\n    \
    --password-file pw --out cp1-config.img\n  \
    mk-compose config-drive --config rack1.yaml --pki-dir w1.example.com=drive/w1 \\\n    \
    --pki-dir w2.example.com=drive/w2 --key keys/mk.key --password-file pw --out rack1.iso --format iso\n\n\
    The drive holds node-config.yaml and node-config.yaml.minisig at its root. Dates are\n\
    SOURCE_DATE_EPOCH when set, else 1980-01-01: the same inputs give the same bytes."
)]
pub struct Args {
    /// Role config: a NodeConfig or NodeConfigList YAML file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Tree written by `mk-compose pki issue-node` (etc/kubernetes/pki/...,
    /// var/lib/kubelet/pki/...): its files go into spec.certificates.
    /// `NAME=DIR` picks the list item named NAME; a bare DIR needs a single
    /// NodeConfig. Repeat for several nodes.
    #[arg(long = "pki-dir", value_name = "[NAME=]DIR")]
    pki_dirs: Vec<String>,
    /// The admin's minisign secret key (`mk-compose keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Read the key's password from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "password_fd")]
    password_file: Option<PathBuf>,
    /// Read the key's password from this inherited file descriptor.
    #[arg(long, value_name = "N")]
    password_fd: Option<i32>,
    /// Image to write (replaced atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// File system of the drive.
    #[arg(long, value_enum, default_value = "fat")]
    format: Format,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let source_date = inputs::source_date_epoch()?;
    let epoch = source_date.unwrap_or(DEFAULT_EPOCH);
    let mut draft = Draft::read(&args.config)?;
    for spec in &args.pki_dirs {
        draft.add_pki_dir(&PkiDir::parse(spec))?;
    }
    let config = match draft.check(time::OffsetDateTime::now_utc()) {
        Ok(c) => c,
        Err(e) => {
            if let mk_configdrive::Error::Invalid { file, problems } = &e {
                for p in problems {
                    eprintln!("{file}: {p}");
                }
            }
            return Err(e.into());
        }
    };
    let key = inputs::secret_key(&args.key, args.password_file.clone(), args.password_fd)?;
    // The signing time in the trusted comment (first boot refuses a node
    // whose clock is before it): SOURCE_DATE_EPOCH when set, so that the
    // same inputs still give the same drive; else now.
    let signed = match source_date {
        Some(e) => time::OffsetDateTime::from_unix_timestamp(i64::try_from(e)?)?,
        None => time::OffsetDateTime::now_utc(),
    };
    let drive = config.sign_at(&key, signed);
    let format = match args.format {
        Format::Fat => mk_configdrive::Format::Fat,
        Format::Iso => mk_configdrive::Format::Iso,
    };
    drive.write(format, &args.out, epoch)?;
    let config = drive.config();
    println!(
        "{}: {} drive {} for {} (config sha256:{}, signed by {})",
        args.out.display(),
        format.as_str(),
        mk_configdrive::LABEL,
        config.nodes().join(", "),
        config.digest(),
        key.key_id()
    );
    Ok(())
}
