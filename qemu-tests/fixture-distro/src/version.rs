//! Debian version -> RPM epoch/version/release. Pure.
//!
//! `[epoch:]upstream[-revision]` maps to epoch, version = upstream, release
//! = revision ("0" for native packages, which have none). RPM forbids '-'
//! and ':' in version and release; Debian allows both inside `upstream`
//! (when a revision or epoch exists), so they become '_'. Limits (also in
//! docs/fixture-distro.md): rpmvercmp treats every non-alphanumeric
//! character except '~' and '^' as a plain separator, while dpkg orders
//! them (`1.0+1` < `1.0.1` for dpkg, equal for rpm), and the two disagree
//! on some letter/digit mixes. The converter therefore checks every
//! versioned relationship it keeps against the chosen provider with rpm's
//! rules and drops the version where rpm would disagree (logged).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmVersion {
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
}

impl RpmVersion {
    /// `[E:]V-R`, as rpm prints it in dependencies.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c == '-' || c == ':' { '_' } else { c })
        .collect()
}

pub fn map_version(deb: &str) -> Result<RpmVersion, String> {
    let deb = deb.trim();
    let (epoch, rest) = match deb.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()) => (
            Some(
                e.parse::<u32>()
                    .map_err(|_| format!("{deb:?}: epoch too large"))?,
            ),
            rest,
        ),
        _ => (None, deb),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, r),
        None => (rest, "0"),
    };
    let version = sanitize(upstream);
    let release = sanitize(revision);
    for (what, v) in [("upstream version", &version), ("revision", &release)] {
        if let Some(p) = mk_rpmpack::validate::version_problem(v) {
            return Err(format!("{deb:?}: {what} {v:?}: {p}"));
        }
    }
    Ok(RpmVersion {
        epoch,
        version,
        release,
    })
}

/// A version used in a relationship: same mapping, but without a revision
/// the release is left out (`>= 2.34` matches any release, as in Debian
/// where `2.34` < `2.34-1` but every packaged 2.34 has some revision).
pub fn map_constraint_version(deb: &str) -> Result<String, String> {
    let v = map_version(deb)?;
    let has_revision = deb.split_once(':').map_or(deb, |(_, r)| r).contains('-');
    let e = v.epoch.map(|e| format!("{e}:")).unwrap_or_default();
    Ok(if has_revision {
        format!("{e}{}-{}", v.version, v.release)
    } else {
        format!("{e}{}", v.version)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        let v = map_version("2:2.20221101-9").unwrap();
        assert_eq!(
            (v.epoch, v.version.as_str(), v.release.as_str()),
            (Some(2), "2.20221101", "9")
        );
        let v = map_version("252.39-1~deb12u2").unwrap();
        assert_eq!(v.evr(), "252.39-1~deb12u2");
        let v = map_version("5.2.15").unwrap();
        assert_eq!(v.evr(), "5.2.15-0");
        let v = map_version("1:2.3-rc1-4+b1").unwrap();
        assert_eq!(v.evr(), "1:2.3_rc1-4+b1");
        let v = map_version("1.0:beta-2").unwrap();
        assert_eq!(v.version, "1.0_beta");
        assert!(map_version("1.0-bad rev").is_err());
        assert_eq!(map_constraint_version("2.34").unwrap(), "2.34");
        assert_eq!(map_constraint_version("1:2.3-4").unwrap(), "1:2.3-4");
    }
}
