//! System users and groups in the node's own /etc/{passwd,shadow,group,
//! gshadow}, edited as text. Pure: each function takes the current file
//! text and returns the new text (or `None` when nothing changes), so the
//! rules are tested without a root; `engine` writes the results atomically.
//!
//! Why not `useradd --root`: it needs shadow-utils on the machine that runs
//! `plan`, it cannot report "what would change", and it picks no fixed IDs
//! on conflict. On an image the mk-firstboot RPM's %pre has created the
//! accounts already, so on a read-only root these functions find nothing to
//! do.

use thiserror::Error;

/// Login shell of service accounts: they never log in.
pub const NOLOGIN: &str = "/sbin/nologin";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AccountError {
    #[error(
        "{file}: {kind} {name} exists with ID {found}, but mk needs ID {wanted} (files and static \
         pods use the fixed ID); remove or renumber it"
    )]
    WrongId {
        file: &'static str,
        kind: &'static str,
        name: String,
        found: String,
        wanted: u32,
    },
    #[error("{file}: ID {id} that mk reserves for {kind} {wanted} belongs to {holder}")]
    IdTaken {
        file: &'static str,
        kind: &'static str,
        id: u32,
        wanted: String,
        holder: String,
    },
    #[error("{file}: user {name} has primary group {found}, mk needs {wanted}")]
    WrongGroup {
        file: &'static str,
        name: String,
        found: String,
        wanted: u32,
    },
}

/// One `:`-separated entry by name.
fn entry<'a>(text: &'a str, name: &str) -> Option<Vec<&'a str>> {
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
}

/// The name holding numeric `id` in field 2 (passwd/group), if any.
fn holder_of(text: &str, id: u32) -> Option<String> {
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2).and_then(|s| s.parse::<u32>().ok()) == Some(id))
        .map(|f| f[0].to_string())
}

fn append(text: &str, line: &str) -> String {
    let mut s = text.to_string();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(line);
    s.push('\n');
    s
}

