//! `mk-firstboot etcd-backup`: a verified snapshot of this control
//! plane's etcd member (R35), run daily by mk-etcd-backup.timer. The work
//! is mk-etcdbackup's, as for `mk-rollout backup`; this is the node's
//! defaults: its own member by `localhost` (a DNS name of etcd's server
//! certificate, which has no IP address: R28), the apiserver's etcd
//! client identity, and a directory on the state partition, created here.
//! See docs/etcd-backup.md.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the node keeps its snapshots (the state partition: an upgrade
/// never touches it).
pub const DIR: &str = "/var/lib/mk/etcd-backups";
pub const ENDPOINT: &str = "https://localhost:2379";
pub const CACERT: &str = "/etc/kubernetes/pki/etcd/ca.crt";
pub const CERT: &str = "/etc/kubernetes/pki/apiserver-etcd-client.crt";
pub const KEY: &str = "/etc/kubernetes/pki/apiserver-etcd-client.key";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Client URL of the member to snapshot; its certificate is checked
    /// against this host name.
    #[arg(long, value_name = "URL", default_value = ENDPOINT)]
    pub endpoint: String,
    /// The etcd realm's CA certificate.
    #[arg(long, value_name = "FILE", default_value = CACERT)]
    pub cacert: PathBuf,
    /// Client certificate of the etcd realm (leaf then intermediate).
    #[arg(long, value_name = "FILE", default_value = CERT)]
    pub cert: PathBuf,
    /// The client certificate's key.
    #[arg(long, value_name = "FILE", default_value = KEY)]
    pub key: PathBuf,
    /// Directory for the snapshots; the default one is created (0700),
    /// any other must exist (a mounted share).
    #[arg(long, value_name = "DIR", default_value = DIR)]
    pub dir: PathBuf,
    /// Snapshots of this member to keep, the new one included.
    #[arg(long, value_name = "N", default_value_t = mk_etcdbackup::DEFAULT_KEEP as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: u64,
    /// Seconds the snapshot may take in all.
    #[arg(long, value_name = "SECONDS", default_value_t = mk_etcdbackup::DEFAULT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

impl Args {
    pub fn options(&self) -> mk_etcdbackup::Options {
        let mut o = mk_etcdbackup::Options::new(&self.endpoint, &self.dir);
        o.keep = usize::try_from(self.keep).unwrap_or(usize::MAX);
        o.timeout = Duration::from_secs(self.timeout);
        o
    }
}

/// The default directory, created owner-only: snapshots hold every Secret.
fn ensure_default_dir(dir: &Path) -> Result<(), String> {
    if dir != Path::new(DIR) || dir.is_dir() {
        return Ok(());
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))
}

/// One backup; the summary on success, the error's text otherwise.
pub fn run(args: &Args) -> Result<String, String> {
    ensure_default_dir(&args.dir)?;
    let client =
        mk_etcdbackup::client(&args.cacert, &args.cert, &args.key).map_err(|e| e.to_string())?;
    mk_etcdbackup::backup(&client, &args.options(), &mut |_, _| {})
        .map(|b| b.summary())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn node_defaults() {
        let a = T::parse_from(["t"]).args;
        let o = a.options();
        assert_eq!(o.endpoint, "https://localhost:2379");
        assert_eq!(o.dir, Path::new("/var/lib/mk/etcd-backups"));
        assert_eq!(o.keep, 7);
        assert_eq!(o.timeout, Duration::from_secs(600));
        assert_eq!(a.cert, Path::new(CERT));
        let a = T::parse_from(["t", "--keep", "3", "--dir", "/mnt/nfs/etcd"]).args;
        assert_eq!(
            (a.options().keep, a.dir.as_path()),
            (3, Path::new("/mnt/nfs/etcd"))
        );
        assert!(T::try_parse_from(["t", "--keep", "0"]).is_err());
    }

    #[test]
    fn missing_credentials_and_directories_are_named() {
        let d = tempfile::tempdir().unwrap();
        let mut a = T::parse_from(["t"]).args;
        a.dir = d.path().join("share");
        a.cacert = d.path().join("ca.crt");
        let e = run(&a).unwrap_err();
        assert!(e.contains("ca.crt") && e.contains("etcd CA"), "{e}");
        // Only the default directory is created; another (a share that is
        // not mounted) is not.
        assert!(!a.dir.exists());
    }
}
