//! Node image pipeline (issue 6): an image recipe (image.yaml + kickstart)
//! and offline repositories in, a bootable raw/qcow2 disk image out.
//!
//! 1. Read the recipe and kickstart; refuse kickstart settings the image
//!    build does not apply (nothing is silently dropped).
//! 2. Package every overlay as an RPM ([`overlay`]), the kickstart's
//!    settings as `mk-kickstart-settings` ([`settings`]) and the container
//!    image archives as `mk-container-images` ([`containers`]), and resolve the
//!    kickstart's %packages plus those packages against the repositories
//!    (the same resolver as `mk-compose resolve`).
//! 3. Cache lookup ([`cache`]): same inputs, same image.
//! 4. Install everything in one transaction with the target's own rpm
//!    (mk-install), enable units, run %post offline, empty machine-id,
//!    build the initramfs with the target's dracut (to the ESP, not the
//!    root), and check again that no file is outside a package (R18): the
//!    only files allowed besides mk-install's lists are the unit symlinks
//!    under /etc/systemd/system.
//! 5. Split: /var goes to the state partition; label both trees from the
//!    target policy's file_contexts (mk-selinux) plus overlay overrides.
//! 6. Boot (docs/image.md, "Boot"): the target's own shim and signed GRUB
//!    EFI image on the ESP, kernel and initramfs as slot A, our grub.cfg,
//!    grubenv and slot.cfg (root=PARTUUID, ro, SELinux enforcing,
//!    cgroup.memory=nokmem, panic=10), and for legacy BIOS GRUB's boot.img
//!    and a core.img made with the target's grub-mkimage.
//! 7. mk-disk writes and checks the raw image (and qcow2), atomically.
//!
//! Needs root (chroots, mount namespaces). Work happens in a directory
//! beside the output that is removed at the end, success or not.

pub mod boot;
pub mod cache;
pub mod containers;
pub mod overlay;
pub mod release;
pub mod settings;
pub mod system;

