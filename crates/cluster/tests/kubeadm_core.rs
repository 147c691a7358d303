//! The objects of rbac, uploadconfig, tokens and node against what real
//! kubeadm 1.28.7 created for the same cluster
//! (../shared/reference/kubeadm-1.28.7/api/, see its README.txt), and
//! through kubernetes-validate (PyPI) as a judge of their schema.
//!
//! Each comparison parses both sides, drops what the server and the
//! controllers set, applies the deliberate differences listed in
//! [`deliberate`] (docs/kubeadm-differences.md) to the reference, and then
//! demands equality.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
mod common;
use common::{
    kubernetes_validate, parse_config, read_reference, reference_config_yaml, reference_dir,
};
use mk_cluster::{node, rbac, tokens, uploadconfig, ApiObject, Inputs};
use mk_roleconfig::NodeConfig;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The token in the reference data set (kubeadm's documented example).
const TOKEN: &str = "abcdef.0123456789abcdef";
/// Its expiry there (`kubeadm token create ... --ttl 24h`).
const EXPIRES: &str = "2026-12-07T22:43:23Z";
/// A moment at which the reference ran (before [`EXPIRES`]).
const NOW: &str = "2026-12-06T22:43:23Z";

/// The role config equivalent to the reference's kubeadm.yaml, with its
/// token; `extra` follows (more tokens, or more of spec).
fn config_yaml(roles: &str, extra: &str) -> String {
    reference_config_yaml(
        roles,
        "",
        &format!("  bootstrapTokens:\n    - token: {TOKEN}\n      expires: {EXPIRES}\n{extra}"),
    )
}

fn reference_config() -> NodeConfig {
    parse_config(&config_yaml("bootstrap-control-plane", ""))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::parse(NOW, &Rfc3339).unwrap()
}

/// The cluster CA of the reference run, from its cluster-info.
fn reference_ca_pem() -> String {
    let ci = read_reference("configmap-kube-public-cluster-info.yaml");
    let kc: Value = serde_norway::from_str(ci["data"]["kubeconfig"].as_str().unwrap()).unwrap();
    let b64 = kc["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
}

/// Every object of the four modules for `config`, in apply order.
fn plan(config: &NodeConfig, ca_pem: &str, now: OffsetDateTime) -> Vec<ApiObject> {
    let inputs = Inputs {
        config,
        ca_pem,
        now,
    };
    let mut v = rbac::objects(&inputs).unwrap();
    v.extend(uploadconfig::objects(&inputs).unwrap());
    v.extend(tokens::objects(&inputs).unwrap());
    v.extend(node::control_plane(&inputs));
    v
}

fn reference_plan() -> Vec<ApiObject> {
    plan(&reference_config(), &reference_ca_pem(), now())
}

/// The reference file name of an object (`kind-namespace-name.yaml`,
/// `clusterwide` for cluster-scoped objects, `:` written `_`).
fn reference_file(o: &ApiObject) -> String {
    format!(
        "{}-{}-{}.yaml",
        o.kind.to_lowercase(),
        o.namespace.as_deref().unwrap_or("clusterwide"),
        o.name.replace(':', "_")
    )
}

/// Drops what the apiserver and controllers set on every object.
fn drop_server_fields(v: &mut Value) {
    let o = v.as_object_mut().unwrap();
    o.remove("status");
    let meta = o.get_mut("metadata").unwrap().as_object_mut().unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
        "generation",
    ] {
        meta.remove(k);
    }
}

fn remove_annotation(v: &mut Value, key: &str) {
    let meta = v["metadata"].as_object_mut().unwrap();
    if let Some(Value::Object(a)) = meta.get_mut("annotations") {
        a.remove(key);
        if a.is_empty() {
            meta.remove("annotations");
        }
    }
}

/// Our object's body against the reference with the deliberate
/// differences applied: `Err` names the object and both sides.
fn compare(ours: &ApiObject) -> Result<(), String> {
    let file = reference_file(ours);
    let mut reference = read_reference(&file);
    drop_server_fields(&mut reference);
    let mut ours_v = ours.body.clone();
    deliberate(ours, &mut ours_v, &mut reference);
    if ours_v == reference {
        Ok(())
    } else {
        Err(format!(
            "{} differs from {file}:\nours:\n{}\nkubeadm (deliberate differences applied):\n{}",
            ours.id(),
            serde_norway::to_string(&ours_v).unwrap(),
            serde_norway::to_string(&reference).unwrap()
        ))
    }
}

/// The deliberate differences (docs/kubeadm-differences.md), each applied
/// to the reference (or, for values derived from ones that differ, checked
/// on our side and then dropped from both).
fn deliberate(o: &ApiObject, ours: &mut Value, reference: &mut Value) {
    match (o.kind.as_str(), o.name.as_str()) {
        ("Node", _) => {
            // Set by the kubelet when it registers, not by kubeadm.
            reference["metadata"]["labels"]
                .as_object_mut()
                .unwrap()
                .remove("kubernetes.io/hostname");
            // kube-controller-manager's ttl controller and node IPAM.
            remove_annotation(reference, "node.alpha.kubernetes.io/ttl");
            let spec = reference["spec"].as_object_mut().unwrap();
            spec.remove("podCIDR");
            spec.remove("podCIDRs");
            // Deliberate: no cri-socket annotation; only `kubeadm upgrade`
            // reads it, and mk's socket is /run/..., not kubeadm's /var/run/...
            remove_annotation(reference, "kubeadm.alpha.kubernetes.io/cri-socket");
        }
        ("ConfigMap", "cluster-info") => {
            // The bootstrapsigner controller adds the signatures; we must
            // not own them (tested separately against our own JWS).
            let data = reference["data"].as_object_mut().unwrap();
            data.retain(|k, _| !k.starts_with("jws-kubeconfig-"));
        }
        ("ConfigMap", "kubelet-config") => {
            // The checksum follows the data, which differs below: check
            // ours is kubeadm's checksum of our data, then drop both.
            let kubelet = ours["data"]["kubelet"].as_str().unwrap().to_string();
            assert_eq!(
                ours["metadata"]["annotations"][uploadconfig::COMPONENT_CONFIG_HASH],
                json!(uploadconfig::checksum(&[&kubelet]))
            );
            remove_annotation(ours, uploadconfig::COMPONENT_CONFIG_HASH);
            remove_annotation(reference, uploadconfig::COMPONENT_CONFIG_HASH);
            let mut theirs: Value =
                serde_norway::from_str(reference["data"]["kubelet"].as_str().unwrap()).unwrap();
            let t = theirs.as_object_mut().unwrap();
            // Zero values kubeadm's Go marshalling prints for unset fields
            // (0s durations, empty logging and memorySwap): the kubelet
            // defaults them either way.
            t.retain(|_, v| {
                !(v == "0s"
                    || *v == json!({})
                    || *v
                        == json!({"flushFrequency": 0, "options": {"json": {"infoBufferSize": "0"}}, "verbosity": 0}))
            });
            // Deliberate: containerd's socket under /run (kubeadm leaves it
            // to the flag), no plain-HTTP healthz port and no read-only port
            // (R26), serving certificates through the CSR API (R21, R23).
            t.insert(
                "containerRuntimeEndpoint".into(),
                json!("unix:///run/containerd/containerd.sock"),
            );
            t.remove("healthzBindAddress");
            t.insert("healthzPort".into(), json!(0));
            t.insert("readOnlyPort".into(), json!(0));
            t.insert("serverTLSBootstrap".into(), json!(true));
            let ours_kubelet: Value = serde_norway::from_str(&kubelet).unwrap();
            ours["data"]["kubelet"] = ours_kubelet;
            reference["data"]["kubelet"] = theirs;
        }
        ("ConfigMap", "kubeadm-config") => {
            // Compared as YAML documents (same content, key order free).
            for v in [&mut *ours, &mut *reference] {
                let parsed: Value =
                    serde_norway::from_str(v["data"]["ClusterConfiguration"].as_str().unwrap())
                        .unwrap();
                v["data"]["ClusterConfiguration"] = parsed;
            }
        }
        _ => {}
    }
}

/// Reference objects another module plans (kubeproxy, coredns), or that
/// come from kubeadm's random tokens.
fn elsewhere(file: &str) -> bool {
    file.contains("kube-proxy")
        || file.contains("coredns")
        || file.contains("kube-dns")
        // kubeadm's bootstrap-token and upload-certs phases made random tokens.
        || file == "secret-kube-system-bootstrap-token-alf15j.yaml"
        || file == "secret-kube-system-bootstrap-token-ex8isj.yaml"
}

/// Deliberately not created: the uploaded CA keys and the RBAC to read
/// them (R24: CA keys never go into the cluster).
const NOT_CREATED: &[&str] = &[
    "role-kube-system-kubeadm_kubeadm-certs.yaml",
    "rolebinding-kube-system-kubeadm_kubeadm-certs.yaml",
    "secret-kube-system-kubeadm-certs.yaml",
];

/// Created though kubeadm 1.28 does not: kubeadm 1.29+ binds admin.conf's
/// group to cluster-admin (DESIGN §4 (a)).
const ADDED: &[&str] = &[
    "clusterrolebinding-clusterwide-kubeadm_cluster-admins.yaml",
    // The kubelets' re-bootstrap credential (docs/pki.md).
    "clusterrolebinding-clusterwide-mk_node-recovery-bootstrap.yaml",
    "clusterrolebinding-clusterwide-mk_node-recovery-autoapprove.yaml",
    // The kubelet-serving CSR approver (docs/pki.md).
    "clusterrole-clusterwide-mk_kubelet-serving-approver.yaml",
    "clusterrolebinding-clusterwide-mk_kubelet-serving-approver.yaml",
];

#[test]
fn every_object_matches_kubeadm_but_for_the_listed_differences() {
    let ours = reference_plan();
    let mut failures = Vec::new();
    for o in &ours {
        if ADDED.contains(&reference_file(o).as_str()) {
            continue;
        }
        if let Err(e) = compare(o) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_kubeadm_core_object_is_planned_and_nothing_else() {
    let ours: BTreeSet<String> = reference_plan().iter().map(reference_file).collect();
    assert_eq!(
        ours.len(),
        reference_plan().len(),
        "an object is planned twice"
    );
    let mut expected: BTreeSet<String> = std::fs::read_dir(reference_dir().join("api"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml") && !elsewhere(f) && !NOT_CREATED.contains(&f.as_str()))
        .collect();
    expected.extend(ADDED.iter().map(|s| s.to_string()));
    assert_eq!(ours, expected);
}

#[test]
fn cluster_admins_binding_is_kubeadm_1_29s() {
    let ours = reference_plan();
    let crb = ours
        .iter()
        .find(|o| o.kind == "ClusterRoleBinding" && o.name == "kubeadm:cluster-admins")
        .unwrap();
    assert_eq!(
        crb.body,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": { "name": "kubeadm:cluster-admins" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "kubeadm:cluster-admins" }],
        })
    );
}

#[test]
fn the_comparison_catches_a_changed_token_cidr_name_or_endpoint() {
    let ca = reference_ca_pem();
    for (what, yaml, object) in [
        (
            "token secret",
            config_yaml("bootstrap-control-plane", "").replace(TOKEN, "abcdef.0123456789abcdez"),
            "bootstrap-token-abcdef",
        ),
        (
            "expiry",
            config_yaml("bootstrap-control-plane", "").replace(EXPIRES, "2026-12-07T22:43:24Z"),
            "bootstrap-token-abcdef",
        ),
        (
            "pod CIDR",
            config_yaml("bootstrap-control-plane", "").replace("192.168.0.0/16", "10.244.0.0/16"),
            "kubeadm-config",
        ),
        (
            "service CIDR",
            config_yaml("bootstrap-control-plane", "").replace("10.96.0.0/12", "10.112.0.0/12"),
            "kubelet-config",
        ),
        (
            "cluster name",
            config_yaml("bootstrap-control-plane", "").replace("name: lab", "name: lab2"),
            "kubeadm-config",
        ),
        (
            "API port",
            config_yaml("bootstrap-control-plane", "").replace("port: 6443", "port: 7443"),
            "cluster-info",
        ),
        (
            "worker role (no taint)",
            config_yaml("bootstrap-control-plane, worker", ""),
            "cp1.example.com",
        ),
    ] {
        let config = parse_config(&yaml);
        let objects = plan(&config, &ca, now());
        let o = objects.iter().find(|o| o.name == object).unwrap();
        assert!(compare(o).is_err(), "a changed {what} went unnoticed");
    }
    // A different CA in cluster-info too.
    let objects = plan(&reference_config(), &ca.replace("MIID", "MIIE"), now());
    let o = objects.iter().find(|o| o.name == "cluster-info").unwrap();
    assert!(compare(o).is_err(), "a changed CA went unnoticed");
}

#[test]
fn cluster_info_is_byte_for_byte_kubeadms_and_the_real_signature_verifies() {
    let ci = read_reference("configmap-kube-public-cluster-info.yaml");
    let theirs = ci["data"]["kubeconfig"].as_str().unwrap();
    let ours = reference_plan()
        .into_iter()
        .find(|o| o.name == "cluster-info")
        .unwrap();
    let content = ours.body["data"]["kubeconfig"].as_str().unwrap();
    // Byte equality: the bootstrapsigner signs exactly these bytes.
    assert_eq!(content, theirs);
    // kube-controller-manager's signature for token abcdef.
    let (id, secret) = TOKEN.split_once('.').unwrap();
    let real = ci["data"]["jws-kubeconfig-abcdef"].as_str().unwrap();
    assert_eq!(tokens::jws_detached(content, id, secret), real);
    assert!(tokens::verify_jws(content, real, id, secret));
    // Another token's signature, a changed content or secret do not verify.
    let other = ci["data"]["jws-kubeconfig-alf15j"].as_str().unwrap();
    assert!(!tokens::verify_jws(content, other, id, secret));
    assert!(!tokens::verify_jws(
        &content.replace("6443", "6444"),
        real,
        id,
        secret
    ));
    assert!(!tokens::verify_jws(content, real, id, "0123456789abcdee"));
}

#[test]
fn expired_tokens_are_left_out_and_descriptions_kept() {
    let ca = reference_ca_pem();
    let config = parse_config(&config_yaml(
        "bootstrap-control-plane",
        "    - token: zyxwvu.0123456789abcdef\n      expires: 2026-12-01T00:00:00Z\n    - token: ghijkl.0123456789abcdef\n      expires: 2026-12-31T23:00:00-02:00\n      description: rack 2 workers\n",
    ));
    let inputs = Inputs {
        config: &config,
        ca_pem: &ca,
        now: now(),
    };
    let secrets = tokens::secrets(&inputs).unwrap();
    let names: Vec<&str> = secrets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["bootstrap-token-abcdef", "bootstrap-token-ghijkl"]);
    let data = &secrets[1].body["data"];
    let decode =
        |k: &str| String::from_utf8(STANDARD.decode(data[k].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(decode("description"), "rack 2 workers");
    // In UTC, as kubeadm prints it.
    assert_eq!(decode("expiration"), "2027-01-01T01:00:00Z");
    // At the expiry instant the token is gone.
    let at_expiry = Inputs {
        now: OffsetDateTime::parse(EXPIRES, &Rfc3339).unwrap(),
        ..inputs
    };
    let names: Vec<String> = tokens::secrets(&at_expiry)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["bootstrap-token-ghijkl"]);
}

#[test]
fn bad_tokens_name_the_field() {
    let ca = reference_ca_pem();
    let config =
        parse_config(&config_yaml("bootstrap-control-plane", "").replace(EXPIRES, "tomorrow"));
    let inputs = Inputs {
        config: &config,
        ca_pem: &ca,
        now: now(),
    };
    let e = tokens::objects(&inputs).unwrap_err().to_string();
    assert!(e.starts_with("spec.bootstrapTokens[0].expires: "), "{e}");
    let config = parse_config(
        &config_yaml("bootstrap-control-plane", "").replace(TOKEN, "ABCDEF.0123456789abcdef"),
    );
    let inputs = Inputs {
        config: &config,
        ca_pem: &ca,
        now: now(),
    };
    let e = tokens::objects(&inputs).unwrap_err().to_string();
    assert!(e.starts_with("spec.bootstrapTokens[0].token: "), "{e}");
    assert!(
        !e.contains("0123456789abcdef"),
        "the secret must not be echoed: {e}"
    );
}

#[test]
fn node_marking_follows_the_roles_and_api_only_labels() {
    let ca = reference_ca_pem();
    let labels = "  labels:\n    topology.kubernetes.io/zone: rack1\n    node-role.kubernetes.io/edge: \"\"\n    example.com/tier: gold\n";
    let node = |roles: &str, extra: &str| {
        let yaml = config_yaml(roles, extra);
        // Workers carry no bootstrap tokens.
        let yaml = if roles.contains("control-plane") {
            yaml
        } else {
            let cut = yaml.find("  bootstrapTokens:").unwrap();
            format!("{}{extra}", &yaml[..cut])
        };
        let config = parse_config(&yaml);
        node::control_plane(&Inputs {
            config: &config,
            ca_pem: &ca,
            now: now(),
        })
        .map(|o| o.body)
    };
    // A single server: kubeadm's labels plus the API-only one, no taint.
    let n = node("bootstrap-control-plane, worker", labels).unwrap();
    assert_eq!(
        n,
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": { "name": "cp1.example.com", "labels": {
                "node-role.kubernetes.io/control-plane": "",
                "node.kubernetes.io/exclude-from-external-load-balancers": "",
                "node-role.kubernetes.io/edge": "",
            } },
        })
    );
    // A joining control plane without workloads: tainted.
    let n = node("control-plane", "").unwrap();
    assert_eq!(
        n["spec"]["taints"],
        json!([{ "effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane" }])
    );
    // A worker: only what the kubelet may not set itself.
    let n = node("worker", labels).unwrap();
    assert_eq!(
        n["metadata"]["labels"],
        json!({ "node-role.kubernetes.io/edge": "" })
    );
    assert!(n.get("spec").is_none());
    assert_eq!(
        node(
            "worker",
            "  labels:\n    topology.kubernetes.io/zone: rack1\n"
        ),
        None
    );
}

