//! Our matcher judged by libselinux itself: Debian's reference policy
//! (selinux-policy-default, built with semodule as its postinst does),
//! every path of this machine's /etc, /usr, /var, /opt ... and a set of
//! tricky paths, looked up with `selabel_lookup_raw(3)` through Python's
//! ctypes. Every answer must agree.
//!
//! Needs: apt-get (the policy package is downloaded once into target/),
//! dpkg-deb, semodule (semodule-utils), python3 and libselinux1.

use mk_selinux::{FileType, Label};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Debian's selinux-policy-default, compiled into a root under target/
/// (cached: the download and semodule take ~20 s).
fn debian_policy_file_contexts() -> PathBuf {
    let base = target_dir().join("mk-selinux-test-policy");
    let root = base.join("root");
    let fc = root.join("etc/selinux/default/contexts/files/file_contexts");
    if fc.is_file() {
        return fc;
    }
    let work = base.join(format!("work.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    run(Command::new("apt-get")
        .args(["download", "selinux-policy-default"])
        .current_dir(&work));
    let deb = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("downloaded .deb");
    let wroot = work.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&wroot));
    std::fs::create_dir_all(wroot.join("var/lib/selinux")).unwrap();
    std::fs::write(
        wroot.join("etc/selinux/config"),
        "SELINUX=enforcing\nSELINUXTYPE=default\n",
    )
    .unwrap();
    let mods = std::fs::read_to_string(wroot.join("usr/share/selinux/default/.modules")).unwrap();
    let mut cmd = Command::new("semodule");
    cmd.arg("-p")
        .arg(&wroot)
        .args(["-X", "100", "-n", "-s", "default"]);
    for m in mods.split_whitespace() {
        cmd.arg(format!(
            "-i{}/usr/share/selinux/default/{m}.pp.bz2",
            wroot.display()
        ));
    }
    run(&mut cmd);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::rename(&wroot, &root).unwrap();
    let _ = std::fs::remove_dir_all(&work);
    assert!(fc.is_file(), "semodule wrote no {}", fc.display());
    fc
}

const JUDGE: &str = r#"
import ctypes, sys
lib = ctypes.CDLL("libselinux.so.1", use_errno=True)
class Opt(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("value", ctypes.c_char_p)]
SELABEL_CTX_FILE = 0
SELABEL_OPT_PATH = 3
lib.selabel_open.restype = ctypes.c_void_p
lib.selabel_open.argtypes = [ctypes.c_int, ctypes.POINTER(Opt), ctypes.c_uint]
lib.selabel_lookup_raw.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int]
lib.freecon.argtypes = [ctypes.c_void_p]
opts = (Opt * 1)(Opt(SELABEL_OPT_PATH, sys.argv[1].encode()))
h = lib.selabel_open(SELABEL_CTX_FILE, opts, 1)
if not h:
    sys.exit("selabel_open failed")
out = []
for line in sys.stdin.buffer:
    mode, path = line.rstrip(b"\n").split(b"\t", 1)
    con = ctypes.c_void_p()
    if lib.selabel_lookup_raw(h, ctypes.byref(con), path, int(mode)) == 0:
        out.append(ctypes.string_at(con.value))
        lib.freecon(con)
    else:
        out.append(b"-")
sys.stdout.buffer.write(b"\n".join(out) + b"\n")
"#;

