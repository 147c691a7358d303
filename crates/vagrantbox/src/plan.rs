//! What goes into a box: the entries of the archive, in order, with their
//! bytes (metadata.json, Vagrantfile) or the file they are copied from
//! (box.img). Pure: no file is read or written here.

use std::path::PathBuf;

/// UEFI firmware as Debian's `ovmf` package ships it (the combined
/// code+variables image); the host that runs `vagrant up` needs it.
/// vagrant-libvirt loads a `loader` without `nvram` as a ROM (`-bios`),
/// which needs the combined image, not the split OVMF_CODE_4M.fd: no
/// per-machine NVRAM file to manage, and shim boots from the removable
/// path EFI/BOOT/BOOTX64.EFI without boot entries. CentOS/RHEL hosts:
/// /usr/share/edk2/ovmf/OVMF.fd (package edk2-ovmf) or similar.
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

const GIB: u64 = 1 << 30;

/// One member of the box archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: &'static str,
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    /// Copied from this file (its length is read when writing).
    File(PathBuf),
}

/// A box, ready to be written: entries sorted by name, every header's
/// mtime `mtime`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxPlan {
    pub entries: Vec<Entry>,
    pub mtime: u64,
}

/// The box of a qcow2 disk `box_img` of `virtual_size` bytes. `name` only
/// labels the Vagrantfile. `mtime`: SOURCE_DATE_EPOCH, or 0.
pub fn plan(box_img: PathBuf, virtual_size: u64, name: &str, mtime: u64) -> BoxPlan {
    let mut entries = vec![
        Entry {
            name: "metadata.json",
            content: Content::Bytes(metadata_json(virtual_size)),
        },
        Entry {
            name: "Vagrantfile",
            content: Content::Bytes(vagrantfile(name).into_bytes()),
        },
        Entry {
            name: "box.img",
            content: Content::File(box_img),
        },
    ];
    entries.sort_by_key(|e| e.name);
    BoxPlan { entries, mtime }
}

/// vagrant-libvirt's box metadata (its docs, "Box Format"): the disk's
/// virtual size in whole GiB, rounded up (the machine's disk must hold
/// the image).
pub fn metadata_json(virtual_size: u64) -> Vec<u8> {
    let gib = virtual_size.div_ceil(GIB).max(1);
    let mut v = serde_json::to_vec_pretty(&serde_json::json!({
        "provider": "libvirt",
        "format": "qcow2",
        "virtual_size": gib,
    }))
    .expect("a JSON object serialises");
    v.push(b'\n');
    v
}

/// The box's own Vagrantfile: Vagrant loads it before the project's, so it
/// holds what every machine of this image needs; a project's Vagrantfile
/// can override any of it.
pub fn vagrantfile(name: &str) -> String {
    let name = name.replace(['\n', '\r'], " ");
    format!(
        r#"# Vagrantfile of the box "{name}", written by mk-compose vagrant-box:
# the libvirt settings an mk node image needs (docs/vagrant.md). A project's
# Vagrantfile overrides any of them.
Vagrant.configure("2") do |config|
  # The root file system is read-only and the image has no rsync or NFS
  # client: no synced folder.
  config.vm.synced_folder ".", "/vagrant", disabled: true
  # Vagrant logs in as `vagrant` with its insecure key (vagrant/overlay) and
  # replaces it with a key of its own at the first `vagrant up`.
  config.ssh.insert_key = true

  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = "kvm"
    libvirt.machine_type = "q35"
    # UEFI: shim and GRUB as on servers. Debian's ovmf package; a loader
    # without nvram is a ROM (-bios), which needs the combined OVMF.fd.
    libvirt.loader = "{OVMF}"
    # The image's initramfs has virtio drivers; GRUB finds the root by PARTUUID.
    libvirt.disk_bus = "virtio"
    libvirt.nic_model_type = "virtio"
    # The kernel's console is ttyS0 (console=ttyS0,115200): vagrant-libvirt's
    # default serial device is a pty (`virsh console NAME`). Not set here:
    # vagrant-libvirt 0.11 fails to merge `libvirt.serial` of a box with a
    # project Vagrantfile that sets none (config.rb, serials + UNSET_VALUE).
    # Entropy early in boot: without it the kernel's crng can take minutes.
    libvirt.random :model => "random"
    libvirt.memory = 2048
    libvirt.cpus = 2
  end
end
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_rounds_the_size_up_to_whole_gib() {
        let m: serde_json::Value = serde_json::from_slice(&metadata_json((3 << 30) + 1)).unwrap();
        assert_eq!(
            m,
            serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": 4})
        );
        let m: serde_json::Value = serde_json::from_slice(&metadata_json(2 << 30)).unwrap();
        assert_eq!(m["virtual_size"], 2);
        let m: serde_json::Value = serde_json::from_slice(&metadata_json(64 << 20)).unwrap();
        assert_eq!(m["virtual_size"], 1);
    }

    #[test]
    fn entries_are_sorted_and_carry_the_settings_the_image_needs() {
        let p = plan("x.qcow2".into(), 1 << 30, "mk-node", 42);
        let names: Vec<_> = p.entries.iter().map(|e| e.name).collect();
        assert_eq!(names, ["Vagrantfile", "box.img", "metadata.json"]);
        assert_eq!(p.mtime, 42);
        let Content::Bytes(vf) = &p.entries[0].content else {
            panic!("Vagrantfile is bytes")
        };
        let vf = String::from_utf8(vf.clone()).unwrap();
        for needle in [
            "libvirt.loader = \"/usr/share/ovmf/OVMF.fd\"",
            "libvirt.disk_bus = \"virtio\"",
            "console=ttyS0",
            "box \"mk-node\"",
        ] {
            assert!(vf.contains(needle), "{needle} missing from\n{vf}");
        }
        assert_eq!(p.entries[1].content, Content::File("x.qcow2".into()));
    }
}
