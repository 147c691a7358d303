//! Certificates across boots (issue 12, docs/pki.md "Power-offs and
//! renewal"): a boot never puts back an older certificate than the one the
//! node renewed itself, and every leaf that is due or expired is renewed
//! before containerd, the kubelet and the static pods start.
//!
//! [`keep_renewed`] is a pure function of the plan and what it reads from
//! the node; [`renew_at_boot`] does the renewal through mk-pki.

use std::path::{Path, PathBuf};

use mk_nodeconf::{Action, Plan};
use mk_pki::cert::{self, CertInfo};
use mk_roleconfig::time::OffsetDateTime;

/// A delivered certificate the plan now leaves as the node has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub path: String,
    /// Expiry of the node's copy and of the delivered one (RFC 3339).
    pub node_not_after: String,
    pub delivered_not_after: String,
}

impl Kept {
    pub fn line(&self) -> String {
        format!(
            "= {}: kept the node's renewal (valid until {}; the config's copy ends {})",
            self.path, self.node_not_after, self.delivered_not_after
        )
    }
}

fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

/// Files the kubelet rotates itself (its certificate manager): it renews
/// them through the CSR API, signed by whichever control plane's
/// intermediate, and may add the node's addresses to its serving
/// certificate.
fn kubelet_owned(path: &str) -> bool {
    path.starts_with(mk_nodeconf::steps::pki::KUBELET_PKI)
}

/// The same certificate identity: subject, names, usages and issuer
/// (for the kubelet's own files: the issuer's realm, since any control
/// plane signs its CSRs; and its serving certificate may name more, the
/// kubelet adds the node's addresses).
pub fn same_identity(delivered: &CertInfo, node: &CertInfo, kubelet: bool) -> bool {
    let names = |c: &CertInfo| {
        let mut v = c.dns_names.clone();
        v.sort();
        v
    };
    let usages =
        delivered.server_auth == node.server_auth && delivered.client_auth == node.client_auth;
    if delivered.subject != node.subject || !usages || node.is_ca || delivered.is_ca {
        return false;
    }
    if kubelet {
        delivered.realm.is_some()
            && delivered.realm == node.realm
            && delivered
                .dns_names
                .iter()
                .all(|n| node.dns_names.contains(n))
    } else {
        delivered.issuer == node.issuer
            && names(delivered) == names(node)
            && delivered.ip_addresses == node.ip_addresses
    }
}

fn first_cert(bytes: &[u8], what: &str) -> Option<CertInfo> {
    cert::parse_pem(std::str::from_utf8(bytes).ok()?, what).ok()
}

/// Whether the PKCS#8 key in `key_pem` belongs to `cert`. Keys the node
/// wrote in another form (the kubelet writes SEC1 `EC PRIVATE KEY`) are
/// taken as they are.
fn key_matches(cert: &CertInfo, key_pem: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(key_pem) else {
        return false;
    };
    let Some(start) = text.find("-----BEGIN PRIVATE KEY-----") else {
        return true;
    };
    mk_pki::keys::PrivateKey::from_pkcs8_pem(&text[start..])
        .ok()
        .and_then(|key| cert.matches_key(&key, "node certificate").ok())
        .unwrap_or(false)
}

/// The node's copy of a planned file: the bytes (the target's, for a
/// symlink), and where they live. `None` when missing or unreadable.
fn node_file(root: &Path, path: &str) -> Option<Vec<u8>> {
    let p = under(root, path);
    let meta = std::fs::symlink_metadata(&p).ok()?;
    // A planned regular file that is a symlink on the node (or the
    // reverse) is the plan's business, not a renewal.
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    std::fs::read(&p).ok()
}

