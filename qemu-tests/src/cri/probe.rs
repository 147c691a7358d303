//! mk-cri-probe's run: start every selected static pod through the CRI
//! (sandbox, then its containers), let them settle, check each container
//! from the outside (ContainerStatus, verbose runtime spec) and the inside
//! (ExecSync), then stop and remove everything it started.
//!
//! Every call has its own timeout and all of them share an overall
//! deadline; cleanup gets a budget of its own. Output: one
//! `MK-CRI pod=<name> check=<what> ok=<bool> detail=<...>` line per check
//! on stdout, then `MK-CRI done failures=<N>`. Check names carry a
//! `<container>/` prefix only in pods with more than one container.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

use super::config::{self, CgroupDriver, PlannedMount, PodDirs, PROBE_LABEL};
use super::manifest::{self, Container, Pod};

/// The probe's options (see the binary's --help).
#[derive(Debug, Clone)]
pub struct Options {
    pub socket: PathBuf,
    pub manifests: PathBuf,
    /// Only these pods (metadata.name); all when empty.
    pub pods: Vec<String>,
    /// pod name -> command replacing its containers' command and args.
    pub overrides: BTreeMap<String, Vec<String>>,
    /// Host-side pod files (emptyDirs, logs), as the kubelet's root dir.
    pub work_dir: PathBuf,
    pub cgroup_driver: CgroupDriver,
    /// How long containers run before they are checked.
    pub settle: Duration,
    /// Overall deadline for starting and checking (cleanup has its own).
    pub timeout: Duration,
    /// Leave sandboxes, containers and pod files in place.
    pub keep: bool,
}

/// Prints check lines and counts failures.
#[derive(Default)]
pub struct Report {
    pub failures: usize,
    pub lines: Vec<String>,
}

/// A detail on one line, bounded.
pub fn one_line(s: &str) -> String {
    let mut t: String = s
        .trim()
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if t.len() > 1500 {
        let mut cut = 1500;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
        t.push_str(" ...");
    }
    t
}

impl Report {
    pub fn check(&mut self, pod: &str, check: &str, ok: bool, detail: impl AsRef<str>) {
        if !ok {
            self.failures += 1;
        }
        let line = format!(
            "MK-CRI pod={pod} check={check} ok={ok} detail={}",
            one_line(detail.as_ref())
        );
        println!("{line}");
        self.lines.push(line);
    }
}

/// The SELinux state of the host and the container contexts its policy
/// gives containers (`contexts/lxc_contexts`: what containerd labels with).
#[derive(Debug, Clone, Default)]
pub struct Selinux {
    pub enabled: bool,
    pub enforcing: bool,
    pub policy: String,
    pub process: Option<String>,
    pub file: Option<String>,
}

impl Selinux {
    pub fn read() -> Selinux {
        let enforce = std::fs::read_to_string("/sys/fs/selinux/enforce").ok();
        let config = std::fs::read_to_string("/etc/selinux/config").unwrap_or_default();
        let policy = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("SELINUXTYPE="))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "targeted".into());
        let lxc = std::fs::read_to_string(format!("/etc/selinux/{policy}/contexts/lxc_contexts"))
            .unwrap_or_default();
        let get = |key: &str| {
            lxc.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        Selinux {
            enabled: enforce.is_some(),
            enforcing: enforce.as_deref().map(str::trim) == Some("1"),
            policy,
            process: get("process"),
            file: get("file"),
        }
    }
}

/// `user:role:type:level` -> (type, level).
pub fn split_label(label: &str) -> Option<(&str, &str)> {
    let mut it = label.splitn(4, ':');
    let (_, _, t, level) = (it.next()?, it.next()?, it.next()?, it.next()?);
    Some((t, level))
}

/// A level with exactly two distinct categories (`s0:c1,c2`), as
/// containerd draws them for each pod.
pub fn two_categories(level: &str) -> bool {
    let Some((_, cats)) = level.split_once(':') else {
        return false;
    };
    let c: Vec<&str> = cats.split(',').collect();
    c.len() == 2 && c[0] != c[1] && c.iter().all(|c| c.starts_with('c'))
}

/// Checks a process label against the policy's container process type.
pub fn judge_process_label(label: &str, se: &Selinux) -> Result<String, String> {
    let want = se
        .process
        .as_deref()
        .and_then(split_label)
        .map(|(t, _)| t.to_string())
        .ok_or_else(|| {
            format!(
                "the policy ({}) has no lxc_contexts process context",
                se.policy
            )
        })?;
    if label.is_empty() {
        return Err("no SELinux label (containerd's enable_selinux is off?)".into());
    }
    let (t, level) =
        split_label(label).ok_or_else(|| format!("{label:?} is not a SELinux context"))?;
    if t != want {
        return Err(format!("type {t}, expected {want} (lxc_contexts)"));
    }
    if !two_categories(level) {
        return Err(format!("level {level}: expected two MCS categories"));
    }
    Ok(format!("{label} (type {want}, categories {level})"))
}

