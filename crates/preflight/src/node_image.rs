//! The image build's preflight: a node image that bakes a kube-apiserver
//! archive is meant to run a control plane, so the static pods the
//! planner renders for that archive's Kubernetes version (from the
//! [`crate::sample`] config) must find in the image everything they
//! need. Run on the image tree after install and %post, before /var is
//! split off (so /var is still inside the root).

use std::collections::BTreeSet;
use std::path::Path;

use mk_nodeconf::HostFacts;

use crate::inventory::{self, ReadError, RootMode, IMAGES_DIR};
use crate::problem::Problem;
use crate::{archive, pods, reference, sample};

/// Why the image fails its preflight.
#[derive(Debug, thiserror::Error)]
pub enum NodeImageError {
    #[error("preflight: reading the image")]
    Read(#[from] ReadError),
    #[error("preflight: {archive} names {name}: {reason}")]
    Version {
        archive: String,
        name: String,
        reason: String,
    },
    #[error("preflight")]
    Sample(#[from] sample::SampleError),
    #[error("preflight: a static pod manifest")]
    Manifest(#[from] pods::ManifestError),
    #[error(
        "preflight of the control plane for Kubernetes {version} ({archive}): {} problem(s); the static pods could not start on this image:\n  {}",
        problems.len(),
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
    )]
    Problems {
        version: String,
        archive: String,
        problems: Vec<Problem>,
    },
}

/// What the preflight did with an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to check, and why.
    Skipped(String),
    /// The control plane of these Kubernetes versions passed.
    Passed(Vec<String>),
}

/// The facts the planner takes from the host that the image decides:
/// which of kubeadm's CA-trust directories it has (mounted only then).
/// Addresses come from the sample.
pub fn image_facts(root: &Path) -> HostFacts {
    HostFacts {
        trust_dirs: crate::root::directories(
            root,
            mk_nodeconf::CA_TRUST_DIRS.iter().map(|(_, p)| *p),
        ),
        ..HostFacts::default()
    }
}

/// Checks the image tree at `root`: for each Kubernetes version a
/// baked kube-apiserver archive carries, the sample control plane's
/// static pods against the tree and its archives.
pub fn check(root: &Path) -> Result<Outcome, NodeImageError> {
    let dir = root.join(IMAGES_DIR.trim_start_matches('/'));
    let names = archive::names_in_dir(&dir)?;
    let mut versions: BTreeSet<(String, String)> = BTreeSet::new();
    for (arch, name) in &names {
        if reference::component(name) != "kube-apiserver" {
            continue;
        }
        let Some(tag) = reference::tag(name) else {
            return Err(NodeImageError::Version {
                archive: arch.clone(),
                name: name.clone(),
                reason: "no tag: the tag says which Kubernetes version's static pods to check"
                    .into(),
            });
        };
        mk_nodeconf::versions::Versions::resolve(tag).map_err(|e| NodeImageError::Version {
            archive: arch.clone(),
            name: name.clone(),
            reason: e.to_string(),
        })?;
        versions.insert((tag.to_string(), arch.clone()));
    }
    if versions.is_empty() {
        let why = format!(
            "no kube-apiserver archive is baked in {IMAGES_DIR} ({}): this image carries no control plane",
            if names.is_empty() {
                "no archives".to_string()
            } else {
                names.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ")
            }
        );
        tracing::info!("preflight skipped: {why}");
        return Ok(Outcome::Skipped(why));
    }
    let mut passed = Vec::new();
    for (version, arch) in versions {
        let plan = sample::plan(&version, image_facts(root))?;
        let (pods, planned) = pods::from_plan(&plan)?;
        let inv = inventory::read(root, RootMode::Image, &pods, &planned)?;
        let problems = crate::check(&pods, &planned, &inv);
        if !problems.is_empty() {
            return Err(NodeImageError::Problems {
                version,
                archive: arch,
                problems,
            });
        }
        tracing::info!(version = %version, archive = %arch, pods = pods.len(), "preflight passed: the control plane's static pods find what they need in the image");
        passed.push(version);
    }
    Ok(Outcome::Passed(passed))
}
