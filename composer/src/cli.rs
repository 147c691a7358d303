//! The `mk-compose` command line: every subcommand and where it runs.

use clap::{Parser, Subcommand};

use crate::cmd;

#[derive(Parser)]
#[command(
    name = "mk-compose",
    version,
    about = "Build and verify mk's signed offline bundle",
    help_expected = true,
    after_help = "Example:\n  mk-compose keygen --out-dir keys --password-file pw\n  mk-compose bundle --repo rpms/ --kickstart kickstart/node.ks \\\n      --key keys/mk.key --password-file pw --out mk.iso\n  mk-compose verify mk.iso --trust keys/mk.pub"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Repo(cmd::repo::Args),
    Resolve(cmd::resolve::Args),
    Keygen(cmd::keygen::Args),
    Bundle(cmd::bundle::Args),
    Verify(cmd::verify::Args),
    Pki(cmd::pki::Args),
    Image(cmd::image::Args),
    ImageBuild(cmd::image_build::Args),
    ConfigDrive(cmd::config_drive::Args),
    Package(cmd::package::Args),
    Token(cmd::token::Args),
    VagrantBox(cmd::vagrant_box::Args),
    Installer(cmd::installer::Args),
}

impl Command {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Repo(a) => cmd::repo::run(a),
            Command::Resolve(a) => cmd::resolve::run(a),
            Command::Keygen(a) => cmd::keygen::run(a),
            Command::Bundle(a) => cmd::bundle::run(a),
            Command::Verify(a) => cmd::verify::run(a),
            Command::Pki(a) => cmd::pki::run(a),
            Command::Image(a) => cmd::image::run(a),
            Command::ImageBuild(a) => cmd::image_build::run(a),
            Command::ConfigDrive(a) => cmd::config_drive::run(a),
            Command::Package(a) => cmd::package::run(a),
            Command::Token(a) => cmd::token::run(a),
            Command::VagrantBox(a) => cmd::vagrant_box::run(a),
            Command::Installer(a) => cmd::installer::run(a),
        }
    }
}
