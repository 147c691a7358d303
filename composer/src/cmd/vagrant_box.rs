//! `mk-compose vagrant-box`: a Vagrant box (libvirt provider) from a node
//! image built with the Vagrant overlay. The box is planned and written by
//! mk-vagrantbox; this parses arguments and prints the result.

use std::path::PathBuf;

use crate::inputs;

/// Build a Vagrant box (libvirt provider) from a Vagrant build of the node image.
///
/// The box is a gzip-compressed tar of metadata.json, a Vagrantfile (UEFI
/// loader, virtio disk, serial console) and box.img (qcow2; a raw image is
/// converted with qemu-img). The image must carry the Vagrant overlay's
/// marker (vagrant/overlay): production images are refused.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
    mk-compose vagrant-box --image target/vagrant-image/node.qcow2 --out mk.box\n  \
    vagrant box add --name mk-node mk.box\n\n\
    Reproducible: the same image gives the same bytes (tar mtimes from SOURCE_DATE_EPOCH,\n\
    else 0; owner 0/0; gzip without a timestamp). Written atomically; an existing --out is\n\
    kept unless --force. See docs/vagrant.md and vagrant/README.md.")]
pub struct Args {
    /// The node image (qcow2 or raw) of `mk-compose image`, built with the
    /// Vagrant overlay.
    #[arg(long, value_name = "FILE")]
    image: PathBuf,
    /// The .box file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The box's name, as in its Vagrantfile and `vagrant box add --name`.
    #[arg(long, value_name = "NAME", default_value = "mk-node")]
    name: String,
    /// Replace an existing --out.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let report = mk_vagrantbox::build(&mk_vagrantbox::Options {
        image: args.image,
        out: args.out,
        name: args.name,
        force: args.force,
        source_date_epoch: inputs::source_date_epoch()?,
    })?;
    tracing::info!(
        bytes = report.size,
        virtual_size = report.virtual_size,
        "box written"
    );
    println!("{}  {}", report.sha256, report.out.display());
    Ok(())
}
