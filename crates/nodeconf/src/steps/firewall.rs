//! firewalld zones and services per plane (R25), as XML under
//! /etc/firewalld; docs/firewall.md says what is open where and why.
//! Zones are bound by source CIDR, so one node with one interface still
//! tells its planes apart; planes that are one network share one zone
//! (firewalld binds a source to one zone only).

use serde_json::json;

use crate::action::{Action, Owner, Step};
use crate::plan::{Ctx, PlanError};
use crate::render::{dir, write, xml_header};

pub const NAME: &str = "firewall";
pub const ZONES: &str = "/etc/firewalld/zones";
pub const SERVICES: &str = "/etc/firewalld/services";

/// One firewalld service: name, description, ports.
pub struct Service {
    pub name: &'static str,
    pub description: &'static str,
    pub ports: &'static [(&'static str, &'static str)],
}

pub const APISERVER: Service = Service {
    name: "mk-kube-apiserver",
    description: "Kubernetes API server (secure port)",
    ports: &[("6443", "tcp")],
};
pub const KUBELET: Service = Service {
    name: "mk-kubelet",
    description: "kubelet API (TLS, webhook authorisation; the apiserver connects to it)",
    ports: &[("10250", "tcp")],
};
pub const ETCD: Service = Service {
    name: "mk-etcd",
    description: "etcd client and peer ports (mutual TLS)",
    ports: &[("2379", "tcp"), ("2380", "tcp")],
};
pub const REGISTRY: Service = Service {
    name: "mk-registry",
    description: "the bundle's container registry (HTTPS), on every control-plane node",
    ports: &[("443", "tcp")],
};
pub const NODEPORTS: Service = Service {
    name: "mk-nodeports",
    description: "Kubernetes NodePort services",
    ports: &[("30000-32767", "tcp"), ("30000-32767", "udp")],
};
pub const CALICO: Service = Service {
    name: "mk-calico",
    description: "Calico: BGP between nodes, VXLAN, Typha",
    ports: &[("179", "tcp"), ("4789", "udp"), ("5473", "tcp")],
};

struct Zone {
    name: String,
    planes: Vec<&'static str>,
    cidrs: Vec<String>,
    services: Vec<&'static Service>,
    protocols: Vec<&'static str>,
    accept: bool,
}

fn service_xml(s: &Service, digest: &str) -> Vec<u8> {
    let mut x = xml_header(NAME, digest);
    x.push_str("<service>\n");
    x.push_str(&format!("  <short>{}</short>\n", s.name));
    x.push_str(&format!("  <description>{}</description>\n", s.description));
    for (port, proto) in s.ports {
        x.push_str(&format!("  <port protocol=\"{proto}\" port=\"{port}\"/>\n"));
    }
    x.push_str("</service>\n");
    x.into_bytes()
}

fn zone_xml(z: &Zone, digest: &str) -> Vec<u8> {
    let mut x = xml_header(NAME, digest);
    if z.accept {
        x.push_str("<zone target=\"ACCEPT\">\n");
    } else {
        x.push_str("<zone>\n");
    }
    x.push_str(&format!("  <short>{}</short>\n", z.name));
    x.push_str(&format!(
        "  <description>mk: {} ({})</description>\n",
        z.planes.join(", "),
        z.cidrs.join(", ")
    ));
    for c in &z.cidrs {
        x.push_str(&format!("  <source address=\"{c}\"/>\n"));
    }
    for s in &z.services {
        x.push_str(&format!("  <service name=\"{}\"/>\n", s.name));
    }
    for p in &z.protocols {
        x.push_str(&format!("  <protocol value=\"{p}\"/>\n"));
    }
    x.push_str("</zone>\n");
    x.into_bytes()
}

pub(crate) fn step(ctx: &Ctx) -> Result<Step, PlanError> {
    let cp = ctx.control_plane;
    let vip = ctx.spec.cluster.api_endpoint.vip.is_some();
    let a = &ctx.addrs;
    let planes = [
        ("control", a.control.cidr.to_string()),
        ("workload", a.workload.cidr.to_string()),
        ("etcd", a.etcd.cidr.to_string()),
    ];
    let pod = ctx.spec.cluster.pod_cidr.clone();
    let svc = ctx.spec.cluster.service_cidr.clone();
    let inputs = json!({
        "planes": planes,
        "pod": pod,
        "service": svc,
        "controlPlane": cp,
        "vip": vip,
    });
    let mut zones: Vec<Zone> = Vec::new();
    for (plane, cidr) in &planes {
        let (services, protocols): (Vec<&'static Service>, Vec<&'static str>) = match *plane {
            "control" => {
                let mut s = vec![&KUBELET];
                if cp {
                    s.insert(0, &APISERVER);
                    s.push(&REGISTRY);
                }
                (s, if cp && vip { vec!["vrrp"] } else { vec![] })
            }
            // Calico's IPIP encapsulation is IP protocol 4 (R33).
            "workload" => (vec![&NODEPORTS, &CALICO], vec!["ipip"]),
            _ => (if cp { vec![&ETCD] } else { vec![] }, vec![]),
        };
        match zones.iter_mut().find(|z| z.cidrs[0] == *cidr) {
            Some(z) => {
                z.planes.push(plane);
                for s in services {
                    if !z.services.iter().any(|t| t.name == s.name) {
                        z.services.push(s);
                    }
                }
                for p in protocols {
                    if !z.protocols.contains(&p) {
                        z.protocols.push(p);
                    }
                }
            }
            None => zones.push(Zone {
                name: format!("mk-{plane}"),
                planes: vec![plane],
                cidrs: vec![cidr.clone()],
                services,
                protocols,
                accept: false,
            }),
        }
    }
    // Pod and service networks: CNI and kube-proxy traffic passes (R25);
    // what pods may reach is NetworkPolicy's business, not the host's.
    zones.push(Zone {
        name: "mk-pods".into(),
        planes: vec!["pods", "services"],
        cidrs: vec![pod, svc],
        services: vec![],
        protocols: vec![],
        accept: true,
    });
    Ok(super::make(NAME, inputs, |digest| {
        let mut actions: Vec<Action> = vec![
            dir("/etc/firewalld", 0o750, Owner::ROOT),
            dir(ZONES, 0o750, Owner::ROOT),
            dir(SERVICES, 0o750, Owner::ROOT),
        ];
        let mut used: Vec<&Service> = Vec::new();
        for z in &zones {
            for s in &z.services {
                if !used.iter().any(|u| u.name == s.name) {
                    used.push(s);
                }
            }
        }
        used.sort_by_key(|s| s.name);
        for s in used {
            actions.push(write(
                format!("{SERVICES}/{}.xml", s.name),
                service_xml(s, digest),
                0o644,
                Owner::ROOT,
            ));
        }
        for z in &zones {
            actions.push(write(
                format!("{ZONES}/{}.xml", z.name),
                zone_xml(z, digest),
                0o644,
                Owner::ROOT,
            ));
        }
        actions
    }))
}
