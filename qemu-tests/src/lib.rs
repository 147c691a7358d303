//! Boot tests: node images built from the fixture distribution (Debian
//! packages repackaged as RPMs, `mk-fixture-distro`) with the example
//! recipe (examples/image), booted in QEMU (TCG, OVMF/UEFI) and judged by
//! their serial console.
//!
//! Helpers shared by the tests: the inputs ([`example_inputs_in`]), a recipe
//! in a scratch directory ([`write_recipe`]), and [`boot`].
//!
//! Needs (CI installs them): root, qemu-system-x86 + qemu-utils, ovmf,
//! e2fsprogs, mtools, gdisk, dosfstools, apt-get (the fixture
//! distribution), and what packaging/build.sh needs for mk-firstboot;
//! containerd + runc for tests/containerd.rs ([`containerd`]); nginx, ip
//! and unshare for tests/registry_mirror.rs.

pub mod containerd;
pub mod containers;
pub mod cri;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// Unowned paths the fixture distribution's scriptlets leave.
pub fn fixture_allowed_unowned() -> Vec<String> {
    mk_fixture_distro::SCRIPTLET_STATE
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The repositories of the example image: the fixture distribution
/// (built or reused from target/fixture-distro) and a directory with the
/// mk-firstboot RPM built by packaging/build.sh (cached in target/).
pub struct Inputs {
    pub fixture_repo: PathBuf,
    pub mk_repo: PathBuf,
}

/// Builds the inputs; the mk-firstboot RPM is copied into `dir/mk-repo`
/// so that no other test can replace it while this one installs it.
pub fn example_inputs_in(dir: &Path) -> Inputs {
    let ws = workspace();
    let fixture_repo = mk_fixture_distro::build(&mk_fixture_distro::Options {
        list: ws.join("qemu-tests/fixture-distro/packages.txt"),
        cache_dir: ws.join("target/fixture-distro"),
    })
    .unwrap_or_else(|e| panic!("fixture distribution: {e}"));
    let shared = ws.join("target/qemu-tests/mk-rpms");
    std::fs::create_dir_all(&shared).unwrap();
    // packaging/build.sh is incremental (cargo); serialised between test
    // processes with flock(1), since it replaces the RPM.
    let out = Command::new("flock")
        .arg(ws.join("target/qemu-tests/mk-rpms.lock"))
        .arg("sh")
        .arg(ws.join("packaging/build.sh"))
        .arg(&shared)
        .current_dir(&ws)
        .stderr(Stdio::inherit())
        .output()
        .expect("flock (util-linux) and packaging/build.sh");
    assert!(out.status.success(), "packaging/build.sh failed");
    let rpm = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(|l| PathBuf::from(l.trim()))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| panic!("packaging/build.sh printed no RPM path"));
    let mk_repo = dir.join("mk-repo");
    std::fs::create_dir_all(&mk_repo).unwrap();
    std::fs::copy(&rpm, mk_repo.join(rpm.file_name().unwrap())).unwrap();
    Inputs {
        fixture_repo,
        mk_repo,
    }
}

/// Writes `dir/image.yaml` and `dir/node.ks` for the example image (the
/// kickstart from examples/image with `ks_edit` applied), with outputs in
/// `dir/out`. Returns the recipe path.
pub fn write_recipe(
    dir: &Path,
    inputs: &Inputs,
    ks_edit: impl Fn(String) -> String,
    root_size: &str,
) -> PathBuf {
    write_recipe_with_overlays(dir, inputs, ks_edit, root_size, &[])
}

/// [`write_recipe`] with `extra_overlays` after overlays/node (e.g. a test
/// key in /etc/mk/config-trust).
pub fn write_recipe_with_overlays(
    dir: &Path,
    inputs: &Inputs,
    ks_edit: impl Fn(String) -> String,
    root_size: &str,
    extra_overlays: &[PathBuf],
) -> PathBuf {
    write_recipe_with_archives(dir, inputs, ks_edit, root_size, extra_overlays, &[])
}

