//! mk-kubeapi against a mock apiserver over TLS (tests/mock) that answers
//! like the recorded kube-apiserver v1.28.7 (calls/e1, e2, d): every
//! request is checked (method, path, query, Content-Type, body).

mod mock;

use std::time::{Duration, Instant};

use mk_cluster::object::ApiObject;
use mk_kubeapi::{client, ApiError, Applied, Outcome, PruneKind};
use mock::{Mock, Recorded};
use serde_json::{json, Value};

const APPLY_QUERY: &str = "fieldManager=mk-firstboot&fieldValidation=Strict&force=false";
const FAST: Duration = Duration::from_millis(100);

fn objects() -> Vec<ApiObject> {
    vec![
        ApiObject::new(
            "v1",
            "ConfigMap",
            "configmaps",
            Some("kube-system"),
            "kubeadm-config",
            json!({}),
            json!({"data": {"ClusterConfiguration": "clusterName: lab\n"}}),
        ),
        ApiObject::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "clusterroles",
            None,
            "kubeadm:get-nodes",
            json!({}),
            json!({"rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}),
        ),
        ApiObject::new(
            "apps/v1",
            "Deployment",
            "deployments",
            Some("kube-system"),
            "coredns",
            json!({"labels": {"k8s-app": "kube-dns"}}),
            json!({"spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}}}),
        ),
    ]
}

fn get(path: &str) -> Recorded {
    Recorded {
        method: "GET".into(),
        path: path.into(),
        query: None,
        content_type: None,
        body: String::new(),
    }
}

fn apply_patch(obj: &ApiObject) -> Recorded {
    Recorded {
        method: "PATCH".into(),
        path: obj.path(),
        query: Some(APPLY_QUERY.into()),
        content_type: Some("application/apply-patch+yaml".into()),
        body: serde_json::to_string(&obj.body).unwrap(),
    }
}

fn applied(objs: &[ApiObject], outcome: Outcome) -> Vec<Applied> {
    objs.iter()
        .map(|o| Applied {
            id: o.id(),
            outcome,
        })
        .collect()
}

async fn setup() -> (mock::Pki, Mock, mk_kubeapi::ApiClient) {
    let pki = mock::pki();
    let mock = Mock::start(&pki).await;
    let api = client(&pki.credentials(&mock.url()))
        .unwrap()
        .with_timing(Duration::from_secs(5), FAST);
    (pki, mock, api)
}

#[tokio::test]
async fn first_apply_creates_and_second_sends_nothing() {
    let (_pki, mock, api) = setup().await;
    let objs = objects();

    assert_eq!(
        api.apply(&objs).await.unwrap(),
        applied(&objs, Outcome::Created)
    );
    let expected: Vec<Recorded> = objs
        .iter()
        .flat_map(|o| [get(&o.path()), apply_patch(o)])
        .collect();
    assert_eq!(mock.take_requests(), expected);
    // The body sent is e1's shape: apiVersion, kind, metadata, fields.
    let cm_body: Value = serde_json::from_str(&expected[1].body).unwrap();
    assert_eq!(
        cm_body,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": "clusterName: lab\n"}
        })
    );
    // The mock stored what a real apiserver would, with its defaults.
    let dep = mock.get(&objs[2].path()).unwrap();
    assert_eq!(dep["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        dep["metadata"]["managedFields"][0]["manager"],
        "mk-firstboot"
    );

    // Second run: everything is live already, nothing is written.
    assert_eq!(
        api.apply(&objs).await.unwrap(),
        applied(&objs, Outcome::Unchanged)
    );
    let expected: Vec<Recorded> = objs.iter().map(|o| get(&o.path())).collect();
    assert_eq!(mock.take_requests(), expected);
}

#[tokio::test]
async fn a_changed_field_is_configured() {
    let (_pki, mock, api) = setup().await;
    let mut objs = objects();
    api.apply(&objs).await.unwrap();
    let rv_before = mock.get(&objs[0].path()).unwrap()["metadata"]["resourceVersion"].clone();
    mock.take_requests();

    objs[0].body["data"]["ClusterConfiguration"] = json!("clusterName: lab2\n");
    let out = api.apply(&objs).await.unwrap();
    assert_eq!(
        out.iter().map(|a| a.outcome).collect::<Vec<_>>(),
        [Outcome::Configured, Outcome::Unchanged, Outcome::Unchanged]
    );
    assert_eq!(out[0].id, "ConfigMap kube-system/kubeadm-config");
    assert_eq!(
        mock.take_requests(),
        [
            get(&objs[0].path()),
            apply_patch(&objs[0]),
            get(&objs[1].path()),
            get(&objs[2].path()),
        ]
    );
    let live = mock.get(&objs[0].path()).unwrap();
    assert_eq!(live["data"]["ClusterConfiguration"], "clusterName: lab2\n");
    assert_ne!(live["metadata"]["resourceVersion"], rv_before);
}

#[tokio::test]
async fn a_conflict_names_the_other_field_manager() {
    let (_pki, mock, api) = setup().await;
    let objs = objects();
    api.apply(&objs).await.unwrap();
    mock.take_requests();
    mock.conflict(&objs[0].path(), "kubectl-edit");
    let mut changed = objs.clone();
    changed[0].body["data"]["ClusterConfiguration"] = json!("other");
    let err = api.apply(&changed).await.unwrap_err().to_string();
    assert!(
        err.starts_with("ConfigMap kube-system/kubeadm-config: PATCH https://127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.ends_with(&format!(
            "?{APPLY_QUERY} answered HTTP 409, expected 200 or 201: Apply failed with 1 conflict: \
             conflict with \"kubectl-edit\" using v1: .data.greeting (reason Conflict)"
        )),
        "{err}"
    );
    // It stopped there: the objects after it were not touched.
    let reqs = mock.take_requests();
    assert_eq!(reqs.len(), 2);
}

#[tokio::test]
async fn bad_names_and_non_json_answers_are_errors() {
    let (_pki, mock, api) = setup().await;
    let bad = ApiObject::new(
        "v1",
        "ConfigMap",
        "configmaps",
        Some("a/b"),
        "x",
        json!({}),
        json!({}),
    );
    let err = api.apply(&[bad]).await.unwrap_err();
    assert!(matches!(err, ApiError::BadName { .. }), "{err}");
    assert!(mock.take_requests().is_empty());
    // A 200 whose body is not an object is not taken for a live object.
    let unknown = ApiObject::new("v1", "Widget", "widgets", None, "x", json!({}), json!({}));
    mock.put("/api/v1/widgets/x", json!("not an object"));
    let err = api.apply(&[unknown]).await.unwrap_err().to_string();
    assert!(
        err.contains("Widget x: GET https://127.0.0.1:")
            && err.contains("answered HTTP 200 with a body that is not a JSON object"),
        "{err}"
    );
}

#[tokio::test]
async fn readyz_is_polled_until_ok() {
    let (_pki, mock, api) = setup().await;
    mock.readyz_failures(3);
    let waited = api.wait_ready(Duration::from_secs(10)).await.unwrap();
    assert!(
        waited >= 3 * FAST && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(mock.take_requests(), vec![get("/readyz"); 4]);
}

#[tokio::test]
async fn readyz_never_ok_fails_after_the_timeout() {
    let pki = mock::pki();
    let mock = Mock::start(&pki).await;
    // The default timing: one poll a second.
    let api = client(&pki.credentials(&mock.url())).unwrap();
    mock.readyz_never();
    let started = Instant::now();
    let err = api.wait_ready(Duration::from_secs(2)).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    let ApiError::NotReady { polls, .. } = &err else {
        panic!("{err}")
    };
    assert!((2..=3).contains(polls), "{polls}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}/readyz: the apiserver was not ready after waiting 2.0",
            mock.url()
        )),
        "{msg}"
    );
    assert!(
        msg.ends_with(
            "last answer: HTTP 500: \"[+]ping ok [+]etcd ok [-]poststarthook/rbac/bootstrap-roles \
             failed: reason withheld readyz check failed\""
        ),
        "{msg}"
    );
}

