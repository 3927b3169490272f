//! The driver: physical lines → logical lines → instructions, with spans.
//!
//! The grammar (`grammar/dockerfile.pest`) reads single lines and single
//! logical lines; this module keeps the state between them as BuildKit's
//! `parser.Parse` does: the directive preamble, the escape token, the lines
//! a continuation joins and the heredoc bodies that follow an instruction.

use pest::Parser as _;
use pest::iterators::Pair;

use crate::ast::{
    Arg, Arguments, Comment, Directive, Dockerfile, Flag, Instruction, KeyValue, Keyword,
    Separator, Warning,
};
use crate::error::ParseError;
use crate::heredoc;
use crate::span::{LineIndex, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/dockerfile.pest"]
pub(crate) struct Grammar;

/// BuildKit reads lines with a `bufio.Scanner`, whose tokens are at most 64 KiB.
const MAX_LINE: usize = 65535;

/// ONBUILD may wrap ONBUILD (BuildKit rejects that later, not in the parser);
/// the nesting is bounded so no input can exhaust the stack.
const MAX_NESTING: usize = 32;

const BOM: &str = "\u{FEFF}";

/// Parses a Dockerfile.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    Driver::new(source).run()
}

/// A physical line: `start..end` is its text without the line ending,
/// `next` where the following line starts.
#[derive(Clone, Copy, Debug)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

/// What the line grammar found on one physical line.
struct LineParts {
    /// Where the text after the indent starts.
    indent_end: usize,
    comment: bool,
    /// End of the text, the continuation token excluded.
    text_end: usize,
    continued: bool,
}

struct Driver<'s> {
    src: &'s str,
    index: LineIndex,
    lines: Vec<Line>,
    escape: char,
    directives_done: bool,
    out: Dockerfile,
}

impl<'s> Driver<'s> {
    fn new(src: &'s str) -> Self {
        Self {
            src,
            index: LineIndex::new(src),
            lines: split_lines(src),
            escape: '\\',
            directives_done: false,
            out: Dockerfile {
                directives: Vec::new(),
                escape: '\\',
                instructions: Vec::new(),
                comments: Vec::new(),
                warnings: Vec::new(),
            },
        }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        self.index.span(self.src, start, end)
    }

    fn run(mut self) -> Result<Dockerfile, ParseError> {
        if let Some(line) = self.lines.iter().find(|l| l.end - l.start > MAX_LINE) {
            let at = line.start + MAX_LINE;
            return Err(ParseError::new(
                format!("dockerfile line greater than max allowed size of {MAX_LINE}"),
                self.span(at, line.end),
            )
            .expected(format!("a line of at most {MAX_LINE} bytes")));
        }
        let mut i = 0;
        while i < self.lines.len() {
            let line = self.lines[i];
            i += 1;
            let parts = self.scan(line)?;
            if !self.directives_done {
                self.directive(parts.indent_end, line.end)?;
            }
            if parts.comment {
                self.comment(parts.indent_end, line.end);
                continue;
            }
            if !parts.continued && parts.indent_end == parts.text_end {
                continue;
            }
            let start_line = i;
            let mut logical = Logical::default();
            logical.push(self.src, parts.indent_end, parts.text_end);
            let mut continued = parts.continued;
            let mut empty_lines = Vec::new();
            let mut last = line;
            while continued && i < self.lines.len() {
                let line = self.lines[i];
                i += 1;
                let parts = self.scan(line)?;
                if parts.comment {
                    self.comment(parts.indent_end, line.end);
                    continue;
                }
                last = line;
                if parts.indent_end == line.end {
                    empty_lines.push(line);
                    continue;
                }
                logical.push(self.src, line.start, parts.text_end);
                continued = parts.continued;
            }
            let mut instruction = self.instruction(&logical, 0, logical.text.len(), 0)?;
            for line in empty_lines {
                self.out.warnings.push(Warning {
                    message: "empty continuation line".to_owned(),
                    span: self.span(line.start, line.end),
                });
            }
            if can_contain_heredoc(&instruction) {
                for (word, mut doc) in heredoc::find(&logical.text)
                    .map_err(|e| ParseError::new(e, instruction.span))?
                {
                    doc.word_span = logical.span(&self.index, self.src, word.start, word.end);
                    let body_start = self.lines.get(i).map_or(self.src.len(), |l| l.start);
                    let mut terminated = false;
                    while i < self.lines.len() {
                        let line = self.lines[i];
                        i += 1;
                        last = line;
                        let mut candidate = &self.src[line.start..line.end];
                        if doc.chomp {
                            candidate = candidate.trim_start_matches('\t');
                        }
                        if candidate == doc.name {
                            terminated = true;
                            break;
                        }
                        doc.content.push_str(&self.src[line.start..line.next]);
                    }
                    if !terminated {
                        return Err(ParseError::new("unterminated heredoc", doc.word_span)
                            .expected(format!("a line `{}` to end the heredoc", doc.name)));
                    }
                    doc.body_span = self.span(body_start, last.end);
                    instruction.heredocs.push(doc);
                }
            }
            instruction.start_line = start_line;
            instruction.end_line = i;
            instruction.span = self
                .span(instruction.keyword_span.start, last.end.max(instruction.keyword_span.start));
            self.out.instructions.push(instruction);
        }
        if self.out.instructions.is_empty() {
            let end = self.src.len();
            return Err(ParseError::new("file with no instructions", self.span(end, end))
                .expected("at least one instruction, such as `FROM image`"));
        }
        self.out.escape = self.escape;
        Ok(self.out)
    }

