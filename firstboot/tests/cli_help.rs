//! `mk-firstboot --help` and its man pages (shipped in the mk-firstboot
//! RPM): every subcommand says what it does in one line and shows an
//! example; docs/man/mk-firstboot is current.

mk_clidoc::cli_tests!(
    mk_firstboot::cli::Cli,
    "../docs/man/mk-firstboot",
    "cargo nextest run -p mk-firstboot --test cli_help"
);
