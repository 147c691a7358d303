//! The inventory: which nodes a rollout upgrades, their roles, and how each
//! is re-imaged (its driver). YAML, read with serde_norway; unknown fields,
//! duplicate names and empty lists are errors that name the field and line.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Largest inventory file read (untrusted input is bounded).
pub const MAX_SIZE: u64 = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The version the nodes must report after re-imaging: the node label
    /// `mk.dev/image-version` set at first boot from the image recipe's
    /// `version` (/usr/lib/mk/image-release in the image). May be left out
    /// when `--bundle` is given: then it is the bundle's image/image.json
    /// `version` (and when both are given they must agree).
    #[serde(default)]
    pub image_version: String,
    /// Workers re-imaged at the same time.
    #[serde(default = "one")]
    pub worker_batch: usize,
    /// How mk-rollout reaches the apiserver (needed by `apply`).
    pub apiserver: Option<ApiServer>,
    /// How mk-rollout reaches etcd (needed by `apply` when control planes
    /// are listed): health checks, backups, member removal.
    pub etcd: Option<Etcd>,
    #[serde(default)]
    pub timeouts: Timeouts,
    pub nodes: Vec<NodeEntry>,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiServer {
    /// `https://host:port`.
    pub server: String,
    /// Verify the apiserver's certificate for this name instead of the
    /// URL's host.
    pub tls_server_name: Option<String>,
    /// Cluster CA, client certificate and key (PEM files; relative paths
    /// are relative to the inventory).
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Etcd {
    /// Client URLs of the members (https).
    pub endpoints: Vec<String>,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Where the backup before the control planes goes (R35).
    pub backup_dir: PathBuf,
    #[serde(default = "seven")]
    pub backup_keep: usize,
    /// A backup older than this (seconds) is not fresh: a new one is taken
    /// before the next control plane.
    #[serde(default = "hour")]
    pub backup_max_age: u64,
}

fn seven() -> usize {
    7
}
fn hour() -> u64 {
    3600
}

/// Bounds of each wait, in seconds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Evicting every pod of a node (PodDisruptionBudgets may hold it).
    pub drain: u64,
    /// The ssh driver with `--bundle`: copying the bundle to the node, and
    /// checking its SHA-256 there (each).
    pub copy: u64,
    /// The driver's command.
    pub reimage: u64,
    /// The node back Ready on the new version (and, for a control plane,
    /// etcd and the apiserver healthy).
    pub ready: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            drain: 600,
            copy: 1800,
            reimage: 3600,
            ready: 1800,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ControlPlane,
    Worker,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// The Kubernetes Node name.
    pub name: String,
    pub role: Role,
    pub driver: Driver,
}

/// How a node is re-imaged. (`qemu`, for tests, is not implemented yet.)
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "DriverSpec")]
pub enum Driver {
    Ssh(SshDriver),
    Command(CommandDriver),
}

/// `driver:` as written: a map with exactly one key (serde_norway wants
/// YAML tags for enums, which read badly in an inventory).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DriverSpec {
    ssh: Option<SshDriver>,
    command: Option<CommandDriver>,
}

impl TryFrom<DriverSpec> for Driver {
    type Error = String;
    fn try_from(d: DriverSpec) -> Result<Driver, String> {
        match (d.ssh, d.command) {
            (Some(s), None) => Ok(Driver::Ssh(s)),
            (None, Some(c)) => Ok(Driver::Command(c)),
            _ => Err("driver: expected exactly one of `ssh` or `command`".into()),
        }
    }
}

impl Driver {
    /// Whether re-imaging wipes the disk, state partition included: then a
    /// control plane's etcd member is removed first and rejoins as a
    /// learner. `mk-node update` (ssh) keeps the state partition.
    pub fn wipes_disk(&self) -> bool {
        match self {
            Driver::Ssh(_) => false,
            Driver::Command(c) => c.wipes_disk,
        }
    }
}

/// OpenSSH with a pinned host key: runs `command` on the node (typically
/// `mk-node update` with a bundle copied there or served over HTTPS).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshDriver {
    pub host: String,
    #[serde(default = "root")]
    pub user: String,
    pub port: Option<u16>,
    /// The known_hosts file holding this node's host key; nothing else is
    /// trusted (StrictHostKeyChecking=yes).
    pub known_hosts: PathBuf,
    pub identity: Option<PathBuf>,
    /// The remote command, one string as ssh(1) sends it. With `--bundle`,
    /// `{bundle}` in it is replaced by the (shell-quoted) path of the
    /// bundle copied to the node; it must then appear in it.
    pub command: String,
    /// Where `--bundle` is copied on the node (absolute; default
    /// [`DEFAULT_BUNDLE_PATH`], on the state partition, which an update
    /// keeps).
    pub bundle_path: Option<String>,
}

