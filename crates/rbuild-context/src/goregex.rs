//! Reads the Go (RE2) regexp text that patternmatcher produces and writes a
//! Rust `regex` expression with the same meaning.
//!
//! The two dialects share RE2's semantics but not every spelling: Rust nests
//! classes (`[[^/]*]` is one class in Rust, a class plus `*]` in Go), treats
//! `\<`/`\>` as word boundaries, lacks `\Q…\E`, and makes `\d`, `\w`, `\b`
//! Unicode-aware. Parsing the Go text and re-emitting it removes those gaps.

use std::fmt::Write as _;

type Parse<T> = Result<T, String>;

/// Translates Go regexp text (Perl flags, as `regexp.Compile` uses) into an
/// equivalent Rust regex, or says why Go would reject it.
pub(crate) fn translate(go: &str) -> Parse<String> {
    let s: Vec<char> = go.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            '\\' => i = escape_outside_class(&s, i, &mut out)?,
            '[' => i = class(&s, i, &mut out)?,
            '(' => {
                out.push_str("(?:");
                i += 1;
            }
            c @ (')' | '*' | '?' | '+' | '.' | '^' | '$' | '|') => {
                out.push(c);
                i += 1;
            }
            c => {
                push_literal(&mut out, u32::from(c));
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Emits one literal code point; Go accepts surrogate code points (which can
/// never match UTF-8 text) where Rust does not, so those become a never-match.
fn push_literal(out: &mut String, code: u32) {
    match char::from_u32(code) {
        Some(c) => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        None => out.push_str(r"[^\x{0}-\x{10FFFF}]"),
    }
}

/// The ASCII-only meaning Go gives `\d \D \s \S \w \W`, as a Rust class.
fn perl_class(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => r"[\t\n\x0C\r ]",
        'S' => r"[^\t\n\x0C\r ]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        _ => return None,
    })
}

/// A `\` outside a class, at `s[i]`; returns the index after the escape.
fn escape_outside_class(s: &[char], i: usize, out: &mut String) -> Parse<usize> {
    let Some(&next) = s.get(i + 1) else {
        return Err("trailing backslash at end of expression".into());
    };
    match next {
        'A' => out.push_str(r"\A"),
        'z' => out.push_str(r"\z"),
        'b' => out.push_str(r"(?-u:\b)"),
        'B' => out.push_str(r"(?-u:\B)"),
        'C' => return Err(r"invalid escape sequence: \C".into()),
        'Q' => {
            let rest = &s[i + 2..];
            let end = rest.windows(2).position(|w| w == ['\\', 'E']);
            let literal = &rest[..end.unwrap_or(rest.len())];
            for &c in literal {
                push_literal(out, u32::from(c));
            }
            return Ok(i + 2 + end.map_or(rest.len(), |e| e + 2));
        }
        'p' | 'P' => {
            let (text, after) = unicode_class(s, i)?;
            out.push_str(&text);
            return Ok(after);
        }
        c => {
            if let Some(class) = perl_class(c) {
                out.push_str(class);
            } else {
                let (code, after) = escape(s, i)?;
                push_literal(out, code);
                return Ok(after);
            }
        }
    }
    Ok(i + 2)
}

/// A single-character escape at `s[i]` (Go's `parseEscape`): returns the
/// code point and the index after it.
fn escape(s: &[char], i: usize) -> Parse<(u32, usize)> {
    let Some(&c) = s.get(i + 1) else {
        return Err("trailing backslash at end of expression".into());
    };
    let mut j = i + 2;
    let invalid = |end: usize| {
        let text: String = s[i..end.min(s.len())].iter().collect();
        format!("invalid escape sequence: {text}")
    };
    let octal = |k: usize| s.get(k).and_then(|d| d.to_digit(8));
    match c {
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((u32::from(c), j)),
        '1'..='7' if octal(j).is_none() => Err(invalid(j)),
        '0'..='7' => {
            let mut code = c.to_digit(8).unwrap_or_default();
            for _ in 0..2 {
                match octal(j) {
                    Some(d) => {
                        code = code * 8 + d;
                        j += 1;
                    }
                    None => break,
                }
            }
            Ok((code, j))
        }
        'x' => {
            let hex = |k: usize| s.get(k).and_then(|d| d.to_digit(16));
            if s.get(j) == Some(&'{') {
                j += 1;
                let mut code: u32 = 0;
                let mut digits = 0;
                loop {
                    match s.get(j) {
                        Some('}') if digits > 0 => return Ok((code, j + 1)),
                        Some(_) if hex(j).is_some() => {
                            code = code * 16 + hex(j).unwrap_or_default();
                            if code > 0x10FFFF {
                                return Err(invalid(j + 1));
                            }
                            digits += 1;
                            j += 1;
                        }
                        _ => return Err(invalid(j + 1)),
                    }
                }
            }
            match (hex(j), hex(j + 1)) {
                (Some(hi), Some(lo)) => Ok((hi * 16 + lo, j + 2)),
                _ => Err(invalid(j + 2)),
            }
        }
        'a' => Ok((7, j)),
        'f' => Ok((12, j)),
        'n' => Ok((10, j)),
        'r' => Ok((13, j)),
        't' => Ok((9, j)),
        'v' => Ok((11, j)),
        _ => Err(invalid(j)),
    }
}

/// `\pX`, `\p{Name}`, `\PX`, `\p{^Name}` at `s[i]`: Rust spelling and the
/// index after it.
fn unicode_class(s: &[char], i: usize) -> Parse<(String, usize)> {
    let mut negated = s[i + 1] == 'P';
    let (mut name, after): (String, usize) = match s.get(i + 2) {
        Some('{') => {
            let Some(end) = s[i..].iter().position(|&c| c == '}') else {
                return Err("invalid character class range: missing }".into());
            };
            (s[i + 3..i + end].iter().collect(), i + end + 1)
        }
        Some(&c) => (c.to_string(), i + 3),
        None => (String::new(), i + 2),
    };
    if let Some(rest) = name.strip_prefix('^') {
        negated = !negated;
        name = rest.to_owned();
    }
    // Go only knows the general categories, scripts and `Any`, spelled
    // exactly; Rust's lookup is looser, so keep to names of that shape.
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
        return Err(format!("invalid character class range: \\p{{{name}}}"));
    }
    Ok((format!("\\{}{{{name}}}", if negated { 'P' } else { 'p' }), after))
}

