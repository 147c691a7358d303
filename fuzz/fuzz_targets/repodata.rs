//! Repodata XML from a mirror or a DVD: every parser must return an error on
//! bad input, never panic. The first byte picks the parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mk_rpmrepo::repodata::{parse_filelists, parse_other, parse_primary, parse_repomd};

fuzz_target!(|data: &[u8]| {
    let Some((&which, xml)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => drop(parse_primary(xml)),
        1 => drop(parse_filelists(xml)),
        2 => drop(parse_other(xml)),
        _ => drop(parse_repomd(xml)),
    }
});