/// Where the ssh driver copies the bundle on a node by default.
pub const DEFAULT_BUNDLE_PATH: &str = "/var/lib/mk/update/bundle.iso";

/// What `{bundle}` in an ssh driver's `command` is replaced with.
pub const BUNDLE_PLACEHOLDER: &str = "{bundle}";

impl SshDriver {
    /// Where the bundle goes on this node.
    pub fn bundle_path(&self) -> &str {
        self.bundle_path.as_deref().unwrap_or(DEFAULT_BUNDLE_PATH)
    }
}

/// The bundle `--bundle` gives, as far as the inventory is concerned.
#[derive(Debug, Clone, Copy)]
pub struct BundleVersion<'a> {
    /// The bundle file, for messages.
    pub file: &'a Path,
    /// Its image/image.json `version`.
    pub version: &'a str,
}

fn root() -> String {
    "root".into()
}

/// A site's own program (PXE + IPMI re-install, ...), run with the node's
/// name in `MK_ROLLOUT_NODE` and its role in `MK_ROLLOUT_ROLE`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandDriver {
    pub program: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    /// Required: whether the re-install wipes the state partition.
    pub wipes_disk: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", location(*.line))]
pub struct InventoryError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

fn location(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// Reads and checks an inventory file; relative paths in it are made
/// relative to its directory.
pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
    load_for(path, None)
}

/// [`load`], for a rollout of `bundle` when one is given: its version is
/// the target when the inventory has no `image_version`, and must equal it
/// when it has; every ssh driver's command must take it (`{bundle}`).
pub fn load_for(path: &Path, bundle: Option<BundleVersion>) -> Result<Inventory, InventoryError> {
    let err = |line, message: String| InventoryError {
        file: path.display().to_string(),
        line,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(None, format!("cannot read: {e}")))?;
    if meta.len() > MAX_SIZE {
        return Err(err(
            None,
            format!("{} bytes, more than the {MAX_SIZE} accepted", meta.len()),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(None, format!("cannot read: {e}")))?;
    let mut inv = parse_for(&text, bundle).map_err(|(line, m)| err(line, m))?;
    let base = mk_durable::parent(path).to_path_buf();
    inv.resolve_paths(&base);
    Ok(inv)
}

/// Parses and checks inventory text. The error: line (1-based) if known,
/// and what is wrong, naming the field.
pub fn parse(text: &str) -> Result<Inventory, (Option<usize>, String)> {
    parse_for(text, None)
}

/// [`parse`] for a rollout of `bundle` (see [`load_for`]).
pub fn parse_for(
    text: &str,
    bundle: Option<BundleVersion>,
) -> Result<Inventory, (Option<usize>, String)> {
    let mut inv: Inventory = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        (line, e.to_string())
    })?;
    if let Some(b) = bundle {
        if inv.image_version.is_empty() {
            inv.image_version = b.version.to_string();
        } else if inv.image_version != b.version {
            return Err((
                line_of(text, "image_version", &inv.image_version),
                format!(
                    "image_version {:?}, but the bundle {} carries version {:?} (its image/image.json); \
                     expected the same version, or no image_version to take the bundle's",
                    inv.image_version,
                    b.file.display(),
                    b.version
                ),
            ));
        }
    }
    check(&inv, text, bundle.is_some())?;
    Ok(inv)
}

/// The first line whose text has `key: value` (for errors about values
/// serde accepted).
fn line_of(text: &str, key: &str, value: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            l.strip_prefix(key)
                .and_then(|r| r.trim_start().strip_prefix(':'))
                .is_some_and(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == value)
        })
        .map(|i| i + 1)
}

