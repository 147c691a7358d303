//! Resolution on hand-built package sets: one rpm/dnf rule per test.

mod common;

use common::{pkg, Build};
use mk_depsolve::{resolve, Comps, Request, Resolution, SolveError, SolveOptions};
use mk_rpmrepo::Package;

fn run(
    pool: &[Package],
    body: &str,
    opts: &SolveOptions,
) -> Result<(Vec<String>, Resolution), SolveError> {
    let request = Request::parse(body).expect("request parses");
    let res = resolve(pool, &request, None, opts)?;
    let nevras = res.packages.iter().map(|&i| pool[i].nevra()).collect();
    Ok((nevras, res))
}

fn solve(pool: &[Package], body: &str) -> Vec<String> {
    match run(pool, body, &SolveOptions::default()) {
        Ok((n, _)) => n,
        Err(e) => panic!("resolving {body:?} failed: {e}"),
    }
}

fn fail(pool: &[Package], body: &str) -> String {
    match run(pool, body, &SolveOptions::default()) {
        Ok((n, _)) => panic!("resolving {body:?} should fail, got {n:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn highest_evr_by_rpmvercmp() {
    // `~` sorts before the release it precedes, `^` after it; the epoch
    // beats any version.
    let pool = [
        pkg("foo-1.0~rc2-1.x86_64"),
        pkg("foo-1.0-1.x86_64"),
        pkg("foo-1.0^git3-1.x86_64"),
        pkg("foo-1.0~rc10-1.x86_64"),
        pkg("bar-2.0-1.x86_64"),
        pkg("bar-1:1.0-1.x86_64"),
        pkg("baz-1.10-1.x86_64"),
        pkg("baz-1.9-1.x86_64"),
        pkg("baz-1.10-1.el7_9.1.x86_64"),
    ];
    assert_eq!(
        solve(&pool, "foo\nbar\nbaz"),
        [
            "bar-1:1.0-1.x86_64",
            "baz-1.10-1.el7_9.1.x86_64",
            "foo-1.0^git3-1.x86_64"
        ]
    );
    // Without the caret build, the final release beats both rcs.
    assert_eq!(solve(&pool[..2], "foo"), ["foo-1.0-1.x86_64"]);
    // rc10 > rc2: segments compare numerically.
    let rcs = [pool[0].clone(), pool[3].clone()];
    assert_eq!(solve(&rcs, "foo"), ["foo-1.0~rc10-1.x86_64"]);
}

#[test]
fn versioned_requires_pick_an_older_version() {
    let pool = [
        pkg("app-1.0-1.x86_64").req("lib < 2.0"),
        pkg("lib-1.5-3.x86_64"),
        pkg("lib-2.1-1.x86_64"),
        pkg("tool-1.0-1.x86_64").req("lib = 1.5"),
    ];
    assert_eq!(
        solve(&pool, "app"),
        ["app-1.0-1.x86_64", "lib-1.5-3.x86_64"]
    );
    // Asking for lib too: the solver backs off from lib-2.1.
    assert_eq!(
        solve(&pool, "lib\napp"),
        ["app-1.0-1.x86_64", "lib-1.5-3.x86_64"]
    );
    // A requirement without release matches any release (1.5 = 1.5-3).
    assert_eq!(
        solve(&pool, "tool"),
        ["lib-1.5-3.x86_64", "tool-1.0-1.x86_64"]
    );
    // Epoch: 1:0.5 is newer than any 2.x without epoch.
    let pool = [
        pkg("app-1.0-1.x86_64").req("lib >= 1:0.1"),
        pkg("lib-2.1-1.x86_64"),
        pkg("lib-1:0.5-1.x86_64"),
    ];
    assert_eq!(
        solve(&pool, "app"),
        ["app-1.0-1.x86_64", "lib-1:0.5-1.x86_64"]
    );
}

#[test]
fn file_requires_use_file_lists_and_file_provides() {
    let pool = [
        pkg("script-1-1.noarch")
            .req("/usr/bin/perl")
            .req("/etc/cron.d")
            .req("/bin/sh")
            .req("rpmlib(PayloadFilesHavePrefix) <= 4.0-1"),
        pkg("perl-5.16.3-297.el7.x86_64").file("/usr/bin/perl"),
        pkg("cronie-1.4.11-23.el7.x86_64").dir("/etc/cron.d"),
        // bash declares /bin/sh as an explicit provide, as repodata does.
        pkg("bash-4.2.46-34.el7.x86_64").prov("/bin/sh"),
        pkg("unrelated-1-1.x86_64").file("/usr/bin/other"),
    ];
    assert_eq!(
        solve(&pool, "script"),
        [
            "bash-4.2.46-34.el7.x86_64",
            "cronie-1.4.11-23.el7.x86_64",
            "perl-5.16.3-297.el7.x86_64",
            "script-1-1.noarch"
        ]
    );
    // A path can be requested directly.
    assert_eq!(
        solve(&pool, "/usr/bin/perl"),
        ["perl-5.16.3-297.el7.x86_64"]
    );
}

#[test]
fn virtual_provides_prefer_the_package_named_like_the_capability() {
    let pool = [
        pkg("mailer-1-1.x86_64").req("sendmail"),
        pkg("postfix-2.10.1-9.el7.x86_64")
            .prov("sendmail")
            .prov("MTA"),
        pkg("sendmail-8.14.7-6.el7.x86_64").prov("MTA"),
        pkg("cron-1-1.x86_64").req("MTA"),
        pkg("libs-1-1.x86_64").req("libssl.so.10()(64bit)"),
        pkg("openssl-libs-1:1.0.2k-19.el7.x86_64").prov("libssl.so.10()(64bit)"),
    ];
    assert_eq!(
        solve(&pool, "mailer"),
        ["mailer-1-1.x86_64", "sendmail-8.14.7-6.el7.x86_64"]
    );
    // Nobody is named MTA: the first name in byte order wins.
    assert_eq!(
        solve(&pool, "cron"),
        ["cron-1-1.x86_64", "postfix-2.10.1-9.el7.x86_64"]
    );
    // A provider already requested satisfies the capability.
    assert_eq!(
        solve(&pool, "sendmail\ncron"),
        ["cron-1-1.x86_64", "sendmail-8.14.7-6.el7.x86_64"]
    );
    // Capabilities can be requested like names.
    assert_eq!(
        solve(&pool, "libssl.so.10()(64bit)"),
        ["openssl-libs-1:1.0.2k-19.el7.x86_64"]
    );
}

#[test]
fn conflicts_are_honoured() {
    let pool = [
        pkg("a-1-1.x86_64").conflicts("b >= 2"),
        pkg("b-2.0-1.x86_64"),
        pkg("b-1.0-1.x86_64"),
        pkg("c-1-1.x86_64").req("b >= 2"),
        pkg("d-1-1.x86_64").conflicts("/usr/bin/e"),
        pkg("e-1-1.x86_64").file("/usr/bin/e"),
    ];
    // The highest b conflicts with a: the older one is taken.
    assert_eq!(solve(&pool, "a\nb"), ["a-1-1.x86_64", "b-1.0-1.x86_64"]);
    // c needs b >= 2, which a refuses.
    let err = fail(&pool, "a\nc");
    assert!(err.contains("cannot be satisfied"), "{err}");
    assert!(
        err.contains("a-1-1.x86_64") && err.contains("b >= 2"),
        "{err}"
    );
    // File conflicts.
    let err = fail(&pool, "d\ne");
    assert!(err.contains("/usr/bin/e"), "{err}");
}

#[test]
fn obsoletes_replace_and_never_coexist() {
    let pool = [
        pkg("old-1.0-1.x86_64"),
        pkg("new-2.0-1.x86_64")
            .obsoletes("old < 2")
            .prov("old = 2.0"),
        pkg("app-1-1.x86_64").req("old"),
    ];
    // Asking for an obsoleted package installs the obsoleter (dnf).
    let (nevras, res) = run(&pool, "old", &SolveOptions::default()).unwrap();
    assert_eq!(nevras, ["new-2.0-1.x86_64"]);
    assert_eq!(
        res.replaced,
        [("old".to_string(), "new-2.0-1.x86_64".to_string())]
    );
    // `old` as a dependency: new provides it, and old may not join new.
    assert_eq!(
        solve(&pool, "new\napp"),
        ["app-1-1.x86_64", "new-2.0-1.x86_64"]
    );
    // An obsoleter without the capability cannot coexist with what it
    // obsoletes.
    let pool2 = [
        pkg("old-1.0-1.x86_64"),
        pkg("new-2.0-1.x86_64").obsoletes("old"),
        pkg("app-1-1.x86_64").req("old"),
    ];
    let err = fail(&pool2, "new\napp");
    assert!(
        err.contains("old") && err.contains("new-2.0-1.x86_64"),
        "{err}"
    );
}

#[test]
fn i686_only_when_asked() {
    let pool = [
        pkg("foo-1-1.x86_64").req("libc.so.6()(64bit)"),
        pkg("foo-1-1.i686").req("libc.so.6"),
        pkg("glibc-2.17-317.el7.x86_64").prov("libc.so.6()(64bit)"),
        pkg("glibc-2.17-317.el7.i686").prov("libc.so.6"),
        pkg("compat-1-1.i686"),
        pkg("arm-1-1.aarch64"),
    ];
    assert_eq!(
        solve(&pool, "foo"),
        ["foo-1-1.x86_64", "glibc-2.17-317.el7.x86_64"]
    );
    // `name.i686` brings the 32-bit package and its 32-bit dependencies.
    assert_eq!(
        solve(&pool, "foo\nfoo.i686"),
        [
            "foo-1-1.i686",
            "foo-1-1.x86_64",
            "glibc-2.17-317.el7.i686",
            "glibc-2.17-317.el7.x86_64"
        ]
    );
    // A 32-bit-only package is refused unless asked for or allowed.
    let err = fail(&pool, "compat");
    assert!(err.contains("no package matches `compat`"), "{err}");
    assert!(err.contains("compat.i686"), "{err}");
    let opts = SolveOptions {
        allow_i686: true,
        ..SolveOptions::default()
    };
    let (nevras, _) = run(&pool, "compat", &opts).unwrap();
    assert_eq!(nevras, ["compat-1-1.i686"]);
    // Allowing i686 does not make plain `foo` multilib.
    let (nevras, _) = run(&pool, "foo", &opts).unwrap();
    assert_eq!(nevras, ["foo-1-1.x86_64", "glibc-2.17-317.el7.x86_64"]);
    // Other architectures never.
    let err = fail(&pool, "arm");
    assert!(err.contains("architecture aarch64"), "{err}");
}

#[test]
fn exclusions_remove_candidates() {
    let pool = [
        pkg("web-1-1.x86_64").req("webserver"),
        pkg("httpd-2.4.6-97.el7.centos.x86_64").prov("webserver"),
        pkg("nginx-1.20.1-10.el7.x86_64").prov("webserver"),
        pkg("app-1-1.x86_64").req("libfoo"),
        pkg("libfoo-1-1.x86_64"),
    ];
    assert_eq!(
        solve(&pool, "web"),
        ["httpd-2.4.6-97.el7.centos.x86_64", "web-1-1.x86_64"]
    );
    assert_eq!(
        solve(&pool, "web\n-httpd*"),
        ["nginx-1.20.1-10.el7.x86_64", "web-1-1.x86_64"]
    );
    // Excluding something required is an error naming the exclusion.
    let err = fail(&pool, "app\n-libfoo");
    assert_eq!(
        err,
        "nothing provides libfoo needed by app-1-1.x86_64 (requested: `app` (line 1)); \
         libfoo-1-1.x86_64 provides it but is excluded by `-libfoo` (line 2)"
    );
    // Requesting an excluded package says so.
    let err = fail(&pool, "-libfoo\nlibfoo");
    assert!(err.contains("line 2: no package matches `libfoo`"), "{err}");
    assert!(err.contains("excluded by `-libfoo` (line 1)"), "{err}");
}

#[test]
fn unsatisfiable_names_capability_and_chain() {
    let pool = [
        pkg("httpd-2.4.6-97.el7.centos.x86_64")
            .req("bar")
            .req("/bin/sh"),
        pkg("bar-1.0-1.x86_64").req("libfoo.so.1()(64bit)"),
        pkg("bash-4.2.46-34.el7.x86_64").file("/bin/sh"),
    ];
    let err = fail(&pool, "bash\n# web\nhttpd\n");
    assert_eq!(
        err,
        "nothing provides libfoo.so.1()(64bit) needed by bar-1.0-1.x86_64 \
         (needed by httpd-2.4.6-97.el7.centos.x86_64, requested: `httpd` (line 3))"
    );
    // A versioned requirement that no version meets.
    let pool = [pkg("a-1-1.x86_64").req("b >= 3"), pkg("b-2-1.x86_64")];
    assert_eq!(
        fail(&pool, "a"),
        "nothing provides b >= 3 needed by a-1-1.x86_64 (requested: `a` (line 1))"
    );
    // Unknown names.
    let err = fail(&pool, "a\nnope");
    assert_eq!(err, "request line 2: no package matches `nope`");
}

#[test]
fn globs_and_nevr_specs() {
    let pool = [
        pkg("kernel-3.10.0-1160.el7.x86_64"),
        pkg("kernel-tools-3.10.0-1160.el7.x86_64"),
        pkg("kernel-headers-3.10.0-1160.el7.x86_64"),
        pkg("kernel-headers-3.10.0-1160.el7.i686"),
        pkg("bash-4.2.46-34.el7.x86_64"),
        pkg("bash-4.2.46-30.el7.x86_64"),
    ];
    assert_eq!(
        solve(&pool, "kernel-*\n-kernel-tools"),
        ["kernel-headers-3.10.0-1160.el7.x86_64"]
    );
    assert_eq!(
        solve(&pool, "bash-4.2.46-30.el7"),
        ["bash-4.2.46-30.el7.x86_64"]
    );
    assert_eq!(solve(&pool, "bash.x86_64"), ["bash-4.2.46-34.el7.x86_64"]);
}

fn comps() -> Comps {
    Comps::parse(
        r#"<comps>
  <group><id>web</id><name>Web</name><packagelist>
    <packagereq type="mandatory">httpd</packagereq>
    <packagereq type="mandatory">not-in-repo</packagereq>
    <packagereq type="default">mod_ssl</packagereq>
    <packagereq type="optional">mod_perl</packagereq>
    <packagereq type="conditional" requires="php">php-pear</packagereq>
  </packagelist></group>
  <group><id>php</id><name>PHP</name><packagelist>
    <packagereq type="mandatory">php</packagereq>
    <packagereq type="default">mod_ssl</packagereq>
  </packagelist></group>
  <environment><id>lamp</id><name>LAMP</name>
    <grouplist><groupid>web</groupid><groupid>php</groupid></grouplist>
    <optionlist><groupid>debug</groupid></optionlist>
  </environment>
</comps>"#,
    )
    .unwrap()
}

#[test]
fn groups_from_comps() {
    let pool = [
        pkg("httpd-2.4.6-97.el7.centos.x86_64"),
        pkg("mod_ssl-1:2.4.6-97.el7.centos.x86_64").req("httpd"),
        pkg("mod_perl-2.0.11-1.el7.x86_64"),
        pkg("php-5.4.16-48.el7.x86_64"),
        pkg("php-pear-1:1.9.4-21.el7.noarch").req("php"),
    ];
    let comps = comps();
    let opts = SolveOptions::default();
    let names = |body: &str| -> (Vec<String>, Resolution) {
        let r = resolve(&pool, &Request::parse(body).unwrap(), Some(&comps), &opts)
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        (
            r.packages.iter().map(|&i| pool[i].name.clone()).collect(),
            r,
        )
    };
    let (n, r) = names("@web");
    assert_eq!(n, ["httpd", "mod_ssl"]);
    assert_eq!(
        r.missing_group_packages,
        [("web".to_string(), "not-in-repo".to_string())]
    );
    assert_eq!(names("@web --nodefaults").0, ["httpd"]);
    assert_eq!(names("@web --optional").0, ["httpd", "mod_perl", "mod_ssl"]);
    assert_eq!(names("@web\n-mod_ssl").0, ["httpd"]);
    // php-pear is conditional on php, which @php brings.
    assert_eq!(names("@^lamp").0, ["httpd", "mod_ssl", "php", "php-pear"]);
    assert_eq!(names("@^lamp\n-@php").0, ["httpd"]);
    assert_eq!(
        names("@web\nphp").0,
        ["httpd", "mod_ssl", "php", "php-pear"]
    );

    let err = resolve(
        &pool,
        &Request::parse("httpd\n@nope").unwrap(),
        Some(&comps),
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "request line 2: @nope: no group with id `nope` in comps.xml"
    );
    let err = resolve(&pool, &Request::parse("@web").unwrap(), None, &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no comps.xml"), "{err}");
}

#[test]
fn same_input_same_output() {
    let mut pool: Vec<Package> = (0..30)
        .map(|i| {
            pkg(&format!("p{i}-1-1.x86_64"))
                .req(&format!("cap{}", (i + 1) % 30))
                .prov(&format!("cap{i}"))
        })
        .collect();
    // A second provider of cap7 that sorts after p7: never preferred.
    pool.push(pkg("zalt-1-1.x86_64").prov("cap7"));
    let first = solve(&pool, "p0");
    for _ in 0..5 {
        assert_eq!(solve(&pool, "p0"), first);
    }
    assert_eq!(first.len(), 30);
    assert!(!first.iter().any(|n| n.starts_with("zalt")), "{first:?}");
    // One that sorts before p7 is preferred, and closes the chain early.
    pool.push(pkg("alt-1-1.x86_64").prov("cap7"));
    let short = solve(&pool, "p0");
    assert_eq!(short.len(), 8, "{short:?}");
    assert!(short.contains(&"alt-1-1.x86_64".to_string()), "{short:?}");
}