struct Cri {
    rt: RuntimeServiceClient<Channel>,
    img: ImageServiceClient<Channel>,
    deadline: Instant,
}

struct ExecOut {
    code: i32,
    out: String,
}

impl Cri {
    async fn call<T>(
        &self,
        what: &str,
        limit: Duration,
        f: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "{what}: not called, the overall deadline has passed"
            ));
        }
        let t = limit.min(left);
        match tokio::time::timeout(t, f).await {
            Err(_) => Err(format!("{what}: no answer within {:.0} s", t.as_secs_f32())),
            Ok(Err(s)) => Err(format!("{what}: {:?}: {}", s.code(), s.message())),
            Ok(Ok(r)) => Ok(r.into_inner()),
        }
    }

    async fn exec(&self, id: &str, cmd: &[&str], timeout_s: i64) -> Result<ExecOut, String> {
        let req = cri::ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: timeout_s,
        };
        let mut rt = self.rt.clone();
        let r = self
            .call(
                "ExecSync",
                Duration::from_secs(timeout_s as u64 + 15),
                rt.exec_sync(req),
            )
            .await?;
        Ok(ExecOut {
            code: r.exit_code,
            out: format!(
                "{}{}",
                String::from_utf8_lossy(&r.stdout),
                String::from_utf8_lossy(&r.stderr)
            ),
        })
    }
}

async fn connect(socket: &Path) -> Result<Channel, String> {
    let path = socket.to_path_buf();
    Endpoint::try_from("http://[::]:50051")
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(10))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await
        .map_err(|e| format!("{}: {e}", socket.display()))
}

struct ContainerRun {
    c: Container,
    prefix: String,
    mounts: Vec<PlannedMount>,
    overridden: bool,
    id: Option<String>,
}

struct PodRun {
    pod: Pod,
    name: String,
    dirs: PodDirs,
    sandbox: Option<String>,
    containers: Vec<ContainerRun>,
}

/// A fresh pod UID (one per run, so that stale sandboxes never collide).
fn new_uid(name: &str) -> String {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    (name, std::process::id(), Instant::now()).hash(&mut h);
    let a = h.finish();
    std::time::SystemTime::now().hash(&mut h);
    let b = h.finish();
    let x = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// Runs the probe; returns the number of failed checks.
pub fn run(opts: &Options) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut report = Report::default();
    rt.block_on(run_async(opts, &mut report));
    println!("MK-CRI done failures={}", report.failures);
    report.failures
}

async fn run_async(opts: &Options, report: &mut Report) {
    let deadline = Instant::now() + opts.timeout;
    let channel = match connect(&opts.socket).await {
        Ok(c) => c,
        Err(e) => {
            report.check("-", "runtime", false, format!("cannot connect: {e}"));
            return;
        }
    };
    let cri = Cri {
        rt: RuntimeServiceClient::new(channel.clone()),
        img: ImageServiceClient::new(channel),
        deadline,
    };
    let mut rtc = cri.rt.clone();
    match cri
        .call(
            "Version",
            Duration::from_secs(30),
            rtc.version(cri::VersionRequest {
                version: "v1".into(),
            }),
        )
        .await
    {
        Ok(v) => report.check(
            "-",
            "runtime",
            true,
            format!(
                "{} {} (CRI {}) on {}",
                v.runtime_name,
                v.runtime_version,
                v.runtime_api_version,
                opts.socket.display()
            ),
        ),
        Err(e) => {
            report.check("-", "runtime", false, e);
            return;
        }
    }
    let se = Selinux::read();
    if se.enabled {
        let ok = se.process.is_some() && se.file.is_some();
        report.check(
            "-",
            "selinux",
            ok,
            format!(
                "{}, policy {}, lxc_contexts process={} file={}",
                if se.enforcing {
                    "enforcing"
                } else {
                    "permissive"
                },
                se.policy,
                se.process.as_deref().unwrap_or("(none)"),
                se.file.as_deref().unwrap_or("(none)")
            ),
        );
    } else {
        report.check(
            "-",
            "selinux",
            true,
            "disabled on this host: labels are printed, not judged",
        );
    }
    remove_stale(&cri, &opts.work_dir).await;

    let mut runs = Vec::new();
    match manifest::load_dir(&opts.manifests) {
        Err(e) => report.check("-", "manifests", false, e),
        Ok(files) => {
            let mut seen = Vec::new();
            for (path, pod) in files {
                let pod = match pod {
                    Ok(p) => p,
                    Err(e) => {
                        let file = path.file_name().unwrap_or_default().to_string_lossy();
                        report.check(&file, "manifest", false, format!("{}: {e}", path.display()));
                        continue;
                    }
                };
                let name = pod.metadata.name.clone();
                seen.push(name.clone());
                if !opts.pods.is_empty() && !opts.pods.contains(&name) {
                    continue;
                }
                report.check(&name, "manifest", true, path.display().to_string());
                if let Some(r) = start_pod(&cri, opts, pod, report).await {
                    runs.push(r);
                }
            }
            for p in opts.pods.iter().chain(opts.overrides.keys()) {
                if !seen.contains(p) {
                    report.check(
                        p,
                        "manifest",
                        false,
                        format!("no manifest in {} names this pod", opts.manifests.display()),
                    );
                }
            }
        }
    }

    if runs
        .iter()
        .any(|r| r.containers.iter().any(|c| c.id.is_some()))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(opts.settle.min(left)).await;
    }
    for r in &runs {
        for c in &r.containers {
            if let Some(id) = &c.id {
                check_container(&cri, r, c, id, &se, report).await;
            }
        }
    }

    if opts.keep {
        for r in &runs {
            eprintln!(
                "mk-cri-probe: --keep: pod {} left running (sandbox {:?}, files {})",
                r.name,
                r.sandbox,
                r.dirs.pod.display()
            );
        }
        return;
    }
    let cleanup = Cri {
        rt: cri.rt.clone(),
        img: cri.img.clone(),
        deadline: Instant::now() + Duration::from_secs(120),
    };
    for r in runs.iter().rev() {
        let mut errors = Vec::new();
        for c in &r.containers {
            if let Some(id) = &c.id {
                let mut rt = cleanup.rt.clone();
                let stop = cri::StopContainerRequest {
                    container_id: id.clone(),
                    timeout: 5,
                };
                if let Err(e) = cleanup
                    .call(
                        "StopContainer",
                        Duration::from_secs(30),
                        rt.stop_container(stop),
                    )
                    .await
                {
                    errors.push(e);
                }
                let rm = cri::RemoveContainerRequest {
                    container_id: id.clone(),
                };
                if let Err(e) = cleanup
                    .call(
                        "RemoveContainer",
                        Duration::from_secs(30),
                        rt.remove_container(rm),
                    )
                    .await
                {
                    errors.push(e);
                }
            }
        }
        if let Some(id) = &r.sandbox {
            if let Err(e) = remove_sandbox(&cleanup, id).await {
                errors.push(e);
            }
        }
        for d in [&r.dirs.pod, &r.dirs.logs] {
            if let Err(e) = std::fs::remove_dir_all(d) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    errors.push(format!("{}: {e}", d.display()));
                }
            }
        }
        report.check(
            &r.name,
            "cleanup",
            errors.is_empty(),
            if errors.is_empty() {
                "containers and sandbox stopped and removed".to_string()
            } else {
                errors.join("; ")
            },
        );
    }
}

