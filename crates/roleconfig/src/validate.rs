//! Everything the types cannot say: names, networks, role combinations,
//! secrets in the right places, certificates. Pure: the clock is an
//! argument. Every problem is reported, each with the YAML path of its field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use time::OffsetDateTime;

mod network;

use crate::names::{self, Cidr};
use crate::pki::{self, CONTROL_PLANE_CAS};
use crate::select;
use crate::types::{Document, NodeConfig, NodeConfigList, NodeSpec, Role, SelinuxMode};

/// Kubernetes minor versions this mk release has static-pod flags for.
pub const SUPPORTED_MINORS: std::ops::RangeInclusive<u32> = 28..=33;

/// One problem, at `path` (e.g. `spec.planes.etcd.cidr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }
    fn check(&mut self, path: impl Into<String>, r: Result<(), String>) {
        if let Err(m) = r {
            self.add(path, m);
        }
    }
}

/// Path of a map entry whose key has dots or slashes.
fn key_path(base: &str, key: &str) -> String {
    format!("{base}[{key:?}]")
}

/// Validates one node's config at time `now` (certificate expiry).
pub fn validate(cfg: &NodeConfig, now: OffsetDateTime) -> Result<(), Vec<ConfigError>> {
    let mut e = Errors::default();
    node(cfg, now, "", &mut e);
    if let Some(sel) = &cfg.selector {
        select::check_selector(sel, "match", &mut |p, m| e.add(p, m));
    }
    finish(e)
}

