//! etcd backups (R35): a v3 snapshot of one member over mTLS, through
//! etcd's JSON gateway (`POST /v3/maintenance/snapshot`, mk-etcdmember's
//! client), streamed to a hidden temporary file beside its final name,
//! fsynced, checked, then renamed to `etcd-<member>-<UTC time>.db` (never
//! over an existing file) and the directory fsynced; then the member's
//! older snapshots beyond the newest N are deleted.
//!
//! Checked twice. While streaming ([`stream`]): the size etcd announces,
//! each piece against it, and etcd's SHA-256 trailer against the bytes.
//! After the fsync, from the file as it is on disk ([`verify_file`]): the
//! trailer again (what `etcdctl snapshot restore` checks), and the bbolt
//! database walked page by page ([`bolt`]), giving the hash, revision and
//! key count that `etcdctl snapshot status` gives. Nothing external runs.
//!
//! A failed or refused backup leaves nothing behind in the directory (the
//! temporary file is removed when dropped). Errors name the endpoint or
//! the file and what was expected.
//!
//! Pure logic ([`stream`], [`bolt`], the naming and pruning choices in
//! [`files`]) is apart from the effects ([`backup`], [`verify_file`],
//! [`files::list`], [`files::prune`]).

pub mod bolt;
pub mod files;
#[cfg(feature = "client")]
mod snapshot;
pub mod stream;

pub use files::{latest, list, Found, Pruned};
#[cfg(feature = "client")]
pub use snapshot::*;
