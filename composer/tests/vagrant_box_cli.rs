//! `mk-compose vagrant-box`, judged by Debian's vagrant and vagrant-libvirt:
//! `vagrant box add` accepts the box for the libvirt provider, and
//! `vagrant validate` accepts vagrant/Vagrantfile together with the box's
//! own Vagrantfile (no libvirtd needed for either). Bad input is refused
//! naming the file, nothing written.

mod common;
#[path = "../../crates/vagrantbox/tests/common/mod.rs"]
mod disk;

use common::{mk, names, run_err, run_ok, text};
use std::path::Path;
use std::process::Command;

const VAGRANTFILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../vagrant/Vagrantfile");

/// `vagrant` with its state in `home` (no network: no version checks).
fn vagrant(home: &Path) -> Command {
    let mut c = Command::new("vagrant");
    c.env("VAGRANT_HOME", home)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_DEFAULT_PROVIDER", "libvirt")
        .env_remove("VAGRANT_CWD");
    c
}

fn box_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("mk-test-{}-{nanos:x}", std::process::id())
}

#[test]
fn vagrant_adds_the_box_and_validates_the_cluster_vagrantfile() {
    let dir = tempfile::tempdir().unwrap();
    let raw = disk::raw_disk(dir.path(), "node.raw", true);
    let boxfile = dir.path().join("mk.box");
    let o = run_ok(
        mk().args(["vagrant-box", "--image"])
            .arg(&raw)
            .arg("--out")
            .arg(&boxfile)
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let sha = mk_durable::sha256_file(&boxfile).unwrap();
    assert_eq!(stdout.trim(), format!("{sha}  {}", boxfile.display()));

    let home = dir.path().join("vagrant-home");
    let name = box_name();
    run_ok(
        vagrant(&home)
            .args(["box", "add", "--name", &name])
            .arg(&boxfile),
    );
    let list = run_ok(vagrant(&home).args(["box", "list"]));
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.lines()
            .any(|l| l.trim() == format!("{name} (libvirt, 0)")),
        "{list}"
    );
    // Where vagrant unpacked it: the box's files as written.
    let unpacked = home.join("boxes").join(&name).join("0").join("libvirt");
    assert_eq!(
        names(&unpacked),
        ["Vagrantfile", "box.img", "metadata.json"]
    );

    // vagrant/Vagrantfile with this box: vagrant loads the box's
    // Vagrantfile too and checks every libvirt setting of both.
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::copy(VAGRANTFILE, project.join("Vagrantfile")).unwrap();
    let o = run_ok(
        vagrant(&home)
            .arg("validate")
            .current_dir(&project)
            .env("MK_BOX", &name),
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("validated successfully"),
        "{}",
        text(&o)
    );
    // validate judges: a setting vagrant-libvirt does not know fails it.
    std::fs::write(
        project.join("Vagrantfile"),
        std::fs::read_to_string(VAGRANTFILE).unwrap().replace(
            "libvirt.memory = node[:memory]",
            "libvirt.memory = node[:memory]\n        libvirt.no_such_setting = 1",
        ),
    )
    .unwrap();
    let o = vagrant(&home)
        .arg("validate")
        .current_dir(&project)
        .env("MK_BOX", &name)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no_such_setting"), "{}", text(&o));

    run_ok(vagrant(&home).args(["box", "remove", "--force", &name]));
    let list = run_ok(vagrant(&home).args(["box", "list"]));
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&name),
        "{}",
        text(&list)
    );
}

#[test]
fn bad_images_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mk.box");
    let cli = |image: &Path| {
        let mut c = mk();
        c.args(["vagrant-box", "--image"])
            .arg(image)
            .arg("--out")
            .arg(&out);
        c
    };

    let e = run_err(&mut cli(&dir.path().join("absent.qcow2")));
    assert!(e.contains("absent.qcow2"), "{e}");

    // A production image (no Vagrant overlay) is not boxed.
    let prod = disk::raw_disk(dir.path(), "prod.raw", false);
    let e = run_err(&mut cli(&prod));
    assert!(
        e.contains("prod.raw") && e.contains("not a Vagrant build"),
        "{e}"
    );

    // A tampered qcow2: its L1 table offset points past the end.
    let q = disk::to_qcow2(&disk::raw_disk(dir.path(), "node.raw", true));
    let mut bytes = std::fs::read(&q).unwrap();
    bytes[40..48].copy_from_slice(&(1u64 << 40).to_be_bytes());
    std::fs::write(&q, &bytes).unwrap();
    let e = run_err(&mut cli(&q));
    assert!(
        e.contains("node.qcow2") && e.contains("qemu-img check"),
        "{e}"
    );

    assert!(!out.exists());
    assert!(
        names(dir.path()).iter().all(|n| !n.starts_with('.')),
        "temporary files left: {:?}",
        names(dir.path())
    );
}

