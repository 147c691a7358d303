//! Validation: the documented single-server example with real (openssl)
//! certificates is valid; each broken field gives one error at its path.

mod common;

use common::{cert, days, now, single_server};
use mk_roleconfig::{
    validate, validate_list, ApiVersion, ConfigError, JoinSpec, NodeConfig, NodeConfigKind,
    NodeConfigList, Plane, Role, Selector, SelinuxMode,
};

fn errors(cfg: &NodeConfig) -> Vec<String> {
    match validate(cfg, now()) {
        Ok(()) => vec![],
        Err(e) => e.iter().map(ConfigError::to_string).collect(),
    }
}

/// Exactly one error, at `path`, whose message contains `what`.
fn one_error(cfg: &NodeConfig, path: &str, what: &str) {
    let e = errors(cfg);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    assert!(
        e[0].starts_with(&format!("{path}: ")) && e[0].contains(what),
        "expected `{path}: ...{what}...`, got {:?}",
        e[0]
    );
}

fn base() -> (tempfile::TempDir, NodeConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = single_server(dir.path());
    (dir, cfg)
}

#[test]
fn single_server_example_with_certificates_is_valid() {
    let (_d, cfg) = base();
    assert_eq!(errors(&cfg), Vec::<String>::new());
    assert_eq!(cfg.spec.cluster.kubernetes_version, "1.30");
}

#[test]
fn ip_addresses_where_names_are_required() {
    let (_d, mut cfg) = base();
    cfg.spec.dns_names = vec!["10.0.0.5".into()];
    one_error(
        &cfg,
        "spec.dnsNames[0]",
        "\"10.0.0.5\": IP address where a DNS name is required (R28)",
    );
    let (_d, mut cfg) = base();
    cfg.metadata.name = "fd00::5".into();
    one_error(
        &cfg,
        "metadata.name",
        "IP address where a DNS name is required",
    );
    let (_d, mut cfg) = base();
    cfg.spec.cluster.api_endpoint.dns_name = "10.0.0.10".into();
    one_error(
        &cfg,
        "spec.cluster.apiEndpoint.dnsName",
        "IP address where a DNS name is required",
    );
    let (_d, mut cfg) = base();
    cfg.spec
        .auth
        .as_mut()
        .unwrap()
        .oidc
        .as_mut()
        .unwrap()
        .issuer_url = "https://10.0.0.9:5556/dex".into();
    one_error(
        &cfg,
        "spec.auth.oidc.issuerURL",
        "IP address where a DNS name is required",
    );
}

#[test]
fn names_outside_the_domain_or_malformed() {
    let (_d, mut cfg) = base();
    cfg.spec.dns_names = vec!["cp1.other.org".into()];
    one_error(
        &cfg,
        "spec.dnsNames[0]",
        "\"cp1.other.org\" is not inside the cluster domain \"example.com\"",
    );
    let (_d, mut cfg) = base();
    cfg.metadata.name = "CP1.example.com".into();
    one_error(&cfg, "metadata.name", "lower case");
    let (_d, mut cfg) = base();
    cfg.spec.cluster.name = "lab.one".into();
    one_error(&cfg, "spec.cluster.name", "not a DNS label");
}

#[test]
fn planes_may_be_equal_or_disjoint_but_not_nested() {
    let (_d, mut cfg) = base();
    cfg.spec.planes.workload = Some(Plane {
        cidr: "10.0.1.0/24".into(),
    });
    cfg.spec.planes.etcd = Some(Plane {
        cidr: "10.0.2.0/24".into(),
    });
    assert_eq!(errors(&cfg), Vec::<String>::new(), "three disjoint planes");

    cfg.spec.planes.etcd = Some(Plane {
        cidr: "10.0.0.0/16".into(),
    });
    let e = errors(&cfg);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(
        e[0],
        "spec.planes.etcd.cidr: 10.0.0.0/16 overlaps spec.planes.control.cidr (10.0.0.0/24) \
         without being the same network: planes are either one network (single-homed node) \
         or disjoint (R30)"
    );
    assert!(
        e[1].starts_with("spec.planes.etcd.cidr: 10.0.0.0/16 overlaps spec.planes.workload.cidr")
    );
}