const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// A class starting at `s[i] == '['`, parsed with Go's rules (a leading `]`
/// is literal, `[:name:]` is POSIX, no nesting); returns the index after it.
fn class(s: &[char], i: usize, out: &mut String) -> Parse<usize> {
    let mut j = i + 1;
    let negated = s.get(j) == Some(&'^');
    if negated {
        j += 1;
    }
    let mut items = String::new();
    let mut first = true;
    loop {
        match s.get(j) {
            None => return Err("missing closing ]".into()),
            Some(']') if !first => {
                j += 1;
                break;
            }
            _ => {}
        }
        first = false;
        if s.len() - j > 2 && s[j] == '[' && s[j + 1] == ':' {
            let rest = &s[j + 2..];
            if let Some(end) = rest.windows(2).position(|w| w == [':', ']']) {
                let name: String = rest[..end].iter().collect();
                let bare = name.strip_prefix('^').unwrap_or(&name);
                if !POSIX_CLASSES.contains(&bare) {
                    return Err(format!("invalid character class range: [:{name}:]"));
                }
                let _ = write!(items, "[:{name}:]");
                j += 2 + end + 2;
                continue;
            }
        }
        if s[j] == '\\' {
            match s.get(j + 1) {
                Some('p' | 'P') => {
                    let (text, after) = unicode_class(s, j)?;
                    items.push_str(&text);
                    j = after;
                    continue;
                }
                Some(&c) if perl_class(c).is_some() => {
                    items.push_str(perl_class(c).unwrap_or_default());
                    j += 2;
                    continue;
                }
                _ => {}
            }
        }
        let (lo, after) = class_char(s, j)?;
        j = after;
        let mut hi = lo;
        if s.len() - j >= 2 && s[j] == '-' && s[j + 1] != ']' {
            let (end, after) = class_char(s, j + 1)?;
            if end < lo {
                let text: String = s[j - 1..after].iter().collect();
                return Err(format!("invalid character class range: {text}"));
            }
            hi = end;
            j = after;
        }
        push_range(&mut items, lo, hi);
    }
    if items.is_empty() {
        // Only surrogates were named: nothing (or, negated, anything) matches.
        out.push_str(if negated { r"[\x{0}-\x{10FFFF}]" } else { r"[^\x{0}-\x{10FFFF}]" });
    } else {
        let _ = write!(out, "[{}{items}]", if negated { "^" } else { "" });
    }
    Ok(j)
}

/// One class member: an escape or a plain character.
fn class_char(s: &[char], j: usize) -> Parse<(u32, usize)> {
    match s.get(j) {
        None => Err("missing closing ]".into()),
        Some('\\') => escape(s, j),
        Some(&c) => Ok((u32::from(c), j + 1)),
    }
}

/// Adds `lo-hi` to a Rust class, stepping around the surrogate block.
fn push_range(items: &mut String, lo: u32, hi: u32) {
    let lo = if (0xD800..=0xDFFF).contains(&lo) { 0xE000 } else { lo };
    let hi = if (0xD800..=0xDFFF).contains(&hi) { 0xD7FF } else { hi };
    if lo <= hi {
        let _ = write!(items, r"\x{{{lo:X}}}-\x{{{hi:X}}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rust_matches(go: &str, text: &str) -> bool {
        regex::Regex::new(&translate(go).unwrap()).unwrap().is_match(text)
    }

    #[test]
    fn go_class_does_not_nest() {
        // `[[^/]*]` is the class {'[', '^', '/'} repeated, then a literal ']'.
        assert!(rust_matches("^[[^/]*]$", "[^/]"));
        assert!(rust_matches("^[[^/]*]$", "]"));
        assert!(!rust_matches("^[[^/]*]$", "a]"));
    }

    #[test]
    fn escapes_keep_go_meaning() {
        assert!(rust_matches(r"^a\b$", "a"));
        assert!(!rust_matches(r"^a\b$", "ab"));
        assert!(rust_matches(r"^a\<$", "a<"));
        assert!(rust_matches(r"^\Qa[^/]*\E$", "a[^/]*"));
        assert!(rust_matches(r"^\x41\101$", "AA"));
        assert!(!rust_matches(r"^\d$", "٣"));
        assert!(translate(r"^\1$").is_err());
        assert!(translate(r"^\C$").is_err());
        assert!(translate("^[l-O]$").is_err());
        assert!(translate("^[[:foo:]]$").is_err());
        assert!(rust_matches("^[[:alpha:]]$", "q"));
        assert!(rust_matches("^[]a]$", "]"));
    }
}