/// Validates every item of a list (paths `items[N].…`) and that no two
/// items claim the same node name or machine.
pub fn validate_list(list: &NodeConfigList, now: OffsetDateTime) -> Result<(), Vec<ConfigError>> {
    let mut e = Errors::default();
    if list.items.is_empty() {
        e.add("items", "the list holds no configs");
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut claims: BTreeMap<String, usize> = BTreeMap::new();
    for (i, item) in list.items.iter().enumerate() {
        let p = format!("items[{i}].");
        node(item, now, &p, &mut e);
        match &item.selector {
            None => e.add(
                format!("items[{i}]"),
                "missing `match`: every item of a NodeConfigList needs a selector \
                 (macAddresses, dmiSerial or systemUUID)",
            ),
            Some(sel) => {
                select::check_selector(sel, &format!("{p}match"), &mut |p, m| e.add(p, m));
                for (what, value) in select::claims(sel) {
                    if let Some(j) = claims.insert(format!("{what} {value}"), i) {
                        if j != i {
                            e.add(
                                format!("items[{i}].match"),
                                format!("{what} {value} is also claimed by items[{j}]"),
                            );
                        }
                    }
                }
            }
        }
        let name = item.metadata.name.as_str();
        if let Some(j) = names.insert(name, i) {
            e.add(
                format!("items[{i}].metadata.name"),
                format!("node {name:?} is also items[{j}]"),
            );
        }
    }
    finish(e)
}

/// Validates whatever the file held.
pub fn validate_document(doc: &Document, now: OffsetDateTime) -> Result<(), Vec<ConfigError>> {
    match doc {
        Document::Single(c) => validate(c, now),
        Document::List(l) => validate_list(l, now),
    }
}

fn finish(e: Errors) -> Result<(), Vec<ConfigError>> {
    if e.0.is_empty() {
        Ok(())
    } else {
        Err(e.0)
    }
}

fn node(cfg: &NodeConfig, now: OffsetDateTime, p: &str, e: &mut Errors) {
    let s = &cfg.spec;
    let domain = &s.cluster.domain;
    let domain_ok = names::check_dns_name(domain);
    let domain_valid = domain_ok.is_ok();
    e.check(format!("{p}spec.cluster.domain"), domain_ok);
    e.check(
        format!("{p}spec.cluster.name"),
        names::check_dns_label(&s.cluster.name).map_err(|m| format!("not a DNS label: {m}")),
    );
    let in_domain = |path: String, name: &str, e: &mut Errors| match names::check_dns_name(name) {
        Err(m) => e.add(path, m),
        Ok(()) if domain_valid && !names::within_domain(name, domain) => e.add(
            path,
            format!("{name:?} is not inside the cluster domain {domain:?}"),
        ),
        Ok(()) => {}
    };
    in_domain(format!("{p}metadata.name"), &cfg.metadata.name, e);
    let mut seen = BTreeSet::from([cfg.metadata.name.as_str()]);
    for (i, n) in s.dns_names.iter().enumerate() {
        in_domain(format!("{p}spec.dnsNames[{i}]"), n, e);
        if !seen.insert(n) {
            e.add(
                format!("{p}spec.dnsNames[{i}]"),
                format!("{n:?} is listed twice (the node name is always included)"),
            );
        }
    }
    in_domain(
        format!("{p}spec.cluster.apiEndpoint.dnsName"),
        &s.cluster.api_endpoint.dns_name,
        e,
    );
    if s.cluster.api_endpoint.port == 0 {
        e.add(
            format!("{p}spec.cluster.apiEndpoint.port"),
            "port 0 is not a port",
        );
    }
    etcd_endpoints(s, p, domain_valid, e);
    kubernetes_version(
        &s.cluster.kubernetes_version,
        &format!("{p}spec.cluster.kubernetesVersion"),
        e,
    );
    roles(s, p, e);
    bootstrap_tokens(s, p, e);
    networks(s, p, e);
    network::check(s, p, e);
    network::hosts(s, p, e);
    time_and_pod_network(s, p, e);
    for (k, v) in &s.labels {
        let path = key_path(&format!("{p}spec.labels"), k);
        e.check(&path, names::check_label_key(k));
        e.check(&path, names::check_label_value(v));
    }
    let cp = s.is_control_plane();
    if cp && s.selinux != SelinuxMode::Enforcing {
        e.add(
            format!("{p}spec.selinux"),
            format!(
                "{} is only allowed on workload-only nodes (roles: [worker]); control-plane \
                 nodes stay enforcing (R13)",
                s.selinux.as_str()
            ),
        );
    }
    auth(s, p, now, e);
    encryption(s, p, e);
    certificates(&cfg.metadata.name, s, p, now, e);
}

/// `spec.cluster.etcdEndpoints`: what a joining control plane talks to.
fn etcd_endpoints(s: &NodeSpec, p: &str, domain_valid: bool, e: &mut Errors) {
    let path = format!("{p}spec.cluster.etcdEndpoints");
    let list = &s.cluster.etcd_endpoints;
    // With bootstrap-control-plane too, roles() already reports the clash.
    let joining =
        s.roles.contains(&Role::ControlPlane) && !s.roles.contains(&Role::BootstrapControlPlane);
    if joining && list.is_empty() {
        e.add(
            &path,
            "required for role control-plane: the etcd cluster's client endpoints \
             (host:port, e.g. cp1.example.com:2379) it joins",
        );
    }
    if !joining && !list.is_empty() {
        e.add(
            &path,
            "only a joining control plane (role control-plane) talks to an existing etcd \
             cluster; remove it",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, ep) in list.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let Some((host, port)) = ep.rsplit_once(':') else {
            e.add(
                &ip,
                format!("{ep:?}: expected host:port, e.g. cp1.example.com:2379"),
            );
            continue;
        };
        if !port.parse::<u16>().is_ok_and(|p| p != 0) {
            e.add(&ip, format!("{ep:?}: {port:?} is not a port"));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            e.add(
                &ip,
                format!("{ep:?}: an IP address; etcd is reached by DNS name (R28)"),
            );
            continue;
        }
        match names::check_dns_name(host) {
            Err(m) => e.add(&ip, format!("{ep:?}: {m}")),
            Ok(()) if domain_valid && !names::within_domain(host, &s.cluster.domain) => e.add(
                &ip,
                format!(
                    "{host:?} is not inside the cluster domain {:?}",
                    s.cluster.domain
                ),
            ),
            Ok(()) => {}
        }
        if !seen.insert(ep) {
            e.add(&ip, format!("{ep:?} is listed twice"));
        }
    }
}

/// Roles say worker and nothing else: no control-plane secrets belong here.
fn worker_only(s: &NodeSpec) -> bool {
    !s.is_control_plane() && s.roles.contains(&Role::Worker)
}

fn kubernetes_version(v: &str, path: &str, e: &mut Errors) {
    let bare = v.strip_prefix('v').unwrap_or(v);
    let parts: Vec<&str> = bare.split('.').collect();
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let ok = matches!(parts.len(), 2 | 3) && parts.iter().all(|p| num(p).is_some());
    if !ok {
        e.add(
            path,
            format!("{v:?} is not a Kubernetes version (expected 1.MINOR or 1.MINOR.PATCH, e.g. 1.30 or 1.30.4)"),
        );
        return;
    }
    let (major, minor) = (num(parts[0]).unwrap_or(0), num(parts[1]).unwrap_or(0));
    if major != 1 || !SUPPORTED_MINORS.contains(&minor) {
        e.add(
            path,
            format!(
                "Kubernetes {v} is not supported by this mk release (supported: 1.{} to 1.{})",
                SUPPORTED_MINORS.start(),
                SUPPORTED_MINORS.end()
            ),
        );
    }
}

fn roles(s: &NodeSpec, p: &str, e: &mut Errors) {
    let path = format!("{p}spec.roles");
    if s.roles.is_empty() {
        e.add(
            &path,
            "no role: give bootstrap-control-plane, control-plane and/or worker",
        );
    }
    let mut seen = BTreeSet::new();
    for r in &s.roles {
        if !seen.insert(r) {
            e.add(&path, format!("{} is listed twice", r.as_str()));
        }
    }
    if seen.contains(&Role::BootstrapControlPlane) && seen.contains(&Role::ControlPlane) {
        e.add(
            &path,
            "bootstrap-control-plane and control-plane together: a node either creates the \
             cluster (bootstrap-control-plane) or joins it (control-plane)",
        );
    }
    if let Some(join) = &s.join {
        let jp = format!("{p}spec.join");
        if seen.contains(&Role::BootstrapControlPlane) {
            e.add(
                &jp,
                "a bootstrap control plane creates the cluster: there is nothing to join",
            );
        }
        e.check(format!("{jp}.token"), check_bootstrap_token(&join.token));
        for (i, h) in join.ca_cert_hashes.iter().enumerate() {
            let ok = h.strip_prefix("sha256:").is_some_and(|x| {
                x.len() == 64
                    && x.bytes()
                        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            });
            if !ok {
                e.add(
                    format!("{jp}.caCertHashes[{i}]"),
                    format!("{h:?}: expected sha256: and 64 lower-case hex digits"),
                );
            }
        }
    }
}

/// A bootstrap token's syntax: `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn check_bootstrap_token(t: &str) -> Result<(), String> {
    let valid = t.len() == 23
        && t.split_once('.').is_some_and(|(a, b)| {
            a.len() == 6
                && b.len() == 16
                && (a.bytes().chain(b.bytes()))
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if valid {
        Ok(())
    } else {
        Err("not a bootstrap token: expected [a-z0-9]{6}.[a-z0-9]{16}".into())
    }
}

/// A time as `spec.bootstrapTokens[].expires` and the token Secret's
/// `expiration` hold it: UTC, whole seconds (`2026-12-08T10:00:00Z`), as
/// Go's time.RFC3339 prints the expiry kubeadm stores.
pub fn expiry_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `spec.bootstrapTokens`: bootstrap control plane only, well-formed,
/// distinct ids, an RFC 3339 expiry. An expired token is not an error here
/// (a node may be re-imaged from an old drive): the API step skips it.
fn bootstrap_tokens(s: &NodeSpec, p: &str, e: &mut Errors) {
    let path = format!("{p}spec.bootstrapTokens");
    if !s.bootstrap_tokens.is_empty() && !s.roles.contains(&Role::BootstrapControlPlane) {
        e.add(
            &path,
            "only the bootstrap control plane creates bootstrap tokens; other nodes join with join.token",
        );
    }
    let mut ids = BTreeSet::new();
    for (i, t) in s.bootstrap_tokens.iter().enumerate() {
        let tp = format!("{path}[{i}]");
        e.check(format!("{tp}.token"), check_bootstrap_token(&t.token));
        if let Some((id, _)) = t.token.split_once('.') {
            if !ids.insert(id) {
                e.add(
                    format!("{tp}.token"),
                    format!("token id {id:?} is listed twice"),
                );
            }
        }
        if OffsetDateTime::parse(&t.expires, &time::format_description::well_known::Rfc3339)
            .is_err()
        {
            e.add(
                format!("{tp}.expires"),
                format!(
                    "{:?} is not an RFC 3339 time (expected e.g. 2026-12-08T10:00:00Z)",
                    t.expires
                ),
            );
        }
        if let Some(d) = &t.description {
            if d.len() > 256 || d.chars().any(char::is_control) {
                e.add(
                    format!("{tp}.description"),
                    "at most 256 characters, no control characters",
                );
            }
        }
    }
}

/// `spec.ntpServers`: DNS names or IP addresses; `spec.cluster.calico.mtu`
/// in a range real links have.
fn time_and_pod_network(s: &NodeSpec, p: &str, e: &mut Errors) {
    for (i, n) in s.ntp_servers.iter().enumerate() {
        if n.parse::<IpAddr>().is_err() {
            e.check(
                format!("{p}spec.ntpServers[{i}]"),
                names::check_dns_name(n)
                    .map_err(|m| format!("neither an IP address nor a DNS name: {m}")),
            );
        }
    }
    if let Some(mtu) = s.cluster.calico.mtu {
        if !(1280..=9216).contains(&mtu) {
            e.add(
                format!("{p}spec.cluster.calico.mtu"),
                format!("{mtu} is not a link MTU (expected 1280 to 9216)"),
            );
        }
    }
}

fn parse_cidr(path: &str, s: &str, e: &mut Errors) -> Option<Cidr> {
    match Cidr::parse(s) {
        Ok(c) => Some(c),
        Err(m) => {
            e.add(path, m);
            None
        }
    }
}

fn networks(s: &NodeSpec, p: &str, e: &mut Errors) {
    let planes = &s.planes;
    let control_path = format!("{p}spec.planes.control.cidr");
    let mut nets: Vec<(String, Cidr, bool)> = Vec::new(); // (path, cidr, is_plane)
    if let Some(c) = parse_cidr(&control_path, &planes.control.cidr, e) {
        nets.push((control_path.clone(), c, true));
    }
    for (name, plane) in [("workload", &planes.workload), ("etcd", &planes.etcd)] {
        if let Some(plane) = plane {
            let path = format!("{p}spec.planes.{name}.cidr");
            if let Some(c) = parse_cidr(&path, &plane.cidr, e) {
                nets.push((path, c, true));
            }
        }
    }
    for (path, text) in [
        (format!("{p}spec.cluster.podCIDR"), &s.cluster.pod_cidr),
        (
            format!("{p}spec.cluster.serviceCIDR"),
            &s.cluster.service_cidr,
        ),
    ] {
        if let Some(c) = parse_cidr(&path, text, e) {
            nets.push((path, c, false));
        }
    }
    for (i, (pa, a, a_plane)) in nets.iter().enumerate() {
        for (j, (pb, b, b_plane)) in nets[..i].iter().enumerate() {
            // Planes that are one network are reported against once.
            let repeat = nets[..j].iter().any(|(_, c, c_plane)| *c_plane && c == b);
            if !a.overlaps(b) || (*b_plane && repeat) {
                continue;
            }
            if *a_plane && *b_plane {
                if a != b {
                    e.add(
                        pa,
                        format!(
                            "{a} overlaps {pb} ({b}) without being the same network: planes \
                             are either one network (single-homed node) or disjoint (R30)"
                        ),
                    );
                }
            } else {
                e.add(pa, format!("{a} overlaps {pb} ({b})"));
            }
        }
    }
    if let Some(vip) = &s.cluster.api_endpoint.vip {
        let path = format!("{p}spec.cluster.apiEndpoint.vip");
        match vip.parse::<IpAddr>() {
            Err(_) => e.add(
                &path,
                format!("{vip:?} is not an IP address (the keepalived VIP is an address; its DNS name goes in dnsName)"),
            ),
            Ok(ip) => {
                if let Some((_, control, _)) = nets.iter().find(|(pa, ..)| *pa == control_path) {
                    if !control.contains(ip) {
                        e.add(
                            &path,
                            format!("{ip} is outside the control plane's network {control}"),
                        );
                    }
                }
            }
        }
    }
}

fn auth(s: &NodeSpec, p: &str, now: OffsetDateTime, e: &mut Errors) {
    let Some(auth) = &s.auth else { return };
    let ap = format!("{p}spec.auth");
    if worker_only(s) {
        e.add(
            &ap,
            "authentication is configured on control-plane nodes only; a worker must not \
             carry user tokens",
        );
    }
    if let Some(oidc) = &auth.oidc {
        let op = format!("{ap}.oidc");
        e.check(format!("{op}.issuerURL"), https_url(&oidc.issuer_url));
        if oidc.client_id.trim().is_empty() {
            e.add(format!("{op}.clientID"), "empty client ID");
        }
        if oidc.username_claim.trim().is_empty() {
            e.add(format!("{op}.usernameClaim"), "empty claim name");
        }
        if let Some(ca) = &oidc.ca_certificate {
            for m in pki::check_pem(ca, pki::FileKind::Certificate, now) {
                e.add(format!("{op}.caCertificate"), m);
            }
        }
    }
    let mut names = BTreeSet::new();
    let mut tokens = BTreeMap::new();
    for (i, u) in auth.static_users.iter().enumerate() {
        let up = format!("{ap}.staticUsers[{i}]");
        if let Err(m) = csv_word(&u.name) {
            e.add(format!("{up}.name"), m);
        } else if !names.insert(u.name.as_str()) {
            e.add(
                format!("{up}.name"),
                format!("user {:?} is listed twice", u.name),
            );
        }
        for (j, g) in u.groups.iter().enumerate() {
            let gp = format!("{up}.groups[{j}]");
            if let Err(m) = csv_word(g) {
                e.add(&gp, m);
            } else if g == "system:masters" {
                e.add(
                    &gp,
                    "system:masters bypasses RBAC and cannot be revoked; bind a ClusterRole \
                     (e.g. kubeadm:cluster-admins) instead",
                );
            }
        }
        let t = &u.token;
        if t.len() < 32
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._~+/=-".contains(c))
        {
            e.add(
                format!("{up}.token"),
                "expected at least 32 characters of A-Z a-z 0-9 . _ ~ + / = - (generate one per site)",
            );
        } else if let Some(j) = tokens.insert(t.as_str(), i) {
            e.add(
                format!("{up}.token"),
                format!("same token as staticUsers[{j}]"),
            );
        }
    }
}

/// A field of kube-apiserver's token CSV file.
fn csv_word(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("empty".into());
    }
    if s.chars().any(|c| c == ',' || c == '"' || c.is_control()) {
        return Err(format!(
            "{s:?}: commas, quotes and control characters are not allowed"
        ));
    }
    Ok(())
}

fn https_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(format!("{url:?}: the issuer URL must start with https://"));
    };
    if url.contains(['?', '#']) {
        return Err(format!(
            "{url:?}: the issuer URL may not have a query or fragment"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!("{url:?}: no user information in the issuer URL"));
    }
    if authority.starts_with('[') {
        return Err(format!("{url:?}: issuer host: {}", names::IP_NOT_NAME));
    }
    let host = match authority.split_once(':') {
        Some((h, port)) => {
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(format!("{url:?}: bad port {port:?}"));
            }
            h
        }
        None => authority,
    };
    names::check_dns_name(host).map_err(|m| format!("issuer host: {m}"))
}

