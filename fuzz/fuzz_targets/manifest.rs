//! MANIFEST and MANIFEST.minisig are read from untrusted bundles.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mk_bundle::Manifest::parse(data, "MANIFEST");
    let _ = mk_bundle::Signature::parse(data, "MANIFEST.minisig");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mk_bundle::PublicKey::parse(text, "mk.pub");
    }
});
