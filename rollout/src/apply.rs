//! `mk-rollout apply`: follows the [`machine`] one action at a time, runs
//! each through [`Effects`], and persists the [`Journal`] after every
//! action, so that a run stopped at any point (failure, crash, ^C) resumes
//! where it was. A failure stops the rollout at once: no other node is
//! touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mk_kubeapi::ApiClient;
use tracing::info;

use crate::bundle::NewBundle;
use crate::inventory::{self, Inventory};
use crate::journal::{self, BundleRecord, Journal, Stop};
use crate::machine::{self, Action};
use crate::plan::{self, PlannedNode, Step};

/// What carries out the actions. `Err` is what was seen, for the stop
/// message. Every effect is idempotent: after a crash the step that was
/// running is done again.
pub trait Effects {
    /// Takes and verifies an etcd backup; returns its file.
    fn backup(&mut self) -> Result<String, String>;
    /// Brings `node` to `step`.
    fn step(&mut self, node: &PlannedNode, step: Step) -> Result<(), String>;
    /// Seconds since the Unix epoch (backup freshness).
    fn now(&self) -> u64 {
        now()
    }
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Stopped(Stop),
}

/// Time spent, for the figures: in each kind of step, and in all.
#[derive(Debug, Default, Clone)]
pub struct Timing {
    pub total: Duration,
    pub by_step: Vec<(Step, Duration)>,
    pub backup: Duration,
    pub journal_writes: Duration,
    pub actions: usize,
}

