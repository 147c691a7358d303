//! The install-time kickstart subset: which drive the image goes onto.
//! `ignoredisk --only-use=` and `clearpart --drives=`, as Anaconda reads
//! them (comma-separated; both given: the drives in both). Everything else
//! in the file is for the image build (mk-kickstart, which refuses
//! `ignoredisk` there because an image has no disks to choose) and is
//! ignored here.

use crate::target::Request;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KickstartError {
    #[error("{file}:{line}: {what}")]
    Line {
        file: String,
        line: usize,
        what: String,
    },
}

/// The drive request of a kickstart, or `None` when it names no drives.
pub fn drives(file: &str, text: &str) -> Result<Option<Request>, KickstartError> {
    let mut only_use: Option<(usize, Vec<String>)> = None;
    let mut clearpart: Option<(usize, Vec<String>)> = None;
    let mut in_section = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.starts_with("%end") {
            in_section = false;
            continue;
        }
        if trimmed.starts_with('%') {
            in_section = true;
            continue;
        }
        if in_section || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |what: String| KickstartError::Line {
            file: file.into(),
            line,
            what,
        };
        let words = shlex::split(trimmed).ok_or_else(|| err("unbalanced quotes".into()))?;
        let (cmd, opt) = match words.first().map(String::as_str) {
            Some("ignoredisk") => ("ignoredisk", "--only-use"),
            Some("clearpart") => ("clearpart", "--drives"),
            _ => continue,
        };
        let mut list = None;
        let mut it = words.iter().skip(1);
        while let Some(w) = it.next() {
            if let Some(v) = w.strip_prefix(&format!("{opt}=")) {
                list = Some(v.to_string());
            } else if w == opt {
                list = Some(
                    it.next()
                        .ok_or_else(|| err(format!("`{cmd} {opt}` needs a value")))?
                        .clone(),
                );
            } else if cmd == "ignoredisk" && (w == "--drives" || w.starts_with("--drives=")) {
                return Err(err(
                    "`ignoredisk --drives` (disks to skip) is not supported: name the target with `ignoredisk --only-use=`".into(),
                ));
            }
        }
        let Some(list) = list else { continue };
        let drives: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if drives.is_empty() {
            return Err(err(format!("`{cmd} {opt}=` names no drive")));
        }
        let slot = if cmd == "ignoredisk" {
            &mut only_use
        } else {
            &mut clearpart
        };
        if slot.is_some() {
            return Err(err(format!("`{cmd} {opt}` given twice")));
        }
        *slot = Some((line, drives));
    }
    Ok(match (only_use, clearpart) {
        (None, None) => None,
        (Some((l, d)), None) => Some(Request::Drives {
            drives: d,
            from: format!("{file}:{l}: ignoredisk --only-use"),
        }),
        (None, Some((l, d))) => Some(Request::Drives {
            drives: d,
            from: format!("{file}:{l}: clearpart --drives"),
        }),
        (Some((l1, a)), Some((l2, b))) => Some(Request::Drives {
            drives: a.into_iter().filter(|d| b.contains(d)).collect(),
            from: format!("{file}:{l1},{l2}: ignoredisk --only-use and clearpart --drives"),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_use_and_drives() {
        let ks = "text\nignoredisk --only-use=sda,sdb\nclearpart --all --drives=sdb\n%packages\nignoredisk --only-use=x\n%end\n";
        let Some(Request::Drives { drives, from }) = drives("n.ks", ks).unwrap() else {
            panic!()
        };
        assert_eq!(drives, ["sdb"]);
        assert_eq!(
            from,
            "n.ks:2,3: ignoredisk --only-use and clearpart --drives"
        );
        assert_eq!(drives_of("clearpart --all\n"), None);
        assert_eq!(
            drives_of("ignoredisk --only-use disk/by-id/virtio-D1\n"),
            Some(vec!["disk/by-id/virtio-D1".to_string()])
        );
        let e = super::drives("n.ks", "\n\nignoredisk --drives=sdc\n").unwrap_err();
        assert!(
            e.to_string().starts_with("n.ks:3: `ignoredisk --drives`"),
            "{e}"
        );
        assert!(super::drives("n.ks", "clearpart --drives=\n").is_err());
    }

    fn drives_of(ks: &str) -> Option<Vec<String>> {
        match drives("k", ks).unwrap()? {
            Request::Drives { drives, .. } => Some(drives),
            _ => None,
        }
    }
}
