//! One function per supported kickstart command. Errors are messages; the
//! caller adds `FILE:LINE:`.

use crate::args::{Args, Refused, Spec};
use crate::model::*;
use crate::parse::State;

const SUPPORTED: &str = "autopart, bootloader, clearpart, cmdline, eula, firewall, firstboot, \
    group, keyboard, lang, network, part, poweroff, reboot, rootpw, selinux, services, skipx, \
    text, timezone, user, zerombr";

/// Commands RHEL 7 knows that mk refuses, with the reason.
fn refused_command(name: &str) -> Option<&'static str> {
    Some(match name {
        "url" | "repo" | "cdrom" | "harddrive" | "nfs" | "liveimg" | "install" | "upgrade"
        | "ostreesetup" | "method" => {
            "packages come from the repositories named in image.yaml; an image build reads no \
             installation source"
        }
        "logvol" | "volgroup" | "raid" | "btrfs" | "reqpart" | "ignoredisk" | "iscsi"
        | "iscsiname" | "fcoe" | "zfcp" | "multipath" | "dmraid" => {
            "the disk is plain GPT partitions: use `part` (or `autopart`)"
        }
        "auth" | "authconfig" => {
            "CentOS 7's defaults (shadow passwords, SHA-512) apply; nodes authenticate admins \
             by SSH key"
        }
        "sshpw"
        | "vnc"
        | "graphical"
        | "interactive"
        | "autostep"
        | "mediacheck"
        | "rescue"
        | "driverdisk"
        | "updates"
        | "unsupported_hardware"
        | "device"
        | "deviceprobe" => "it configures the installer, and image builds run no installer",
        "halt" | "shutdown" => "use `reboot` or `poweroff`",
        "sshkey" => "RHEL 7 kickstart has no sshkey; admin keys come from the node's config drive",
        _ => return None,
    })
}

pub(crate) fn command(st: &mut State, line: usize, words: &[String]) -> Result<(), String> {
    let name = words[0].as_str();
    let rest = &words[1..];
    match name {
        "selinux" => selinux(st, line, rest),
        "bootloader" => bootloader(st, line, rest),
        // `partition` is pykickstart's other name for `part`.
        "part" | "partition" => part(st, line, rest),
        "autopart" => autopart(st, line, rest),
        "clearpart" => clearpart(st, line, rest),
        "zerombr" => {
            st.once("zerombr", line)?;
            no_args("zerombr", rest)?;
            st.ks.zerombr = Some(line);
            Ok(())
        }
        "firewall" => firewall(st, line, rest),
        "services" => services(st, line, rest),
        "user" => user(st, line, rest),
        "group" => group(st, line, rest),
        "rootpw" => rootpw(st, line, rest),
        "lang" => lang(st, line, rest),
        "keyboard" => keyboard(st, line, rest),
        "timezone" => timezone(st, line, rest),
        "network" => network(st, line, rest),
        "text" | "cmdline" => {
            st.once("text/cmdline", line)
                .map_err(|_| twice(&st.ks.mode, "text/cmdline"))?;
            no_args(name, rest)?;
            let value = if name == "text" { Mode::Text } else { Mode::Cmdline };
            st.ks.mode = Some(Located { line, value });
            Ok(())
        }
        "reboot" | "poweroff" => {
            st.once("reboot/poweroff", line)
                .map_err(|_| twice(&st.ks.finish, "reboot/poweroff"))?;
            no_args(name, rest)?;
            let value = if name == "reboot" { Finish::Reboot } else { Finish::Poweroff };
            st.ks.finish = Some(Located { line, value });
            Ok(())
        }
        "eula" => {
            st.once("eula", line)?;
            let a = Args::parse("eula", rest, &[("--agreed", false)], &[])?;
            a.no_positionals("eula")?;
            if !a.flag("--agreed") {
                return Err("`eula` needs `--agreed`".into());
            }
            st.ks.eula_agreed = Some(line);
            Ok(())
        }
        "firstboot" => {
            st.once("firstboot", line)?;
            let why = "initial-setup would ask questions on the console; mk-firstboot \
                       configures nodes instead";
            let a = Args::parse(
                "firstboot",
                rest,
                &[("--disable", false), ("--disabled", false)],
                &[("--enable", why), ("--enabled", why), ("--reconfig", why)],
            )?;
            a.no_positionals("firstboot")?;
            if !(a.flag("--disable") || a.flag("--disabled")) {
                return Err("`firstboot` needs `--disable`".into());
            }
            st.ks.firstboot_disabled = Some(line);
            Ok(())
        }
        "skipx" => {
            st.once("skipx", line)?;
            no_args("skipx", rest)?;
            st.ks.skipx = Some(line);
            Ok(())
        }
        _ => match refused_command(name) {
            Some(why) => Err(format!("unsupported command `{name}`: {why}")),
            None => Err(format!(
                "unknown command `{name}`; supported commands: {SUPPORTED}; sections: %packages, %post"
            )),
        },
    }
}

