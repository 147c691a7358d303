//! mk-firstboot reads every block device at every boot looking for the
//! config drive: whatever bytes a device holds, probing it and reading the
//! drive's files must end quickly with an answer or an error, never a
//! panic or an endless walk.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mk_configdrive::read::{self, FsKind, Probe};

fuzz_target!(|data: &[u8]| {
    match read::probe(data) {
        Ok(Probe::Labelled { fs, .. }) => {
            let _ = read::read_files(data, fs);
        }
        Ok(Probe::Broken { fs: Some(fs), .. }) => {
            let _ = read::read_files(data, fs);
        }
        _ => {
            // Read as both, whatever the probe said: the readers must cope
            // with filesystems the probe would have turned away.
            let _ = read::read_files(data, FsKind::Fat);
            let _ = read::read_files(data, FsKind::Iso9660);
        }
    }
});
