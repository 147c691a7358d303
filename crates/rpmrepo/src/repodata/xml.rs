//! Escaping for the XML we write. Hand-written rather than through an XML
//! writer: the documents are flat and large, and this is the hot loop.

/// Appends `s` as element text: `&`, `<`, `>` and CR escaped (a raw CR would
/// be turned into LF by any reader).
pub fn push_text(out: &mut String, s: &str) {
    push_escaped(out, s, false);
}

/// Appends `s` as a double-quoted attribute value: additionally `"`, and
/// TAB/LF/CR as character references, which attribute normalisation would
/// otherwise turn into spaces.
pub fn push_attr(out: &mut String, s: &str) {
    push_escaped(out, s, true);
}

fn push_escaped(out: &mut String, s: &str, attr: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            b'"' if attr => "&quot;",
            b'\n' if attr => "&#10;",
            b'\t' if attr => "&#9;",
            _ => continue,
        };
        // The bytes matched are ASCII, so `i` is a char boundary.
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// The first character XML 1.0 cannot represent at all (C0 controls other
/// than TAB, LF, CR; U+FFFE, U+FFFF), if any.
pub fn forbidden_char(s: &str) -> Option<char> {
    s.chars().find(|&c| {
        (c < ' ' && c != '\t' && c != '\n' && c != '\r') || c == '\u{FFFE}' || c == '\u{FFFF}'
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        let mut t = String::new();
        push_text(&mut t, "a<b>&\"c\"\r\n\td");
        assert_eq!(t, "a&lt;b&gt;&amp;\"c\"&#13;\n\td");
        let mut a = String::new();
        push_attr(&mut a, "a<b>&\"c\"\r\n\td é");
        assert_eq!(a, "a&lt;b&gt;&amp;&quot;c&quot;&#13;&#10;&#9;d é");
    }

    #[test]
    fn finds_control_characters() {
        assert_eq!(forbidden_char("ok\ttab\nnl\rcr"), None);
        assert_eq!(forbidden_char("bell\u{7}"), Some('\u{7}'));
        assert_eq!(forbidden_char("x\u{FFFF}"), Some('\u{FFFF}'));
    }
}