/// `text` then `cmdline` (or `reboot` then `poweroff`) count as the same
/// setting given twice.
fn twice<T>(first: &Option<Located<T>>, what: &str) -> String {
    let first = first.as_ref().map(|l| l.line).unwrap_or_default();
    format!("`{what}` given twice (first at line {first}); it may appear once")
}

fn no_args(name: &str, rest: &[String]) -> Result<(), String> {
    match rest.first() {
        None => Ok(()),
        Some(w) => Err(format!("`{name}` takes no arguments, found `{w}`")),
    }
}

fn one_positional(a: &Args, what: &str, expected: &str) -> Result<String, String> {
    match a.positionals.as_slice() {
        [one] if !one.is_empty() => Ok(one.clone()),
        [] | [_] => Err(format!("`{what}` needs {expected}")),
        [_, extra, ..] => Err(format!(
            "`{what}` takes one {expected}, found also `{extra}`"
        )),
    }
}

fn selinux(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("selinux", line)?;
    let a = Args::parse(
        "selinux",
        rest,
        &[
            ("--enforcing", false),
            ("--permissive", false),
            ("--disabled", false),
        ],
        &[],
    )?;
    a.no_positionals("selinux")?;
    let modes: Vec<SelinuxMode> = [
        ("--enforcing", SelinuxMode::Enforcing),
        ("--permissive", SelinuxMode::Permissive),
        ("--disabled", SelinuxMode::Disabled),
    ]
    .into_iter()
    .filter(|(o, _)| a.flag(o))
    .map(|(_, m)| m)
    .collect();
    match modes.as_slice() {
        [mode] => {
            st.ks.selinux = Some(Selinux { line, mode: *mode });
            Ok(())
        }
        _ => Err("`selinux` needs exactly one of --enforcing, --permissive, --disabled".into()),
    }
}

fn bootloader(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("bootloader", line)?;
    let a = Args::parse(
        "bootloader",
        rest,
        &[
            ("--append", true),
            ("--location", true),
            ("--timeout", true),
        ],
        &[
            (
                "--password",
                "a GRUB password in a shipped file protects nothing",
            ),
            (
                "--iscrypted",
                "a GRUB password in a shipped file protects nothing",
            ),
            (
                "--md5pass",
                "a GRUB password in a shipped file protects nothing",
            ),
            ("--driveorder", "images have one disk"),
            ("--boot-drive", "images have one disk"),
        ],
    )?;
    a.no_positionals("bootloader")?;
    let location = match a.value("--location") {
        None => None,
        Some("mbr") => Some(BootloaderLocation::Mbr),
        Some("partition") => Some(BootloaderLocation::Partition),
        Some("none") => Some(BootloaderLocation::None),
        Some(v) => {
            return Err(format!(
                "`bootloader --location={v}`: expected mbr, partition or none"
            ))
        }
    };
    st.ks.bootloader = Some(Bootloader {
        line,
        append: a
            .value("--append")
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        location,
        timeout: a.number("bootloader", "--timeout", " of seconds")?,
    });
    Ok(())
}

const PART_REFUSED: &[Refused] = &[
    (
        "--encrypted",
        "disk encryption needs a passphrase at boot; nodes boot unattended",
    ),
    (
        "--passphrase",
        "disk encryption needs a passphrase at boot; nodes boot unattended",
    ),
    ("--onpart", "images are partitioned from scratch"),
    ("--usepart", "images are partitioned from scratch"),
    ("--noformat", "images are partitioned from scratch"),
    ("--recommended", "give --size"),
    ("--percent", "give --size"),
    ("--maxsize", "the image size is set in image.yaml"),
    ("--fsprofile", "not supported"),
    ("--mkfsoptions", "not supported"),
    (
        "--fsoptions",
        "mount options are fixed by mk's read-only root layout",
    ),
    ("--asprimary", "GPT has no primary partitions"),
];

