//! The role config's types. Field docs become the JSON Schema's
//! descriptions (docs/role-config.schema.json), so they are written for the
//! admin who edits the YAML.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only API version so far.
pub const API_VERSION: &str = "mk.dev/v1alpha1";
/// Kubernetes version when `spec.cluster.kubernetesVersion` is not given.
pub const DEFAULT_KUBERNETES_VERSION: &str = "1.30";

/// `apiVersion` of every role-config document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "mk.dev/v1alpha1")]
    V1alpha1,
}

/// `kind` of a single node's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NodeConfigKind {
    NodeConfig,
}

/// `kind` of a document holding several nodes' configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NodeConfigListKind {
    NodeConfigList,
}

/// The role config of one node: what mk-firstboot makes of this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeConfig {
    /// Always `mk.dev/v1alpha1`.
    pub api_version: ApiVersion,
    /// `NodeConfig`.
    pub kind: NodeConfigKind,
    /// Which machine this config is for. Required for the items of a
    /// `NodeConfigList`; on a single config it is optional, and when present
    /// first boot refuses to apply the config on any other machine (so a
    /// validly signed config of another node cannot be swapped in).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    pub metadata: Metadata,
    pub spec: NodeSpec,
}

/// Several nodes' configs in one file: one config drive or HTTP directory
/// serves a rack; each machine picks the one item whose `match` fits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeConfigList {
    /// Always `mk.dev/v1alpha1`.
    pub api_version: ApiVersion,
    /// `NodeConfigList`.
    pub kind: NodeConfigListKind,
    /// The configs; every item needs a `match` selector, and no two items
    /// may claim the same MAC address, DMI serial or system UUID.
    pub items: Vec<NodeConfig>,
}

/// Machine selector. Every criterion given must hold (AND); within
/// `macAddresses` one match is enough (a replaced NIC does not orphan the
/// config). At least one criterion is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Selector {
    /// MAC addresses, `aa:bb:cc:dd:ee:ff` (case does not matter), as in
    /// /sys/class/net/*/address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mac_addresses: Vec<String>,
    /// DMI system serial number (/sys/class/dmi/id/product_serial,
    /// `dmidecode -s system-serial-number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmi_serial: Option<String>,
    /// SMBIOS system UUID (/sys/class/dmi/id/product_uuid,
    /// `dmidecode -s system-uuid`); case does not matter.
    #[serde(
        default,
        rename = "systemUUID",
        skip_serializing_if = "Option::is_none"
    )]
    pub system_uuid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The node's name: its Kubernetes node name, etcd member name and main
    /// DNS name. A lower-case DNS name inside `spec.cluster.domain`, never an
    /// IP address (R28).
    pub name: String,
}

/// What the node is and does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSpec {
    /// Further DNS names of this host (certificate SANs), inside
    /// `spec.cluster.domain`. The node name is always included; no IP
    /// addresses (R28).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// One or more of `bootstrap-control-plane` (the first control plane:
    /// creates the cluster), `control-plane` (joins the control plane) and
    /// `worker` (runs workloads; with a control-plane role: a single-server
    /// node, R5).
    pub roles: Vec<Role>,
    pub cluster: ClusterSpec,
    pub planes: Planes,
    /// Node labels, e.g. `topology.kubernetes.io/zone: rack1` (R10). Keys and
    /// values follow Kubernetes' label syntax.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// SELinux mode (R13). Nodes boot `enforcing`; only workload-only nodes
    /// (roles: `worker`) may be set `permissive` or `disabled`.
    #[serde(default)]
    pub selinux: SelinuxMode,
    /// Human authentication on the apiserver (R17); control-plane nodes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    /// Encryption of Secrets (and other resources) at rest (R9). Required on
    /// control-plane nodes, refused on workers (they must not hold the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_at_rest: Option<EncryptionSpec>,
    /// Certificates and keys delivered to this host, PEM text keyed by
    /// kubeadm's file name under /etc/kubernetes/pki (`ca.crt`,
    /// `etcd/server.key`, ...; `kubelet/...` names go to
    /// /var/lib/kubelet/pki). A `.crt` holds the certificate followed by its
    /// intermediate. `mk-compose config-drive` fills this in from
    /// `mk-compose pki issue-node`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"enum": crate::pki::KNOWN_FILE_NAMES}))]
    pub certificates: BTreeMap<String, String>,
    /// Bootstrap token for a node that joins with kubeadm-style TLS
    /// bootstrapping (workers), instead of a delivered kubelet certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<JoinSpec>,
    /// Bootstrap tokens the bootstrap control plane creates in the cluster
    /// (kubeadm's `bootstrap.kubernetes.io/token` Secrets), for workers
    /// that join with `join.token`. Mint them with
    /// `mk-compose token create --ttl 24h`. Bootstrap control plane only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_tokens: Vec<BootstrapToken>,
    /// NTP servers of the site (DNS names or addresses) that chrony
    /// follows. None by default: an air-gapped site names its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ntp_servers: Vec<String>,
    /// What first boot does when a step fails: `halt` (default: stop before
    /// the kubelet starts) or `continue` (report, then start it anyway).
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// The node's interfaces, bonds, VLANs and each plane's addresses, written
    /// as NetworkManager keyfiles at first boot. Absent: first boot leaves
    /// networking as the image or the installer set it up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    /// Entries for /etc/hosts, for sites without DNS for the cluster's
    /// names. Names still go into certificates and URLs (R28); this only
    /// makes them resolve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostEntry>,
}

