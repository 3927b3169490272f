//! Glob patterns: syntax checking as Go's `filepath.Match` does it, and the
//! translation to a matcher exactly as `patternmatcher` performs it.

use regex::Regex;

use crate::goregex;

/// Checks `pattern` the way `filepath.Match(pattern, ".")` would (unix),
/// naming the first syntax error found.
pub(crate) fn validate(pattern: &str) -> Result<(), &'static str> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 >= chars.len() => return Err("trailing backslash"),
            '\\' => i += 2,
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if ranges > 0 && chars.get(i) == Some(&']') {
                        i += 1;
                        break;
                    }
                    i = class_char(&chars, i, ranges == 0)?;
                    if chars[i] == '-' {
                        i = class_char(&chars, i + 1, false)?;
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// One (possibly escaped) character inside a class; returns the index after
/// it, which must still be inside the pattern since the class needs its `]`.
fn class_char(chars: &[char], mut i: usize, first: bool) -> Result<usize, &'static str> {
    match chars.get(i) {
        None => return Err("unclosed character class"),
        Some('-') => return Err("unescaped '-' in character class"),
        Some(']') if first => return Err("empty character class"),
        Some(']') => return Err("character range has no end"),
        Some('\\') => {
            i += 1;
            if i >= chars.len() {
                return Err("unclosed character class");
            }
        }
        Some(_) => {}
    }
    i += 1;
    if i >= chars.len() {
        return Err("unclosed character class");
    }
    Ok(i)
}

/// How a compiled pattern is tested against a path.
#[derive(Clone, Debug)]
pub(crate) enum Matcher {
    /// No glob characters: the path must equal the pattern.
    Exact,
    /// `foo/**`: the path must start with the pattern minus its trailing `**`.
    Prefix,
    /// `**/foo`: the path must end with the pattern minus its leading `**`.
    Suffix,
    /// Anything else: the translated regular expression.
    Regex(Regex),
}

impl Matcher {
    /// Tests `path` against `pattern` (the cleaned glob this matcher came from).
    pub(crate) fn is_match(&self, pattern: &str, path: &str) -> bool {
        // Byte slicing, as Go does: a leading BOM makes `[2..]` split a char.
        let (glob, bytes) = (pattern.as_bytes(), path.as_bytes());
        match self {
            Matcher::Exact => bytes == glob,
            Matcher::Prefix => bytes.starts_with(&glob[..glob.len() - 2]),
            Matcher::Suffix => {
                let suffix = &glob[2..];
                bytes.ends_with(suffix) || (suffix.first() == Some(&b'/') && bytes == &suffix[1..])
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// Builds the Go regexp text patternmatcher would build for `pattern`, and
/// which kind of match it settled on.
fn go_regexp(pattern: &str) -> (Kind, String) {
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    // Go's text/scanner silently drops a byte-order mark at the very start.
    let body = pattern.strip_prefix('\u{feff}').unwrap_or(pattern);
    let mut chars = body.chars().peekable();
    let mut first = true;
    while let Some(ch) = chars.next() {
        match ch {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => match chars.next() {
                Some(next) => {
                    re.push('\\');
                    re.push(next);
                    kind = Kind::Regex;
                }
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(ch);
                kind = Kind::Regex;
            }
            _ => re.push(ch),
        }
        first = false;
    }
    if kind == Kind::Regex {
        re.push('$');
    }
    (kind, re)
}

/// Compiles a validated glob. An `Err` is kept by the caller and reported
/// only when the pattern is used, as upstream compiles lazily.
pub(crate) fn compile(pattern: &str) -> Result<Matcher, String> {
    let (kind, go) = go_regexp(pattern);
    Ok(match kind {
        Kind::Exact => Matcher::Exact,
        Kind::Prefix => Matcher::Prefix,
        Kind::Suffix => Matcher::Suffix,
        Kind::Regex => {
            let rust = goregex::translate(&go)
                .map_err(|why| format!("invalid regular expression {go:?}: {why}"))?;
            let re = Regex::new(&rust)
                .map_err(|why| format!("invalid regular expression {go:?}: {why}"))?;
            Matcher::Regex(re)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_regexp_text() {
        assert_eq!(go_regexp("*.go").1, r"^[^/]*\.go$");
        assert_eq!(go_regexp("a/**/b").1, "^a/(.*/)?b$");
        assert_eq!(go_regexp("a/**/*").1, "^a/(.*/)?[^/]*$");
        assert_eq!(go_regexp(r"a\b").1, r"^a\b$");
        assert!(go_regexp("foo/**").0 == Kind::Prefix);
        assert!(go_regexp("**/foo").0 == Kind::Suffix);
        assert!(go_regexp("**/*.go").0 == Kind::Regex);
        assert!(go_regexp("a.b").0 == Kind::Exact);
    }

    #[test]
    fn validation_errors() {
        for bad in ["[", "[^", "a[", r"\", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "[^bc"] {
            assert!(validate(bad).is_err(), "{bad:?} should be rejected");
        }
        for good in ["[a-z]", r"[\]]", "[!a]", "a]", "[*]", "**", r"\*"] {
            assert_eq!(validate(good), Ok(()), "{good:?}");
        }
    }
}