fn part(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    let specs: &[Spec] = &[
        ("--size", true),
        ("--fstype", true),
        ("--label", true),
        ("--grow", false),
        ("--ondisk", true),
    ];
    let a = Args::parse("part", rest, specs, PART_REFUSED)?;
    let mountpoint = one_positional(&a, "part", "a mount point (`/`, `/var`, ...) or `biosboot`")?;
    if mountpoint == "swap" {
        return Err("`part swap`: kubelet refuses to run with swap on".into());
    }
    if mountpoint != "biosboot" && !mountpoint.starts_with('/') {
        return Err(format!(
            "`part {mountpoint}`: expected an absolute mount point or `biosboot` \
             (LVM and RAID members are not supported)"
        ));
    }
    if mountpoint.len() > 1 && mountpoint.ends_with('/') || mountpoint.contains("//") {
        return Err(format!("`part {mountpoint}`: not a normalised path"));
    }
    if let Some(other) = st.ks.parts.iter().find(|p| p.mountpoint == mountpoint) {
        return Err(format!(
            "`part {mountpoint}` given twice (first at line {})",
            other.line
        ));
    }
    let size_mib: u64 = a
        .number("part", "--size", " of MiB")?
        .ok_or_else(|| format!("`part {mountpoint}` needs --size (MiB)"))?;
    if size_mib == 0 {
        return Err(format!(
            "`part {mountpoint}`: --size must be at least 1 MiB"
        ));
    }
    let fstype = match (a.value("--fstype"), mountpoint.as_str()) {
        (None | Some("biosboot"), "biosboot") => FsType::BiosBoot,
        (Some(f), "biosboot") => {
            return Err(format!(
                "`part biosboot` has no filesystem, found --fstype={f}"
            ))
        }
        (Some("biosboot"), m) => {
            return Err(format!("`part {m} --fstype=biosboot`: use `part biosboot`"))
        }
        (Some("ext4"), _) => FsType::Ext4,
        (Some("efi"), "/boot/efi") => FsType::Efi,
        (Some("efi"), m) => return Err(format!("`part {m} --fstype=efi`: the ESP is /boot/efi")),
        (None, m) => {
            return Err(format!(
                "`part {m}` needs --fstype (ext4, or efi for /boot/efi); anaconda's default \
                 (xfs) cannot be written by the image builder"
            ))
        }
        (Some(f), m) => {
            return Err(format!(
                "`part {m} --fstype={f}`: supported are ext4, efi (for /boot/efi) and biosboot"
            ))
        }
    };
    let label = a.nonempty("part", "--label")?;
    if let Some(l) = &label {
        // ext4 labels hold 16 bytes, FAT labels 11.
        let max = if fstype == FsType::Efi { 11 } else { 16 };
        if l.len() > max || !l.is_ascii() {
            return Err(format!(
                "`part {mountpoint} --label={l}`: at most {max} ASCII characters"
            ));
        }
        if fstype == FsType::BiosBoot {
            return Err("`part biosboot` has no filesystem to label".into());
        }
        if let Some(other) = st.ks.parts.iter().find(|p| p.label.as_ref() == Some(l)) {
            return Err(format!(
                "label `{l}` is already used by `part {}` (line {})",
                other.mountpoint, other.line
            ));
        }
    }
    st.ks.parts.push(Part {
        line,
        mountpoint,
        size_mib,
        fstype,
        label,
        grow: a.flag("--grow"),
        ondisk: a.nonempty("part", "--ondisk")?,
    });
    Ok(())
}

fn autopart(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("autopart", line)?;
    let a = Args::parse(
        "autopart",
        rest,
        &[("--type", true), ("--fstype", true), ("--nolvm", false)],
        &[
            ("--encrypted", "nodes boot unattended"),
            ("--passphrase", "nodes boot unattended"),
        ],
    )?;
    a.no_positionals("autopart")?;
    let kind = match a.value("--type") {
        None => None,
        Some("plain") => Some(AutopartType::Plain),
        Some("lvm") => Some(AutopartType::Lvm),
        Some("thinp") => Some(AutopartType::Thinp),
        Some(t) => {
            return Err(format!(
                "`autopart --type={t}`: expected plain, lvm or thinp"
            ))
        }
    };
    st.ks.autopart = Some(Autopart {
        line,
        kind,
        fstype: a.nonempty("autopart", "--fstype")?,
        nolvm: a.flag("--nolvm"),
    });
    Ok(())
}

