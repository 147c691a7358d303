//! `mk-compose pki`: the cluster's certificates (mk-pki does the work).

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context};
use mk_pki::config::{ClusterConfig, Lifetimes};
use mk_pki::store::PkiDir;
use mk_pki::{inventory, KeyAlgorithm, NodeSpec, Realm};
use time::OffsetDateTime;
use zeroize::Zeroizing;

#[derive(clap::Args)]
#[command(
    about = "Manage the cluster's certificates: offline roots, per-host intermediates, node bundles",
    after_help = "Example:\n  mk-compose pki init --dir pki --domain example.com\n  mk-compose pki intermediate --dir pki --host cp1.example.com --realm etcd --realm kubernetes\n  mk-compose pki issue-node --dir pki --node cp1.yaml --out drive/cp1\n  mk-compose pki list --dir pki --json\n\nPasswords are read from a prompt, or with --password-fd N from file descriptor N\n(e.g. `3<pw.txt`); never from an argument."
)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Create one root CA per realm (password-encrypted keys) and pki.yaml.
    #[command(
        after_help = "Example:\n  mk-compose pki init --dir pki --domain example.com --api-endpoint api.example.com"
    )]
    Init(InitArgs),
    /// Sign a host's intermediate for one or more realms with the offline root.
    #[command(
        after_help = "Example:\n  mk-compose pki intermediate --dir pki --host cp1.example.com --realm etcd --realm kubernetes"
    )]
    Intermediate(IntermediateArgs),
    /// Issue a node's leaves and write exactly what its config drive carries.
    #[command(
        after_help = "Example:\n  mk-compose pki issue-node --dir pki --node cp1.yaml --out drive/cp1"
    )]
    IssueNode(IssueNodeArgs),
    /// Show every certificate under a directory.
    #[command(
        after_help = "Example:\n  mk-compose pki list --dir pki --json\n  mk-compose pki list --dir /etc/kubernetes/pki"
    )]
    List(ListArgs),
}

#[derive(clap::Args)]
struct PasswordArgs {
    /// Read the root password from this file descriptor (first line) instead of a prompt.
    #[arg(long, value_name = "N")]
    password_fd: Option<u32>,
}

#[derive(clap::Args)]
struct InitArgs {
    /// PKI directory to create.
    #[arg(long)]
    dir: PathBuf,
    /// The cluster's DNS domain; intermediates are name-constrained to it.
    #[arg(long)]
    domain: String,
    /// Kubernetes service DNS domain.
    #[arg(long, default_value = "cluster.local")]
    service_domain: String,
    /// DNS name of the apiserver endpoint (VIP or load balancer).
    #[arg(long)]
    api_endpoint: Option<String>,
    /// Kubernetes service ClusterIP range: apiserver certificates name its
    /// first address (the kubernetes Service, e.g. 10.96.0.1).
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cidr: String,
    /// keepalived virtual IP of the API, if any: apiserver certificates name it.
    #[arg(long)]
    api_vip: Option<std::net::IpAddr>,
    /// Key algorithm: ecdsa-p256 or ed25519.
    #[arg(long, default_value = "ecdsa-p256")]
    algorithm: KeyAlgorithm,
    /// Ed25519 for leaves whose every consumer accepts it (etcd, Go clients).
    #[arg(long)]
    ed25519_where_supported: bool,
    /// Realms to create (default: all).
    #[arg(long = "realm")]
    realms: Vec<Realm>,
    /// Lifetime of the root CAs in days.
    #[arg(long, default_value_t = Lifetimes::default().root_days)]
    root_days: u32,
    /// Default lifetime of the per-host intermediates in days.
    #[arg(long, default_value_t = Lifetimes::default().intermediate_days)]
    intermediate_days: u32,
    /// Default lifetime of the leaf certificates in days.
    #[arg(long, default_value_t = Lifetimes::default().leaf_days)]
    leaf_days: u32,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(clap::Args)]
struct IntermediateArgs {
    /// PKI directory (from `mk-compose pki init`).
    #[arg(long)]
    dir: PathBuf,
    /// Host (DNS name inside the cluster domain).
    #[arg(long)]
    host: String,
    /// Realm(s) to sign an intermediate for.
    #[arg(long = "realm", required = true)]
    realms: Vec<Realm>,
    /// Lifetime in days (default: pki.yaml's intermediate_days).
    #[arg(long)]
    days: Option<u32>,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(clap::Args)]
