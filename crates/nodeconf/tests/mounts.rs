//! What the static pods can see on mk's read-only image (issue 16): every
//! file a pod's flags, probes or kubeconfigs name is mounted into it
//! (read-only but etcd's data), no hostPath asks the kubelet to create
//! anything, the CA-trust directories only where the host has them, and
//! the kubelet reaches containerd on the socket containerd listens on.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use mk_nodeconf::{plan, Action, HostFacts, Plan, CA_TRUST_DIRS};
use serde_json::Value;

/// [`cp_config`] with every optional file flag of the apiserver in play.
fn cp_config_with_oidc_ca() -> mk_roleconfig::NodeConfig {
    let mut c = cp_config();
    let oidc = c.spec.auth.as_mut().and_then(|a| a.oidc.as_mut());
    oidc.expect("cp_config has OIDC").ca_certificate =
        Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into());
    c
}

fn cp_facts(trust_dirs: Vec<String>) -> HostFacts {
    let mut f = facts(&["127.0.0.1", "10.0.1.11", "10.0.2.11"]);
    f.trust_dirs = trust_dirs;
    f
}

fn cp_plan(trust_dirs: Vec<String>) -> Plan {
    plan(DIGEST, &cp_config_with_oidc_ca(), &cp_facts(trust_dirs)).unwrap()
}

fn manifest(p: &Plan, name: &str) -> Value {
    pod(&text(p, &format!("/etc/kubernetes/manifests/{name}.yaml")))
}

/// (mountPath, readOnly) of the pod's only container, each checked to be
/// mounted at its own host path.
fn mounts(v: &Value) -> Vec<(String, bool)> {
    let volumes = v["spec"]["volumes"].as_array().unwrap();
    v["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let path = m["mountPath"].as_str().unwrap().to_string();
            let vol = volumes
                .iter()
                .find(|x| x["name"] == m["name"])
                .unwrap_or_else(|| panic!("no volume {}", m["name"]));
            if let Some(host) = vol["hostPath"]["path"].as_str() {
                assert_eq!(host, path, "hostPath mounted at its own path");
            }
            (path, m["readOnly"] == true)
        })
        .collect()
}

/// The mount `path` lies under (itself or a directory above it).
fn mount_of<'a>(mounts: &'a [(String, bool)], path: &str) -> Option<&'a (String, bool)> {
    mounts
        .iter()
        .find(|(m, _)| path == m || path.starts_with(&format!("{}/", m.trim_end_matches('/'))))
}