fn encryption(s: &NodeSpec, p: &str, e: &mut Errors) {
    let ep = format!("{p}spec.encryptionAtRest");
    let Some(enc) = &s.encryption_at_rest else {
        if s.is_control_plane() {
            e.add(
                &ep,
                "required on control-plane nodes: Secrets are encrypted at rest (R9); give \
                 provider (secretbox or aescbc) and a 32-byte key",
            );
        }
        return;
    };
    if worker_only(s) {
        e.add(
            &ep,
            "only control-plane nodes hold the encryption keys; a worker must not carry them",
        );
    }
    if enc.keys.is_empty() {
        e.add(format!("{ep}.keys"), "at least one key is required");
    }
    let mut names = BTreeSet::new();
    for (i, k) in enc.keys.iter().enumerate() {
        let kp = format!("{ep}.keys[{i}]");
        if k.name.is_empty()
            || k.name.contains([',', ':'])
            || k.name.chars().any(char::is_whitespace)
        {
            e.add(
                format!("{kp}.name"),
                format!(
                    "{:?}: expected a non-empty name without spaces, ':' or ','",
                    k.name
                ),
            );
        } else if !names.insert(k.name.as_str()) {
            e.add(
                format!("{kp}.name"),
                format!("key name {:?} is used twice", k.name),
            );
        }
        match B64.decode(k.secret.trim()) {
            Ok(b) if b.len() == 32 => {}
            Ok(b) => e.add(
                format!("{kp}.secret"),
                format!(
                    "decodes to {} bytes; {:?} needs exactly 32 (head -c 32 /dev/urandom | base64)",
                    b.len(),
                    enc.provider
                ),
            ),
            Err(err) => e.add(
                format!("{kp}.secret"),
                format!("not standard base64: {err}"),
            ),
        }
    }
    if enc.resources.is_empty() {
        e.add(
            format!("{ep}.resources"),
            "no resources: at least `secrets`",
        );
    }
    for (i, r) in enc.resources.iter().enumerate() {
        let ok = !r.is_empty()
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-*".contains(c));
        if !ok {
            e.add(
                format!("{ep}.resources[{i}]"),
                format!("{r:?} is not a resource name (e.g. secrets, configmaps, *.apps)"),
            );
        }
    }
}

