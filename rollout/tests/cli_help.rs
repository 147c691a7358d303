//! `mk-rollout --help` and its man pages: every subcommand says what it
//! does in one line and shows an example; docs/man/mk-rollout is current.

mk_clidoc::cli_tests!(
    mk_rollout::cli::Cli,
    "../docs/man/mk-rollout",
    "cargo nextest run -p mk-rollout --test cli_help"
);
