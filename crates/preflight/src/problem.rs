//! What the preflight reports: one [`Problem`] per thing a static pod
//! needs and the node would not give it, named the way an operator
//! finds it again (pod, field path, the path or reference at fault, what
//! was found and what was expected).

use std::fmt;

/// Which check found the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// A hostPath volume the node does not have with the type asked for.
    HostPath,
    /// A file a flag or a kubeconfig names that is not mounted into the
    /// container (or not read-only, or not on the host).
    Mount,
    /// An image reference none of the baked archives (or the registry) has.
    Image,
    /// An exec probe whose command the image does not carry.
    Probe,
    /// An image or container environment variable the component also
    /// reads as one of its flags.
    Env,
}

/// One problem: `pod `etcd`: spec.volumes[2].hostPath (/etc/pki): does not
/// exist ..., expected ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The pod's `metadata.name` (or the manifest's file name).
    pub pod: String,
    pub check: Check,
    /// Where in the manifest: `spec.volumes[2].hostPath`,
    /// `spec.containers[0].command[5]`, or a kubeconfig's field.
    pub field: String,
    /// The path, flag or reference at fault.
    pub subject: String,
    /// What was found (or not).
    pub found: String,
    /// What would have been right.
    pub expected: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pod `{}`: {} ({}): {}, expected {}",
            self.pod, self.field, self.subject, self.found, self.expected
        )
    }
}

/// Builds problems for one pod (keeps the checks short).
pub(crate) struct Reporter<'a> {
    pub pod: &'a str,
    pub out: &'a mut Vec<Problem>,
}

impl Reporter<'_> {
    pub fn push(
        &mut self,
        check: Check,
        field: impl Into<String>,
        subject: impl Into<String>,
        found: impl Into<String>,
        expected: impl Into<String>,
    ) {
        self.out.push(Problem {
            pod: self.pod.to_string(),
            check,
            field: field.into(),
            subject: subject.into(),
            found: found.into(),
            expected: expected.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pod_field_path_and_expectation() {
        let p = Problem {
            pod: "etcd".into(),
            check: Check::HostPath,
            field: "spec.volumes[2].hostPath".into(),
            subject: "/etc/pki".into(),
            found: "does not exist".into(),
            expected: "a directory".into(),
        };
        assert_eq!(
            p.to_string(),
            "pod `etcd`: spec.volumes[2].hostPath (/etc/pki): does not exist, expected a directory"
        );
    }
}
