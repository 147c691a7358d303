//! The plan's vocabulary, shared by the planner (this crate) and the
//! applier (mk-firstboot). Paths are absolute paths on the node; the
//! applier puts them under its `--root`.

use serde::{Deserialize, Serialize};

/// Numeric owner of a file or directory. Numeric because the node's
/// service accounts have fixed IDs (see [`crate::users`]), and a plan made
/// on the admin's machine must not depend on that machine's passwd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

/// One thing first boot makes true on the node. Every action is idempotent:
/// applying it when it already holds changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// A system group with this exact GID.
    EnsureGroup { name: String, gid: u32 },
    /// A system user (no login shell, no password) with this exact UID and
    /// primary GID.
    EnsureUser {
        name: String,
        uid: u32,
        gid: u32,
        home: String,
        comment: String,
    },
    /// A directory with this mode and owner (parents created root-owned
    /// 0755 where missing).
    EnsureDir {
        path: String,
        mode: u32,
        owner: Owner,
    },
    /// A regular file with exactly these bytes, mode and owner, written
    /// atomically (temp file, fsync, rename).
    WriteFile {
        path: String,
        #[serde(with = "contents")]
        contents: Vec<u8>,
        mode: u32,
        owner: Owner,
    },
    /// A symbolic link at `path` whose text is exactly `target`, replacing
    /// whatever file is there, atomically (link beside it, rename). Links
    /// have no mode, and their owner does not matter to anyone reading
    /// through them. For the kubelet's `*-current.pem`, which its
    /// certificate manager requires to be links.
    Symlink { path: String, target: String },
}

impl Action {
    /// The node path this action is about (users and groups: their name).
    pub fn subject(&self) -> &str {
        match self {
            Action::EnsureGroup { name, .. } | Action::EnsureUser { name, .. } => name,
            Action::EnsureDir { path, .. }
            | Action::WriteFile { path, .. }
            | Action::Symlink { path, .. } => path,
        }
    }
}

/// A named group of actions derived from one part of the config. A step's
/// `input_digest` covers exactly what its actions were derived from (the
/// parts of the role config and host facts it reads), so that a config
/// change re-applies only the steps that depend on it (R29).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Short stable name: `users`, `pki`, `kubeconfig`, `staticpods`,
    /// `kubelet`, `containerd`, `firewall`, ...
    pub name: String,
    /// `sha256:<hex>` of the step's inputs.
    pub input_digest: String,
    pub actions: Vec<Action>,
}

/// Everything first boot makes true on this node, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// `sha256:<hex>` of the whole role-config document as delivered.
    pub config_digest: String,
    pub steps: Vec<Step>,
}

/// File contents in JSON plans: UTF-8 text as a string, anything else as
/// base64 would need another dependency; plans only carry text files, so
/// non-UTF-8 contents are refused when serialising.
mod contents {
    use serde::{de::Error as _, ser::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| S::Error::custom("file contents are not UTF-8 text"))?;
        s.serialize_str(text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d).map_err(D::Error::custom)?;
        Ok(text.into_bytes())
    }
}
