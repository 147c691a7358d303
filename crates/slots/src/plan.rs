//! Pure decisions: which slot an update writes, whether it may, whether the
//! new root fits; and what `mark-good` changes. No I/O.

use mk_grubenv::{GrubEnv, GrubEnvError};

use crate::cmdline::Booted;
use crate::disk::{Partition, SlotDisk};
use crate::{Slot, TRIES};

/// The three grubenv variables of the boot contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotEnv {
    /// `mk_default`: the slot booted normally.
    pub default: Slot,
    /// `mk_next`: a slot on trial, if any.
    pub next: Option<Slot>,
    /// `mk_tries`: boots left for `next` (GRUB treats anything but 1..=3 as none).
    pub tries: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("grubenv: {name}={value:?} is not valid: expected {expected}")]
    Env {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("mk.slot={0:?} on the kernel command line is neither a nor b")]
    BadCmdlineSlot(String),
    #[error(
        "cannot tell which slot is running: the kernel command line has no mk.slot=, and root={root} is neither root-a nor root-b of {disk} (was the node booted by mk's grub.cfg?)"
    )]
    UnknownBooted { root: String, disk: String },
    #[error(
        "the running root PARTUUID={running} is not {disk}'s {part} (PARTUUID={on_disk}): pass --disk with the disk the node booted from"
    )]
    OtherDisk {
        running: String,
        disk: String,
        part: &'static str,
        on_disk: String,
    },
    #[error(
        "slot {slot} is on trial (booted from it, {tries} tries left): run `mk-node mark-good` once the node is healthy, or reboot to fall back to slot {default}; then update again"
    )]
    OnTrial {
        slot: Slot,
        tries: u32,
        default: Slot,
    },
    #[error(
        "slot {slot} already holds an update waiting for its trial boot ({tries} tries): reboot to try it (then `mk-node mark-good`), before updating again"
    )]
    Pending { slot: Slot, tries: u32 },
    #[error(
        "the running slot {booted} is not the default slot ({default}): an update would overwrite the slot the node boots by default; reboot into slot {default} and update from there"
    )]
    NotDefault { booted: Slot, default: Slot },
    #[error(
        "{disk} has no partition root-b: it was laid out before A/B slots and cannot be updated in place; re-image it with a current image"
    )]
    NoSlotB { disk: String },
    #[error("slot too small: {part} is {slot_size} bytes, the new root is {root_size} bytes")]
    TooSmall {
        part: &'static str,
        slot_size: u64,
        root_size: u64,
    },
    #[error("{0}")]
    Grubenv(String),
}

impl From<GrubEnvError> for PlanError {
    fn from(e: GrubEnvError) -> Self {
        PlanError::Grubenv(e.to_string())
    }
}

impl SlotEnv {
    /// Reads the contract's variables. A missing or invalid `mk_default` is
    /// an error (GRUB would boot `a`, but guessing here could overwrite the
    /// slot that boots); a missing `mk_next`/`mk_tries` means none/0.
    pub fn from_env(env: &GrubEnv) -> Result<SlotEnv, PlanError> {
        let default_raw = env.get("mk_default").unwrap_or("");
        let default = Slot::parse(default_raw).ok_or_else(|| PlanError::Env {
            name: "mk_default",
            value: default_raw.to_string(),
            expected: "a or b",
        })?;
        let next = match env.get("mk_next").unwrap_or("") {
            "" => None,
            v => Some(Slot::parse(v).ok_or_else(|| PlanError::Env {
                name: "mk_next",
                value: v.to_string(),
                expected: "empty, a or b",
            })?),
        };
        let tries_raw = env.get("mk_tries").unwrap_or("0");
        let tries = tries_raw.parse::<u32>().map_err(|_| PlanError::Env {
            name: "mk_tries",
            value: tries_raw.to_string(),
            expected: "a number 0..3",
        })?;
        Ok(SlotEnv {
            default,
            next,
            tries,
        })
    }

    /// A trial GRUB will still start (`mk_next` set, 1..=3 tries left).
    pub fn trial_pending(&self) -> Option<Slot> {
        self.next.filter(|_| (1..=TRIES).contains(&self.tries))
    }
}

/// The running slot, from `mk.slot=` and checked against `root=PARTUUID=`
/// when both are there (so that `--disk` names the disk that booted).
pub fn booted_slot(booted: &Booted, disk: &SlotDisk) -> Result<Slot, PlanError> {
    let disk_name = disk.path.display().to_string();
    let slot = match &booted.slot {
        Some(Err(v)) => return Err(PlanError::BadCmdlineSlot(v.clone())),
        Some(Ok(s)) => *s,
        None => {
            let root = booted.root_partuuid.as_deref().unwrap_or("");
            return disk
                .slot_of_partuuid(root)
                .ok_or_else(|| PlanError::UnknownBooted {
                    root: if root.is_empty() {
                        "(none)".into()
                    } else {
                        format!("PARTUUID={root}")
                    },
                    disk: disk_name,
                });
        }
    };
    if let Some(running) = &booted.root_partuuid {
        let part = disk.slot(slot);
        if !part.is_some_and(|p| p.partuuid.eq_ignore_ascii_case(running)) {
            return Err(PlanError::OtherDisk {
                running: running.clone(),
                disk: disk_name,
                part: slot.partition_name(),
                on_disk: part.map_or("(none)".into(), |p| p.partuuid.clone()),
            });
        }
    }
    Ok(slot)
}

