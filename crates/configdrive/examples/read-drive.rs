//! Probes each device or image given and reads its config-drive files, as
//! mk-firstboot does, printing what it found and how long it took: for
//! timing the reader on damaged drives (`/usr/bin/time -v` for memory).

use std::path::Path;
use std::time::Instant;

use mk_configdrive::read::{self, Device, Probe};

fn main() {
    for arg in std::env::args().skip(1) {
        let started = Instant::now();
        let outcome = match Device::open(Path::new(&arg)) {
            Err(e) => format!("cannot open: {e}"),
            Ok(dev) => match read::probe(&dev) {
                Ok(Probe::Labelled { fs, label }) => match read::read_files(&dev, fs) {
                    Ok(f) => format!(
                        "{} {label:?}: config {:?} bytes, signature {:?} bytes",
                        fs.as_str(),
                        f.config.map(|c| c.len()),
                        f.signature.map(|s| s.len())
                    ),
                    Err(e) => format!("{} {label:?}: {e}", fs.as_str()),
                },
                Ok(Probe::Nothing) => "nothing".to_string(),
                Ok(Probe::Broken { fs, error }) => {
                    format!("broken {}: {error}", fs.map_or("-", |f| f.as_str()))
                }
                Err(e) => format!("unreadable: {e}"),
            },
        };
        println!(
            "{arg}: {:.3} ms: {outcome}",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
}
