//! Fixture container images (issue 4), judged by real tools: the tiny base
//! built from fixture RPMs and the etcd image built on it are read by
//! `skopeo inspect` (digest, user, labels, ports) and `umoci unpack`; the
//! unpacked etcd root has /usr/bin/etcd owned by root and its own rpm lists
//! etcd-server; a second build in another directory gives the same
//! digests. The shared set holds every image a control-plane node runs
//! (etcd and the stand-ins for kube-apiserver, kube-controller-manager,
//! kube-scheduler and pause), named as the Kubernetes 1.30 manifests ask.
//! Needs root, skopeo, umoci and the fixture distribution.

use mk_qemu_tests::containers::{self, Built};
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (apt packages skopeo, umoci)"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn skopeo_inspect(transport_ref: &str) -> serde_json::Value {
    let out = run(Command::new("skopeo").args(["inspect", transport_ref]));
    serde_json::from_str(&out).unwrap()
}

fn skopeo_config(transport_ref: &str) -> serde_json::Value {
    let out = run(Command::new("skopeo").args(["inspect", "--config", transport_ref]));
    serde_json::from_str(&out).unwrap()
}

fn oci_ref(b: &Built) -> String {
    format!("oci:{}:{}", b.layout.display(), b.ref_name)
}

fn umoci_unpack(b: &Built, bundle: &Path) {
    run(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{}", b.layout.display(), b.ref_name))
        .arg(bundle));
}

