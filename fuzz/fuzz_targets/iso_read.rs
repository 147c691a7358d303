//! `mk-compose verify` reads bundles it does not trust yet: a hostile ISO
//! must give an error, never a panic or an endless walk.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = mk_bundle::iso::IsoImage::open(data) {
        if let Ok(entries) = image.list() {
            for e in entries.iter().take(16) {
                let _ = image.read_file(e, 1 << 16);
            }
        }
    }
});
