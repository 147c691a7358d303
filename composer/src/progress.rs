//! Progress bars for long per-package work, on stderr (hidden when stderr is
//! not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `len` packages, labelled `msg`.
pub fn packages_bar(len: usize, msg: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64).with_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} packages")
            .expect("valid template"),
    );
    bar.set_message(msg);
    bar
}