/// What an update does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    pub booted: Slot,
    /// The inactive slot that receives the new root and boot files.
    pub target: Slot,
    pub partition: Partition,
    /// The grubenv to store once everything else is written and checked.
    pub env_after: GrubEnv,
}

/// Decides an update of a root of `root_size` bytes.
pub fn plan_update(
    booted: &Booted,
    env: &GrubEnv,
    disk: &SlotDisk,
    root_size: u64,
) -> Result<UpdatePlan, PlanError> {
    let state = SlotEnv::from_env(env)?;
    let running = booted_slot(booted, disk)?;
    if state.next == Some(running) {
        return Err(PlanError::OnTrial {
            slot: running,
            tries: state.tries,
            default: state.default,
        });
    }
    if let Some(pending) = state.trial_pending() {
        return Err(PlanError::Pending {
            slot: pending,
            tries: state.tries,
        });
    }
    if running != state.default {
        return Err(PlanError::NotDefault {
            booted: running,
            default: state.default,
        });
    }
    let target = running.other();
    let partition = disk
        .slot(target)
        .cloned()
        .ok_or_else(|| PlanError::NoSlotB {
            disk: disk.path.display().to_string(),
        })?;
    if root_size > partition.size {
        return Err(PlanError::TooSmall {
            part: target.partition_name(),
            slot_size: partition.size,
            root_size,
        });
    }
    let mut env_after = env.clone();
    env_after.set("mk_next", target.as_str())?;
    env_after.set("mk_tries", &TRIES.to_string())?;
    // The block must still fit before anything is written.
    env_after.render()?;
    Ok(UpdatePlan {
        booted: running,
        target,
        partition,
        env_after,
    })
}

/// What `mark-good` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkGood {
    /// The running slot was on trial: it becomes the default.
    Promote { slot: Slot, env_after: GrubEnv },
    /// Nothing to do; the reason is logged.
    Nothing(String),
}