#[tokio::test]
async fn nothing_listening_is_reported_after_the_timeout() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let pki = mock::pki();
    let api = client(&pki.credentials(&format!("https://127.0.0.1:{port}")))
        .unwrap()
        .with_timing(Duration::from_secs(1), FAST);
    let err = api
        .wait_ready(Duration::from_secs(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not ready after waiting 1."), "{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn the_server_name_is_checked() {
    let pki = mock::pki();
    let mock = Mock::start(&pki).await;
    // The URL has an IP; the certificate is checked against the name given.
    let mut creds = pki.credentials(&mock.url());
    creds.tls_server_name = Some("localhost".into());
    let api = client(&creds).unwrap();
    api.wait_ready(Duration::from_secs(2)).await.unwrap();

    creds.tls_server_name = Some("api.wrong.example".into());
    let api = client(&creds).unwrap();
    let started = Instant::now();
    let err = api.wait_ready(Duration::from_secs(5)).await.unwrap_err();
    // A certificate that does not verify is not waited on.
    assert!(started.elapsed() < Duration::from_secs(2));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "apiserver readiness: GET {}/readyz: TLS handshake failed: ",
            mock.url()
        )),
        "{msg}"
    );
    assert!(msg.contains("api.wrong.example"), "{msg}");
    assert!(msg.contains("not valid for name"), "{msg}");
    // The handshake failed before any request.
    assert_eq!(mock.take_requests(), vec![get("/readyz")]);
}

