//! Our command lines' documentation, checked from their clap definitions
//! by the binaries' tests: every subcommand has a one-line description and
//! an example, every argument a help text, and the man pages shipped in
//! docs/man/ are the ones the definitions generate.

use std::collections::BTreeMap;
use std::path::Path;

/// Set to regenerate the shipped man pages instead of comparing them.
pub const UPDATE_ENV: &str = "MK_UPDATE_MAN";

/// What a user would miss in `--help` of `cmd` or any subcommand below it,
/// one line each ("mk-compose pki init: no Example in its help"); empty
/// when everything is documented.
pub fn undocumented(cmd: &clap::Command) -> Vec<String> {
    let mut cmd = cmd.clone();
    cmd.build();
    let mut problems = Vec::new();
    let name = cmd.get_name().to_owned();
    walk(&mut cmd, name, &mut problems);
    problems
}

fn walk(cmd: &mut clap::Command, path: String, problems: &mut Vec<String>) {
    match cmd.get_about().map(|a| a.to_string()) {
        None => problems.push(format!("{path}: no description")),
        Some(a) if a.trim().is_empty() => problems.push(format!("{path}: no description")),
        Some(a) if a.contains('\n') => {
            problems.push(format!("{path}: description longer than one line"))
        }
        Some(_) => {}
    }
    let help = cmd.render_long_help().to_string();
    if !help.contains("Example") {
        problems.push(format!("{path}: no Example in its help"));
    }
    for arg in cmd.get_arguments() {
        let builtin = matches!(arg.get_id().as_str(), "help" | "version");
        if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
            problems.push(format!("{path}: argument {} has no help", arg.get_id()));
        }
    }
    for sub in cmd.get_subcommands_mut() {
        if sub.get_name() != "help" {
            let path = format!("{path} {}", sub.get_name());
            walk(sub, path, problems);
        }
    }
}

/// The man pages of `cmd`: one per command and subcommand
/// (`mk-compose.1`, `mk-compose-pki-init.1`, ...), by file name.
pub fn man_pages(cmd: clap::Command) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let dir = tempfile::tempdir()?;
    clap_mangen::generate_to(cmd, dir.path())?;
    read_pages(dir.path())
}

fn read_pages(dir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut pages = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pages),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        pages.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path())?,
        );
    }
    Ok(pages)
}

/// Compares the pages shipped in `dir` with those `cmd` generates: `Err`
/// says which differ and how to regenerate them (`regenerate`, the test
/// command). With [`UPDATE_ENV`] set, rewrites `dir` instead.
pub fn check_shipped(cmd: clap::Command, dir: &Path, regenerate: &str) -> Result<(), String> {
    let fresh = man_pages(cmd).map_err(|e| format!("generating man pages: {e}"))?;
    if std::env::var_os(UPDATE_ENV).is_some() {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (name, bytes) in &fresh {
            std::fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"))?;
        }
        return Ok(());
    }
    let shipped = read_pages(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stale: Vec<&str> = fresh
        .keys()
        .chain(shipped.keys())
        .filter(|n| fresh.get(*n) != shipped.get(*n))
        .map(String::as_str)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} is stale ({}); regenerate it with\n  {UPDATE_ENV}=1 {regenerate}",
        dir.display(),
        stale.join(", ")
    ))
}

/// The tests every binary of ours has, for its clap `Cli` type: the
/// definition is consistent (`Command::debug_assert`), every subcommand is
/// documented ([`undocumented`]), and the man pages in `$man_dir`
/// (relative to the crate) are current ([`check_shipped`]; `$regenerate`
/// is the test command to rerun with [`UPDATE_ENV`] set).
#[macro_export]
macro_rules! cli_tests {
    ($cli:ty, $man_dir:literal, $regenerate:literal) => {
        #[test]
        fn clap_definition_is_consistent() {
            <$cli as clap::CommandFactory>::command().debug_assert();
        }

        #[test]
        fn every_subcommand_has_a_description_an_example_and_documented_arguments() {
            let cmd = <$cli as clap::CommandFactory>::command();
            assert_eq!($crate::undocumented(&cmd), Vec::<String>::new());
        }

        #[test]
        fn shipped_man_pages_are_the_generated_ones() {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/", $man_dir);
            let cmd = <$cli as clap::CommandFactory>::command();
            if let Err(e) = $crate::check_shipped(cmd, std::path::Path::new(dir), $regenerate) {
                panic!("{e}");
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn documented() -> Command {
        Command::new("tool")
            .about("Does things")
            .after_help("Example:\n  tool run --fast")
            .subcommand(
                Command::new("run")
                    .about("Runs")
                    .after_help("Example:\n  tool run --fast")
                    .arg(Arg::new("fast").long("fast").help("Quickly")),
            )
    }

    #[test]
    fn a_documented_command_passes_and_gaps_are_named() {
        assert_eq!(undocumented(&documented()), Vec::<String>::new());
        let gaps = documented().subcommand(
            Command::new("bare")
                .about("Two\nlines")
                .arg(Arg::new("x").long("x")),
        );
        assert_eq!(
            undocumented(&gaps),
            [
                "tool bare: description longer than one line",
                "tool bare: no Example in its help",
                "tool bare: argument x has no help",
            ]
        );
    }

    #[test]
    fn stale_pages_are_named_with_the_way_to_regenerate() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_shipped(documented(), dir.path(), "cargo test").unwrap_err();
        assert!(e.contains("tool-run.1, tool.1"), "{e}");
        assert!(e.contains("MK_UPDATE_MAN=1 cargo test"), "{e}");
        for (name, bytes) in man_pages(documented()).unwrap() {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        check_shipped(documented(), dir.path(), "cargo test").unwrap();
        let page = std::fs::read_to_string(dir.path().join("tool-run.1")).unwrap();
        assert!(page.contains("Quickly"), "{page}");
    }
}
