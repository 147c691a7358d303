//! Which disk receives the image (pure): named by the admin (`--disk`,
//! `mk.install.disk=`: a device path, a name, a serial, a WWID or a
//! /dev/disk/by-id name), by the kickstart's drives, or the only eligible
//! disk. The install media's disk is never a target; a disk smaller than
//! the image never is either.

use crate::sysfs::{human, BlockDisk};

/// How the target was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `--disk` or `mk.install.disk=`; `from` says which, for messages.
    Named { token: String, from: String },
    /// The kickstart's `ignoredisk --only-use=` / `clearpart --drives=`.
    Drives { drives: Vec<String>, from: String },
    /// Nothing said: exactly one eligible disk.
    Auto,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("{from} names disk {token:?}, which is none of the disks here:\n{list}")]
    NoMatch {
        token: String,
        from: String,
        list: String,
    },
    #[error("{from} names disk {token:?}, which matches several disks ({matches}): name one by its device path:\n{list}")]
    Ambiguous {
        token: String,
        from: String,
        matches: String,
        list: String,
    },
    #[error("{from} names {disks}: mk installs onto exactly one disk, name one:\n{list}")]
    SeveralNamed {
        from: String,
        disks: String,
        list: String,
    },
    #[error("/dev/{disk} holds the install media: it is never a target")]
    IsMedia { disk: String },
    #[error("/dev/{disk} is {disk_human} ({disk_size} bytes), smaller than the image's {image_human} ({image_size} bytes)")]
    TooSmall {
        disk: String,
        disk_size: u64,
        disk_human: String,
        image_size: u64,
        image_human: String,
    },
    #[error("/dev/{disk} has an unreadable size in sysfs")]
    NoSize { disk: String },
    #[error("/dev/{disk} is read-only")]
    ReadOnly { disk: String },
    #[error(
        "/dev/{disk} has {block}-byte logical sectors; the image is laid out in 512-byte sectors"
    )]
    SectorSize { disk: String, block: u64 },
    #[error("/dev/{disk} has no serial number or WWID, so nobody can tell which physical disk it is: name it explicitly (mk.install.disk=/dev/{disk} or --disk /dev/{disk}) if it is the one")]
    Unidentified { disk: String },
    #[error("no disk to install onto{why}:\n{list}")]
    NoneEligible { why: String, list: String },
    #[error("{count} disks could receive the image; say which with mk.install.disk= on the kernel command line, --disk, or the kickstart's `ignoredisk --only-use=` (no interactive prompt yet):\n{list}")]
    Several { count: usize, list: String },
}

