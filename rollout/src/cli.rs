//! The `mk-rollout` command line. On the library side so that tests reach
//! [`Cli`] (help, man pages); `main.rs` runs the commands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mk-rollout",
    version,
    about = "Operate an mk cluster from the admin's machine: etcd backups, rolling re-image upgrades",
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
    /// Print the order of a rolling upgrade from an inventory; changes nothing.
    ///
    /// Control planes one at a time (each only when every etcd member is
    /// healthy, after a fresh etcd backup), then workers in batches of
    /// --batch (default: the inventory's worker_batch). Each node: cordon,
    /// drain, re-image through its driver, wait Ready on the new image
    /// version, uncordon. The inventory is checked as `apply` checks it:
    /// unknown fields, duplicate node names and empty lists are errors
    /// naming the line. With --bundle, the bundle is verified first (as
    /// `mk-compose verify` does) and its node image's version is the
    /// target. See docs/rollout.md.
    #[command(
        after_help = "Example:\n  mk-rollout plan --inventory site/inventory.yaml --batch 3\n  \
        mk-rollout plan --inventory site/inventory.yaml --bundle mk-2.iso --trust mk.pub"
    )]
    Plan(PlanArgs),
    /// Upgrade the cluster node by node as `plan` prints; resumes where it
    /// stopped.
    ///
    /// Runs from the admin's machine, never inside the cluster. The state
    /// is written beside the inventory (<inventory>.rollout.json) after
    /// every step; running `apply` again goes on from there, retrying the
    /// step that failed. A node that does not come back stops the rollout
    /// with the node, the step and what was seen; no other node is touched.
    ///
    /// With --bundle and --trust, the bundle is verified before any node
    /// is touched (signature and every file, as `mk-compose verify`), its
    /// image/image.json version becomes the target (the inventory's
    /// image_version may be left out, or must agree), and the ssh driver
    /// copies it to each node, checks its SHA-256 there and runs the
    /// node's command with `{bundle}` replaced by its path on the node.
    /// Exit 0 when every node is upgraded, 1 when stopped or on bad input.
    #[command(
        after_help = "Example:\n  mk-rollout apply --inventory site/inventory.yaml --bundle mk-2.iso --trust mk.pub\n  \
        mk-rollout apply --inventory site/inventory.yaml\n  \
        mk-rollout apply --inventory site/inventory.yaml --batch 2 --poll 5"
    )]
    Apply(ApplyArgs),
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The inventory (YAML): image_version, nodes with name, role and
    /// driver (docs/rollout.md).
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,
    /// Workers re-imaged at the same time (overrides worker_batch).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: Option<u64>,
    #[command(flatten)]
    pub bundle: BundleArgs,
}

/// `--bundle` and `--trust`, shared by `plan` and `apply`.
#[derive(clap::Args, Debug)]
pub struct BundleArgs {
    /// The signed bundle to roll out (an `mk-compose bundle --node-image`
    /// ISO); verified before any node is touched.
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub bundle: Option<PathBuf>,
    /// The public key the bundle must be signed with (minisign format,
    /// mk.pub from `mk-compose keygen`).
    #[arg(long, value_name = "KEY.pub", requires = "bundle")]
    pub trust: Option<PathBuf>,
}

impl BundleArgs {
    /// Verifies the bundle when one is given.
    pub fn check(&self) -> Result<Option<crate::bundle::NewBundle>, crate::bundle::BundleError> {
        match (&self.bundle, &self.trust) {
            (Some(b), Some(t)) => crate::bundle::check(b, t).map(Some),
            _ => Ok(None),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The inventory (YAML); the rollout's state is kept beside it.
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,
    /// Workers re-imaged at the same time (overrides worker_batch; must
    /// match the batch size a rollout under way started with).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: Option<u64>,
    /// Seconds between polls while waiting (drain, node back, health).
    #[arg(long, value_name = "SECONDS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub poll: u64,
    #[command(flatten)]
    pub bundle: BundleArgs,
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
