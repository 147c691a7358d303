//! Shell-style wildcards (`*`, `?`, `[a-z]`, `[!x]`) for package names, as
//! kickstart and dnf accept them (`kernel-*`, `iwl*-firmware`).

pub(crate) fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Whether `name` matches `pattern` as a whole (fnmatch without flags).
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point for the last `*`, which is
    // enough for `*` since it can absorb any run.
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                '[' => {
                    if let Some((hit, next)) = class(&p, pi, s[si]) {
                        if hit {
                            pi = next;
                            si += 1;
                            continue;
                        }
                    } else if s[si] == '[' {
                        // An unterminated `[` is a literal.
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Evaluates the bracket expression starting at `p[start] == '['` against
/// `c`: `Some((matched, index after ']'))`, or `None` when unterminated.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                hit = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                hit = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("kernel-*", "kernel-tools"));
        assert!(matches("kernel-*", "kernel-"));
        assert!(!matches("kernel-*", "kernel"));
        assert!(matches("iwl*-firmware", "iwl6000g2a-firmware"));
        assert!(!matches("iwl*-firmware", "iwl6000g2a-firmware-extra"));
        assert!(matches("lib?", "liba"));
        assert!(!matches("lib?", "lib"));
        assert!(matches("python[23]-six", "python3-six"));
        assert!(!matches("python[!23]-six", "python3-six"));
        assert!(matches("[a-c]*", "bash"));
        assert!(!matches("[a-c]*", "dash"));
        assert!(matches("*", ""));
        assert!(matches("a[b", "a[b"));
        assert!(is_glob("a*") && !is_glob("glibc"));
    }
}
