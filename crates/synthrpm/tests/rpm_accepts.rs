//! The real `rpm` must accept what mk-synthrpm builds and show what was
//! asked for.

use mk_synthrpm::{chain_plan, generate_chain_repo, Compression, SynthPackage};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

fn rpm(args: &[&str], files: &[&Path]) -> String {
    let out = Command::new("rpm").args(args).args(files).output().unwrap();
    assert!(
        out.status.success(),
        "rpm {args:?} {files:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn rpm_reads_and_verifies_synthetic_packages() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, c) in [Compression::Gzip, Compression::Xz, Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        let p = SynthPackage::new("synth", "1.2", &format!("{}", i + 1))
            .epoch(3)
            .arch("x86_64")
            .summary("Sum")
            .description("Desc")
            .license("BSD")
            .url("https://example.invalid/")
            .provides("synth-api", Some(("=", "2.0")))
            .requires("/bin/sh", None)
            .requires("glibc", Some((">=", "2.17")))
            .requires_pre("shadow-utils", None)
            .conflicts("other", Some(("<", "1:1.0-1")))
            .obsoletes("synth-old", Some(("<=", "1.1")))
            .file("/usr/bin/synth", "#!/bin/sh\n", 0o755)
            .file("/etc/synth.conf", "x\n", 0o640)
            .dir("/var/lib/synth")
            .symlink("/usr/bin/synth2", "synth")
            .owner("daemon", "daemon")
            .compression(c);
        let path = p.write_to_dir(tmp.path()).unwrap();
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            format!("synth-1.2-{}.x86_64.rpm", i + 1)
        );
        let k = rpm(&["-Kv", "--nosignature"], &[&path]);
        assert!(k.contains("Header SHA256 digest: OK"), "{k}");
        assert!(k.contains("Payload SHA256 digest: OK"), "{k}");
        let q = rpm(
            &["-qp", "--qf", "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SUMMARY}|%{LICENSE}|%{URL}|%{PAYLOADCOMPRESSOR}\n"],
            &[&path],
        );
        let comp = ["gzip", "xz", "zstd"][i];
        assert_eq!(
            q,
            format!(
                "synth|3|1.2|{}|x86_64|Sum|BSD|https://example.invalid/|{comp}\n",
                i + 1
            )
        );
        let req = rpm(&["-qp", "--requires"], &[&path]);
        for line in ["/bin/sh", "glibc >= 2.17", "shadow-utils"] {
            assert!(req.lines().any(|l| l == line), "{line} not in {req}");
        }
        let pre = rpm(
            &["-qp", "--qf", "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]"],
            &[&path],
        );
        assert!(pre.lines().any(|l| l == "shadow-utils pre"), "{pre}");
        let prov = rpm(&["-qp", "--provides"], &[&path]);
        assert!(prov.lines().any(|l| l == "synth-api = 2.0"), "{prov}");
        assert!(
            prov.lines()
                .any(|l| l == "synth = 3:1.2-1" || l == format!("synth = 3:1.2-{}", i + 1)),
            "{prov}"
        );
        assert_eq!(rpm(&["-qp", "--conflicts"], &[&path]), "other < 1:1.0-1\n");
        assert_eq!(rpm(&["-qp", "--obsoletes"], &[&path]), "synth-old <= 1.1\n");
        let list = rpm(
            &[
                "-qp",
                "--qf",
                "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]",
            ],
            &[&path],
        );
        assert_eq!(
            list,
            "-rw-r----- daemon daemon /etc/synth.conf\n\
             -rwxr-xr-x daemon daemon /usr/bin/synth\n\
             lrwxrwxrwx daemon daemon /usr/bin/synth2\n\
             drwxr-xr-x daemon daemon /var/lib/synth\n"
        );
    }
}

