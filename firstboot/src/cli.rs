//! The `mk-firstboot` command line. On the library side so that tests
//! reach [`Cli`] (help, man pages); `main.rs` runs the subcommands.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::run::Options;
use crate::validate;

#[derive(Parser)]
#[command(
    name = "mk-firstboot",
    version,
    about = "Bring an mk node to the state its role config describes",
    help_expected = true,
    after_help = "Example:\n  mk-firstboot apply                                      # what mk-firstboot.service runs at every boot\n  mk-firstboot plan --root / --config node-config.yaml    # what would change, changing nothing\n  mk-firstboot validate node-config.yaml --trust admin.pub"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args)]
pub struct Common {
    /// Node root: files, users, /sys facts, /dev devices and /proc/cmdline
    /// are all looked up under it.
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// Role config file (FILE.minisig beside it is its signature). For
    /// `apply` the last source: a config drive or mk.config= URL comes first.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of trusted minisign public keys (*.pub); default
    /// ROOT/etc/mk/config-trust.
    #[arg(long, value_name = "DIR")]
    pub trust: Option<PathBuf>,
    /// This host's address (repeat for several) instead of reading the
    /// interfaces: for planning on another machine.
    #[arg(long = "address", value_name = "IP")]
    pub addresses: Vec<IpAddr>,
    /// Take this node's item of a NodeConfigList by name instead of by the
    /// machine's MAC/DMI facts.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Apply this plan (JSON) instead of planning from the config; for
    /// debugging the applier. The config is still sourced and checked.
    #[arg(long, value_name = "PLAN.json", hide = true)]
    pub plan: Option<PathBuf>,
}

impl Common {
    pub fn options(&self) -> Options {
        let mut o = Options::new(&self.root);
        o.config = self.config.clone();
        o.trust = self.trust.clone();
        o.addresses = (!self.addresses.is_empty()).then(|| self.addresses.clone());
        o.node = self.node.clone();
        o.plan_file = self.plan.clone();
        o
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Find, check and apply this node's role config; change only what differs.
    ///
    /// Exit 0 when done (or failed under failurePolicy continue), 1 when the
    /// config was refused (nothing changed; also when the static pods'
    /// preflight finds problems), 2 when a step failed under failurePolicy
    /// halt.
    #[command(after_help = "Example:\n  \
        mk-firstboot apply                                  # what mk-firstboot.service runs at every boot\n  \
        mk-firstboot apply --root /mnt/node --config node-config.yaml")]
    Apply(Common),
    /// Print what `apply` would change, changing nothing.
    ///
    /// Per step: files, directories, users, groups; then the preflight of the
    /// static pods against ROOT. Exit 1 when apply would refuse the config
    /// (preflight problems), 2 when a step would fail.
    #[command(after_help = "Example:\n  \
        mk-firstboot plan --root / --config node-config.yaml\n  \
        mk-firstboot plan --root /tmp/n --config rack1.yaml --node w1.example.com --address 10.0.0.21 --json")]
    Plan {
        #[command(flatten)]
        common: Common,
        /// Print the plan itself as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Check a role config file on the admin's machine, changing nothing.
    ///
    /// YAML, fields, names, networks, certificates, and with --trust its
    /// signature. Exit status non-zero listing every problem.
    #[command(after_help = "Example:\n  \
        mk-firstboot validate node-config.yaml --trust admin.pub\n  \
        mk-firstboot validate rack1.yaml --now 2027-01-01T00:00:00Z")]
    Validate(validate::Args),
    /// Make the cluster's API objects what the role config says (control planes).
    ///
    /// Run by mk-firstboot-cluster.service after the kubelet: waits for the
    /// local apiserver's /readyz, applies RBAC, kubeadm-config,
    /// bootstrap tokens, cluster-info, kube-proxy, CoreDNS and Calico
    /// (bootstrap control plane) with server-side apply, then this node's
    /// control-plane labels; reports into report.json. Exit 1 when the
    /// config is refused, 2 when a step failed under failurePolicy halt.
    #[command(after_help = "Example:\n  \
        mk-firstboot cluster                                # what mk-firstboot-cluster.service runs\n  \
        mk-firstboot cluster --server https://10.0.0.11:6443 --ready-timeout 60")]
    Cluster {
        #[command(flatten)]
        common: Common,
        /// apiserver URL; default https://<this host's control-plane
        /// address>:<spec.cluster.apiEndpoint.port>. Its certificate is
        /// checked against the node name either way.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Seconds to wait for the apiserver's /readyz.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        ready_timeout: u64,
        /// Seconds to wait for the kubelet to register this node.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        node_timeout: u64,
        /// Seconds to wait for this node's etcd learner to catch up before
        /// it is promoted (joining control planes).
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        etcd_timeout: u64,
    },
    /// Approve pending kubelet serving CSRs whose names are exactly their Node's (control planes).
    ///
    /// Run every minute by mk-csr-approver.timer. One pass: each pending
    /// CSR of signer kubernetes.io/kubelet-serving is approved if its
    /// requester, subject, DNS names and IP addresses are exactly those of
    /// the Node it comes from; otherwise it stays pending with a warning
    /// naming the reasons (never denied), and is reviewed again next pass.
    /// Talks as CN=mk:csr-approver, a credential minted in memory by the
    /// node's kubernetes intermediate. Exit 1 when the CSRs cannot be read
    /// or an approval failed.
    #[command(after_help = "Example:\n  \
        mk-firstboot approve-csrs                           # what mk-csr-approver.timer runs\n  \
        mk-firstboot approve-csrs --server https://cp1.example.com:6443")]
    ApproveCsrs {
        /// Node root: the kubernetes intermediate, ca.crt and
        /// controller-manager.conf are looked up under it.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// apiserver URL, by a DNS name its certificate carries; default
        /// the local apiserver named in /etc/kubernetes/controller-manager.conf.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Seconds the whole pass may take.
        #[arg(long, value_name = "SECONDS", default_value_t = 120)]
        timeout: u64,
    },
    /// Renew this node's leaf certificates past two thirds of their life.
    ///
    /// Run by mk-pki-renew.timer. Keys come from /dev/urandom, never
    /// getrandom(2), which CentOS 7's kernel lacks; see mk_pki::entropy.
    #[command(after_help = "Example:\n  \
        mk-firstboot renew                                  # what mk-pki-renew.timer runs\n  \
        mk-firstboot renew --root /mnt/node --metrics-file /tmp/mk-pki.prom")]
    Renew {
        /// Node root the manifest's paths are under.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// node_exporter textfile-collector file to write.
        #[arg(long, default_value = mk_pki::renew::METRICS_FILE)]
        metrics_file: PathBuf,
    },
    /// Take a verified snapshot of this control plane's etcd, keeping the newest N.
    ///
    /// Run daily by mk-etcd-backup.timer (R35). Streams a snapshot of the
    /// local member over mTLS (the apiserver's etcd client identity),
    /// checks etcd's SHA-256 trailer and the bbolt database, renames it to
    /// DIR/etcd-<member>-<UTC time>.db, and deletes this member's snapshots
    /// beyond the newest --keep; nothing else in DIR is touched. Exit 1
    /// when no verified snapshot was written (nothing is left behind).
    /// Restoring: /usr/share/doc/mk-firstboot/etcd-backup.md.
    #[command(after_help = "Example:\n  \
        mk-firstboot etcd-backup                            # what mk-etcd-backup.timer runs\n  \
        mk-firstboot etcd-backup --dir /mnt/backups/etcd --keep 30")]
    EtcdBackup(crate::etcdbackup::Args),
}