async fn remove_sandbox(cri: &Cri, id: &str) -> Result<(), String> {
    let mut rt = cri.rt.clone();
    cri.call(
        "StopPodSandbox",
        Duration::from_secs(60),
        rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        }),
    )
    .await?;
    cri.call(
        "RemovePodSandbox",
        Duration::from_secs(60),
        rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        }),
    )
    .await?;
    Ok(())
}

/// Removes sandboxes an earlier run left (killed, or --keep), with their
/// pod files under `work`.
async fn remove_stale(cri: &Cri, work: &Path) {
    let mut rt = cri.rt.clone();
    let req = cri::ListPodSandboxRequest {
        filter: Some(cri::PodSandboxFilter {
            label_selector: [(PROBE_LABEL.to_string(), "true".to_string())].into(),
            ..Default::default()
        }),
    };
    let Ok(list) = cri
        .call(
            "ListPodSandbox",
            Duration::from_secs(30),
            rt.list_pod_sandbox(req),
        )
        .await
    else {
        return;
    };
    for s in list.items {
        let (name, uid) = s.metadata.map(|m| (m.name, m.uid)).unwrap_or_default();
        let res = remove_sandbox(cri, &s.id).await;
        eprintln!(
            "mk-cri-probe: removing stale sandbox {} ({name}): {res:?}",
            s.id
        );
        if res.is_ok() && !uid.is_empty() && !uid.contains('/') {
            let _ = std::fs::remove_dir_all(work.join("pods").join(&uid));
            for e in std::fs::read_dir(work.join("logs"))
                .into_iter()
                .flatten()
                .flatten()
            {
                if e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!("_{uid}"))
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

/// The host-side files the kubelet makes before a pod starts: emptyDirs
/// (0777, group fsGroup, setgid), the pod's /etc/hosts (host network: a
/// copy of the node's) and each container's termination log (0666).
fn pod_files(pod: &Pod, dirs: &PodDirs) -> Result<(), String> {
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(&dirs.pod).map_err(|e| io(&dirs.pod, e))?;
    std::fs::create_dir_all(&dirs.logs).map_err(|e| io(&dirs.logs, e))?;
    for v in pod.spec.volumes.iter().filter(|v| v.empty_dir.is_some()) {
        let d = dirs.empty_dir(&v.name);
        std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
        let mut mode = 0o777;
        if let Some(g) = pod.spec.security_context.as_ref().and_then(|s| s.fs_group) {
            std::os::unix::fs::chown(&d, None, Some(g as u32)).map_err(|e| io(&d, e))?;
            mode |= 0o2000;
        }
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io(&d, e))?;
    }
    if pod.spec.host_network {
        let hosts = std::fs::read_to_string("/etc/hosts")
            .map_err(|e| format!("the node's /etc/hosts (a host-network pod's copy): {e}"))?;
        let p = dirs.etc_hosts();
        std::fs::write(
            &p,
            format!("# Kubernetes-managed hosts file (host network).\n{hosts}"),
        )
        .map_err(|e| io(&p, e))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| io(&p, e))?;
    }
    for c in &pod.spec.containers {
        let p = dirs.termination_log(&c.name);
        let parent = p.parent().expect("has a parent");
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        std::fs::write(&p, b"").map_err(|e| io(&p, e))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| io(&p, e))?;
        let l = dirs.logs.join(&c.name);
        std::fs::create_dir_all(&l).map_err(|e| io(&l, e))?;
    }
    Ok(())
}

