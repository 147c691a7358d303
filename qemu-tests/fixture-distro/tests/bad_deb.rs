//! Crafted .debs whose payload would write outside the root are refused by
//! the converter, naming the .deb and the member.

use mk_fixture_distro::deb::read_deb;
use std::path::{Path, PathBuf};

enum Member<'a> {
    File(&'a str),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

/// A tar with raw member names (the tar crate refuses `..` in set_path).
fn tar(members: &[Member]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        let (name, data): (&str, &[u8]) = match m {
            Member::File(n) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (n, b"x")
            }
            Member::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, b"")
            }
            Member::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_link_name(t).unwrap();
                (n, b"")
            }
        };
        let raw = &mut h.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_username("root").unwrap();
        h.set_groupname("root").unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn ar_member(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(
        format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            100644,
            data.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(b'\n');
    }
}

fn deb(dir: &Path, name: &str, data: &[Member]) -> PathBuf {
    let control = b"Package: evil\nVersion: 1.0-1\nArchitecture: all\nDescription: crafted\n";
    let mut ctl = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("./control").unwrap();
    h.set_size(control.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    ctl.append(&h, &control[..]).unwrap();
    let mut out = b"!<arch>\n".to_vec();
    ar_member(&mut out, "debian-binary", b"2.0\n");
    ar_member(&mut out, "control.tar", &ctl.into_inner().unwrap());
    ar_member(&mut out, "data.tar", &tar(data));
    let p = dir.join(name);
    std::fs::write(&p, out).unwrap();
    p
}

#[test]
fn a_well_formed_crafted_deb_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let p = deb(
        tmp.path(),
        "ok.deb",
        &[
            Member::Dir("./usr/"),
            Member::File("./usr/x"),
            Member::Symlink("./usr/y", "x"),
        ],
    );
    let d = read_deb(&p).unwrap();
    assert_eq!(d.control.field("Package"), "evil");
    let paths: Vec<&str> = d.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/usr", "/usr/x", "/usr/y"]);
}

#[test]
fn payloads_escaping_the_root_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, Vec<Member>, &str, &str)] = &[
        (
            "dotdot.deb",
            vec![Member::File("./../etc/passwd")],
            "./../etc/passwd",
            "..",
        ),
        (
            "deep.deb",
            vec![Member::File("./usr/../../x")],
            "./usr/../../x",
            "..",
        ),
        (
            "absolute.deb",
            vec![Member::File("/etc/shadow")],
            "/etc/shadow",
            "absolute",
        ),
        (
            "relative-link.deb",
            vec![Member::Symlink("./usr/lib/x", "../../../../etc")],
            "./usr/lib/x",
            "escapes the root",
        ),
        (
            "absolute-link.deb",
            vec![Member::Symlink("./etc/x", "/../../etc/shadow")],
            "./etc/x",
            "escapes the root",
        ),
        (
            "through-link.deb",
            vec![
                Member::Symlink("./usr/share/x", "/etc"),
                Member::File("./usr/share/x/passwd"),
            ],
            "./usr/share/x/passwd",
            "below /usr/share/x, a symlink",
        ),
    ];
    for (file, members, member, why) in cases {
        let p = deb(tmp.path(), file, members);
        let e = read_deb(&p).expect_err(file).to_string();
        assert!(e.contains(&p.display().to_string()), "{file}: {e}");
        assert!(e.contains(&format!("member {member:?}")), "{file}: {e}");
        assert!(e.contains(why), "{file}: {e}");
    }
}