fn clearpart(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("clearpart", line)?;
    let a = Args::parse(
        "clearpart",
        rest,
        &[
            ("--all", false),
            ("--linux", false),
            ("--none", false),
            ("--initlabel", false),
            ("--drives", true),
        ],
        &[("--list", "images are partitioned from scratch")],
    )?;
    a.no_positionals("clearpart")?;
    let which: Vec<ClearpartWhich> = [
        ("--all", ClearpartWhich::All),
        ("--linux", ClearpartWhich::Linux),
        ("--none", ClearpartWhich::None),
    ]
    .into_iter()
    .filter(|(o, _)| a.flag(o))
    .map(|(_, w)| w)
    .collect();
    let which = match which.as_slice() {
        [] => ClearpartWhich::None,
        [w] => *w,
        _ => return Err("`clearpart`: --all, --linux and --none exclude each other".into()),
    };
    st.ks.clearpart = Some(Clearpart {
        line,
        which,
        initlabel: a.flag("--initlabel"),
        drives: a.list("clearpart", "--drives")?,
    });
    Ok(())
}

fn firewall(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("firewall", line)?;
    let a = Args::parse(
        "firewall",
        rest,
        &[
            ("--enabled", false),
            ("--enable", false),
            ("--disabled", false),
            ("--disable", false),
            ("--service", true),
            ("--port", true),
        ],
        &[
            (
                "--trust",
                "trusting a whole interface bypasses mk's per-plane zones",
            ),
            ("--ssh", "use --service=ssh"),
            (
                "--remove-service",
                "name the services to open with --service",
            ),
            ("--use-system-defaults", "say --enabled or --disabled"),
        ],
    )?;
    a.no_positionals("firewall")?;
    let on = a.flag("--enabled") || a.flag("--enable");
    let off = a.flag("--disabled") || a.flag("--disable");
    if on == off {
        return Err("`firewall` needs exactly one of --enabled, --disabled".into());
    }
    let services = a.list("firewall", "--service")?;
    let ports = a.list("firewall", "--port")?;
    if off && !(services.is_empty() && ports.is_empty()) {
        return Err("`firewall --disabled` cannot open services or ports".into());
    }
    for p in &ports {
        if !valid_port(p) {
            return Err(format!(
                "`firewall --port={p}`: expected PORT[-PORT]:tcp or :udp, e.g. 6443:tcp"
            ));
        }
    }
    st.ks.firewall = Some(Firewall {
        line,
        enabled: on,
        services,
        ports,
    });
    Ok(())
}

fn valid_port(p: &str) -> bool {
    let Some((range, proto)) = p.split_once(':') else {
        return false;
    };
    let port = |s: &str| s.parse::<u16>().is_ok_and(|n| n > 0);
    let range_ok = match range.split_once('-') {
        Some((a, b)) => port(a) && port(b) && a.parse::<u16>().ok() <= b.parse::<u16>().ok(),
        None => port(range),
    };
    range_ok && matches!(proto, "tcp" | "udp")
}

fn services(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("services", line)?;
    let a = Args::parse(
        "services",
        rest,
        &[("--enabled", true), ("--disabled", true)],
        &[],
    )?;
    a.no_positionals("services")?;
    let enabled = a.list("services", "--enabled")?;
    let disabled = a.list("services", "--disabled")?;
    if enabled.is_empty() && disabled.is_empty() {
        return Err("`services` needs --enabled=... or --disabled=...".into());
    }
    if let Some(both) = enabled.iter().find(|s| disabled.contains(s)) {
        return Err(format!("`services`: `{both}` is both enabled and disabled"));
    }
    st.ks.services = Some(Services {
        line,
        enabled,
        disabled,
    });
    Ok(())
}

/// A crypt(3) hash we accept: SHA-256 (`$5$`) or SHA-512 (`$6$`). MD5 and
/// DES hashes are cracked in minutes.
fn check_crypted(what: &str, hash: &str) -> Result<(), String> {
    if (hash.starts_with("$6$") || hash.starts_with("$5$")) && hash.len() > 20 {
        Ok(())
    } else {
        Err(format!(
            "`{what}`: expected a SHA-512 (`$6$...`) or SHA-256 (`$5$...`) crypt hash"
        ))
    }
}

const PLAINTEXT: &str = "plain-text passwords are refused: a kickstart is shipped in every bundle \
    and nodes are zero-trust; give a crypt hash with --iscrypted, or none";

