//! The expansion machine: one pass over a word, the way BuildKit's
//! `shellWord` walks it with Go's `text/scanner`.

use std::collections::BTreeSet;

use super::glob::{self, Glob};
use super::unicode;
use super::{Env, ErrorKind, ShellError, ShellLexer};

/// How many substitutions and double quotes may nest inside each other.
///
/// BuildKit has no limit (Go stacks grow); a limit keeps a hostile word from
/// overflowing the Rust stack. Real Dockerfiles nest two or three levels.
pub(super) const MAX_NESTING: usize = 64;

/// A byte position in the word, always on a character boundary.
struct Cursor<'w> {
    text: &'w str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }
}

/// The words of `ProcessWords`, split on unquoted white space.
///
/// BuildKit keeps the word being built in one buffer shared by every level of
/// nesting, and each level clears it when it starts; see [`Machine::field`].
#[derive(Default)]
struct Fields {
    done: Vec<String>,
    in_word: bool,
}

impl Fields {
    /// An unquoted character: white space ends the current word.
    fn add_char(&mut self, field: &mut String, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !field.is_empty() {
                self.done.push(std::mem::take(field));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(field, ch);
        }
    }

    /// A quoted or escaped character: always part of the word.
    fn add_raw_char(&mut self, field: &mut String, ch: char) {
        field.push(ch);
        self.in_word = true;
    }

    /// The value of an unquoted `$` expansion: split on white space.
    fn add_str(&mut self, field: &mut String, text: &str) {
        for ch in text.chars() {
            self.add_char(field, ch);
        }
    }

    /// The text of a quoted string: never split.
    fn add_raw_str(&mut self, field: &mut String, text: &str) {
        field.push_str(text);
        self.in_word = true;
    }

    /// Ends the last word; an empty one (say from `""`) is dropped.
    fn finish(mut self, field: &mut String) -> Vec<String> {
        if !field.is_empty() {
            self.done.push(std::mem::take(field));
        }
        self.done
    }
}

/// State while expanding one word.
pub(super) struct Machine<'a, E: Env + ?Sized> {
    lexer: &'a ShellLexer,
    env: &'a E,
    cur: Cursor<'a>,
    /// Whether the escape token is kept in the output (inside patterns).
    raw_escapes: bool,
    /// BuildKit's shared word buffer (`shellWord.wordsBuffer`).
    ///
    /// Every `processStopOn` call clears it on entry, so a nested one (the
    /// word of `${VAR:-word}`, `${VAR#pat}`, `${VAR/a/b}`…) throws away the
    /// part of the enclosing word built so far. `ProcessWords("a${X:-b}")`
    /// is `["b"]` in BuildKit, not `["ab"]`, and so it is here.
    field: String,
    depth: usize,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

/// What a successful expansion produced.
pub(super) struct Outcome {
    pub(super) value: String,
    pub(super) words: Vec<String>,
    pub(super) matched: BTreeSet<String>,
    pub(super) unmatched: BTreeSet<String>,
}

type Result<T> = std::result::Result<T, ShellError>;

fn error(kind: ErrorKind, offset: usize) -> ShellError {
    ShellError { kind, offset }
}

impl<'a, E: Env + ?Sized> Machine<'a, E> {
    pub(super) fn new(lexer: &'a ShellLexer, word: &'a str, env: &'a E) -> Self {
        // Go's text/scanner skips a byte order mark at the very start.
        let pos = if word.starts_with('\u{FEFF}') { '\u{FEFF}'.len_utf8() } else { 0 };
        Self {
            lexer,
            env,
            cur: Cursor { text: word, pos },
            raw_escapes: false,
            field: String::new(),
            depth: 0,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        }
    }

    pub(super) fn run(mut self) -> Result<Outcome> {
        let (value, words) = self.process_until(None, self.lexer.raw_escapes)?;
        Ok(Outcome { value, words, matched: self.matched, unmatched: self.unmatched })
    }

    /// Guards the recursion of nested substitutions and double quotes.
    fn nest<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_NESTING {
            return Err(error(ErrorKind::TooDeep, self.cur.pos));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Looks a name up and notes whether it was set.
    fn lookup(&mut self, name: &str) -> Option<&'a str> {
        let value = self.env.get(name);
        let seen = if value.is_some() { &mut self.matched } else { &mut self.unmatched };
        if !seen.contains(name) {
            seen.insert(name.to_owned());
        }
        value
    }

