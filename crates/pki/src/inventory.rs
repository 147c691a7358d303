//! `pki list`: every certificate under a directory (the admin's PKI
//! directory, a node bundle, or a node's /etc/kubernetes/pki).

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::cert::{self, CertInfo};

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub path: String,
    pub kind: &'static str,
    pub realm: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub issuer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub days_left: i64,
}

fn row(path: String, c: &CertInfo, now: OffsetDateTime) -> Row {
    let kind = match (c.is_ca, c.is_self_signed()) {
        (true, true) => "root",
        (true, false) => "intermediate",
        _ => "leaf",
    };
    let mut sans = c.dns_names.clone();
    sans.extend(c.ip_addresses.iter().map(|i| format!("IP:{i}")));
    Row {
        path,
        kind,
        realm: c.realm.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
        subject: c.subject.clone(),
        sans,
        issuer: c.issuer.clone(),
        not_after: c.not_after,
        days_left: c.days_left(now),
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if e.file_type()?.is_dir() {
            walk(&p, out)?;
        } else if name.ends_with(".crt") || name.ends_with(".pem") {
            out.push(p);
        }
    }
    Ok(())
}

/// One row per certificate file (the first certificate of each chain file).
/// Unreadable files are reported as errors, not skipped.
pub fn list(dir: &Path, now: OffsetDateTime) -> Result<Vec<Row>, String> {
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut rows = Vec::new();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let c = cert::parse_pem(&text, &f.display().to_string()).map_err(|e| e.to_string())?;
        rows.push(row(rel, &c, now));
    }
    Ok(rows)
}

fn short(dn: &str) -> String {
    dn.split(", ")
        .find_map(|p| p.strip_prefix("CN="))
        .unwrap_or(dn)
        .to_string()
}

/// A fixed-width table for terminals.
pub fn table(rows: &[Row]) -> String {
    let head = [
        "PATH",
        "KIND",
        "REALM",
        "SUBJECT",
        "SANS",
        "ISSUER",
        "NOT AFTER",
        "DAYS",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.path.clone(),
                r.kind.to_string(),
                r.realm.clone(),
                short(&r.subject),
                if r.sans.is_empty() {
                    "-".into()
                } else {
                    r.sans.join(",")
                },
                short(&r.issuer),
                r.not_after
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                r.days_left.to_string(),
            ]
        })
        .collect();
    let mut w = head.map(str::len);
    for c in &cells {
        for (i, v) in c.iter().enumerate() {
            w[i] = w[i].max(v.len());
        }
    }
    let line = |v: &[String]| {
        v.iter()
            .enumerate()
            .map(|(i, s)| format!("{s:<width$}", width = w[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut s = line(&head.map(String::from));
    for c in &cells {
        s.push_str(&line(c));
    }
    s
}

pub fn json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).expect("rows serialise")
}
