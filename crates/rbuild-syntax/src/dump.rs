//! BuildKit's `Node.Dump()`: the s-expression text its golden files hold.

use std::fmt::Write as _;

use crate::ast::{Arguments, Dockerfile, Instruction};

/// The dump of a whole Dockerfile, one line per instruction, without the
/// final newline (BuildKit's golden `result` files add one).
pub fn dump(dockerfile: &Dockerfile) -> String {
    let mut out = String::new();
    for instruction in &dockerfile.instructions {
        out.push('(');
        dump_instruction(instruction, &mut out);
        out.push_str(")\n");
    }
    out.trim_matches(is_go_space).to_owned()
}

fn dump_instruction(instruction: &Instruction, out: &mut String) {
    let mut s = instruction.keyword.to_lowercase();
    if !instruction.flags.is_empty() {
        s.push_str(" [");
        for (i, flag) in instruction.flags.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&go_quote(&flag.text));
        }
        s.push(']');
    }
    match &instruction.args {
        Arguments::Nested(Some(inner)) => {
            s.push_str(" (");
            dump_instruction(inner, &mut s);
            s.push(')');
        }
        Arguments::Nested(None) => {}
        _ => {
            for value in instruction.values() {
                s.push(' ');
                s.push_str(&go_quote(value));
            }
        }
    }
    out.push_str(s.trim_matches(is_go_space));
}

fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `strconv.Quote`: printable characters stay, the rest is escaped.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint` for the characters a Dockerfile may hold: not a
/// control, not a separator other than the ASCII space, not a format
/// character, private-use character or noncharacter. (Unassigned code
/// points count as printable here; Go escapes them.)
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let format = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F);
    let private = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD);
    let nonchar = matches!(u, 0xFDD0..=0xFDEF) || (u & 0xFFFE) == 0xFFFE;
    !(format || private || nonchar)
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\0\u{7f}\t"), r#""\x00\x7f\t""#);
        assert_eq!(go_quote("♥ ☃"), "\"♥ ☃\"");
        assert_eq!(go_quote("\u{a0}\u{feff}"), r#""\u00a0\ufeff""#);
        assert_eq!(go_quote("\u{10ffff}"), r#""\U0010ffff""#);
    }
}
