//! How mk-firstboot shows an error, wherever it shows one (refusals, a
//! failed apply, a step's error in the report, `plan`'s "would fail"):
//! the error's own text, then each cause once.

use std::error::Error;

/// The error's text, then the text of each cause in order. A cause whose
/// text the line before already ends with is skipped, so a layer that
/// repeats its source in its own text does not show it twice.
pub fn lines(e: &(dyn Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        let last = out.last().expect("starts with the error itself");
        if !text.is_empty() && !last.ends_with(&text) {
            out.push(text);
        }
        cause = c.source();
    }
    out
}

/// [`lines`] on one line, joined by `: `.
pub fn one_line(e: &(dyn Error + 'static)) -> String {
    lines(e).join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[derive(Debug, thiserror::Error)]
    #[error("{what}")]
    struct Layer {
        what: String,
        #[source]
        source: Box<dyn Error + Send + Sync>,
    }

    fn layer(what: &str, source: impl Error + Send + Sync + 'static) -> Layer {
        Layer {
            what: what.into(),
            source: Box::new(source),
        }
    }

    #[test]
    fn each_cause_once_in_order() {
        let e = layer(
            "config drive /dev/sr0",
            layer("node-config.yaml", io::Error::other("permission denied")),
        );
        assert_eq!(
            lines(&e),
            [
                "config drive /dev/sr0",
                "node-config.yaml",
                "permission denied"
            ]
        );
        assert_eq!(
            one_line(&e),
            "config drive /dev/sr0: node-config.yaml: permission denied"
        );
    }

    #[test]
    fn a_cause_the_line_before_already_says_is_skipped() {
        // A layer that puts its source into its own text, as
        // `#[error("{path}: {source}")]` did.
        let e = layer(
            "/etc/x: No such file or directory",
            io::Error::new(io::ErrorKind::NotFound, "No such file or directory"),
        );
        assert_eq!(lines(&e), ["/etc/x: No such file or directory"]);
        // Equal text, one layer deeper.
        let e = layer("outer", layer("broken", io::Error::other("broken")));
        assert_eq!(one_line(&e), "outer: broken");
    }

    #[test]
    fn a_cause_only_contained_elsewhere_is_kept() {
        let e = layer("timeout reading x", io::Error::other("timeout"));
        assert_eq!(lines(&e), ["timeout reading x", "timeout"]);
    }
}
