//! `mk-compose config-drive`: a node's (or a rack's) role config, checked,
//! optionally filled with the certificates of `mk-compose pki issue-node`,
//! signed with the admin key (minisign), on a small FAT or ISO 9660 image
//! labelled MK-CONFIG that mk-firstboot finds at boot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use mk_bundle::iso::{IsoOptions, IsoWriteError};
use mk_bundle::{PasswordSource, SecretKey};
use mk_roleconfig::{Document, NodeConfig};
use sha2::{Digest, Sha256};

use crate::inputs;

/// What mk-firstboot looks for (firstboot/src/source/drive.rs).
const LABEL: &str = "MK-CONFIG";
const CONFIG_NAME: &str = "node-config.yaml";
const SIGNATURE_NAME: &str = "node-config.yaml.minisig";
/// Dates on the drive when SOURCE_DATE_EPOCH is unset: the earliest a FAT
/// directory entry holds, so that the image depends only on its inputs.
const DEFAULT_EPOCH: u64 = 315_532_800;

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
    let epoch = inputs::source_date_epoch()?.unwrap_or(DEFAULT_EPOCH);
    let name = args.config.display().to_string();
    let original = std::fs::read(&args.config).with_context(|| format!("reading {name}"))?;
    let mut doc = mk_roleconfig::parse_document(&original, &name)?;
    let config = if args.pki_dirs.is_empty() {
        // Signed byte for byte as written (comments kept).
        original
    } else {
        for spec in &args.pki_dirs {
            add_certificates(&mut doc, spec, &name)?;
        }
        let mut text = String::from(
            "# Written by mk-compose config-drive: certificates from mk-compose pki issue-node.\n",
        );
        text.push_str(&serde_norway::to_string(&doc).context("serialising the role config")?);
        text.into_bytes()
    };
    let now = time::OffsetDateTime::now_utc();
    if let Err(errors) = mk_roleconfig::validate_document(&doc, now) {
        for e in &errors {
            eprintln!("{name}: {e}");
        }
        bail!("{name}: {} problem(s); no drive written", errors.len());
    }
    let key = read_key(&args)?;
    let digest = hex::encode(Sha256::digest(&config));
    let nodes: Vec<&str> = doc
        .configs()
        .iter()
        .map(|c| c.metadata.name.as_str())
        .collect();
    let trusted = format!("mk role config sha256:{digest} for {}", nodes.join(","));
    let sig = key.sign(&config, &trusted, "signature from mk-compose config-drive");
    let sig_text = sig.to_file_text();

    let out_dir = mk_durable::parent(&args.out).to_path_buf();
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".mk-config-drive.")
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a staging directory in {}", out_dir.display()))?;
    let tree = staging.path().join("tree");
    std::fs::create_dir(&tree)?;
    std::fs::write(tree.join(CONFIG_NAME), &config)?;
    std::fs::write(tree.join(SIGNATURE_NAME), sig_text.as_bytes())?;
    match args.format {
        Format::Iso => mk_bundle::iso::write(
            &tree,
            &args.out,
            &IsoOptions {
                volume_label: LABEL.into(),
                source_date_epoch: epoch,
            },
        )
        .map_err(|e| match e {
            IsoWriteError::NoXorriso(e) => anyhow::anyhow!("running xorriso (install it): {e}"),
            e => e.into(),
        })?,
        Format::Fat => write_fat(
            staging.path(),
            &tree,
            &args.out,
            epoch,
            &digest,
            config.len() + sig_text.len(),
        )?,
    }
    println!(
        "{}: {} drive {LABEL} for {} (config sha256:{digest}, signed by {})",
        args.out.display(),
        match args.format {
            Format::Fat => "FAT",
            Format::Iso => "ISO 9660",
        },
        nodes.join(", "),
        key.key_id()
    );
    Ok(())
}

fn read_key(args: &Args) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading secret key {}", args.key.display()))?;
    let file = args.key.display().to_string();
    let password = if SecretKey::file_is_encrypted(&text, &file)? {
        PasswordSource::from_options(args.password_file.clone(), args.password_fd)
            .read(false)
            .with_context(|| format!("password for {file}"))?
    } else {
        Default::default()
    };
    Ok(SecretKey::parse(&text, password.as_bytes(), &file)?)
}

