//! Every supported command parsed into its type, and every refusal with its
//! exact `FILE:LINE:` prefix.

use mk_depsolve::ItemKind;
use mk_kickstart::*;

fn ok(text: &str) -> Kickstart {
    match Kickstart::parse("t.ks", text) {
        Ok(ks) => ks,
        Err(e) => panic!("{e}\n--- input:\n{text}"),
    }
}

fn err(text: &str) -> String {
    match Kickstart::parse("t.ks", text) {
        Ok(ks) => panic!("accepted: {ks:?}\n--- input:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The error starts with `t.ks:LINE: ` and contains every fragment.
#[track_caller]
fn refused(text: &str, line: usize, fragments: &[&str]) {
    let e = err(text);
    let prefix = format!("t.ks:{line}: ");
    assert!(e.starts_with(&prefix), "expected {prefix:?}: {e}");
    for f in fragments {
        assert!(e.contains(f), "missing {f:?} in: {e}");
    }
}

#[test]
fn empty_and_comments() {
    assert_eq!(ok(""), Kickstart::default());
    assert_eq!(ok("# only\n\n   # comments\n"), Kickstart::default());
    let ks = ok("selinux --permissive # trailing comment\n");
    assert_eq!(ks.selinux.unwrap().mode, SelinuxMode::Permissive);
    // `#` inside a word is not a comment.
    let ks = ok("timezone Etc/GMT+1#x\n");
    assert_eq!(ks.timezone.unwrap().zone, "Etc/GMT+1#x");
}

#[test]
fn selinux_modes_and_errors() {
    for (opt, mode) in [
        ("--enforcing", SelinuxMode::Enforcing),
        ("--permissive", SelinuxMode::Permissive),
        ("--disabled", SelinuxMode::Disabled),
    ] {
        let ks = ok(&format!("\n\nselinux {opt}\n"));
        assert_eq!(ks.selinux, Some(Selinux { line: 3, mode }));
    }
    refused("selinux\n", 1, &["exactly one of --enforcing"]);
    refused("selinux --enforcing --disabled\n", 1, &["exactly one"]);
    refused(
        "selinux --enforcing\n# x\nselinux --permissive\n",
        3,
        &["`selinux` given twice (first at line 1)"],
    );
    refused(
        "selinux --enforce\n",
        1,
        &["unknown option `--enforce` for `selinux`", "--enforcing"],
    );
}

#[test]
fn bootloader() {
    let ks = ok(
        "bootloader --location=mbr --timeout 5 --append=\"cgroup.memory=nokmem  console=ttyS0,115200\"\n",
    );
    assert_eq!(
        ks.bootloader,
        Some(Bootloader {
            line: 1,
            append: vec!["cgroup.memory=nokmem".into(), "console=ttyS0,115200".into()],
            location: Some(BootloaderLocation::Mbr),
            timeout: Some(5),
        })
    );
    assert_eq!(
        ok("bootloader --location=none\n")
            .bootloader
            .unwrap()
            .location,
        Some(BootloaderLocation::None)
    );
    refused(
        "bootloader --location=boot\n",
        1,
        &["expected mbr, partition or none"],
    );
    refused(
        "bootloader --timeout=soon\n",
        1,
        &["`--timeout` expects a whole number of seconds, got `soon`"],
    );
    refused(
        "bootloader --password=x\n",
        1,
        &["`bootloader --password` is not supported"],
    );
    refused(
        "bootloader\nbootloader\n",
        2,
        &["given twice (first at line 1)"],
    );
}

#[test]
fn line_continuations_and_quoting() {
    let ks = ok("# c\nbootloader --location=mbr \\\n   --append='a b' \\\n --timeout=2\nselinux --enforcing\n");
    let b = ks.bootloader.unwrap();
    assert_eq!((b.line, b.timeout), (2, Some(2)));
    assert_eq!(b.append, ["a", "b"]);
    assert_eq!(ks.selinux.unwrap().line, 5);
    // Errors in a continued command point at its first line.
    refused(
        "\nbootloader \\\n --nope\n",
        2,
        &["unknown option `--nope`"],
    );
    refused(
        "selinux \\",
        1,
        &["line continuation `\\` at the end of the file"],
    );
    refused("\nbootloader --append=\"x\n", 2, &["unbalanced quote"]);
    // A backslash in a comment does not continue the line.
    let ks = ok("selinux --enforcing # \\\nskipx\n");
    assert_eq!(ks.skipx, Some(2));
}

#[test]
fn part_lines() {
    let ks = ok(concat!(
        "part biosboot --fstype=biosboot --size=1\n",
        "part /boot/efi --fstype=efi --size=200 --label=ESP\n",
        "partition / --fstype ext4 --size 4096 --label=MK-ROOT --ondisk=vda\n",
        "part /var --fstype=ext4 --size=1024 --grow\n",
    ));
    assert_eq!(ks.parts.len(), 4);
    assert_eq!(ks.parts[0].fstype, FsType::BiosBoot);
    assert_eq!(ks.parts[1].fstype, FsType::Efi);
    assert_eq!(
        ks.parts[2],
        Part {
            line: 3,
            mountpoint: "/".into(),
            size_mib: 4096,
            fstype: FsType::Ext4,
            label: Some("MK-ROOT".into()),
            grow: false,
            ondisk: Some("vda".into()),
        }
    );
    assert!(ks.parts[3].grow);
    assert_eq!(
        ok("part biosboot --size=1\n").parts[0].fstype,
        FsType::BiosBoot
    );

    refused("\npart / --size=1\n", 2, &["needs --fstype", "xfs"]);
    refused(
        "part / --fstype=xfs --size=1\n",
        1,
        &["supported are ext4, efi"],
    );
    refused("part / --fstype=ext4\n", 1, &["`part /` needs --size"]);
    refused("part / --fstype=ext4 --size=0\n", 1, &["at least 1 MiB"]);
    refused(
        "part / --fstype=ext4 --size=1G\n",
        1,
        &["expects a whole number of MiB, got `1G`"],
    );
    refused("part swap --size=1\n", 1, &["swap"]);
    refused(
        "part pv.01 --size=1\n",
        1,
        &["LVM and RAID members are not supported"],
    );
    refused("part --size=1\n", 1, &["needs a mount point"]);
    refused("part / /var --size=1\n", 1, &["found also `/var`"]);
    refused(
        "part /var/ --fstype=ext4 --size=1\n",
        1,
        &["not a normalised path"],
    );
    refused(
        "part /x --fstype=efi --size=1\n",
        1,
        &["the ESP is /boot/efi"],
    );
    refused(
        "part biosboot --fstype=ext4 --size=1\n",
        1,
        &["no filesystem"],
    );
    refused(
        "part biosboot --size=1 --label=X\n",
        1,
        &["no filesystem to label"],
    );
    refused(
        "part / --fstype=ext4 --size=1 --label=ABCDEFGHIJKLMNOPQ\n",
        1,
        &["at most 16"],
    );
    refused(
        "part /boot/efi --fstype=efi --size=1 --label=ABCDEFGHIJKL\n",
        1,
        &["at most 11"],
    );
    refused(
        "part / --fstype=ext4 --size=1 --label=A\npart /var --fstype=ext4 --size=1 --label=A\n",
        2,
        &["label `A` is already used by `part /` (line 1)"],
    );
    refused(
        "part / --fstype=ext4 --size=1\n\npart / --fstype=ext4 --size=2\n",
        3,
        &["`part /` given twice (first at line 1)"],
    );
    refused(
        "part / --fstype=ext4 --size=1 --encrypted\n",
        1,
        &["`part --encrypted` is not supported", "unattended"],
    );
    refused(
        "part / --fstype=ext4 --size=1 --fsoptions=ro\n",
        1,
        &["`part --fsoptions` is not supported"],
    );
}

#[test]
fn autopart_and_clearpart() {
    let ks = ok("autopart --type=plain --fstype=ext4 --nolvm\nclearpart --all --initlabel --drives=sda,sdb\nzerombr\n");
    assert_eq!(
        ks.autopart,
        Some(Autopart {
            line: 1,
            kind: Some(AutopartType::Plain),
            fstype: Some("ext4".into()),
            nolvm: true
        })
    );
    assert_eq!(
        ks.clearpart,
        Some(Clearpart {
            line: 2,
            which: ClearpartWhich::All,
            initlabel: true,
            drives: vec!["sda".into(), "sdb".into()]
        })
    );
    assert_eq!(ks.zerombr, Some(3));
    refused(
        "autopart --type=zfs\n",
        1,
        &["expected plain, lvm or thinp"],
    );
    refused(
        "autopart --encrypted\n",
        1,
        &["`autopart --encrypted` is not supported"],
    );
    refused(
        "part / --fstype=ext4 --size=1\nselinux --enforcing\nautopart\n",
        3,
        &["`autopart` (line 3) and `part` (line 1) exclude each other"],
    );
    refused("clearpart --all --linux\n", 1, &["exclude each other"]);
    refused("clearpart --drives=sda,,sdb\n", 1, &["empty item"]);
    refused(
        "zerombr yes\n",
        1,
        &["`zerombr` takes no arguments, found `yes`"],
    );
}

#[test]
fn firewall_and_services() {
    let ks = ok("firewall --enabled --service=ssh,https --port=6443:tcp,30000-32767:udp\nservices --enabled=a,b --disabled=c\n");
    assert_eq!(
        ks.firewall,
        Some(Firewall {
            line: 1,
            enabled: true,
            services: vec!["ssh".into(), "https".into()],
            ports: vec!["6443:tcp".into(), "30000-32767:udp".into()],
        })
    );
    assert_eq!(
        ks.services,
        Some(Services {
            line: 2,
            enabled: vec!["a".into(), "b".into()],
            disabled: vec!["c".into()]
        })
    );
    assert!(!ok("firewall --disabled\n").firewall.unwrap().enabled);
    refused("firewall\n", 1, &["exactly one of --enabled, --disabled"]);
    refused("firewall --disabled --service=ssh\n", 1, &["cannot open"]);
    refused(
        "firewall --enabled --port=6443\n",
        1,
        &["expected PORT[-PORT]:tcp"],
    );
    refused("firewall --enabled --port=9-8:tcp\n", 1, &["expected PORT"]);
    refused("firewall --enabled --port=1:sctp\n", 1, &["expected PORT"]);
    refused(
        "firewall --enabled --trust=eth0\n",
        1,
        &["`firewall --trust` is not supported"],
    );
    refused("services\n", 1, &["needs --enabled"]);
    refused(
        "services --enabled=a --disabled=a\n",
        1,
        &["`a` is both enabled and disabled"],
    );
    refused(
        "services --enabled=a\nservices --enabled=b\n",
        2,
        &["`services` given twice"],
    );
}

#[test]
fn users_groups_rootpw() {
    let hash = "$6$saltsalt$0123456789abcdefABCDEF";
    let ks = ok(&format!(
        "group --name=mk --gid=990\nuser --name=mk --uid=990 --gid=990 --groups=wheel,adm --homedir=/home/mk --shell=/bin/bash --gecos=\"mk admin\" --lock\nuser --name=b --password={hash} --iscrypted\nrootpw --lock\n"
    ));
    assert_eq!(
        ks.groups,
        [Group {
            line: 1,
            name: "mk".into(),
            gid: Some(990)
        }]
    );
    assert_eq!(
        ks.users[0],
        User {
            line: 2,
            name: "mk".into(),
            uid: Some(990),
            gid: Some(990),
            groups: vec!["wheel".into(), "adm".into()],
            homedir: Some("/home/mk".into()),
            shell: Some("/bin/bash".into()),
            gecos: Some("mk admin".into()),
            lock: true,
            crypted_password: None,
        }
    );
    assert_eq!(ks.users[1].crypted_password.as_deref(), Some(hash));
    assert_eq!(
        ks.rootpw,
        Some(RootPw {
            line: 4,
            crypted_password: None
        })
    );
    let ks = ok(&format!("rootpw --lock --iscrypted {hash}\n"));
    assert_eq!(ks.rootpw.unwrap().crypted_password.as_deref(), Some(hash));

    refused(
        "\nrootpw secret --lock\n",
        2,
        &["plain-text passwords are refused"],
    );
    refused(
        "rootpw --plaintext secret\n",
        1,
        &["`rootpw --plaintext` is not supported", "plain-text"],
    );
    refused(
        &format!("rootpw --iscrypted {hash}\n"),
        1,
        &["`rootpw` needs --lock"],
    );
    refused(
        "rootpw --lock --iscrypted $1$abc$defdefdefdefdefdef\n",
        1,
        &["SHA-512"],
    );
    refused(
        "rootpw --lock --iscrypted\n",
        1,
        &["without a password hash"],
    );
    refused(
        "user --name=a --password=secret\n",
        1,
        &["plain-text passwords are refused"],
    );
    refused("user --name=a --iscrypted\n", 1, &["without --password"]);
    refused("user --uid=1\n", 1, &["`user` needs --name"]);
    refused(
        "user --name=a\nuser --name=a\n",
        2,
        &["given twice (first at line 1)"],
    );
    refused("user --name=a --uid=-1\n", 1, &["expects a whole number"]);
    refused("user --name=a --shell=bash\n", 1, &["absolute path"]);
    refused(
        "group --name=a\ngroup --name=a\n",
        2,
        &["given twice (first at line 1)"],
    );
    refused(
        "group --name=a --gid=5\ngroup --name=b --gid=5\n",
        2,
        &["gid 5 is already group `a` (line 1)"],
    );
}

#[test]
fn locale_and_misc() {
    let ks = ok(concat!(
        "lang en_US.UTF-8 --addsupport=de_DE.UTF-8\n",
        "keyboard us\n",
        "timezone Europe/Paris --utc --ntpservers=a.example,b.example\n",
        "text\n",
        "poweroff\n",
        "eula --agreed\n",
        "firstboot --disable\n",
        "skipx\n",
    ));
    assert_eq!(
        ks.lang,
        Some(Lang {
            line: 1,
            lang: "en_US.UTF-8".into(),
            addsupport: vec!["de_DE.UTF-8".into()]
        })
    );
    assert_eq!(
        ks.keyboard,
        Some(Keyboard {
            line: 2,
            layout: Some("us".into()),
            vckeymap: None,
            xlayouts: vec![]
        })
    );
    assert_eq!(
        ks.timezone,
        Some(Timezone {
            line: 3,
            zone: "Europe/Paris".into(),
            utc: true,
            nontp: false,
            ntpservers: vec!["a.example".into(), "b.example".into()],
        })
    );
    assert_eq!(
        ks.mode,
        Some(Located {
            line: 4,
            value: Mode::Text
        })
    );
    assert_eq!(
        ks.finish,
        Some(Located {
            line: 5,
            value: Finish::Poweroff
        })
    );
    assert_eq!(
        (ks.eula_agreed, ks.firstboot_disabled, ks.skipx),
        (Some(6), Some(7), Some(8))
    );
    let ks = ok("keyboard --vckeymap=de --xlayouts=de,us\ncmdline\nreboot\n");
    assert_eq!(ks.keyboard.unwrap().xlayouts, ["de", "us"]);
    assert_eq!(ks.mode.unwrap().value, Mode::Cmdline);
    assert_eq!(ks.finish.unwrap().value, Finish::Reboot);

    refused("lang\n", 1, &["`lang` needs a locale"]);
    refused("keyboard\n", 1, &["needs a layout"]);
    refused("timezone\n", 1, &["needs a zone"]);
    refused("timezone ../etc\n", 1, &["not a zone name"]);
    refused(
        "timezone UTC --nontp --ntpservers=a\n",
        1,
        &["exclude each other"],
    );
    refused(
        "text\n\ncmdline\n",
        3,
        &["`text/cmdline` given twice (first at line 1)"],
    );
    refused(
        "reboot\npoweroff\n",
        2,
        &["`reboot/poweroff` given twice (first at line 1)"],
    );
    refused(
        "reboot --eject\n",
        1,
        &["`reboot` takes no arguments, found `--eject`"],
    );
    refused("eula\n", 1, &["needs `--agreed`"]);
    refused(
        "firstboot --enable\n",
        1,
        &["`firstboot --enable` is not supported", "mk-firstboot"],
    );
    refused("firstboot\n", 1, &["needs `--disable`"]);
    refused("lang C\nlang C\n", 2, &["`lang` given twice"]);
}

#[test]
fn network_offline() {
    let ks = ok(concat!(
        "network --bootproto=dhcp --device=eth0 --onboot=yes --noipv6 --hostname=n1.example\n",
        "network --bootproto=static --device=eth1 --ip=10.0.0.2 --netmask=255.255.255.0 --gateway=10.0.0.1 --nameserver=10.0.0.53,10.0.0.54 --mtu=9000 --onboot=no\n",
    ));
    assert_eq!(ks.networks.len(), 2);
    assert_eq!(ks.networks[0].bootproto, BootProto::Dhcp);
    assert_eq!(ks.networks[0].hostname.as_deref(), Some("n1.example"));
    assert_eq!(
        ks.networks[1],
        Network {
            line: 2,
            bootproto: BootProto::Static,
            device: Some("eth1".into()),
            onboot: Some(false),
            ip: Some("10.0.0.2".into()),
            netmask: Some("255.255.255.0".into()),
            gateway: Some("10.0.0.1".into()),
            nameservers: vec!["10.0.0.53".into(), "10.0.0.54".into()],
            hostname: None,
            noipv6: false,
            mtu: Some(9000),
        }
    );
    refused(
        "network --bootproto=dhcp --activate\n",
        1,
        &["`network --activate` is not supported", "no network"],
    );
    refused(
        "network --bootproto=bootp\n",
        1,
        &["expected dhcp or static"],
    );
    refused(
        "network --bootproto=static --ip=10.0.0.2\n",
        1,
        &["needs --ip and --netmask"],
    );
    refused("network --ip=10.0.0.2\n", 1, &["needs --bootproto=static"]);
    refused("network --onboot=maybe\n", 1, &["expected yes or no"]);
    refused(
        "network --device=eth0\nnetwork --device=eth0\n",
        2,
        &["device eth0 given twice (first at line 1)"],
    );
}

#[test]
fn unsupported_and_unknown_commands() {
    refused(
        "selinux --enforcing\nurl --url=http://mirror/centos\n",
        2,
        &["unsupported command `url`", "image.yaml"],
    );
    refused(
        "repo --name=x --baseurl=file:///x\n",
        1,
        &["unsupported command `repo`"],
    );
    refused(
        "\n\nlogvol / --vgname=v --size=1 --name=root\n",
        3,
        &["unsupported command `logvol`", "use `part`"],
    );
    refused("auth --enableshadow\n", 1, &["unsupported command `auth`"]);
    refused(
        "graphical\n",
        1,
        &["unsupported command `graphical`", "no installer"],
    );
    refused("halt\n", 1, &["use `reboot` or `poweroff`"]);
    refused(
        "sshkey --username=root x\n",
        1,
        &["unsupported command `sshkey`"],
    );
    refused(
        "frobnicate\n",
        1,
        &[
            "unknown command `frobnicate`",
            "supported commands: autopart, bootloader",
            "%packages, %post",
        ],
    );
}

#[test]
fn packages_section() {
    let ks = ok("text\n%packages --nocore --excludedocs\n@core --nodefaults\n# c\nkernel\n-postfix\n%end\nskipx\n");
    let p = ks.packages.unwrap();
    assert_eq!(
        (p.line, p.first_line, p.nocore, p.excludedocs),
        (2, 3, true, true)
    );
    assert_eq!(p.body, "@core --nodefaults\n# c\nkernel\n-postfix\n");
    let items: Vec<(usize, String)> = p
        .request
        .items
        .iter()
        .map(|i| (i.line, i.kind.to_string()))
        .collect();
    assert_eq!(
        items,
        [
            (3, "@core --nodefaults".to_string()),
            (5, "kernel".into()),
            (6, "-postfix".into())
        ]
    );
    assert!(matches!(p.request.items[1].kind, ItemKind::Package(ref n) if n == "kernel"));
    assert_eq!(ks.skipx, Some(8));
    assert!(ok("%packages\n%end\n")
        .packages
        .unwrap()
        .request
        .items
        .is_empty());

    // Errors in the body come from mk-depsolve's parser with file lines.
    refused(
        "\n%packages\nkernel\n@core --bogus\n%end\n",
        4,
        &["%packages: unknown group option --bogus", "`@core --bogus`"],
    );
    refused(
        "%packages --ignoremissing\n%end\n",
        1,
        &[
            "`%packages --ignoremissing` is not supported",
            "stop the build",
        ],
    );
    refused("%packages --multilib\n%end\n", 1, &["not supported"]);
    refused(
        "%packages extra\n%end\n",
        1,
        &["takes no arguments besides options"],
    );
    refused(
        "text\n%packages\nkernel\n",
        2,
        &["%packages has no closing `%end`"],
    );
    refused(
        "%packages\nkernel\n%post\n%end\n",
        3,
        &["`%post` inside %packages (opened at line 1)"],
    );
    refused(
        "%packages\n%end\n%packages\n%end\n",
        3,
        &["`%packages` given twice (first at line 1)"],
    );
    refused("%packages\n%end extra\n", 2, &["`%end` takes no arguments"]);
    refused(
        "selinux --enforcing\n%end\n",
        2,
        &["`%end` without an open section"],
    );
}

#[test]
fn post_scripts() {
    let body = "set -e\necho 'a  b' > /etc/x \\\n  && true\n%notasection\n";
    let ks = ok(&format!(
        "%post\n{body}%end\n\n%post --nochroot --interpreter=/usr/bin/python --erroronfail --log=/tmp/p.log\nprint(1)\n%end\n"
    ));
    assert_eq!(ks.post.len(), 2);
    assert_eq!(
        ks.post[0],
        PostScript {
            line: 1,
            nochroot: false,
            interpreter: None,
            erroronfail: false,
            log: None,
            body: body.into(),
            first_line: 2
        }
    );
    assert_eq!(
        ks.post[1],
        PostScript {
            line: 8,
            nochroot: true,
            interpreter: Some("/usr/bin/python".into()),
            erroronfail: true,
            log: Some("/tmp/p.log".into()),
            body: "print(1)\n".into(),
            first_line: 9,
        }
    );
    refused("%post --interpreter=python\n%end\n", 1, &["absolute path"]);
    refused(
        "%post --network\n%end\n",
        1,
        &["unknown option `--network` for `%post`"],
    );
    refused(
        "%post\ntrue\n# curl in a comment is fine\ncurl -O https://example.com/x\n%end\n",
        4,
        &["reaches for the network (`curl`)"],
    );
    refused(
        "%post\n\n  rpm -i http://example.com/x.rpm\n%end\n",
        3,
        &["`http://example.com/x.rpm`"],
    );
    refused("%post\nwget x\n%end\n", 2, &["`wget`"]);
    refused("%post\ntrue\n", 1, &["%post has no closing `%end`"]);
    ok("%post\ncp file:///x /y # local files are fine\nsed -i s/curl-x/y/ /etc/z\n%end\n");
}

#[test]
fn refused_sections() {
    refused(
        "text\n%pre\necho\n%end\n",
        2,
        &["`%pre` is not supported", "no installer environment"],
    );
    refused(
        "%pre-install\n%end\n",
        1,
        &["`%pre-install` is not supported"],
    );
    refused(
        "\n%include /tmp/part.ks\n",
        2,
        &["`%include` is not supported", "single file"],
    );
    refused(
        "%include http://example.com/x.ks\n",
        1,
        &["`%include` is not supported"],
    );
    refused("%ksappend x\n", 1, &["`%ksappend` is not supported"]);
    refused(
        "%onerror\n%end\n",
        1,
        &["supported sections are %packages and %post"],
    );
    refused(
        "%addon com_redhat_kdump\n%end\n",
        1,
        &["`%addon` is not supported"],
    );
}

#[test]
fn read_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.ks");
    std::fs::write(&path, "selinux --enforcing\nbogus\n").unwrap();
    let e = Kickstart::read(&path).unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert!(
        e.to_string()
            .starts_with(&format!("{}:2: unknown command `bogus`", path.display())),
        "{e}"
    );
    let e = Kickstart::read(&dir.path().join("missing.ks")).unwrap_err();
    assert!(e.to_string().contains("missing.ks"), "{e}");
    assert_eq!(e.line(), None);
}

/// A cheap property: parsing arbitrary mutations of a realistic kickstart
/// never panics (the fuzz target fuzz/fuzz_targets/kickstart.rs goes further).
#[test]
fn parse_never_panics_on_mutations() {
    let base = include_str!("../../../kickstart/centos-7.6-node.ks");
    let alphabet: Vec<char> = "%\\\"' \n#=-@,:/\tæ\u{0}abc".chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let chars: Vec<char> = base.chars().collect();
    for _ in 0..3000 {
        let mut text = chars.clone();
        for _ in 0..(next() % 8 + 1) {
            let at = (next() as usize) % (text.len() + 1);
            match next() % 3 {
                0 => text.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                1 if at < text.len() => {
                    text.remove(at);
                }
                _ => text.truncate(at),
            }
        }
        let text: String = text.into_iter().collect();
        let _ = Kickstart::parse("m.ks", &text);
    }
    // And every prefix of the file.
    for (i, _) in base.char_indices() {
        let _ = Kickstart::parse("p.ks", &base[..i]);
    }
}