async fn start_pod(cri: &Cri, opts: &Options, pod: Pod, report: &mut Report) -> Option<PodRun> {
    let name = pod.metadata.name.clone();
    // Volumes first, as the kubelet mounts them before the sandbox.
    let mut ok = true;
    for v in &pod.spec.volumes {
        if let Some(h) = &v.host_path {
            let kind = h.kind.as_deref().unwrap_or("");
            let r = manifest::prepare_host_path(Path::new(&h.path), kind);
            ok &= r.is_ok();
            let detail = match r {
                Ok(d) => format!("{} {kind}: {d}", h.path),
                Err(e) => e,
            };
            report.check(&name, &format!("hostpath:{}", v.name), ok, detail);
        }
    }
    if !ok {
        return None;
    }
    let uid = new_uid(&name);
    let dirs = PodDirs::new(&opts.work_dir, &pod, &uid);
    let override_cmd = opts.overrides.get(&name);
    let several = pod.spec.containers.len() > 1;
    let mut containers = Vec::new();
    for c in &pod.spec.containers {
        let prefix = if several {
            format!("{}/", c.name)
        } else {
            String::new()
        };
        match config::mounts(&pod, c, &dirs) {
            Ok(m) => containers.push(ContainerRun {
                c: c.clone(),
                prefix,
                mounts: m,
                overridden: override_cmd.is_some(),
                id: None,
            }),
            Err(e) => {
                report.check(&name, &format!("{prefix}mounts"), false, e);
                return None;
            }
        }
    }
    let mut run = PodRun {
        pod,
        name: name.clone(),
        dirs,
        sandbox: None,
        containers,
    };
    if let Err(e) = pod_files(&run.pod, &run.dirs) {
        report.check(&name, "pod-files", false, e);
        return Some(run);
    }

    // Images: present in the runtime's store (no pulls: nodes are offline).
    for c in &run.containers {
        let check = format!("{}image", c.prefix);
        let mut found = None;
        let mut err = None;
        // A tag made just before may reach the CRI's image cache a moment later.
        for _ in 0..4 {
            let mut img = cri.img.clone();
            let req = cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: c.c.image.clone(),
                    ..Default::default()
                }),
                verbose: false,
            };
            match cri
                .call(
                    "ImageStatus",
                    Duration::from_secs(30),
                    img.image_status(req),
                )
                .await
            {
                Ok(r) if r.image.is_some() => {
                    found = r.image;
                    break;
                }
                Ok(_) => err = None,
                Err(e) => err = Some(e),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        match (found, err) {
            (Some(i), _) => {
                let user = i
                    .uid
                    .map(|u| u.value.to_string())
                    .unwrap_or(i.username.clone());
                report.check(
                    &name,
                    &check,
                    true,
                    format!("{} = {} (image user {user:?})", c.c.image, i.id),
                )
            }
            (None, Some(e)) => {
                report.check(&name, &check, false, e);
                return Some(run);
            }
            (None, None) => {
                report.check(
                    &name,
                    &check,
                    false,
                    format!(
                        "{} is not in the runtime's image store (nodes do not pull: it must be among the imported images)",
                        c.c.image
                    ),
                );
                return Some(run);
            }
        }
    }

    let sandbox_config = config::sandbox(&run.pod, &uid, &run.dirs, opts.cgroup_driver);
    let mut rt = cri.rt.clone();
    let req = cri::RunPodSandboxRequest {
        config: Some(sandbox_config.clone()),
        runtime_handler: String::new(),
    };
    match cri
        .call(
            "RunPodSandbox",
            Duration::from_secs(180),
            rt.run_pod_sandbox(req),
        )
        .await
    {
        Ok(r) => {
            report.check(
                &name,
                "sandbox",
                true,
                format!(
                    "{} (cgroup parent {})",
                    r.pod_sandbox_id,
                    sandbox_config
                        .linux
                        .as_ref()
                        .map(|l| l.cgroup_parent.as_str())
                        .unwrap_or_default()
                ),
            );
            run.sandbox = Some(r.pod_sandbox_id);
        }
        Err(e) => {
            report.check(&name, "sandbox", false, e);
            return Some(run);
        }
    }
    let sandbox_id = run.sandbox.clone().expect("set");
    for c in &mut run.containers {
        let cfg = config::container(
            &run.pod,
            &c.c,
            &uid,
            &c.mounts,
            override_cmd.map(|v| v.as_slice()),
        );
        let req = cri::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.clone(),
            config: Some(cfg.clone()),
            sandbox_config: Some(sandbox_config.clone()),
        };
        let id = match cri
            .call(
                "CreateContainer",
                Duration::from_secs(180),
                rt.create_container(req),
            )
            .await
        {
            Ok(r) => r.container_id,
            Err(e) => {
                report.check(&name, &format!("{}create", c.prefix), false, e);
                continue;
            }
        };
        let cmd: Vec<String> = cfg.command.iter().chain(&cfg.args).cloned().collect();
        report.check(
            &name,
            &format!("{}create", c.prefix),
            true,
            format!(
                "{id}: {}{}",
                shlex::try_join(cmd.iter().map(|s| s.as_str())).unwrap_or_default(),
                if c.overridden { " (override)" } else { "" }
            ),
        );
        c.id = Some(id.clone());
        let r = cri
            .call(
                "StartContainer",
                Duration::from_secs(120),
                rt.start_container(cri::StartContainerRequest {
                    container_id: id.clone(),
                }),
            )
            .await;
        let ok = r.is_ok();
        report.check(
            &name,
            &format!("{}start", c.prefix),
            ok,
            r.err().unwrap_or_else(|| "started".into()),
        );
    }
    Some(run)
}