fn check(inv: &Inventory, text: &str, bundle: bool) -> Result<(), (Option<usize>, String)> {
    // The image recipe's `version`, which first boot sets as a label value.
    let version_error = if inv.image_version.is_empty() {
        Some("missing or empty (and no --bundle gives it)".to_string())
    } else {
        mk_roleconfig::names::check_label_value(&inv.image_version).err()
    };
    if let Some(e) = version_error {
        return Err((
            line_of(text, "image_version", &inv.image_version),
            format!(
                "image_version {:?}: {e}; expected the image recipe's `version`, which nodes carry as the label mk.dev/image-version",
                inv.image_version
            ),
        ));
    }
    if inv.worker_batch == 0 {
        return Err((
            line_of(text, "worker_batch", "0"),
            "worker_batch: expected at least 1".into(),
        ));
    }
    if inv.nodes.is_empty() {
        return Err((
            line_of(text, "nodes", "[]"),
            "nodes: empty; expected at least one node".into(),
        ));
    }
    for (i, n) in inv.nodes.iter().enumerate() {
        let at = || line_of(text, "name", &n.name);
        if let Err(e) = mk_dnsname::check_dns_name(&n.name) {
            return Err((
                at(),
                format!("nodes[{i}].name {:?}: not a Node name: {e}", n.name),
            ));
        }
        if let Some(j) = inv.nodes[..i].iter().position(|m| m.name == n.name) {
            // The second occurrence's line.
            let line = text
                .lines()
                .enumerate()
                .filter(|(_, l)| line_of(l, "name", &n.name).is_some())
                .nth(1)
                .map(|(k, _)| k + 1);
            return Err((
                line,
                format!(
                    "nodes[{i}].name: {:?} is already nodes[{j}]; each node is listed once",
                    n.name
                ),
            ));
        }
        match &n.driver {
            Driver::Ssh(s) if s.command.trim().is_empty() => {
                return Err((
                    at(),
                    format!("nodes[{i}].driver.ssh.command: empty; expected the remote command (mk-node update ...)"),
                ))
            }
            Driver::Ssh(s) if s.host.trim().is_empty() || s.host.starts_with('-') => {
                return Err((
                    at(),
                    format!("nodes[{i}].driver.ssh.host {:?}: expected a host name or address", s.host),
                ))
            }
            Driver::Ssh(s) => check_bundle_use(i, s, bundle).map_err(|m| (at(), m))?,
            _ => {}
        }
    }
    if let Some(e) = &inv.etcd {
        if e.endpoints.is_empty() {
            return Err((
                line_of(text, "endpoints", "[]"),
                "etcd.endpoints: empty; expected the members' client URLs".into(),
            ));
        }
        if e.backup_keep == 0 {
            return Err((
                line_of(text, "backup_keep", "0"),
                "etcd.backup_keep: expected at least 1".into(),
            ));
        }
    }
    Ok(())
}

/// The ssh driver's use of the bundle. `{bundle}` missing while --bundle is
/// given is an error, not a warning: the command would update from some
/// other file while the copied bundle is ignored, and the rollout would only
/// notice after the node rebooted onto the old version.
fn check_bundle_use(i: usize, s: &SshDriver, bundle: bool) -> Result<(), String> {
    let has = s.command.contains(BUNDLE_PLACEHOLDER);
    if bundle && !has {
        return Err(format!(
            "nodes[{i}].driver.ssh.command {:?}: has no {BUNDLE_PLACEHOLDER}, but --bundle is given; \
             expected the copied bundle's place in it, e.g. `mk-node update --bundle {BUNDLE_PLACEHOLDER} --trust /etc/mk/mk.pub`",
            s.command
        ));
    }
    if !bundle && has {
        return Err(format!(
            "nodes[{i}].driver.ssh.command: has {BUNDLE_PLACEHOLDER} but no --bundle is given; \
             expected --bundle FILE --trust KEY.pub (the bundle to copy to the node)"
        ));
    }
    if let Some(p) = &s.bundle_path {
        let bad = !p.starts_with('/')
            || p.ends_with('/')
            || p.chars().any(|c| c.is_control())
            || p.split('/').any(|c| c == "..");
        if bad {
            return Err(format!(
                "nodes[{i}].driver.ssh.bundle_path {p:?}: expected an absolute file path on the node, \
                 without `..` or control characters"
            ));
        }
    }
    Ok(())
}