/// The disks as a console listing, the media disk marked.
pub fn listing(disks: &[BlockDisk], media: Option<&str>) -> String {
    if disks.is_empty() {
        return "  (no disks found under /sys/block)".into();
    }
    disks
        .iter()
        .map(|d| {
            let mark = if Some(d.name.as_str()) == media {
                "  (install media)"
            } else {
                ""
            };
            format!("  {d}{mark}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Does `token` name `disk`? Tokens: `/dev/sda`, `sda`, a serial, a WWID,
/// `/dev/disk/by-id/<id>` or `disk/by-id/<id>` where `<id>` is udev's
/// name (`virtio-SERIAL`, `ata-MODEL_SERIAL`, `nvme-MODEL_SERIAL`,
/// `wwn-WWID`, `scsi-...SERIAL`).
pub fn names(token: &str, disk: &BlockDisk) -> bool {
    let t = token.trim();
    let t = t.strip_prefix("/dev/").unwrap_or(t);
    if let Some(id) = t.strip_prefix("disk/by-id/") {
        let by_serial = disk.serial.as_deref().is_some_and(|s| {
            let s = s.replace(' ', "_");
            id.len() > s.len()
                && id.ends_with(&s)
                && matches!(id.as_bytes()[id.len() - s.len() - 1], b'-' | b'_')
        });
        let by_wwid = disk.wwid.as_deref().is_some_and(|w| {
            let w = w.strip_prefix("naa.").unwrap_or(w);
            id == format!("wwn-{w}") || id == format!("wwn-0x{w}") || id.ends_with(&format!("-{w}"))
        });
        return by_serial || by_wwid;
    }
    t == disk.name || disk.serial.as_deref() == Some(t) || disk.wwid.as_deref() == Some(t)
}

fn check_target<'a>(
    d: &'a BlockDisk,
    media: Option<&str>,
    image_size: u64,
) -> Result<&'a BlockDisk, SelectError> {
    if Some(d.name.as_str()) == media {
        return Err(SelectError::IsMedia {
            disk: d.name.clone(),
        });
    }
    if d.read_only {
        return Err(SelectError::ReadOnly {
            disk: d.name.clone(),
        });
    }
    if d.logical_block != 512 {
        return Err(SelectError::SectorSize {
            disk: d.name.clone(),
            block: d.logical_block,
        });
    }
    let Some(size) = d.size else {
        return Err(SelectError::NoSize {
            disk: d.name.clone(),
        });
    };
    if size < image_size {
        return Err(SelectError::TooSmall {
            disk: d.name.clone(),
            disk_size: size,
            disk_human: human(size),
            image_size,
            image_human: human(image_size),
        });
    }
    Ok(d)
}

fn resolve<'a>(
    disks: &'a [BlockDisk],
    token: &str,
    from: &str,
    media: Option<&str>,
) -> Result<&'a BlockDisk, SelectError> {
    let matches: Vec<&BlockDisk> = disks.iter().filter(|d| names(token, d)).collect();
    match matches.as_slice() {
        [] => Err(SelectError::NoMatch {
            token: token.into(),
            from: from.into(),
            list: listing(disks, media),
        }),
        [one] => Ok(one),
        many => Err(SelectError::Ambiguous {
            token: token.into(),
            from: from.into(),
            matches: many
                .iter()
                .map(|d| format!("/dev/{}", d.name))
                .collect::<Vec<_>>()
                .join(", "),
            list: listing(disks, media),
        }),
    }
}