#[test]
fn pod_and_service_networks_overlap_nothing() {
    let (_d, mut cfg) = base();
    cfg.spec.cluster.service_cidr = "10.0.0.0/24".into();
    one_error(
        &cfg,
        "spec.cluster.serviceCIDR",
        "10.0.0.0/24 overlaps spec.planes.control.cidr (10.0.0.0/24)",
    );
    let (_d, mut cfg) = base();
    cfg.spec.cluster.pod_cidr = "10.96.0.0/16".into();
    one_error(
        &cfg,
        "spec.cluster.serviceCIDR",
        "10.96.0.0/12 overlaps spec.cluster.podCIDR (10.96.0.0/16)",
    );
}

#[test]
fn malformed_cidrs_and_vip() {
    let (_d, mut cfg) = base();
    cfg.spec.planes.etcd = Some(Plane {
        cidr: "10.0.0.1/24".into(),
    });
    one_error(
        &cfg,
        "spec.planes.etcd.cidr",
        "\"10.0.0.1/24\" has host bits set; the network is 10.0.0.0/24",
    );
    let (_d, mut cfg) = base();
    cfg.spec.planes.control.cidr = "10.0.0.0".into();
    let e = errors(&cfg);
    assert!(
        e[0].starts_with("spec.planes.control.cidr: \"10.0.0.0\" is not in CIDR notation"),
        "{e:?}"
    );
    let (_d, mut cfg) = base();
    cfg.spec.cluster.api_endpoint.vip = Some("10.0.5.1".into());
    one_error(
        &cfg,
        "spec.cluster.apiEndpoint.vip",
        "10.0.5.1 is outside the control plane's network 10.0.0.0/24",
    );
    cfg.spec.cluster.api_endpoint.vip = Some("10.0.0.10".into());
    assert_eq!(errors(&cfg), Vec::<String>::new());
}

#[test]
fn role_combinations() {
    let (_d, mut cfg) = base();
    cfg.spec.roles = vec![];
    one_error(&cfg, "spec.roles", "no role");
    let (_d, mut cfg) = base();
    cfg.spec.roles = vec![Role::BootstrapControlPlane, Role::ControlPlane];
    one_error(&cfg, "spec.roles", "a node either creates the cluster");
    let (_d, mut cfg) = base();
    cfg.spec.roles.push(Role::Worker);
    one_error(&cfg, "spec.roles", "worker is listed twice");
    let (_d, mut cfg) = base();
    cfg.spec.join = Some(JoinSpec {
        token: "abcdef.0123456789abcdef".into(),
        ca_cert_hashes: vec![],
    });
    one_error(&cfg, "spec.join", "there is nothing to join");
}

#[test]
fn control_plane_needs_ca_material() {
    let (_d, mut cfg) = base();
    cfg.spec.certificates.remove("etcd/ca-intermediate.key");
    let e = errors(&cfg);
    assert_eq!(
        e,
        vec![
            "spec.certificates[\"etcd/ca-intermediate.crt\"]: etcd/ca-intermediate.crt without \
             etcd/ca-intermediate.key"
                .to_string(),
            "spec.certificates: a control-plane node needs the etcd/ca CA: etcd/ca.crt and either \
             etcd/ca-intermediate.crt + etcd/ca-intermediate.key (mk's per-host intermediate) or \
             etcd/ca.key"
                .to_string(),
        ]
    );
    let (_d, mut cfg) = base();
    cfg.spec.certificates.clear();
    let e = errors(&cfg);
    assert_eq!(e.len(), 4, "three CAs and the SA pair: {e:#?}");
    assert!(e[3].contains("service-account key pair (sa.key, sa.pub)"));
}

#[test]
fn worker_needs_a_way_in_and_no_secrets() {
    let (d, mut cfg) = base();
    cfg.spec.roles = vec![Role::Worker];
    cfg.spec.auth = None;
    cfg.spec.encryption_at_rest = None;
    let ca = cfg.spec.certificates["ca.crt"].clone();
    cfg.spec.certificates.clear();
    let e = errors(&cfg);
    assert_eq!(
        e,
        vec![
            "spec: a worker needs a way in: join.token (TLS bootstrap), \
             certificates[\"kubelet/kubelet-client-current.pem\"] or \
             certificates[\"kubelet/bootstrap-client.crt\"]",
            "spec: a worker must be able to check the apiserver's identity (R21): \
             certificates[\"ca.crt\"] or join.caCertHashes",
        ]
    );
    cfg.spec.certificates.insert("ca.crt".into(), ca);
    let (crt, key) = cert(d.path(), "kubelet", 7, "DNS:cp1.example.com");
    cfg.spec
        .certificates
        .insert("kubelet/kubelet-client-current.pem".into(), crt + &key);
    assert_eq!(errors(&cfg), Vec::<String>::new());

    // Secrets of the control plane are refused on a worker.
    let (_d2, full) = base();
    let mut w = full.clone();
    w.spec.roles = vec![Role::Worker];
    let e = errors(&w);
    assert!(e.iter().any(|m| m.starts_with("spec.auth: ")), "{e:#?}");
    assert!(
        e.iter()
            .any(|m| m.starts_with("spec.encryptionAtRest: only control-plane")),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with(
            "spec.certificates[\"ca-intermediate.key\"]: a node without a control-plane role"
        )),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("spec.certificates[\"sa.key\"]")),
        "{e:#?}"
    );
}

