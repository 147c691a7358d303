//! mk's cluster PKI (R21-R24, R28): one offline root per realm, a
//! name-constrained intermediate per host and realm, short-lived leaves with
//! kubeadm's subjects and usages, and node-side renewal.
//!
//! Pure parts ([`plan`], [`names`], [`renew::decide`]) take no clock and
//! touch no files; the clock is always an argument (`now`), so tests run at
//! any point of a certificate's life.

pub mod cert;
pub mod config;
pub mod csr;
pub mod entropy;
pub mod ephemeral;
pub mod issue;
pub mod keys;
pub mod names;
pub mod plan;
pub mod realm;

pub use config::{ClusterConfig, NodeSpec, Role};
pub use keys::{KeyAlgorithm, PrivateKey};
pub use realm::Realm;
pub mod fsio;
pub mod inventory;
pub mod renew;
pub mod store;
