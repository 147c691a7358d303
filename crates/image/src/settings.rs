//! Kickstart system settings as a generated package (R18: the files they
//! produce belong to an RPM like everything else): `lang` →
//! /etc/locale.conf, `keyboard` → /etc/vconsole.conf, `timezone` →
//! /etc/localtime (and /etc/adjtime for a local-time clock), `group` and
//! `user` → a `%pre` scriptlet with groupadd/useradd (as packages create
//! their accounts) and the users' home directories. The package,
//! `mk-kickstart-settings`, is built only when the kickstart has any of
//! these; its release is derived from its content.

use mk_kickstart::Kickstart;
use sha2::{Digest, Sha256};

pub const PACKAGE: &str = "mk-kickstart-settings";

/// A kickstart value that cannot be turned into a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub line: usize,
    pub message: String,
}

fn name_ok(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some('a'..='z' | '_'))
        && c.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
        && s.len() <= 32
}

fn word_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-./@:,".contains(c))
        && !s.split('/').any(|p| p == "..")
}

/// Single-quoted for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The package for the kickstart's settings, or `None` when it has none.
/// Pure: nothing is read or written.
pub fn settings_package(
    ks: &Kickstart,
    build_time: u32,
) -> Result<Option<mk_rpmpack::Package>, SettingError> {
    let err = |line, message: String| SettingError { line, message };
    let mut files: Vec<mk_rpmpack::FileSpec> = Vec::new();
    let mut pre = String::new();
    if let Some(l) = &ks.lang {
        if !word_ok(&l.lang) {
            return Err(err(
                l.line,
                format!("lang `{}` is not a locale name", l.lang),
            ));
        }
        files.push(mk_rpmpack::FileSpec::bytes(
            "/etc/locale.conf",
            format!("LANG={}\n", l.lang),
        ));
    }
    if let Some(k) = &ks.keyboard {
        if let Some(map) = k.vckeymap.as_ref().or(k.layout.as_ref()) {
            if !word_ok(map) {
                return Err(err(
                    k.line,
                    format!("keyboard `{map}` is not a keymap name"),
                ));
            }
            files.push(mk_rpmpack::FileSpec::bytes(
                "/etc/vconsole.conf",
                format!("KEYMAP={map}\n"),
            ));
        }
    }
    if let Some(t) = &ks.timezone {
        if !word_ok(&t.zone) || t.zone.starts_with('/') {
            return Err(err(
                t.line,
                format!("timezone `{}` is not a zone name", t.zone),
            ));
        }
        if !t.ntpservers.is_empty() {
            return Err(err(
                t.line,
                "timezone --ntpservers is not applied by image builds: configure chrony in an overlay".into(),
            ));
        }
        files.push(mk_rpmpack::FileSpec::symlink(
            "/etc/localtime",
            &format!("../usr/share/zoneinfo/{}", t.zone),
        ));
        if !t.utc {
            files.push(mk_rpmpack::FileSpec::bytes(
                "/etc/adjtime",
                "0.0 0 0.0\n0\nLOCAL\n",
            ));
        }
    }
    for g in &ks.groups {
        if !name_ok(&g.name) {
            return Err(err(
                g.line,
                format!("group name `{}` is not a valid name", g.name),
            ));
        }
        let gid = g.gid.map(|g| format!("-g {g} ")).unwrap_or_default();
        pre.push_str(&format!(
            "getent group {n} >/dev/null || groupadd {gid}{n}\n",
            n = g.name
        ));
    }
    for u in &ks.users {
        if !name_ok(&u.name) {
            return Err(err(
                u.line,
                format!("user name `{}` is not a valid name", u.name),
            ));
        }
        let mut args = Vec::new();
        if let Some(uid) = u.uid {
            args.push(format!("-u {uid}"));
        }
        if let Some(gid) = u.gid {
            args.push(format!("-g {gid}"));
        }
        if !u.groups.is_empty() {
            if let Some(bad) = u.groups.iter().find(|g| !name_ok(g)) {
                return Err(err(
                    u.line,
                    format!("group name `{bad}` is not a valid name"),
                ));
            }
            args.push(format!("-G {}", u.groups.join(",")));
        }
        let home = u
            .homedir
            .clone()
            .unwrap_or_else(|| format!("/home/{}", u.name));
        if !home.starts_with('/') || !word_ok(&home) {
            return Err(err(
                u.line,
                format!("home directory `{home}` is not an absolute path"),
            ));
        }
        args.push(format!("-d {home} -M"));
        if let Some(s) = &u.shell {
            if !s.starts_with('/') || !word_ok(s) {
                return Err(err(u.line, format!("shell `{s}` is not an absolute path")));
            }
            args.push(format!("-s {s}"));
        }
        if let Some(c) = &u.gecos {
            args.push(format!("-c {}", quote(c)));
        }
        match (&u.crypted_password, u.lock) {
            (Some(h), true) => args.push(format!("-p {}", quote(&format!("!{h}")))),
            (Some(h), false) => args.push(format!("-p {}", quote(h))),
            // useradd's default password field ("!") is locked.
            (None, _) => {}
        }
        pre.push_str(&format!(
            "getent passwd {n} >/dev/null || useradd {} {n}\n",
            args.join(" "),
            n = u.name
        ));
        // The primary group's name: a kickstart group with that gid, else
        // the user's own group (useradd's default).
        let group = u
            .gid
            .and_then(|gid| ks.groups.iter().find(|g| g.gid == Some(gid)))
            .map_or(u.name.clone(), |g| g.name.clone());
        files.push(
            mk_rpmpack::FileSpec::dir(&home)
                .mode(0o700)
                .owner(&u.name, &group),
        );
    }
    if files.is_empty() && pre.is_empty() {
        return Ok(None);
    }
    let mut h = Sha256::new();
    h.update(format!("{files:?}\0{pre}").as_bytes());
    let release = hex::encode(h.finalize())[..12].to_string();
    let mut p = mk_rpmpack::Package::new(PACKAGE, "1", &release);
    p.summary("System settings from the image's kickstart")
        .description("lang, keyboard, timezone, groups and users of the kickstart (generated by mk-compose image).")
        .license("Apache-2.0")
        .build_time(build_time);
    if !pre.is_empty() {
        let script = format!("set -e\n{pre}");
        p.script(
            mk_rpmpack::ScriptKind::Pre,
            mk_rpmpack::Script::shell(&script),
        );
        for tool in ["/usr/bin/getent", "/usr/sbin/groupadd", "/usr/sbin/useradd"] {
            p.requires_pre(mk_rpmpack::Dep::any(tool));
        }
    }
    for f in files {
        p.add(f);
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_files_and_a_pre_scriptlet() {
        let ks = Kickstart::parse(
            "k.ks",
            "lang en_US.UTF-8\nkeyboard --vckeymap=us --xlayouts=us\ntimezone Europe/Paris\n\
             group --name=mkadmin --gid=1000\n\
             user --name=mkadmin --uid=1000 --gid=1000 --groups=wheel --shell=/bin/bash --gecos=\"O'Brien\" --lock\n",
        )
        .unwrap();
        let p = settings_package(&ks, 1).unwrap().unwrap();
        let paths: Vec<&str> = p.files().iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/etc/locale.conf",
                "/etc/vconsole.conf",
                "/etc/localtime",
                "/etc/adjtime",
                "/home/mkadmin"
            ]
        );
        let home = &p.files()[4];
        assert_eq!(
            (home.user.as_str(), home.group.as_str(), home.mode),
            ("mkadmin", "mkadmin", 0o700)
        );
        let built = p.build().unwrap();
        let pre = built.metadata.get_pre_install_script().unwrap().script;
        assert!(
            pre.contains("getent group mkadmin >/dev/null || groupadd -g 1000 mkadmin\n"),
            "{pre}"
        );
        assert!(
            pre.contains("useradd -u 1000 -g 1000 -G wheel -d /home/mkadmin -M -s /bin/bash -c 'O'\\''Brien' mkadmin"),
            "{pre}"
        );
        // The same kickstart gives the same package.
        let again = settings_package(&ks, 1).unwrap().unwrap();
        assert_eq!(again.file_name(), p.file_name());
    }

    #[test]
    fn nothing_to_set_no_package_and_bad_values_refused() {
        let ks = Kickstart::parse("k.ks", "selinux --enforcing\n").unwrap();
        assert!(settings_package(&ks, 1).unwrap().is_none());
        // (The kickstart parser already refuses bad names and paths; these
        // checks are a second line for the shell scriptlet.)
        assert!(!name_ok("a b") && !name_ok("Root") && name_ok("mk-admin_1"));
        assert!(!word_ok("../x") && word_ok("Europe/Paris"));
        let ks = Kickstart::parse("k.ks", "timezone UTC --ntpservers=a.example\n").unwrap();
        assert!(settings_package(&ks, 1)
            .unwrap_err()
            .message
            .contains("chrony"));
    }
}
