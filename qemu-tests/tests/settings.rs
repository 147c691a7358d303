//! Kickstart settings (lang, keyboard, timezone, group, user) land in the
//! image as the generated package mk-kickstart-settings: its files, the
//! accounts its %pre created, owned by the rpmdb. Read back from the root
//! filesystem of the raw image with debugfs (e2fsprogs).

use mk_qemu_tests::*;
use std::process::Command;

/// `debugfs -R CMD` on the root partition (slot A, partition 3) of `raw`.
fn debugfs(raw: &std::path::Path, offset: u64, cmd: &str) -> String {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(cmd)
        .arg(format!("{}?offset={offset}", raw.display()))
        .output()
        .expect("debugfs (e2fsprogs)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kickstart_settings_are_packaged_into_the_image() {
    init_logs();
    let d = scratch("settings.");
    let inputs = example_inputs_in(d.path());
    let r = write_recipe(
        d.path(),
        &inputs,
        |ks| {
            ks.replace(
                "rootpw --lock\n",
                "rootpw --lock\nlang en_US.UTF-8\nkeyboard --vckeymap=de\ntimezone Europe/Paris --utc\n\
                 group --name=ops --gid=1500\nuser --name=alice --uid=1501 --gid=1500 --shell=/bin/bash --lock\n",
            )
        },
        "1GiB",
    );
    let report = mk_image::build(&mk_image::BuildOptions {
        recipe: r,
        allowed_unowned: fixture_allowed_unowned(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("image build: {e:?}"));
    assert!(
        report
            .packages
            .iter()
            .any(|p| p.starts_with("mk-kickstart-settings-1-")),
        "{:?}",
        report.packages
    );
    let raw = report.raw.unwrap();
    // Root slot A: GPT entry 3 (mk-disk: ESP 256 MiB from 1 MiB, then the
    // 1 MiB BIOS boot partition).
    let offset = 258 * 1024 * 1024;
    assert_eq!(
        debugfs(&raw, offset, "cat /etc/locale.conf"),
        "LANG=en_US.UTF-8\n"
    );
    assert_eq!(
        debugfs(&raw, offset, "cat /etc/vconsole.conf"),
        "KEYMAP=de\n"
    );
    let lt = debugfs(&raw, offset, "stat /etc/localtime");
    assert!(lt.contains("../usr/share/zoneinfo/Europe/Paris"), "{lt}");
    let passwd = debugfs(&raw, offset, "cat /etc/passwd");
    assert!(
        passwd.contains("alice:x:1501:1500::/home/alice:/bin/bash"),
        "{passwd}"
    );
    let group = debugfs(&raw, offset, "cat /etc/group");
    assert!(group.contains("ops:x:1500:"), "{group}");
    let shadow = debugfs(&raw, offset, "cat /etc/shadow");
    let alice = shadow
        .lines()
        .find(|l| l.starts_with("alice:"))
        .unwrap_or_default();
    assert!(
        alice.starts_with("alice:!"),
        "alice's password must be locked: {alice}"
    );
    let home = debugfs(&raw, offset, "stat /home/alice");
    assert!(
        home.contains("User:  1501") && home.contains("Group:  1500"),
        "{home}"
    );
    assert!(home.contains("Mode:  0700"), "{home}");
}
