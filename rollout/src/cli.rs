//! The `mk-rollout` command line. On the library side so that tests reach
//! [`Cli`] (help, man pages); `main.rs` runs the commands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mk-rollout",
    version,
    about = "Operate an mk cluster from the admin's machine: etcd backups",
    help_expected = true,
    after_help = "Example:\n  mk-rollout backup --endpoint https://cp1.example.com:2379 --cacert etcd-ca.crt \\\n      --cert etcd-client.crt --key etcd-client.key --dir /mnt/backups/etcd --keep 14"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Take a verified etcd snapshot into a directory, keeping the newest N.
    ///
    /// Streams a v3 snapshot of the member at --endpoint over mTLS (etcd's
    /// JSON gateway), checks etcd's SHA-256 trailer and the bbolt database,
    /// and renames it to DIR/etcd-<member>-<UTC time>.db only when both
    /// check out; then deletes that member's snapshots beyond the newest
    /// --keep (no other file in DIR is touched). Prints the revision, key
    /// count and hash as `etcdctl snapshot status` gives them. Exit 1 when
    /// no verified snapshot was written (nothing is left behind in DIR).
    /// Restoring: docs/etcd-backup.md.
    #[command(after_help = "Example:\n  \
        mk-rollout backup --endpoint https://cp1.example.com:2379 \\\n      \
        --cacert etcd-ca.crt --cert etcd-client.crt --key etcd-client.key \\\n      \
        --dir /mnt/backups/etcd --keep 14\n  \
        mk-rollout backup --endpoint https://cp2.example.com:2379 --cacert ca.crt --cert c.crt \\\n      \
        --key c.key --dir . --keep 1 --timeout 1800 --max-size 16384")]
    Backup(BackupArgs),
}

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Client URL of the etcd member to snapshot (https only; its
    /// certificate is checked against this host name).
    #[arg(long, value_name = "URL")]
    pub endpoint: String,
    /// The etcd realm's CA certificate (PEM), a node's
    /// /etc/kubernetes/pki/etcd/ca.crt.
    #[arg(long, value_name = "FILE")]
    pub cacert: PathBuf,
    /// A client certificate of the etcd realm (PEM, leaf then
    /// intermediate), such as a control plane's apiserver-etcd-client.crt.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Existing directory for the snapshots, local or mounted (NFS).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Snapshots of this member to keep in DIR, the new one included.
    #[arg(long, value_name = "N", default_value_t = 7,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: u64,
    /// Seconds the snapshot may take in all.
    #[arg(long, value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Largest database accepted, in MiB (etcd's largest recommended
    /// quota is 8 GiB).
    #[arg(long, value_name = "MIB", default_value_t = 8192,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_size: u64,
}

impl BackupArgs {
    pub fn options(&self) -> mk_etcdbackup::Options {
        let mut o = mk_etcdbackup::Options::new(&self.endpoint, &self.dir);
        o.keep = usize::try_from(self.keep).unwrap_or(usize::MAX);
        o.timeout = Duration::from_secs(self.timeout);
        o.max_size = self.max_size.saturating_mul(1 << 20);
        o
    }
}