    /// BuildKit's `processStopOn`: expands up to `stop` (consumed) or the end
    /// of the word when `stop` is `None`.
    ///
    /// Returns the expanded text and its words. Reaching the end while looking
    /// for `stop` is an error that the caller reports as a missing `}` or `/`.
    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>)> {
        self.nest(|this| {
            let outer = std::mem::replace(&mut this.raw_escapes, raw_escapes);
            let result = this.process_until_inner(stop);
            this.raw_escapes = outer;
            result
        })
    }

    fn process_until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>)> {
        let mut result = String::new();
        let mut fields = Fields::default();
        self.field.clear();

        while let Some(ch) = self.cur.peek() {
            if Some(ch) == stop {
                self.cur.next();
                return Ok((result, fields.finish(&mut self.field)));
            }
            match ch {
                '$' => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                    fields.add_str(&mut self.field, &value);
                }
                '\'' if !self.lexer.skip_process_quotes => {
                    let text = self.process_single_quote()?;
                    result.push_str(&text);
                    fields.add_raw_str(&mut self.field, &text);
                }
                '"' if !self.lexer.skip_process_quotes => {
                    let text = self.process_double_quote()?;
                    result.push_str(&text);
                    fields.add_raw_str(&mut self.field, &text);
                }
                _ => {
                    self.cur.next();
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            fields.add_raw_char(&mut self.field, ch);
                            result.push(ch);
                        }
                        // An escape token at the very end is dropped.
                        let Some(escaped) = self.cur.next() else { break };
                        fields.add_raw_char(&mut self.field, escaped);
                        result.push(escaped);
                    } else {
                        fields.add_char(&mut self.field, ch);
                        result.push(ch);
                    }
                }
            }
        }

        if stop.is_some() {
            // Never shown: every caller replaces it, being at the end.
            return Err(error(ErrorKind::MissingBrace, self.cur.pos));
        }
        Ok((result, fields.finish(&mut self.field)))
    }

    /// Consumes an opening quote: where it was, and the result so far (the
    /// quote itself when quotes are kept raw).
    fn open_quote(&mut self) -> (usize, String) {
        let open = self.cur.pos;
        let mut result = String::new();
        if let Some(quote) = self.cur.next()
            && self.lexer.raw_quotes
        {
            result.push(quote);
        }
        (open, result)
    }

    /// `'...'`: everything up to the next `'` is literal; nothing escapes it.
    fn process_single_quote(&mut self) -> Result<String> {
        let (open, mut result) = self.open_quote();
        loop {
            match self.cur.next() {
                None => return Err(error(ErrorKind::UnterminatedSingleQuote, open)),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    /// `"..."`: literal except `$` expansions; the escape token escapes only
    /// `"`, `$` and itself and is kept before anything else.
    fn process_double_quote(&mut self) -> Result<String> {
        self.nest(Self::process_double_quote_inner)
    }

    fn process_double_quote_inner(&mut self) -> Result<String> {
        let (open, mut result) = self.open_quote();
        loop {
            match self.cur.peek() {
                None => return Err(error(ErrorKind::UnterminatedDoubleQuote, open)),
                Some('"') => {
                    self.cur.next();
                    if self.lexer.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let Some(mut ch) = self.cur.next() else { continue };
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.cur.peek() {
                            // Dropped here; the loop then reports the open quote.
                            None => continue,
                            Some(next)
                                if next == '"' || next == '$' || next == self.lexer.escape =>
                            {
                                self.cur.next();
                                ch = next;
                            }
                            // Kept as is, so with raw escapes it appears twice,
                            // as in BuildKit.
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// BuildKit's `processName`: a run of letters, digits and `_`; or a run
    /// of digits (positional parameter); or one special parameter character.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.cur.peek() {
            if name.is_empty() && unicode::is_digit(ch) {
                while let Some(digit) = self.cur.peek().filter(|&c| unicode::is_digit(c)) {
                    self.cur.next();
                    name.push(digit);
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.cur.next();
                name.push(ch);
                return name;
            }
            if !(unicode::is_letter(ch) || unicode::is_digit(ch) || ch == '_') {
                break;
            }
            self.cur.next();
            name.push(ch);
        }
        name
    }

    /// Expands the `$...` at the cursor.
    fn process_dollar(&mut self) -> Result<String> {
        let dollar = self.cur.pos;
        self.cur.next();

        if self.cur.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value.to_owned(),
                None if self.lexer.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }

        self.cur.next();
        match self.cur.peek() {
            None => return Err(error(ErrorKind::MissingBrace, dollar)),
            Some('{' | '}' | ':') => return Err(error(ErrorKind::BadSubstitution, self.cur.pos)),
            Some(_) => {}
        }
        let name = self.process_name();
        let op_at = self.cur.pos;
        match self.cur.next() {
            // BuildKit says "unsupported modifier (\u{FFFD})" here, its EOF
            // rune printed as a string; a missing `}` is what happened.
            None => Err(error(ErrorKind::MissingBrace, dollar)),
            Some('}') => Ok(match self.lookup(&name) {
                Some(value) => value.to_owned(),
                None if self.lexer.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => {
                let op = self.cur.next();
                self.modifier(dollar, op_at, &name, true, op)
            }
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => {
                self.modifier(dollar, op_at, &name, false, Some(op))
            }
            Some('/') => self.replace(dollar, &name),
            Some(other) => Err(error(ErrorKind::UnsupportedModifier(other.to_string()), op_at)),
        }
    }

    /// Runs a nested `processStopOn` for the word of `${...}` and, when it
    /// fails at the end of the input, reports the unterminated `${` instead.
    fn nested_word(&mut self, stop: char, raw_escapes: bool, dollar: usize) -> Result<String> {
        match self.process_until(Some(stop), raw_escapes) {
            Ok((text, _words)) => Ok(text),
            Err(_) if self.cur.at_end() => {
                let kind =
                    if stop == '/' { ErrorKind::MissingSlash } else { ErrorKind::MissingBrace };
                Err(error(kind, dollar))
            }
            Err(err) => Err(err),
        }
    }

    /// `${name<op>word}` and `${name:<op>word}`.
    fn modifier(
        &mut self,
        dollar: usize,
        op_at: usize,
        name: &str,
        colon: bool,
        op: Option<char>,
    ) -> Result<String> {
        // Go prints its EOF rune as U+FFFD; it can't be seen, as the nested
        // word below then fails at the end of the input.
        let op_char = op.unwrap_or('\u{FFFD}');
        let op_text = if colon { format!(":{op_char}") } else { op_char.to_string() };
        let pattern_op = matches!(op, Some('#' | '%'));
        if colon && pattern_op {
            return Err(error(ErrorKind::UnsupportedModifier(op_text), op_at));
        }

        let word = self.nested_word('}', pattern_op, dollar)?;

        let value = self.lookup(name);
        let Some(value) = value else {
            if self.lexer.skip_unset_env {
                return Ok(format!("${{{name}{op_text}{word}}}"));
            }
            return self.apply_unset(dollar, op_at, name, op, op_text, word);
        };
        let null = colon && value.is_empty();
        match op {
            Some('-') => Ok(if null { word } else { value.to_owned() }),
            Some('+') => Ok(if null { String::new() } else { word }),
            Some('?') if null => Err(mandatory(name, word, "is not allowed to be empty", dollar)),
            Some('?') => Ok(value.to_owned()),
            Some(op @ ('#' | '%')) => trim(op, &word, value, op_at),
            _ => Err(error(ErrorKind::UnsupportedModifier(op_text), op_at)),
        }
    }

    /// The modifiers applied to a variable that is not set.
    fn apply_unset(
        &self,
        dollar: usize,
        op_at: usize,
        name: &str,
        op: Option<char>,
        op_text: String,
        word: String,
    ) -> Result<String> {
        match op {
            Some('-') => Ok(word),
            Some('+') => Ok(String::new()),
            Some('?') => Err(mandatory(name, word, "is not allowed to be unset", dollar)),
            Some(op @ ('#' | '%')) => trim(op, &word, "", op_at),
            _ => Err(error(ErrorKind::UnsupportedModifier(op_text), op_at)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, dollar: usize, name: &str) -> Result<String> {
        let all = self.cur.peek() == Some('/');
        if all {
            self.cur.next();
        }
        let pattern_at = self.cur.pos;
        let pattern = self.nested_word('/', true, dollar)?;
        let replacement = self.nested_word('}', true, dollar)?;

        let value = self.lookup(name);
        if value.is_none() && self.lexer.skip_unset_env {
            // Like BuildKit, this loses the second `/` of `//`.
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        let value = value.unwrap_or("");
        let glob = Glob::compile(&pattern, true)
            .map_err(|reason| invalid_pattern(&pattern, reason, pattern_at))?;
        if all {
            return Ok(glob.replace_all(value, &replacement));
        }
        Ok(match glob.find_at(value, 0, false) {
            Some((start, end)) => format!("{}{replacement}{}", &value[..start], &value[end..]),
            None => value.to_owned(),
        })
    }
}

/// `${name#pat}`, `${name##pat}`, `${name%pat}`, `${name%%pat}`.
fn trim(op: char, word: &str, value: &str, at: usize) -> Result<String> {
    // A doubled operator (checked on the expanded word, as BuildKit does)
    // asks for the longest match.
    let (pattern, greedy) = match word.strip_prefix(op) {
        Some(rest) => (rest, true),
        None => (word, false),
    };
    let trimmed = if op == '%' {
        glob::trim_suffix(pattern, value, greedy)
    } else {
        glob::trim_prefix(pattern, value, greedy)
    };
    trimmed.map_err(|reason| invalid_pattern(pattern, reason, at))
}

fn invalid_pattern(pattern: &str, reason: String, at: usize) -> ShellError {
    error(ErrorKind::InvalidPattern { pattern: pattern.to_owned(), reason }, at)
}

fn mandatory(name: &str, word: String, default: &str, at: usize) -> ShellError {
    let message = if word.is_empty() { default.to_owned() } else { word };
    error(ErrorKind::Mandatory { name: name.to_owned(), message }, at)
}

/// The POSIX special parameters, which BuildKit reads as one-character names.
fn is_special_param(ch: char) -> bool {
    matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}
