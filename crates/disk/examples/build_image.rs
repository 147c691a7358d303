//! Builds a disk image from staging trees; used by bench/disk.sh.
//!
//! build_image --out IMG --esp DIR --root DIR [--root-labels FILE]
//!             [--state DIR] --state-mib N [--esp-mib N] [--root-mib N]
//!             [--seed S] [--epoch N] [--qcow2 PATH]
//! Label files hold one `PATH<TAB>CONTEXT` per line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mk_disk::layout::MIB;
use mk_disk::{build_image, DiskSpec, EspSpec, FsSpec};

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        args.insert(k.trim_start_matches("--").to_string(), v);
    }
    let get = |k: &str| args.get(k).cloned();
    let need = |k: &str| get(k).unwrap_or_else(|| panic!("--{k} is required"));
    let mib = |k: &str| get(k).map(|v| v.parse::<u64>().expect("MiB number") * MIB);
    let labels = get("root-labels")
        .map(|f| {
            std::fs::read_to_string(&f)
                .unwrap_or_else(|e| panic!("{f}: {e}"))
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .map(|(p, c)| (p.to_string(), c.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut esp = EspSpec::new(need("esp"));
    if let Some(s) = mib("esp-mib") {
        esp.size = s;
    }
    let spec = DiskSpec {
        output: PathBuf::from(need("out")),
        qcow2: get("qcow2").map(PathBuf::from),
        seed: get("seed").unwrap_or_else(|| "bench".into()),
        source_date_epoch: get("epoch").map_or(1_700_000_000, |e| e.parse().expect("epoch")),
        esp,
        // Boot loader files are the staging tree's business here.
        bios: None,
        root: FsSpec {
            tree: Some(need("root").into()),
            size: mib("root-mib"),
            label: "mk-root".into(),
            selinux_labels: labels,
        },
        state: FsSpec {
            tree: get("state").map(PathBuf::from),
            size: Some(mib("state-mib").expect("--state-mib is required")),
            label: "mk-state".into(),
            selinux_labels: BTreeMap::new(),
        },
    };
    match build_image(&spec) {
        Ok(r) => println!("{}  {}", r.raw_sha256, r.raw.display()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