fn replace_line(text: &str, name: &str, line: &str) -> String {
    let mut out = String::with_capacity(text.len() + line.len());
    for l in text.lines() {
        if l.split(':').next() == Some(name) {
            out.push_str(line);
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

/// /etc/group: the group `name` with `gid`.
pub fn ensure_group(group: &str, name: &str, gid: u32) -> Result<Option<String>, AccountError> {
    if let Some(f) = entry(group, name) {
        let found = f.get(2).copied().unwrap_or("");
        if found.parse::<u32>().ok() != Some(gid) {
            return Err(AccountError::WrongId {
                file: "/etc/group",
                kind: "group",
                name: name.into(),
                found: found.into(),
                wanted: gid,
            });
        }
        return Ok(None);
    }
    if let Some(holder) = holder_of(group, gid) {
        return Err(AccountError::IdTaken {
            file: "/etc/group",
            kind: "group",
            id: gid,
            wanted: name.into(),
            holder,
        });
    }
    Ok(Some(append(group, &format!("{name}:x:{gid}:"))))
}

/// /etc/gshadow: a locked entry for `name` (as groupadd writes it).
pub fn ensure_gshadow(gshadow: &str, name: &str) -> Option<String> {
    entry(gshadow, name)
        .is_none()
        .then(|| append(gshadow, &format!("{name}:!::")))
}

/// The passwd line mk wants for a service account.
pub fn passwd_line(name: &str, uid: u32, gid: u32, comment: &str, home: &str) -> String {
    // `:` and newlines would corrupt the file; the planner's comments are
    // constants, this is a guard.
    let comment: String = comment
        .chars()
        .filter(|c| *c != ':' && *c != '\n')
        .collect();
    format!("{name}:x:{uid}:{gid}:{comment}:{home}:{NOLOGIN}")
}

/// /etc/passwd: the user `name` with exactly this UID, primary GID, comment,
/// home and no login shell. Comment, home or shell that differ are
/// corrected; a different UID or GID is an error (files on disk carry the
/// IDs: renumbering silently would hand them to someone else).
pub fn ensure_passwd(
    passwd: &str,
    name: &str,
    uid: u32,
    gid: u32,
    comment: &str,
    home: &str,
) -> Result<Option<String>, AccountError> {
    let want = passwd_line(name, uid, gid, comment, home);
    if let Some(f) = entry(passwd, name) {
        let found_uid = f.get(2).copied().unwrap_or("");
        if found_uid.parse::<u32>().ok() != Some(uid) {
            return Err(AccountError::WrongId {
                file: "/etc/passwd",
                kind: "user",
                name: name.into(),
                found: found_uid.into(),
                wanted: uid,
            });
        }
        let found_gid = f.get(3).copied().unwrap_or("");
        if found_gid.parse::<u32>().ok() != Some(gid) {
            return Err(AccountError::WrongGroup {
                file: "/etc/passwd",
                name: name.into(),
                found: found_gid.into(),
                wanted: gid,
            });
        }
        // Keep the password field as found (always `x` in practice).
        let mut fields: Vec<String> = want.split(':').map(str::to_string).collect();
        fields[1] = f.get(1).copied().unwrap_or("x").to_string();
        let want = fields.join(":");
        return Ok((f.join(":") != want).then(|| replace_line(passwd, name, &want)));
    }
    if let Some(holder) = holder_of(passwd, uid) {
        return Err(AccountError::IdTaken {
            file: "/etc/passwd",
            kind: "user",
            id: uid,
            wanted: name.into(),
            holder,
        });
    }
    Ok(Some(append(passwd, &want)))
}

/// /etc/shadow: a locked entry (`!!`, as useradd writes for system
/// accounts), no ageing: the date of last change is left empty so that the
/// entry does not depend on the clock.
pub fn ensure_shadow(shadow: &str, name: &str) -> Option<String> {
    entry(shadow, name)
        .is_none()
        .then(|| append(shadow, &format!("{name}:!!:::::::")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nnobody:x:99:99:Nobody:/:/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\nnobody:x:99:\n";

    #[test]
    fn group_added_once() {
        let g = ensure_group(GROUP, "etcd", 401).unwrap().unwrap();
        assert_eq!(g, format!("{GROUP}etcd:x:401:\n"));
        assert_eq!(ensure_group(&g, "etcd", 401).unwrap(), None);
        let gs = ensure_gshadow("root:::\n", "etcd").unwrap();
        assert_eq!(gs, "root:::\netcd:!::\n");
        assert_eq!(ensure_gshadow(&gs, "etcd"), None);
    }

    #[test]
    fn group_conflicts_are_errors() {
        let e = ensure_group("etcd:x:990:\n", "etcd", 401).unwrap_err();
        assert!(
            e.to_string()
                .contains("group etcd exists with ID 990, but mk needs ID 401"),
            "{e}"
        );
        let e = ensure_group("other:x:401:\n", "etcd", 401).unwrap_err();
        assert!(
            e.to_string()
                .contains("ID 401 that mk reserves for group etcd belongs to other"),
            "{e}"
        );
    }

    #[test]
    fn user_added_corrected_and_conflicts() {
        let p = ensure_passwd(PASSWD, "etcd", 401, 401, "etcd", "/var/lib/etcd")
            .unwrap()
            .unwrap();
        assert!(
            p.ends_with("etcd:x:401:401:etcd:/var/lib/etcd:/sbin/nologin\n"),
            "{p}"
        );
        assert_eq!(
            ensure_passwd(&p, "etcd", 401, 401, "etcd", "/var/lib/etcd").unwrap(),
            None
        );
        // A changed home is corrected in place, other lines kept.
        let q = ensure_passwd(&p, "etcd", 401, 401, "etcd", "/srv/etcd")
            .unwrap()
            .unwrap();
        assert_eq!(
            q,
            format!("{PASSWD}etcd:x:401:401:etcd:/srv/etcd:/sbin/nologin\n")
        );
        let e = ensure_passwd(&p, "etcd", 402, 401, "etcd", "/var/lib/etcd").unwrap_err();
        assert!(
            e.to_string()
                .contains("user etcd exists with ID 401, but mk needs ID 402"),
            "{e}"
        );
        let e = ensure_passwd(&p, "etcd", 401, 402, "etcd", "/var/lib/etcd").unwrap_err();
        assert!(
            e.to_string().contains("primary group 401, mk needs 402"),
            "{e}"
        );
        let e = ensure_passwd(PASSWD, "etcd", 99, 99, "etcd", "/").unwrap_err();
        assert!(e.to_string().contains("belongs to nobody"), "{e}");
        let s = ensure_shadow("root:*::0:99999:7:::", "etcd").unwrap();
        assert_eq!(s, "root:*::0:99999:7:::\netcd:!!:::::::\n");
        assert_eq!(ensure_shadow(&s, "etcd"), None);
    }
}
