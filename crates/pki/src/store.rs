//! The admin's PKI directory (what `mk-compose pki` manages):
//!
//! ```text
//! pki.yaml                          cluster settings (ClusterConfig)
//! roots/<realm>.crt                 root certificate
//! roots/<realm>.key                 root key: encrypted PKCS#8 only
//! service-account/sa.key, sa.pub    the cluster's service-account key pair
//! hosts/<host>/<realm>.crt, .key    the host's intermediate for the realm
//! hosts/<host>/leaves/<id>.crt      leaves last issued to the host (inventory)
//! ```
//!
//! Roots are meant to live offline: after `init` and `intermediate`, the
//! `roots/*.key` files can be moved to offline media; `issue-node` never
//! needs them.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::cert::{self, CertError, CertInfo};
use crate::config::{ClusterConfig, ConfigError, NodeSpec};
use crate::fsio::{self, FsError};
use crate::issue::{self, Ca, IssueError};
use crate::keys::{pem_encode, KeyError, PrivateKey, PBKDF2_ROUNDS};
use crate::plan::{self, NodePlan};
use crate::realm::Realm;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error(transparent)]
    Issue(#[from] IssueError),
    #[error("{path}: {error}")]
    Key { path: String, error: KeyError },
    #[error(
        "{dir} is already initialised with different settings ({path} differs); nothing changed"
    )]
    AlreadyInitialised { dir: String, path: String },
    #[error("{dir} is not empty and has no pki.yaml: refusing to initialise a PKI into it")]
    NotEmpty { dir: String },
    #[error("{path} not found: {hint}")]
    Missing { path: String, hint: String },
    #[error("{path}: node is in cluster domain {node:?} but this PKI is for {pki:?}")]
    WrongDomain {
        path: String,
        node: String,
        pki: String,
    },
    #[error("realm {0} has no root in this PKI (initialised without it)")]
    NoSuchRealm(Realm),
}

/// An initialised PKI directory.
pub struct PkiDir {
    pub dir: PathBuf,
    pub config: ClusterConfig,
}

/// What `init` did.
#[derive(Debug)]
pub struct InitReport {
    pub created: bool,
    pub roots: Vec<CertInfo>,
}

const CONFIG: &str = "pki.yaml";

fn key_err(path: &Path) -> impl FnOnce(KeyError) -> StoreError + '_ {
    move |error| StoreError::Key {
        path: path.display().to_string(),
        error,
    }
}

fn load_cert(path: &Path, hint: &str) -> Result<CertInfo, StoreError> {
    if !path.exists() {
        return Err(StoreError::Missing {
            path: path.display().to_string(),
            hint: hint.into(),
        });
    }
    let text = fsio::read_to_string(path)?;
    Ok(cert::parse_pem(&text, &path.display().to_string())?)
}

impl PkiDir {
    pub fn root_cert_path(&self, realm: Realm) -> PathBuf {
        self.dir.join("roots").join(format!("{realm}.crt"))
    }
    pub fn root_key_path(&self, realm: Realm) -> PathBuf {
        self.dir.join("roots").join(format!("{realm}.key"))
    }
    pub fn host_dir(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(host)
    }
    pub fn intermediate_paths(&self, host: &str, realm: Realm) -> (PathBuf, PathBuf) {
        let h = self.host_dir(host);
        (
            h.join(format!("{realm}.crt")),
            h.join(format!("{realm}.key")),
        )
    }

