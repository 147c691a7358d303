//! RPM files come from outside the site: any bytes must give a package or
//! an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mk_rpmrepo::read_rpm_bytes(data, "fuzz.rpm");
});