#[tokio::test]
async fn a_client_without_a_trusted_ca_is_refused() {
    let pki = mock::pki();
    let other = mock::pki();
    let mock = Mock::start(&pki).await;
    let mut creds = pki.credentials(&mock.url());
    creds.ca_pem = other.ca_pem.clone();
    let err = client(&creds)
        .unwrap()
        .wait_ready(Duration::from_secs(3))
        .await
        .unwrap_err();
    let msg = err.to_string();
    // Both test CAs are named "kubernetes", as kubeadm's are: the
    // signature is what fails.
    assert_eq!(
        msg,
        format!(
            "apiserver readiness: GET {}/readyz: TLS handshake failed: invalid peer \
             certificate: BadSignature (the apiserver's certificate is not signed by the CA in \
             ca_pem)",
            mock.url()
        )
    );
    assert!(mock.take_requests().is_empty());
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let pki = mock::pki();
    let other = mock::pki();
    let mock = Mock::start(&pki).await;
    let mut creds = pki.credentials(&mock.url());
    creds.cert_chain_pem = other.client_pem.clone();
    creds.key_pem = other.client_key_pem.clone().into();
    let started = Instant::now();
    let err = client(&creds)
        .unwrap()
        .wait_ready(Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let msg = err.to_string();
    assert_eq!(
        msg,
        format!(
            "apiserver readiness: GET {}/readyz answered HTTP 401, expected 200 (401: the \
             apiserver does not accept our client certificate): Unauthorized (reason Unauthorized)",
            mock.url()
        )
    );
    assert_eq!(mock.take_requests(), vec![get("/readyz")]);
}

#[tokio::test]
async fn the_node_is_waited_for_until_the_kubelet_registered_it() {
    let (_pki, mock, api) = setup().await;
    const PATH: &str = "/api/v1/nodes/cp1.example.com";
    let node = |labels: Value| {
        json!({
            "kind": "Node", "apiVersion": "v1",
            "metadata": {
                "name": "cp1.example.com", "uid": "3dc02f0e-3e0f-45c1-a1fa-c253913fb0c6",
                "resourceVersion": "437", "creationTimestamp": "2026-12-06T22:43:18Z",
                "labels": labels,
            },
            "spec": {"podCIDR": "192.168.0.0/24"},
        })
    };
    let without = node(json!({"beta.kubernetes.io/os": "linux"}));
    let with = node(json!({"kubernetes.io/hostname": "cp1.example.com"}));
    let wait = api.wait_node("cp1.example.com", Duration::from_secs(10));
    let kubelet = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        mock.put(PATH, without.clone());
        tokio::time::sleep(Duration::from_millis(250)).await;
        mock.put(PATH, with.clone());
    };
    let (got, ()) = tokio::join!(wait, kubelet);
    assert_eq!(got.unwrap(), with);
    let reqs = mock.take_requests();
    assert!(reqs.len() >= 4, "{reqs:?}");
    assert!(reqs.iter().all(|r| *r == get(PATH)), "{reqs:?}");

    let err = api
        .wait_node("cp2.example.com", Duration::from_millis(500))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Node cp2.example.com: the kubelet never registered the node: waited 50"),
        "{err}"
    );
    assert!(
        err.ends_with(
            "last answer: HTTP 404: nodes \"cp2.example.com\" not found (reason NotFound)"
        ),
        "{err}"
    );
    mock.put("/api/v1/nodes/cp3", without);
    let err = api
        .wait_node("cp3", Duration::from_millis(300))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("HTTP 200, but the Node has no label kubernetes.io/hostname yet"),
        "{err}"
    );
}

