//! `mk-node --help` and its man pages (shipped in the mk-firstboot RPM):
//! every subcommand says what it does in one line and shows an example;
//! docs/man/mk-node is current.

mk_clidoc::cli_tests!(
    mk_slots::cli::Cli,
    "../../docs/man/mk-node",
    "MK_UPDATE_MAN=1 cargo nextest run -p mk-slots --test cli_help"
);
