//! The typed kickstart. Every item keeps the 1-based line it came from so
//! that later stages (planning, disk layout) can point back into the file.

use mk_depsolve::Request;

/// A parsed kickstart. Singleton commands are `Option`s (absent = not
/// given); repeatable ones are `Vec`s in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kickstart {
    pub selinux: Option<Selinux>,
    pub bootloader: Option<Bootloader>,
    /// `part` lines in file order; empty when `autopart` is used.
    pub parts: Vec<Part>,
    pub autopart: Option<Autopart>,
    pub clearpart: Option<Clearpart>,
    /// Line of `zerombr`.
    pub zerombr: Option<usize>,
    pub firewall: Option<Firewall>,
    pub services: Option<Services>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub rootpw: Option<RootPw>,
    pub lang: Option<Lang>,
    pub keyboard: Option<Keyboard>,
    pub timezone: Option<Timezone>,
    pub networks: Vec<Network>,
    pub mode: Option<Located<Mode>>,
    pub finish: Option<Located<Finish>>,
    /// Line of `eula --agreed`.
    pub eula_agreed: Option<usize>,
    /// Line of `firstboot --disable`.
    pub firstboot_disabled: Option<usize>,
    /// Line of `skipx`.
    pub skipx: Option<usize>,
    pub packages: Option<Packages>,
    pub post: Vec<PostScript>,
}

/// A value and the line it was given on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located<T> {
    pub line: usize,
    pub value: T,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelinuxMode {
    Enforcing,
    Permissive,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selinux {
    pub line: usize,
    pub mode: SelinuxMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootloaderLocation {
    Mbr,
    Partition,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootloader {
    pub line: usize,
    /// Kernel arguments from `--append`, split on whitespace, in order.
    pub append: Vec<String>,
    pub location: Option<BootloaderLocation>,
    /// Menu timeout in seconds.
    pub timeout: Option<u32>,
}

/// What a `part` line creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsType {
    Ext4,
    /// The EFI system partition (`--fstype=efi`; FAT).
    Efi,
    /// GRUB's BIOS boot partition on GPT (`part biosboot`), no filesystem.
    BiosBoot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub line: usize,
    /// `/`, `/var`, `/boot/efi`, ... or `biosboot`.
    pub mountpoint: String,
    /// Size in MiB (the minimum when `grow`).
    pub size_mib: u64,
    pub fstype: FsType,
    pub label: Option<String>,
    pub grow: bool,
    pub ondisk: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutopartType {
    Plain,
    Lvm,
    Thinp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autopart {
    pub line: usize,
    pub kind: Option<AutopartType>,
    pub fstype: Option<String>,
    pub nolvm: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearpartWhich {
    All,
    Linux,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clearpart {
    pub line: usize,
    pub which: ClearpartWhich,
    pub initlabel: bool,
    pub drives: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    pub line: usize,
    pub enabled: bool,
    /// firewalld service names (`--service`).
    pub services: Vec<String>,
    /// `PORT[-PORT]:PROTO` as given (`--port`).
    pub ports: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    pub line: usize,
    pub enabled: Vec<String>,
    pub disabled: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub line: usize,
    pub name: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub groups: Vec<String>,
    pub homedir: Option<String>,
    pub shell: Option<String>,
    pub gecos: Option<String>,
    pub lock: bool,
    /// A crypt(3) SHA-256/SHA-512 hash (`--password HASH --iscrypted`).
    pub crypted_password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub line: usize,
    pub name: String,
    pub gid: Option<u32>,
}

/// `rootpw --lock [--iscrypted HASH]`: root is always locked on mk nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPw {
    pub line: usize,
    pub crypted_password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lang {
    pub line: usize,
    pub lang: String,
    pub addsupport: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyboard {
    pub line: usize,
    /// The old positional form, `keyboard us`.
    pub layout: Option<String>,
    pub vckeymap: Option<String>,
    pub xlayouts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timezone {
    pub line: usize,
    pub zone: String,
    /// Hardware clock in UTC (`--utc` / `--isUtc`).
    pub utc: bool,
    pub nontp: bool,
    pub ntpservers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootProto {
    Dhcp,
    Static,
}

/// Network configuration for the image (NetworkManager keyfiles through
/// [`crate::network::keyfiles`], the model first boot uses); never
/// activated during the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub line: usize,
    pub bootproto: BootProto,
    pub device: Option<String>,
    pub onboot: Option<bool>,
    pub ip: Option<String>,
    pub netmask: Option<String>,
    pub gateway: Option<String>,
    pub nameservers: Vec<String>,
    pub hostname: Option<String>,
    pub noipv6: bool,
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Text,
    Cmdline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Reboot,
    Poweroff,
}

/// The `%packages` section: options, the verbatim body and its parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packages {
    /// Line of the `%packages` header.
    pub line: usize,
    pub nocore: bool,
    pub excludedocs: bool,
    /// The lines between the header and `%end`, each ending in `\n`.
    pub body: String,
    /// The file line of the body's first line.
    pub first_line: usize,
    /// The body parsed by [`mk_depsolve::Request`], with file line numbers.
    pub request: Request,
}

/// A `%post` script, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostScript {
    /// Line of the `%post` header.
    pub line: usize,
    pub nochroot: bool,
    pub interpreter: Option<String>,
    pub erroronfail: bool,
    pub log: Option<String>,
    /// The lines between the header and `%end`, each ending in `\n`.
    pub body: String,
    /// The file line of the body's first line.
    pub first_line: usize,
}
