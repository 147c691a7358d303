//! The part of a kickstart file the bundle needs: the `%packages` section.
//! (Full kickstart parsing comes with the node-image work.)

use std::path::Path;

/// The body of a kickstart's `%packages` section and the 1-based line
/// number its first line has in the file, so that errors can point there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagesSection {
    pub body: String,
    pub first_line: usize,
}

/// Finds the `%packages ... %end` section. Errors name the file and line.
pub fn packages_section(path: &Path, text: &str) -> anyhow::Result<PackagesSection> {
    let mut start = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        match start {
            None if trimmed == "%packages" || trimmed.starts_with("%packages ") => {
                start = Some((i + 1, String::new()));
            }
            None => {}
            Some((first, ref mut body)) => {
                if trimmed == "%end" {
                    return Ok(PackagesSection {
                        body: std::mem::take(body),
                        first_line: first + 1,
                    });
                }
                if trimmed.starts_with('%') {
                    anyhow::bail!(
                        "{}:{}: `{}` inside %packages (started at line {}); expected `%end` first",
                        path.display(),
                        i + 1,
                        trimmed,
                        first
                    );
                }
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    match start {
        Some((first, _)) => anyhow::bail!(
            "{}:{}: %packages section has no closing `%end`",
            path.display(),
            first
        ),
        None => anyhow::bail!("{}: no %packages section", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_section_and_its_line() {
        let ks = "text\n# c\n%packages --nocore\n@core\nbash\n-foo\n%end\n%post\necho\n%end\n";
        let s = packages_section(Path::new("a.ks"), ks).unwrap();
        assert_eq!(s.body, "@core\nbash\n-foo\n");
        assert_eq!(s.first_line, 4);
    }

    #[test]
    fn unterminated_and_missing_sections_name_file_and_line() {
        let e = packages_section(Path::new("a.ks"), "x\n%packages\nbash\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.ks:2: %packages section has no closing `%end`"
        );
        let e = packages_section(Path::new("a.ks"), "%packages\nbash\n%post\n%end\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a.ks:3: `%post` inside %packages"),
            "{e}"
        );
        let e = packages_section(Path::new("b.ks"), "text\n").unwrap_err();
        assert_eq!(e.to_string(), "b.ks: no %packages section");
    }
}