/// hostPath volumes: name -> (path, type).
fn host_paths(v: &Value) -> BTreeMap<String, (String, String)> {
    v["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["hostPath"].is_object())
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                (
                    x["hostPath"]["path"].as_str().unwrap().to_string(),
                    x["hostPath"]["type"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// Every absolute path the container's command and exec probes name, as
/// `--flag=/path` (comma-separated lists split).
fn named_paths(v: &Value) -> BTreeSet<(String, String)> {
    let c = &v["spec"]["containers"][0];
    let mut args: Vec<&str> = c["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(cmd) = c[probe]["exec"]["command"].as_array() {
            args.extend(cmd.iter().map(|a| a.as_str().unwrap()));
        }
    }
    let mut out = BTreeSet::new();
    for a in args {
        let Some((flag, value)) = a.strip_prefix("--").and_then(|a| a.split_once('=')) else {
            continue;
        };
        for part in value.split(',') {
            if part.starts_with('/') {
                out.insert((flag.to_string(), part.to_string()));
            }
        }
    }
    out
}

/// The files a kubeconfig references (CA, client certificate and key).
fn kubeconfig_files(kc: &Value) -> Vec<String> {
    let mut v = Vec::new();
    for c in kc["clusters"].as_array().unwrap() {
        v.extend(
            c["cluster"]["certificate-authority"]
                .as_str()
                .map(String::from),
        );
    }
    for u in kc["users"].as_array().unwrap() {
        for k in ["client-certificate", "client-key", "tokenFile"] {
            v.extend(u["user"][k].as_str().map(String::from));
        }
    }
    v
}

#[test]
fn every_file_a_pods_kubeconfig_references_is_mounted_read_only() {
    for trust in [vec![], centos_trust_dirs()] {
        let p = cp_plan(trust);
        let written = files(&p);
        // (pod, kubeconfig) pairs found through the pods' flags.
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        for name in CONTROL_PLANE_PODS {
            let v = manifest(&p, name);
            let m = mounts(&v);
            for (flag, path) in named_paths(&v) {
                let Some((contents, ..)) = written.get(&path) else {
                    continue;
                };
                let kc: Value = serde_norway::from_slice(contents).unwrap();
                if kc["kind"] != "Config" {
                    continue;
                }
                seen.insert((name.to_string(), path.clone()));
                let refs = kubeconfig_files(&kc);
                assert!(refs.len() >= 3, "{path}: {refs:?}");
                for f in std::iter::once(&path).chain(&refs) {
                    let mount = mount_of(&m, f).unwrap_or_else(|| {
                        panic!(
                            "{name}: --{flag}={path} names {f}, which no volumeMount holds: {m:?}"
                        )
                    });
                    assert!(mount.1, "{name}: {f} is mounted writable ({})", mount.0);
                    // A real file the plan writes, not a path into nothing.
                    assert!(written.contains_key(f), "{name}: {f} is not written");
                }
            }
        }
        let want: BTreeSet<(String, String)> = [
            (
                "kube-controller-manager",
                "/etc/kubernetes/controller-manager.conf",
            ),
            ("kube-scheduler", "/etc/kubernetes/scheduler.conf"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(seen, want);
    }
}

#[test]
fn the_scheduler_mounts_its_kubeconfig_and_the_pki_directory() {
    let p = cp_plan(centos_trust_dirs());
    let v = manifest(&p, "kube-scheduler");
    let hp = host_paths(&v);
    assert_eq!(
        hp,
        [
            ("k8s-certs", "/etc/kubernetes/pki", "Directory"),
            ("kubeconfig", "/etc/kubernetes/scheduler.conf", "File"),
        ]
        .iter()
        .map(|(n, p, t)| (n.to_string(), (p.to_string(), t.to_string())))
        .collect::<BTreeMap<_, _>>()
    );
    let m = mounts(&v);
    for f in [
        "/etc/kubernetes/pki/ca.crt",
        "/etc/kubernetes/pki/scheduler.crt",
        "/etc/kubernetes/pki/scheduler.key",
    ] {
        assert_eq!(
            mount_of(&m, f),
            Some(&("/etc/kubernetes/pki".to_string(), true)),
            "{f}"
        );
    }
    // The key the scheduler reads through that mount is its own.
    let (_, mode, owner, _) = &files(&p)["/etc/kubernetes/pki/scheduler.key"];
    assert_eq!((*mode, owner.uid), (0o600, 404));
}

#[test]
fn every_file_a_pod_names_lies_under_its_mounts() {
    let p = cp_plan(vec![]);
    let mut checked = 0;
    for name in CONTROL_PLANE_PODS {
        let v = manifest(&p, name);
        let m = mounts(&v);
        for (flag, path) in named_paths(&v) {
            let mount = mount_of(&m, &path)
                .unwrap_or_else(|| panic!("{name}: --{flag}={path} is in no volumeMount: {m:?}"));
            // Only etcd's data directory is written by a pod.
            let writable = name == "etcd" && flag == "data-dir";
            assert_eq!(!mount.1, writable, "{name}: --{flag}={path} in {mount:?}");
            checked += 1;
        }
    }
    // etcd 11 (flags and probes), apiserver 22 with OIDC, the others 12 + 3.
    assert!(checked >= 40, "{checked}");
}

#[test]
fn no_host_path_asks_the_kubelet_to_create_anything() {
    let all: Vec<String> = CA_TRUST_DIRS.iter().map(|(_, p)| p.to_string()).collect();
    for trust in [vec![], centos_trust_dirs(), all] {
        let p = cp_plan(trust.clone());
        let staticpods = p.steps.iter().position(|s| s.name == "staticpods").unwrap();
        // What first boot makes before the kubelet starts, in steps up to
        // and including staticpods.
        let mut dirs: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        let mut written: BTreeSet<String> = BTreeSet::new();
        for s in &p.steps[..=staticpods] {
            for a in &s.actions {
                match a {
                    Action::EnsureDir { path, mode, owner } => {
                        dirs.insert(path.clone(), (*mode, owner.uid));
                    }
                    Action::WriteFile { path, .. } => {
                        written.insert(path.clone());
                    }
                    _ => {}
                }
            }
        }
        for name in CONTROL_PLANE_PODS {
            let v = manifest(&p, name);
            for (vol, (path, kind)) in host_paths(&v) {
                match kind.as_str() {
                    "Directory" => assert!(
                        dirs.contains_key(&path) || trust.contains(&path),
                        "{name}: volume {vol}: {path} is neither made by first boot nor on the host"
                    ),
                    "File" => assert!(
                        written.contains(&path),
                        "{name}: volume {vol}: {path} is not written by first boot"
                    ),
                    other => panic!("{name}: volume {vol} ({path}): hostPath type {other:?}"),
                }
            }
        }
        // etcd's data directory: its own, private.
        assert_eq!(dirs["/var/lib/etcd"], (0o700, 401));
    }
}

#[test]
fn ca_trust_directories_only_where_the_host_has_them() {
    let trust_of = |p: &Plan, pod: &str| -> BTreeMap<String, (String, String)> {
        host_paths(&manifest(p, pod))
            .into_iter()
            .filter(|(_, (path, _))| CA_TRUST_DIRS.iter().any(|(_, d)| d == path))
            .collect()
    };
    let none = cp_plan(vec![]);
    let centos = cp_plan(centos_trust_dirs());
    let mut everything: Vec<String> = CA_TRUST_DIRS.iter().map(|(_, p)| p.to_string()).collect();
    // Not one of kubeadm's: ignored.
    everything.push("/opt/ca".into());
    let debian = cp_plan(everything);
    for pod in ["kube-apiserver", "kube-controller-manager"] {
        assert!(trust_of(&none, pod).is_empty(), "{pod}");
        let c = trust_of(&centos, pod);
        assert_eq!(
            c,
            [("ca-certs", "/etc/ssl/certs"), ("etc-pki", "/etc/pki")]
                .iter()
                .map(|(n, p)| (n.to_string(), (p.to_string(), "Directory".to_string())))
                .collect::<BTreeMap<_, _>>(),
            "{pod}"
        );
        // kubeadm's names, read-only.
        let d = trust_of(&debian, pod);
        assert_eq!(
            d.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "ca-certs",
                "etc-ca-certificates",
                "etc-pki",
                "usr-local-share-ca-certificates",
                "usr-share-ca-certificates"
            ],
            "{pod}"
        );
        let m = mounts(&manifest(&debian, pod));
        for (path, _) in d.values() {
            assert!(m.contains(&(path.clone(), true)), "{pod}: {path} {m:?}");
        }
        assert!(
            !text(&debian, &format!("/etc/kubernetes/manifests/{pod}.yaml")).contains("/opt/ca")
        );
    }
    for pod in ["etcd", "kube-scheduler"] {
        assert!(trust_of(&debian, pod).is_empty(), "{pod}");
    }
    // The host's trust directories are an input of the static pods only.
    let changed = changed_steps(&none, &centos);
    assert_eq!(changed, ["staticpods"]);
}

#[test]
fn no_flexvolume_directory() {
    let p = cp_plan(centos_trust_dirs());
    let v = manifest(&p, "kube-controller-manager");
    let hp = host_paths(&v);
    assert_eq!(
        hp.keys().map(String::as_str).collect::<Vec<_>>(),
        ["ca-certs", "etc-pki", "k8s-certs", "kubeconfig"]
    );
    for name in CONTROL_PLANE_PODS {
        let m = text(&p, &format!("/etc/kubernetes/manifests/{name}.yaml"));
        assert!(
            !m.contains("flexvolume") && !m.contains("/usr/libexec"),
            "{name}"
        );
        assert!(!m.contains("OrCreate"), "{name}: {m}");
    }
}

#[test]
fn the_kubelet_talks_to_the_socket_containerd_listens_on() {
    let p = cp_plan(vec![]);
    let toml = text(&p, "/etc/containerd/config.toml");
    let grpc = toml
        .split("[grpc]")
        .nth(1)
        .and_then(|s| s.lines().find_map(|l| l.trim().strip_prefix("address = ")))
        .expect("[grpc] address")
        .trim_matches('"')
        .to_string();
    assert_eq!(grpc, "/run/containerd/containerd.sock");
    let endpoint = format!("unix://{grpc}");
    let k: Value = serde_norway::from_str(&text(&p, "/var/lib/kubelet/config.yaml")).unwrap();
    assert_eq!(k["containerRuntimeEndpoint"], endpoint.as_str());
    let flags = text(&p, "/var/lib/kubelet/kubeadm-flags.env");
    assert!(
        flags.contains(&format!("--container-runtime-endpoint={endpoint} ")),
        "{flags}"
    );
    // Nothing first boot writes relies on /var/run being a link to /run.
    for (path, (contents, ..)) in files(&p) {
        let t = String::from_utf8_lossy(&contents);
        assert!(!t.contains("/var/run"), "{path}");
    }
}
