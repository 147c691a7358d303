//! mk-preflight: does the control plane's static pods' world exist on
//! this node image? No kubelet can run where images are built, and a
//! defect found at boot costs a boot (issue 16: four boots and eight hand
//! edits before `/readyz` answered). So, for every static pod as the
//! planner renders it:
//!
//! - every hostPath exists with the type the volume asks, on the image's
//!   root or its state partition, or first boot creates it; an
//!   `…OrCreate` type on the read-only root is a problem ([`hostpath`]);
//! - every file a flag names, and every file a kubeconfig names
//!   references, is mounted into the container, the credentials
//!   read-only ([`mounts`]);
//! - every image reference is among the baked archives (or the bundle's
//!   registry), every exec probe's command is in that image, and no
//!   environment variable sets what a flag sets ([`images`]).
//!
//! The checks ([`check`]) are pure: pods and planned files from the plan
//! ([`pods::from_plan`]), an [`Inventory`] of the node image. Reading the
//! inventory ([`inventory::read`]) is separate and bounded: `lstat` under
//! a root, and image archives read in place ([`archive`]; no
//! extraction).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let plan: mk_nodeconf::Plan = unimplemented!();
//! use mk_preflight::{check, inventory, pods, RootMode};
//! let root = std::path::Path::new("/");
//! let (pods, planned) = pods::from_plan(&plan)?;
//! let inventory = inventory::read(root, RootMode::Live, &pods, &planned)?;
//! for problem in check(&pods, &planned, &inventory) {
//!     eprintln!("{problem}"); // pod `etcd`: spec.volumes[1].hostPath (/etc/pki): ..., expected ...
//! }
//! # Ok(()) }
//! ```
//!
//! Callers: mk-firstboot `plan` and `apply` (against the root they plan
//! for), and the image build ([`node_image::check`]).

pub mod archive;
pub mod hostpath;
pub mod images;
pub mod inventory;
pub mod mounts;
pub mod node_image;
pub mod pods;
pub mod problem;
pub mod reference;
pub mod root;
pub mod sample;
pub mod tree;

pub use inventory::{HostPath, ImageFacts, Inventory, ReadError, RootMode};
pub use node_image::{check as check_node_image, NodeImageError};
pub use pods::{Kind, Planned, Pod};
pub use problem::{Check, Problem};

use std::path::Path;

use problem::Reporter;

/// Every problem `pods` would meet on the node `inventory` describes,
/// with first boot's `planned` files in place. Pure.
pub fn check(pods: &[Pod], planned: &Planned, inventory: &Inventory) -> Vec<Problem> {
    let mut out = Vec::new();
    for pod in pods {
        let mut r = Reporter {
            pod: &pod.name,
            out: &mut out,
        };
        hostpath::check(pod, planned, inventory, &mut r);
        mounts::check(pod, planned, inventory, &mut r);
        images::check(pod, inventory, &mut r);
    }
    out
}

/// Why a plan could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Manifest(#[from] pods::ManifestError),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// What [`check_plan`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The static pods checked, by name.
    pub pods: Vec<String>,
    pub problems: Vec<Problem>,
}

/// The plan's static pods against the node under `root`: what
/// mk-firstboot runs before it applies. A plan without static pods
/// reads nothing.
pub fn check_plan(root: &Path, mode: RootMode, plan: &mk_nodeconf::Plan) -> Result<Checked, Error> {
    let (pods, planned) = pods::from_plan(plan)?;
    let inventory = inventory::read(root, mode, &pods, &planned)?;
    Ok(Checked {
        problems: check(&pods, &planned, &inventory),
        pods: pods.into_iter().map(|p| p.name).collect(),
    })
}
