//! An RPM's signature header (OpenPGP signature packets) is read from
//! untrusted packages for the SBOM's signing key IDs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mk_sbom::rpm::pgp_issuer(data);
});
