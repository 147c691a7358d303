//! etcd's snapshot stream (JSON gateway messages) is read from the network
//! by `mk-rollout backup` and `mk-firstboot etcd-backup`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mk_etcdbackup::stream::Decoder;

fuzz_target!(|data: &[u8]| {
    // Fed in two pieces: a message split across reads is the common case.
    let mut decoder = Decoder::new(1 << 20);
    let mut sink = |_: &[u8]| Ok::<(), ()>(());
    let (a, b) = data.split_at(data.len() / 2);
    if decoder.feed(a, &mut sink).is_ok() && decoder.feed(b, &mut sink).is_ok() {
        let _ = decoder.finish(&mut sink);
    }
});