/// Networking of the node (NetworkManager). Interfaces, bonds and VLANs
/// are links, named by `name`; each plane is placed on one link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkSpec {
    /// Physical interfaces (Ethernet), each selected by MAC address or by
    /// its kernel name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceSpec>,
    /// Bonds over interfaces (link aggregation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonds: Vec<BondSpec>,
    /// 802.1Q VLANs on an interface or a bond.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<VlanSpec>,
    /// Where each plane's address comes from. A plane not listed is left
    /// as it is (its address must then come from elsewhere).
    #[serde(default)]
    pub planes: PlaneNetworks,
}

/// A physical interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InterfaceSpec {
    /// The link's name in this config (bonds, VLANs and planes refer to
    /// it) and, without `macAddress`, the kernel interface name it selects
    /// (`eth0`, `ens3`). At most 15 characters of `A-Z a-z 0-9 _ - .`.
    pub name: String,
    /// Selects the interface whose MAC address this is (`aa:bb:cc:dd:ee:ff`,
    /// case does not matter), whatever the kernel calls it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// MTU in bytes (576-9216); absent: the driver's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// A bond (Linux bonding driver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BondSpec {
    /// The bond's interface name, e.g. `bond0` (at most 15 characters).
    pub name: String,
    /// `802.3ad` (LACP; the switch ports form a LAG) or `active-backup`
    /// (one member carries traffic; no switch configuration).
    pub mode: BondMode,
    /// Names of `interfaces` entries; at least one, each in one bond only.
    pub members: Vec<String>,
    /// MTU in bytes (576-9216); absent: the driver's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BondMode {
    #[serde(rename = "802.3ad")]
    Lacp,
    #[serde(rename = "active-backup")]
    ActiveBackup,
}

impl BondMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BondMode::Lacp => "802.3ad",
            BondMode::ActiveBackup => "active-backup",
        }
    }
}

/// An 802.1Q VLAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VlanSpec {
    /// The VLAN's interface name, e.g. `bond0.100` (at most 15 characters).
    pub name: String,
    /// VLAN id, 1-4094.
    pub id: u32,
    /// The interface or bond it is tagged on (a `name` of `interfaces` or
    /// `bonds`).
    pub parent: String,
    /// MTU in bytes (576-9216), at most the parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// Each plane's link and addressing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaneNetworks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<PlaneNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<PlaneNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<PlaneNetwork>,
}

impl PlaneNetworks {
    /// `(plane name, its networking)` for the planes given, in the order
    /// control, workload, etcd.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &PlaneNetwork)> {
        [
            ("control", &self.control),
            ("workload", &self.workload),
            ("etcd", &self.etcd),
        ]
        .into_iter()
        .filter_map(|(n, p)| p.as_ref().map(|p| (n, p)))
    }
}