    /// Runs the line grammar over one physical line.
    fn scan(&self, line: Line) -> Result<LineParts, ParseError> {
        let rule = if self.escape == '`' { Rule::line_backtick } else { Rule::line_backslash };
        let text = &self.src[line.start..line.end];
        let pairs = Grammar::parse(rule, text).map_err(|e| self.internal(e, line.start))?;
        let mut parts = LineParts {
            indent_end: line.start,
            comment: false,
            text_end: line.end,
            continued: false,
        };
        for pair in pairs.flatten() {
            let end = line.start + pair.as_span().end();
            match pair.as_rule() {
                Rule::indent => parts.indent_end = end,
                Rule::comment => parts.comment = true,
                Rule::text_backslash | Rule::text_backtick => parts.text_end = end,
                Rule::continuation_backslash | Rule::continuation_backtick => {
                    parts.continued = true;
                    parts.text_end = parts.text_end.min(line.start + pair.as_span().start());
                }
                _ => {}
            }
        }
        Ok(parts)
    }

    fn internal(&self, e: pest::error::Error<Rule>, offset: usize) -> ParseError {
        let at = match e.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((s, _)) => s,
        };
        ParseError::new(
            format!("unexpected input: {}", e.variant.message()),
            self.span(offset + at, offset + at),
        )
    }

    fn comment(&mut self, start: usize, end: usize) {
        let text = self.src[start + 1..end].trim().to_owned();
        self.out.comments.push(Comment { text, span: self.span(start, end) });
    }

    /// BuildKit's `possibleParserDirective` on a line without its indent.
    fn directive(&mut self, start: usize, end: usize) -> Result<(), ParseError> {
        let text = &self.src[start..end];
        let Ok(mut pairs) = Grammar::parse(Rule::directive, text) else {
            self.directives_done = true;
            return Ok(());
        };
        let (mut name, mut value) = (None, None);
        for pair in pairs.next().into_iter().flat_map(|p| p.into_inner()) {
            let range = (start + pair.as_span().start(), start + pair.as_span().end());
            match pair.as_rule() {
                Rule::directive_name => name = Some((pair.as_str().to_ascii_lowercase(), range)),
                Rule::directive_value | Rule::directive_blank => {
                    value = Some((pair.as_str().to_owned(), range));
                }
                _ => {}
            }
        }
        let (Some((name, name_range)), Some((value, value_range))) = (name, value) else {
            self.directives_done = true;
            return Ok(());
        };
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.directives_done = true;
            return Ok(());
        }
        if self.out.directives.iter().any(|d| d.name == name) {
            return Err(ParseError::new(
                format!("only one {name} parser directive can be used"),
                self.span(name_range.0, name_range.1),
            ));
        }
        let value_span = self.span(value_range.0, value_range.1);
        if name == "escape" {
            self.escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(ParseError::new(
                        format!("invalid escape token '{value}' does not match ` or \\"),
                        value_span,
                    )
                    .expected("`\\` or a backtick"));
                }
            };
        }
        self.out.directives.push(Directive {
            name,
            value,
            span: self.span(start, end),
            value_span,
        });
        Ok(())
    }

    /// BuildKit's `newNodeFromLine` over `logical.text[from..to]`.
    fn instruction(
        &self,
        logical: &Logical,
        from: usize,
        to: usize,
        depth: usize,
    ) -> Result<Instruction, ParseError> {
        let at = |a: usize, b: usize| logical.span(&self.index, self.src, from + a, from + b);
        let text = &logical.text[from..to];
        let pairs = Grammar::parse(Rule::instruction, text)
            .map_err(|e| self.internal(e, logical.to_source(from)))?;
        let mut keyword = ("", 0, 0);
        let mut flags = Vec::new();
        let mut rest_start = text.len();
        for pair in pairs.flatten() {
            let (a, b) = (pair.as_span().start(), pair.as_span().end());
            match pair.as_rule() {
                Rule::keyword => keyword = (pair.as_str(), a, b),
                Rule::flag => flags.push((decode_flag(pair.as_str()), a, b)),
                Rule::rest => rest_start = a,
                _ => {}
            }
        }
        // A flag that decodes to a bare `--` ends the flags, as `flags_end` does.
        if let Some(cut) = flags.iter().position(|(f, _, _)| f == "--") {
            rest_start = flags[cut].2;
            flags.truncate(cut);
        }
        let flags = flags
            .into_iter()
            .map(|(text, a, b)| {
                let body = &text[2..];
                let (name, value) = match body.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => (body.to_owned(), None),
                };
                Flag { text, name, value, span: at(a, b) }
            })
            .collect();
        let rest_raw = &text[rest_start..];
        let rest = rest_raw.trim();
        let rest_at = rest_start + (rest_raw.len() - rest_raw.trim_start().len());
        let kind = Keyword::from_word(keyword.0);
        let mut json = false;
        let args = match kind {
            Keyword::From | Keyword::Expose => Arguments::Values(self.split(rest, rest_at, &at)),
            Keyword::Add | Keyword::Copy | Keyword::Volume => {
                match self.json(rest, rest_at, &at)? {
                    Some(values) => {
                        json = true;
                        Arguments::Values(values)
                    }
                    None => Arguments::Values(self.split(rest, rest_at, &at)),
                }
            }
            Keyword::Run | Keyword::Cmd | Keyword::Entrypoint | Keyword::Shell => {
                let (values, is_json) = self.maybe_json(rest, rest_at, &at)?;
                json = is_json;
                Arguments::Values(values)
            }
            Keyword::Healthcheck => {
                let (values, is_json) = self.healthcheck(rest, rest_at, &at)?;
                json = is_json;
                Arguments::Values(values)
            }
            Keyword::Maintainer | Keyword::User | Keyword::Workdir | Keyword::Stopsignal => {
                Arguments::Values(whole(rest, rest_at, &at))
            }
            Keyword::Arg => Arguments::Values(
                self.name_words(rest)
                    .into_iter()
                    .map(|(value, a, b)| Arg { value, span: at(rest_at + a, rest_at + b) })
                    .collect(),
            ),
            Keyword::Env | Keyword::Label => {
                Arguments::Pairs(self.pairs(kind, rest, rest_at, &at)?)
            }
            Keyword::Onbuild => {
                if rest.is_empty() {
                    Arguments::Nested(None)
                } else if depth >= MAX_NESTING {
                    return Err(ParseError::new(
                        "ONBUILD nested too deeply",
                        at(rest_at, rest_at + rest.len()),
                    )
                    .expected(format!("at most {MAX_NESTING} nested ONBUILD")));
                } else {
                    let inner = self.instruction(
                        logical,
                        from + rest_at,
                        from + rest_at + rest.len(),
                        depth + 1,
                    )?;
                    Arguments::Nested(Some(Box::new(inner)))
                }
            }
            Keyword::Unknown => {
                Arguments::Values(vec![Arg { value: String::new(), span: at(rest_at, rest_at) }])
            }
        };
        let keyword_span = at(keyword.1, keyword.2);
        Ok(Instruction {
            keyword: keyword.0.to_owned(),
            kind,
            keyword_span,
            flags,
            args,
            json,
            heredocs: Vec::new(),
            original: text.to_owned(),
            span: at(keyword.1, text.len()),
            start_line: keyword_span.line,
            end_line: keyword_span.line,
        })
    }

    /// `parseStringsWhitespaceDelimited`.
    fn split(&self, rest: &str, rest_at: usize, at: &dyn Fn(usize, usize) -> Span) -> Vec<Arg> {
        let Ok(pairs) = Grammar::parse(Rule::split_words, rest) else {
            return Vec::new();
        };
        pairs
            .flatten()
            .filter(|p| p.as_rule() == Rule::split_word)
            .map(|p| arg(&p, rest_at, at, p.as_str().to_owned()))
            .collect()
    }

    /// `parseJSON`: `Some` for an array of strings, `None` for text that is
    /// not JSON, an error for a JSON array holding anything but strings.
    fn json(
        &self,
        rest: &str,
        rest_at: usize,
        at: &dyn Fn(usize, usize) -> Span,
    ) -> Result<Option<Vec<Arg>>, ParseError> {
        if !rest.starts_with('[') {
            return Ok(None);
        }
        if let Ok(pairs) = Grammar::parse(Rule::json_array, rest) {
            return Ok(Some(
                pairs
                    .flatten()
                    .filter(|p| p.as_rule() == Rule::json_string)
                    .map(|p| arg(&p, rest_at, at, decode_json_string(p.as_str())))
                    .collect(),
            ));
        }
        let first =
            serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>().next();
        if let Some(Ok(serde_json::Value::Array(_))) = first {
            return Err(ParseError::new(
                "when using JSON array syntax, arrays must be comprised of strings only",
                at(rest_at, rest_at + rest.len()),
            )
            .expected("a JSON array of strings, such as [\"a\", \"b\"]"));
        }
        Ok(None)
    }

    /// `parseMaybeJSON`: the JSON array, or the whole text as one value.
    fn maybe_json(
        &self,
        rest: &str,
        rest_at: usize,
        at: &dyn Fn(usize, usize) -> Span,
    ) -> Result<(Vec<Arg>, bool), ParseError> {
        if rest.is_empty() {
            return Ok((Vec::new(), false));
        }
        Ok(match self.json(rest, rest_at, at)? {
            Some(values) => (values, true),
            None => (whole(rest, rest_at, at), false),
        })
    }

    /// `parseHealthConfig`: the type word, then the command as `parseMaybeJSON`.
    fn healthcheck(
        &self,
        rest: &str,
        rest_at: usize,
        at: &dyn Fn(usize, usize) -> Span,
    ) -> Result<(Vec<Arg>, bool), ParseError> {
        let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if sep == 0 {
            return Ok((Vec::new(), false));
        }
        let after = &rest[sep..];
        let next = sep + (after.len() - after.trim_start().len());
        let mut values =
            vec![Arg { value: rest[..sep].to_owned(), span: at(rest_at, rest_at + sep) }];
        let (cmd, json) = self.maybe_json(&rest[next..], rest_at + next, at)?;
        values.extend(cmd);
        Ok((values, json))
    }

    /// `parseWords`: quote-aware words, quotes and escapes kept, with their
    /// offsets in `rest`.
    fn name_words(&self, rest: &str) -> Vec<(String, usize, usize)> {
        let rule =
            if self.escape == '`' { Rule::name_words_backtick } else { Rule::name_words_backslash };
        let Ok(pairs) = Grammar::parse(rule, rest) else {
            return Vec::new();
        };
        pairs
            .flatten()
            .filter(|p| p.as_rule() == Rule::name_word)
            .filter_map(|p| {
                let (a, mut b) = (p.as_span().start(), p.as_span().end());
                if p.clone().into_inner().any(|i| i.as_rule() == Rule::dangling_escape) {
                    b -= 1;
                }
                (a < b).then(|| (rest[a..b].to_owned(), a, b))
            })
            .collect()
    }

    /// `parseNameVal`: ENV and LABEL pairs, `k=v ...` or the legacy `k v`.
    fn pairs(
        &self,
        kind: Keyword,
        rest: &str,
        rest_at: usize,
        at: &dyn Fn(usize, usize) -> Span,
    ) -> Result<Vec<KeyValue>, ParseError> {
        let words = self.name_words(rest);
        let Some(first) = words.first() else {
            return Ok(Vec::new());
        };
        if !first.0.contains('=') {
            let Ok(pairs) = Grammar::parse(Rule::legacy_pair, rest) else {
                return Err(ParseError::new(
                    format!("{} must have two arguments", kind.as_str()),
                    at(rest_at, rest_at + rest.len()),
                )
                .expected(format!(
                    "a value: `{0} name value` or `{0} name=value`",
                    kind.as_str()
                )));
            };
            let mut key = None;
            let mut value = None;
            for p in pairs.flatten() {
                match p.as_rule() {
                    Rule::legacy_key => key = Some(arg(&p, rest_at, at, p.as_str().to_owned())),
                    Rule::legacy_value => value = Some(arg(&p, rest_at, at, p.as_str().to_owned())),
                    _ => {}
                }
            }
            return Ok(key
                .zip(value)
                .map(|(key, value)| KeyValue { key, value, separator: Separator::Space })
                .into_iter()
                .collect());
        }
        words
            .into_iter()
            .map(|(word, a, b)| {
                let Some(eq) = word.find('=') else {
                    return Err(ParseError::new(
                        format!(
                            "Syntax error - can't find = in {}. Must be of the form: name=value",
                            crate::dump::go_quote(&word)
                        ),
                        at(rest_at + a, rest_at + b),
                    )
                    .expected("name=value"));
                };
                let key =
                    Arg { value: word[..eq].to_owned(), span: at(rest_at + a, rest_at + a + eq) };
                let value = Arg {
                    value: word[eq + 1..].to_owned(),
                    span: at(rest_at + a + eq + 1, rest_at + b),
                };
                Ok(KeyValue { key, value, separator: Separator::Equals })
            })
            .collect()
    }
}

