//! `mk-compose --help` and its man pages: every subcommand says what it
//! does in one line and shows an example; docs/man/mk-compose is current.

mk_clidoc::cli_tests!(
    mk_compose::cli::Cli,
    "../docs/man/mk-compose",
    "cargo nextest run -p mk-compose --test cli_help"
);