/// [`write_recipe_with_overlays`] with container image archives
/// (`image_archives`: packaged as mk-container-images, imported at boot).
pub fn write_recipe_with_archives(
    dir: &Path,
    inputs: &Inputs,
    ks_edit: impl Fn(String) -> String,
    root_size: &str,
    extra_overlays: &[PathBuf],
    image_archives: &[PathBuf],
) -> PathBuf {
    let ws = workspace();
    let ks = std::fs::read_to_string(ws.join("examples/image/node.ks")).unwrap();
    std::fs::write(dir.join("node.ks"), ks_edit(ks)).unwrap();
    let mut overlays = format!("  - {}\n", ws.join("overlays/node").display());
    for o in extra_overlays {
        overlays.push_str(&format!("  - {}\n", o.display()));
    }
    if !image_archives.is_empty() {
        overlays.push_str("image_archives:\n");
        for a in image_archives {
            overlays.push_str(&format!("  - {}\n", a.display()));
        }
    }
    // Baked images are imported into containerd's store on /var at boot
    // (content and unpacked snapshots): room for them and etcd's data.
    let state_size = if image_archives.is_empty() {
        "512MiB"
    } else {
        "2GiB"
    };
    let recipe = format!(
        "kickstart: node.ks\nrepos:\n  - {}\n  - {}\noutputs:\n  raw: out/node.raw\n  qcow2: out/node.qcow2\n  root_size: {root_size}\n  state_size: {state_size}\noverlays:\n{overlays}source_date_epoch: 1700000000\n",
        inputs.fixture_repo.display(),
        inputs.mk_repo.display(),
    );
    let p = dir.join("image.yaml");
    std::fs::write(&p, recipe).unwrap();
    p
}

/// Runs `cmd`, panicking with its output unless it succeeds.
pub fn ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// mk-compose from this workspace, built by the cargo that builds the
/// calling test, into the same target directory (a test binary is
/// target/<profile>/deps/x).
pub fn mk_compose() -> Command {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "-q", "-p", "mk-compose", "--bin", "mk-compose"])
        .current_dir(workspace());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    ok(&mut cargo);
    Command::new(profile_dir.join("mk-compose"))
}

/// Scratch directories on real disk (images are large).
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    let base = workspace().join("target/qemu-tests/scratch");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base)
        .unwrap()
}

/// A TCP port on 127.0.0.1 free at the time of asking (the OS picks it),
/// for a server a test starts next (etcd's client and peer URLs).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info")
        .try_init();
}

/// The firmware: OVMF code (read-only) and a writable copy of its variables.
fn ovmf(dir: &Path) -> (PathBuf, PathBuf) {
    for (code, vars) in [
        (
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/OVMF/OVMF_VARS_4M.fd",
        ),
        (
            "/usr/share/OVMF/OVMF_CODE.fd",
            "/usr/share/OVMF/OVMF_VARS.fd",
        ),
    ] {
        if Path::new(code).is_file() && Path::new(vars).is_file() {
            let v = dir.join("OVMF_VARS.fd");
            std::fs::copy(vars, &v).unwrap();
            return (PathBuf::from(code), v);
        }
    }
    panic!("no OVMF firmware under /usr/share/OVMF (apt package `ovmf`)");
}

/// What a boot produced.
pub struct Boot {
    pub console: String,
    /// Seconds from power-on until `until` appeared (None: timed out).
    pub secs: Option<f64>,
}

/// Boots `image` (raw; a copy-on-write overlay keeps it unchanged) with
/// `qemu-system-x86_64 -accel tcg -m 2048 -smp 2` and OVMF, the serial
/// console to a file, until the console shows `until` or `timeout` passes;
/// then QEMU is killed.
pub fn boot(image: &Path, until: &str, timeout: Duration) -> Boot {
    boot_with_drives(image, &[], until, timeout)
}

/// [`boot`] with `drives` (raw images, e.g. a config drive) attached
/// read-only as further virtio disks after the image (vdb, vdc, ...).
pub fn boot_with_drives(image: &Path, drives: &[PathBuf], until: &str, timeout: Duration) -> Boot {
    boot_inner(image, drives, true, false, until, timeout)
}

/// [`boot_with_drives`] where a reboot inside the guest boots the same
/// disk again in the same QEMU (no `-no-reboot`): state written before the
/// reboot is there after it, as on a real machine.
pub fn boot_with_drives_rebooting(
    image: &Path,
    drives: &[PathBuf],
    until: &str,
    timeout: Duration,
) -> Boot {
    boot_inner(image, drives, true, true, until, timeout)
}

/// [`boot`] with no network device at all (`-nic none`): an offline node.
pub fn boot_offline(image: &Path, until: &str, timeout: Duration) -> Boot {
    boot_inner(image, &[], false, false, until, timeout)
}

fn boot_inner(
    image: &Path,
    drives: &[PathBuf],
    network: bool,
    reboot: bool,
    until: &str,
    timeout: Duration,
) -> Boot {
    let machine = Machine::new(image);
    machine.power_on(&PowerOn {
        drives,
        network,
        reboot,
        rtc_base: None,
        until,
        timeout,
    })
}

/// A machine whose disk (a copy-on-write overlay of the image) and
/// firmware variables outlive a power-on: boot it, power it off, boot it
/// again later (another `-rtc base`: a node that stayed off for days).
pub struct Machine {
    dir: tempfile::TempDir,
    /// OVMF's code and this machine's variables; `None`: QEMU's default
    /// firmware, SeaBIOS (legacy BIOS).
    uefi: Option<(PathBuf, PathBuf)>,
    overlay: PathBuf,
    power_ons: std::cell::Cell<u32>,
}

