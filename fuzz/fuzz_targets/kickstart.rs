//! Kickstart files and image.yaml are user input: parsing never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mk_kickstart::Kickstart::parse("fuzz.ks", text);
        let _ = mk_kickstart::ImageRecipe::parse("fuzz.yaml", text);
    }
});
