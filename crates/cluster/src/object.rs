//! One API object as mk-firstboot applies it.

use serde_json::{json, Value};

/// An object for server-side apply: where it lives (for the request URL)
/// and the full body sent (`apiVersion`, `kind`, `metadata`, ...).
///
/// Ownership is not marked with labels (kubeadm's objects carry none):
/// the apiserver records field manager `mk-firstboot` in managedFields,
/// and pruning deletes only objects whose fields that manager applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiObject {
    /// `v1`, `rbac.authorization.k8s.io/v1`, `apps/v1`, ...
    pub api_version: String,
    pub kind: String,
    /// The resource's plural name in URLs (`configmaps`, `clusterroles`).
    pub plural: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    /// The whole object as sent.
    pub body: Value,
}

impl ApiObject {
    /// An object from its type, place and the fields beside `apiVersion`,
    /// `kind` and `metadata` (`rest` must be a JSON object; `metadata`
    /// extras such as labels go in `meta`).
    pub fn new(
        api_version: &str,
        kind: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        meta: Value,
        rest: Value,
    ) -> ApiObject {
        let mut metadata = json!({ "name": name });
        if let Some(ns) = namespace {
            metadata["namespace"] = json!(ns);
        }
        if let Value::Object(extra) = meta {
            for (k, v) in extra {
                metadata[k] = v;
            }
        }
        let mut body = json!({ "apiVersion": api_version, "kind": kind, "metadata": metadata });
        if let Value::Object(fields) = rest {
            for (k, v) in fields {
                body[k] = v;
            }
        }
        ApiObject {
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
            body,
        }
    }

    /// A ServiceAccount with nothing but its name: what kubeadm and Calico
    /// create for their pods.
    pub fn service_account(namespace: &str, name: &str) -> ApiObject {
        ApiObject::new(
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            Some(namespace),
            name,
            json!({}),
            json!({}),
        )
    }

    /// `Kind namespace/name` (or `Kind name`), as messages name it.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// The URL path of the object (`/api/v1/namespaces/kube-system/configmaps/x`).
    pub fn path(&self) -> String {
        let base = if self.api_version.contains('/') {
            format!("/apis/{}", self.api_version)
        } else {
            format!("/api/{}", self.api_version)
        };
        match &self.namespace {
            Some(ns) => format!("{base}/namespaces/{ns}/{}/{}", self.plural, self.name),
            None => format!("{base}/{}/{}", self.plural, self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_api_group() {
        let cm = ApiObject::new(
            "v1",
            "ConfigMap",
            "configmaps",
            Some("kube-system"),
            "x",
            json!({}),
            json!({"data": {}}),
        );
        assert_eq!(cm.path(), "/api/v1/namespaces/kube-system/configmaps/x");
        assert_eq!(cm.id(), "ConfigMap kube-system/x");
        let crb = ApiObject::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            None,
            "kubeadm:get-nodes",
            json!({"labels": {"a": "b"}}),
            json!({}),
        );
        assert_eq!(
            crb.path(),
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubeadm:get-nodes"
        );
        assert_eq!(crb.body["metadata"]["labels"]["a"], "b");
    }
}