fn user(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    let a = Args::parse(
        "user",
        rest,
        &[
            ("--name", true),
            ("--uid", true),
            ("--gid", true),
            ("--groups", true),
            ("--homedir", true),
            ("--shell", true),
            ("--gecos", true),
            ("--lock", false),
            ("--password", true),
            ("--iscrypted", false),
        ],
        &[("--plaintext", PLAINTEXT)],
    )?;
    a.no_positionals("user")?;
    let name = a.nonempty("user", "--name")?.ok_or("`user` needs --name")?;
    if let Some(other) = st.ks.users.iter().find(|u| u.name == name) {
        return Err(format!(
            "`user --name={name}` given twice (first at line {})",
            other.line
        ));
    }
    let crypted_password = match (a.value("--password"), a.flag("--iscrypted")) {
        (None, false) => None,
        (None, true) => return Err("`user --iscrypted` without --password".into()),
        (Some(_), false) => return Err(format!("`user --name={name} --password`: {PLAINTEXT}")),
        (Some(h), true) => {
            check_crypted("user --password", h)?;
            Some(h.to_string())
        }
    };
    for opt in ["--homedir", "--shell"] {
        if let Some(p) = a.value(opt) {
            if !p.starts_with('/') {
                return Err(format!("`user {opt}={p}`: expected an absolute path"));
            }
        }
    }
    st.ks.users.push(User {
        line,
        name,
        uid: a.number("user", "--uid", "")?,
        gid: a.number("user", "--gid", "")?,
        groups: a.list("user", "--groups")?,
        homedir: a.nonempty("user", "--homedir")?,
        shell: a.nonempty("user", "--shell")?,
        gecos: a.value("--gecos").map(str::to_string),
        lock: a.flag("--lock"),
        crypted_password,
    });
    Ok(())
}

fn group(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    let a = Args::parse("group", rest, &[("--name", true), ("--gid", true)], &[])?;
    a.no_positionals("group")?;
    let name = a
        .nonempty("group", "--name")?
        .ok_or("`group` needs --name")?;
    if let Some(other) = st.ks.groups.iter().find(|g| g.name == name) {
        return Err(format!(
            "`group --name={name}` given twice (first at line {})",
            other.line
        ));
    }
    let gid = a.number("group", "--gid", "")?;
    if let Some(other) = st.ks.groups.iter().find(|g| gid.is_some() && g.gid == gid) {
        return Err(format!(
            "`group --name={name}`: gid {} is already group `{}` (line {})",
            gid.unwrap_or_default(),
            other.name,
            other.line
        ));
    }
    st.ks.groups.push(Group { line, name, gid });
    Ok(())
}

fn rootpw(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("rootpw", line)?;
    let a = Args::parse(
        "rootpw",
        rest,
        &[("--lock", false), ("--iscrypted", false)],
        &[("--plaintext", PLAINTEXT)],
    )?;
    if !a.flag("--lock") {
        return Err(
            "`rootpw` needs --lock: root never logs in on mk nodes (admins use their own \
             account with SSH keys)"
                .into(),
        );
    }
    let crypted_password = match (a.positionals.as_slice(), a.flag("--iscrypted")) {
        ([], false) => None,
        ([], true) => return Err("`rootpw --iscrypted` without a password hash".into()),
        ([_, ..], false) => return Err(format!("`rootpw`: {PLAINTEXT}")),
        ([h], true) => {
            check_crypted("rootpw", h)?;
            Some(h.clone())
        }
        ([_, extra, ..], true) => return Err(format!("`rootpw`: unexpected `{extra}`")),
    };
    st.ks.rootpw = Some(RootPw {
        line,
        crypted_password,
    });
    Ok(())
}

fn lang(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("lang", line)?;
    let a = Args::parse("lang", rest, &[("--addsupport", true)], &[])?;
    let lang = one_positional(&a, "lang", "a locale such as en_US.UTF-8")?;
    st.ks.lang = Some(Lang {
        line,
        lang,
        addsupport: a.list("lang", "--addsupport")?,
    });
    Ok(())
}