/// Whether the node itself gets a fresh copy of this leaf before anything
/// uses it, so that a leaf that expired while the node was powered off (or
/// while the drive stayed attached) is no reason to refuse the config
/// (docs/pki.md, "Power-offs and renewal").
fn renewed_at_boot(s: &NodeSpec, name: &str, now: OffsetDateTime) -> bool {
    if pki::is_ca_file(name) || name.starts_with("sa.") {
        return false;
    }
    let certs = &s.certificates;
    let valid = |n: &str| {
        certs
            .get(n)
            .is_some_and(|t| pki::check_pem(t, pki::FileKind::Certificate, now).is_empty())
    };
    // First boot renews with the host's intermediate when its key is here.
    let signer = |realm| {
        let inter = pki::intermediate_name(realm);
        valid(&format!("{inter}.crt")) && certs.contains_key(&format!("{inter}.key"))
    };
    match name {
        // The kubelet asks for a serving certificate through the CSR API
        // when its own has expired.
        "kubelet/kubelet.crt" | "kubelet/kubelet.key" => true,
        // The kubelet bootstraps again (bootstrap credential or token); a
        // control plane re-issues it with its own intermediate.
        "kubelet/kubelet-client-current.pem" => {
            valid("kubelet/bootstrap-client.crt")
                || s.join.is_some()
                || signer(mk_pki::Realm::Kubernetes)
        }
        n if n.starts_with("kubelet/") => false,
        n => signer(pki::realm_of(n)),
    }
}