/// One plane's address on a link: `dhcp: true`, or a static `address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlaneNetwork {
    /// The link (a `name` of `interfaces`, `bonds` or `vlans`).
    pub link: String,
    /// Take the address from DHCP (IPv4). Excludes `address`.
    #[serde(default)]
    pub dhcp: bool,
    /// Static address with prefix length, e.g. `10.0.1.11/24`; inside the
    /// plane's `spec.planes.<plane>.cidr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Default gateway, inside `address`'s network. At most one plane sets
    /// it per address family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// DNS servers (IP addresses), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// DNS search domains, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
}

/// One /etc/hosts line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// IP address.
    pub address: String,
    /// DNS names of that address, the canonical name first.
    pub names: Vec<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The first control-plane node: creates etcd and the cluster.
    BootstrapControlPlane,
    /// A further control-plane node joining an existing cluster.
    ControlPlane,
    /// Runs workloads.
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::BootstrapControlPlane => "bootstrap-control-plane",
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

impl NodeSpec {
    /// Whether the node runs a control plane (bootstrap or joining).
    pub fn is_control_plane(&self) -> bool {
        self.roles
            .iter()
            .any(|r| matches!(r, Role::BootstrapControlPlane | Role::ControlPlane))
    }
}

/// The cluster the node belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Cluster name: one DNS label (lower case, digits, `-`).
    pub name: String,
    /// The cluster's DNS domain: node names, `dnsNames` and the API endpoint
    /// live under it (the PKI's intermediates are name-constrained to it).
    pub domain: String,
    pub api_endpoint: ApiEndpoint,
    /// Kubernetes version, `1.MINOR` or `1.MINOR.PATCH` (a leading `v` is
    /// accepted). Must be one this mk release supports.
    #[serde(default = "default_kubernetes_version")]
    pub kubernetes_version: String,
    /// Pod network (CNI). Must not overlap the planes or the service CIDR.
    #[serde(default = "default_pod_cidr", rename = "podCIDR")]
    pub pod_cidr: String,
    /// Service ClusterIP range. Must not overlap the planes or the pod CIDR.
    #[serde(default = "default_service_cidr", rename = "serviceCIDR")]
    pub service_cidr: String,
    /// The pod network (Calico, R33).
    #[serde(default)]
    pub calico: CalicoSpec,
    /// Client endpoints of the running etcd cluster, `host:port` (e.g.
    /// `cp1.example.com:2379`), DNS names inside `domain`, never IP
    /// addresses (R28). A joining control plane (`control-plane`) lists
    /// the members there and adds itself as a learner; required for that
    /// role, refused on others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub etcd_endpoints: Vec<String>,
}

/// Calico, the CNI (R33): how pod traffic crosses between nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CalicoSpec {
    /// `ipip` (default): IP-in-IP, only between subnets (CrossSubnet);
    /// `vxlan`: VXLAN, only between subnets; `bgp`: no encapsulation, the
    /// network routes the pod CIDR (BGP between the nodes).
    #[serde(default)]
    pub mode: CalicoMode,
    /// MTU of the workload plane's interfaces. Calico subtracts its
    /// encapsulation overhead; when absent Calico detects the MTU itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CalicoMode {
    #[default]
    Ipip,
    Vxlan,
    Bgp,
}

impl CalicoMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CalicoMode::Ipip => "ipip",
            CalicoMode::Vxlan => "vxlan",
            CalicoMode::Bgp => "bgp",
        }
    }
}

fn default_kubernetes_version() -> String {
    DEFAULT_KUBERNETES_VERSION.into()
}

/// Calico's default pool.
fn default_pod_cidr() -> String {
    "192.168.0.0/16".into()
}

/// kubeadm's default service subnet.
fn default_service_cidr() -> String {
    "10.96.0.0/12".into()
}

/// Where clients reach the apiserver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiEndpoint {
    /// DNS name of the API endpoint (a load balancer, the keepalived VIP's
    /// name, or on a single server the node itself). Never an IP address.
    pub dns_name: String,
    /// TCP port.
    #[serde(default = "default_api_port")]
    pub port: u16,
    /// keepalived virtual IP (R31), the one place an address is configured:
    /// VRRP works on addresses. Must lie inside the control plane's CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<String>,
}