#[tokio::test]
async fn prune_deletes_only_our_objects_not_kept() {
    let (_pki, mock, api) = setup().await;
    const SECRETS: &str = "/api/v1/namespaces/kube-system/secrets";
    mock.put(
        &format!("{SECRETS}/bootstrap-token-abcdef"),
        mock::token_secret("bootstrap-token-abcdef", "mk-firstboot", "Apply"),
    );
    mock.put(
        &format!("{SECRETS}/bootstrap-token-old111"),
        mock::token_secret("bootstrap-token-old111", "mk-firstboot", "Apply"),
    );
    mock.put(
        &format!("{SECRETS}/bootstrap-token-kubead"),
        mock::token_secret("bootstrap-token-kubead", "kubeadm", "Update"),
    );
    // Ours, but not a token: the field selector keeps it out of the list.
    let mut opaque = mock::token_secret("mk-other", "mk-firstboot", "Apply");
    opaque["type"] = json!("Opaque");
    mock.put(&format!("{SECRETS}/mk-other"), opaque);

    let kind = PruneKind {
        api_version: "v1".into(),
        plural: "secrets".into(),
        namespace: Some("kube-system".into()),
        field_selector: Some("type=bootstrap.kubernetes.io/token".into()),
    };
    let deleted = api
        .prune(&kind, &["bootstrap-token-abcdef".to_string()])
        .await
        .unwrap();
    assert_eq!(deleted, ["bootstrap-token-old111"]);
    assert_eq!(
        mock.take_requests(),
        [
            Recorded {
                query: Some("fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken".into()),
                ..get(SECRETS)
            },
            Recorded {
                method: "DELETE".into(),
                path: format!("{SECRETS}/bootstrap-token-old111"),
                query: None,
                content_type: Some("application/json".into()),
                body: r#"{"apiVersion":"v1","kind":"DeleteOptions","preconditions":{"resourceVersion":"300","uid":"uid-bootstrap-token-old111"}}"#.into(),
            },
        ]
    );
    assert_eq!(
        mock.paths(),
        [
            format!("{SECRETS}/bootstrap-token-abcdef"),
            format!("{SECRETS}/bootstrap-token-kubead"),
            format!("{SECRETS}/mk-other"),
        ]
    );
    // Nothing left to prune.
    assert!(api
        .prune(&kind, &["bootstrap-token-abcdef".to_string()])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_request_that_hangs_is_bounded() {
    let pki = mock::pki();
    let mock = Mock::start(&pki).await;
    let api = client(&pki.credentials(&mock.url()))
        .unwrap()
        .with_timing(Duration::from_millis(300), FAST);
    let objs = objects();
    mock.hang(&objs[0].path());
    let started = Instant::now();
    let err = api.apply(&objs).await.unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        err,
        format!(
            "ConfigMap kube-system/kubeadm-config: GET {}{}: no complete answer within 300ms",
            mock.url(),
            objs[0].path()
        )
    );
}

#[tokio::test]
async fn bad_credentials_and_urls_are_named() {
    let pki = mock::pki();
    let mut creds = pki.credentials("http://127.0.0.1:6443");
    assert_eq!(
        client(&creds).unwrap_err().to_string(),
        "apiserver URL \"http://127.0.0.1:6443\": must be https://host:port (the apiserver is TLS only)"
    );
    creds.server = "https://127.0.0.1:6443/api".into();
    assert!(client(&creds)
        .unwrap_err()
        .to_string()
        .contains("must not have a path"));
    creds.server = "https://127.0.0.1:6443".into();
    creds.key_pem = "nonsense".to_string().into();
    let err = client(&creds).unwrap_err().to_string();
    assert!(
        err.starts_with("apiserver credentials: key_pem: no usable private key"),
        "{err}"
    );
    creds.key_pem = pki.client_key_pem.clone().into();
    creds.ca_pem = String::new();
    assert_eq!(
        client(&creds).unwrap_err().to_string(),
        "apiserver credentials: ca_pem: no CERTIFICATE block in the PEM text"
    );
    // The key never shows in Debug output.
    assert!(!format!("{creds:?}").contains("PRIVATE KEY"));
}

#[test]
fn a_client_needs_a_runtime() {
    let pki = mock::pki();
    let err = client(&pki.credentials("https://127.0.0.1:6443")).unwrap_err();
    assert!(matches!(err, ApiError::NoRuntime), "{err}");
}

/// A role config's objects (`v1`), and the same after an upgrade that
/// drops fields (`v2`): a ConfigMap data key, a Deployment label and
/// container arg, a DaemonSet env var and nodeSelector key. The
/// ClusterRole stays as it is.
fn dropping_objects(v2: bool) -> Vec<ApiObject> {
    let pick = |a: Value, b: Value| if v2 { b } else { a };
    let container = |extra: Value| {
        let mut c = json!({"name": "main", "image": "registry.k8s.io/pause:3.9"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    vec![
        ApiObject::new(
            "v1",
            "ConfigMap",
            "configmaps",
            Some("kube-system"),
            "mk-demo",
            json!({}),
            json!({"data": pick(json!({"a": "1", "b": "2"}), json!({"a": "1"}))}),
        ),
        ApiObject::new(
            "apps/v1",
            "Deployment",
            "deployments",
            Some("kube-system"),
            "demo",
            json!({"labels": pick(json!({"app": "demo", "tier": "web"}), json!({"app": "demo"}))}),
            json!({"spec": {
                "selector": {"matchLabels": {"app": "demo"}},
                "template": {
                    "metadata": {"labels": {"app": "demo"}},
                    "spec": {"containers": [container(json!({
                        "args": pick(json!(["--a", "--b"]), json!(["--a"])),
                    }))]},
                },
            }}),
        ),
        ApiObject::new(
            "apps/v1",
            "DaemonSet",
            "daemonsets",
            Some("kube-system"),
            "agent",
            json!({}),
            json!({"spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {
                        "nodeSelector": pick(
                            json!({"kubernetes.io/os": "linux", "mk.dev/agent": "yes"}),
                            json!({"kubernetes.io/os": "linux"}),
                        ),
                        "containers": [container(json!({
                            "env": pick(
                                json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
                                json!([{"name": "A", "value": "1"}]),
                            ),
                            "ports": [{"containerPort": 9000, "name": "metrics"}],
                        }))],
                    },
                },
            }}),
        ),
        ApiObject::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "clusterroles",
            None,
            "mk:demo",
            json!({}),
            json!({"rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}),
        ),
    ]
}

fn outcomes(out: &[Applied]) -> Vec<Outcome> {
    out.iter().map(|a| a.outcome).collect()
}

#[tokio::test]
async fn fields_dropped_from_the_config_are_removed_by_one_apply() {
    let (_pki, mock, api) = setup().await;
    let v1 = dropping_objects(false);
    let v2 = dropping_objects(true);
    api.apply(&v1).await.unwrap();
    mock.take_requests();
    let cm_path = v1[0].path();
    let dep_path = v1[1].path();
    let ds_path = v1[2].path();
    // What the apiserver recorded for our first apply (e1's shape; keyed
    // lists by their merge keys, atomic ones as one field).
    let ds = mock.get(&ds_path).unwrap();
    assert_eq!(
        ds["metadata"]["managedFields"],
        json!([{
            "manager": "mk-firstboot", "operation": "Apply", "apiVersion": "apps/v1",
            "time": mock::CREATED, "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {
                "f:selector": {"f:matchLabels": {"f:app": {}}},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:nodeSelector": {"f:kubernetes.io/os": {}, "f:mk.dev/agent": {}},
                        "f:containers": {"k:{\"name\":\"main\"}": {
                            ".": {}, "f:name": {}, "f:image": {},
                            "f:env": {
                                "k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}},
                                "k:{\"name\":\"B\"}": {".": {}, "f:name": {}, "f:value": {}},
                            },
                            "f:ports": {"k:{\"containerPort\":9000,\"protocol\":\"TCP\"}": {
                                ".": {}, "f:containerPort": {}, "f:name": {}
                            }},
                        }},
                    },
                },
            }},
        }])
    );
    // The subset compare alone takes the ConfigMap for up to date: the
    // dropped key is an extra of the live object.
    let cm_before = mock.get(&cm_path).unwrap();
    assert!(mk_kubeapi::decide::is_subset(&v2[0].body, &cm_before));

    // The new config: one apply per changed object, the ClusterRole is
    // only read.
    let out = api.apply(&v2).await.unwrap();
    assert_eq!(
        outcomes(&out),
        [
            Outcome::Configured,
            Outcome::Configured,
            Outcome::Configured,
            Outcome::Unchanged
        ]
    );
    assert_eq!(
        mock.take_requests(),
        [
            get(&cm_path),
            apply_patch(&v2[0]),
            get(&dep_path),
            apply_patch(&v2[1]),
            get(&ds_path),
            apply_patch(&v2[2]),
            get(&v2[3].path()),
        ]
    );
    // The dropped fields are gone, the kept ones and the server's stay.
    let cm = mock.get(&cm_path).unwrap();
    assert_eq!(cm["data"], json!({"a": "1"}));
    assert_ne!(
        cm["metadata"]["resourceVersion"],
        cm_before["metadata"]["resourceVersion"]
    );
    assert_eq!(
        cm["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );
    let dep = mock.get(&dep_path).unwrap();
    assert_eq!(dep["metadata"]["labels"], json!({"app": "demo"}));
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["--a"])
    );
    assert_eq!(dep["spec"]["revisionHistoryLimit"], 10);
    let ds = mock.get(&ds_path).unwrap();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(
        pod["containers"][0]["env"],
        json!([{"name": "A", "value": "1"}])
    );
    assert_eq!(
        pod["containers"][0]["ports"],
        json!([{"containerPort": 9000, "name": "metrics"}])
    );

    // Once more: nothing left to remove, nothing is written.
    let out = api.apply(&v2).await.unwrap();
    assert_eq!(out, applied(&v2, Outcome::Unchanged));
    let expected: Vec<Recorded> = v2.iter().map(|o| get(&o.path())).collect();
    assert_eq!(mock.take_requests(), expected);
}

