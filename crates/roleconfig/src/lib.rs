//! The node role config (`apiVersion: mk.dev/v1alpha1`, `kind: NodeConfig`
//! or `NodeConfigList`): what mk-firstboot makes of a host. See
//! docs/role-config.md; the JSON Schema (docs/role-config.schema.json) is
//! generated from these types by [`json_schema`].
//!
//! Pure throughout: parsing takes bytes, validation takes the time as an
//! argument, selection takes [`MachineFacts`] (read from a sysfs root that
//! tests fake). Runs on CentOS 7 nodes: no OpenSSL, no async runtime, no
//! getrandom.

pub mod drive;
pub mod names;
pub mod parse;
pub mod pki;
pub mod select;
pub mod signature;
pub mod types;
pub mod validate;

pub use mk_minisign::{KeyId, PublicKey};
pub use parse::{parse_document, parse_node_config, ParseError, ParseErrorKind};
pub use select::{check_single, select, FactsError, MachineFacts, SelectError};
pub use signature::{signature_path, verify_signed, SignatureError, Verified};
/// The clock type `validate` takes.
pub use time;
pub use types::*;
pub use validate::{
    expiry_text, validate, validate_document, validate_list, ConfigError, SUPPORTED_MINORS,
};

/// The JSON Schema of a role-config file (pretty JSON, trailing newline), as
/// shipped in docs/role-config.schema.json.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Document);
    let mut s = serde_json::to_string_pretty(&schema).expect("schema serialises");
    s.push('\n');
    s
}

impl Document {
    /// The configs in the document.
    pub fn configs(&self) -> Vec<&NodeConfig> {
        match self {
            Document::Single(c) => vec![c],
            Document::List(l) => l.items.iter().collect(),
        }
    }

    /// One line for humans: kind, node names, roles, version.
    pub fn summary(&self) -> String {
        let one = |c: &NodeConfig| {
            format!(
                "{} ({}; Kubernetes {})",
                c.metadata.name,
                c.spec
                    .roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                c.spec.cluster.kubernetes_version
            )
        };
        match self {
            Document::Single(c) => format!("NodeConfig {}", one(c)),
            Document::List(l) => format!(
                "NodeConfigList with {} config(s): {}",
                l.items.len(),
                l.items.iter().map(one).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}
