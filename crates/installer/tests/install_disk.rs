//! Installing onto file-backed disks: a synthetic node image laid out like
//! crates/disk's (esp, bios-boot, root-a, root-b, state; made with sgdisk),
//! judged by sgdisk -v and by reading both GPTs with the `gpt` crate.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use mk_installer::write::{install, ImageSpec, InstallError, Options};
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("tool runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// A 40 MiB image: five partitions filled with distinct pseudo-random bytes.
fn image(dir: &Path) -> (PathBuf, ImageSpec) {
    let raw = dir.join("node.raw");
    File::create(&raw).unwrap().set_len(40 * MIB).unwrap();
    run(Command::new("sgdisk")
        .args(["-n", "1:1M:+8M", "-t", "1:ef00", "-c", "1:esp"])
        .args(["-n", "2:0:+1M", "-t", "2:ef02", "-c", "2:bios-boot"])
        .args(["-n", "3:0:+8M", "-t", "3:8304", "-c", "3:root-a"])
        .args(["-n", "4:0:+8M", "-t", "4:8304", "-c", "4:root-b"])
        .args(["-n", "5:0:0", "-t", "5:8300", "-c", "5:state"])
        .arg(&raw));
    let mut f = std::fs::OpenOptions::new().write(true).open(&raw).unwrap();
    let mut x = 0x1234_5678_9abc_def0u64;
    f.seek(SeekFrom::Start(MIB)).unwrap();
    // Up to the backup GPT (the last 33 sectors stay as sgdisk wrote them).
    let mut buf = vec![0u8; (38 * MIB) as usize];
    for b in buf.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    f.write_all(&buf).unwrap();
    drop(f);
    let bytes = std::fs::read(&raw).unwrap();
    let spec = ImageSpec {
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
    };
    (raw, spec)
}

fn zst(raw: &Path) -> Vec<u8> {
    zstd::encode_all(File::open(raw).unwrap(), 3).unwrap()
}

fn disk(dir: &Path, name: &str, mib: u64) -> PathBuf {
    let p = dir.join(name);
    let f = File::create(&p).unwrap();
    f.set_len(mib * MIB).unwrap();
    // Old content: a disk that had another OS on it.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .write_all(&[0xa5; 4096])
        .unwrap();
    p
}

fn parts(path: &Path) -> Vec<(String, u64, u64)> {
    let g = gpt::GptConfig::new().writable(false).open(path).unwrap();
    g.partitions()
        .values()
        .filter(|p| p.is_used())
        .map(|p| (p.name.clone(), p.first_lba, p.last_lba))
        .collect()
}

fn bytes(path: &Path, offset: u64, len: u64) -> Vec<u8> {
    let mut f = File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut b = vec![0u8; len as usize];
    f.read_exact(&mut b).unwrap();
    b
}

fn sha(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn partitions_are_byte_identical_and_the_gpt_moves_to_the_end() {
    let d = tempfile::tempdir().unwrap();
    let (raw, spec) = image(d.path());
    let target = disk(d.path(), "sda", 64);
    let report = install(
        &target,
        zstd::Decoder::new(&zst(&raw)[..]).unwrap(),
        &spec,
        &Options { grow_state: true },
    )
    .unwrap();
    assert_eq!(report.partitions.len(), 5);

    let verify = run(Command::new("sgdisk").arg("-v").arg(&target));
    assert!(verify.contains("No problems found"), "{verify}");
    let image_parts = parts(&raw);
    let disk_parts = parts(&target);
    for (i, (name, first, last)) in image_parts.iter().enumerate() {
        let (dname, dfirst, dlast) = &disk_parts[i];
        assert_eq!((name, first), (dname, dfirst));
        let len = (last - first + 1) * 512;
        assert_eq!(
            bytes(&raw, first * 512, len),
            bytes(&target, dfirst * 512, len),
            "partition {name} differs"
        );
        if name == "state" {
            // Extended to the last whole MiB before the backup GPT.
            assert_eq!((dlast + 1) % 2048, 0);
            assert_eq!(*dlast, 64 * 2048 - 2048 - 1);
            assert!(dlast > last);
        } else {
            assert_eq!(last, dlast);
        }
    }
    // GUIDs and names kept: sgdisk's own view of partition 3 is unchanged.
    let info = |p: &Path| {
        let t = run(Command::new("sgdisk").args(["-i", "3"]).arg(p));
        t.lines()
            .filter(|l| !l.contains("Last sector") && !l.contains("Partition size"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(info(&raw), info(&target));
    let p = run(Command::new("sgdisk").arg("-p").arg(&target));
    assert!(p.contains("131072 sectors"), "{p}");
}

#[test]
fn keeping_the_state_size_and_an_exact_fit_are_valid_too() {
    let d = tempfile::tempdir().unwrap();
    let (raw, spec) = image(d.path());
    for (mib, grow) in [(64, false), (40, true)] {
        let target = disk(d.path(), &format!("sd{mib}"), mib);
        install(
            &target,
            zstd::Decoder::new(&zst(&raw)[..]).unwrap(),
            &spec,
            &Options { grow_state: grow },
        )
        .unwrap();
        let verify = run(Command::new("sgdisk").arg("-v").arg(&target));
        assert!(verify.contains("No problems found"), "{mib} MiB: {verify}");
        assert_eq!(parts(&raw), parts(&target), "{mib} MiB");
    }
    // An exact fit is the image, byte for byte.
    assert_eq!(sha(&raw), sha(&d.path().join("sd40")));
}

#[test]
fn a_too_small_disk_is_refused_untouched() {
    let d = tempfile::tempdir().unwrap();
    let (raw, spec) = image(d.path());
    let target = disk(d.path(), "small", 39);
    let before = sha(&target);
    let e = install(
        &target,
        zstd::Decoder::new(&zst(&raw)[..]).unwrap(),
        &spec,
        &Options { grow_state: true },
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, InstallError::TooSmall { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "is {} bytes, smaller than the image's {} bytes; nothing was written",
            39 * MIB,
            40 * MIB
        )),
        "{text}"
    );
    assert_eq!(before, sha(&target));
}

fn assert_no_gpt(target: &Path) {
    assert!(
        bytes(target, 0, MIB).iter().all(|&b| b == 0),
        "first MiB not wiped"
    );
    let len = std::fs::metadata(target).unwrap().len();
    assert!(
        bytes(target, len - MIB, MIB).iter().all(|&b| b == 0),
        "last MiB not wiped"
    );
    let out = Command::new("sgdisk")
        .arg("-p")
        .arg(target)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("root-a"), "a GPT survived:\n{text}");
}

#[test]
fn a_tampered_image_leaves_no_bootable_gpt() {
    let d = tempfile::tempdir().unwrap();
    let (raw, spec) = image(d.path());
    let target = disk(d.path(), "sda", 64);
    // A flipped byte in root-a: decompresses fine, fails the SHA-256.
    let mut f = std::fs::OpenOptions::new().write(true).open(&raw).unwrap();
    f.seek(SeekFrom::Start(12 * MIB)).unwrap();
    f.write_all(&[0x42]).unwrap();
    drop(f);
    let e = install(
        &target,
        zstd::Decoder::new(&zst(&raw)[..]).unwrap(),
        &spec,
        &Options { grow_state: true },
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("the image's SHA-256 is")
            && text.contains(&spec.sha256)
            && text.contains("was wiped"),
        "{text}"
    );
    assert_no_gpt(&target);
}

#[test]
fn a_truncated_or_overlong_image_leaves_no_bootable_gpt() {
    let d = tempfile::tempdir().unwrap();
    let (raw, spec) = image(d.path());
    let target = disk(d.path(), "sda", 64);
    let full = std::fs::read(&raw).unwrap();
    let e = install(
        &target,
        &full[..(30 * MIB) as usize],
        &spec,
        &Options { grow_state: true },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("ended after {} bytes", 30 * MIB)),
        "{e}"
    );
    assert_no_gpt(&target);
    let mut longer = full.clone();
    longer.extend_from_slice(&[0; 4096]);
    let e = install(&target, &longer[..], &spec, &Options { grow_state: true }).unwrap_err();
    assert!(e.to_string().contains("longer than the"), "{e}");
    assert_no_gpt(&target);
}

#[test]
fn an_image_without_a_gpt_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let target = disk(d.path(), "sda", 64);
    let before = sha(&target);
    let junk = vec![7u8; (4 * MIB) as usize];
    let spec = ImageSpec {
        size: junk.len() as u64,
        sha256: hex::encode(Sha256::digest(&junk)),
    };
    let e = install(&target, &junk[..], &spec, &Options { grow_state: true }).unwrap_err();
    assert!(
        e.to_string().contains("no `EFI PART` signature")
            && e.to_string().contains("nothing was written"),
        "{e}"
    );
    assert_eq!(before, sha(&target));
}