/// Picks the target disk. `media` is the name of the disk holding the
/// install media, if known.
pub fn choose<'a>(
    disks: &'a [BlockDisk],
    request: &Request,
    media: Option<&str>,
    image_size: u64,
) -> Result<&'a BlockDisk, SelectError> {
    match request {
        Request::Named { token, from } => {
            check_target(resolve(disks, token, from, media)?, media, image_size)
        }
        Request::Drives { drives, from } => {
            let mut found: Vec<&BlockDisk> = Vec::new();
            for t in drives {
                let d = resolve(disks, t, from, media)?;
                if !found.iter().any(|f| f.name == d.name) {
                    found.push(d);
                }
            }
            match found.as_slice() {
                [one] => check_target(one, media, image_size),
                [] => Err(SelectError::NoneEligible {
                    why: format!(" ({from} names no drive)"),
                    list: listing(disks, media),
                }),
                many => Err(SelectError::SeveralNamed {
                    from: from.into(),
                    disks: many
                        .iter()
                        .map(|d| format!("/dev/{}", d.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                    list: listing(disks, media),
                }),
            }
        }
        Request::Auto => {
            // Removable disks (USB sticks, card readers, CD drives) are
            // only ever targets when named.
            let candidates: Vec<&BlockDisk> = disks
                .iter()
                .filter(|d| !d.removable && Some(d.name.as_str()) != media)
                .filter(|d| check_target(d, media, image_size).is_ok())
                .collect();
            match candidates.as_slice() {
                [one] if one.identity().is_none() => Err(SelectError::Unidentified {
                    disk: one.name.clone(),
                }),
                [one] => Ok(one),
                [] => Err(SelectError::NoneEligible {
                    why: format!(
                        " (a fixed, writable disk of at least {} that is not the install media)",
                        human(image_size)
                    ),
                    list: listing(disks, media),
                }),
                many => Err(SelectError::Several {
                    count: many.len(),
                    list: listing(disks, media),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(name: &str, gib: u64, serial: Option<&str>) -> BlockDisk {
        BlockDisk {
            name: name.into(),
            size: Some(gib << 30),
            serial: serial.map(String::from),
            wwid: None,
            model: Some("QEMU HARDDISK".into()),
            removable: false,
            read_only: false,
            logical_block: 512,
            partitions: vec![],
        }
    }

    #[test]
    fn by_id_names_match_serials_and_wwids() {
        let mut d = disk("sda", 10, Some("QM00001"));
        assert!(names("/dev/disk/by-id/ata-QEMU_HARDDISK_QM00001", &d));
        assert!(names("disk/by-id/virtio-QM00001", &d));
        assert!(!names("/dev/disk/by-id/ata-QEMU_HARDDISK_QM000010", &d));
        assert!(!names("/dev/disk/by-id/QM00001", &d));
        d.wwid = Some("naa.5000c500a1b2c3d4".into());
        assert!(names("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", &d));
        assert!(names("/dev/sda", &d) && names("sda", &d) && names("QM00001", &d));
        assert!(!names("/dev/sdb", &d));
    }

    #[test]
    fn auto_takes_the_only_fixed_disk_and_never_the_media() {
        let disks = [disk("sda", 8, Some("USB1")), disk("vda", 20, Some("D1"))];
        let mut usb = disks.clone();
        usb[0].removable = true;
        assert_eq!(
            choose(&usb, &Request::Auto, None, 1 << 30).unwrap().name,
            "vda"
        );
        // Not removable, but the media: still never chosen.
        assert_eq!(
            choose(&disks, &Request::Auto, Some("sda"), 1 << 30)
                .unwrap()
                .name,
            "vda"
        );
        let named = Request::Named {
            token: "/dev/sda".into(),
            from: "--disk".into(),
        };
        assert_eq!(
            choose(&disks, &named, Some("sda"), 1 << 30).unwrap_err(),
            SelectError::IsMedia { disk: "sda".into() }
        );
    }

    #[test]
    fn several_or_none_list_every_disk() {
        let disks = [disk("vda", 20, Some("D1")), disk("vdb", 30, Some("D2"))];
        let e = choose(&disks, &Request::Auto, None, 1 << 30).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("2 disks")
                && text.contains("/dev/vda  20.0 GiB")
                && text.contains("serial D2"),
            "{text}"
        );
        let e = choose(&disks, &Request::Auto, None, 40 << 30)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no disk to install onto") && e.contains("/dev/vdb"),
            "{e}"
        );
    }

    #[test]
    fn too_small_names_both_sizes() {
        let disks = [disk("vda", 1, Some("D1"))];
        let named = Request::Named {
            token: "D1".into(),
            from: "mk.install.disk=".into(),
        };
        let e = choose(&disks, &named, None, 3 << 30)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/vda is 1.0 GiB (1073741824 bytes)")
                && e.contains("3.0 GiB (3221225472 bytes)"),
            "{e}"
        );
    }

    #[test]
    fn unidentified_disks_are_only_taken_when_named() {
        let disks = [disk("vda", 20, None)];
        assert_eq!(
            choose(&disks, &Request::Auto, None, 1 << 30).unwrap_err(),
            SelectError::Unidentified { disk: "vda".into() }
        );
        let named = Request::Named {
            token: "vda".into(),
            from: "--disk".into(),
        };
        assert_eq!(choose(&disks, &named, None, 1 << 30).unwrap().name, "vda");
    }

    #[test]
    fn kickstart_drives_must_name_one_disk() {
        let mut disks = vec![disk("vda", 20, Some("SAME")), disk("vdb", 20, Some("D2"))];
        let req = |d: &[&str]| Request::Drives {
            drives: d.iter().map(|s| s.to_string()).collect(),
            from: "node.ks:3: ignoredisk --only-use".into(),
        };
        assert_eq!(choose(&disks, &req(&["vdb"]), None, 1).unwrap().name, "vdb");
        assert_eq!(
            choose(&disks, &req(&["vdb", "D2"]), None, 1).unwrap().name,
            "vdb"
        );
        let e = choose(&disks, &req(&["vda", "vdb"]), None, 1).unwrap_err();
        assert!(matches!(e, SelectError::SeveralNamed { .. }), "{e}");
        disks[1].serial = Some("SAME".into());
        let e = choose(&disks, &req(&["SAME"]), None, 1).unwrap_err();
        assert!(e.to_string().contains("/dev/vda, /dev/vdb"), "{e}");
        let e = choose(&disks, &req(&["sdz"]), None, 1).unwrap_err();
        assert!(e.to_string().contains("\"sdz\", which is none"), "{e}");
    }
}
