//! Files a container reads must be mounted into it: every absolute path a
//! flag names (in its command or its exec probes), and every file a
//! kubeconfig it is given references. Our kubeconfigs reference
//! certificate files instead of embedding them (docs/kubeadm-differences.md),
//! so a pod that mounts only its kubeconfig cannot start (issue 16, item 7:
//! `unable to read client-cert /etc/kubernetes/pki/scheduler.crt`).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::inventory::Inventory;
use crate::pods::{self, Container, Kind, Mount, Planned, Pod};
use crate::problem::{Check, Reporter};

/// A kubeconfig a flag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigFlag<'a> {
    pub field: String,
    pub flag: &'a str,
    /// The path in the container.
    pub path: &'a str,
    /// Where it is on the host, through the mount that holds it.
    pub host_path: Option<String>,
}

/// The kubeconfig flags of a container (`--kubeconfig`,
/// `--authentication-kubeconfig`, ...), each file once.
pub fn kubeconfigs<'a>(c: &Container<'a>, mounts: &[Mount]) -> Vec<KubeconfigFlag<'a>> {
    let mut seen = BTreeSet::new();
    pods::path_flags(&c.argv())
        .into_iter()
        .filter(|f| f.flag.ends_with("kubeconfig") && seen.insert(f.path))
        .map(|f| KubeconfigFlag {
            host_path: pods::mount_for(mounts, f.path).and_then(|m| m.host_path_of(f.path)),
            field: f.field,
            flag: f.flag,
            path: f.path,
        })
        .collect()
}

/// A file a kubeconfig references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `users[0].user.client-certificate`.
    pub field: String,
    /// Absolute (relative paths are relative to the kubeconfig's
    /// directory, as client-go resolves them).
    pub path: String,
}

/// The files a kubeconfig at `path` references: clusters'
/// `certificate-authority`, users' `client-certificate`, `client-key`
/// and `tokenFile`.
pub fn kubeconfig_references(bytes: &[u8], path: &str) -> Result<Vec<Reference>, String> {
    let doc: Value = serde_norway::from_slice(bytes).map_err(|e| e.to_string())?;
    let dir = path
        .rsplit_once('/')
        .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
    let mut out = Vec::new();
    for (list, inner, keys) in [
        ("clusters", "cluster", &["certificate-authority"][..]),
        (
            "users",
            "user",
            &["client-certificate", "client-key", "tokenFile"][..],
        ),
    ] {
        for (i, item) in doc
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            for key in keys {
                let Some(p) = item
                    .get(inner)
                    .and_then(|v| v.get(*key))
                    .and_then(Value::as_str)
                else {
                    continue;
                };
                if p.is_empty() {
                    continue;
                }
                let path = if p.starts_with('/') {
                    p.to_string()
                } else {
                    format!("{}/{p}", dir.trim_end_matches('/'))
                };
                out.push(Reference {
                    field: format!("{list}[{i}].{inner}.{key}"),
                    path,
                });
            }
        }
    }
    Ok(out)
}

/// Checks one pod.
pub(crate) fn check(pod: &Pod, planned: &Planned, inv: &Inventory, r: &mut Reporter) {
    let volumes = pod.volumes();
    for c in pod.containers() {
        let mounts = c.mounts(&volumes);
        let name = c.name();
        let mut words = c.argv();
        for (_, probe) in c.exec_probes() {
            words.extend(probe);
        }
        for f in pods::path_flags(&words) {
            if pods::mount_for(&mounts, f.path).is_none() {
                r.push(
                    Check::Mount,
                    f.field,
                    format!("--{}={}", f.flag, f.path),
                    format!("not under any volumeMount of container `{name}`"),
                    format!("a volumeMount whose mountPath holds {}", f.path),
                );
            }
        }
        for kc in kubeconfigs(&c, &mounts) {
            let Some(host) = &kc.host_path else { continue };
            let Some(bytes) = planned
                .file(host)
                .or(inv.host_files.get(host).map(Vec::as_slice))
            else {
                // Neither written by first boot nor on the node: the
                // hostPath check names the missing file.
                continue;
            };
            let at = format!("{} --{} {}", kc.field, kc.flag, kc.path);
            let refs = match kubeconfig_references(bytes, kc.path) {
                Ok(refs) => refs,
                Err(e) => {
                    r.push(
                        Check::Mount,
                        at,
                        host.clone(),
                        format!("cannot be read as a kubeconfig: {e}"),
                        "a kubeconfig (YAML)",
                    );
                    continue;
                }
            };
            for reference in refs {
                let field = format!("{at}: {}", reference.field);
                let subject = reference.path.clone();
                let Some(m) = pods::mount_for(&mounts, &reference.path) else {
                    r.push(
                        Check::Mount,
                        field,
                        subject,
                        format!("not mounted into container `{name}` (only the kubeconfig is)"),
                        "a read-only volumeMount holding the file the kubeconfig references",
                    );
                    continue;
                };
                if !m.read_only {
                    r.push(
                        Check::Mount,
                        field,
                        subject,
                        format!("mounted read-write by {} ({})", m.field, m.mount_path),
                        "readOnly: true on the mount of a credential file",
                    );
                    continue;
                }
                let Some(h) = m.host_path_of(&reference.path) else {
                    continue;
                };
                match inv.kind(planned, &h) {
                    Some(Kind::File { .. }) => {}
                    other => r.push(
                        Check::Mount,
                        field,
                        subject,
                        match other {
                            Some(k) => format!("{h} on the host is {}", k.describe()),
                            None => format!(
                                "{h} is not on the host: first boot does not write it and the image has no such file"
                            ),
                        },
                        "a regular file",
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_resolved_against_the_kubeconfig() {
        let kc = br#"
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {certificate-authority: /etc/kubernetes/pki/ca.crt, server: "https://x:6443"}
users:
- name: s
  user: {client-certificate: pki/scheduler.crt, client-key: /etc/kubernetes/pki/scheduler.key}
"#;
        let r = kubeconfig_references(kc, "/etc/kubernetes/scheduler.conf").unwrap();
        let got: Vec<(&str, &str)> = r
            .iter()
            .map(|r| (r.field.as_str(), r.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "clusters[0].cluster.certificate-authority",
                    "/etc/kubernetes/pki/ca.crt"
                ),
                (
                    "users[0].user.client-certificate",
                    "/etc/kubernetes/pki/scheduler.crt"
                ),
                (
                    "users[0].user.client-key",
                    "/etc/kubernetes/pki/scheduler.key"
                ),
            ]
        );
        assert!(kubeconfig_references(b"[", "/k").is_err());
    }
}
