//! Writing images: config blob + manifest blob + `index.json` entry, on
//! top of an optional base image whose layers and history are reused.

use std::collections::BTreeMap;

use tracing::info;

#[cfg(test)]
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer::LayerDescriptor;
use crate::layout::{Image, Layout};
#[cfg(test)]
use crate::spec::ContainerConfig;
use crate::spec::{
    to_json, ConfigFile, Descriptor, Empty, History, Manifest, RootFs, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST,
};

/// What an image's config says, as a recipe gives it. Fields left `None`
/// (or empty) inherit the base image's value; `env` entries replace base
/// entries with the same name; `labels` and `exposed_ports` are merged
/// into the base's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    /// `UID:GID` (or `UID`), e.g. `"2379:2379"`.
    pub user: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `NAME=value` entries.
    pub env: Vec<String>,
    /// `PORT/tcp`, `PORT/udp`, `PORT/sctp`, or `PORT` (means tcp).
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub workdir: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    /// Annotations of the manifest (not the config).
    pub annotations: BTreeMap<String, String>,
    /// Seconds since the epoch: the config's and history's `created`
    /// (RFC 3339, UTC).
    pub source_date_epoch: u64,
    /// Default `amd64`.
    pub architecture: String,
    /// Default `linux`.
    pub os: String,
    pub author: Option<String>,
    /// History `created_by` of the new layers (default `mk-oci`).
    pub created_by: String,
    /// History comment of the new layers.
    pub comment: Option<String>,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            user: None,
            entrypoint: None,
            cmd: None,
            env: Vec::new(),
            exposed_ports: Vec::new(),
            volumes: Vec::new(),
            workdir: None,
            labels: BTreeMap::new(),
            stop_signal: None,
            annotations: BTreeMap::new(),
            source_date_epoch: 0,
            architecture: "amd64".into(),
            os: "linux".into(),
            author: None,
            created_by: "mk-oci".into(),
            comment: None,
        }
    }
}

/// A base image and the layout holding its blobs.
#[derive(Clone, Copy, Debug)]
pub struct Base<'a> {
    pub layout: &'a Layout,
    pub image: &'a Image,
}

/// The config document for `layers` on top of `base` (pure; no I/O).
pub fn build_config(
    base: Option<&ConfigFile>,
    layers: &[LayerDescriptor],
    config: &ImageConfig,
) -> Result<ConfigFile> {
    let created = rfc3339(config.source_date_epoch);
    let mut out = match base {
        Some(b) => b.clone(),
        None => ConfigFile {
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: Vec::new(),
            },
            ..ConfigFile::default()
        },
    };
    out.created = Some(created.clone());
    out.architecture = config.architecture.clone();
    out.os = config.os.clone();
    if config.author.is_some() {
        out.author = config.author.clone();
    }
    if out.rootfs.typ.is_empty() {
        out.rootfs.typ = "layers".into();
    }
    let mut cc = out.config.take().unwrap_or_default();
    if let Some(user) = &config.user {
        check_user(user)?;
        cc.user = Some(user.clone());
    }
    if let Some(ep) = &config.entrypoint {
        cc.entrypoint = Some(ep.clone());
        // As Docker does: a new entrypoint drops the base's cmd unless the
        // recipe gives one.
        if config.cmd.is_none() {
            cc.cmd = None;
        }
    }
    if let Some(cmd) = &config.cmd {
        cc.cmd = Some(cmd.clone());
    }
    for kv in &config.env {
        let Some((name, _)) = kv.split_once('=') else {
            return Err(Error::BadConfig {
                field: "env",
                reason: format!("{kv:?}: expected NAME=value"),
            });
        };
        if name.is_empty() {
            return Err(Error::BadConfig {
                field: "env",
                reason: format!("{kv:?}: empty variable name"),
            });
        }
        let prefix = format!("{name}=");
        match cc.env.iter().position(|e| e.starts_with(&prefix)) {
            Some(i) => cc.env[i] = kv.clone(),
            None => cc.env.push(kv.clone()),
        }
    }
    for p in &config.exposed_ports {
        cc.exposed_ports.insert(normalize_port(p)?, Empty {});
    }
    for v in &config.volumes {
        if !v.starts_with('/') {
            return Err(Error::BadConfig {
                field: "volumes",
                reason: format!("{v:?}: expected an absolute path"),
            });
        }
        cc.volumes.insert(v.clone(), Empty {});
    }
    if let Some(w) = &config.workdir {
        if !w.starts_with('/') {
            return Err(Error::BadConfig {
                field: "workdir",
                reason: format!("{w:?}: expected an absolute path"),
            });
        }
        cc.working_dir = Some(w.clone());
    }
    cc.labels
        .extend(config.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    if config.stop_signal.is_some() {
        cc.stop_signal = config.stop_signal.clone();
    }
    out.config = Some(cc);
    for layer in layers {
        out.rootfs.diff_ids.push(layer.diff_id);
        out.history.push(History {
            created: Some(created.clone()),
            created_by: Some(config.created_by.clone()),
            author: config.author.clone(),
            comment: config.comment.clone(),
            empty_layer: false,
        });
    }
    if layers.is_empty() {
        out.history.push(History {
            created: Some(created),
            created_by: Some(config.created_by.clone()),
            author: config.author.clone(),
            comment: config.comment.clone(),
            empty_layer: true,
        });
    }
    Ok(out)
}