#[test]
fn rpm_shows_scriptlets() {
    let tmp = tempfile::tempdir().unwrap();
    let body = SynthPackage::new("scripted", "1", "1")
        .pre_script("getent group g >/dev/null || groupadd -r g\n")
        .post_script("echo installed\n")
        .write_to_dir(tmp.path())
        .unwrap();
    let s = rpm(&["-qp", "--scripts"], &[&body]);
    assert!(
        s.contains(
            "preinstall scriptlet (using /bin/sh):\ngetent group g >/dev/null || groupadd -r g\n"
        ),
        "{s}"
    );
    assert!(
        s.contains("postinstall scriptlet (using /bin/sh):\necho installed\n"),
        "{s}"
    );

    // %post -p /sbin/ldconfig: a program and no body, as rpmbuild writes it.
    let prog = SynthPackage::new("ldconfig-user", "1", "1")
        .file("/usr/lib64/libx.so.1", "x", 0o755)
        .post_program("/sbin/ldconfig")
        .write_to_dir(tmp.path())
        .unwrap();
    let s = rpm(&["-qp", "--scripts"], &[&prog]);
    assert_eq!(s, "postinstall program: /sbin/ldconfig\n");
    let k = rpm(&["-Kv", "--nosignature"], &[&prog]);
    assert!(
        k.contains("Header SHA256 digest: OK") && k.contains("Payload SHA256 digest: OK"),
        "{k}"
    );
    let req = rpm(
        &["-qp", "--qf", "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]"],
        &[&prog],
    );
    assert!(
        req.lines().any(|l| {
            l.strip_prefix("/sbin/ldconfig ").is_some_and(|t| {
                t.split(',').collect::<BTreeSet<_>>() == BTreeSet::from(["interp", "post"])
            })
        }),
        "{req}"
    );
}

#[test]
fn builds_are_reproducible() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let p = SynthPackage::new("same", "1", "1")
        .file("/usr/share/same", "same\n", 0o644)
        .post_program("/sbin/ldconfig")
        .compression(Compression::Xz);
    let pa = p.write_to_dir(a.path()).unwrap();
    let pb = p.write_to_dir(b.path()).unwrap();
    assert_eq!(fs::read(pa).unwrap(), fs::read(pb).unwrap());

    let pa = generate_chain_repo(a.path(), 60, 9).unwrap();
    let pb = generate_chain_repo(b.path(), 60, 9).unwrap();
    assert_eq!(pa.len(), 60);
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!(x.file_name(), y.file_name());
        assert_eq!(
            fs::read(x).unwrap(),
            fs::read(y).unwrap(),
            "{}",
            x.display()
        );
    }
    let other: Vec<String> = chain_plan(60, 10).iter().map(|p| p.file_name()).collect();
    let same: Vec<String> = pa
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_ne!(other, same, "another seed gives another repository");
}

/// Every requirement of the chain repository is satisfied inside it, as
/// rpm itself reports provides and files; it has several versions of some
/// names, epochs, obsoletes, file requires and deep chains.
#[test]
fn chain_repo_is_self_contained_and_varied() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = generate_chain_repo(tmp.path(), 300, 1).unwrap();
    assert_eq!(paths.len(), 300);
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 300);
    let files: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let q = |qf: &str| -> Vec<String> {
        rpm(&["-qp", "--qf", qf], &files)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let provided: BTreeSet<String> = q("[%{PROVIDENAME}\n]").into_iter().collect();
    let owned: BTreeSet<String> = q("[%{FILENAMES}\n]").into_iter().collect();
    let requires = q("[%{REQUIRENAME}\n]");
    let mut file_requires = 0;
    for r in &requires {
        if r.starts_with("rpmlib(") {
            continue;
        }
        if r.starts_with('/') {
            file_requires += 1;
        }
        assert!(
            provided.contains(r) || owned.contains(r),
            "nothing in the chain repository provides {r}"
        );
    }
    assert!(file_requires > 200, "{file_requires}");
    let versioned = q("[%{REQUIRENAME} %{REQUIREFLAGS:depflags} %{REQUIREVERSION}\n]");
    assert!(versioned
        .iter()
        .any(|l| l.contains("chain-cap-") && l.contains(">=")));

    let names = q("%{NAME}\n");
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert!(
        names.len() - distinct.len() >= 10,
        "several versions of some names"
    );
    assert!(q("%{EPOCHNUM}\n").iter().any(|e| e != "0"), "some epochs");
    let obsoletes = q("[%{OBSOLETENAME}\n]");
    assert!(obsoletes.len() >= 5);
    for o in &obsoletes {
        assert!(distinct.contains(o), "obsoleted {o} is in the repository");
    }
    // Deep: chain-N requires chain-(N-1) for every name.
    let chain_names = distinct.iter().filter(|n| n.starts_with("chain-0")).count();
    assert!(chain_names > 200, "{chain_names}");
    let by_name = q("%{NAME} [%{REQUIRENAME},]\n");
    for n in 2..chain_names {
        let name = format!("chain-{n:05}");
        let prev = format!("chain-{:05},", n - 1);
        assert!(
            by_name
                .iter()
                .any(|l| l.starts_with(&format!("{name} ")) && l.contains(&prev)),
            "{name} does not require {prev}"
        );
    }
}