    /// Create one root per realm, the service-account key pair and pki.yaml,
    /// all at once (built beside `dir`, renamed in). Re-running with the same
    /// settings changes nothing.
    pub fn init(
        dir: &Path,
        config: &ClusterConfig,
        realms: &[Realm],
        password: &[u8],
        now: OffsetDateTime,
    ) -> Result<InitReport, StoreError> {
        config.validate(&dir.join(CONFIG).display().to_string())?;
        let cfg_path = dir.join(CONFIG);
        if cfg_path.exists() {
            let existing = ClusterConfig::load(&cfg_path)?;
            if &existing != config {
                return Err(StoreError::AlreadyInitialised {
                    dir: dir.display().to_string(),
                    path: cfg_path.display().to_string(),
                });
            }
            let pki = PkiDir::open(dir)?;
            let roots = realms
                .iter()
                .map(|r| load_cert(&pki.root_cert_path(*r), "initialised without this realm"))
                .collect::<Result<_, _>>()?;
            return Ok(InitReport {
                created: false,
                roots,
            });
        }
        if dir.exists()
            && std::fs::read_dir(dir)
                .map_err(|error| FsError {
                    path: dir.display().to_string(),
                    op: "read directory",
                    error,
                })?
                .next()
                .is_some()
        {
            return Err(StoreError::NotEmpty {
                dir: dir.display().to_string(),
            });
        }
        let mut files: Vec<(PathBuf, Vec<u8>, u32)> = Vec::new();
        let mut roots = Vec::new();
        for &realm in realms {
            let key = PrivateKey::generate(config.algorithm).map_err(key_err(dir))?;
            let root = issue::root(realm, &key, now, config.lifetimes.root_days)?;
            tracing::info!(%realm, subject = root.subject, not_after = %root.not_after, "root created");
            let enc = key
                .to_encrypted_pem(password, PBKDF2_ROUNDS)
                .map_err(key_err(dir))?;
            files.push((
                format!("roots/{realm}.crt").into(),
                pem_encode("CERTIFICATE", &root.der).into_bytes(),
                0o644,
            ));
            files.push((format!("roots/{realm}.key").into(), enc.into_bytes(), 0o600));
            roots.push(root);
        }
        // Kubernetes service-account tokens: ES256 (kube-apiserver takes RSA
        // or ECDSA keys, not Ed25519). One pair per cluster, as kubeadm does:
        // every apiserver must accept tokens signed by any other.
        let sa = PrivateKey::generate(crate::KeyAlgorithm::EcdsaP256).map_err(key_err(dir))?;
        files.push((
            "service-account/sa.key".into(),
            sa.to_pkcs8_pem().as_bytes().to_vec(),
            0o600,
        ));
        files.push((
            "service-account/sa.pub".into(),
            sa.public_key_pem().into_bytes(),
            0o644,
        ));
        let header = format!(
            "# mk PKI settings, written by mk-compose pki init (mk {})\n",
            env!("CARGO_PKG_VERSION")
        );
        files.push((
            CONFIG.into(),
            format!("{header}{}", config.to_yaml()).into_bytes(),
            0o644,
        ));
        fsio::write_tree(dir, &files)?;
        Ok(InitReport {
            created: true,
            roots,
        })
    }

    pub fn open(dir: &Path) -> Result<PkiDir, StoreError> {
        let cfg_path = dir.join(CONFIG);
        if !cfg_path.exists() {
            return Err(StoreError::Missing {
                path: cfg_path.display().to_string(),
                hint: "not a PKI directory; create one with `mk-compose pki init`".into(),
            });
        }
        Ok(PkiDir {
            dir: dir.to_path_buf(),
            config: ClusterConfig::load(&cfg_path)?,
        })
    }

    /// Open the realm's root with its password.
    pub fn root(&self, realm: Realm, password: &[u8]) -> Result<Ca, StoreError> {
        let cert_path = self.root_cert_path(realm);
        if !cert_path.exists() {
            return Err(StoreError::NoSuchRealm(realm));
        }
        let info = load_cert(&cert_path, "")?;
        let key_path = self.root_key_path(realm);
        if !key_path.exists() {
            return Err(StoreError::Missing {
                path: key_path.display().to_string(),
                hint: "the root key is offline: bring it back for signing intermediates".into(),
            });
        }
        let text = fsio::read_to_string(&key_path)?;
        let key = PrivateKey::from_encrypted_pem(&text, password).map_err(key_err(&key_path))?;
        Ok(Ca::new(info, key, &key_path.display().to_string())?)
    }

