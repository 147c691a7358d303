//! Finding image references in what the planners produce: `image` fields
//! anywhere in YAML/JSON documents (pod specs of static pods and API
//! objects: containers, initContainers, ephemeralContainers), the keys
//! containerd and the kubelet take an image in, and, as a net under all of
//! them, any token in any planned text that names a known registry host
//! with a tag or digest (a reference hidden in a flag, a ConfigMap or a
//! comment cannot slip by).

use serde_json::Value;

use crate::reference;

/// Registry hosts whose references the text scan recognises: those
/// containerd mirrors on mk nodes and the common public ones, whose
/// appearance in a node's files means something would be pulled from
/// there.
pub const KNOWN_REGISTRIES: &[&str] = &[
    "registry.k8s.io",
    "k8s.gcr.io",
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "quay.io",
    "gcr.io",
    "ghcr.io",
    "mcr.microsoft.com",
    "public.ecr.aws",
    "nvcr.io",
    "registry.gitlab.com",
];

/// One reference found, and where: `containers[etcd]`, `sandbox_image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub reference: String,
    pub place: String,
}

/// Every string `image` field in `v`, with the container it belongs to:
/// `containers[etcd]`, `initContainers[install-cni]`; outside a list of
/// named items, the JSON path (`spec.image`).
pub fn image_fields(v: &Value) -> Vec<Found> {
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<Found>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(image)) = m.get("image") {
                out.push(Found {
                    reference: image.clone(),
                    place: place(path),
                });
            }
            for (k, child) in m {
                path.push(k.clone());
                walk(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let name = item
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| i.to_string());
                let last = path.pop().unwrap_or_default();
                path.push(format!("{last}[{name}]"));
                walk(item, path, out);
                path.pop();
                path.push(last);
            }
        }
        _ => {}
    }
}

/// From the last list item on: `spec.template.spec.initContainers[x]` ->
/// `initContainers[x]`; a path with no list item stays whole.
fn place(path: &[String]) -> String {
    match path.iter().rposition(|s| s.ends_with(']')) {
        Some(i) => path[i..].join("."),
        None if path.is_empty() => "image".into(),
        None => format!("{}.image", path.join(".")),
    }
}

/// Every string in `v` (values only, not keys), for the text scan.
pub fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// Tokens of `text` that are references to a [`KNOWN_REGISTRIES`] host
/// with an explicit tag or digest (URLs such as `https://quay.io` are not).
pub fn text_references(text: &str) -> Vec<String> {
    let is_ref_char = |c: char| c.is_ascii_alphanumeric() || "._-:/@".contains(c);
    let mut out = Vec::new();
    for token in text.split(|c: char| !is_ref_char(c)) {
        let token = token.trim_matches(|c: char| ".:-/".contains(c));
        if token.contains("://") {
            continue;
        }
        let Some((host, _)) = token.split_once('/') else {
            continue;
        };
        if !KNOWN_REGISTRIES.contains(&host) {
            continue;
        }
        let last = token.rsplit('/').next().unwrap_or("");
        if !(last.contains(':') || token.contains('@')) {
            continue;
        }
        if reference::parse(token).is_ok() && !out.iter().any(|t| t == token) {
            out.push(token.to_string());
        }
    }
    out
}

/// `key = "value"` assignments of a TOML file, in order, with the table
/// each is in (`plugins."io.containerd.grpc.v1.cri"`). Only what
/// containerd's config.toml as planned uses: basic strings on one line.
pub fn toml_strings(text: &str) -> Vec<(String, String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(t) = line.strip_prefix('[') {
            table = t.trim_end_matches(']').trim_start_matches('[').to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let Some(v) = v
            .strip_prefix('"')
            .and_then(|v| v.split_once('"'))
            .map(|x| x.0)
        else {
            continue;
        };
        out.push((table.clone(), k.trim().to_string(), v.to_string()));
    }
    out
}

/// The kubelet's `--pod-infra-container-image` from kubeadm-flags.env
/// (`KUBELET_KUBEADM_ARGS="--a=b --pod-infra-container-image=X ..."`), in
/// either flag form.
pub fn pod_infra_flag(env: &str) -> Vec<String> {
    const FLAG: &str = "--pod-infra-container-image";
    let mut out = Vec::new();
    for line in env.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((_, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        let words: Vec<&str> = value.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if let Some(v) = w.strip_prefix(FLAG) {
                if let Some(v) = v.strip_prefix('=') {
                    out.push(v.to_string());
                } else if v.is_empty() {
                    if let Some(next) = words.get(i + 1) {
                        out.push(next.to_string());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_fields_name_their_container() {
        let pod = json!({"spec": {"template": {"spec": {
            "initContainers": [{"name": "install-cni", "image": "a/b:1"}],
            "containers": [{"name": "x", "image": "c:2"}, {"image": "d:3"}],
            "volumes": [{"name": "v", "hostPath": {"path": "/x"}}],
        }}}, "image": {"type": "string"}});
        let f = image_fields(&pod);
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|f| (f.reference.as_str(), f.place.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("c:2", "containers[x]"),
                ("d:3", "containers[1]"),
                ("a/b:1", "initContainers[install-cni]"),
            ]
        );
        assert_eq!(
            image_fields(&json!({"spec": {"image": "e:1"}}))[0].place,
            "spec.image"
        );
    }

    #[test]
    fn text_scan_finds_registry_references_only() {
        let t = "# x\n--pod-infra-container-image=registry.k8s.io/pause:3.9 \
                 server = \"https://registry.k8s.io\"\n\
                 --register-with-taints=node-role.kubernetes.io/control-plane:NoSchedule\n\
                 image: \"quay.io/a/b@sha256:{h}\" docker.io/calico/node:v3.29.7, ghcr.io/x\n"
            .replace("{h}", &"0".repeat(64));
        assert_eq!(
            text_references(&t),
            [
                "registry.k8s.io/pause:3.9".to_string(),
                format!("quay.io/a/b@sha256:{}", "0".repeat(64)),
                "docker.io/calico/node:v3.29.7".into(),
            ]
        );
    }

    #[test]
    fn containerd_and_kubelet_keys() {
        let toml = "# h\nversion = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.9\"\n  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n    config_path = \"/etc/containerd/certs.d\"\n";
        let kv = toml_strings(toml);
        assert!(kv.contains(&(
            "plugins.\"io.containerd.grpc.v1.cri\"".into(),
            "sandbox_image".into(),
            "registry.k8s.io/pause:3.9".into()
        )));
        assert!(kv.contains(&(
            "plugins.\"io.containerd.grpc.v1.cri\".registry".into(),
            "config_path".into(),
            "/etc/containerd/certs.d".into()
        )));
        assert_eq!(
            pod_infra_flag("# x\nKUBELET_KUBEADM_ARGS=\"--a=b --pod-infra-container-image=registry.k8s.io/pause:3.9 --c\"\n"),
            ["registry.k8s.io/pause:3.9"]
        );
        assert_eq!(
            pod_infra_flag("KUBELET_KUBEADM_ARGS=\"--pod-infra-container-image x:1\"\n"),
            ["x:1"]
        );
    }
}