struct IssueNodeArgs {
    /// PKI directory (from `mk-compose pki init`).
    #[arg(long)]
    dir: PathBuf,
    /// node.yaml: name, cluster_domain, dns_names, roles.
    #[arg(long)]
    node: PathBuf,
    /// Output tree (node-root relative: etc/kubernetes/pki/...); replaced as a whole.
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct ListArgs {
    /// Directory to inventory (a PKI directory, a node bundle or /etc/kubernetes/pki).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn read_password(p: &PasswordArgs, confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    let pw = match p.password_fd {
        Some(fd) => {
            // /proc/self/fd/N opens the descriptor without unsafe code.
            let path = format!("/proc/self/fd/{fd}");
            let f = std::fs::File::open(&path)
                .with_context(|| format!("--password-fd {fd}: cannot open {path}"))?;
            let mut line = String::new();
            std::io::BufReader::new(f)
                .read_line(&mut line)
                .with_context(|| format!("--password-fd {fd}: reading"))?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        None => {
            let a = rpassword::prompt_password("Root key password: ").context(
                "reading the password from the terminal (use --password-fd when there is none)",
            )?;
            if confirm {
                let b = rpassword::prompt_password("Repeat the password: ")?;
                if a != b {
                    bail!("the two passwords differ");
                }
            }
            a
        }
    };
    if pw.is_empty() {
        bail!("empty password: root keys are never written in clear");
    }
    Ok(Zeroizing::new(pw))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    match args.command {
        Sub::Init(a) => {
            let mut cfg = ClusterConfig::new(&a.domain);
            cfg.service_domain = a.service_domain;
            cfg.api_endpoint = a.api_endpoint;
            cfg.service_cidr = a.service_cidr;
            cfg.api_vip = a.api_vip;
            cfg.algorithm = a.algorithm;
            cfg.ed25519_where_supported = a.ed25519_where_supported;
            cfg.lifetimes = Lifetimes {
                root_days: a.root_days,
                intermediate_days: a.intermediate_days,
                leaf_days: a.leaf_days,
            };
            cfg.validate("command line")?;
            let realms = if a.realms.is_empty() {
                Realm::ALL.to_vec()
            } else {
                a.realms
            };
            let pw = read_password(&a.password, true)?;
            let r = PkiDir::init(&a.dir, &cfg, &realms, pw.as_bytes(), now)?;
            if !r.created {
                println!(
                    "{} is already initialised with these settings: nothing changed",
                    a.dir.display()
                );
                return Ok(());
            }
            for root in &r.roots {
                println!(
                    "root {:<16} {}  valid until {}",
                    root.realm.map(|r| r.to_string()).unwrap_or_default(),
                    root.subject,
                    root.not_after.date()
                );
            }
            println!(
                "\nRoot keys are in {}/roots/*.key, encrypted (PKCS#8, PBES2: PBKDF2-SHA256 + AES-256-CBC).\n\
                 These roots live {} days and are meant to stay OFFLINE: after signing the hosts'\n\
                 intermediates, move roots/*.key to offline media. Nodes never receive them;\n\
                 `pki issue-node` does not need them.",
                a.dir.display(),
                cfg.lifetimes.root_days
            );
        }
        Sub::Intermediate(a) => {
            let pki = PkiDir::open(&a.dir)?;
            let pw = read_password(&a.password, false)?;
            for realm in a.realms {
                let c = pki.intermediate(&a.host, realm, pw.as_bytes(), now, a.days)?;
                println!(
                    "intermediate {realm} for {}: valid until {} (pathlen 0, names: {}{})",
                    a.host,
                    c.not_after.date(),
                    c.permitted_dns
                        .map(|p| p.join(","))
                        .unwrap_or_else(|| "any DNS".into()),
                    if c.permitted_ips.is_empty() {
                        String::new()
                    } else {
                        format!("; IP addresses: {}", c.permitted_ips.join(","))
                    }
                );
            }
        }
        Sub::IssueNode(a) => {
            let pki = PkiDir::open(&a.dir)?;
            let node = NodeSpec::load(&a.node)?;
            let b = pki.issue_node(&node, &a.node.display().to_string(), &a.out, now)?;
            for (p, _, _) in &b.files {
                println!("{}", p);
            }
            if let Some((_, c)) = b
                .leaves
                .iter()
                .find(|(id, _)| id == mk_pki::plan::BOOTSTRAP_CLIENT_ID)
            {
                eprintln!(
                    "kubelet re-bootstrap credential {}: valid until {} (with the intermediate); only re-running issue-node renews it",
                    mk_pki::plan::BOOTSTRAP_CLIENT_CERT,
                    c.not_after.date()
                );
            }
            eprintln!(
                "{} files for {} in {}",
                b.files.len(),
                node.name,
                a.out.display()
            );
        }
        Sub::List(a) => {
            let rows = inventory::list(&a.dir, now).map_err(anyhow::Error::msg)?;
            if a.json {
                println!("{}", inventory::json(&rows));
            } else {
                print!("{}", inventory::table(&rows));
            }
        }
    }
    Ok(())
}
