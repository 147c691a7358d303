//! containerd (R16): CRI with systemd cgroups and SELinux labelling, and
//! registry mirrors to the bundle's registry, served on every control-plane
//! node as `registry.<cluster domain>` (DESIGN §5).

use mk_roleconfig::SelinuxMode;
use serde_json::json;

use crate::action::{Owner, Step};
use crate::plan::Ctx;
use crate::render::{dir, hash_header, write};
use crate::steps::pki::PKI;

pub const NAME: &str = "containerd";
pub const CONFIG: &str = "/etc/containerd/config.toml";
pub const CERTS_D: &str = "/etc/containerd/certs.d";
/// containerd's socket (`[grpc] address`); the kubelet's
/// `containerRuntimeEndpoint` is `unix://` + this.
pub const SOCKET: &str = "/run/containerd/containerd.sock";
/// Registries whose images the bundle carries under their own names.
pub const MIRRORED: &[&str] = &["registry.k8s.io", "docker.io", "quay.io"];

pub fn bundle_registry(domain: &str) -> String {
    format!("registry.{domain}")
}

pub(crate) fn step(ctx: &Ctx) -> Step {
    let selinux = ctx.spec.selinux != SelinuxMode::Disabled;
    let registry = bundle_registry(&ctx.spec.cluster.domain);
    let ca = ctx
        .has("registry-ca.crt")
        .then(|| format!("{PKI}/registry-ca.crt"));
    let pause = ctx.versions.pause_image();
    let inputs = json!({ "selinux": selinux, "registry": registry, "ca": ca, "pause": pause });
    super::make(NAME, inputs, |digest| {
        let mut config = hash_header(NAME, digest);
        config.push_str(&format!(
            r#"version = 2
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
  address = "{SOCKET}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  enable_selinux = {selinux}

  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{CERTS_D}"
"#
        ));
        let mut a = vec![
            dir("/etc/containerd", 0o755, Owner::ROOT),
            write(CONFIG, config.into_bytes(), 0o644, Owner::ROOT),
            dir(CERTS_D, 0o755, Owner::ROOT),
        ];
        for name in MIRRORED {
            // The bundle registry is the `server` too: containerd falls
            // back to the server when every host fails, and that must
            // never be the Internet (R2).
            let ca_line = ca
                .as_ref()
                .map(|ca| format!("ca = \"{ca}\"\n"))
                .unwrap_or_default();
            let mut hosts = hash_header(NAME, digest);
            hosts.push_str(&format!(
                "server = \"https://{registry}\"\n{ca_line}\n[host.\"https://{registry}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ));
            if !ca_line.is_empty() {
                hosts.push_str(&format!("  {ca_line}"));
            }
            a.push(dir(format!("{CERTS_D}/{name}"), 0o755, Owner::ROOT));
            a.push(write(
                format!("{CERTS_D}/{name}/hosts.toml"),
                hosts.into_bytes(),
                0o644,
                Owner::ROOT,
            ));
        }
        a
    })
}