impl Timing {
    /// Time not spent in the drain, the driver or the waits for the node
    /// to come back: cordon, uncordon, etcd checks, the machine and the
    /// journal.
    pub fn orchestration(&self) -> Duration {
        let waits: Duration = self
            .by_step
            .iter()
            .filter(|(s, _)| {
                matches!(
                    s,
                    Step::Drained | Step::Reimaged | Step::Back | Step::ControlPlaneHealthy
                )
            })
            .map(|(_, d)| *d)
            .sum();
        self.total.saturating_sub(waits + self.backup)
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs the rollout from `journal` to its end or its first failure,
/// writing the journal to `path` after every action. `progress` gets a
/// line per action.
pub fn run(
    path: &Path,
    journal: &mut Journal,
    effects: &mut dyn Effects,
    backup_max_age: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<(Outcome, Timing), journal::JournalError> {
    let started = Instant::now();
    let mut timing = Timing::default();
    if let Some(stop) = machine::resume(journal) {
        progress(&format!("resuming after the last stop ({stop})"));
    }
    loop {
        let action = machine::next(journal, effects.now(), backup_max_age);
        let t = Instant::now();
        let result = match action {
            Action::Finished => {
                timing.total = started.elapsed();
                return Ok((Outcome::Finished, timing));
            }
            Action::Stopped => unreachable!("resumed above and stopped below"),
            Action::Backup => {
                progress("etcd backup before the control planes");
                let r = effects.backup().map(Some);
                timing.backup += t.elapsed();
                r
            }
            Action::Step { node, step } => {
                let n = &journal.plan.nodes[node];
                progress(&format!("{}: {step}", n.name));
                let r = effects.step(n, step).map(|()| None);
                timing.by_step.push((step, t.elapsed()));
                r
            }
        };
        timing.actions += 1;
        let failed = match result {
            Ok(file) => {
                machine::complete(journal, action, effects.now(), file);
                None
            }
            Err(seen) => {
                machine::fail(journal, action, seen);
                journal.stop.clone()
            }
        };
        let w = Instant::now();
        journal::write(path, journal)?;
        timing.journal_writes += w.elapsed();
        if let Some(stop) = failed {
            timing.total = started.elapsed();
            return Ok((Outcome::Stopped(stop), timing));
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Inventory(#[from] inventory::InventoryError),
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error(
        "{journal}: a rollout to {old} is under way with other nodes, roles, drivers, batches \
         or version than {inventory} now plans (version {new}); finish it with the inventory it \
         started with, or delete {journal} to start over"
    )]
    Changed {
        journal: String,
        inventory: String,
        old: String,
        new: String,
    },
    #[error(
        "{journal}: a rollout under way started with {old}, this run has {new}; finish it with \
         the bundle it started with, or delete {journal} to start over"
    )]
    OtherBundle {
        journal: String,
        old: String,
        new: String,
    },
}

fn show(b: &Option<BundleRecord>) -> String {
    b.as_ref()
        .map_or_else(|| "no --bundle".to_string(), |b| b.to_string())
}

/// The inventory and the journal to go on with: the existing one when its
/// plan is the inventory's, a new one when there is none or the last
/// rollout finished and the plan changed.
///
/// With `bundle` (already checked), its version is the target (see
/// [`inventory::load_for`]) and a rollout under way must have started
/// with the same bundle bytes.
pub fn prepare(
    inventory_path: &Path,
    worker_batch: Option<usize>,
    bundle: Option<&NewBundle>,
) -> Result<(Inventory, Journal, PathBuf), PrepareError> {
    let inv = inventory::load_for(
        inventory_path,
        bundle.map(|b| inventory::BundleVersion {
            file: &b.path,
            version: &b.version,
        }),
    )?;
    let plan = plan::plan(&inv, worker_batch.unwrap_or(inv.worker_batch));
    let record = bundle.map(|b| BundleRecord {
        file: b.path.display().to_string(),
        version: b.version.clone(),
        sha256: b.sha256.hex(),
    });
    let path = journal::path_for(inventory_path);
    let fresh = |plan| Journal {
        bundle: record.clone(),
        ..Journal::new(plan)
    };
    // The same bytes moved elsewhere are the same bundle.
    let same_bundle =
        |j: &Journal| j.bundle.as_ref().map(|b| &b.sha256) == record.as_ref().map(|b| &b.sha256);
    let journal = match journal::read(&path)? {
        None => fresh(plan),
        Some(j) if j.plan == plan && same_bundle(&j) => j,
        Some(j) if j.done.iter().all(|s| *s == Step::Done) => fresh(plan),
        Some(j) if j.plan != plan => {
            return Err(PrepareError::Changed {
                journal: path.display().to_string(),
                inventory: inventory_path.display().to_string(),
                old: j.plan.image_version,
                new: plan.image_version,
            })
        }
        Some(j) => {
            return Err(PrepareError::OtherBundle {
                journal: path.display().to_string(),
                old: show(&j.bundle),
                new: show(&record),
            })
        }
    };
    Ok((inv, journal, path))
}

/// The effects on a real cluster: mk-kubeapi, mk-etcdmember,
/// mk-etcdbackup and the inventory's drivers.
pub struct Live {
    rt: tokio::runtime::Runtime,
    api: ApiClient,
    etcd: Option<(mk_etcdmember::Client, inventory::Etcd)>,
    inv: Inventory,
    /// How often waits ask again.
    pub poll: Duration,
    /// `--bundle`: what the drivers carry to the nodes.
    pub bundle: Option<NewBundle>,
}

fn read_file(what: &str, p: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(p).map_err(|e| format!("{what} {}: {e}", p.display()))?;
    if meta.len() > 1 << 20 {
        return Err(format!("{what} {}: larger than 1 MiB", p.display()));
    }
    std::fs::read_to_string(p).map_err(|e| format!("{what} {}: {e}", p.display()))
}

impl Live {
    /// Connects as the inventory says; the error names what is missing.
    pub fn connect(inv: &Inventory) -> Result<Live, String> {
        let a = inv
            .apiserver
            .as_ref()
            .ok_or("the inventory has no `apiserver` section: apply needs it")?;
        let creds = mk_kubeapi::Credentials {
            server: a.server.clone(),
            tls_server_name: a.tls_server_name.clone(),
            ca_pem: read_file("apiserver.ca", &a.ca)?,
            cert_chain_pem: read_file("apiserver.cert", &a.cert)?,
            key_pem: zeroize::Zeroizing::new(read_file("apiserver.key", &a.key)?),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let api = rt
            .block_on(async { mk_kubeapi::client(&creds) })
            .map_err(|e| e.to_string())?;
        let has_cp = inv
            .nodes
            .iter()
            .any(|n| n.role == inventory::Role::ControlPlane);
        let etcd = match (&inv.etcd, has_cp) {
            (Some(e), _) => {
                let c = mk_etcdbackup::client(&e.ca, &e.cert, &e.key).map_err(|e| e.to_string())?;
                Some((c, e.clone()))
            }
            (None, true) => {
                return Err(
                    "the inventory lists control planes but has no `etcd` section: \
                     apply needs it for health checks and the backup"
                        .into(),
                )
            }
            (None, false) => None,
        };
        Ok(Live {
            rt,
            api,
            etcd,
            inv: inv.clone(),
            poll: Duration::from_secs(2),
            bundle: None,
        })
    }

    fn etcd(&self) -> Result<&(mk_etcdmember::Client, inventory::Etcd), String> {
        self.etcd
            .as_ref()
            .ok_or_else(|| "no `etcd` section in the inventory".to_string())
    }

    fn etcd_healthy(&self, expect: Option<usize>) -> Result<String, String> {
        let (c, e) = self.etcd()?;
        crate::etcd::healthy(c, &e.endpoints, expect)
    }

    fn control_planes(&self) -> usize {
        self.inv
            .nodes
            .iter()
            .filter(|n| n.role == inventory::Role::ControlPlane)
            .count()
    }

    /// Polls `check` every `poll` until it holds or `timeout` passes.
    fn wait(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Result<String, String>,
    ) -> Result<String, String> {
        let started = Instant::now();
        loop {
            match check(self) {
                Ok(s) => return Ok(s),
                Err(seen) if started.elapsed() >= timeout => {
                    return Err(format!("not healthy after {timeout:?}; last seen: {seen}"))
                }
                Err(_) => std::thread::sleep(self.poll),
            }
        }
    }
}

impl Effects for Live {
    fn backup(&mut self) -> Result<String, String> {
        let (c, e) = self.etcd()?;
        crate::etcd::backup(c, e)
    }

    fn step(&mut self, node: &PlannedNode, step: Step) -> Result<(), String> {
        let t = &self.inv.timeouts;
        let name = node.name.as_str();
        match step {
            Step::Pending => Ok(()),
            Step::EtcdChecked => self.etcd_healthy(None).map(|s| info!(node = name, "{s}")),
            Step::Cordoned | Step::Done => self
                .rt
                .block_on(self.api.set_unschedulable(name, step == Step::Cordoned))
                .map(drop)
                .map_err(|e| e.to_string()),
            Step::Drained => self
                .rt
                .block_on(crate::kube::drain(
                    &self.api,
                    name,
                    Duration::from_secs(t.drain),
                    self.poll,
                ))
                .map(|n| info!(node = name, evicted = n, "drained")),
            Step::MemberRemoved => {
                let (c, e) = self.etcd()?;
                crate::etcd::remove_member(c, &e.endpoints, name)
            }
            Step::Reimaged => {
                let entry = self
                    .inv
                    .node(name)
                    .ok_or_else(|| format!("{name} is not in the inventory"))?;
                crate::driver::reimage(entry, &self.inv.image_version, self.bundle.as_ref(), t)
            }
            Step::Back => self
                .rt
                .block_on(crate::kube::wait_back(
                    &self.api,
                    name,
                    &self.inv.image_version,
                    Duration::from_secs(t.ready),
                    self.poll,
                ))
                .map(|d| info!(node = name, waited = ?d, "back on the new image")),
            Step::ControlPlaneHealthy => {
                let timeout = Duration::from_secs(t.ready);
                let n = self.control_planes();
                let s = self.wait(timeout, |me| me.etcd_healthy(Some(n)))?;
                self.rt
                    .block_on(self.api.wait_ready(timeout))
                    .map_err(|e| e.to_string())?;
                info!(node = name, "{s}; apiserver ready");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = "image_version: v2\nnodes:\n  - name: w1\n    role: worker\n    driver: {command: {program: x, wipes_disk: false}}\n  - name: w2\n    role: worker\n    driver: {command: {program: x, wipes_disk: false}}\n";

    #[test]
    fn a_rollout_under_way_keeps_its_plan() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inventory.yaml");
        std::fs::write(&inv, INV).unwrap();
        let (_, mut j, path) = prepare(&inv, None, None).unwrap();
        assert_eq!(path, dir.path().join("inventory.yaml.rollout.json"));
        j.done[0] = Step::Cordoned;
        journal::write(&path, &j).unwrap();
        // Same plan: the journal goes on.
        assert_eq!(prepare(&inv, None, None).unwrap().1, j);
        // Another batch size or version: refused while under way.
        let e = prepare(&inv, Some(2), None).unwrap_err().to_string();
        assert!(e.contains("a rollout to v2 is under way"), "{e}");
        std::fs::write(&inv, INV.replace("v2", "v3")).unwrap();
        assert!(prepare(&inv, None, None).is_err());
        // Finished: a new version starts a new rollout.
        j.done = vec![Step::Done, Step::Done];
        journal::write(&path, &j).unwrap();
        let (_, fresh, _) = prepare(&inv, None, None).unwrap();
        assert_eq!(fresh.plan.image_version, "v3");
        assert_eq!(fresh.done, vec![Step::Pending, Step::Pending]);
    }

    fn new_bundle(version: &str, bytes: &[u8]) -> NewBundle {
        NewBundle {
            path: PathBuf::from(format!("/admin/mk-{version}.iso")),
            version: version.into(),
            sha256: mk_durable::Digest::of(bytes),
            size: bytes.len() as u64,
            trusted_comment: String::new(),
            files: 1,
            checked_in: Duration::ZERO,
        }
    }

    #[test]
    fn a_rollout_under_way_keeps_its_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inventory.yaml");
        // No image_version: the bundle gives it.
        std::fs::write(&inv, INV.replace("image_version: v2\n", "")).unwrap();
        let two = new_bundle("v2", b"two");
        let (i, mut j, path) = prepare(&inv, None, Some(&two)).unwrap();
        assert_eq!(i.image_version, "v2");
        assert_eq!(j.plan.image_version, "v2");
        assert_eq!(j.bundle.as_ref().unwrap().sha256, two.sha256.hex());
        j.done[0] = Step::Reimaged;
        journal::write(&path, &j).unwrap();
        assert_eq!(prepare(&inv, None, Some(&two)).unwrap().1, j);
        // Another version: refused, naming both.
        let e = prepare(&inv, None, Some(&new_bundle("v3", b"three")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a rollout to v2 is under way") && e.contains("(version v3)"),
            "{e}"
        );
        // Same version, other bytes: refused, naming both.
        let e = prepare(&inv, None, Some(&new_bundle("v2", b"rebuilt")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "started with bundle /admin/mk-v2.iso (version v2, sha256 {})",
                two.sha256.hex()
            )) && e.contains(&described(&new_bundle("v2", b"rebuilt"))),
            "{e}"
        );
        // Without a bundle (and the inventory has no version): the version is missing.
        let e = prepare(&inv, None, None).unwrap_err().to_string();
        assert!(e.contains("missing or empty"), "{e}");
        // Finished: another bundle starts a new rollout.
        j.done = vec![Step::Done, Step::Done];
        journal::write(&path, &j).unwrap();
        let three = new_bundle("v3", b"three");
        let (_, fresh, _) = prepare(&inv, None, Some(&three)).unwrap();
        assert_eq!(fresh.plan.image_version, "v3");
        assert_eq!(fresh.bundle.unwrap().version, "v3");
    }

    fn described(b: &NewBundle) -> String {
        format!(
            "this run has bundle {} (version {}, sha256 {})",
            b.path.display(),
            b.version,
            b.sha256.hex()
        )
    }
}
