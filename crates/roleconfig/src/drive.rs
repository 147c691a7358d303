//! The config drive's names, shared by the side that builds drives
//! (mk-configdrive, `mk-compose config-drive`) and the side that reads them
//! at boot (mk-firstboot): plain constants, nothing more, so that the node
//! binary gains no dependency from them.

/// The filesystem label (FAT or ISO 9660) mk-firstboot looks for.
pub const LABEL: &str = "MK-CONFIG";
/// The role config, at the drive's root.
pub const CONFIG_NAME: &str = "node-config.yaml";
/// Its minisign signature beside it ([`crate::signature_path`] of
/// [`CONFIG_NAME`]).
pub const SIGNATURE_NAME: &str = "node-config.yaml.minisig";

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_signature_sits_where_signature_path_puts_it() {
        assert_eq!(
            crate::signature_path(Path::new(CONFIG_NAME)),
            Path::new(SIGNATURE_NAME)
        );
    }
}
