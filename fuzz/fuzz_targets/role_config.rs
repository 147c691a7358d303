//! Role configs come from a drive or URL that anyone with the hardware can
//! write: parsing and validating arbitrary bytes must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = mk_roleconfig::parse_document(data, "node-config.yaml") {
        let _ =
            mk_roleconfig::validate_document(&doc, mk_roleconfig::time::OffsetDateTime::UNIX_EPOCH);
        let _ = doc.summary();
    }
    let _ = mk_roleconfig::verify_signed(b"config", Some(data), &[], false, "c");
});