#[test]
fn kubeadm_config_is_v1beta4_from_1_31() {
    let ca = reference_ca_pem();
    let config =
        parse_config(&config_yaml("bootstrap-control-plane", "").replace("\"1.28\"", "\"1.31.4\""));
    let c = uploadconfig::cluster_configuration(&Inputs {
        config: &config,
        ca_pem: &ca,
        now: now(),
    })
    .unwrap();
    assert_eq!(c["apiVersion"], "kubeadm.k8s.io/v1beta4");
    assert_eq!(c["kubernetesVersion"], "v1.31.4");
    assert_eq!(c["apiServer"], json!({}));
    assert_eq!(c["encryptionAlgorithm"], "ECDSA-P256");
    let config =
        parse_config(&config_yaml("bootstrap-control-plane", "").replace("\"1.28\"", "\"1.30\""));
    let c = uploadconfig::cluster_configuration(&Inputs {
        config: &config,
        ca_pem: &ca,
        now: now(),
    })
    .unwrap();
    assert_eq!(c["apiVersion"], "kubeadm.k8s.io/v1beta3");
    assert_eq!(c["kubernetesVersion"], "v1.30.14");
    // An unknown version names the field.
    let config =
        parse_config(&config_yaml("bootstrap-control-plane", "").replace("\"1.28\"", "\"1.27\""));
    let e = uploadconfig::objects(&Inputs {
        config: &config,
        ca_pem: &ca,
        now: now(),
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("spec.cluster.kubernetesVersion"), "{e}");
}

#[test]
fn kubelet_config_is_what_first_boot_writes_minus_the_address() {
    let ca = reference_ca_pem();
    // A worker joining with a token: the fewest certificates to plan.
    let yaml = config_yaml("worker", "");
    let cut = yaml.find("  bootstrapTokens:").unwrap();
    let mut config = parse_config(&format!("{}  join:\n    token: {TOKEN}\n", &yaml[..cut]));
    config.spec.certificates.insert("ca.crt".into(), ca.clone());
    let facts = mk_nodeconf::HostFacts {
        addresses: vec!["198.18.0.10".parse().unwrap()],
        ..Default::default()
    };
    let p = mk_nodeconf::plan(
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        &config,
        &facts,
    )
    .unwrap();
    let file = p
        .steps
        .iter()
        .flat_map(|s| &s.actions)
        .find_map(|a| match a {
            mk_nodeconf::Action::WriteFile { path, contents, .. }
                if path == "/var/lib/kubelet/config.yaml" =>
            {
                Some(String::from_utf8(contents.clone()).unwrap())
            }
            _ => None,
        })
        .unwrap();
    let mut on_node: Value = serde_norway::from_str(&file).unwrap();
    assert_eq!(on_node["address"], "198.18.0.10");
    on_node.as_object_mut().unwrap().remove("address");
    let cm = uploadconfig::kubelet_config(&Inputs {
        config: &config,
        ca_pem: &ca,
        now: now(),
    })
    .unwrap();
    let uploaded: Value =
        serde_norway::from_str(cm.body["data"]["kubelet"].as_str().unwrap()).unwrap();
    assert_eq!(uploaded, on_node);
}

/// kubernetes-validate (PyPI) on the given objects, one file each.

#[test]
fn kubernetes_validate_accepts_every_object() {
    let mut config = reference_config();
    config
        .spec
        .labels
        .insert("node-role.kubernetes.io/edge".into(), String::new());
    let objects: Vec<Value> = plan(&config, &reference_ca_pem(), now())
        .into_iter()
        .map(|o| o.body)
        .collect();
    let (ok, out) = kubernetes_validate(&objects);
    assert!(ok, "{out}");
    assert_eq!(
        out.matches("passed for resource").count(),
        objects.len(),
        "{out}"
    );
    // The judge judges: a misspelt field fails strict validation.
    let mut bad = objects
        .iter()
        .find(|o| o["kind"] == "ClusterRoleBinding")
        .unwrap()
        .clone();
    bad["subjects"][0]["namespaces"] = json!("kube-system");
    let (ok, out) = kubernetes_validate(&[bad]);
    assert!(!ok, "{out}");
}

#[test]
fn api_objects_have_the_right_paths() {
    let ours = reference_plan();
    let paths: BTreeSet<String> = ours.iter().map(|o| o.path()).collect();
    for p in [
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubeadm:node-proxier",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public/roles/kubeadm:bootstrap-signer-clusterinfo",
        "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef",
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        "/api/v1/nodes/cp1.example.com",
    ] {
        assert!(paths.contains(p), "{p} not in {paths:#?}");
    }
}
