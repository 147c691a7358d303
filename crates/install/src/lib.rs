//! The install step (issue 6): a resolved package set installed into an
//! empty root with the target's own rpm, so that scriptlets run and the
//! rpmdb is in the target's own format (Berkeley DB for CentOS 7), then
//! checked with that rpm (`rpm -qa`, `rpm -Va`) and for unowned files.
//!
//! - [`plan`]: pure planning (missing packages, unmet requirements, the
//!   bootstrap closure of `rpm`).
//! - [`unpack`]: path-safe extraction of untrusted RPM payloads.
//! - [`chroot`]: running a program chrooted, mounts in a private namespace.
//! - [`install`]: the effects, in order (see its docs for the design).
//! - [`verify`]: rpm's own checks and the unowned-file check.
//!
//! Needs root (mount namespaces, mounts, chroot) and Linux ≥ 5.6
//! (`openat2`).

pub mod chroot;
pub mod install;
pub mod plan;
pub mod unpack;
pub mod verify;

pub use install::{
    bootstrap_key, install, install_cached, install_into, install_with_epoch, InstallError,
    InstallOptions, Report, Timings,
};
pub use plan::{plan_from_repo, InstallPlan, PlanError, PlannedPackage, Unmet};
pub use unpack::{Tree, UnpackError, UnpackStats};
pub use verify::{Unowned, CENTOS7_SCRIPTLET_STATE};