/// The last lines of a CRI log file, without the timestamp/stream/tag prefix.
fn log_tail(path: &str, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text
        .lines()
        .map(|l| l.splitn(4, ' ').nth(3).unwrap_or(l))
        .collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `runtimeSpec` out of a verbose status's `info` JSON.
fn runtime_spec(info: &HashMap<String, String>) -> serde_json::Value {
    info.get("info")
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .map(|v| v["runtimeSpec"].clone())
        .unwrap_or(serde_json::Value::Null)
}

fn spec_str(spec: &serde_json::Value, pointer: &str) -> String {
    spec.pointer(pointer)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// A `Key:\tvalue` line of /proc/self/status.
fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

async fn check_container(
    cri: &Cri,
    run: &PodRun,
    c: &ContainerRun,
    id: &str,
    se: &Selinux,
    report: &mut Report,
) {
    let pod = &run.name;
    let ck = |what: &str| format!("{}{what}", c.prefix);
    let mut rt = cri.rt.clone();
    let st = match cri
        .call(
            "ContainerStatus",
            Duration::from_secs(30),
            rt.container_status(cri::ContainerStatusRequest {
                container_id: id.into(),
                verbose: true,
            }),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => {
            report.check(pod, &ck("state"), false, e);
            return;
        }
    };
    let status = st.status.clone().unwrap_or_default();
    let spec = runtime_spec(&st.info);
    let state = cri::ContainerState::try_from(status.state)
        .unwrap_or(cri::ContainerState::ContainerUnknown);
    let running = state == cri::ContainerState::ContainerRunning;
    let exited = state == cri::ContainerState::ContainerExited;
    let state_ok = running || (exited && c.overridden && status.exit_code == 0);
    let mut detail = state.as_str_name().to_string();
    if exited {
        detail.push_str(&format!(
            " exit code {} {} {}",
            status.exit_code, status.reason, status.message
        ));
    }
    if !state_ok || exited {
        let tail = log_tail(&status.log_path, 15);
        if !tail.is_empty() {
            detail.push_str(&format!("; log: {tail}"));
        }
    }
    report.check(pod, &ck("state"), state_ok, detail);

    // Labels as the runtime set them (runtime spec of sandbox and container).
    let sandbox_spec = match &run.sandbox {
        Some(sid) => cri
            .call(
                "PodSandboxStatus",
                Duration::from_secs(30),
                rt.pod_sandbox_status(cri::PodSandboxStatusRequest {
                    pod_sandbox_id: sid.clone(),
                    verbose: true,
                }),
            )
            .await
            .map(|s| runtime_spec(&s.info))
            .unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    };
    let sandbox_label = spec_str(&sandbox_spec, "/process/selinuxLabel");
    let process_label = spec_str(&spec, "/process/selinuxLabel");
    let mount_label = spec_str(&spec, "/linux/mountLabel");
    let labels = format!(
        "sandbox process {:?}, container process {:?}, mount {:?}",
        sandbox_label, process_label, mount_label
    );
    if se.enabled {
        let judged = judge_process_label(&process_label, se).and_then(|_| {
            if sandbox_label != process_label {
                return Err("the container's label differs from its sandbox's".into());
            }
            let want_file = se
                .file
                .as_deref()
                .and_then(split_label)
                .map(|(t, _)| t)
                .ok_or("the policy's lxc_contexts has no file context")?;
            let (mt, ml) = split_label(&mount_label).ok_or("no mount label")?;
            let (_, pl) = split_label(&process_label).unwrap_or_default();
            if mt != want_file || ml != pl {
                return Err(format!(
                    "mount label type {mt} level {ml}, expected {want_file} at {pl}"
                ));
            }
            Ok(())
        });
        match judged {
            Ok(()) => report.check(pod, &ck("selinux-labels"), true, labels),
            Err(e) => report.check(pod, &ck("selinux-labels"), false, format!("{e}: {labels}")),
        }
    } else {
        report.check(
            pod,
            &ck("selinux-labels"),
            true,
            format!("not judged (SELinux disabled): {labels}"),
        );
    }

    let e = run.pod.effective(Some(&c.c));
    if e.read_only_root {
        let spec_ro = spec.pointer("/root/readonly").and_then(|v| v.as_bool()) == Some(true);
        if !spec_ro {
            report.check(
                pod,
                &ck("read-only-root-spec"),
                false,
                format!("the runtime spec's root is not read-only: {}", spec["root"]),
            );
        }
    }

    if !running {
        if state_ok {
            report.check(
                pod,
                &ck("exec"),
                true,
                "skipped: the container has exited (one-shot override)",
            );
        }
        return;
    }

    // Inside the container, as its process runs.
    let ex = |cmd: &'static [&'static str]| cri.exec(id, cmd, 10);
    match (ex(&["id", "-u"]).await, e.run_as_user) {
        (Ok(o), want) if o.code == 0 => {
            let got = o.out.trim().to_string();
            let ok =
                want.is_none_or(|w| got == w.to_string()) && !(e.run_as_non_root && got == "0");
            report.check(
                pod,
                &ck("uid"),
                ok,
                format!(
                    "{got} (manifest {}{})",
                    want.map(|w| w.to_string())
                        .unwrap_or_else(|| "unset: image's".into()),
                    if e.run_as_non_root {
                        ", runAsNonRoot"
                    } else {
                        ""
                    }
                ),
            );
        }
        (Ok(o), _) => report.check(
            pod,
            &ck("uid"),
            false,
            format!("id -u: exit {}: {}", o.code, o.out),
        ),
        (Err(x), _) => report.check(pod, &ck("uid"), false, x),
    }
    match (ex(&["id", "-g"]).await, e.run_as_group) {
        (Ok(o), want) if o.code == 0 => {
            let got = o.out.trim().to_string();
            let ok = want.is_none_or(|w| got == w.to_string());
            report.check(
                pod,
                &ck("gid"),
                ok,
                format!(
                    "{got} (manifest {})",
                    want.map(|w| w.to_string())
                        .unwrap_or_else(|| "unset".into())
                ),
            );
        }
        (Ok(o), _) => report.check(
            pod,
            &ck("gid"),
            false,
            format!("id -g: exit {}: {}", o.code, o.out),
        ),
        (Err(x), _) => report.check(pod, &ck("gid"), false, x),
    }
    match ex(&["id", "-G"]).await {
        Ok(o) if o.code == 0 => {
            let got: Vec<&str> = o.out.split_whitespace().collect();
            let missing: Vec<String> = e
                .supplemental_groups
                .iter()
                .map(|g| g.to_string())
                .filter(|g| !got.contains(&g.as_str()))
                .collect();
            report.check(
                pod,
                &ck("groups"),
                missing.is_empty(),
                if missing.is_empty() {
                    o.out.trim().to_string()
                } else {
                    format!(
                        "{} lacks fsGroup/supplementalGroups {missing:?}",
                        o.out.trim()
                    )
                },
            );
        }
        Ok(o) => report.check(
            pod,
            &ck("groups"),
            false,
            format!("id -G: exit {}: {}", o.code, o.out),
        ),
        Err(x) => report.check(pod, &ck("groups"), false, x),
    }
    match ex(&["cat", "/proc/self/status"]).await {
        Ok(o) if o.code == 0 => {
            let nnp = status_field(&o.out, "NoNewPrivs").unwrap_or("?");
            let want = if e.no_new_privs { "1" } else { "0" };
            report.check(
                pod,
                &ck("no-new-privs"),
                nnp == want,
                format!(
                    "NoNewPrivs {nnp} (allowPrivilegeEscalation {})",
                    if e.no_new_privs {
                        "false"
                    } else {
                        "unset/true"
                    }
                ),
            );
            let caps: Vec<(&str, &str)> = ["CapPrm", "CapEff", "CapBnd", "CapAmb"]
                .iter()
                .map(|k| (*k, status_field(&o.out, k).unwrap_or("?")))
                .collect();
            let drop_all =
                e.cap_drop.iter().any(|d| d.eq_ignore_ascii_case("ALL")) && e.cap_add.is_empty();
            let none = caps
                .iter()
                .all(|(_, v)| v.trim_start_matches('0').is_empty());
            report.check(
                pod,
                &ck("capabilities"),
                !drop_all || none,
                format!(
                    "{} (drop {:?}, add {:?})",
                    caps.iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    e.cap_drop,
                    e.cap_add
                ),
            );
            let sc = status_field(&o.out, "Seccomp").unwrap_or("?");
            let want = match e.seccomp.as_ref().map(|s| s.kind.as_str()) {
                Some("RuntimeDefault") | Some("Localhost") => "2",
                _ => "0",
            };
            report.check(
                pod,
                &ck("seccomp"),
                sc == want,
                format!(
                    "Seccomp {sc} (2 = filter; manifest {})",
                    e.seccomp
                        .as_ref()
                        .map(|s| s.kind.as_str())
                        .unwrap_or("unset")
                ),
            );
        }
        Ok(o) => report.check(
            pod,
            &ck("no-new-privs"),
            false,
            format!("cat /proc/self/status: exit {}: {}", o.code, o.out),
        ),
        Err(x) => report.check(pod, &ck("no-new-privs"), false, x),
    }
    // The mount table as the container sees it: a read-only mount says
    // `ro` there, whatever the files' permissions.
    let mountinfo = match ex(&["cat", "/proc/self/mountinfo"]).await {
        Ok(o) if o.code == 0 => o.out,
        _ => String::new(),
    };
    if e.read_only_root {
        match ex(&["touch", "/.mk-cri-probe"]).await {
            Ok(o) => report.check(
                pod,
                &ck("read-only-root"),
                o.code != 0 && o.out.contains("Read-only file system"),
                format!(
                    "touch /.mk-cri-probe: exit {}: {}; / mounted {}",
                    o.code,
                    o.out.trim(),
                    mount_options(&mountinfo, "/").unwrap_or_default()
                ),
            ),
            Err(x) => report.check(pod, &ck("read-only-root"), false, x),
        }
    }
    for m in &c.mounts {
        check_mount(cri, id, pod, &ck(""), m, &mountinfo, report).await;
    }
    match ex(&["cat", "/proc/self/attr/current"]).await {
        Ok(o) if o.code == 0 => {
            let label = o.out.trim_end_matches(['\0', '\n']).trim().to_string();
            if se.enabled {
                let r = judge_process_label(&label, se).and_then(|d| {
                    if label == process_label {
                        Ok(d)
                    } else {
                        Err(format!(
                            "{label} differs from the runtime spec's {process_label:?}"
                        ))
                    }
                });
                match r {
                    Ok(d) => report.check(pod, &ck("selinux-process"), true, d),
                    Err(x) => report.check(pod, &ck("selinux-process"), false, x),
                }
            } else {
                report.check(
                    pod,
                    &ck("selinux-process"),
                    true,
                    format!("{label:?} (SELinux disabled: not judged)"),
                );
            }
        }
        Ok(o) => report.check(
            pod,
            &ck("selinux-process"),
            !se.enabled,
            format!("cat /proc/self/attr/current: exit {}: {}", o.code, o.out),
        ),
        Err(x) => report.check(pod, &ck("selinux-process"), false, x),
    }
    for (kind, probe) in c.c.exec_probes() {
        let cmd: Vec<&str> = probe
            .exec
            .as_ref()
            .map(|x| x.command.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let t = probe.timeout_seconds.unwrap_or(1).max(1);
        let check = ck(&format!("probe-{kind}"));
        match cri.exec(id, &cmd, t).await {
            // The probe's program ran: its verdict depends on the cluster.
            Ok(o) => report.check(
                pod,
                &check,
                true,
                format!(
                    "{} ran: exit {}: {}",
                    cmd.first().unwrap_or(&""),
                    o.code,
                    o.out
                ),
            ),
            Err(x) => report.check(pod, &check, false, x),
        }
    }
}

async fn check_mount(
    cri: &Cri,
    id: &str,
    pod: &str,
    prefix: &str,
    m: &PlannedMount,
    mountinfo: &str,
    report: &mut Report,
) {
    let p = m.container_path.as_str();
    let is_dir = std::fs::metadata(&m.host_path)
        .map(|x| x.is_dir())
        .unwrap_or(false);
    let read: Vec<&str> = if is_dir {
        vec!["ls", "-A", p]
    } else {
        vec!["head", "-c", "1", p]
    };
    let check = format!("{prefix}mount-read:{p}");
    match cri.exec(id, &read, 10).await {
        Ok(o) if o.code == 0 => report.check(
            pod,
            &check,
            true,
            format!(
                "{} {} -> {p}",
                if is_dir { "dir" } else { "file" },
                m.host_path.display()
            ),
        ),
        Ok(o) => report.check(
            pod,
            &check,
            false,
            format!("{}: exit {}: {}", read.join(" "), o.code, o.out),
        ),
        Err(x) => report.check(pod, &check, false, x),
    }
    // The kubelet's /etc/hosts is a root-owned 0644 file: readable only.
    if m.volume == "etc-hosts" {
        return;
    }
    let target = if is_dir {
        format!("{p}/.mk-cri-probe")
    } else {
        p.to_string()
    };
    let touch = ["touch", target.as_str()];
    if m.readonly && !is_dir {
        // A write attempt on an existing file is checked by SELinux before
        // the mount's read-only flag: under enforcing it would log an AVC
        // denial (the right verdict, but noise the boot test judges), so
        // for files the mount table alone says it: `ro`.
        let check = format!("{prefix}mount-read-only:{p}");
        let opts = mount_options(mountinfo, p);
        let ro = opts
            .as_deref()
            .is_some_and(|o| o.split(',').any(|f| f == "ro"));
        report.check(
            pod,
            &check,
            ro,
            format!(
                "mount options {}",
                opts.as_deref().unwrap_or("(not in /proc/self/mountinfo)")
            ),
        );
    } else if m.readonly {
        // Creating a file in a read-only directory fails with EROFS before
        // any permission check.
        let check = format!("{prefix}mount-read-only:{p}");
        let opts = mount_options(mountinfo, p);
        let ro = opts
            .as_deref()
            .is_some_and(|o| o.split(',').any(|f| f == "ro"));
        match cri.exec(id, &touch, 10).await {
            Ok(o) => report.check(
                pod,
                &check,
                o.code != 0 && (o.out.contains("Read-only file system") || ro),
                format!(
                    "touch {target}: exit {}: {}; mount options {}",
                    o.code,
                    o.out.trim(),
                    opts.as_deref().unwrap_or("(not in /proc/self/mountinfo)")
                ),
            ),
            Err(x) => report.check(pod, &check, false, x),
        }
    } else {
        let check = format!("{prefix}mount-writable:{p}");
        match cri.exec(id, &touch, 10).await {
            Ok(o) if o.code == 0 => {
                if is_dir {
                    let _ = cri.exec(id, &["rm", "-f", target.as_str()], 10).await;
                }
                report.check(pod, &check, true, format!("touch {target}: ok"))
            }
            Ok(o) => report.check(
                pod,
                &check,
                false,
                format!("touch {target}: exit {}: {}", o.code, o.out),
            ),
            Err(x) => report.check(pod, &check, false, x),
        }
    }
}

/// The per-mount options (`ro,nosuid,...`) of mount point `path` in a
/// /proc/self/mountinfo text (the last mount there wins, as it is on top).
pub fn mount_options(mountinfo: &str, path: &str) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 5 && f[4].replace("\\040", " ") == path).then(|| f[5].to_string())
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_options_of_a_mount_point() {
        let mi = "611 600 0:50 / / ro,relatime master:1 - overlay overlay rw,lowerdir=x\n\
                  620 611 253:1 /etc/k /etc/kubernetes/pki/etcd ro,nosuid,nodev,relatime - ext4 /dev/vda rw\n\
                  621 611 253:1 /d /var/lib/etcd rw,relatime - ext4 /dev/vda rw\n";
        assert_eq!(mount_options(mi, "/").as_deref(), Some("ro,relatime"));
        assert_eq!(
            mount_options(mi, "/etc/kubernetes/pki/etcd").as_deref(),
            Some("ro,nosuid,nodev,relatime")
        );
        assert_eq!(
            mount_options(mi, "/var/lib/etcd").as_deref(),
            Some("rw,relatime")
        );
        assert_eq!(mount_options(mi, "/tmp"), None);
    }

    #[test]
    fn labels_judged_against_lxc_contexts() {
        let se = Selinux {
            enabled: true,
            enforcing: true,
            policy: "default".into(),
            process: Some("system_u:system_r:container_t:s0".into()),
            file: Some("system_u:object_r:container_file_t:s0".into()),
        };
        assert!(judge_process_label("system_u:system_r:container_t:s0:c12,c345", &se).is_ok());
        let e = judge_process_label("system_u:system_r:spc_t:s0:c1,c2", &se).unwrap_err();
        assert!(e.contains("expected container_t"), "{e}");
        assert!(judge_process_label("system_u:system_r:container_t:s0", &se).is_err());
        assert!(judge_process_label("system_u:system_r:container_t:s0:c1,c1", &se).is_err());
        assert!(judge_process_label("unconfined", &se).is_err());
        let none = Selinux {
            process: None,
            ..se
        };
        assert!(
            judge_process_label("system_u:system_r:container_t:s0:c1,c2", &none)
                .unwrap_err()
                .contains("lxc_contexts")
        );
    }

    #[test]
    fn details_stay_on_one_line() {
        assert_eq!(one_line(" a\nb\n\n c \n"), "a | b |  c");
        assert!(one_line(&"x".repeat(5000)).len() < 1600);
    }

    #[test]
    fn proc_status_fields() {
        let s = "Name:\tcat\nNoNewPrivs:\t1\nSeccomp:\t2\nCapEff:\t0000000000000000\n";
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(s, "Seccomp"), Some("2"));
        assert_eq!(status_field(s, "CapEff"), Some("0000000000000000"));
        assert_eq!(status_field(s, "Seccomp_filters"), None);
    }

    #[test]
    fn uids_look_like_uuids() {
        let u = new_uid("etcd");
        assert_eq!(u.len(), 36);
        assert_ne!(u, new_uid("etcd"));
    }
}
