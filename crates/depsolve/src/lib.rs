//! Resolving a kickstart-style package request against a set of RPM
//! packages, and ordering the result for installation.
//!
//! - [`request`]: the `%packages` body (names, capabilities, globs,
//!   `@group`, `@^environment`, `-exclusions`).
//! - [`comps`]: comps.xml groups and environments.
//! - [`solve`]: the closure, computed with the `resolvo` SAT solver.
//! - [`order`]: an install order honouring pre-requirements, with
//!   dependency loops broken the way rpm breaks them.

pub mod comps;
mod deps;
mod glob;
pub mod order;
pub mod request;
pub mod solve;

pub use comps::{Comps, CompsError, Environment, Group};
pub use deps::{is_rich, Providers};
pub use order::install_order;
pub use request::{Item, ItemKind, Request, RequestError};
pub use solve::{resolve, MissingDep, Resolution, SolveError, SolveOptions};