fn check_user(user: &str) -> Result<()> {
    let numeric = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().is_ok()
    };
    let ok = match user.split_once(':') {
        Some((u, g)) => numeric(u) && numeric(g),
        None => numeric(user),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::BadConfig {
            field: "user",
            reason: format!("{user:?}: expected numeric UID:GID or UID"),
        })
    }
}

fn normalize_port(p: &str) -> Result<String> {
    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let ok = num.parse::<u16>().is_ok_and(|n| n > 0) && matches!(proto, "tcp" | "udp" | "sctp");
    if ok {
        Ok(format!("{num}/{proto}"))
    } else {
        Err(Error::BadConfig {
            field: "exposed_ports",
            reason: format!("{p:?}: expected PORT/tcp, PORT/udp, PORT/sctp or PORT (1-65535)"),
        })
    }
}

/// Writes the config and manifest of an image made of `base`'s layers
/// (copied into `layout` if they live elsewhere) plus `layers` (already in
/// `layout`, lowest first), and names it `ref_name` in `index.json`.
/// Returns the manifest's descriptor; `.digest` is the image digest
/// `skopeo inspect` reports.
pub fn write_image(
    layout: &Layout,
    base: Option<Base<'_>>,
    layers: &[LayerDescriptor],
    config: &ImageConfig,
    ref_name: Option<&str>,
) -> Result<Descriptor> {
    let mut manifest_layers = Vec::new();
    if let Some(b) = base {
        for l in &b.image.layers {
            layout.copy_blob_from(b.layout, l)?;
            let mut l = l.clone();
            // Same bytes; an OCI manifest should not carry Docker types.
            if l.media_type == MEDIA_TYPE_DOCKER_LAYER_GZIP {
                l.media_type = MEDIA_TYPE_LAYER_GZIP.into();
            }
            manifest_layers.push(l);
        }
    }
    for l in layers {
        let d = l.descriptor();
        layout.verify_blob(&d)?;
        manifest_layers.push(d);
    }
    let cfg = build_config(base.map(|b| &b.image.config), layers, config)?;
    let config_desc = layout.put_blob(MEDIA_TYPE_CONFIG, &to_json(&cfg))?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        config: config_desc,
        layers: manifest_layers,
        annotations: config.annotations.clone(),
    };
    let desc = layout.put_manifest(&manifest)?;
    layout.add_manifest(&desc, ref_name)?;
    info!(
        layout = %layout.path().display(),
        manifest = %desc.digest,
        layers = manifest.layers.len(),
        ?ref_name,
        "image written"
    );
    Ok(desc)
}

/// RFC 3339 UTC timestamp of `epoch` seconds (`1970-01-01T00:00:00Z`).
pub fn rfc3339(epoch: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch.min(253_402_300_799) as i64)
        .expect("clamped to year 9999");
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats any year 0-9999")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn config_inherits_and_overrides() {
        let base = ConfigFile {
            architecture: "amd64".into(),
            os: "linux".into(),
            config: Some(ContainerConfig {
                env: vec!["PATH=/usr/bin".into(), "A=1".into()],
                cmd: Some(vec!["/bin/sh".into()]),
                labels: [("x".to_string(), "base".to_string())].into(),
                ..Default::default()
            }),
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: vec![Digest::of(b"base")],
            },
            history: vec![History::default()],
            ..Default::default()
        };
        let layer = LayerDescriptor {
            digest: Digest::of(b"l"),
            diff_id: Digest::of(b"d"),
            size: 1,
            media_type: crate::spec::MEDIA_TYPE_LAYER_TAR.into(),
            entries: 1,
            uncompressed_size: 1,
        };
        let cfg = ImageConfig {
            user: Some("2379:2379".into()),
            entrypoint: Some(vec!["/usr/bin/etcd".into()]),
            env: vec!["A=2".into()],
            exposed_ports: vec!["2379".into()],
            labels: [("y".to_string(), "new".to_string())].into(),
            ..Default::default()
        };
        let out = build_config(Some(&base), &[layer], &cfg).unwrap();
        let cc = out.config.unwrap();
        assert_eq!(cc.env, vec!["PATH=/usr/bin".to_string(), "A=2".into()]);
        assert_eq!(cc.cmd, None);
        assert_eq!(cc.user.as_deref(), Some("2379:2379"));
        assert!(cc.exposed_ports.contains_key("2379/tcp"));
        assert_eq!(cc.labels.len(), 2);
        assert_eq!(
            out.rootfs.diff_ids,
            vec![Digest::of(b"base"), Digest::of(b"d")]
        );
        assert_eq!(out.history.len(), 2);
        for (bad, field) in [
            (
                ImageConfig {
                    user: Some("etcd".into()),
                    ..Default::default()
                },
                "user",
            ),
            (
                ImageConfig {
                    env: vec!["X".into()],
                    ..Default::default()
                },
                "env",
            ),
            (
                ImageConfig {
                    exposed_ports: vec!["70000/tcp".into()],
                    ..Default::default()
                },
                "exposed_ports",
            ),
            (
                ImageConfig {
                    workdir: Some("rel".into()),
                    ..Default::default()
                },
                "workdir",
            ),
        ] {
            let e = build_config(None, &[], &bad).unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
    }
}
