//! Snapshot files are walked page by page when taken and when checked
//! (`verify_file`), for instance on an NFS share others write to.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mk_etcdbackup::bolt;

/// Gives both meta pages a valid checksum, so that the fuzzer reaches the
/// B+tree walk instead of stopping at the FNV check.
fn seal(db: &mut [u8]) {
    let page_size = db
        .get(24..28)
        .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    for page in [0, page_size] {
        let meta = page + 16;
        if let Some(m) = db.get_mut(meta..meta + 64) {
            let sum = bolt::meta_checksum(m);
            m[56..64].copy_from_slice(&sum.to_le_bytes());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut db = data.to_vec();
    seal(&mut db);
    let _ = bolt::status(db.as_slice(), db.len() as u64);
});
