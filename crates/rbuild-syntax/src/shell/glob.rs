//! The shell patterns of `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`.
//!
//! BuildKit turns a pattern into a Go regular expression (`*` becomes `.*` or
//! `.*?`, `?` becomes `.`, everything else is a literal) and lets Go's RE2
//! engine find the match. To get the very same match without a regex engine,
//! this module compiles the pattern to a list of atoms and runs a small Pike VM
//! over it that keeps RE2's leftmost-first thread priorities. It runs in
//! `O(pattern × text)` time and `O(pattern)` memory, so no input can make it
//! blow up.
//!
//! Go's quirks that are kept on purpose:
//! * `?` and `*` never match a newline (Go's `.` without the `s` flag).
//! * Bracket expressions are not supported: `[` and `]` are literals.
//! * A `\` escapes only `*`, `?` and `\`; before `}` or `/` it is dropped;
//!   before anything else (or at the end) the pattern is invalid.
//! * The pattern is read with Go's `text/scanner`, which drops a leading
//!   U+FEFF (byte order mark).
//! * `${VAR//pat/repl}` uses Go's `ReplaceAllString`, which expands `$0`,
//!   `${0}` and `$$` in the replacement (other `$name`s expand to nothing).

use super::unicode;

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom {
    /// A character that must appear as is.
    Lit(char),
    /// `?`: any one character except a newline.
    Any,
    /// `*`: any run of characters without a newline.
    Star,
}

/// A compiled shell pattern, ready to search text.
#[derive(Debug, Clone)]
pub(super) struct Glob {
    atoms: Vec<Atom>,
    /// Whether `*` prefers the longest run (`.*`) or the shortest (`.*?`).
    greedy: bool,
}

/// Ordered set of threads of the Pike VM, each a program counter with the
/// byte offset where its match started.
struct Threads {
    seen: Vec<bool>,
    list: Vec<(usize, usize)>,
    /// Scratch space for the stars of a lazy closure.
    chain: Vec<usize>,
}

impl Threads {
    fn new(states: usize) -> Self {
        Self { seen: vec![false; states], list: Vec::new(), chain: Vec::new() }
    }

    fn clear(&mut self) {
        for &(pc, _) in &self.list {
            self.seen[pc] = false;
        }
        for &pc in &self.chain {
            self.seen[pc] = false;
        }
        self.list.clear();
        self.chain.clear();
    }
}

impl Glob {
    /// Compiles `pattern` the way BuildKit's `convertShellPatternToRegex` does.
    ///
    /// The error is the reason, as Go words it.
    pub(super) fn compile(pattern: &str, greedy: bool) -> Result<Self, String> {
        let mut chars = pattern.chars().peekable();
        if chars.peek() == Some(&'\u{FEFF}') {
            chars.next();
        }
        let mut atoms = Vec::with_capacity(pattern.len());
        while let Some(ch) = chars.next() {
            let atom = match ch {
                '*' => Atom::Star,
                '?' => Atom::Any,
                '\\' => {
                    // `\}` and `\/` only hide the character from the `${}`
                    // syntax: the escape is not part of the pattern.
                    if matches!(chars.peek(), Some('}' | '/')) {
                        continue;
                    }
                    match chars.next() {
                        Some(escaped @ ('*' | '?' | '\\')) => Atom::Lit(escaped),
                        // Go prints its EOF rune (-1) with %c as U+FFFD.
                        other => {
                            return Err(format!(
                                "invalid escape '\\{}'",
                                other.unwrap_or('\u{FFFD}')
                            ));
                        }
                    }
                }
                other => Atom::Lit(other),
            };
            atoms.push(atom);
        }
        Ok(Self { atoms, greedy })
    }

    /// Adds the thread at `pc` and everything reachable from it without
    /// consuming a character, in priority order.
    fn add(&self, threads: &mut Threads, mut pc: usize, start: usize) {
        if self.greedy {
            // `.*`: staying in the star comes before leaving it.
            while !threads.seen[pc] {
                threads.seen[pc] = true;
                threads.list.push((pc, start));
                if self.atoms.get(pc) != Some(&Atom::Star) {
                    break;
                }
                pc += 1;
            }
        } else {
            // `.*?`: leaving the star comes before staying in it.
            let first_star = threads.chain.len();
            while !threads.seen[pc] {
                threads.seen[pc] = true;
                if self.atoms.get(pc) == Some(&Atom::Star) {
                    threads.chain.push(pc);
                    pc += 1;
                } else {
                    threads.list.push((pc, start));
                    break;
                }
            }
            for i in (first_star..threads.chain.len()).rev() {
                let star = threads.chain[i];
                threads.list.push((star, start));
            }
            // The stars are in `list` now; `seen` stays set for them.
            threads.chain.truncate(first_star);
        }
    }