/// Replaces, in the plan's `pki` step, each delivered leaf (and its key)
/// with the node's copy when the node holds the same identity with a later
/// expiry: what `mk-firstboot renew` or the kubelet renewed stays. Returns
/// what was kept.
pub fn keep_renewed(root: &Path, plan: &mut Plan) -> Vec<Kept> {
    let mut kept = Vec::new();
    let Some(step) = plan
        .steps
        .iter_mut()
        .find(|s| s.name == mk_nodeconf::steps::pki::NAME)
    else {
        return kept;
    };
    // Planned files by path, to find each certificate's key.
    let planned: Vec<(usize, String)> = step
        .actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Action::WriteFile { path, .. } => Some((i, path.clone())),
            _ => None,
        })
        .collect();
    let index_of = |p: &str| planned.iter().find(|(_, q)| q == p).map(|(i, _)| *i);
    let mut replacements: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, path) in &planned {
        if !(path.ends_with(".crt") || path.ends_with(".pem")) {
            continue;
        }
        let Action::WriteFile { contents, .. } = &step.actions[*i] else {
            continue;
        };
        let Some(delivered) = first_cert(contents, path) else {
            continue;
        };
        if delivered.is_ca {
            continue;
        }
        let Some(node_bytes) = node_file(root, path) else {
            continue;
        };
        if node_bytes == *contents {
            continue;
        }
        let Some(node) = first_cert(&node_bytes, path) else {
            continue;
        };
        let kubelet = kubelet_owned(path);
        if !same_identity(&delivered, &node, kubelet) || node.not_after <= delivered.not_after {
            continue;
        }
        // The key: in the same file (.pem), or beside it (.crt -> .key).
        let key = if path.ends_with(".pem") {
            Some((None, node_bytes.clone()))
        } else {
            let key_path = format!("{}.key", path.trim_end_matches(".crt"));
            match (index_of(&key_path), node_file(root, &key_path)) {
                (Some(k), Some(bytes)) => Some((Some(k), bytes)),
                _ => None,
            }
        };
        let Some((key_index, key_bytes)) = key else {
            continue;
        };
        if !key_matches(&node, &key_bytes) {
            tracing::warn!(
                path,
                "the node's certificate is newer than the config's, but its key does not match it: the config's is put back"
            );
            continue;
        }
        replacements.push((*i, node_bytes.clone()));
        if let Some(k) = key_index {
            replacements.push((k, key_bytes));
        }
        kept.push(Kept {
            path: path.clone(),
            node_not_after: rfc3339(node.not_after),
            delivered_not_after: rfc3339(delivered.not_after),
        });
    }
    for (i, bytes) in replacements {
        if let Action::WriteFile { contents, .. } = &mut step.actions[i] {
            *contents = bytes;
        }
    }
    // The kubelet's `*-current.pem` links: the kubelet (or the boot-time
    // renewal) points them at a newer dated file than the delivered one.
    let mut retargets = Vec::new();
    for (i, a) in step.actions.iter().enumerate() {
        let Action::Symlink { path, target } = a else {
            continue;
        };
        let Some(delivered) = index_of(target).and_then(|k| match &step.actions[k] {
            Action::WriteFile { contents, .. } => first_cert(contents, target),
            _ => None,
        }) else {
            continue;
        };
        let Ok(node_target) = std::fs::read_link(under(root, path)) else {
            continue;
        };
        let node_target = node_target.to_string_lossy().into_owned();
        // Only a dated file beside the link, as the kubelet writes them.
        let dir = Path::new(path)
            .parent()
            .map(|d| d.to_string_lossy().into_owned());
        if node_target == *target
            || Path::new(&node_target)
                .parent()
                .map(|d| d.to_string_lossy().into_owned())
                != dir
        {
            continue;
        }
        let Some(node) = node_file(root, &node_target).and_then(|b| first_cert(&b, &node_target))
        else {
            continue;
        };
        if same_identity(&delivered, &node, true) && node.not_after > delivered.not_after {
            kept.push(Kept {
                path: path.clone(),
                node_not_after: rfc3339(node.not_after),
                delivered_not_after: rfc3339(delivered.not_after),
            });
            retargets.push((i, node_target));
        }
    }
    for (i, t) in retargets {
        if let Action::Symlink { target, .. } = &mut step.actions[i] {
            *target = t;
        }
    }
    kept
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&mk_roleconfig::time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Whether the plan delivers a host intermediate's key, i.e. whether this
/// node signs (and so renews) its own leaves.
pub fn renews_at_boot(plan: &Plan) -> bool {
    plan.steps
        .iter()
        .filter(|s| s.name == mk_nodeconf::steps::pki::NAME)
        .flat_map(|s| &s.actions)
        .any(|a| matches!(a, Action::WriteFile { path, .. } if path.ends_with("-intermediate.key")))
}

/// Name of the report step for the boot-time renewal.
pub const STEP: &str = "renew-certificates";

/// What the boot-time renewal did, for the report.
pub struct BootRenewal {
    pub changed: usize,
    pub lines: Vec<String>,
    pub error: Option<String>,
}

