//! overlays/registry as the image pipeline packages it (an RPM that rpm
//! reads), and its nginx configuration, as shipped, accepted by `nginx -t`
//! with the node's paths moved into a temporary root.

mod common;
use common::run_ok;

use std::path::Path;
use std::process::Command;

const OVERLAY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../overlays/registry");

fn rpm_query(rpm: &Path, args: &[&str]) -> Vec<String> {
    let o = run_ok(
        Command::new("rpm")
            .args(["-qp", "--nosignature"])
            .args(args)
            .arg(rpm),
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn overlay_packages_and_its_nginx_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = mk_image::overlay::Overlay::read(Path::new(OVERLAY)).unwrap();
    assert_eq!(overlay.name, "mk-registry-nginx");
    let rpm = overlay.build_rpm(dir.path(), 1_700_000_000).unwrap();
    let files = rpm_query(&rpm, &["-l"]);
    for f in [
        "/etc/nginx/mk-registry",
        "/etc/nginx/mk-registry/nginx.conf",
        "/etc/nginx/mk-registry/registry-api.conf",
        "/etc/nginx/mk-registry/server.conf",
        "/etc/systemd/system/mk-registry.service",
        "/var/lib/mk/registry",
    ] {
        assert!(files.contains(&f.to_string()), "{f} not in {files:?}");
    }
    assert_eq!(
        rpm_query(&rpm, &["-c"]),
        ["/etc/nginx/mk-registry/server.conf"]
    );
    assert!(rpm_query(&rpm, &["--requires"]).contains(&"nginx".to_string()));

    // The node's configuration, paths moved under a temporary root.
    let root = dir.path().join("node");
    let pki = root.join("etc/kubernetes/pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::create_dir_all(root.join("var/lib/mk/registry")).unwrap();
    std::fs::create_dir_all(root.join("var/log/nginx")).unwrap();
    std::fs::create_dir_all(root.join("run")).unwrap();
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=registry.example.com"])
            .args(["-addext", "subjectAltName=DNS:registry.example.com"])
            .arg("-keyout")
            .arg(pki.join("registry.key"))
            .arg("-out")
            .arg(pki.join("registry.crt")),
    );
    let conf_dir = root.join("etc/nginx/mk-registry");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let r = root.display().to_string();
    for name in ["nginx.conf", "server.conf", "registry-api.conf"] {
        let text = std::fs::read_to_string(
            Path::new(OVERLAY)
                .join("root/etc/nginx/mk-registry")
                .join(name),
        )
        .unwrap();
        let moved = text
            .replace("/etc/", &format!("{r}/etc/"))
            .replace("/var/", &format!("{r}/var/"))
            .replace("/run/", &format!("{r}/run/"))
            // The node has the nginx user; this machine may not.
            .replace("user nginx;", "user root;");
        std::fs::write(conf_dir.join(name), moved).unwrap();
    }
    let o = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(&root)
        .arg("-c")
        .arg(conf_dir.join("nginx.conf"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.contains("test is successful"),
        "{err}"
    );
}