/// Node-root-relative path of an issue-node file -> its key in
/// spec.certificates.
fn certificate_key(rel: &str) -> Option<String> {
    if let Some(k) = rel.strip_prefix("etc/kubernetes/pki/") {
        Some(k.to_string())
    } else {
        rel.strip_prefix("var/lib/kubelet/pki/")
            .map(|k| format!("kubelet/{k}"))
    }
}

fn add_certificates(doc: &mut Document, spec: &str, name: &str) -> anyhow::Result<()> {
    let (node, dir) = match spec.split_once('=') {
        Some((n, d)) => (Some(n), PathBuf::from(d)),
        None => (None, PathBuf::from(spec)),
    };
    let target: &mut NodeConfig = match (doc, node) {
        (Document::Single(c), None) => c,
        (Document::Single(c), Some(n)) if c.metadata.name == n => c,
        (Document::List(l), Some(n)) => l
            .items
            .iter_mut()
            .find(|c| c.metadata.name == n)
            .with_context(|| format!("--pki-dir {spec}: {name} has no config named {n}"))?,
        (Document::List(_), None) => {
            bail!(
                "--pki-dir {spec}: {name} is a NodeConfigList; say which node: --pki-dir NAME=DIR"
            )
        }
        (Document::Single(c), Some(n)) => bail!(
            "--pki-dir {spec}: {name} is the config of {}, not {n}",
            c.metadata.name
        ),
    };
    let mut files = BTreeMap::new();
    collect(&dir, &dir, &mut files)?;
    if files.is_empty() {
        bail!("--pki-dir {spec}: no files under {} (expected the tree of `mk-compose pki issue-node`)", dir.display());
    }
    for (rel, text) in files {
        if Path::new("/").join(&rel) == Path::new(mk_pki::plan::MANIFEST_PATH) {
            // issue-node's renewal manifest is no certificate: the role
            // config has no field for it, so it is not carried (yet).
            tracing::warn!(file = %dir.join(&rel).display(), "not carried on the config drive: the renewal manifest has no place in spec.certificates");
            continue;
        }
        let key = certificate_key(&rel).with_context(|| {
            format!("--pki-dir {spec}: {rel}: not under etc/kubernetes/pki or var/lib/kubelet/pki")
        })?;
        target.spec.certificates.insert(key, text);
    }
    Ok(())
}

fn collect(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            collect(base, &p, out)?;
        } else {
            let rel = p.strip_prefix(base)?.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("reading {} (PEM text expected)", p.display()))?;
            out.insert(rel, text);
        }
    }
    Ok(())
}

/// mtools with a fixed environment: no user config, UTC, dates from
/// SOURCE_DATE_EPOCH.
fn mtools(program: &str, home: &Path, epoch: u64) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("HOME", home)
        .env("MTOOLSRC", "/dev/null")
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .stdin(std::process::Stdio::null());
    cmd
}

fn run_tool(what: &str, cmd: &mut std::process::Command) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: running {:?} (install mtools)", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{what}: {:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A FAT12/16 image just large enough (mtools picks the FAT type), volume
/// serial from the config digest, written beside `out` and renamed.
fn write_fat(
    scratch: &Path,
    tree: &Path,
    out: &Path,
    epoch: u64,
    digest: &str,
    bytes: usize,
) -> anyhow::Result<()> {
    const MIB: u64 = 1 << 20;
    // Room for the files, FATs and root directory; at least 2 MiB.
    let size = ((bytes as u64 * 2 + MIB).div_ceil(MIB) * MIB).max(2 * MIB);
    let tmp = mk_durable::temp_beside(out)
        .with_context(|| format!("creating a file beside {}", out.display()))?;
    tmp.as_file().set_len(size)?;
    let img = tmp.path().to_string_lossy().into_owned();
    let serial = &digest[..8];
    run_tool(
        "formatting the config drive",
        mtools("mformat", scratch, epoch).args([
            "-i",
            &img,
            "-T",
            &(size / 512).to_string(),
            "-h",
            "64",
            "-s",
            "32",
            "-N",
            serial,
            "-v",
            LABEL,
            "::",
        ]),
    )?;
    for name in [CONFIG_NAME, SIGNATURE_NAME] {
        run_tool(
            &format!("copying {name} onto the config drive"),
            mtools("mcopy", scratch, epoch)
                .args(["-i", &img])
                .arg(tree.join(name))
                .arg(format!("::/{name}")),
        )?;
    }
    mk_durable::persist(tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
