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

/// Go's `path.Match` (and `filepath.Match` on unix), which docker uses for
/// COPY's wildcards and for `images --filter reference=`: `*` is any run
/// of characters but `/`, `?` one character but `/`, `[...]` a class
/// (`^` negates; ranges; `\\` escapes), `\\` quotes the next character. A
/// malformed pattern matches nothing, as both callers ignore Go's error.
pub fn path_match(pattern: &str, name: &str) -> bool {
    /// The class at the start of `p` (after its `[`) against `c`: whether
    /// it matched, and the pattern after its `]`. Validated beforehand.
    fn class(mut p: &[char], c: char) -> (bool, &[char]) {
        let negated = p.first() == Some(&'^');
        if negated {
            p = &p[1..];
        }
        let escaped =
            |p: &[char]| -> (char, usize) { if p[0] == '\\' { (p[1], 2) } else { (p[0], 1) } };
        let (mut hit, mut ranges) = (false, 0);
        loop {
            if p[0] == ']' && ranges > 0 {
                return (hit != negated, &p[1..]);
            }
            let (lo, n) = escaped(p);
            p = &p[n..];
            let mut hi = lo;
            if p[0] == '-' {
                let (end, n) = escaped(&p[1..]);
                hi = end;
                p = &p[1 + n..];
            }
            hit |= lo <= c && c <= hi;
            ranges += 1;
        }
    }
    fn at(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| at(&p[1..], &t[i..])),
            Some('?') => t.first().is_some_and(|c| *c != '/') && at(&p[1..], &t[1..]),
            Some('[') => {
                let Some(&c) = t.first() else { return false };
                let (hit, rest) = class(&p[1..], c);
                hit && at(rest, &t[1..])
            }
            Some('\\') => t.first() == p.get(1) && at(&p[2..], &t[1..]),
            Some(c) => t.first() == Some(c) && at(&p[1..], &t[1..]),
        }
    }
    if validate(pattern).is_err() {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = name.chars().collect();
    at(&p, &t)
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
    fn path_match_is_gos() {
        // Cases of Go's own path.Match table (src/path/match_test.go).
        for (pattern, name, want) in [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("[\\-x]", "-", true),
            ("[\\-x]", "a", false),
            ("[]a]", "]", false),
            ("[-]", "-", false),
            ("[x-]", "x", false),
            ("[-x]", "x", false),
            ("\\", "a", false),
            ("[a-b-c]", "a", false),
            ("[", "a", false),
            ("[^", "a", false),
            ("[^bc", "a", false),
            ("a[", "a", false),
            ("a[", "ab", false),
            ("a[", "x", false),
            ("a/b[", "x", false),
            ("*x", "xxx", true),
            // Not Go's negation: `!` is a member of the class.
            ("[!a]x", "bx", false),
            ("[!a]x", "!x", true),
        ] {
            assert_eq!(path_match(pattern, name), want, "{pattern:?} {name:?}");
        }
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
