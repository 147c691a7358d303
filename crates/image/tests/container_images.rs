//! The recipe's image archives as the RPM mk-container-images, judged with
//! rpm(8): the archives are listed under /usr/share/mk/images, 0644 and
//! root-owned, with the archives' own digests; the same inputs give the
//! same bytes; a changed archive gives a new package; bad archives are
//! refused naming the file.

use mk_image::containers::{ArchiveFormat, ContainerImages, IMAGES_DIR, PACKAGE};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tar with the given (name, bytes) entries.
fn tar_file(path: &Path, entries: &[(&str, &[u8])]) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, *bytes).unwrap();
    }
    std::fs::write(path, b.into_inner().unwrap()).unwrap();
}

fn oci_archive_named(path: &Path, marker: &str, annotations: &str) {
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:00","size":1,"annotations":{{{annotations}}}}}]}}"#
    );
    tar_file(
        path,
        &[
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("index.json", index.as_bytes()),
            ("blobs/sha256/00", marker.as_bytes()),
        ],
    );
}

fn oci_archive(path: &Path, marker: &str) {
    oci_archive_named(
        path,
        marker,
        r#""io.containerd.image.name":"registry.k8s.io/etcd:3.5.12-0","org.opencontainers.image.ref.name":"3.5.12-0""#,
    );
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn rpm_q(rpm: &Path, args: &[&str]) -> String {
    let out = Command::new("rpm")
        .args(["-qp", "--nosignature", "--nodigest"])
        .args(args)
        .arg(rpm)
        .output()
        .expect("rpm (apt package rpm)");
    assert!(
        out.status.success(),
        "rpm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn archives_become_a_reproducible_read_only_package() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("etcd-3.5.tar");
    let b = d.path().join("pause_3.9.tar");
    oci_archive(&a, "etcd");
    tar_file(
        &b,
        &[
            (
                "manifest.json",
                br#"[{"Config":"c.json","RepoTags":["registry.k8s.io/pause:3.9"],"Layers":["layer.tar"]}]"#,
            ),
            ("layer.tar", b"x"),
        ],
    );
    let paths: Vec<PathBuf> = vec![a.clone(), b.clone()];
    let ci = ContainerImages::read(&paths).unwrap().unwrap();
    assert_eq!(ci.archives[0].format, ArchiveFormat::Oci);
    assert_eq!(ci.archives[1].format, ArchiveFormat::Docker);
    assert_eq!(
        ci.archives[0].images[0].name,
        "registry.k8s.io/etcd:3.5.12-0"
    );
    assert_eq!(
        ci.archives[0].images[0].digest.as_deref(),
        Some("sha256:00")
    );
    assert_eq!(ci.archives[1].images[0].name, "registry.k8s.io/pause:3.9");
    assert!(ContainerImages::read(&[]).unwrap().is_none());

    let (o1, o2) = (d.path().join("o1"), d.path().join("o2"));
    std::fs::create_dir_all(&o1).unwrap();
    std::fs::create_dir_all(&o2).unwrap();
    let r1 = ci.build_rpm(&o1, 1_700_000_000).unwrap();
    let r2 = ContainerImages::read(&paths)
        .unwrap()
        .unwrap()
        .build_rpm(&o2, 1_700_000_000)
        .unwrap();
    assert_eq!(
        std::fs::read(&r1).unwrap(),
        std::fs::read(&r2).unwrap(),
        "same archives, same package bytes"
    );

    assert_eq!(
        rpm_q(&r1, &["--qf", "%{NAME} %{ARCH}\n"]),
        format!("{PACKAGE} noarch\n")
    );
    let listed = rpm_q(&r1, &["-l"]);
    let want = format!(
        "/usr/share/mk\n{IMAGES_DIR}\n{IMAGES_DIR}/etcd-3.5.tar\n{IMAGES_DIR}/pause_3.9.tar\n"
    );
    assert_eq!(listed, want);
    let files = rpm_q(
        &r1,
        &[
            "--qf",
            "[%{FILENAMES} %{FILEMODES:octal} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEDIGESTS}\n]",
        ],
    );
    for (src, name) in [(&a, "etcd-3.5.tar"), (&b, "pause_3.9.tar")] {
        let line = format!("{IMAGES_DIR}/{name} 100644 root:root {}", sha256(src));
        assert!(files.lines().any(|l| l == line), "no `{line}` in:\n{files}");
    }
    assert!(
        files
            .lines()
            .any(|l| l.starts_with(&format!("{IMAGES_DIR} 40755 root:root"))),
        "{files}"
    );
    assert!(
        rpm_q(&r1, &["--requires"])
            .lines()
            .any(|l| l == "containerd"),
        "the import unit needs ctr"
    );

    // A changed archive is a new package (and a new cache key part).
    oci_archive(&a, "etcd, rebuilt");
    let ci2 = ContainerImages::read(&paths).unwrap().unwrap();
    assert_ne!(ci2.digest, ci.digest);
    assert_ne!(ci2.package(1).file_name(), ci.package(1).file_name());
}

#[test]
fn bad_archives_are_refused_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let err = |p: &Path| {
        ContainerImages::read(&[p.to_path_buf()])
            .unwrap_err()
            .to_string()
    };

    let text = d.path().join("notes.tar");
    std::fs::write(
        &text,
        "this is not a tar archive, just some text\n".repeat(20),
    )
    .unwrap();
    let e = err(&text);
    assert!(e.contains("notes.tar") && e.contains("tar archive"), "{e}");

    let good = d.path().join("good.tar");
    oci_archive(&good, &"x".repeat(5000));
    let bytes = std::fs::read(&good).unwrap();
    let cut = d.path().join("cut.tar");
    // Inside the blob: header at 2048, its data from 2560.
    std::fs::write(&cut, &bytes[..3000]).unwrap();
    let e = err(&cut);
    assert!(e.contains("cut.tar") && e.contains("truncated"), "{e}");

    let plain = d.path().join("plain.tar");
    tar_file(&plain, &[("etc/hosts", b"127.0.0.1 localhost\n")]);
    let e = err(&plain);
    assert!(
        e.contains("plain.tar") && e.contains("no index.json or manifest.json"),
        "{e}"
    );

    // A bare tag: ctr would name it import-<date>:TAG.
    let tag_only = d.path().join("tag-only.tar");
    oci_archive_named(
        &tag_only,
        "x",
        r#""org.opencontainers.image.ref.name":"3.5.12-0""#,
    );
    let e = err(&tag_only);
    assert!(
        e.contains("tag-only.tar") && e.contains("only the tag `3.5.12-0`"),
        "{e}"
    );

    let gz = d.path().join("good.tar.gz");
    std::fs::copy(&good, &gz).unwrap();
    assert!(err(&gz).contains("must end in .tar"), "{}", err(&gz));

    let missing = d.path().join("missing.tar");
    assert!(err(&missing).contains("missing.tar"));

    let other = d.path().join("sub");
    std::fs::create_dir(&other).unwrap();
    let twin = other.join("good.tar");
    std::fs::copy(&good, &twin).unwrap();
    let e = ContainerImages::read(&[good.clone(), twin])
        .unwrap_err()
        .to_string();
    assert!(e.contains("same file name"), "{e}");
}
