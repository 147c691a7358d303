//! Node maintenance for mk-rollout: cordon and uncordon (strategic merge
//! patch of `spec.unschedulable`, as `kubectl cordon` sends it: calls/a,
//! b), the pods on a node, and the Eviction API (calls/c4, c7, c9: 201
//! evicted, 429 refused by a PodDisruptionBudget).

use http::Method;
use serde_json::{json, Value};
use tracing::info;

use crate::{decide, ApiClient, ApiError};

/// What an eviction request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eviction {
    /// 201: the pod is being deleted.
    Evicted,
    /// 429: refused for now (a PodDisruptionBudget); the apiserver's
    /// message and causes. Ask again later.
    Refused(String),
    /// 404: the pod is gone already.
    Gone,
}

fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if decide::valid_path_segment(name) {
        Ok(())
    } else {
        Err(ApiError::BadName {
            what: what.to_string(),
            name: name.to_string(),
        })
    }
}

/// The message of a Status answer and the messages of its causes.
fn status_text(body: &[u8]) -> String {
    let mut text = decide::answer_message(body);
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(causes) = v.pointer("/details/causes").and_then(Value::as_array) {
            for c in causes {
                if let Some(m) = c.get("message").and_then(Value::as_str) {
                    text.push_str(&format!(" ({m})"));
                }
            }
        }
    }
    text
}

impl ApiClient {
    /// Marks the Node `name` unschedulable (cordon) or schedulable again
    /// (uncordon); returns the Node as the apiserver answered.
    pub async fn set_unschedulable(
        &self,
        name: &str,
        unschedulable: bool,
    ) -> Result<Value, ApiError> {
        let what = format!(
            "{} Node {name}",
            if unschedulable { "cordon" } else { "uncordon" }
        );
        check_name(&what, name)?;
        let path = format!("/api/v1/nodes/{name}");
        // kubectl uncordon sends null, which removes the field.
        let value = if unschedulable {
            json!(true)
        } else {
            Value::Null
        };
        let body = serde_json::to_vec(&json!({"spec": {"unschedulable": value}}))
            .expect("JSON serialises");
        let answer = self
            .request(
                &what,
                Method::PATCH,
                &path,
                Some("application/strategic-merge-patch+json"),
                body,
            )
            .await?;
        if answer.status != 200 {
            return Err(self.status_error(&what, Method::PATCH, &path, &answer, "200"));
        }
        info!(node = name, unschedulable, "node patched");
        self.json_body(&what, Method::PATCH, &path, &answer)
    }

    /// The pods bound to the Node `name`, in every namespace.
    pub async fn pods_on_node(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        check_name("list the pods of a Node", name)?;
        self.list_json("/api/v1/pods", Some(&format!("spec.nodeName={name}")))
            .await
    }

    /// Asks the Eviction API to evict a pod (policy/v1, as calls/c7).
    pub async fn evict(&self, namespace: &str, pod: &str) -> Result<Eviction, ApiError> {
        let what = format!("evict pod {namespace}/{pod}");
        check_name(&what, namespace)?;
        check_name(&what, pod)?;
        let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/eviction");
        let body = serde_json::to_vec(&json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": namespace},
        }))
        .expect("JSON serialises");
        let answer = self
            .request(&what, Method::POST, &path, Some("application/json"), body)
            .await?;
        match answer.status {
            200 | 201 => Ok(Eviction::Evicted),
            429 => Ok(Eviction::Refused(status_text(&answer.body))),
            404 => Ok(Eviction::Gone),
            _ => Err(self.status_error(&what, Method::POST, &path, &answer, "201, 429 or 404")),
        }
    }
}