impl Inventory {
    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(a) = &mut self.apiserver {
            fix(&mut a.ca);
            fix(&mut a.cert);
            fix(&mut a.key);
        }
        if let Some(e) = &mut self.etcd {
            fix(&mut e.ca);
            fix(&mut e.cert);
            fix(&mut e.key);
            fix(&mut e.backup_dir);
        }
        for n in &mut self.nodes {
            match &mut n.driver {
                Driver::Ssh(s) => {
                    fix(&mut s.known_hosts);
                    if let Some(i) = &mut s.identity {
                        fix(i);
                    }
                }
                Driver::Command(c) => {
                    // A bare name is looked up in PATH, as a shell would.
                    if c.program.components().count() > 1 {
                        fix(&mut c.program);
                    }
                }
            }
        }
    }

    pub fn node(&self, name: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
image_version: 2026.12.1
worker_batch: 2
nodes:
  - name: cp1.example.com
    role: control-plane
    driver:
      ssh:
        host: cp1.example.com
        known_hosts: known_hosts
        command: mk-node update --bundle /var/tmp/mk-2026.12.1.iso --trust /etc/mk/bundle.pub
  - name: w1.example.com
    role: worker
    driver:
      command:
        program: ./reinstall.sh
        args: [--pxe]
        wipes_disk: true
";

    #[test]
    fn good_inventory_parses() {
        let inv = parse(GOOD).unwrap();
        assert_eq!(inv.nodes.len(), 2);
        assert_eq!(inv.worker_batch, 2);
        assert_eq!(inv.nodes[0].role, Role::ControlPlane);
        assert!(!inv.nodes[0].driver.wipes_disk());
        assert!(inv.nodes[1].driver.wipes_disk());
        assert_eq!(inv.timeouts, Timeouts::default());
    }

    #[test]
    fn duplicate_name_names_the_second_line() {
        let text = GOOD.replace("name: w1.example.com", "name: cp1.example.com");
        let (line, msg) = parse(&text).unwrap_err();
        assert_eq!(line, Some(11), "{msg}");
        assert!(
            msg.contains("nodes[1].name") && msg.contains("nodes[0]"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_field_is_named_with_its_line() {
        let text = GOOD.replace("    role: worker\n", "    role: worker\n    rack: 4\n");
        let (line, msg) = parse(&text).unwrap_err();
        assert_eq!(line, Some(13), "{msg}");
        assert!(msg.contains("unknown field `rack`"), "{msg}");
    }

    #[test]
    fn empty_node_list_is_an_error() {
        let (line, msg) = parse("image_version: 1\nnodes: []\n").unwrap_err();
        assert_eq!(line, Some(2));
        assert!(msg.contains("nodes: empty"), "{msg}");
    }

    #[test]
    fn missing_wipes_disk_and_unknown_driver_are_errors() {
        let text = GOOD.replace("        wipes_disk: true\n", "");
        let (_, msg) = parse(&text).unwrap_err();
        assert!(msg.contains("wipes_disk"), "{msg}");
        let text = GOOD.replace("      command:\n", "      qemu:\n");
        let (line, msg) = parse(&text).unwrap_err();
        assert!(
            msg.contains("unknown field `qemu`, expected `ssh` or `command`"),
            "{msg}"
        );
        assert_eq!(line, Some(14));
    }

    #[test]
    fn the_image_version_must_be_a_label_value() {
        let text = GOOD.replace("image_version: 2026.12.1", "image_version: 2026.12.1+git");
        let (line, msg) = parse(&text).unwrap_err();
        assert_eq!(
            line,
            Some(
                text.lines()
                    .position(|l| l.starts_with("image_version"))
                    .unwrap()
                    + 1
            )
        );
        assert!(
            msg.contains("'+'") && msg.contains("mk.dev/image-version"),
            "{msg}"
        );
    }

    #[test]
    fn bad_values_are_errors() {
        let (_, msg) = parse(&GOOD.replace("worker_batch: 2", "worker_batch: 0")).unwrap_err();
        assert!(msg.contains("worker_batch"), "{msg}");
        let (line, msg) = parse(&GOOD.replace("name: w1.example.com", "name: W1_bad")).unwrap_err();
        assert!(msg.contains("nodes[1].name"), "{msg}");
        assert_eq!(line, Some(11));
        let (_, msg) = parse(&GOOD.replace("role: worker", "role: master")).unwrap_err();
        assert!(msg.contains("unknown variant `master`"), "{msg}");
        let (_, msg) = parse(&GOOD.replace(
            "    driver:\n      command:",
            "    driver: {}\n      command:",
        ))
        .unwrap_err();
        assert!(!msg.is_empty());
        let two = GOOD.replace(
            "        wipes_disk: true\n",
            "        wipes_disk: true\n      ssh: {host: w1, known_hosts: k, command: c}\n",
        );
        let (line, msg) = parse(&two).unwrap_err();
        assert!(msg.contains("exactly one of `ssh` or `command`"), "{msg}");
        assert!(line.is_some(), "{msg}");
    }

    #[test]
    fn relative_paths_are_beside_the_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("inventory.yaml");
        std::fs::write(&p, GOOD).unwrap();
        let inv = load(&p).unwrap();
        match &inv.nodes[0].driver {
            Driver::Ssh(s) => assert_eq!(s.known_hosts, dir.path().join("known_hosts")),
            _ => panic!(),
        }
        match &inv.nodes[1].driver {
            Driver::Command(c) => assert_eq!(c.program, dir.path().join("./reinstall.sh")),
            _ => panic!(),
        }
        let e = load(&dir.path().join("missing.yaml")).unwrap_err();
        assert!(e.to_string().contains("missing.yaml: cannot read"), "{e}");
    }

    const BUNDLED: &str = "\
nodes:
  - name: w1.example.com
    role: worker
    driver:
      ssh:
        host: w1.example.com
        known_hosts: known_hosts
        command: mk-node update --bundle {bundle} --trust /etc/mk/mk.pub
";

    fn v<'a>(version: &'a str) -> Option<BundleVersion<'a>> {
        Some(BundleVersion {
            file: Path::new("/admin/mk-2.iso"),
            version,
        })
    }

    #[test]
    fn the_bundle_gives_the_version_or_must_agree_with_it() {
        // No image_version: the bundle's.
        let inv = parse_for(BUNDLED, v("2.0.0")).unwrap();
        assert_eq!(inv.image_version, "2.0.0");
        // The same: fine.
        let text = format!("image_version: 2.0.0\n{BUNDLED}");
        assert_eq!(parse_for(&text, v("2.0.0")).unwrap().image_version, "2.0.0");
        // Another: both named, with the inventory's line.
        let (line, msg) = parse_for(&text, v("3.0.0")).unwrap_err();
        assert_eq!(line, Some(1));
        assert!(
            msg.contains(
                "image_version \"2.0.0\", but the bundle /admin/mk-2.iso carries version \"3.0.0\""
            ),
            "{msg}"
        );
        // Neither: the version is missing.
        let (_, msg) = parse_for(&BUNDLED.replace("{bundle}", "/x.iso"), None).unwrap_err();
        assert!(
            msg.contains("image_version \"\": missing or empty (and no --bundle gives it)"),
            "{msg}"
        );
        // A bundle version that is no label value is refused like the inventory's.
        let (_, msg) = parse_for(BUNDLED, v("2.0.0+git")).unwrap_err();
        assert!(msg.contains("'+'"), "{msg}");
    }

    #[test]
    fn the_ssh_command_takes_the_bundle_exactly_when_one_is_given() {
        let (line, msg) = parse_for(&format!("image_version: 2.0.0\n{BUNDLED}"), None).unwrap_err();
        assert_eq!(line, Some(3));
        assert!(
            msg.contains("nodes[0].driver.ssh.command: has {bundle} but no --bundle is given"),
            "{msg}"
        );
        let text = BUNDLED.replace("{bundle}", "/var/tmp/old.iso");
        let (_, msg) = parse_for(&text, v("2.0.0")).unwrap_err();
        assert!(
            msg.contains("has no {bundle}, but --bundle is given"),
            "{msg}"
        );
        let text = BUNDLED.replace(
            "        command:",
            "        bundle_path: var/b.iso\n        command:",
        );
        let (_, msg) = parse_for(&text, v("2.0.0")).unwrap_err();
        assert!(
            msg.contains("nodes[0].driver.ssh.bundle_path \"var/b.iso\": expected an absolute"),
            "{msg}"
        );
        let text = BUNDLED.replace(
            "        command:",
            "        bundle_path: /srv/../b.iso\n        command:",
        );
        assert!(parse_for(&text, v("2.0.0")).is_err());
        let text = BUNDLED.replace(
            "        command:",
            "        bundle_path: /srv/mk/b.iso\n        command:",
        );
        match &parse_for(&text, v("2.0.0")).unwrap().nodes[0].driver {
            Driver::Ssh(s) => assert_eq!(s.bundle_path(), "/srv/mk/b.iso"),
            _ => panic!(),
        }
        match &parse_for(BUNDLED, v("2.0.0")).unwrap().nodes[0].driver {
            Driver::Ssh(s) => assert_eq!(s.bundle_path(), DEFAULT_BUNDLE_PATH),
            _ => panic!(),
        }
    }
}