use mk_depsolve::{Comps, Item, ItemKind, Request, SolveOptions};
use mk_kickstart::{ImageRecipe, SelinuxMode};
use mk_rpmrepo::Package;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The first-boot unit enabled in every image that ships it.
pub const FIRSTBOOT_UNIT: &str = "mk-firstboot.service";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Recipe(#[from] mk_kickstart::RecipeError),
    #[error("{file}:{line}: `{command}` is not applied by image builds yet ({hint})")]
    Unsupported {
        file: String,
        line: usize,
        command: &'static str,
        hint: &'static str,
    },
    #[error("repository {}: {message}", path.display())]
    Repo { path: PathBuf, message: String },
    #[error(transparent)]
    Overlay(#[from] overlay::OverlayError),
    #[error(transparent)]
    Containers(#[from] containers::ContainersError),
    #[error("resolving the packages of {kickstart}")]
    Resolve {
        kickstart: String,
        #[source]
        source: mk_depsolve::SolveError,
    },
    #[error("{} package(s) the repositories list are missing on disk: {}", names.len(), names.join(", "))]
    MissingPackages { names: Vec<String> },
    #[error("install")]
    Install(#[from] mk_install::InstallError),
    #[error("{step}: {message}")]
    Step { step: String, message: String },
    #[error("SELinux labels")]
    Selinux(#[from] mk_selinux::SelinuxError),
    #[error(transparent)]
    Preflight(#[from] mk_preflight::NodeImageError),
    #[error("disk image")]
    Disk(#[from] mk_disk::DiskError),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
        move |source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    fn step(step: &str, message: impl Into<String>) -> ImageError {
        ImageError::Step {
            step: step.into(),
            message: message.into(),
        }
    }
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// image.yaml.
    pub recipe: PathBuf,
    /// Content-addressed cache of finished images; `None`: no cache.
    pub cache_dir: Option<PathBuf>,
    /// comps.xml for @group entries.
    pub comps: Option<PathBuf>,
    /// Unowned paths to accept besides mk-install's own list (exact or
    /// `DIR/**`): state the target's scriptlets create, e.g.
    /// `mk_install::CENTOS7_SCRIPTLET_STATE`.
    pub allowed_unowned: Vec<String>,
    /// SOURCE_DATE_EPOCH when the recipe sets none (the caller passes the
    /// environment variable); `None` and none in the recipe: the newest
    /// build time of the resolved packages.
    pub source_date_epoch: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageTimes {
    pub resolve: Duration,
    pub install: Duration,
    pub configure: Duration,
    pub initramfs: Duration,
    pub labels: Duration,
    pub disk: Duration,
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct Report {
    pub raw: Option<PathBuf>,
    pub raw_sha256: String,
    pub qcow2: Option<PathBuf>,
    pub qcow2_sha256: Option<String>,
    /// Cache key (SHA-256 of the inputs); also the seed of every GUID.
    pub key: String,
    pub cache_hit: bool,
    /// NEVRAs installed (overlay packages included).
    pub packages: Vec<String>,
    pub kernel: String,
    pub kernel_args: Vec<String>,
    pub labelled: usize,
    pub source_date_epoch: u64,
    pub times: StageTimes,
}

/// A package and the file it comes from (`None`: listed, absent).
struct Candidate {
    package: Package,
    file: Option<PathBuf>,
}

fn load_repo(repo: &Path) -> Result<Vec<Candidate>, ImageError> {
    let bad = |message: String| ImageError::Repo {
        path: repo.to_path_buf(),
        message,
    };
    let packages = if repo.join("repodata/repomd.xml").is_file() {
        mk_rpmrepo::repodata::read_repodata(repo).map_err(|e| bad(e.to_string()))?
    } else if repo.is_dir() {
        mk_rpmrepo::scan_dir(repo).map_err(|e| bad(e.to_string()))?
    } else {
        return Err(bad(
            "neither a repository (no repodata/repomd.xml) nor a directory".into(),
        ));
    };
    tracing::info!(repo = %repo.display(), packages = packages.len(), "repository read");
    packages
        .into_iter()
        .map(|package| {
            let rel = Path::new(&package.location);
            if package.location.is_empty()
                || !rel
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                return Err(bad(format!(
                    "{}: location {:?} is not a relative path inside the repository",
                    package.nevra(),
                    package.location
                )));
            }
            let path = repo.join(rel);
            let file = path.is_file().then_some(path);
            Ok(Candidate { package, file })
        })
        .collect()
}

/// Builds the image the recipe describes (or copies it from the cache).
pub fn build(opts: &BuildOptions) -> Result<Report, ImageError> {
    let started = Instant::now();
    let mut times = StageTimes::default();
    let recipe_path = opts.recipe.display().to_string();
    let recipe = ImageRecipe::load(&opts.recipe)?;
    let ks = recipe.load_kickstart(&recipe_path)?;
    let ks_file = recipe.kickstart.display().to_string();
    if let Some(r) = &ks.rootpw {
        if r.crypted_password.is_some() {
            return Err(ImageError::Unsupported {
                file: ks_file,
                line: r.line,
                command: "rootpw --iscrypted",
                hint: "root stays locked on mk nodes; log in with a user from an overlay or first boot",
            });
        }
    }
    let Some(packages) = &ks.packages else {
        return Err(ImageError::step(
            "kickstart",
            format!("{ks_file}: no %packages section"),
        ));
    };
    let outputs = recipe.outputs.clone();
    let out_ref = outputs
        .raw
        .clone()
        .or_else(|| outputs.qcow2.clone())
        .expect("the recipe parser requires an output");
    let out_dir = mk_durable::parent(&out_ref).to_path_buf();
    std::fs::create_dir_all(&out_dir).map_err(ImageError::io(&out_dir))?;

    // Work directory beside the outputs: same filesystem, removed on drop.
    let work = tempfile::Builder::new()
        .prefix(".mk-image.")
        .tempdir_in(&out_dir)
        .map_err(ImageError::io(&out_dir))?;
    let w = work.path().to_path_buf();

    // 2. Overlays as packages, and the resolution.
    let t = Instant::now();
    let overlay_rpms = w.join("overlay-rpms");
    std::fs::create_dir(&overlay_rpms).map_err(ImageError::io(&overlay_rpms))?;
    let mut overlays = Vec::new();
    for dir in &recipe.overlays {
        overlays.push(overlay::Overlay::read(dir)?);
    }
    let pre_epoch = recipe.source_date_epoch.or(opts.source_date_epoch);
    // Overlay packages carry the build date (or a fixed one): same bytes
    // for the same overlay.
    let pkg_time = pre_epoch
        .map(|e| e.min(u32::MAX as u64) as u32)
        .unwrap_or(mk_rpmpack::DEFAULT_BUILD_TIME);
    for o in &overlays {
        let p = o.build_rpm(&overlay_rpms, pkg_time)?;
        tracing::info!(overlay = %o.dir.display(), rpm = %p.display(), "overlay packaged");
    }
    let mut generated = Vec::new();
    let settings = settings::settings_package(&ks, pkg_time).map_err(|e| ImageError::Step {
        step: "kickstart".into(),
        message: format!("{ks_file}:{}: {}", e.line, e.message),
    })?;
    if let Some(p) = settings {
        let path = p
            .build_to_dir(&overlay_rpms)
            .map_err(|e| ImageError::step("kickstart settings", e.to_string()))?;
        tracing::info!(rpm = %path.display(), "kickstart settings packaged");
        generated.push(settings::PACKAGE.to_string());
    }
    if let Some(version) = &recipe.version {
        let path = release::release_package(version, pkg_time)
            .build_to_dir(&overlay_rpms)
            .map_err(|e| ImageError::step("image version", e.to_string()))?;
        tracing::info!(version = %version, rpm = %path.display(), "image version packaged");
        generated.push(release::PACKAGE.to_string());
    }
    // Container image archives as a package (imported at boot by
    // mk-image-import.service from overlays/node).
    let images = containers::ContainerImages::read(&recipe.image_archives)?;
    if let Some(ci) = &images {
        let path = ci.build_rpm(&overlay_rpms, pkg_time)?;
        tracing::info!(archives = ci.archives.len(), rpm = %path.display(), "container image archives packaged");
        generated.push(containers::PACKAGE.to_string());
    }
    let mut pool: Vec<Candidate> = Vec::new();
    for repo in &recipe.repos {
        pool.extend(load_repo(repo)?);
    }
    if !overlays.is_empty() || !generated.is_empty() {
        pool.extend(load_repo(&overlay_rpms)?);
    }
    let mut request: Request = packages.request.clone();
    for name in overlays.iter().map(|o| &o.name).chain(&generated) {
        request.items.push(Item {
            line: 0,
            kind: ItemKind::Package(name.clone()),
        });
    }
    let comps = match &opts.comps {
        Some(p) => Some(
            Comps::read(p)
                .map_err(|e| ImageError::step("comps", format!("{}: {e}", p.display())))?,
        ),
        None => None,
    };
    let pkgs: Vec<Package> = pool.iter().map(|c| c.package.clone()).collect();
    let resolution =
        mk_depsolve::resolve(&pkgs, &request, comps.as_ref(), &SolveOptions::default()).map_err(
            |source| ImageError::Resolve {
                kickstart: ks_file.clone(),
                source,
            },
        )?;
    let mut chosen: Vec<&Candidate> = resolution.packages.iter().map(|&i| &pool[i]).collect();
    chosen.sort_by_key(|c| c.package.nevra());
    let missing: Vec<String> = chosen
        .iter()
        .filter(|c| c.file.is_none())
        .map(|c| c.package.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(ImageError::MissingPackages { names: missing });
    }
    let epoch = pre_epoch.unwrap_or_else(|| {
        chosen
            .iter()
            .map(|c| c.package.build_time)
            .max()
            .unwrap_or(mk_rpmpack::DEFAULT_BUILD_TIME as u64)
    });
    times.resolve = t.elapsed();
    tracing::info!(
        packages = chosen.len(),
        overlays = overlays.len(),
        source_date_epoch = epoch,
        "resolved"
    );

    // 3. Cache key.
    let mut kb = cache::KeyBuilder::new();
    kb.part(
        "recipe",
        &std::fs::read_to_string(&opts.recipe).map_err(ImageError::io(&opts.recipe))?,
    );
    kb.part(
        "kickstart",
        &std::fs::read_to_string(&recipe.kickstart).map_err(ImageError::io(&recipe.kickstart))?,
    );
    for c in &chosen {
        let file = c.file.as_ref().expect("checked above");
        let sum = if c.package.checksum.is_empty() {
            mk_durable::sha256_file(file).map_err(ImageError::io(file))?
        } else {
            c.package.checksum.clone()
        };
        kb.part("package", &format!("{} {sum}", c.package.nevra()));
    }
    for o in &overlays {
        kb.part("overlay", &o.digest);
    }
    // Also covered by the package's checksum; named here so that the key's
    // inputs read like the recipe.
    for a in images.iter().flat_map(|ci| &ci.archives) {
        kb.part("image_archive", &format!("{} {}", a.name, a.sha256));
    }
    kb.part("epoch", &epoch.to_string());
    kb.part("allowed_unowned", &opts.allowed_unowned.join("\n"));
    kb.part(
        "outputs",
        &format!(
            "raw={} qcow2={} root={} state={}",
            outputs.raw.is_some(),
            outputs.qcow2.is_some(),
            outputs.root_size,
            outputs.state_size
        ),
    );
    let key = kb.finish();
    let nevras: Vec<String> = chosen.iter().map(|c| c.package.nevra()).collect();
    if let Some(cd) = &opts.cache_dir {
        let entry = cache::entry_dir(cd, &key);
        let raw_c = entry.join("node.raw");
        let qcow_c = entry.join("node.qcow2");
        let complete = raw_c.is_file() && (outputs.qcow2.is_none() || qcow_c.is_file());
        if complete {
            if let Some(r) = &outputs.raw {
                cache::install_file(&raw_c, r)?;
            }
            if let Some(q) = &outputs.qcow2 {
                cache::install_file(&qcow_c, q)?;
            }
            let raw_sha256 = mk_durable::sha256_file(&raw_c).map_err(ImageError::io(&raw_c))?;
            let qcow2_sha256 = match &outputs.qcow2 {
                Some(q) => Some(mk_durable::sha256_file(q).map_err(ImageError::io(q))?),
                None => None,
            };
            tracing::info!(key = %key, secs = started.elapsed().as_secs_f32(), "cache hit: image copied from the cache");
            return Ok(Report {
                raw: outputs.raw.clone(),
                raw_sha256,
                qcow2: outputs.qcow2.clone(),
                qcow2_sha256,
                key,
                cache_hit: true,
                packages: nevras,
                kernel: String::new(),
                kernel_args: Vec::new(),
                labelled: 0,
                source_date_epoch: epoch,
                times,
            });
        }
    }

    // 4. Install with the target's rpm. rpm ≥ 4.18 takes install times
    // from SOURCE_DATE_EPOCH (reproducible rpmdb).
    let t = Instant::now();
    let root = w.join("root");
    let plan = mk_install::InstallPlan::complete(
        &chosen
            .iter()
            .map(|c| (c.package.clone(), c.file.clone().expect("checked above")))
            .collect::<Vec<_>>(),
    );
    let install_opts = mk_install::InstallOptions {
        allow_missing: false,
        allowed_unowned: opts.allowed_unowned.clone(),
    };
    let report = mk_install::install_with_epoch(&plan, &root, &install_opts, Some(epoch))?;
    times.install = t.elapsed();

    // Settings.
    let t = Instant::now();
    let mut extra_units = Vec::new();
    let fb_present = ["usr/lib/systemd/system", "lib/systemd/system"]
        .iter()
        .any(|d| root.join(d).join(FIRSTBOOT_UNIT).is_file());
    if fb_present {
        extra_units.push(FIRSTBOOT_UNIT.to_string());
    } else {
        tracing::warn!(
            "no {FIRSTBOOT_UNIT} in the image (add the mk-firstboot package to %packages)"
        );
    }
    // kickstart `firewall --enabled`: firewalld runs (its default zone came
    // with the settings package); `--disabled`: it does not.
    let mut ks_units = ks.clone();
    if let Some(f) = &ks.firewall {
        let services = ks_units.services.get_or_insert(mk_kickstart::Services {
            line: f.line,
            enabled: Vec::new(),
            disabled: Vec::new(),
        });
        if f.enabled {
            services.enabled.push(settings::FIREWALL_UNIT.to_string());
        } else {
            services.disabled.push(settings::FIREWALL_UNIT.to_string());
        }
    }
    system::configure_services(&root, &ks_units, &extra_units)?;
    let logs = w.join("logs");
    std::fs::create_dir(&logs).map_err(ImageError::io(&logs))?;
    system::run_post_scripts(&root, &ks, &logs, epoch)?;
    system::reset_machine_id(&root)?;
    system::remove_unreproducible_caches(&root)?;
    // /var/run -> /run, /etc/hosts, /etc/resolv.conf, /etc/ssl/certs.
    system::check_node_paths(&root, &|p| system::rpm_owner(&root, p))?;
    // Preflight (issue 16, mk-preflight): with a kube-apiserver archive
    // baked, the control plane's static pods must find their host paths,
    // mounts, images, probe commands and a clean environment in this tree
    // (/var still inside it); otherwise the build stops here.
    mk_preflight::check_node_image(&root)?;
    times.configure = t.elapsed();

    // Initramfs and ESP.
    let t = Instant::now();
    let (kver, kimage) = boot::find_kernel(&root).map_err(|m| ImageError::step("kernel", m))?;
    let esp = w.join("esp");
    let slot = mk_disk::grub::Slot::A;
    for d in ["EFI/BOOT".to_string(), slot.dir()] {
        std::fs::create_dir_all(esp.join(&d)).map_err(ImageError::io(&esp))?;
    }
    system::make_initramfs(&root, &kver, &esp.join(slot.initramfs()), epoch)?;
    let kdst = esp.join(slot.kernel());
    std::fs::copy(root.join(&kimage), &kdst).map_err(ImageError::io(&kdst))?;
    // The target's own shim and vendor-signed GRUB (Secure Boot), and
    // GRUB's BIOS stages.
    let grub = boot::find_grub(&root).map_err(|m| ImageError::step("boot loader", m))?;
    for (src, dst) in [
        (grub.shim.0, mk_disk::grub::SHIM),
        (grub.grub_efi.0, mk_disk::grub::GRUB_EFI),
    ] {
        std::fs::copy(root.join(src), esp.join(dst)).map_err(ImageError::io(&root.join(src)))?;
    }
    let boot_img_path = root.join(grub.grub_pc.0).join("boot.img");
    let boot_img = std::fs::read(&boot_img_path).map_err(ImageError::io(&boot_img_path))?;
    let core_img = system::make_core_img(
        &root,
        &grub,
        &mk_disk::grub::render_core_config(mk_disk::layout::esp_serial(&key)),
    )?;
    times.initramfs = t.elapsed();

    // R18 again, after services, %post and the initramfs: only unit
    // symlinks and the empty /etc/machine-id may be new.
    let owned = mk_install::verify::owned_paths(&root)
        .map_err(|e| ImageError::step("unowned files", e.to_string()))?;
    let mut allowed = opts.allowed_unowned.clone();
    allowed.push("/etc/systemd/system/**".into());
    // The empty placeholder a read-only root needs (see reset_machine_id).
    allowed.push("/etc/machine-id".into());
    let unowned = mk_install::verify::find_unowned(&root, &owned, &allowed)
        .map_err(|e| ImageError::step("unowned files", e.to_string()))?;
    let mut bad = unowned.failures.clone();
    for p in &unowned.allowed {
        if p.starts_with("/etc/systemd/system/") {
            let m = std::fs::symlink_metadata(root.join(&p[1..])).map_err(ImageError::io(&root))?;
            if !(m.file_type().is_symlink() || m.is_dir()) {
                bad.push(p.clone());
            }
        }
    }
    if !bad.is_empty() {
        return Err(ImageError::step(
            "unowned files",
            format!(
                "{} path(s) no package owns after configuration (R18: package them, e.g. in an overlay):\n  {}",
                bad.len(),
                bad.join("\n  ")
            ),
        ));
    }

    // 5. Split /var off, label both trees.
    let t = Instant::now();
    let state = w.join("state");
    std::fs::create_dir(&state).map_err(ImageError::io(&state))?;
    let var = root.join("var");
    if var.is_symlink() || !var.is_dir() {
        return Err(ImageError::step(
            "state split",
            "/var in the root is not a directory",
        ));
    }
    for e in std::fs::read_dir(&var).map_err(ImageError::io(&var))? {
        let e = e.map_err(ImageError::io(&var))?;
        std::fs::rename(e.path(), state.join(e.file_name())).map_err(ImageError::io(&e.path()))?;
    }
    let selinux_off = ks
        .selinux
        .as_ref()
        .is_some_and(|s| s.mode == SelinuxMode::Disabled);
    let (mut root_labels, mut state_labels) = (BTreeMap::new(), BTreeMap::new());
    if !selinux_off {
        let ptype = mk_selinux::policy_type(&root)?;
        // containerd's CRI plugin labels containers with the types the
        // policy's lxc_contexts names: a policy without them fails every
        // pod sandbox at run time, so the build stops here instead.
        if root.join("usr/bin/containerd").exists() {
            let types = mk_selinux::policy::check_container_types(&root, &ptype)?;
            tracing::info!(types = ?types, "the policy defines the container types");
        }
        let fc = mk_selinux::load(&mk_selinux::file_contexts_path(&root, &ptype))?;
        root_labels = mk_selinux::label_tree(&root, "/", &fc)?.labels;
        let st = mk_selinux::label_tree(&state, "/var", &fc)?;
        state_labels = st.labels;
        // The state tree's top is /var itself, labelled like the mount point.
        // The kickstart's `network` profiles (settings package) sit in the
        // keyfile directory, labelled as the profiles first boot writes.
        let overrides = overlays
            .iter()
            .flat_map(|o| o.selinux_overrides())
            .chain(settings::selinux_overrides(&ks));
        for (p, c) in overrides {
            if let Some(rest) = p.strip_prefix("/var/") {
                state_labels.insert(format!("/{rest}"), c);
            } else {
                root_labels.insert(p, c);
            }
        }
    }
    let labelled = root_labels.len() + state_labels.len();
    times.labels = t.elapsed();

    // 6./7. Disk.
    let t = Instant::now();
    let kernel_args = boot::extra_kernel_args(&ks);
    let version = recipe
        .version
        .clone()
        .unwrap_or_else(|| format!("unversioned-{}", &key[..12]));
    let label_of = |mp: &str, default: &str| {
        ks.parts
            .iter()
            .find(|p| p.mountpoint == mp)
            .and_then(|p| p.label.clone())
            .unwrap_or_else(|| default.to_string())
    };
    let raw_target = outputs.raw.clone().unwrap_or_else(|| w.join("node.raw"));
    let mut esp_spec = mk_disk::EspSpec::new(&esp);
    esp_spec.label = label_of("/boot/efi", "ESP");
    esp_spec.boot = Some(mk_disk::BootSpec {
        vendor_dir: grub.vendor_dir.to_string(),
        version,
        extra_args: kernel_args.clone(),
    });
    let spec = mk_disk::DiskSpec {
        output: raw_target.clone(),
        qcow2: outputs.qcow2.clone(),
        seed: key.clone(),
        source_date_epoch: epoch as i64,
        esp: esp_spec,
        bios: Some(mk_disk::BiosSpec { boot_img, core_img }),
        root: mk_disk::FsSpec {
            tree: Some(root.clone()),
            size: Some(outputs.root_size.bytes()),
            label: label_of("/", "root"),
            selinux_labels: root_labels,
        },
        state: mk_disk::FsSpec {
            tree: Some(state.clone()),
            size: Some(outputs.state_size.bytes()),
            label: label_of("/var", "state"),
            selinux_labels: state_labels,
        },
    };
    let disk = mk_disk::build_image(&spec)?;
    times.disk = t.elapsed();

    if let Some(cd) = &opts.cache_dir {
        let mut files: Vec<(&str, &Path)> = vec![("node.raw", &disk.raw)];
        if let Some(q) = &disk.qcow2 {
            files.push(("node.qcow2", q));
        }
        if let Err(e) = cache::store(cd, &key, &files) {
            tracing::warn!(error = &e as &dyn std::error::Error, "not cached");
        }
    }
    if outputs.raw.is_none() {
        let _ = std::fs::remove_file(&raw_target);
    }
    tracing::info!(
        key = %key,
        packages = report.installed.len(),
        labelled,
        secs = started.elapsed().as_secs_f32(),
        "image built"
    );
    Ok(Report {
        raw: outputs.raw.clone(),
        raw_sha256: disk.raw_sha256,
        qcow2: disk.qcow2,
        qcow2_sha256: disk.qcow2_sha256,
        key,
        cache_hit: false,
        packages: report.installed,
        kernel: kver,
        kernel_args,
        labelled,
        source_date_epoch: epoch,
        times,
    })
}