fn arg(
    pair: &Pair<'_, Rule>,
    offset: usize,
    at: &dyn Fn(usize, usize) -> Span,
    value: String,
) -> Arg {
    let span = pair.as_span();
    Arg { value, span: at(offset + span.start(), offset + span.end()) }
}

/// `parseString`: the whole text as one value, none when empty.
fn whole(rest: &str, rest_at: usize, at: &dyn Fn(usize, usize) -> Span) -> Vec<Arg> {
    if rest.is_empty() {
        return Vec::new();
    }
    vec![Arg { value: rest.to_owned(), span: at(rest_at, rest_at + rest.len()) }]
}

/// `canContainHeredoc`: RUN, COPY, ADD (also under ONBUILD), never in JSON form.
fn can_contain_heredoc(instruction: &Instruction) -> bool {
    let target = match &instruction.args {
        Arguments::Nested(Some(inner)) if instruction.kind == Keyword::Onbuild => inner,
        _ => instruction,
    };
    target.kind.takes_heredocs() && !target.json
}

/// Splits the source into lines; a UTF-8 byte-order mark before the first
/// line is skipped, and trailing `\r`s are not part of a line's text.
fn split_lines(src: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = if src.starts_with(BOM) { BOM.len() } else { 0 };
    while start < src.len() {
        let (end, next) = match src[start..].find('\n') {
            Some(i) => (start + i, start + i + 1),
            None => (src.len(), src.len()),
        };
        let text_end = start + src[start..end].trim_end_matches('\r').len();
        lines.push(Line { start, end: text_end, next });
        start = next;
    }
    lines
}