    /// Finds the match RE2 would report when searching `hay` from byte `from`.
    ///
    /// With `anchored` the match must start at `from` (a regex starting with
    /// `^`, used only with `from == 0`). Returns the byte range of the match.
    pub(super) fn find_at(&self, hay: &str, from: usize, anchored: bool) -> Option<(usize, usize)> {
        let states = self.atoms.len() + 1;
        let mut current = Threads::new(states);
        let mut next = Threads::new(states);
        let mut found = None;
        let mut pos = from;
        loop {
            if found.is_none() && (!anchored || pos == from) {
                // A new start has the lowest priority of all.
                self.add(&mut current, 0, pos);
            }
            if current.list.is_empty() {
                break;
            }
            let ch = hay[pos..].chars().next();
            next.clear();
            for i in 0..current.list.len() {
                let (pc, start) = current.list[i];
                match self.atoms.get(pc) {
                    None => {
                        // A match: every thread after this one ranks lower.
                        found = Some((start, pos));
                        break;
                    }
                    Some(Atom::Lit(want)) => {
                        if ch == Some(*want) {
                            self.add(&mut next, pc + 1, start);
                        }
                    }
                    Some(Atom::Any) => {
                        if ch.is_some_and(|c| c != '\n') {
                            self.add(&mut next, pc + 1, start);
                        }
                    }
                    Some(Atom::Star) => {
                        if ch.is_some_and(|c| c != '\n') {
                            self.add(&mut next, pc, start);
                        }
                    }
                }
            }
            let Some(ch) = ch else { break };
            pos += ch.len_utf8();
            std::mem::swap(&mut current, &mut next);
        }
        found
    }

    /// Go's `Regexp.ReplaceAllString(hay, template)`, match for match.
    pub(super) fn replace_all(&self, hay: &str, template: &str) -> String {
        let mut out = String::with_capacity(hay.len());
        let mut last_end = 0;
        let mut search = 0;
        while search <= hay.len() {
            let Some((start, end)) = self.find_at(hay, search, false) else {
                break;
            };
            out.push_str(&hay[last_end..start]);
            // No replacement for an empty match right after another match.
            if end > last_end || start == 0 {
                expand_template(&mut out, template, &hay[start..end]);
            }
            last_end = end;
            // Advance past the match, and always by at least one character.
            let width = hay[search..].chars().next().map_or(0, char::len_utf8);
            if search + width > end {
                search += width;
            } else if search + 1 > end {
                search += 1;
            } else {
                search = end;
            }
        }
        out.push_str(&hay[last_end..]);
        out
    }
}

/// Appends `template` to `out` the way Go's `Regexp.Expand` does for a regex
/// whose only group is the whole match (group 0).
fn expand_template(out: &mut String, mut template: &str, whole: &str) {
    while let Some(dollar) = template.find('$') {
        out.push_str(&template[..dollar]);
        template = &template[dollar + 1..];
        if let Some(rest) = template.strip_prefix('$') {
            out.push('$');
            template = rest;
            continue;
        }
        match template_reference(template) {
            Some((name, rest)) => {
                template = rest;
                // Only `0` names a group; any other name or number is empty.
                if name == "0" {
                    out.push_str(whole);
                }
            }
            // Malformed: the `$` is kept as text.
            None => out.push('$'),
        }
    }
    out.push_str(template);
}

/// Reads a `name` or `{name}` after a `$` in a Go replacement template.
///
/// Returns the name and the rest of the template.
fn template_reference(text: &str) -> Option<(&str, &str)> {
    let (body, braced) = match text.strip_prefix('{') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !(unicode::is_letter(c) || unicode::is_digit(c) || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let (name, rest) = body.split_at(len);
    if braced {
        let rest = rest.strip_prefix('}')?;
        return Some((name, rest));
    }
    Some((name, rest))
}

/// Reverses a pattern but keeps each `\x` escape pair in order, like
/// BuildKit's `reversePattern` (a trailing lone `\` moves to the front).
pub(super) fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = chars.len();
    // Walk from the end, pairing a character with a `\` before it only when
    // that pairing is what a forward scan would have produced.
    let pairs = escape_pairs(&chars);
    while i > 0 {
        i -= 1;
        if i > 0 && pairs[i - 1] {
            out.push(chars[i - 1]);
            out.push(chars[i]);
            i -= 1;
        } else {
            out.push(chars[i]);
        }
    }
    out.into_iter().collect()
}

