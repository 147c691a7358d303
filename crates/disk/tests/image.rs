//! End-to-end: build images from synthetic staging trees and judge them with
//! the real tools (sgdisk, fsck.vfat, e2fsck, debugfs, dumpe2fs, blkid,
//! mtools, qemu-img). Needs root (owners, mount for the full-disk case).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use mk_disk::layout::MIB;
use mk_disk::{build_image, BiosSpec, BootSpec, DiskError, DiskSpec, EspSpec, FsSpec};

const EPOCH: i64 = 1_700_000_000;

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| panic!("{cmd} not runnable: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let (good, text) = run(cmd, args);
    assert!(good, "{cmd} {args:?} failed:\n{text}");
    text
}

/// Deterministic pseudo-random bytes (incompressible content).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

struct Trees {
    esp: PathBuf,
    root: PathBuf,
    state: PathBuf,
}

fn staging(dir: &Path, root_data: usize) -> Trees {
    let esp = dir.join("esp");
    fs::create_dir_all(esp.join("EFI/BOOT")).unwrap();
    fs::create_dir_all(esp.join("mk/a")).unwrap();
    fs::write(esp.join("EFI/BOOT/BOOTX64.EFI"), bytes(1, 150_000)).unwrap();
    fs::write(esp.join("EFI/BOOT/grubx64.efi"), bytes(6, 120_000)).unwrap();
    fs::write(esp.join("mk/a/vmlinuz"), bytes(2, 300_000)).unwrap();
    fs::write(esp.join("mk/a/initramfs.img"), bytes(3, 200_000)).unwrap();

    let root = dir.join("root");
    for d in [
        "etc/sysconfig",
        "usr/bin",
        "usr/lib64",
        "var/lib",
        "home/user",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("etc/hostname"), "node-1\n").unwrap();
    fs::write(root.join("etc/sysconfig/readonly-root"), "READONLY=yes\n").unwrap();
    fs::write(root.join("etc/with space \"quoted\""), "x").unwrap();
    fs::write(root.join("usr/bin/su"), bytes(4, 40_000)).unwrap();
    fs::set_permissions(root.join("usr/bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(root.join("usr/lib64/libbig.so"), bytes(5, root_data)).unwrap();
    fs::hard_link(root.join("usr/bin/su"), root.join("usr/bin/su-link")).unwrap();
    symlink("../usr/bin/su", root.join("etc/su-link")).unwrap();
    symlink(
        "/".to_string() + &"long/".repeat(20) + "target",
        root.join("etc/long-link"),
    )
    .unwrap();
    fs::write(root.join("home/user/.profile"), "# user\n").unwrap();
    std::os::unix::fs::chown(root.join("home/user"), Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::chown(root.join("home/user/.profile"), Some(1000), Some(1000)).unwrap();
    for i in 0..50 {
        fs::write(
            root.join(format!("usr/lib64/f{i:03}")),
            bytes(100 + i, 3000),
        )
        .unwrap();
    }

    let state = dir.join("state");
    fs::create_dir_all(state.join("var/log")).unwrap();
    fs::create_dir_all(state.join("etc/kubernetes")).unwrap();
    fs::write(state.join("var/log/README"), "logs\n").unwrap();
    Trees { esp, root, state }
}

fn labels() -> BTreeMap<String, String> {
    [
        ("/", "system_u:object_r:root_t:s0"),
        ("/etc", "system_u:object_r:etc_t:s0"),
        ("/etc/hostname", "system_u:object_r:etc_t:s0"),
        ("/usr/bin/su", "system_u:object_r:su_exec_t:s0"),
        ("/etc/su-link", "system_u:object_r:etc_t:s0"),
        ("/etc/with space \"quoted\"", "system_u:object_r:etc_t:s0"),
        ("/home/user", "unconfined_u:object_r:user_home_dir_t:s0"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

fn spec(t: &Trees, out: &Path, seed: &str) -> DiskSpec {
    let mut esp = EspSpec::new(&t.esp);
    esp.size = 40 * MIB;
    esp.boot = Some(BootSpec {
        vendor_dir: "EFI/debian".into(),
        version: "1.4.0".into(),
        extra_args: vec!["console=ttyS0".into()],
    });
    DiskSpec {
        output: out.to_path_buf(),
        qcow2: Some(out.with_extension("qcow2")),
        seed: seed.into(),
        source_date_epoch: EPOCH,
        esp,
        bios: Some(BiosSpec {
            boot_img: fake_boot_img(),
            core_img: fake_core_img(),
        }),
        root: FsSpec {
            tree: Some(t.root.clone()),
            size: None,
            label: "mk-root".into(),
            selinux_labels: labels(),
        },
        state: FsSpec {
            tree: Some(t.state.clone()),
            size: Some(32 * MIB),
            label: "mk-state".into(),
            selinux_labels: BTreeMap::from([(
                "/var/log".to_string(),
                "system_u:object_r:var_log_t:s0".to_string(),
            )]),
        },
    }
}

/// GRUB's boot.img as far as the setup cares: a jump, the drive check's
/// jump at 0x66, 0x55aa. (tests/grub.rs and the QEMU BIOS boot use real ones.)
fn fake_boot_img() -> Vec<u8> {
    let mut b = bytes(7, 512);
    b[0x3..0x5a].fill(0);
    b[0x66..0x68].copy_from_slice(&[0xeb, 0x05]);
    b[510..].copy_from_slice(&[0x55, 0xaa]);
    b
}

/// A 20-sector core.img with grub-mkimage's default block list.
fn fake_core_img() -> Vec<u8> {
    let mut c = bytes(8, 20 * 512 - 100);
    c[512 - 24..512 - 12].fill(0);
    c[512 - 12..512 - 4].copy_from_slice(&2u64.to_le_bytes());
    c[512 - 4..512 - 2].copy_from_slice(&19u16.to_le_bytes());
    c[512 - 2..512].copy_from_slice(&0x820u16.to_le_bytes());
    c[512 + 0x14..512 + 0x16].copy_from_slice(&0x400u16.to_le_bytes());
    c
}

fn img_at(img: &Path, offset: u64) -> String {
    format!("{}?offset={offset}", img.display())
}

/// Sets every staging path's times to `t` (symlinks themselves too).
fn touch_all(dir: &Path, t: i64) {
    ok(
        "find",
        &[
            dir.to_str().unwrap(),
            "-exec",
            "touch",
            "-h",
            "-d",
            &format!("@{t}"),
            "{}",
            "+",
        ],
    );
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn image_passes_the_tools_carries_labels_and_is_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let trees = staging(tmp.path(), 3 * MIB as usize);
    let out_a = tmp.path().join("a/node.raw");
    let out_b = tmp.path().join("b/node.raw");
    let out_c = tmp.path().join("c/node.raw");
    for d in ["a", "b", "c"] {
        fs::create_dir(tmp.path().join(d)).unwrap();
    }

    touch_all(tmp.path(), 1_500_000_000);
    let a = build_image(&spec(&trees, &out_a, "bundle:1 node-1")).unwrap();
    touch_all(tmp.path(), 1_600_000_123);
    let b = build_image(&spec(&trees, &out_b, "bundle:1 node-1")).unwrap();
    let c = build_image(&spec(&trees, &out_c, "bundle:1 node-2")).unwrap();

    // Reproducible: same SHA-256 on disk, raw and qcow2, despite new mtimes.
    let sha = |p: &Path| ok("sha256sum", &[p.to_str().unwrap()])[..64].to_string();
    assert_eq!(sha(&out_a), sha(&out_b));
    assert_eq!(sha(&out_a), a.raw_sha256);
    assert_eq!(a.raw_sha256, b.raw_sha256);
    assert_eq!(
        sha(&out_a.with_extension("qcow2")),
        sha(&out_b.with_extension("qcow2"))
    );
    // Another seed: other identifiers, other bytes.
    assert_ne!(a.raw_sha256, c.raw_sha256);
    assert_ne!(a.layout.disk_guid, c.layout.disk_guid);
    assert_ne!(a.layout.root.guid, c.layout.root.guid);
    assert_ne!(a.layout.root_fs.uuid, c.layout.root_fs.uuid);
    // Nothing but the outputs is left beside them.
    assert_eq!(listing(&tmp.path().join("a")), ["node.qcow2", "node.raw"]);

    let img = out_a.to_str().unwrap();
    let l = &a.layout;

    // GPT: verified by sgdisk, with our GUIDs and types.
    assert!(ok("sgdisk", &["-v", img]).contains("No problems found"));
    let table = ok("sgdisk", &["-p", img]);
    assert!(
        table
            .to_lowercase()
            .contains(&format!("disk identifier (guid): {}", l.disk_guid)),
        "{table}"
    );
    for (n, p, type_name) in [
        (1, &l.esp, "EFI system partition"),
        (2, &l.bios_boot, "BIOS boot partition"),
        (3, &l.root, "Linux x86-64 root (/)"),
        (4, &l.root_b, "Linux x86-64 root (/)"),
        (5, &l.state, "Linux filesystem"),
    ] {
        let info = ok("sgdisk", &["-i", &n.to_string(), img]).to_lowercase();
        assert!(
            info.contains(&format!("partition unique guid: {}", p.guid)),
            "{info}"
        );
        assert!(
            info.contains(&format!("({})", type_name.to_lowercase())),
            "{info}"
        );
        assert!(
            info.contains(&format!("first sector: {} ", p.offset / 512)),
            "{info}"
        );
        assert!(
            info.contains(&format!("partition name: '{}'", p.name)),
            "{info}"
        );
    }

    // ESP: fsck.vfat on a copy of the partition (dd, independent of our code).
    let esp_copy = tmp.path().join("esp.img");
    ok(
        "dd",
        &[
            &format!("if={img}"),
            &format!("of={}", esp_copy.display()),
            "bs=1M",
            &format!("skip={}", l.esp.offset / MIB),
            &format!("count={}", l.esp.size / MIB),
            "status=none",
        ],
    );
    let esp = esp_copy.to_str().unwrap();
    ok("fsck.vfat", &["-n", esp]);
    let blkid = ok("blkid", &["-p", "-o", "export", esp]);
    let serial = format!("{:08X}", l.esp_serial);
    assert!(
        blkid.contains(&format!("UUID={}-{}\n", &serial[..4], &serial[4..])),
        "{blkid}"
    );
    assert!(blkid.contains("TYPE=vfat"), "{blkid}");
    assert!(blkid.contains("VERSION=FAT32"), "{blkid}");
    // The boot files per the boot contract (docs/image.md), judged by
    // mtools and GRUB's own tools.
    let files = ok("mdir", &["-i", esp, "-/", "-b", "::/"]);
    let mut files: Vec<&str> = files.lines().filter(|l| !l.ends_with('/')).collect();
    files.sort();
    assert_eq!(
        files,
        [
            "::/EFI/BOOT/BOOTX64.EFI",
            "::/EFI/BOOT/grubx64.efi",
            "::/EFI/debian/grub.cfg",
            "::/EFI/mk/grub.cfg",
            "::/EFI/mk/grubenv",
            "::/mk/a/initramfs.img",
            "::/mk/a/slot.cfg",
            "::/mk/a/vmlinuz",
        ]
    );
    let grub_cfg = ok("mtype", &["-i", esp, "::/EFI/mk/grub.cfg"]);
    for slot in [&l.root, &l.root_b] {
        assert!(
            grub_cfg.contains(&format!("set mk_root=PARTUUID={};", slot.guid)),
            "{grub_cfg}"
        );
    }
    let cfg_copy = tmp.path().join("grub.cfg");
    fs::write(&cfg_copy, &grub_cfg).unwrap();
    ok("grub-script-check", &[cfg_copy.to_str().unwrap()]);
    assert_eq!(
        ok("mtype", &["-i", esp, "::/EFI/debian/grub.cfg"]),
        "configfile /EFI/mk/grub.cfg\n"
    );
    assert_eq!(
        ok("mtype", &["-i", esp, "::/mk/a/slot.cfg"]),
        "set mk_version=\"1.4.0\"\nset mk_args=\"ro cgroup.memory=nokmem selinux=1 security=selinux enforcing=1 panic=10 console=ttyS0\"\n"
    );
    let env = tmp.path().join("grubenv");
    ok(
        "mcopy",
        &["-i", esp, "::/EFI/mk/grubenv", env.to_str().unwrap()],
    );
    assert_eq!(fs::metadata(&env).unwrap().len(), 1024);
    assert_eq!(
        ok("grub-editenv", &[env.to_str().unwrap(), "list"]),
        "mk_default=a\nmk_next=\nmk_tries=0\n"
    );
    // GRUB's own FAT driver reads what GRUB will read at boot.
    let listing = ok("grub-fstest", &[esp, "ls", "/EFI/mk/"]);
    for f in ["grub.cfg", "grubenv"] {
        assert!(listing.split_whitespace().any(|w| w == f), "{listing}");
    }
    let seen = ok("grub-fstest", &[esp, "cat", "/mk/a/slot.cfg"]);
    assert!(seen.starts_with("set mk_version=\"1.4.0\"\n"), "{seen}");

    // BIOS: boot.img's code in the MBR (disk signature and the protective
    // partition entry untouched: sgdisk -v above), pointing at core.img at
    // the start of the BIOS boot partition, whose block list covers the rest.
    let mut mbr = [0u8; 512];
    fs::File::open(&out_a)
        .unwrap()
        .read_exact_at(&mut mbr, 0)
        .unwrap();
    let boot = fake_boot_img();
    assert_eq!(&mbr[0x5c..0x64], &(l.bios_boot.offset / 512).to_le_bytes());
    assert_eq!(&mbr[0x66..0x68], &[0x90, 0x90]);
    assert_eq!(&mbr[0x68..440], &boot[0x68..440]);
    assert_eq!(mbr[0x1c2], 0xee, "protective MBR entry");
    assert_eq!(&mbr[510..], &[0x55, 0xaa]);
    let mut core = vec![0u8; 20 * 512];
    fs::File::open(&out_a)
        .unwrap()
        .read_exact_at(&mut core, l.bios_boot.offset)
        .unwrap();
    assert_eq!(
        &core[512 - 12..512 - 4],
        &(l.bios_boot.offset / 512 + 1).to_le_bytes()
    );
    assert_eq!(&core[512 - 4..512 - 2], &19u16.to_le_bytes());
    assert_eq!(&core[512..20 * 512 - 100], &fake_core_img()[512..]);
    let back = tmp.path().join("BOOTX64.back");
    ok(
        "mcopy",
        &["-i", esp, "::/EFI/BOOT/BOOTX64.EFI", back.to_str().unwrap()],
    );
    assert_eq!(fs::read(&back).unwrap(), bytes(1, 150_000));
    let dir = ok("mdir", &["-i", esp, "::/EFI/BOOT"]);
    assert!(
        dir.contains("2023-11-14  22:13"),
        "FAT dates must be SOURCE_DATE_EPOCH:\n{dir}"
    );

    // ext4: clean for e2fsck, our UUIDs, features CentOS 7 (1.42.9) knows.
    for (p, ids, label) in [
        (&l.root, l.root_fs, "mk-root"),
        (&l.state, l.state_fs, "mk-state"),
    ] {
        let at = img_at(&out_a, p.offset);
        ok("e2fsck", &["-fn", &at]);
        let sb = ok("dumpe2fs", &["-h", &at]);
        let field = |name: &str| {
            sb.lines()
                .find(|x| x.starts_with(name))
                .unwrap_or_else(|| panic!("{name} missing:\n{sb}"))
                .split_once(':')
                .unwrap()
                .1
                .trim()
                .to_string()
        };
        assert_eq!(field("Filesystem UUID"), ids.uuid.to_string());
        assert_eq!(field("Directory Hash Seed"), ids.hash_seed.to_string());
        assert_eq!(field("Filesystem volume name"), label);
        let known_1_42_9 = [
            "has_journal",
            "ext_attr",
            "resize_inode",
            "dir_index",
            "filetype",
            "extent",
            "flex_bg",
            "sparse_super",
            "large_file",
            "huge_file",
            "uninit_bg",
            "dir_nlink",
            "extra_isize",
        ];
        for f in field("Filesystem features").split_whitespace() {
            assert!(
                known_1_42_9.contains(&f),
                "feature {f} unknown to e2fsprogs 1.42.9"
            );
        }
        let part = ok(
            "blkid",
            &["-p", "-o", "export", "-O", &p.offset.to_string(), img],
        );
        assert!(part.contains(&format!("UUID={}\n", ids.uuid)), "{part}");
        assert!(part.contains("TYPE=ext4"), "{part}");
    }
    // Slot B is empty: nothing for blkid to find (exit 2), and its first
    // MiB is zeros. (core.img is no filesystem either.)
    for p in [&l.root_b, &l.bios_boot] {
        let probe = Command::new("blkid")
            .args(["-p", "-O", &p.offset.to_string(), img])
            .output()
            .unwrap();
        assert_eq!(probe.status.code(), Some(2), "{}: {probe:?}", p.name);
    }
    let mut head = vec![0u8; MIB as usize];
    fs::File::open(&out_a)
        .unwrap()
        .read_exact_at(&mut head, l.root_b.offset)
        .unwrap();
    assert!(head.iter().all(|&b| b == 0), "slot B is not empty");

    // Labels (with the trailing NUL), owners, modes, fixed times.
    let root_at = img_at(&out_a, l.root.offset);
    let debugfs = |req: &str| ok("debugfs", &["-R", req, &root_at]);
    for (path, label) in labels() {
        let got = debugfs(&format!(
            "ea_get \"{}\" security.selinux",
            path.replace('"', "\"\"")
        ));
        assert!(got.contains(&format!("\"{label}\\000\"")), "{path}: {got}");
    }
    let su = debugfs("stat /usr/bin/su");
    assert!(su.contains("Mode:  04755"), "{su}");
    assert!(su.contains("Links: 2"), "hard link kept: {su}");
    let hex = format!("0x{EPOCH:08x}");
    for f in ["ctime", " atime", " mtime", "crtime"] {
        assert!(
            su.contains(&format!("{f}: {hex}:00000000")),
            "{f} not {hex}: {su}"
        );
    }
    let home = debugfs("stat /home/user/.profile");
    assert!(home.contains("User:  1000   Group:  1000"), "{home}");
    let link = debugfs("stat /etc/long-link");
    assert!(
        link.contains("Type: symlink") && link.contains(&format!("mtime: {hex}")),
        "{link}"
    );
    let ls = debugfs("ls -l /etc");
    assert!(ls.contains("with space \"quoted\""), "{ls}");
    let var = ok(
        "debugfs",
        &[
            "-R",
            "ea_get /var/log security.selinux",
            &img_at(&out_a, l.state.offset),
        ],
    );
    assert!(var.contains("var_log_t"), "{var}");

    // qcow2: checked by qemu-img and the same disk.
    let q = out_a.with_extension("qcow2");
    ok("qemu-img", &["check", q.to_str().unwrap()]);
    ok(
        "qemu-img",
        &[
            "compare",
            "-f",
            "qcow2",
            "-F",
            "raw",
            q.to_str().unwrap(),
            img,
        ],
    );
}

#[test]
fn too_small_root_fails_before_writing_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let trees = staging(tmp.path(), 20 * MIB as usize);
    let outdir = tmp.path().join("out");
    fs::create_dir(&outdir).unwrap();
    let mut s = spec(&trees, &outdir.join("node.raw"), "s");
    s.root.size = Some(16 * MIB);
    let err = build_image(&s).unwrap_err().to_string();
    assert!(err.starts_with("root content is about "), "{err}");
    assert!(err.ends_with("partition is 16 MiB"), "{err}");
    assert!(listing(&outdir).is_empty(), "{:?}", listing(&outdir));
}

#[test]
fn bad_inputs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let trees = staging(tmp.path(), 1000);
    let outdir = tmp.path().join("out");
    fs::create_dir(&outdir).unwrap();
    let out = outdir.join("node.raw");

    let mut s = spec(&trees, &out, "s");
    s.root
        .selinux_labels
        .insert("/etc/missing".into(), "system_u:object_r:etc_t:s0".into());
    let err = build_image(&s).unwrap_err().to_string();
    assert!(
        err.contains("/etc/missing") && err.contains("no such path in the root staging tree"),
        "{err}"
    );

    let mut s = spec(&trees, &out, "s");
    s.root
        .selinux_labels
        .insert("/etc/hostname".into(), "etc_t".into());
    let err = build_image(&s).unwrap_err().to_string();
    assert!(
        err.contains("/etc/hostname") && err.contains("not an SELinux context"),
        "{err}"
    );

    symlink("BOOTX64.EFI", trees.esp.join("EFI/BOOT/link")).unwrap();
    let err = build_image(&spec(&trees, &out, "s"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("EFI/BOOT/link") && err.contains("only regular files"),
        "{err}"
    );
    fs::remove_file(trees.esp.join("EFI/BOOT/link")).unwrap();

    let mut s = spec(&trees, &out, "s");
    s.state.size = None;
    let err = build_image(&s).unwrap_err();
    assert!(matches!(err, DiskError::Layout(_)), "{err}");

    let mut s = spec(&trees, &out, "s");
    s.source_date_epoch = 0;
    assert!(build_image(&s)
        .unwrap_err()
        .to_string()
        .contains("source_date_epoch 0"));
    assert!(listing(&outdir).is_empty(), "{:?}", listing(&outdir));
}

/// A tmpfs of `mib` MiB mounted for the test's lifetime.
struct Tmpfs(PathBuf);
impl Tmpfs {
    fn new(at: &Path, mib: u64) -> Tmpfs {
        fs::create_dir_all(at).unwrap();
        ok(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m"),
                "tmpfs",
                at.to_str().unwrap(),
            ],
        );
        Tmpfs(at.to_path_buf())
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_fails_clearly_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // Content larger than the free space: refused before writing.
    let trees = staging(tmp.path(), 30 * MIB as usize);
    let small = Tmpfs::new(&tmp.path().join("small"), 24);
    let err = build_image(&spec(&trees, &small.0.join("node.raw"), "s")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DiskError::NoSpace { .. }), "{msg}");
    assert!(
        msg.contains("MiB free") && msg.contains("node.raw"),
        "{msg}"
    );
    assert!(listing(&small.0).is_empty());
    drop(small);

    // Content that passes the pre-check, but writing runs out of space
    // (in mke2fs or in our own writes, depending on what fills up first).
    let tmp2 = tempfile::tempdir().unwrap();
    let trees = staging(tmp2.path(), 22 * MIB as usize);
    let small = Tmpfs::new(&tmp2.path().join("small"), 24);
    let err = build_image(&spec(&trees, &small.0.join("node.raw"), "s")).unwrap_err();
    let tool_or_io = matches!(err, DiskError::Tool { .. } | DiskError::Io { .. });
    // As the command line prints it: the step, then its cause.
    let msg = format!("{:#}", anyhow::Error::new(err));
    assert!(tool_or_io, "{msg}");
    assert!(
        msg.contains("No space left on device") || msg.contains("Could not allocate"),
        "{msg}"
    );
    assert!(
        msg.contains(small.0.to_str().unwrap()),
        "names where: {msg}"
    );
    assert!(listing(&small.0).is_empty(), "{:?}", listing(&small.0));
}

#[test]
fn mke2fs_out_of_space_carries_its_message() {
    // Below the image-level pre-check: the tool's own ENOSPC report.
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("big"), bytes(9, 12 * MIB as usize)).unwrap();
    let small = Tmpfs::new(&tmp.path().join("small"), 8);
    let img = small.0.join("disk.raw");
    fs::File::create(&img).unwrap().set_len(64 * MIB).unwrap();
    let (entries, stats) = mk_disk::tree::scan(&tree).unwrap();
    let layout = mk_disk::layout::plan(&mk_disk::layout::LayoutInput {
        seed: "s".into(),
        esp_size: 36 * MIB,
        root_size: 24 * MIB,
        state_size: 8 * MIB,
    })
    .unwrap();
    let err = mk_disk::ext4::write_ext4(&mk_disk::ext4::Ext4Job {
        part: "root",
        image: &img,
        offset: MIB,
        size: 24 * MIB,
        tree: &tree,
        entries: &entries,
        selinux_labels: &BTreeMap::new(),
        ids: layout.root_fs,
        volume_label: "r",
        inodes: mk_disk::layout::ext4_inodes(&stats, 24 * MIB),
        reserved_percent: 0,
        epoch: EPOCH,
        scratch: tmp.path(),
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DiskError::Tool { .. }), "{msg}");
    assert!(
        msg.starts_with("writing the root filesystem: `mke2fs "),
        "{msg}"
    );
    assert!(msg.contains("No space left on device"), "{msg}");
}
