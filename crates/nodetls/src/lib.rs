//! TLS as the node binaries speak it (mk-firstboot's config URL and token
//! discovery, mk-etcdmember's etcd client, mk-kubeapi): one rustls
//! provider fit for CentOS 7 ([`provider`]), a bounded name lookup and
//! connect ([`net`]), one bounded blocking HTTPS request ([`http`]), and
//! the verifier plumbing they share ([`verify`]).
//!
//! Errors are typed, not text: each caller keeps its own words.

pub mod http;
pub mod net;
mod provider;
pub mod verify;

pub use provider::provider;
