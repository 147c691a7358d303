//! image.yaml: the documented example, strictness, and agreement with the
//! kickstart.

use mk_kickstart::*;
use std::path::{Path, PathBuf};

const GOOD: &str = "kickstart: node.ks
repos: [rpms, /srv/more]
outputs:
  raw: out/node.raw
  root_size: 4GiB
  state_size: 512MiB
";

fn err(text: &str) -> String {
    ImageRecipe::parse("image.yaml", text)
        .unwrap_err()
        .to_string()
}

#[test]
fn minimal_recipe() {
    let r = ImageRecipe::parse("image.yaml", GOOD).unwrap();
    assert_eq!(r.kickstart, Path::new("node.ks"));
    assert_eq!(r.repos, [PathBuf::from("rpms"), "/srv/more".into()]);
    assert_eq!(r.outputs.raw.as_deref(), Some(Path::new("out/node.raw")));
    assert_eq!(r.outputs.qcow2, None);
    assert_eq!(r.outputs.root_size.bytes(), 4 << 30);
    assert_eq!(r.outputs.state_size.mib(), 512);
    assert!(r.overlays.is_empty() && r.image_archives.is_empty());
    assert_eq!(r.source_date_epoch, None);
    assert_eq!(r.version, None);
}

#[test]
fn version_is_a_label_value() {
    let r = ImageRecipe::parse("image.yaml", &format!("{GOOD}version: 2026.12.1-rc_2\n")).unwrap();
    assert_eq!(r.version.as_deref(), Some("2026.12.1-rc_2"));
    for (bad, why) in [
        ("\"\"", "empty"),
        ("1.0+git", "contains '+'"),
        ("-1", "must start and end with a letter or digit"),
        (&"9".repeat(64), "at most 63"),
    ] {
        let e = err(&format!("{GOOD}version: {bad}\n"));
        assert!(
            e.contains("version: ") && e.contains(why) && e.contains("line 7"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn documented_example_parses() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/image-recipe.md"
    ))
    .unwrap();
    let start = doc.find("```yaml\n").expect("yaml example in docs") + 8;
    let end = start + doc[start..].find("```").unwrap();
    let r = ImageRecipe::parse("docs", &doc[start..end]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.repos.len(), 4);
    assert_eq!(r.outputs.root_size.to_string(), "6GiB");
    assert_eq!(r.image_archives, [PathBuf::from("../images/pause-3.1.tar")]);
    assert_eq!(r.source_date_epoch, Some(1_543_622_400));
    assert_eq!(r.version.as_deref(), Some("2026.12.1"));
    // Its kickstart is the shipped one, and the sizes agree with it.
    let ks = Kickstart::read(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kickstart/centos-7.6-node.ks"),
    )
    .unwrap();
    r.check_kickstart("docs", "node.ks", &ks).unwrap();
}

#[test]
fn errors_name_field_and_line() {
    let e = err(&GOOD.replace("  raw:", "  rwa:"));
    assert!(e.starts_with("image.yaml: "), "{e}");
    assert!(
        e.contains("unknown field `rwa`") && e.contains("line 4"),
        "{e}"
    );
    let e = err(&format!("{GOOD}colour: blue\n"));
    assert!(
        e.contains("unknown field `colour`") && e.contains("line 7"),
        "{e}"
    );
    let e = err(&GOOD.replace("4GiB", "4G"));
    assert!(
        e.contains("invalid size `4G`") && e.contains("MiB or GiB") && e.contains("line 5"),
        "{e}"
    );
    let e = err(&GOOD.replace("512MiB", "0MiB"));
    assert!(
        e.contains("invalid size `0MiB`") && e.contains("line 6"),
        "{e}"
    );
    let e = err(&GOOD.replace("rpms, /srv/more", "rpms, https://mirror.example/c7"));
    assert!(
        e.contains("is a URL") && e.contains("repos") && e.contains("line 2"),
        "{e}"
    );
    let e = err(&GOOD.replace("[rpms, /srv/more]", "[]"));
    assert!(
        e.contains("at least one repository") && e.contains("line 2"),
        "{e}"
    );
    let e = err(&GOOD.replace("  raw: out/node.raw\n", ""));
    assert!(
        e.contains("at least one of `raw`, `qcow2`") && e.contains("line"),
        "{e}"
    );
    let e = err(&GOOD.replace("kickstart: node.ks\n", ""));
    assert!(e.contains("missing field `kickstart`"), "{e}");
    let e = err(&format!("{GOOD}source_date_epoch: yesterday\n"));
    assert!(
        e.contains("source_date_epoch") && e.contains("line 7"),
        "{e}"
    );
}

#[test]
fn load_resolves_paths_next_to_the_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.yaml");
    std::fs::write(&path, format!("{GOOD}overlays: [ov]\n")).unwrap();
    let r = ImageRecipe::load(&path).unwrap();
    assert_eq!(r.kickstart, dir.path().join("node.ks"));
    assert_eq!(r.repos, [dir.path().join("rpms"), "/srv/more".into()]);
    assert_eq!(r.overlays, [dir.path().join("ov")]);
    assert_eq!(r.outputs.raw, Some(dir.path().join("out/node.raw")));

    // The kickstart is read and checked against the sizes.
    std::fs::write(
        dir.path().join("node.ks"),
        "selinux --enforcing\npart / --fstype=ext4 --size=4096\npart /var --fstype=ext4 --size=1024 --grow\n",
    )
    .unwrap();
    let e = r.load_kickstart("image.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with(
            "image.yaml: outputs.state_size: 512MiB is smaller than `part /var --size=1024`"
        ),
        "{e}"
    );
    assert!(e.ends_with("node.ks:3"), "{e}");
    std::fs::write(
        dir.path().join("node.ks"),
        "part / --fstype=ext4 --size=4096\nautopart\n",
    )
    .unwrap();
    let e = r.load_kickstart("image.yaml").unwrap_err().to_string();
    assert!(
        e.contains("node.ks:2: `autopart` (line 2) and `part` (line 1)"),
        "{e}"
    );
    std::fs::write(dir.path().join("node.ks"), "autopart\n").unwrap();
    let e = r.load_kickstart("image.yaml").unwrap_err().to_string();
    assert!(
        e.contains("image.yaml: kickstart: ") && e.contains("node.ks:1 uses `autopart`"),
        "{e}"
    );
    std::fs::write(
        dir.path().join("node.ks"),
        "part / --fstype=ext4 --size=4096\n",
    )
    .unwrap();
    let e = r.load_kickstart("image.yaml").unwrap_err().to_string();
    assert!(e.contains("no `part /var` line"), "{e}");
    std::fs::write(
        dir.path().join("node.ks"),
        "part / --fstype=ext4 --size=4096\npart /var --fstype=ext4 --size=512\n",
    )
    .unwrap();
    let ks = r.load_kickstart("image.yaml").unwrap();
    assert_eq!(ks.parts.len(), 2);

    let e = ImageRecipe::load(&dir.path().join("nope.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.yaml"), "{e}");
}