/// libselinux's answer per (path, mode): the context or "-" (no match or
/// `<<none>>`: the library reports both as ENOENT).
fn libselinux(fc: &Path, queries: &[(String, u32)]) -> Vec<String> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(JUDGE)
        .arg(fc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut input = Vec::new();
    for (p, m) in queries {
        writeln!(input, "{m}\t{p}").unwrap();
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "judge failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn ours(l: Label) -> String {
    match l {
        Label::Context(c) => c.to_string(),
        Label::DoNotLabel | Label::NoMatch => "-".into(),
    }
}

#[test]
fn agrees_with_libselinux_on_every_path_of_a_real_root() {
    let fc_path = debian_policy_file_contexts();
    let fc = mk_selinux::load(&fc_path).unwrap();
    assert!(fc.len() > 5000, "{} specs", fc.len());

    let mut queries: Vec<(String, Option<FileType>)> = Vec::new();
    for top in ["/etc", "/usr", "/var", "/opt", "/srv", "/home", "/boot"] {
        if !Path::new(top).is_dir() {
            continue;
        }
        for (p, t) in mk_selinux::walk(Path::new(top)).unwrap() {
            let sys = if p == "/" {
                top.to_string()
            } else {
                format!("{top}{p}")
            };
            // /var/tmp is other tests' scratch space (real-disk roots of
            // thousands of files, which the policy leaves unlabelled):
            // what it holds depends on which test runs beside this one.
            if sys.starts_with("/var/tmp/") {
                continue;
            }
            queries.push((sys, Some(t)));
        }
    }
    assert!(queries.len() > 10_000, "only {} paths", queries.len());
    // Aliases, doubled slashes, every type with an unknown-type lookup, and
    // paths of a CentOS-like root that this machine lacks.
    for p in [
        "/",
        "/bin/bash",
        "/lib64/libc.so.6",
        "/lib/systemd/systemd",
        "/var/run/docker.sock",
        "/var/run",
        "/run/lock/x",
        "//usr//bin///ls",
        "/etc/systemd/system/multi-user.target.wants/mk-firstboot.service",
        "/etc/kubernetes/pki/ca.crt",
        "/var/lib/etcd/member/snap/db",
        "/var/lib/containerd/io.containerd.content.v1.content",
        "/usr/bin/containerd",
        "/usr/bin/kubelet",
        "/usr/libexec/mk/mk-firstboot",
        "/usr/lib/systemd/system/mk-firstboot.service",
        "/etc/selinux/default/policy/policy.33",
        "/home/user/.ssh/authorized_keys",
        "/root/.bashrc",
        "/tmp/x",
        "/lost+found",
        "/boot/efi/EFI/BOOT/BOOTX64.EFI",
        "/dev/ttyS0",
        "/proc",
        "/sys/fs/cgroup",
    ] {
        queries.push((p.to_string(), None));
        for t in [
            FileType::Regular,
            FileType::Directory,
            FileType::Symlink,
            FileType::CharDevice,
            FileType::BlockDevice,
            FileType::Socket,
            FileType::Fifo,
        ] {
            queries.push((p.to_string(), Some(t)));
        }
    }
    let modes: Vec<(String, u32)> = queries
        .iter()
        .map(|(p, t)| (p.clone(), t.map_or(0, |t| t.mode_bits())))
        .collect();
    let started = std::time::Instant::now();
    let mine: Vec<String> = queries
        .iter()
        .map(|(p, t)| ours(fc.lookup(p, *t)))
        .collect();
    eprintln!(
        "{} lookups in {:?} (single thread)",
        queries.len(),
        started.elapsed()
    );
    let theirs = libselinux(&fc_path, &modes);
    assert_eq!(theirs.len(), mine.len());
    let mut differ = Vec::new();
    for (i, (a, b)) in mine.iter().zip(&theirs).enumerate() {
        if a != b {
            differ.push(format!(
                "{} ({:?}): ours {a} [{}], libselinux {b}",
                queries[i].0,
                queries[i].1,
                fc.matching_spec(&queries[i].0, queries[i].1)
                    .unwrap_or_default()
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} lookups differ, e.g.:\n{}",
        differ.len(),
        mine.len(),
        differ[..differ.len().min(20)].join("\n")
    );
    // Not vacuous: most answers are real contexts, and several types occur.
    let labelled = mine.iter().filter(|c| *c != "-").count();
    assert!(labelled * 10 > mine.len() * 9, "{labelled}/{}", mine.len());
    let distinct: std::collections::BTreeSet<&String> = mine.iter().collect();
    assert!(distinct.len() > 50, "{} distinct contexts", distinct.len());
}

#[test]
fn alias_and_none_rules_match_libselinux_on_a_small_policy() {
    let d = tempfile::tempdir().unwrap();
    let fc = d.path().join("file_contexts");
    std::fs::write(
        &fc,
        "/.*\tsystem_u:object_r:default_t:s0\n\
         /a|/bb\tsystem_u:object_r:alt_t:s0\n\
         /usr/lib(/.*)?\tsystem_u:object_r:lib_t:s0\n\
         /usr/lib/x\tsystem_u:object_r:exact_t:s0\n\
         /usr/lib/x.*\tsystem_u:object_r:later_regex_t:s0\n\
         /run/.*\t<<none>>\n\
         /opt/d(/.*)?\t-d\tsystem_u:object_r:dir_t:s0\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("file_contexts.subs_dist"),
        "/lib64 /usr/lib\n/lib64/x /opt/d\n",
    )
    .unwrap();
    std::fs::write(d.path().join("file_contexts.subs"), "/data /lib64\n/r /\n").unwrap();
    std::fs::write(
        d.path().join("file_contexts.local"),
        "/usr/lib/y\tsystem_u:object_r:local_t:s0\n",
    )
    .unwrap();
    let ours_fc = mk_selinux::load(&fc).unwrap();
    let paths = [
        "/abc",
        "/x/bb",
        "/xbb",
        "/usr/lib/x",
        "/usr/lib/xy",
        "/usr/lib/y",
        "/lib64/x",
        "/lib64/x/q",
        "/lib64/z",
        "/data/x",
        "/data/z",
        "/r/usr/lib/z",
        "/r",
        "//usr//lib",
        "/run/u",
        "/run",
        "/opt/d/e",
    ];
    let mut q = Vec::new();
    let mut mine = Vec::new();
    for p in paths {
        for t in [None, Some(FileType::Directory), Some(FileType::Regular)] {
            q.push((p.to_string(), t.map_or(0, |t| t.mode_bits())));
            mine.push(ours(ours_fc.lookup(p, t)));
        }
    }
    let theirs = libselinux(&fc, &q);
    let differ: Vec<String> = q
        .iter()
        .zip(mine.iter().zip(&theirs))
        .filter(|(_, (a, b))| a != b)
        .map(|((p, m), (a, b))| format!("{p} mode {m:o}: ours {a}, libselinux {b}"))
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