    /// Sign (or re-sign) the intermediate of `realm` for `host`. Replaces an
    /// existing one; leaves issued under the old one stay valid until they
    /// expire, since the root is the same.
    pub fn intermediate(
        &self,
        host: &str,
        realm: Realm,
        password: &[u8],
        now: OffsetDateTime,
        days: Option<u32>,
    ) -> Result<CertInfo, StoreError> {
        let host_ok = crate::names::check_dns_name(host)
            .map_err(|error| IssueError::Name {
                id: format!("--host {host}"),
                error: error.into(),
            })
            .and_then(|_| {
                if crate::names::within_subtree(host, &self.config.domain) {
                    Ok(())
                } else {
                    Err(IssueError::Invalid {
                        id: format!("--host {host}"),
                        message: format!("not inside the cluster domain {:?}", self.config.domain),
                    })
                }
            });
        host_ok?;
        let root = self.root(realm, password)?;
        let key = PrivateKey::generate(self.config.algorithm).map_err(key_err(&self.dir))?;
        let days = days.unwrap_or(self.config.lifetimes.intermediate_days);
        let permitted = realm.permitted_dns(&self.config);
        let ips = realm.permitted_ips(&self.config);
        let info = issue::intermediate_with_ips(
            &root,
            realm,
            host,
            permitted.as_deref(),
            &ips,
            &key,
            now,
            days,
        )?;
        let (c, k) = self.intermediate_paths(host, realm);
        fsio::write_all_atomic(&[
            (k, key.to_pkcs8_pem().as_bytes().to_vec(), 0o600),
            (c, pem_encode("CERTIFICATE", &info.der).into_bytes(), 0o644),
        ])?;
        tracing::info!(%realm, host, not_after = %info.not_after, "intermediate signed");
        Ok(info)
    }

    fn host_ca(&self, host: &str, realm: Realm) -> Result<Ca, StoreError> {
        let (c, k) = self.intermediate_paths(host, realm);
        let hint =
            format!("sign it first: mk-compose pki intermediate --host {host} --realm {realm}");
        let info = load_cert(&c, &hint)?;
        if !k.exists() {
            return Err(StoreError::Missing {
                path: k.display().to_string(),
                hint,
            });
        }
        let key = PrivateKey::from_pkcs8_pem(&fsio::read_to_string(&k)?).map_err(key_err(&k))?;
        Ok(Ca::new(info, key, &c.display().to_string())?)
    }

    /// Issue every certificate `node` needs and write exactly the files its
    /// config drive carries into `out` (a node-root-relative tree: `out/etc/
    /// kubernetes/pki/...`). Nothing is written unless everything was issued.
    pub fn issue_node(
        &self,
        node: &NodeSpec,
        node_path: &str,
        out: &Path,
        now: OffsetDateTime,
    ) -> Result<NodeBundle, StoreError> {
        if node.cluster_domain != self.config.domain {
            return Err(StoreError::WrongDomain {
                path: node_path.into(),
                node: node.cluster_domain.clone(),
                pki: self.config.domain.clone(),
            });
        }
        let plan = plan::plan_node(&self.config, node);
        let bundle = build_bundle(self, &plan, now)?;
        let files: Vec<(PathBuf, Vec<u8>, u32)> = bundle
            .files
            .iter()
            .map(|(p, d, m)| (PathBuf::from(p.trim_start_matches('/')), d.clone(), *m))
            .collect();
        fsio::write_tree(out, &files)?;
        // Inventory copy (certificates only) for `pki list`.
        let leaves_dir = self.host_dir(&node.name).join("leaves");
        let inv: Vec<(PathBuf, Vec<u8>, u32)> = bundle
            .leaves
            .iter()
            .map(|(id, info)| {
                (
                    PathBuf::from(format!("{}.crt", id.replace('/', "-"))),
                    pem_encode("CERTIFICATE", &info.der).into_bytes(),
                    0o644,
                )
            })
            .collect();
        fsio::write_tree(&leaves_dir, &inv)?;
        tracing::info!(host = node.name, files = bundle.files.len(), leaves = bundle.leaves.len(), out = %out.display(), "node bundle written");
        Ok(bundle)
    }
}