#[test]
fn join_token_syntax() {
    let (_d, mut cfg) = base();
    cfg.spec.roles = vec![Role::Worker];
    cfg.spec.auth = None;
    cfg.spec.encryption_at_rest = None;
    cfg.spec.certificates.clear();
    cfg.spec.join = Some(JoinSpec {
        token: "ABCDEF.0123456789abcdef".into(),
        ca_cert_hashes: vec!["sha256:abc".into()],
    });
    let e = errors(&cfg);
    assert_eq!(
        e,
        vec![
            "spec.join.token: not a bootstrap token: expected [a-z0-9]{6}.[a-z0-9]{16}",
            "spec.join.caCertHashes[0]: \"sha256:abc\": expected sha256: and 64 lower-case hex digits",
        ]
    );
}

#[test]
fn labels_must_be_kubernetes_labels() {
    let (_d, mut cfg) = base();
    cfg.spec
        .labels
        .insert("topology.kubernetes.io/zone".into(), "rack 1".into());
    one_error(
        &cfg,
        "spec.labels[\"topology.kubernetes.io/zone\"]",
        "label value \"rack 1\" contains ' '",
    );
    let (_d, mut cfg) = base();
    cfg.spec.labels.insert("Example.com/x".into(), "a".into());
    one_error(&cfg, "spec.labels[\"Example.com/x\"]", "prefix");
}

#[test]
fn selinux_relaxed_only_on_workload_only_nodes() {
    let (_d, mut cfg) = base();
    cfg.spec.selinux = SelinuxMode::Permissive;
    one_error(
        &cfg,
        "spec.selinux",
        "permissive is only allowed on workload-only nodes (roles: [worker]); control-plane nodes stay enforcing (R13)",
    );
}

#[test]
fn encryption_provider_keys() {
    let (_d, mut cfg) = base();
    cfg.spec.encryption_at_rest.as_mut().unwrap().keys[0].secret = "c2hvcnQ=".into();
    one_error(
        &cfg,
        "spec.encryptionAtRest.keys[0].secret",
        "decodes to 5 bytes; Secretbox needs exactly 32",
    );
    let (_d, mut cfg) = base();
    cfg.spec.encryption_at_rest.as_mut().unwrap().keys[0].secret = "not base64!".into();
    one_error(
        &cfg,
        "spec.encryptionAtRest.keys[0].secret",
        "not standard base64",
    );
    let (_d, mut cfg) = base();
    cfg.spec.encryption_at_rest = None;
    one_error(
        &cfg,
        "spec.encryptionAtRest",
        "required on control-plane nodes",
    );
    let (_d, mut cfg) = base();
    let enc = cfg.spec.encryption_at_rest.as_mut().unwrap();
    enc.keys.push(enc.keys[0].clone());
    one_error(&cfg, "spec.encryptionAtRest.keys[1].name", "used twice");
}

#[test]
fn oidc_and_static_users() {
    let (_d, mut cfg) = base();
    cfg.spec
        .auth
        .as_mut()
        .unwrap()
        .oidc
        .as_mut()
        .unwrap()
        .issuer_url = "http://dex.example.com".into();
    one_error(&cfg, "spec.auth.oidc.issuerURL", "must start with https://");
    let (_d, mut cfg) = base();
    cfg.spec
        .auth
        .as_mut()
        .unwrap()
        .oidc
        .as_mut()
        .unwrap()
        .issuer_url = "https://dex.example.com/?x=1".into();
    one_error(&cfg, "spec.auth.oidc.issuerURL", "query or fragment");
    let (_d, mut cfg) = base();
    let users = &mut cfg.spec.auth.as_mut().unwrap().static_users;
    users[0].groups.push("system:masters".into());
    one_error(
        &cfg,
        "spec.auth.staticUsers[0].groups[1]",
        "system:masters bypasses RBAC",
    );
    let (_d, mut cfg) = base();
    cfg.spec.auth.as_mut().unwrap().static_users[0].token = "short".into();
    one_error(
        &cfg,
        "spec.auth.staticUsers[0].token",
        "at least 32 characters",
    );
}

