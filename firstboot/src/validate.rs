//! `mk-firstboot validate FILE`: check a role config on the admin's
//! machine, exactly as first boot would, without touching anything. With
//! `--bundle X.iso` (or `--registry DIR`), also list every container image
//! the config's nodes will use (mk-imagerefs: read from the planned files
//! and objects) and check that the bundle's registry serves each under the
//! name containerd asks for: nothing may be pulled from outside.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use mk_roleconfig::time::format_description::well_known::Rfc3339;
use mk_roleconfig::time::OffsetDateTime;
use mk_roleconfig::{PublicKey, Verified};

#[derive(clap::Args)]
pub struct Args {
    /// The role config: a NodeConfig or NodeConfigList YAML file.
    file: PathBuf,
    /// Trusted public key (minisign format); repeat for several. With it,
    /// FILE.minisig must be a good signature by one of them; without it
    /// the signature is not checked.
    #[arg(long = "trust", value_name = "KEY.pub")]
    trust: Vec<PathBuf>,
    /// Check certificate expiry at this time (RFC 3339, e.g.
    /// 2027-01-01T00:00:00Z) instead of now: "will it still boot then?"
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Also list every container image the config's nodes use (static
    /// pods, containerd's sandbox image, the kubelet's pod-infra image,
    /// kube-proxy, CoreDNS, Calico) and check that this bundle's registry
    /// serves each under the name containerd asks for; fails naming every
    /// image it lacks.
    #[arg(long, value_name = "X.iso", conflicts_with = "registry")]
    bundle: Option<PathBuf>,
    /// As --bundle, against a registry tree on disk (a bundle's registry/
    /// directory, or an unpacked bundle).
    #[arg(long, value_name = "DIR")]
    registry: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let now = match &args.now {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).with_context(|| {
            format!("--now {t:?}: expected RFC 3339, e.g. 2027-01-01T00:00:00Z")
        })?,
        None => OffsetDateTime::now_utc(),
    };
    let name = args.file.display().to_string();
    // Size first: a 200 MB file is refused unread.
    let bytes =
        mk_roleconfig::parse::read_limited(&args.file, mk_roleconfig::parse::MAX_CONFIG_BYTES)
            .with_context(|| format!("reading {name}"))?;
    let signature = if args.trust.is_empty() {
        "signature not checked (no --trust)".to_string()
    } else {
        let keys = args
            .trust
            .iter()
            .map(|p| PublicKey::from_file(p))
            .collect::<Result<Vec<_>, _>>()?;
        let sig_path = mk_roleconfig::signature_path(&args.file);
        let sig = read_optional(&sig_path)?;
        match mk_roleconfig::verify_signed(&bytes, sig.as_deref(), &keys, false, &name)? {
            Verified::Signed { key_id, .. } => format!("signed by trusted key {key_id}"),
            Verified::UnsignedAllowed => unreachable!("unsigned configs are not allowed here"),
        }
    };
    let doc = mk_roleconfig::parse_document(&bytes, &name)?;
    let invalid = match mk_roleconfig::validate_document(&doc, now) {
        Ok(()) => {
            println!("{name}: valid {}; {signature}", doc.summary());
            for note in unapplied_labels(&doc) {
                println!("{name}: {note}");
            }
            None
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{name}: {e}");
            }
            Some(format!(
                "{name}: {} problem(s); nothing was changed",
                errors.len()
            ))
        }
    };
    // The image check runs on an invalid config too (when it can be
    // planned): both lists at once save a round trip.
    let images = match (&args.bundle, &args.registry) {
        (Some(iso), _) => Some(images(
            &doc,
            &name,
            &mk_imagerefs::RegistryView::open_iso(iso)?,
        )),
        (None, Some(dir)) => Some(images(&doc, &name, &mk_imagerefs::RegistryView::open(dir)?)),
        (None, None) => None,
    };
    match (invalid, images) {
        (Some(i), None | Some(Ok(()))) => bail!("{i}"),
        (Some(i), Some(Err(e))) => bail!("{i}; {e:#}"),
        (None, Some(Err(e))) => Err(e),
        (None, None | Some(Ok(()))) => Ok(()),
    }
}

/// Labels of `spec.labels` that no one will set: a node without a control
/// plane has no admin credential, and its kubelet may not set
/// `node-role.kubernetes.io/*` and the like (NodeRestriction). kubeadm's
/// join does not label workers either; the admin is told here, before
/// delivery, rather than finding them missing.
fn unapplied_labels(doc: &mk_roleconfig::Document) -> Vec<String> {
    doc.configs()
        .into_iter()
        .filter(|c| !c.spec.is_control_plane())
        .filter_map(|c| {
            let labels = mk_nodeconf::api_only_labels(&c.spec.labels);
            if labels.is_empty() {
                return None;
            }
            let node = &c.metadata.name;
            let keys: Vec<&str> = labels.keys().map(String::as_str).collect();
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Some(format!(
                "{node}: note: spec.labels {} will not be set: a node that is not a control \
                 plane has no admin credential, and its kubelet may not set such labels \
                 (NodeRestriction); once the node has joined, an admin runs `kubectl label \
                 node {node} {}`",
                keys.join(", "),
                pairs.join(" ")
            ))
        })
        .collect()
}