/// The node's files, by absolute node path, and the leaves issued.
pub struct NodeBundle {
    pub plan: NodePlan,
    pub files: Vec<(String, Vec<u8>, u32)>,
    pub leaves: Vec<(String, CertInfo)>,
}

impl std::fmt::Debug for NodeBundle {
    // Paths only: the files hold private keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self.files.iter().map(|(p, _, _)| p.as_str()).collect();
        f.debug_struct("NodeBundle")
            .field("host", &self.plan.host)
            .field("files", &paths)
            .finish()
    }
}

fn build_bundle(
    pki: &PkiDir,
    plan: &NodePlan,
    now: OffsetDateTime,
) -> Result<NodeBundle, StoreError> {
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    let mut cas = Vec::new();
    for i in &plan.intermediates {
        let root = load_cert(
            &pki.root_cert_path(i.realm),
            "initialised without this realm",
        )?;
        files.push((
            i.root_path.clone(),
            pem_encode("CERTIFICATE", &root.der).into_bytes(),
            0o644,
        ));
        let ca = pki.host_ca(&plan.host, i.realm)?;
        if i.ship_key {
            files.push((i.cert_path.clone(), ca.cert_pem().into_bytes(), 0o644));
            files.push((
                i.key_path.clone(),
                ca.key.to_pkcs8_pem().as_bytes().to_vec(),
                0o600,
            ));
        }
        cas.push((i.realm, ca));
    }
    let mut leaves = Vec::new();
    for spec in &plan.leaves {
        let ca = &cas
            .iter()
            .find(|(r, _)| *r == spec.realm)
            .expect("planned realm")
            .1;
        let key = PrivateKey::generate(spec.algorithm).map_err(key_err(&pki.dir))?;
        let info = issue::leaf(ca, spec, &key, now)?;
        let chain = format!("{}{}", pem_encode("CERTIFICATE", &info.der), ca.cert_pem());
        if spec.key_path == spec.cert_path {
            let combined = format!("{chain}{}", key.to_pkcs8_pem().as_str());
            files.push((spec.cert_path.clone(), combined.into_bytes(), 0o600));
        } else {
            files.push((spec.cert_path.clone(), chain.into_bytes(), 0o644));
            files.push((
                spec.key_path.clone(),
                key.to_pkcs8_pem().as_bytes().to_vec(),
                0o600,
            ));
        }
        leaves.push((spec.id.clone(), info));
    }
    if let Some(sa) = &plan.service_account {
        let dir = pki.dir.join("service-account");
        for (src, dst, mode) in [
            ("sa.key", &sa.key_path, 0o600),
            ("sa.pub", &sa.pub_path, 0o644),
        ] {
            let p = dir.join(src);
            if !p.exists() {
                return Err(StoreError::Missing {
                    path: p.display().to_string(),
                    hint: "created by `mk-compose pki init`".into(),
                });
            }
            files.push((
                dst.clone(),
                std::fs::read(&p).map_err(|error| FsError {
                    path: p.display().to_string(),
                    op: "read",
                    error,
                })?,
                mode,
            ));
        }
    }
    let manifest = format!(
        "# mk node PKI manifest for {}, written by mk-compose pki issue-node (mk {}).\n# mk-firstboot renew reads it to renew leaves with this host's intermediates.\n{}",
        plan.host,
        env!("CARGO_PKG_VERSION"),
        plan.to_yaml()
    );
    files.push((plan::MANIFEST_PATH.into(), manifest.into_bytes(), 0o644));
    Ok(NodeBundle {
        plan: plan.clone(),
        files,
        leaves,
    })
}