fn certificates(node: &str, s: &NodeSpec, p: &str, now: OffsetDateTime, e: &mut Errors) {
    let cp_path = format!("{p}spec.certificates");
    let certs = &s.certificates;
    let cp = s.is_control_plane();
    let mut expired_realms: BTreeSet<mk_pki::Realm> = BTreeSet::new();
    for (name, text) in certs {
        let path = key_path(&cp_path, name);
        let Some(kind) = pki::kind_of(name) else {
            e.add(
                &path,
                format!(
                    "unknown certificate file {name:?}; known names: {}",
                    pki::KNOWN_FILE_NAMES.join(", ")
                ),
            );
            continue;
        };
        if worker_only(s) && !pki::allowed_on_worker(name) {
            e.add(
                &path,
                "a node without a control-plane role gets no CA key, intermediate or \
                 control-plane credential (only root certificates and kubelet/ files)",
            );
        }
        if let Some(partner) = pki::partner_of(name) {
            if !certs.contains_key(&partner) {
                e.add(&path, format!("{name} without {partner}"));
            }
        }
        let allowed = pki::allowed_ips(
            name,
            &s.cluster.service_cidr,
            s.cluster.api_endpoint.vip.as_deref(),
        );
        let problems =
            pki::check_pem_allowing(text, kind, now, renewed_at_boot(s, name, now), &allowed);
        for m in problems {
            // An expired CA below the root: the host's intermediate (its
            // own file, or the second certificate of a leaf's chain).
            if m.contains(" expired at ")
                && (name.contains("-intermediate.") || m.starts_with("certificate 2"))
            {
                expired_realms.insert(pki::realm_of(name));
            }
            e.add(&path, m);
        }
    }
    if !expired_realms.is_empty() {
        // By name, as `mk-compose pki` lists them.
        let mut realms: Vec<mk_pki::Realm> = expired_realms.into_iter().collect();
        realms.sort_by_key(|r| r.name());
        let names: Vec<&str> = realms.iter().map(|r| r.name()).collect();
        e.add(
            &cp_path,
            format!(
                "the host intermediate(s) of realm(s) {} expired: this node can renew nothing \
                 they sign.\n{}",
                names.join(", "),
                mk_pki::renew::expired_intermediates_advice(node, &realms)
            ),
        );
    }
    if cp {
        for ca in CONTROL_PLANE_CAS {
            let has = |n: String| certs.contains_key(&n);
            let root = has(format!("{ca}.crt"));
            let signer = has(format!("{ca}.key"))
                || (has(format!("{ca}-intermediate.crt")) && has(format!("{ca}-intermediate.key")));
            if !(root && signer) {
                e.add(
                    &cp_path,
                    format!(
                        "a control-plane node needs the {ca} CA: {ca}.crt and either \
                         {ca}-intermediate.crt + {ca}-intermediate.key (mk's per-host \
                         intermediate) or {ca}.key"
                    ),
                );
            }
        }
        if !(certs.contains_key("sa.key") && certs.contains_key("sa.pub")) {
            e.add(
                &cp_path,
                "a control-plane node needs the cluster's service-account key pair (sa.key, sa.pub)",
            );
        }
    } else if s.roles.contains(&Role::Worker) {
        // The kubelet's own client certificate, or the credential it
        // bootstraps one with (docs/pki.md, "Power-offs and renewal").
        let kubelet_cert = certs.contains_key("kubelet/kubelet-client-current.pem")
            || certs.contains_key("kubelet/bootstrap-client.crt");
        let ca_known = certs.contains_key("ca.crt")
            || s.join
                .as_ref()
                .is_some_and(|j| !j.ca_cert_hashes.is_empty());
        if s.join.is_none() && !kubelet_cert {
            e.add(
                format!("{p}spec"),
                "a worker needs a way in: join.token (TLS bootstrap), \
                 certificates[\"kubelet/kubelet-client-current.pem\"] or \
                 certificates[\"kubelet/bootstrap-client.crt\"]",
            );
        }
        if !ca_known {
            e.add(
                format!("{p}spec"),
                "a worker must be able to check the apiserver's identity (R21): \
                 certificates[\"ca.crt\"] or join.caCertHashes",
            );
        }
    }
}