/// Lists every image the document's nodes use, where each is used and
/// whether `registry` serves it; an error naming every missing image.
fn images(
    doc: &mk_roleconfig::Document,
    name: &str,
    registry: &mk_imagerefs::RegistryView,
) -> anyhow::Result<()> {
    let configs = doc.configs();
    let several = configs.len() > 1;
    // reference -> where -> nodes
    let mut merged: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut mirrored: Option<BTreeSet<String>> = None;
    let mut unplanned = Vec::new();
    for c in configs {
        let n = match mk_imagerefs::gather(c) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("{name}: cannot list the images: {e}");
                unplanned.push(c.metadata.name.clone());
                continue;
            }
        };
        if !n.placeholders.is_empty() {
            println!(
                "{name}: {}: {} certificate file(s) not delivered yet (mk-compose config-drive \
                 adds them): planned with placeholders; no image depends on them",
                n.node,
                n.placeholders.len()
            );
        }
        // A host counts as mirrored only where every node mirrors it.
        mirrored = Some(match mirrored {
            None => n.mirrored_hosts.clone(),
            Some(m) => m.intersection(&n.mirrored_hosts).cloned().collect(),
        });
        for r in n.images {
            let at = merged.entry(r.reference).or_default();
            for u in r.used_by {
                at.entry(u).or_default().insert(n.node.clone());
            }
        }
    }
    let refs: Vec<mk_imagerefs::ImageRef> = merged
        .iter()
        .map(|(reference, at)| mk_imagerefs::ImageRef {
            reference: reference.clone(),
            used_by: at
                .iter()
                .map(|(place, nodes)| {
                    if several {
                        let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
                        format!("{place} [{}]", nodes.join(", "))
                    } else {
                        place.clone()
                    }
                })
                .collect(),
        })
        .collect();
    let report = mk_imagerefs::check_with(&refs, &mirrored.unwrap_or_default(), registry);
    let origin = registry.origin();
    println!("{name}: {} image(s), checked against {origin}:", refs.len());
    let mut all: Vec<&mk_imagerefs::Checked> =
        report.present.iter().chain(&report.missing).collect();
    all.sort_by(|a, b| a.image.reference.cmp(&b.image.reference));
    for c in &all {
        match &c.status {
            mk_imagerefs::Status::Present { digest } => {
                println!("  present  {}  {digest}", c.image.reference)
            }
            mk_imagerefs::Status::Missing { reason } => {
                println!("  MISSING  {}  {reason}", c.image.reference)
            }
        }
        for u in &c.image.used_by {
            println!("           used by {u}");
        }
    }
    let mut problems = Vec::new();
    for c in &report.missing {
        let mk_imagerefs::Status::Missing { reason } = &c.status else {
            continue;
        };
        let fix = match mk_imagerefs::reference::parse(&c.image.reference) {
            Ok(p) if reason.contains("not mirrored") => format!(
                "mk nodes mirror only what containerd's certs.d names; use an image from a \
                 mirrored registry, or mirror {} too",
                p.host
            ),
            Ok(p) => format!(
                "add an image recipe for it (images/<name>/image.yaml with name {}/{}, \
                 docs/container-images.md) and pass its layout to mk-compose bundle \
                 --image {}=<layout> (docs/registry.md)",
                p.host,
                p.repository
                    .strip_prefix("library/")
                    .filter(|_| p.host == "docker.io")
                    .unwrap_or(&p.repository),
                p.repository
            ),
            Err(_) => "fix the reference where it is used".to_string(),
        };
        eprintln!(
            "{name}: image {} is not in {origin}: {reason}; used by {}; {fix}",
            c.image.reference,
            c.image.used_by.join(", ")
        );
        problems.push(c.image.reference.clone());
    }
    match (problems.is_empty(), unplanned.is_empty()) {
        (true, true) => {
            println!("{name}: every image is in {origin}");
            Ok(())
        }
        (false, true) => bail!(
            "{name}: {} image(s) missing from {origin}: {}; nodes would try to pull them from \
             outside",
            problems.len(),
            problems.join(", ")
        ),
        (true, false) => bail!(
            "{name}: the images of {} could not be listed",
            unplanned.join(", ")
        ),
        (false, false) => bail!(
            "{name}: {} image(s) missing from {origin}: {}; the images of {} could not be listed",
            problems.len(),
            problems.join(", "),
            unplanned.join(", ")
        ),
    }
}

fn read_optional(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match mk_roleconfig::parse::read_limited(path, mk_roleconfig::signature::MAX_SIGNATURE_BYTES) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(roles: &str) -> mk_roleconfig::Document {
        let yaml = format!(
            "apiVersion: mk.dev/v1alpha1
kind: NodeConfig
match: {{macAddresses: [\"52:54:00:00:00:01\"]}}
metadata: {{name: w1.example.com}}
spec:
  roles: [{roles}]
  cluster: {{name: lab, domain: example.com, apiEndpoint: {{dnsName: api.example.com}}}}
  planes: {{control: {{cidr: 10.0.0.0/24}}}}
  labels:
    topology.kubernetes.io/zone: rack1
    node-role.kubernetes.io/worker: \"\"
    node-restriction.kubernetes.io/gpu: \"true\"
"
        );
        mk_roleconfig::parse_document(yaml.as_bytes(), "w1.yaml").unwrap()
    }

    #[test]
    fn a_workers_restricted_labels_are_named_with_the_command() {
        let notes = unapplied_labels(&doc("worker"));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with(
                "w1.example.com: note: spec.labels node-restriction.kubernetes.io/gpu, \
                 node-role.kubernetes.io/worker will not be set"
            ),
            "{notes:?}"
        );
        assert!(
            notes[0].ends_with(
                "`kubectl label node w1.example.com node-restriction.kubernetes.io/gpu=true \
                 node-role.kubernetes.io/worker=`"
            ),
            "{notes:?}"
        );
        // The zone label is the kubelet's to set: not named.
        assert!(!notes[0].contains("topology"), "{notes:?}");
    }

    #[test]
    fn a_control_plane_sets_its_own() {
        assert!(unapplied_labels(&doc("control-plane, worker")).is_empty());
    }
}
