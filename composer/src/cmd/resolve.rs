//! `mk-compose resolve`.

/// (not implemented yet)
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("mk-compose resolve is not implemented yet")
}