fn default_api_port() -> u16 {
    6443
}

/// Networks per plane (R30): each service binds only to this host's address
/// inside its plane's CIDR. Planes are either the same network (a
/// single-homed node) or disjoint; a plane nested inside another, or
/// partly overlapping it, is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Planes {
    /// apiserver, kubelet API, keepalived.
    pub control: Plane,
    /// Pod traffic (CNI), node ports. Defaults to the control plane's network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Plane>,
    /// etcd peer and client traffic. Defaults to the control plane's network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<Plane>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plane {
    /// Network in CIDR notation, e.g. `10.0.1.0/24` (host bits zero).
    pub cidr: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SelinuxMode {
    #[default]
    Enforcing,
    Permissive,
    Disabled,
}

impl SelinuxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SelinuxMode::Enforcing => "enforcing",
            SelinuxMode::Permissive => "permissive",
            SelinuxMode::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Stop before the kubelet starts.
    #[default]
    Halt,
    /// Report the failure and go on.
    Continue,
}

/// Human authentication (R17): OIDC, static users, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSpec>,
    /// Bearer-token users for sites without a directory (kube-apiserver
    /// `--token-auth-file`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_users: Vec<StaticUser>,
}

/// kube-apiserver `--oidc-*` flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcSpec {
    /// Issuer URL: `https://` and a DNS name, no query or fragment.
    #[serde(rename = "issuerURL")]
    pub issuer_url: String,
    /// Client ID the tokens are issued for.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// JWT claim used as the user name.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_prefix: Option<String>,
    /// JWT claim holding the user's groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_prefix: Option<String>,
    /// PEM CA certificate(s) of the issuer, if not publicly trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}

fn default_username_claim() -> String {
    "sub".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticUser {
    /// User name as RBAC sees it.
    pub name: String,
    /// Groups (RBAC). `system:masters` is refused: it bypasses RBAC and
    /// cannot be revoked; bind a ClusterRole instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Bearer token: at least 32 characters of `A-Z a-z 0-9 . _ ~ + / = -`,
    /// generated per site (never a default).
    pub token: String,
}

/// kube-apiserver `--encryption-provider-config` (R9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSpec {
    pub provider: EncryptionProvider,
    /// Keys, newest first: the first encrypts, all decrypt (rotation).
    pub keys: Vec<EncryptionKey>,
    /// Resources to encrypt.
    #[serde(default = "default_encrypted_resources")]
    pub resources: Vec<String>,
}

fn default_encrypted_resources() -> Vec<String> {
    vec!["secrets".into()]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EncryptionProvider {
    /// XSalsa20-Poly1305 (recommended).
    Secretbox,
    /// AES-CBC with PKCS#7 padding.
    Aescbc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptionKey {
    /// Key name (unique; recorded in every encrypted value).
    pub name: String,
    /// 32 random bytes, standard base64 (`head -c 32 /dev/urandom | base64`).
    pub secret: String,
}

/// Joining with a bootstrap token (kubeadm's TLS bootstrap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JoinSpec {
    /// Bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub token: String,
    /// `sha256:<hex>` hashes of the cluster CA's public key (as
    /// `kubeadm join --discovery-token-ca-cert-hash`); needed when
    /// `certificates` carries no `ca.crt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_cert_hashes: Vec<String>,
}

/// A bootstrap token the bootstrap control plane creates, with kubeadm's
/// default usages (authentication, signing) and group
/// (`system:bootstrappers:kubeadm:default-node-token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BootstrapToken {
    /// `[a-z0-9]{6}.[a-z0-9]{16}`: id, dot, secret.
    pub token: String,
    /// When the token stops working, RFC 3339 UTC (`2026-12-08T10:00:00Z`).
    /// The Secret carries it as `expiration`; the cluster's token cleaner
    /// deletes the Secret then.
    pub expires: String,
    /// Free text shown by `kubectl -n kube-system get secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A role-config file: one node's `NodeConfig`, or a `NodeConfigList` of
/// several nodes' configs. See docs/role-config.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(title = "mk role config (mk.dev/v1alpha1)")]
pub enum Document {
    Single(Box<NodeConfig>),
    List(NodeConfigList),
}
