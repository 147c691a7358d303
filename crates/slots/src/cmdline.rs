//! What the running kernel was booted from: `mk.slot=` and
//! `root=PARTUUID=` on /proc/cmdline (written by EFI/mk/grub.cfg).

use crate::Slot;

/// The booted slot and root, as the kernel command line says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Booted {
    /// `mk.slot=a|b`; `Err(value)` when present but neither.
    pub slot: Option<Result<Slot, String>>,
    /// `root=PARTUUID=<uuid>`, lowercased.
    pub root_partuuid: Option<String>,
}

/// Parses a kernel command line. The last occurrence of a parameter wins,
/// as it does for the kernel and systemd.
pub fn parse(cmdline: &str) -> Booted {
    let mut booted = Booted::default();
    for word in cmdline.split_ascii_whitespace() {
        if let Some(v) = word.strip_prefix("mk.slot=") {
            booted.slot = Some(Slot::parse(v).ok_or_else(|| v.to_string()));
        } else if let Some(v) = word.strip_prefix("root=") {
            booted.root_partuuid = v.strip_prefix("PARTUUID=").map(|u| u.to_ascii_lowercase());
        }
    }
    booted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_slot_and_root() {
        let b = parse("BOOT_IMAGE=/x root=PARTUUID=ABCD-1 mk.slot=b ro quiet\n");
        assert_eq!(b.slot, Some(Ok(Slot::B)));
        assert_eq!(b.root_partuuid.as_deref(), Some("abcd-1"));
        let b = parse("root=/dev/sda3 mk.slot=c");
        assert_eq!(b.slot, Some(Err("c".into())));
        assert_eq!(b.root_partuuid, None);
        assert_eq!(parse("ro"), Booted::default());
    }
}
