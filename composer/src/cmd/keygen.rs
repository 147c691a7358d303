//! `mk-compose keygen`.

/// (not implemented yet)
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("mk-compose keygen is not implemented yet")
}