#[test]
fn kubernetes_version_format_and_range() {
    for (v, ok) in [
        ("1.30", true),
        ("v1.33.2", true),
        ("1.30.0", true),
        ("1.28", true),
        ("1.29.15", true),
        ("1.27", false),
        ("1.34", false),
        ("2.30", false),
        ("1.30.x", false),
        ("1", false),
        ("latest", false),
    ] {
        let (_d, mut cfg) = base();
        cfg.spec.cluster.kubernetes_version = v.into();
        let e = errors(&cfg);
        assert_eq!(e.is_empty(), ok, "{v}: {e:?}");
        if !ok {
            assert!(
                e[0].starts_with("spec.cluster.kubernetesVersion: "),
                "{e:?}"
            );
        }
    }
}

#[test]
fn expired_and_ip_san_certificates() {
    let (d, cfg) = base();
    // The apiserver certificate lives 7 days: at now + 8 days it has
    // expired, but this control plane holds its kubernetes intermediate
    // (30 days) and key, so first boot renews it: no error.
    validate(&cfg, now() + days(8)).unwrap();
    // Without the intermediate (kubeadm style, a CA key) first boot does not
    // renew it.
    let mut keyless = cfg.clone();
    keyless.spec.certificates.remove("ca-intermediate.key");
    keyless.spec.certificates.remove("ca-intermediate.crt");
    keyless.spec.certificates.insert(
        "ca.key".into(),
        cfg.spec.certificates["ca-intermediate.key"].clone(),
    );
    let e = validate(&keyless, now() + days(8)).unwrap_err();
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].path, "spec.certificates[\"apiserver.crt\"]");
    assert!(
        e[0].message
            .starts_with("certificate \"CN=apiserver\" expired at 20"),
        "{}",
        e[0].message
    );
    // Past the intermediates' life: every expired CA is named, and the
    // admin is told the way back.
    let e = validate(&cfg, now() + days(31)).unwrap_err();
    let text: Vec<String> = e.iter().map(ToString::to_string).collect();
    for ca in ["ca", "etcd/ca", "front-proxy-ca"] {
        let path = format!("spec.certificates[\"{ca}-intermediate.crt\"]");
        assert!(
            e.iter()
                .any(|e| e.path == path && e.message.contains(" expired at 20")),
            "{path}: {text:#?}"
        );
    }
    let advice = e
        .iter()
        .find(|e| e.path == "spec.certificates" && e.message.contains("host intermediate"))
        .unwrap_or_else(|| panic!("{text:#?}"));
    assert!(
        advice
            .message
            .contains("realm(s) etcd, front-proxy, kubernetes expired")
            && advice.message.contains(
                "mk-compose pki intermediate --dir PKI --host cp1.example.com --realm etcd \
                 --realm front-proxy --realm kubernetes"
            )
            && advice.message.contains("mk-compose config-drive"),
        "{}",
        advice.message
    );
    let mut cfg = cfg;
    let (crt, key) = cert(d.path(), "ipsan", 7, "DNS:cp1.example.com,IP:10.0.0.5");
    cfg.spec.certificates.insert("apiserver.crt".into(), crt);
    cfg.spec
        .certificates
        .insert("apiserver.key".into(), key.clone());
    one_error(
        &cfg,
        "spec.certificates[\"apiserver.crt\"]",
        "names IP address(es) 10.0.0.5 in subjectAltName: certificates carry DNS names only (R28)",
    );
    let (_d, mut cfg) = base();
    cfg.spec.certificates.insert("apiserver.crt".into(), key);
    one_error(
        &cfg,
        "spec.certificates[\"apiserver.crt\"]",
        "expected certificates only (found 0 certificate(s), 1 key(s)",
    );
    let (_d, mut cfg) = base();
    cfg.spec
        .certificates
        .insert("apiserve.crt".into(), "x".into());
    one_error(
        &cfg,
        "spec.certificates[\"apiserve.crt\"]",
        "unknown certificate file \"apiserve.crt\"",
    );
}

