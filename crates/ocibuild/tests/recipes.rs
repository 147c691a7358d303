//! Every shipped recipe parses (they cannot be built here: no CentOS
//! media), runs as the service account the node uses for it, and carries
//! the image tag the node's static pods ask for.

use mk_nodeconf::users;
use mk_nodeconf::versions::Versions;
use mk_ocibuild::{Base, Recipe};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tag_of(image: &str) -> Option<&str> {
    image.rsplit_once(':').map(|(_, t)| t)
}

fn recipes(dir: &Path) -> Vec<(String, Recipe)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        let (r, _) = Recipe::read(&p).unwrap_or_else(|e| panic!("{e}"));
        v.push((p.file_name().unwrap().to_string_lossy().into_owned(), r));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn production_recipes_parse_and_match_the_node() {
    let all = recipes(&workspace().join("images"));
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "coredns",
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-proxy",
            "kube-scheduler",
            "pause"
        ]
    );
    let v = Versions::resolve("1.30").unwrap();
    for (dir, r) in &all {
        assert_eq!(&r.name, dir, "recipe name = directory name");
        // A CentOS 7.6 archive, pinned at build time (--base-digest).
        let Base::Image(b) = &r.base else {
            panic!("{dir}: production images build on the CentOS base")
        };
        assert!(
            b.source
                .path()
                .to_string_lossy()
                .contains("centos-7.6.1810"),
            "{dir}: {:?}",
            b.source
        );
        assert!(
            r.user.uid >= 400 && r.user.uid == r.user.gid,
            "{dir}: {}",
            r.user
        );
        assert!(!r.entrypoint.is_empty(), "{dir}");
        // The node's service account, where it has one.
        if let Some(a) = users::ALL.iter().find(|a| a.name == dir) {
            assert_eq!((r.user.uid, r.user.gid), (a.id, a.id), "{dir}");
        }
        // Tags as the node's static pods and containerd config ask for them.
        match dir.as_str() {
            "etcd" => assert_eq!(Some(r.version.as_str()), tag_of(&v.etcd_image()), "{dir}"),
            "pause" => assert_eq!(Some(r.version.as_str()), tag_of(&v.pause_image()), "{dir}"),
            // Same minor as the node's table; the patch is the bundle's.
            d if d.starts_with("kube-") => {
                assert!(r.version.starts_with("v1.30."), "{dir}: {}", r.version)
            }
            _ => {}
        }
    }
    // Every service account has its image.
    for a in users::ALL {
        assert!(names.contains(&a.name), "no image for {}", a.name);
    }
}

#[test]
fn fixture_recipes_parse() {
    let all = recipes(&workspace().join("qemu-tests/fixture-images"));
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["base", "etcd"]);
    assert_eq!(all[0].1.base, Base::Scratch);
    assert!(
        all[0].1.packages.iter().any(|p| p == "rpm"),
        "the base carries rpm"
    );
    let etcd = &all[1].1;
    assert_eq!(etcd.user.uid, users::ETCD.id);
    assert_eq!(etcd.packages, ["etcd-server"]);
}
