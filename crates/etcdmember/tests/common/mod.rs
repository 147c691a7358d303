//! The real-etcd test set-up: mk-etcdmember's `testing` feature
//! (src/testing.rs), which other crates' tests share.

pub use mk_etcdmember::testing::*;