/// vagrant/overlay packages (mk-image's overlay reader, as `mk-compose
/// image` does) into an RPM that rpm reads with the vagrant user's files,
/// the insecure key and the marker mk-compose vagrant-box looks for.
#[test]
fn the_vagrant_overlay_packages_with_the_marker_and_the_insecure_key() {
    let overlay_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vagrant/overlay");
    let overlay = mk_image::overlay::Overlay::read(&overlay_dir).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rpm = overlay.build_rpm(dir.path(), 1_700_000_000).unwrap();
    let dump = run_ok(Command::new("rpm").args(["-qp", "--dump"]).arg(&rpm));
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    // --dump: path size mtime digest mode owner group config doc rdev symlink
    let line = |path: &str| -> Vec<String> {
        dump.lines()
            .find(|l| l.split_whitespace().next() == Some(path))
            .unwrap_or_else(|| panic!("{path} not in\n{dump}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let keys = line("/var/lib/vagrant/.ssh/authorized_keys");
    assert_eq!(
        &keys[4..8],
        ["0100600", "vagrant", "vagrant", "1"],
        "{dump}"
    );
    assert_eq!(
        &line("/var/lib/vagrant/.ssh")[4..7],
        ["040700", "vagrant", "vagrant"]
    );
    assert_eq!(
        &line("/etc/sudoers.d/vagrant")[4..7],
        ["0100440", "root", "root"]
    );
    line(mk_vagrantbox::marker::MARKER);
    let requires = run_ok(Command::new("rpm").args(["-qp", "--requires"]).arg(&rpm));
    let requires = String::from_utf8_lossy(&requires.stdout);
    for r in ["openssh-server", "sudo", "mk-kickstart-settings"] {
        assert!(requires.lines().any(|l| l.trim() == r), "{requires}");
    }
    let marker =
        std::fs::read_to_string(overlay_dir.join("root/usr/lib/mk/vagrant-build")).unwrap();
    assert_eq!(
        marker.lines().next(),
        Some(mk_vagrantbox::marker::MARKER_HEADER)
    );
    let key =
        std::fs::read_to_string(overlay_dir.join("root/var/lib/vagrant/.ssh/authorized_keys"))
            .unwrap();
    assert!(key.ends_with("vagrant insecure public key\n"), "{key}");
    // The same key Debian's vagrant logs in with.
    let shipped = run_ok(Command::new("sh").args([
        "-c",
        "cat /usr/share/rubygems-integration/all/gems/vagrant-[0-9]*/keys/vagrant.pub",
    ]));
    assert_eq!(key.trim(), String::from_utf8_lossy(&shipped.stdout).trim());
}

const USER_LINE: &str = "user --name=mkadmin --uid=1000 --gid=1000 --groups=wheel \
                         --homedir=/home/mkadmin --shell=/bin/bash --lock\n";

/// vagrant/centos-7.6-vagrant.ks: the production kickstart with the
/// vagrant user added after the admin account.
fn vagrant_kickstart(production: &str) -> String {
    let header = "# GENERATED: kickstart/centos-7.6-node.ks plus the vagrant user below (the\n\
# lines after `user --name=mkadmin`). For Vagrant boxes only, never for\n\
# production. composer/tests/vagrant_box_cli.rs checks it is current;\n\
# regenerate with MK_UPDATE_VAGRANT_KS=1 cargo nextest run -p mk-compose --test vagrant_box_cli.\n";
    let block = "# Vagrant builds only (vagrant/, docs/vagrant.md): the user Vagrant logs in\n\
# as, with its home on the state partition (Vagrant replaces the insecure\n\
# key there at the first `vagrant up`; the root is read-only). The overlay\n\
# vagrant/overlay ships its key, sudo rule and sshd host-key setup.\n\
group --name=vagrant --gid=1001\n\
user --name=vagrant --uid=1001 --gid=1001 --groups=wheel --homedir=/var/lib/vagrant --shell=/bin/bash --lock\n";
    assert_eq!(
        production.matches(USER_LINE).count(),
        1,
        "kickstart/centos-7.6-node.ks: the mkadmin user line changed; update USER_LINE"
    );
    format!(
        "{header}{}",
        production.replace(USER_LINE, &format!("{USER_LINE}{block}"))
    )
}

/// The Vagrant recipe is the production one plus the vagrant user and
/// overlay; production recipes never list the overlay.
#[test]
fn the_vagrant_recipe_is_production_plus_the_vagrant_user_and_overlay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let production = std::fs::read_to_string(root.join("kickstart/centos-7.6-node.ks")).unwrap();
    let ks_path = root.join("vagrant/centos-7.6-vagrant.ks");
    let expected = vagrant_kickstart(&production);
    if std::env::var_os("MK_UPDATE_VAGRANT_KS").is_some() {
        mk_durable::write_atomic(&ks_path, expected.as_bytes()).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&ks_path).unwrap(),
        expected,
        "{} is stale: MK_UPDATE_VAGRANT_KS=1 cargo nextest run -p mk-compose --test vagrant_box_cli",
        ks_path.display()
    );
    assert!(!production.contains("vagrant"));

    let recipe_path = root.join("vagrant/image.yaml");
    let recipe = mk_kickstart::ImageRecipe::load(&recipe_path).unwrap();
    let ks = recipe
        .load_kickstart(&recipe_path.display().to_string())
        .unwrap();
    let user = ks.users.iter().find(|u| u.name == "vagrant").unwrap();
    assert_eq!(user.homedir.as_deref(), Some("/var/lib/vagrant"));
    let overlays: Vec<_> = recipe
        .overlays
        .iter()
        .map(|p| p.canonicalize().unwrap())
        .collect();
    assert_eq!(
        overlays,
        [
            root.join("overlays/node").canonicalize().unwrap(),
            root.join("vagrant/overlay").canonicalize().unwrap()
        ]
    );
    // The example (production-like) recipe does not list it.
    let example = mk_kickstart::ImageRecipe::load(&root.join("examples/image/image.yaml")).unwrap();
    assert!(example
        .overlays
        .iter()
        .all(|p| !p.to_string_lossy().contains("vagrant")));
}