/// Removes quotes and `\` escapes from a flag word, as `extractBuilderFlags`.
fn decode_flag(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut quote = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => out.push(c),
        }
    }
    out
}

/// Decodes a JSON string literal the grammar has validated. Like Go, an
/// unpaired surrogate becomes U+FFFD instead of an error.
fn decode_json_string(raw: &str) -> String {
    let inner = &raw[1..raw.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let unit = hex4(&mut chars);
                if (0xD800..0xDC00).contains(&unit) {
                    let mut ahead = chars.clone();
                    if ahead.next() == Some('\\') && ahead.next() == Some('u') {
                        let low = hex4(&mut ahead);
                        if (0xDC00..0xE000).contains(&low) {
                            chars = ahead;
                            let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                            continue;
                        }
                    }
                }
                out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn hex4(chars: &mut impl Iterator<Item = char>) -> u32 {
    chars.take(4).fold(0, |n, c| n * 16 + c.to_digit(16).unwrap_or(0))
}

/// A logical line: the text of its pieces joined, and where each piece came
/// from, so that spans in the text map back to the source.
#[derive(Default)]
struct Logical {
    text: String,
    /// (offset in `text`, offset in the source), one per piece.
    pieces: Vec<(usize, usize)>,
}

impl Logical {
    fn push(&mut self, src: &str, start: usize, end: usize) {
        self.pieces.push((self.text.len(), start));
        self.text.push_str(&src[start..end]);
    }

    /// The source offset of a text offset.
    fn to_source(&self, at: usize) -> usize {
        let i = self.pieces.partition_point(|&(t, _)| t <= at).max(1) - 1;
        let (t, s) = self.pieces.get(i).copied().unwrap_or((0, 0));
        s + (at - t)
    }

    /// The source span of `text[a..b]`; the end maps through the piece that
    /// holds its last byte, so a span never ends on the next line's indent.
    fn span(&self, index: &LineIndex, src: &str, a: usize, b: usize) -> Span {
        let start = self.to_source(a);
        let end = if b > a { self.to_source(b - 1) + 1 } else { start };
        index.span(src, start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_lose_quotes_and_escapes() {
        assert_eq!(decode_flag(r#"--a="b c""#), "--a=b c");
        assert_eq!(decode_flag(r"--a=b\ c"), "--a=b c");
        assert_eq!(decode_flag(r"--a='it\'s'"), "--a=it's");
        assert_eq!(decode_flag("--a=b\\"), "--a=b");
    }

    #[test]
    fn json_strings_decode_like_go() {
        assert_eq!(decode_json_string(r#""a\u0000\/\"""#), "a\0/\"");
        assert_eq!(decode_json_string(r#""\ud83d\ude00""#), "😀");
        assert_eq!(decode_json_string(r#""\ud800x""#), "\u{FFFD}x");
    }

    #[test]
    fn lines_drop_bom_and_carriage_returns() {
        let src = "\u{FEFF}FROM a\r\r\nRUN b";
        let lines = split_lines(src);
        assert_eq!(lines.len(), 2);
        assert_eq!(&src[lines[0].start..lines[0].end], "FROM a");
        assert_eq!(&src[lines[1].start..lines[1].end], "RUN b");
    }
}
