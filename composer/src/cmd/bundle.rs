//! `mk-compose bundle`.

/// (not implemented yet)
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("mk-compose bundle is not implemented yet")
}