#[cfg(test)]
mod etcd_endpoint_tests {
    use super::*;

    const CONFIG: &str = "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata: {name: cp2.example.test}
spec:
  roles: [ROLE]
  cluster:
    name: lab
    domain: example.test
    apiEndpoint: {dnsName: api.example.test}
ENDPOINTS
  planes:
    control: {cidr: 10.0.0.0/24}
";

    /// Only the errors about `etcdEndpoints` (the rest of this config is
    /// incomplete on purpose).
    fn endpoint_errors(role: &str, endpoints: &str) -> Vec<String> {
        let yaml = CONFIG.replace("ROLE", role).replace("ENDPOINTS", endpoints);
        let crate::Document::Single(cfg) =
            crate::parse_document(yaml.as_bytes(), "t.yaml").unwrap()
        else {
            panic!()
        };
        validate(&cfg, OffsetDateTime::UNIX_EPOCH)
            .err()
            .unwrap_or_default()
            .iter()
            .map(ConfigError::to_string)
            .filter(|e| e.starts_with("spec.cluster.etcdEndpoints"))
            .collect()
    }

    #[test]
    fn etcd_endpoints() {
        let good = "    etcdEndpoints: [cp1.example.test:2379, cp3.example.test:2379]";
        assert_eq!(endpoint_errors("control-plane", good), Vec::<String>::new());
        let e = endpoint_errors("control-plane", "");
        assert!(
            e.len() == 1 && e[0].contains("required for role control-plane"),
            "{e:?}"
        );
        let e = endpoint_errors("bootstrap-control-plane", good);
        assert!(
            e.len() == 1 && e[0].contains("only a joining control plane"),
            "{e:?}"
        );
        let e = endpoint_errors(
            "control-plane",
            "    etcdEndpoints: ['10.0.0.1:2379', '[fd00::1]:2379', cp1.other.test:2379, \
             cp1.example.test, cp1.example.test:0, cp3.example.test:2379, cp3.example.test:2379]",
        );
        let want = [
            "[0]: \"10.0.0.1:2379\": an IP address; etcd is reached by DNS name (R28)",
            "[1]: \"[fd00::1]:2379\": an IP address",
            "[2]: \"cp1.other.test\" is not inside the cluster domain \"example.test\"",
            "[3]: \"cp1.example.test\": expected host:port",
            "[4]: \"cp1.example.test:0\": \"0\" is not a port",
            "[6]: \"cp3.example.test:2379\" is listed twice",
        ];
        assert_eq!(e.len(), want.len(), "{e:#?}");
        for (got, want) in e.iter().zip(want) {
            assert!(got.contains(want), "{got} lacks {want}");
        }
    }
}