/// How one power-on goes.
pub struct PowerOn<'a> {
    /// Raw images attached read-only after the disk (vdb, vdc, ...).
    pub drives: &'a [PathBuf],
    /// A virtio NIC on QEMU's user network, else `-nic none`.
    pub network: bool,
    /// A reboot inside the guest boots again in the same QEMU; else
    /// `-no-reboot` (a reboot or power-off ends QEMU).
    pub reboot: bool,
    /// The guest's clock at power-on (`-rtc base=`, e.g.
    /// `2026-12-17T06:00:00`); `None`: the host's.
    pub rtc_base: Option<String>,
    pub until: &'a str,
    pub timeout: Duration,
}

impl Machine {
    /// With OVMF (UEFI).
    pub fn new(image: &Path) -> Machine {
        Machine::with_firmware(image, true)
    }

    /// With SeaBIOS (legacy BIOS), QEMU's default firmware.
    pub fn new_bios(image: &Path) -> Machine {
        Machine::with_firmware(image, false)
    }

    fn with_firmware(image: &Path, uefi: bool) -> Machine {
        let dir = tempfile::tempdir_in(image.parent().unwrap()).unwrap();
        let uefi = uefi.then(|| ovmf(dir.path()));
        let overlay = dir.path().join("boot.qcow2");
        let st = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(image)
            .arg(&overlay)
            .status()
            .expect("qemu-img (apt qemu-utils)");
        assert!(st.success());
        Machine {
            dir,
            uefi,
            overlay,
            power_ons: std::cell::Cell::new(0),
        }
    }

    /// Powers the machine on until the console shows `until` or `timeout`
    /// passes. Without `reboot`, a guest that powers itself off after
    /// `until` is given 60 s to do so (its disk then is as it left it);
    /// then QEMU is killed. Each power-on has its own console.
    pub fn power_on(&self, how: &PowerOn<'_>) -> Boot {
        let n = self.power_ons.get() + 1;
        self.power_ons.set(n);
        let console = self.dir.path().join(if n == 1 {
            "console.log".to_string()
        } else {
            format!("console-{n}.log")
        });
        let started = Instant::now();
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-accel", "tcg", "-m", "2048", "-smp", "2", "-nographic"])
            .args(["-monitor", "none", "-display", "none"])
            .args(if how.reboot {
                &[][..]
            } else {
                &["-no-reboot"][..]
            })
            // Servers have a hardware RNG; without one the guest's entropy
            // pool fills slowly under TCG and systemd-random-seed holds boots.
            .args(["-device", "virtio-rng-pci"]);
        if let Some(base) = &how.rtc_base {
            cmd.arg("-rtc").arg(format!("base={base},clock=host"));
        }
        if let Some((code, vars)) = &self.uefi {
            cmd.arg("-drive")
                .arg(format!(
                    "if=pflash,format=raw,readonly=on,file={}",
                    code.display()
                ))
                .arg("-drive")
                .arg(format!("if=pflash,format=raw,file={}", vars.display()));
        }
        let mut child = cmd
            .arg("-drive")
            .arg(format!(
                "file={},format=qcow2,if=virtio",
                self.overlay.display()
            ))
            .args(how.drives.iter().flat_map(|d| {
                [
                    "-drive".to_string(),
                    format!("file={},format=raw,if=virtio,readonly=on", d.display()),
                ]
            }))
            .args(if how.network {
                ["-nic", "user,model=virtio-net-pci"]
            } else {
                ["-nic", "none"]
            })
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("qemu-system-x86_64 (apt qemu-system-x86)");
        let mut secs = None;
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let text = std::fs::read(&console).unwrap_or_default();
            if String::from_utf8_lossy(&text).contains(how.until) {
                secs = Some(started.elapsed().as_secs_f64());
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                eprintln!("qemu exited early ({status}): {err}");
                break;
            }
            if started.elapsed() > how.timeout {
                break;
            }
        }
        if secs.is_some() && !how.reboot {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read(&console).unwrap_or_default();
        Boot {
            console: String::from_utf8_lossy(&text).into_owned(),
            secs,
        }
    }
}

/// The value of a `MK-CHECK key=value` console line (mk-image-check.service
/// in overlays/node).
pub fn check_value<'a>(console: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("MK-CHECK {key}=");
    console.lines().find_map(|l| {
        let i = l.find(&needle)?;
        Some(l[i + needle.len()..].trim_end_matches('\r').trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_are_read_from_console_lines() {
        let c = "[  1.0] image-check[378]: MK-CHECK selinux=enforcing\r\n[ 1.1] x: MK-CHECK root=ro,relatime\n";
        assert_eq!(check_value(c, "selinux"), Some("enforcing"));
        assert_eq!(check_value(c, "root"), Some("ro,relatime"));
        assert_eq!(check_value(c, "var"), None);
    }
}