/// In-cluster clients connect to the kubernetes Service address (first of
/// serviceCIDR) and verify it: apiserver.crt may name it, and the VIP when
/// one is configured; no other IP, and no other file any IP.
#[test]
fn apiserver_crt_may_name_the_service_address_and_the_vip_only() {
    let (d, mut cfg) = base();
    let with = |cfg: &mut NodeConfig, file: &str, name: &str, san: &str| {
        let (crt, key) = cert(d.path(), name, 7, san);
        cfg.spec.certificates.insert(format!("{file}.crt"), crt);
        cfg.spec.certificates.insert(format!("{file}.key"), key);
    };
    let r28 = "in subjectAltName: certificates carry DNS names only (R28)";
    with(
        &mut cfg,
        "apiserver",
        "svc",
        "DNS:cp1.example.com,IP:10.96.0.1",
    );
    assert_eq!(errors(&cfg), Vec::<String>::new());

    with(
        &mut cfg,
        "apiserver",
        "vip",
        "DNS:cp1.example.com,IP:10.96.0.1,IP:10.0.0.10",
    );
    one_error(
        &cfg,
        "spec.certificates[\"apiserver.crt\"]",
        &format!("names IP address(es) 10.0.0.10 {r28}, but for the kubernetes Service address and API VIP (10.96.0.1)"),
    );
    cfg.spec.cluster.api_endpoint.vip = Some("10.0.0.10".into());
    assert_eq!(errors(&cfg), Vec::<String>::new());

    with(
        &mut cfg,
        "apiserver",
        "next",
        "DNS:cp1.example.com,IP:10.96.0.2",
    );
    one_error(
        &cfg,
        "spec.certificates[\"apiserver.crt\"]",
        &format!("names IP address(es) 10.96.0.2 {r28}"),
    );

    // The address follows serviceCIDR.
    cfg.spec.cluster.service_cidr = "10.100.0.0/16".into();
    with(
        &mut cfg,
        "apiserver",
        "svc",
        "DNS:cp1.example.com,IP:10.96.0.1",
    );
    one_error(
        &cfg,
        "spec.certificates[\"apiserver.crt\"]",
        &format!("names IP address(es) 10.96.0.1 {r28}"),
    );
    with(
        &mut cfg,
        "apiserver",
        "svc2",
        "DNS:cp1.example.com,IP:10.100.0.1",
    );
    assert_eq!(errors(&cfg), Vec::<String>::new());

    // Any other file: no IP at all, not even the Service address.
    with(
        &mut cfg,
        "front-proxy-client",
        "fp",
        "DNS:cp1.example.com,IP:10.100.0.1",
    );
    one_error(
        &cfg,
        "spec.certificates[\"front-proxy-client.crt\"]",
        &format!("names IP address(es) 10.100.0.1 {r28}"),
    );
}

fn worker(name: &str, sel: Selector) -> NodeConfig {
    let (_d, mut cfg) = base();
    cfg.selector = Some(sel);
    cfg.metadata.name = name.into();
    cfg.spec.roles = vec![Role::Worker];
    cfg.spec.auth = None;
    cfg.spec.encryption_at_rest = None;
    cfg.spec.certificates.clear();
    cfg.spec.join = Some(JoinSpec {
        token: "abcdef.0123456789abcdef".into(),
        ca_cert_hashes: vec![format!("sha256:{}", "0".repeat(64))],
    });
    cfg
}

#[test]
fn lists_refuse_duplicate_claims_and_missing_selectors() {
    let mac = |m: &str| Selector {
        mac_addresses: vec![m.into()],
        ..Default::default()
    };
    let mut list = NodeConfigList {
        api_version: ApiVersion::V1alpha1,
        kind: mk_roleconfig::NodeConfigListKind::NodeConfigList,
        items: vec![
            worker("w1.example.com", mac("52:54:00:00:00:01")),
            worker("w2.example.com", mac("52:54:00:00:00:02")),
        ],
    };
    assert_eq!(validate_list(&list, now()), Ok(()));
    list.items[1].selector = Some(mac("52:54:00:00:00:01"));
    list.items.push(worker("w2.example.com", mac("zz")));
    list.items
        .push(worker("w4.example.com", Selector::default()));
    list.items[3].selector = None;
    let e: Vec<String> = validate_list(&list, now())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        e,
        vec![
            "items[1].match: MAC address 52:54:00:00:00:01 is also claimed by items[0]",
            "items[2].match.macAddresses[0]: \"zz\" is not a MAC address (expected aa:bb:cc:dd:ee:ff)",
            "items[2].metadata.name: node \"w2.example.com\" is also items[1]",
            "items[3]: missing `match`: every item of a NodeConfigList needs a selector (macAddresses, dmiSerial or systemUUID)",
        ]
    );
    let _ = NodeConfigKind::NodeConfig;
}