fn keyboard(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("keyboard", line)?;
    let a = Args::parse(
        "keyboard",
        rest,
        &[("--vckeymap", true), ("--xlayouts", true)],
        &[("--switch", "nodes have no X")],
    )?;
    let layout = match a.positionals.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [_, extra, ..] => return Err(format!("`keyboard`: unexpected `{extra}`")),
    };
    let vckeymap = a.nonempty("keyboard", "--vckeymap")?;
    let xlayouts = a.list("keyboard", "--xlayouts")?;
    if layout.is_none() && vckeymap.is_none() && xlayouts.is_empty() {
        return Err("`keyboard` needs a layout (`keyboard us` or --vckeymap=us)".into());
    }
    st.ks.keyboard = Some(Keyboard {
        line,
        layout,
        vckeymap,
        xlayouts,
    });
    Ok(())
}

fn timezone(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    st.once("timezone", line)?;
    let a = Args::parse(
        "timezone",
        rest,
        &[
            ("--utc", false),
            ("--isUtc", false),
            ("--nontp", false),
            ("--ntpservers", true),
        ],
        &[],
    )?;
    let zone = one_positional(&a, "timezone", "a zone such as UTC or Europe/Paris")?;
    if zone.starts_with('/') || zone.split('/').any(|c| c.is_empty() || c == "..") {
        return Err(format!(
            "`timezone {zone}`: not a zone name such as Europe/Paris"
        ));
    }
    let ntpservers = a.list("timezone", "--ntpservers")?;
    if a.flag("--nontp") && !ntpservers.is_empty() {
        return Err("`timezone`: --nontp and --ntpservers exclude each other".into());
    }
    st.ks.timezone = Some(Timezone {
        line,
        zone,
        utc: a.flag("--utc") || a.flag("--isUtc"),
        nontp: a.flag("--nontp"),
        ntpservers,
    });
    Ok(())
}

fn network(st: &mut State, line: usize, rest: &[String]) -> Result<(), String> {
    let a = Args::parse(
        "network",
        rest,
        &[
            ("--bootproto", true),
            ("--device", true),
            ("--onboot", true),
            ("--ip", true),
            ("--netmask", true),
            ("--gateway", true),
            ("--nameserver", true),
            ("--hostname", true),
            ("--noipv6", false),
            ("--mtu", true),
        ],
        &[
            (
                "--activate",
                "an image build brings up no network; the setting only goes into the image",
            ),
            ("--wepkey", "nodes have no Wi-Fi"),
            ("--wpakey", "nodes have no Wi-Fi"),
            ("--essid", "nodes have no Wi-Fi"),
            (
                "--bondslaves",
                "not supported; configure bonds at first boot",
            ),
            (
                "--teamslaves",
                "not supported; configure teams at first boot",
            ),
            ("--vlanid", "not supported; configure VLANs at first boot"),
            (
                "--bridgeslaves",
                "not supported; configure bridges at first boot",
            ),
        ],
    )?;
    a.no_positionals("network")?;
    let bootproto = match a.value("--bootproto") {
        None | Some("dhcp") => BootProto::Dhcp,
        Some("static") => BootProto::Static,
        Some(p) => {
            return Err(format!(
                "`network --bootproto={p}`: expected dhcp or static"
            ))
        }
    };
    let device = a.nonempty("network", "--device")?;
    if let Some(other) = st.ks.networks.iter().find(|n| n.device == device) {
        return Err(format!(
            "`network` for device {} given twice (first at line {})",
            device.as_deref().unwrap_or("(default)"),
            other.line
        ));
    }
    let ip = a.nonempty("network", "--ip")?;
    let netmask = a.nonempty("network", "--netmask")?;
    if bootproto == BootProto::Static && (ip.is_none() || netmask.is_none()) {
        return Err("`network --bootproto=static` needs --ip and --netmask".into());
    }
    if bootproto == BootProto::Dhcp && ip.is_some() {
        return Err("`network --ip` needs --bootproto=static".into());
    }
    let onboot = match a.value("--onboot") {
        None => None,
        Some("yes" | "on" | "true" | "1") => Some(true),
        Some("no" | "off" | "false" | "0") => Some(false),
        Some(v) => return Err(format!("`network --onboot={v}`: expected yes or no")),
    };
    st.ks.networks.push(Network {
        line,
        bootproto,
        device,
        onboot,
        ip,
        netmask,
        gateway: a.nonempty("network", "--gateway")?,
        nameservers: a.list("network", "--nameserver")?,
        hostname: a.nonempty("network", "--hostname")?,
        noipv6: a.flag("--noipv6"),
        mtu: a.number("network", "--mtu", " of bytes")?,
    });
    Ok(())
}