#[test]
fn fixture_images_are_read_by_skopeo_and_umoci_rebuild_identically_and_bad_packages_are_refused() {
    mk_qemu_tests::init_logs();
    let dir = mk_qemu_tests::scratch("container-build");
    let base = containers::fixture_base(dir.path());
    let etcd = containers::fixture_etcd_on(dir.path(), &base);

    // skopeo: the digests we recorded, for the layout and the archive.
    for b in [&base, &etcd] {
        let i = skopeo_inspect(&oci_ref(b));
        assert_eq!(i["Digest"], b.manifest_digest.as_str(), "{i:#}");
        let a = skopeo_inspect(&format!("oci-archive:{}", b.archive.display()));
        assert_eq!(a["Digest"], b.manifest_digest.as_str(), "{a:#}");
    }
    let i = skopeo_inspect(&oci_ref(&etcd));
    assert_eq!(
        i["Layers"].as_array().unwrap().len(),
        2,
        "base layer + one new layer: {i:#}"
    );
    let labels = &i["Labels"];
    for (k, v) in [
        ("org.opencontainers.image.title", "registry.k8s.io/etcd"),
        ("org.opencontainers.image.version", "3.5.12-0"),
        ("org.opencontainers.image.revision", "fixture"),
        (
            "org.opencontainers.image.source",
            "qemu-tests/fixture-images/etcd",
        ),
        ("org.opencontainers.image.created", "2023-11-14T22:13:20Z"),
        (
            "org.opencontainers.image.base.digest",
            base.manifest_digest.as_str(),
        ),
    ] {
        assert_eq!(labels[k], v, "label {k}: {labels:#}");
    }
    let cfg = skopeo_config(&oci_ref(&etcd));
    assert_eq!(cfg["config"]["User"], "401:401", "{cfg:#}");
    assert_eq!(
        cfg["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/etcd"])
    );
    let ports: Vec<&String> = cfg["config"]["ExposedPorts"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(ports, ["2379/tcp", "2380/tcp"]);
    assert_eq!(cfg["created"], "2023-11-14T22:13:20Z");

    // umoci reads both; the etcd root is usable.
    let bundles = dir.path().join("bundles");
    std::fs::create_dir(&bundles).unwrap();
    umoci_unpack(&base, &bundles.join("base"));
    let b = bundles.join("etcd");
    umoci_unpack(&etcd, &b);
    let rootfs = b.join("rootfs");
    let etcd_bin = rootfs.join("usr/bin/etcd");
    let meta = std::fs::metadata(&etcd_bin).expect("/usr/bin/etcd in the unpacked image");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "owned by root");
    assert!(meta.mode() & 0o111 != 0, "executable");
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["user"]["uid"], 401, "{:#}", spec["process"]);
    assert_eq!(spec["process"]["user"]["gid"], 401);
    // The image's own rpm (inside the unpacked root) lists what was added.
    let qa = run(Command::new("chroot").arg(&rootfs).args([
        "/usr/bin/rpm",
        "-qa",
        "--qf",
        "%{NAME}\\n",
    ]));
    let names: Vec<&str> = qa.lines().collect();
    for n in ["etcd-server", "rpm", "bash", "coreutils"] {
        assert!(names.contains(&n), "{n} not in rpm -qa: {names:?}");
    }
    // Debian's etcd 3.4 under the tag the 1.30 manifests ask for.
    assert_eq!(etcd.reference, "registry.k8s.io/etcd:3.5.12-0");
    let v = run(Command::new("chroot")
        .arg(&rootfs)
        .args(["/usr/bin/etcd", "--version"]));
    assert!(v.contains("3.4.23"), "{v}");
    // etcdctl, what the etcd pod's exec probes run (etcd-client).
    let v = run(Command::new("chroot")
        .arg(&rootfs)
        .args(["/usr/bin/etcdctl", "version"]));
    assert!(v.contains("etcdctl version:"), "{v}");
    assert!(names.contains(&"etcd-client"), "{names:?}");
    // No ETCD_* variable that a flag of the manifest would shadow.
    let env = cfg["config"]["Env"].as_array().cloned().unwrap_or_default();
    assert!(
        !env.iter()
            .any(|e| e.as_str().is_some_and(|e| e.starts_with("ETCD_"))),
        "{env:?}"
    );
    // No rpm transient state in the new layer.
    assert!(!rootfs.join(".mk-ocibuild-rpms").exists());

    // Same inputs, another directory: same digests.
    let dir2 = mk_qemu_tests::scratch("container-build-again");
    let base2 = containers::fixture_base(dir2.path());
    let etcd2 = containers::fixture_etcd_on(dir2.path(), &base2);
    assert_eq!(
        base2.manifest_digest, base.manifest_digest,
        "base rebuilt differently"
    );
    assert_eq!(
        etcd2.manifest_digest, etcd.manifest_digest,
        "etcd rebuilt differently"
    );
    assert_eq!(
        std::fs::read(&etcd2.archive).unwrap(),
        std::fs::read(&etcd.archive).unwrap(),
        "archives differ"
    );

    // Unchanged inputs into the same --out: nothing is rebuilt (R4).
    let mut o = containers::options("etcd", dir.path(), &containers::fixture_repo());
    o.base = Some(base.layout.clone());
    o.base_digest = Some(base.manifest_digest.clone());
    let again = mk_ocibuild::build(&o).unwrap();
    assert!(again.reused, "an unchanged rebuild must reuse the layout");
    assert_eq!(again.manifest_digest, etcd.manifest_digest);
    // A changed input rebuilds and replaces the layout in place.
    o.revision = Some("another-revision".into());
    let changed = mk_ocibuild::build(&o).unwrap();
    assert!(!changed.reused);
    assert_ne!(changed.manifest_digest, etcd.manifest_digest);
    let i = skopeo_inspect(&oci_ref(&etcd));
    assert_eq!(i["Digest"], changed.manifest_digest.as_str());
    assert_eq!(
        i["Labels"]["org.opencontainers.image.revision"],
        "another-revision"
    );

    // Bad packages on the fixture base: a failing scriptlet names its
    // package; a scriptlet leaving a file no package owns breaks R18.
    // Neither writes --out.
    for (name, script, want) in [
        (
            "breaks",
            "echo failing on purpose >&2; exit 3",
            "scriptlet of breaks-1-1.x86_64 failed",
        ),
        ("litters", "echo x > /etc/litter", "/etc/litter"),
    ] {
        let rpms = dir.path().join(format!("{name}-rpms"));
        std::fs::create_dir(&rpms).unwrap();
        let mut p = mk_rpmpack::Package::new(name, "1", "1");
        p.summary("test package")
            .file(&format!("/usr/share/{name}/README"), "x\n", 0o644)
            .script(
                mk_rpmpack::ScriptKind::Post,
                mk_rpmpack::Script::shell(script),
            );
        p.build_to_dir(&rpms).unwrap();
        let img = dir.path().join(format!("{name}-recipe"));
        std::fs::create_dir(&img).unwrap();
        std::fs::write(
            img.join("image.yaml"),
            format!("name: {name}\nversion: \"1\"\nbase:\n  layout: unused\npackages: [{name}]\nuser: \"1000:1000\"\nentrypoint: [/bin/bash]\nrevision: test\n"),
        )
        .unwrap();
        let mut o = containers::options("base", dir.path(), &containers::fixture_repo());
        o.recipe = img;
        o.repos.push(rpms);
        o.out = dir.path().join(format!("{name}-out"));
        o.archive = None;
        o.base = Some(base.layout.clone());
        o.base_digest = Some(base.manifest_digest.clone());
        let e = mk_ocibuild::build(&o).expect_err("must fail").to_string();
        assert!(e.contains(want), "{name}: {e}");
        assert!(!o.out.exists(), "{name}: --out written");
    }
}

