//! Kickstart %packages bodies and comps.xml files are user input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mk_depsolve::Request::parse(text);
        let _ = mk_depsolve::Comps::parse(text);
    }
});
