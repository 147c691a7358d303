//! Reading objects and approving CSRs against the mock apiserver, which
//! answers like the recorded kube-apiserver v1.28.7 (calls/f1, f2, f3).

mod mock;

use std::time::Duration;

use mk_kubeapi::decide::{APPROVAL_MESSAGE, CSR_COLLECTION};
use mk_kubeapi::{client, ApiError};
use mock::Mock;
use serde_json::{json, Value};

const SERVING: &str = "kubernetes.io/kubelet-serving";

async fn setup() -> (mock::Pki, Mock, mk_kubeapi::ApiClient) {
    let pki = mock::pki();
    let mock = Mock::start(&pki).await;
    let api = client(&pki.credentials(&mock.url()))
        .unwrap()
        .with_timing(Duration::from_secs(5), Duration::from_millis(100));
    (pki, mock, api)
}

fn put_csr(mock: &Mock, name: &str) -> Value {
    let csr = mock::csr(name, SERVING, "LS0t", "system:node:n1", &["system:nodes"]);
    mock.put(&mock::csr_path(name), csr.clone());
    csr
}

/// The CSR as a list answer carries it: no kind, no apiVersion.
fn as_item(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("kind");
    v.as_object_mut().unwrap().remove("apiVersion");
    v
}

#[tokio::test]
async fn lists_and_gets_return_the_objects() {
    let (_pki, mock, api) = setup().await;
    let a = put_csr(&mock, "csr-a");
    put_csr(&mock, "csr-b");
    mock.put(
        "/api/v1/nodes/n1",
        mock::node("n1", &[("InternalIP", "10.0.0.1")]),
    );

    let items = api.list_json(CSR_COLLECTION, None).await.unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["csr-a", "csr-b"]);
    assert_eq!(items[0], as_item(&a));
    assert_eq!(api.list_json("/api/v1/nodes", None).await.unwrap().len(), 1);
    assert_eq!(api.get_json(&mock::csr_path("csr-a")).await.unwrap(), a);
    let requests = mock.take_requests();
    assert_eq!(requests[0].path, CSR_COLLECTION);
    assert_eq!(requests[0].query, None);

    let err = api.get_json(&mock::csr_path("gone")).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Status { status: 404, .. }) && err.to_string().contains("gone"),
        "{err}"
    );
}

#[tokio::test]
async fn approval_puts_the_live_object_with_kubectls_condition() {
    let (_pki, mock, api) = setup().await;
    let live = put_csr(&mock, "csr-cp1-serving");
    // From a list item, as the approver has it.
    let done = api
        .approve_csr("csr-cp1-serving", &as_item(&live), "MkTest")
        .await
        .unwrap();

    let requests = mock.take_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let put = &requests[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(
        put.path,
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-cp1-serving/approval"
    );
    assert_eq!(put.query, None);
    assert_eq!(put.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_str(&put.body).unwrap();
    // calls/f2, call 3: the live object, resourceVersion kept, one condition.
    let condition = body["status"]["conditions"][0].clone();
    let mut want = live.clone();
    want["status"] = json!({"conditions": [{
        "type": "Approved", "status": "True", "reason": "MkTest",
        "message": APPROVAL_MESSAGE,
        "lastUpdateTime": condition["lastUpdateTime"], "lastTransitionTime": null,
    }]});
    assert_eq!(body, want);
    let t = condition["lastUpdateTime"].as_str().unwrap();
    assert!(
        t.len() == 20 && t.ends_with('Z') && t.starts_with("20"),
        "{t}"
    );

    // f2's answer: resourceVersion moved on, lastTransitionTime set.
    assert_eq!(done["metadata"]["resourceVersion"], "401");
    assert_eq!(done["status"]["conditions"][0]["lastTransitionTime"], t);
    assert_eq!(mock.get(&mock::csr_path("csr-cp1-serving")).unwrap(), done);
}

#[tokio::test]
async fn a_conflict_is_read_again_and_retried_once() {
    let (_pki, mock, api) = setup().await;
    let live = put_csr(&mock, "csr-x");
    mock.approval_race(&mock::csr_path("csr-x"), 1);
    let done = api.approve_csr("csr-x", &live, "MkTest").await.unwrap();
    assert_eq!(done["status"]["conditions"][0]["type"], "Approved");
    let requests = mock.take_requests();
    let calls: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    let path = mock::csr_path("csr-x");
    let approval = format!("{path}/approval");
    assert_eq!(
        calls,
        [
            ("PUT", approval.as_str()),
            ("GET", path.as_str()),
            ("PUT", approval.as_str())
        ]
    );
    // The retry carries the fresh resourceVersion (and the other writer's label).
    let retry: Value = serde_json::from_str(&requests[2].body).unwrap();
    assert_ne!(retry["metadata"]["resourceVersion"], "475");
    assert_eq!(retry["metadata"]["labels"]["raced"], "0");

    // Twice: an error, not a loop.
    let live = put_csr(&mock, "csr-y");
    mock.approval_race(&mock::csr_path("csr-y"), 2);
    let err = api.approve_csr("csr-y", &live, "MkTest").await.unwrap_err();
    assert!(
        matches!(err, ApiError::Status { status: 409, .. }) && err.to_string().contains("csr-y"),
        "{err}"
    );
    assert_eq!(mock.take_requests().len(), 3);
    assert_eq!(
        mock.get(&mock::csr_path("csr-y")).unwrap()["status"],
        json!({})
    );
}

#[tokio::test]
async fn a_request_made_anew_meanwhile_is_not_approved() {
    let (_pki, mock, api) = setup().await;
    let reviewed = put_csr(&mock, "csr-z");
    // Deleted and created again under the same name: another request.
    let mut other = reviewed.clone();
    other["metadata"]["uid"] = json!("another-uid");
    other["metadata"]["resourceVersion"] = json!("600");
    mock.put(&mock::csr_path("csr-z"), other);
    let err = api
        .approve_csr("csr-z", &reviewed, "MkTest")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::NotApproved { name, reason } if name == "csr-z" && reason.contains("uid")),
        "{err}"
    );
    // The 409, the read that shows the new uid, and no second PUT.
    let methods: Vec<String> = mock.take_requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["PUT", "GET"]);
    assert_eq!(
        mock.get(&mock::csr_path("csr-z")).unwrap()["status"],
        json!({})
    );
}

#[tokio::test]
async fn nothing_is_sent_for_a_mismatched_or_decided_csr() {
    let (_pki, mock, api) = setup().await;
    let live = put_csr(&mock, "csr-a");
    let err = api.approve_csr("csr-b", &live, "R").await.unwrap_err();
    assert!(matches!(err, ApiError::NotApproved { .. }), "{err}");
    let err = api.approve_csr("a/b", &live, "R").await.unwrap_err();
    assert!(matches!(err, ApiError::BadName { .. }), "{err}");
    let mut denied = live.clone();
    denied["status"] = json!({"conditions": [{"type": "Denied", "status": "True"}]});
    let err = api.approve_csr("csr-a", &denied, "R").await.unwrap_err();
    assert!(err.to_string().contains("Denied"), "{err}");
    let mut approved = live.clone();
    approved["status"] = json!({"conditions": [{"type": "Approved", "status": "True"}]});
    assert_eq!(
        api.approve_csr("csr-a", &approved, "R").await.unwrap(),
        approved
    );
    assert!(mock.take_requests().is_empty());
}