#[tokio::test]
async fn fields_of_other_managers_are_left_alone_and_kept_when_we_drop_ours() {
    let (_pki, mock, api) = setup().await;
    let v1 = dropping_objects(false);
    let v2 = dropping_objects(true);
    let (v1, v2) = (&v1[..1], &v2[..1]);
    let path = v1[0].path();
    api.apply(v1).await.unwrap();
    mock.take_requests();

    // An admin's `kubectl edit`: a label and a data key we never set, and
    // the value of b written again (so kubectl-edit owns b as well).
    let mut live = mock.get(&path).unwrap();
    live["metadata"]["labels"] = json!({"team": "ops"});
    live["data"]["extra"] = json!("x");
    live["metadata"]["resourceVersion"] = json!("900");
    live["metadata"]["managedFields"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1",
            "time": mock::CREATED, "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {"f:b": {}, "f:extra": {}},
                "f:metadata": {"f:labels": {".": {}, "f:team": {}}},
            },
        }));
    mock.put(&path, live.clone());

    // The same config again: their fields are not ours, no write.
    assert_eq!(
        api.apply(v1).await.unwrap(),
        applied(v1, Outcome::Unchanged)
    );
    assert_eq!(mock.take_requests(), [get(&path)]);
    assert_eq!(mock.get(&path).unwrap(), live);

    // b dropped from the config: we owned it, so the apply is sent; the
    // apiserver keeps it because kubectl-edit owns it too.
    assert_eq!(
        api.apply(v2).await.unwrap(),
        applied(v2, Outcome::Configured)
    );
    assert_eq!(mock.take_requests(), [get(&path), apply_patch(&v2[0])]);
    let cm = mock.get(&path).unwrap();
    assert_eq!(cm["data"], json!({"a": "1", "b": "2", "extra": "x"}));
    assert_eq!(cm["metadata"]["labels"], json!({"team": "ops"}));
    let ours: Vec<&Value> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["manager"] == "mk-firstboot")
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["fieldsV1"], json!({"f:data": {"f:a": {}}}));

    // b is no longer ours: the next run writes nothing.
    assert_eq!(
        api.apply(v2).await.unwrap(),
        applied(v2, Outcome::Unchanged)
    );
    assert_eq!(mock.take_requests(), [get(&path)]);
}