/// Decides `mark-good` for the running slot. Only a slot on trial that is
/// running is promoted; anything else changes nothing (mark-good runs on
/// every boot, and must not clear an update that waits for its reboot).
pub fn plan_mark_good(running: Slot, env: &GrubEnv) -> Result<MarkGood, PlanError> {
    let state = SlotEnv::from_env(env)?;
    if state.next == Some(running) {
        let mut env_after = env.clone();
        env_after.set("mk_default", running.as_str())?;
        env_after.set("mk_next", "")?;
        env_after.set("mk_tries", "0")?;
        env_after.render()?;
        return Ok(MarkGood::Promote {
            slot: running,
            env_after,
        });
    }
    Ok(MarkGood::Nothing(match state.next {
        Some(next) => format!(
            "running slot {running}; slot {next} waits for its trial boot ({} tries): nothing to mark",
            state.tries
        ),
        None if running == state.default => {
            format!("running slot {running} is already the default: nothing to mark")
        }
        None => format!(
            "running slot {running} is not on trial and not the default ({}): nothing to mark",
            state.default
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    const GIB: u64 = 1 << 30;

    fn part(name: &str, uuid: &str, size: u64) -> Partition {
        Partition {
            number: 0,
            name: name.into(),
            partuuid: uuid.into(),
            offset: 0,
            size,
        }
    }

    fn disk(with_b: bool) -> SlotDisk {
        SlotDisk {
            path: PathBuf::from("/dev/vda"),
            esp: part("esp", "e", GIB),
            root_a: part("root-a", "aaaa", 2 * GIB),
            root_b: with_b.then(|| part("root-b", "bbbb", 2 * GIB)),
        }
    }

    fn env(default: &str, next: &str, tries: &str) -> GrubEnv {
        let mut e = GrubEnv::new();
        e.set("mk_default", default).unwrap();
        e.set("mk_next", next).unwrap();
        e.set("mk_tries", tries).unwrap();
        e
    }

    fn on(slot: &str) -> Booted {
        crate::cmdline::parse(&format!("mk.slot={slot}"))
    }

    #[test]
    fn fresh_node_updates_slot_b_for_three_tries() {
        let p = plan_update(&on("a"), &env("a", "", "0"), &disk(true), GIB).unwrap();
        assert_eq!((p.booted, p.target), (Slot::A, Slot::B));
        assert_eq!(p.partition.name, "root-b");
        assert_eq!(p.env_after.get("mk_next"), Some("b"));
        assert_eq!(p.env_after.get("mk_tries"), Some("3"));
        assert_eq!(p.env_after.get("mk_default"), Some("a"));
    }

    #[test]
    fn refusals_say_what_to_do() {
        let d = disk(true);
        let e = plan_update(&on("b"), &env("a", "b", "2"), &d, GIB).unwrap_err();
        assert!(e.to_string().contains("mk-node mark-good"), "{e}");
        let e = plan_update(&on("a"), &env("a", "b", "3"), &d, GIB).unwrap_err();
        assert!(
            matches!(
                e,
                PlanError::Pending {
                    slot: Slot::B,
                    tries: 3
                }
            ),
            "{e}"
        );
        let e = plan_update(&on("b"), &env("a", "", "0"), &d, GIB).unwrap_err();
        assert!(e.to_string().contains("reboot into slot a"), "{e}");
        let e = plan_update(&on("a"), &env("a", "", "0"), &disk(false), GIB).unwrap_err();
        assert!(e.to_string().contains("no partition root-b"), "{e}");
        let e = plan_update(&on("a"), &env("a", "", "0"), &d, 3 * GIB).unwrap_err();
        assert_eq!(
            e.to_string(),
            "slot too small: root-b is 2147483648 bytes, the new root is 3221225472 bytes"
        );
        let e = plan_update(&on("a"), &env("x", "", "0"), &d, GIB).unwrap_err();
        assert!(e.to_string().contains("mk_default=\"x\""), "{e}");
    }

    #[test]
    fn a_failed_trial_can_be_overwritten() {
        // GRUB used the last try (tries 0) but could not clear mk_next.
        let p = plan_update(&on("a"), &env("a", "b", "0"), &disk(true), GIB).unwrap();
        assert_eq!(p.target, Slot::B);
    }

    #[test]
    fn booted_slot_from_root_partuuid_and_checked_against_it() {
        let d = disk(true);
        let b = crate::cmdline::parse("root=PARTUUID=BBBB ro");
        assert_eq!(booted_slot(&b, &d).unwrap(), Slot::B);
        let b = crate::cmdline::parse("root=PARTUUID=cccc mk.slot=a");
        let e = booted_slot(&b, &d).unwrap_err();
        assert!(e.to_string().contains("pass --disk"), "{e}");
        let e = booted_slot(&crate::cmdline::parse("ro"), &d).unwrap_err();
        assert!(matches!(e, PlanError::UnknownBooted { .. }), "{e}");
    }

    #[test]
    fn mark_good_promotes_only_the_running_trial() {
        let MarkGood::Promote { slot, env_after } =
            plan_mark_good(Slot::B, &env("a", "b", "1")).unwrap()
        else {
            panic!("not promoted")
        };
        assert_eq!(slot, Slot::B);
        assert_eq!(
            env_after.to_string(),
            "mk_default=b\nmk_next=\nmk_tries=0\n"
        );
        // Last try: GRUB already counted it down to 0, still on trial.
        assert!(matches!(
            plan_mark_good(Slot::B, &env("a", "b", "0")).unwrap(),
            MarkGood::Promote { .. }
        ));
        // Update written, not rebooted yet: left alone.
        assert!(matches!(
            plan_mark_good(Slot::A, &env("a", "b", "3")).unwrap(),
            MarkGood::Nothing(_)
        ));
        assert!(matches!(
            plan_mark_good(Slot::A, &env("a", "", "0")).unwrap(),
            MarkGood::Nothing(_)
        ));
    }

    fn slot() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("a"), Just("b")]
    }

    proptest! {
        /// Whatever the state: an update never targets the running slot or
        /// the default slot, and mark-good never changes the default to a
        /// slot that is not running.
        #[test]
        fn never_overwrites_running_or_default(
            running in slot(), default in slot(),
            next in prop_oneof![Just(""), Just("a"), Just("b")], tries in 0u32..5,
            size in 0u64..3 * GIB,
        ) {
            let e = env(default, next, &tries.to_string());
            if let Ok(p) = plan_update(&on(running), &e, &disk(true), size) {
                prop_assert_ne!(p.target.as_str(), running);
                prop_assert_ne!(p.target.as_str(), default);
                prop_assert!(size <= 2 * GIB);
                prop_assert_eq!(p.env_after.get("mk_default"), Some(default));
            }
            let running = Slot::parse(running).unwrap();
            match plan_mark_good(running, &e).unwrap() {
                MarkGood::Promote { slot, env_after } => {
                    prop_assert_eq!(slot, running);
                    prop_assert_eq!(env_after.get("mk_default"), Some(running.as_str()));
                    prop_assert_eq!(env_after.get("mk_next"), Some(""));
                }
                MarkGood::Nothing(_) => prop_assert_ne!(Some(running.as_str()), Some(next)),
            }
        }
    }
}
