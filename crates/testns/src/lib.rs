//! A test that needs DNS names (R28: certificates and URLs carry names,
//! never addresses) re-runs itself inside private namespaces: a mount
//! namespace with its own /etc/hosts bind-mounted over the host's, and
//! optionally a network namespace with only loopback (no route out, ports
//! free whatever runs on the machine). The host's files are never touched.
//!
//! ```no_run
//! #[test]
//! fn joins_by_name() {
//!     if !mk_testns::Namespace::new("127.0.0.1 localhost\n127.0.5.2 cp1.lab.test\n")
//!         .run_test("joins_by_name")
//!     {
//!         return; // it ran, and passed, inside
//!     }
//!     // ... the test itself, names resolving through the private hosts file
//! }
//! ```
//!
//! Needs root, util-linux's `unshare` and `mount`, and iproute2's `ip` for
//! a private network.

use std::ffi::OsString;
use std::process::{Command, ExitStatus};

/// Set in the re-run's environment: the process is inside.
pub const INSIDE: &str = "MK_TEST_NAMESPACE";

/// Whether this process runs inside a [`Namespace`].
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// What the re-run gets.
#[derive(Debug, Clone)]
pub struct Namespace {
    hosts: String,
    network: bool,
    env: Vec<(String, OsString)>,
}

impl Namespace {
    /// A mount namespace whose /etc/hosts holds `hosts`.
    pub fn new(hosts: impl Into<String>) -> Self {
        Namespace {
            hosts: hosts.into(),
            network: false,
            env: Vec::new(),
        }
    }

    /// Also a network namespace with loopback up and nothing else.
    pub fn private_network(mut self) -> Self {
        self.network = true;
        self
    }

    /// An environment variable for the re-run (what was prepared outside,
    /// e.g. paths of things built while the network was there).
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Inside already: `true`, run the test's body. Outside: re-runs test
    /// `name` of this test binary inside (ignored or not), asserts that it
    /// passed there and returns `false`.
    pub fn run_test(self, name: &str) -> bool {
        if inside() {
            return true;
        }
        let status = self.run([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        assert!(status.success(), "{name} failed inside its namespaces");
        false
    }

    /// Runs this executable again inside with `args` (a benchmark passes
    /// its own arguments on); its exit status.
    pub fn run<I, S>(self, args: I) -> ExitStatus
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let dir = tempfile::tempdir().expect("a temporary directory for the hosts file");
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, &self.hosts).expect("writing the private hosts file");
        let mut flags = vec!["--mount"];
        let mut script = String::new();
        if self.network {
            flags.push("--net");
            script.push_str("ip link set lo up && ");
        }
        // The hosts file's path is ours (a temporary directory): no quoting
        // beyond sh's double quotes is needed.
        script.push_str(&format!(
            "mount --bind \"{}\" /etc/hosts && exec \"$0\" \"$@\"",
            hosts.display()
        ));
        let mut cmd = Command::new("unshare");
        cmd.args(&flags)
            .args(["--propagation", "private", "sh", "-c"])
            .arg(script)
            .arg(std::env::current_exe().expect("the running executable"))
            .args(args.into_iter().map(Into::into))
            .env(INSIDE, "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.status()
            .expect("unshare (util-linux) must be installed; the tests run as root")
    }
}
