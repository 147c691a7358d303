//! Test set-up shared by the crates that write keyfiles (feature
//! `testing`): NetworkManager's own keyfile parser as the judge.

use std::io::Write;
use std::process::{Command, Stdio};

/// NetworkManager's reading of `keyfile` (the profile it would load,
/// printed back as a keyfile), or its error. `nmcli --offline`
/// (NetworkManager 1.40 and later) runs the daemon's keyfile parser and
/// profile verification without a daemon. `modify connection.metered
/// unknown` sets a property to its default, which is never written out, so
/// that what comes back is exactly what NetworkManager understood of ours.
pub fn nm_reads(keyfile: &str) -> Result<String, String> {
    let mut child = Command::new("nmcli")
        .args([
            "--offline",
            "connection",
            "modify",
            "connection.metered",
            "unknown",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nmcli (NetworkManager >= 1.40; .ci/setup installs network-manager)");
    // A failed write (nmcli gone early) still waits for the child below.
    let written = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(keyfile.as_bytes());
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    written.map_err(|e| format!("writing to nmcli: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