/// Renews every leaf that is due (two thirds of its life) or expired, with
/// the host's intermediates, before anything that uses them starts (no
/// reloads: nothing runs yet).
pub fn renew_at_boot(root: &Path, now: OffsetDateTime) -> BootRenewal {
    let report = match mk_pki::renew::renew_at_boot(root, now) {
        Ok(r) => r,
        Err(e) => {
            return BootRenewal {
                changed: 0,
                lines: Vec::new(),
                error: Some(crate::errors::one_line(&e)),
            }
        }
    };
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut changed = 0;
    // A control plane's kubelet cannot bootstrap through its own apiserver.
    match mk_pki::renew::renew_kubelet_client_at_boot(root, now) {
        Ok(Some(c)) => {
            changed += 1;
            lines.push(format!(
                "~ {}: renewed, valid until {}",
                mk_pki::plan::KUBELET_CLIENT_CURRENT,
                rfc3339(c.not_after)
            ));
        }
        Ok(None) => {}
        Err(e) => errors.push(format!("{}: {e}", mk_pki::plan::KUBELET_CLIENT_CURRENT)),
    }
    for l in &report.leaves {
        match &l.outcome {
            mk_pki::renew::LeafOutcome::Renewed { not_after } => {
                changed += 1;
                lines.push(format!("~ {}: renewed, valid until {not_after}", l.path));
            }
            mk_pki::renew::LeafOutcome::Failed { error } => {
                errors.push(format!("{}: {error}", l.path));
            }
            _ => {}
        }
    }
    for i in &report.intermediates {
        match i.state {
            mk_pki::renew::IntermediateState::Ok => {}
            mk_pki::renew::IntermediateState::Expiring => lines.push(format!(
                "! {}: the host's {} intermediate has {} day(s) left: re-sign it with the offline root",
                i.path, i.realm, i.days_left
            )),
            mk_pki::renew::IntermediateState::Expired => errors.push(format!(
                "{}: the host's {} intermediate has expired",
                i.path, i.realm
            )),
        }
    }
    BootRenewal {
        changed,
        lines,
        error: (!errors.is_empty()).then(|| errors.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mk_nodeconf::{Owner, Step};
    use std::process::Command;

    /// A self-signed certificate + key (PEM, one file) valid `days`, with
    /// the kubelet's subject and a realm in its (issuer's) OU.
    fn kubelet_pem(dir: &Path, name: &str, days: u32) -> Vec<u8> {
        let key = dir.join(format!("{name}.key"));
        let crt = dir.join(format!("{name}.crt"));
        let st = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ])
            .args([
                "-subj",
                "/O=system:nodes/OU=kubernetes/CN=system:node:w1.example.test",
            ])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "extendedKeyUsage=clientAuth"])
            .args(["-days", &days.to_string(), "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .output()
            .expect("openssl");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let mut pem = std::fs::read(&crt).unwrap();
        pem.extend(std::fs::read(&key).unwrap());
        pem
    }

    fn plan(dated: &str, contents: Vec<u8>) -> Plan {
        Plan {
            config_digest: String::new(),
            steps: vec![Step {
                name: mk_nodeconf::steps::pki::NAME.into(),
                input_digest: String::new(),
                actions: vec![
                    Action::WriteFile {
                        path: dated.into(),
                        contents,
                        mode: 0o600,
                        owner: Owner::ROOT,
                    },
                    Action::Symlink {
                        path: "/var/lib/kubelet/pki/kubelet-client-current.pem".into(),
                        target: dated.into(),
                    },
                ],
            }],
        }
    }

    #[test]
    fn a_link_the_kubelet_moved_to_a_newer_certificate_stays() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let pki = root.join("var/lib/kubelet/pki");
        std::fs::create_dir_all(&pki).unwrap();
        let delivered = kubelet_pem(t.path(), "delivered", 7);
        let rotated = kubelet_pem(t.path(), "rotated", 30);
        let dated = "/var/lib/kubelet/pki/kubelet-client-2026-12-01-00-00-00.pem";
        let newer = "/var/lib/kubelet/pki/kubelet-client-2026-12-05-00-00-00.pem";
        std::fs::write(root.join(&dated[1..]), &delivered).unwrap();
        std::fs::write(root.join(&newer[1..]), &rotated).unwrap();
        std::os::unix::fs::symlink(newer, pki.join("kubelet-client-current.pem")).unwrap();

        let mut p = plan(dated, delivered.clone());
        let kept = keep_renewed(&root, &mut p);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept[0].line().starts_with(
            "= /var/lib/kubelet/pki/kubelet-client-current.pem: kept the node's renewal"
        ));
        assert!(
            matches!(&p.steps[0].actions[1], Action::Symlink { target, .. } if target == newer)
        );

        // An older certificate behind the link, or another identity: the
        // delivered one comes back.
        std::fs::write(root.join(&newer[1..]), kubelet_pem(t.path(), "older", 1)).unwrap();
        let mut p = plan(dated, delivered.clone());
        assert!(keep_renewed(&root, &mut p).is_empty());
        assert!(
            matches!(&p.steps[0].actions[1], Action::Symlink { target, .. } if target == dated)
        );
    }

    #[test]
    fn renewal_at_boot_only_where_an_intermediate_key_is_delivered() {
        let mut p = plan("/var/lib/kubelet/pki/x.pem", b"x".to_vec());
        assert!(!renews_at_boot(&p));
        p.steps[0].actions.push(Action::WriteFile {
            path: "/etc/kubernetes/pki/etcd/ca-intermediate.key".into(),
            contents: b"k".to_vec(),
            mode: 0o600,
            owner: Owner::ROOT,
        });
        assert!(renews_at_boot(&p));
    }
}