#[test]
fn shared_fixture_images_are_built_once_and_reused() {
    mk_qemu_tests::init_logs();
    let (base, etcd) = containers::shared_fixture_images();
    let (base2, etcd2) = containers::shared_fixture_images();
    assert!(base2.reused && etcd2.reused, "second call rebuilt");
    assert_eq!(base2.manifest_digest, base.manifest_digest);
    assert_eq!(etcd2.manifest_digest, etcd.manifest_digest);
    let i = skopeo_inspect(&format!("oci-archive:{}", etcd2.archive.display()));
    assert_eq!(i["Digest"], etcd.manifest_digest.as_str());

    // Every image a control-plane node runs, in the same directory: the
    // base and etcd are the ones above, reused.
    let all = containers::shared_node_fixture_images();
    assert_eq!(all.base.manifest_digest, base.manifest_digest);
    assert!(all.base.reused && all.image("etcd").reused);
    assert_eq!(all.image("etcd").manifest_digest, etcd.manifest_digest);
    let again = containers::shared_node_fixture_images();
    assert!(
        again.images.iter().all(|(_, b)| b.reused),
        "second call rebuilt"
    );
    assert_eq!(again, {
        let mut a = all.clone();
        a.base.reused = true;
        for (_, b) in &mut a.images {
            b.reused = true;
        }
        a
    });
    assert_eq!(all.archives().len(), containers::NODE_IMAGES.len());
    // Names, users and entrypoints as the static pods need them.
    for (recipe, reference, user, entrypoint) in [
        (
            "etcd",
            "registry.k8s.io/etcd:3.5.12-0",
            "401:401",
            "/usr/bin/etcd",
        ),
        (
            "kube-apiserver",
            "registry.k8s.io/kube-apiserver:v1.30.14",
            "402:402",
            "/usr/bin/sleep",
        ),
        (
            "kube-controller-manager",
            "registry.k8s.io/kube-controller-manager:v1.30.14",
            "403:403",
            "/usr/bin/sleep",
        ),
        (
            "kube-scheduler",
            "registry.k8s.io/kube-scheduler:v1.30.14",
            "404:404",
            "/usr/bin/sleep",
        ),
        (
            "pause",
            "registry.k8s.io/pause:3.9",
            "65535:65535",
            "/usr/bin/sleep",
        ),
    ] {
        let b = all.image(recipe);
        assert_eq!(b.reference, reference, "{recipe}");
        let archive = format!("oci-archive:{}", b.archive.display());
        assert_eq!(
            skopeo_inspect(&archive)["Digest"],
            b.manifest_digest.as_str()
        );
        let cfg = skopeo_config(&archive);
        assert_eq!(cfg["config"]["User"], user, "{recipe}: {cfg:#}");
        assert_eq!(cfg["config"]["Entrypoint"][0], entrypoint, "{recipe}");
        // The name `ctr images import` gives it.
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.layout.join("index.json")).unwrap()).unwrap();
        assert_eq!(
            index["manifests"][0]["annotations"]["io.containerd.image.name"], reference,
            "{recipe}: {index:#}"
        );
        // The entrypoint exists in the image (a stand-in adds nothing to
        // the base, so its layer is empty).
        let bundle = mk_qemu_tests::scratch(&format!("unpack-{recipe}."));
        let dst = bundle.path().join("b");
        umoci_unpack(b, &dst);
        let ep = dst.join("rootfs").join(&entrypoint[1..]);
        assert!(ep.is_file(), "{recipe}: no {entrypoint} in the image");
    }
}