/// Marks each index that starts a `\x` pair when scanning forwards.
fn escape_pairs(chars: &[char]) -> Vec<bool> {
    let mut starts = vec![false; chars.len()];
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            starts[i] = true;
            i += 2;
        } else {
            i += 1;
        }
    }
    starts
}

/// `${VAR#pat}` / `${VAR##pat}`: removes the prefix matched by `pattern`.
pub(super) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let glob = Glob::compile(pattern, greedy)?;
    Ok(match glob.find_at(value, 0, true) {
        Some((_, end)) => value[end..].to_owned(),
        None => value.to_owned(),
    })
}

/// `${VAR%pat}` / `${VAR%%pat}`: removes the suffix matched by `pattern`.
///
/// Like BuildKit, this reverses both the pattern and the value and trims a
/// prefix, since a leftmost search can't find the shortest rightmost match.
pub(super) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let reversed: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(pattern: &str, greedy: bool, hay: &str, anchored: bool) -> Option<(usize, usize)> {
        Glob::compile(pattern, greedy).unwrap().find_at(hay, 0, anchored)
    }

    #[test]
    fn reverse_pattern_keeps_escape_pairs() {
        // The cases of BuildKit's TestReversePattern.
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("\\\\\\ab"), "b\\a\\\\");
        assert_eq!(reverse_pattern("ab\\"), "\\ba");
        assert_eq!(reverse_pattern("👽\\🚀🖖"), "🖖\\🚀👽");
        assert_eq!(reverse_pattern("\\\\b"), "b\\\\");
        assert_eq!(reverse_pattern(""), "");
    }

    #[test]
    fn invalid_escapes_are_rejected() {
        // The invalid cases of BuildKit's TestConvertShellPatternToRegex.
        for pattern in ["\\", "\\x", "\\\\\\"] {
            assert!(Glob::compile(pattern, true).is_err(), "{pattern:?}");
        }
        assert_eq!(Glob::compile("a\\x", true).unwrap_err(), "invalid escape '\\x'");
        assert!(Glob::compile("\\}\\/\\*\\?\\\\", true).is_ok());
    }

    #[test]
    fn greedy_and_lazy_stars_pick_re2_matches() {
        assert_eq!(find("*x*y", false, "xxyy", true), Some((0, 3)));
        assert_eq!(find("*x*y", true, "xxyy", true), Some((0, 4)));
        assert_eq!(find("*", false, "abc", true), Some((0, 0)));
        assert_eq!(find("*", true, "abc", true), Some((0, 3)));
        assert_eq!(find("b*", true, "abcb", false), Some((1, 4)));
        assert_eq!(find("x", true, "abc", false), None);
        assert_eq!(find("", true, "abc", false), Some((0, 0)));
    }

    #[test]
    fn wildcards_do_not_match_newlines() {
        assert_eq!(find("*", true, "ab\ncd", true), Some((0, 2)));
        assert_eq!(find("a?c", true, "a\nc", true), None);
        assert_eq!(find("a\nc", true, "a\nc", true), Some((0, 3)));
    }

    #[test]
    fn brackets_are_literals() {
        assert_eq!(find("[ab]", true, "a[ab]", false), Some((1, 5)));
        assert_eq!(find("[ab]", true, "a", false), None);
    }

    #[test]
    fn replace_all_follows_go_empty_match_rules() {
        let empty = Glob::compile("", true).unwrap();
        assert_eq!(empty.replace_all("xxyy", "-"), "-x-x-y-y-");
        let star = Glob::compile("*", true).unwrap();
        assert_eq!(star.replace_all("ab\ncd", "X"), "X\nX");
        let a = Glob::compile("a", true).unwrap();
        assert_eq!(a.replace_all("banana", "<$0>"), "b<a>n<a>n<a>");
        assert_eq!(a.replace_all("banana", "${0}$$"), "ba$na$na$");
        assert_eq!(a.replace_all("ba", "$1x$"), "b$");
        assert_eq!(a.replace_all("ba", "${x"), "b${x");
    }

    #[test]
    fn leading_byte_order_mark_is_dropped_from_patterns() {
        assert_eq!(find("\u{FEFF}a", true, "a", true), Some((0, 1)));
        assert_eq!(find("a\u{FEFF}", true, "a", true), None);
    }
}
