//! A small POSIX-shell reader for RUN scripts: enough structure (commands,
//! the operators between them, subshells, quotes, nested heredocs) for rules
//! that ask "which commands run, in which order, with which words", with
//! every word mapped back to its bytes in the Dockerfile.
//!
//! It is not a shell: it expands nothing and knows the compound commands
//! only well enough to find the simple commands inside them.

use std::ops::Range;

/// What follows a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sep {
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// `;`, `;;` or a newline.
    Seq,
    /// `|` or `|&`.
    Pipe,
    /// `&`: the command runs in the background.
    Background,
    /// The end of the script, a subshell or a substitution.
    End,
}

/// One shell word with its quotes removed and its place in the Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The word without quotes or escapes; `$VAR` and `$(...)` stay as written.
    pub text: String,
    /// Where the word is in the Dockerfile source.
    pub range: Range<usize>,
    /// Whether any part of the word was quoted or escaped.
    pub quoted: bool,
}

/// A simple command: its words (leading `VAR=value` assignments included),
/// the operator after it, and whether it runs in a subshell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The words, assignments first.
    pub words: Vec<Word>,
    /// The operator that follows.
    pub sep: Sep,
    /// Inside `( … )`, `$( … )` or backticks: changes of directory or
    /// environment do not outlive it.
    pub subshell: bool,
}

/// Wrappers that run the command given in their arguments.
const WRAPPERS: &[&str] =
    &["sudo", "env", "nohup", "exec", "time", "command", "nice", "eatmydata", "doas", "builtin"];

impl Command {
    /// The bytes from the first to the last word.
    pub fn range(&self) -> Range<usize> {
        match (self.words.first(), self.words.last()) {
            (Some(first), Some(last)) => first.range.start..last.range.end,
            _ => 0..0,
        }
    }

    /// The words after the leading `VAR=value` assignments.
    pub fn argv(&self) -> &[Word] {
        let skip = self.words.iter().take_while(|w| is_assignment(w)).count();
        &self.words[skip..]
    }

    /// The words of the command that really runs: after assignments and
    /// wrappers such as `sudo -u x`, `env A=b` or `nohup`.
    pub fn effective(&self) -> &[Word] {
        let mut argv = self.argv();
        while let Some(first) = argv.first() {
            let name = basename(&first.text);
            if !WRAPPERS.contains(&name) {
                break;
            }
            let mut i = 1;
            while let Some(w) = argv.get(i) {
                let t = w.text.as_str();
                if t == "--" {
                    i += 1;
                    break;
                }
                if t.starts_with('-') && t.len() > 1 {
                    // Options with a value of their own.
                    let takes_value = match name {
                        "sudo" | "doas" => matches!(t, "-u" | "-g" | "-C" | "-h" | "-p" | "-U"),
                        "nice" => t == "-n",
                        "env" => matches!(t, "-u" | "-C" | "-S"),
                        _ => false,
                    };
                    i += if takes_value { 2 } else { 1 };
                } else if name == "env" && is_assignment(w) {
                    i += 1;
                } else {
                    break;
                }
            }
            argv = argv.get(i..).unwrap_or(&[]);
        }
        argv
    }

    /// The program's name without its directory (`/usr/bin/apt-get` gives
    /// `apt-get`), after assignments and wrappers.
    pub fn program(&self) -> Option<&str> {
        self.effective().first().map(|w| basename(&w.text))
    }

    /// Whether the command (after wrappers) is `name`.
    pub fn is(&self, name: &str) -> bool {
        self.program() == Some(name)
    }

    /// The arguments after the program.
    pub fn args(&self) -> &[Word] {
        self.effective().get(1..).unwrap_or(&[])
    }

    /// The first argument that is not an option, skipping the values of the
    /// options listed in `with_value` (`apt-get -o X=y install` gives
    /// `install` when `-o` is listed).
    pub fn subcommand(&self, with_value: &[&str]) -> Option<&Word> {
        let mut args = self.args().iter();
        while let Some(w) = args.next() {
            if w.text.starts_with('-') {
                if with_value.contains(&w.text.as_str()) {
                    args.next();
                }
                continue;
            }
            return Some(w);
        }
        None
    }

    /// Whether an option is given: `--long`, `--long=…`, or `short` alone or
    /// in a group of short options (`-qy`).
    pub fn has_option(&self, long: &str, short: Option<char>) -> bool {
        self.args().iter().any(|w| {
            let t = w.text.as_str();
            if let Some(rest) = t.strip_prefix("--") {
                return rest == long || rest.strip_prefix(long).is_some_and(|r| r.starts_with('='));
            }
            match (short, t.strip_prefix('-')) {
                (Some(c), Some(group)) => {
                    !group.is_empty()
                        && group.chars().all(|g| g.is_ascii_alphanumeric())
                        && group.contains(c)
                }
                _ => false,
            }
        })
    }

    /// Whether any argument is exactly `text`.
    pub fn has_arg(&self, text: &str) -> bool {
        self.args().iter().any(|w| w.text == text)
    }
}

/// The last path component of a program name.
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_assignment(word: &Word) -> bool {
    let Some((name, _)) = word.text.split_once('=') else { return false };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The simple commands of a script, in the order they run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// Every simple command, those of subshells and substitutions included.
    pub commands: Vec<Command>,
}

impl Script {
    /// Reads the shell text `source[range]` of a RUN line: the Dockerfile's
    /// line continuations (the escape token before a newline) and the comment
    /// and blank lines inside them are removed first, as BuildKit does.
    pub fn from_instruction(source: &str, range: Range<usize>, escape: char) -> Self {
        let (text, map) = logical_line(source, range.clone(), escape);
        let mut script = Script::default();
        Lexer::new(&text, &map, range.end, escape == '\\').list(Stop::End, false, &mut script);
        script
    }

    /// Reads a heredoc body that starts at `start` in the Dockerfile.
    pub fn from_body(body: &str, start: usize) -> Self {
        let map: Vec<usize> = (start..start + body.len()).collect();
        let mut script = Script::default();
        Lexer::new(body, &map, start + body.len(), true).list(Stop::End, false, &mut script);
        script
    }

    /// Appends the commands of another part of the same RUN.
    pub fn extend(&mut self, other: Script) {
        if let Some(last) = self.commands.last_mut()
            && last.sep == Sep::End
        {
            last.sep = Sep::Seq;
        }
        self.commands.extend(other.commands);
    }

    /// The commands outside any subshell.
    pub fn top_level(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter().filter(|c| !c.subshell)
    }

    /// The number of commands that are run one after another at the top:
    /// a pipeline counts once.
    pub fn sequence_len(&self) -> usize {
        // PowerShell and cmd take the rest of the line as their own script.
        if self.commands.first().and_then(Command::program).is_some_and(|p| {
            let p = p.to_ascii_lowercase();
            matches!(p.trim_end_matches(".exe"), "powershell" | "pwsh" | "cmd")
        }) {
            return 1;
        }
        self.top_level().filter(|c| c.sep != Sep::Pipe).count()
    }

    /// Commands by program name.
    pub fn find<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Command> + 's {
        self.commands.iter().filter(move |c| c.is(name))
    }
}

/// The RUN text with continuations removed, and the source offset of each
/// byte.
fn logical_line(source: &str, range: Range<usize>, escape: char) -> (String, Vec<usize>) {
    let text = source.get(range.clone()).unwrap_or("");
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if text[i..].starts_with(escape)
            && let Some(after) = continuation_end(bytes, i + escape.len_utf8())
        {
            i = skip_comment_lines(bytes, after);
            continue;
        }
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + ch_len]);
        map.extend((0..ch_len).map(|k| range.start + i + k));
        i += ch_len;
    }
    (out, map)
}

/// After an escape token: the offset past the newline when only blanks
/// stand between them.
fn continuation_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
        i += 1;
    }
    if bytes.get(i) == Some(&b'\r') {
        i += 1;
    }
    (bytes.get(i) == Some(&b'\n')).then_some(i + 1)
}

/// Skips the comment and blank lines BuildKit drops inside a continuation.
fn skip_comment_lines(bytes: &[u8], mut i: usize) -> usize {
    loop {
        let mut j = i;
        while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\r') {
            j += 1;
        }
        match bytes.get(j) {
            Some(b'#') => {
                while j < bytes.len() && bytes[j] != b'\n' {
                    j += 1;
                }
                if j == bytes.len() {
                    return j;
                }
                i = j + 1;
            }
            Some(b'\n') => i = j + 1,
            _ => return i,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    End,
    Paren,
    Backtick,
}

/// Words that open or close compound commands; skipped where a command
/// name would stand.
const RESERVED: &[&str] =
    &["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time"];

/// Nesting deeper than this is read as plain text, so hostile input cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 64;

struct Lexer<'a> {
    s: &'a [u8],
    text: &'a str,
    map: &'a [usize],
    end: usize,
    pos: usize,
    backticks: bool,
    depth: usize,
    /// Heredoc words seen on the current line, whose bodies follow it.
    pending: Vec<(String, bool)>,
    case_pattern: bool,
    /// Inside `` `…` ``, where the next backtick closes.
    in_backtick: bool,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str, map: &'a [usize], end: usize, backticks: bool) -> Self {
        Self {
            s: text.as_bytes(),
            text,
            map,
            end,
            pos: 0,
            backticks,
            depth: 0,
            pending: Vec::new(),
            case_pattern: false,
            in_backtick: false,
        }
    }

    fn src(&self, i: usize) -> usize {
        self.map.get(i).copied().unwrap_or(self.end)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at(&self, s: &str) -> bool {
        self.s[self.pos..].starts_with(s.as_bytes())
    }

    /// Reads commands until `stop`, appending them to `out`.
    fn list(&mut self, stop: Stop, subshell: bool, out: &mut Script) {
        let mut words: Vec<Word> = Vec::new();
        loop {
            self.skip_blanks();
            let Some(c) = self.peek() else {
                finish(out, &mut words, Sep::End, subshell);
                return;
            };
            match c {
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                b'\n' => {
                    self.pos += 1;
                    finish(out, &mut words, Sep::Seq, subshell);
                    self.skip_heredoc_bodies();
                }
                b';' => {
                    self.pos += 1;
                    if matches!(self.peek(), Some(b';' | b'&')) {
                        self.pos += 1;
                        self.case_pattern = true;
                    }
                    finish(out, &mut words, Sep::Seq, subshell);
                }
                b'&' if self.at("&&") => {
                    self.pos += 2;
                    finish(out, &mut words, Sep::And, subshell);
                }
                b'&' if self.at("&>") => self.redirect(),
                b'&' => {
                    self.pos += 1;
                    finish(out, &mut words, Sep::Background, subshell);
                }
                b'|' if self.at("||") => {
                    self.pos += 2;
                    finish(out, &mut words, Sep::Or, subshell);
                }
                b'|' => {
                    self.pos += if self.at("|&") { 2 } else { 1 };
                    finish(out, &mut words, Sep::Pipe, subshell);
                }
                b'<' | b'>' => self.redirect(),
                b'(' if words.is_empty() && self.depth < MAX_DEPTH => {
                    self.pos += 1;
                    self.depth += 1;
                    self.list(Stop::Paren, true, out);
                    self.depth -= 1;
                }
                b'(' if self.at("()") => self.pos += 2,
                b')' if stop == Stop::Paren => {
                    self.pos += 1;
                    finish(out, &mut words, Sep::End, subshell);
                    return;
                }
                b'`' if stop == Stop::Backtick => {
                    self.pos += 1;
                    finish(out, &mut words, Sep::End, subshell);
                    return;
                }
                b')' => {
                    // A stray `)`, as after a case pattern: ends the command.
                    self.pos += 1;
                    finish(out, &mut words, Sep::Seq, subshell);
                }
                _ => {
                    if words.is_empty() && self.case_pattern {
                        self.case_pattern_skip();
                        continue;
                    }
                    let Some(word) = self.word(out) else { continue };
                    if words.is_empty() && !word.quoted && RESERVED.contains(&word.text.as_str()) {
                        continue;
                    }
                    let is_case_in = word.text == "in"
                        && words.len() == 2
                        && words.first().is_some_and(|w| w.text == "case");
                    words.push(word);
                    if is_case_in {
                        finish(out, &mut words, Sep::Seq, subshell);
                        self.case_pattern = true;
                    }
                }
            }
        }
    }

    fn skip_blanks(&mut self) {
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' || c == b'\r' {
                self.pos += 1;
            } else if c == b'\\' && self.s.get(self.pos + 1) == Some(&b'\n') {
                self.pos += 2;
            } else {
                break;
            }
        }
    }

    /// Skips a case pattern up to its `)`, or ends the case at `esac`.
    fn case_pattern_skip(&mut self) {
        if self.at("esac") && !self.s.get(self.pos + 4).is_some_and(|c| is_word_byte(*c)) {
            self.pos += 4;
            self.case_pattern = false;
            return;
        }
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                b')' => break,
                b'\\' => self.pos += 1,
                b'\'' | b'"' => {
                    while self.peek().is_some_and(|d| d != c) {
                        self.pos += 1;
                    }
                    self.pos += 1;
                }
                b'\n' => break,
                _ => {}
            }
        }
        self.pos = self.pos.min(self.s.len());
        self.case_pattern = false;
    }

    /// Reads a redirection and its target, which are not words of the
    /// command. A `<<WORD` inside a multi-line script queues a body to skip.
    fn redirect(&mut self) {
        let heredoc = self.at("<<") && !self.at("<<<");
        let strip_tabs = self.at("<<-");
        while self.peek().is_some_and(|c| matches!(c, b'<' | b'>' | b'&' | b'|' | b'-')) {
            self.pos += 1;
        }
        // `>&2`, `2>&1`, `>&-`: the target is an fd, already read.
        if matches!(self.s[self.pos - 1], b'&' | b'-') && !heredoc {
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            return;
        }
        self.skip_blanks();
        if self.peek().is_none_or(|c| is_operator(c) || c == b'\n') {
            return;
        }
        let mut ignored = Script::default();
        if let Some(target) = self.word(&mut ignored)
            && heredoc
        {
            self.pending.push((target.text, strip_tabs));
        }
    }

    fn skip_heredoc_bodies(&mut self) {
        for (word, strip_tabs) in std::mem::take(&mut self.pending) {
            while self.pos < self.s.len() {
                let line_end = self.s[self.pos..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(self.s.len(), |n| self.pos + n);
                let mut line = &self.text[self.pos..line_end];
                self.pos = (line_end + 1).min(self.s.len());
                if strip_tabs {
                    line = line.trim_start_matches('\t');
                }
                if line.trim_end_matches('\r') == word {
                    break;
                }
            }
        }
    }

    /// Reads one word; substitutions inside it add their commands to `out`.
    fn word(&mut self, out: &mut Script) -> Option<Word> {
        let start = self.pos;
        let mut text = String::new();
        let mut quoted = false;
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => break,
                c if is_operator(c) => {
                    // A lone digit before a redirection is its fd.
                    if (c == b'<' || c == b'>')
                        && !text.is_empty()
                        && !quoted
                        && text.bytes().all(|b| b.is_ascii_digit())
                    {
                        self.redirect();
                        return None;
                    }
                    break;
                }
                b'\\' => {
                    quoted = true;
                    self.pos += 1;
                    match self.peek() {
                        Some(b'\n') => self.pos += 1,
                        Some(_) => self.push_char(&mut text),
                        None => {}
                    }
                }
                b'\'' => {
                    quoted = true;
                    self.pos += 1;
                    let from = self.pos;
                    while self.peek().is_some_and(|c| c != b'\'') {
                        self.pos += 1;
                    }
                    text.push_str(&self.text[from..self.pos]);
                    self.pos = (self.pos + 1).min(self.s.len());
                }
                b'"' => {
                    quoted = true;
                    self.pos += 1;
                    self.double_quoted(&mut text, out);
                }
                b'$' => self.dollar(&mut text, out),
                b'`' if self.in_backtick => break,
                b'`' if self.backticks => {
                    let from = self.pos;
                    self.pos += 1;
                    self.nested(Stop::Backtick, out);
                    text.push_str(&self.text[from..self.pos]);
                }
                _ => self.push_char(&mut text),
            }
        }
        if self.pos == start {
            // Never loop on a byte no rule consumes.
            self.pos += 1;
            return None;
        }
        Some(Word { text, range: self.src(start)..self.src_end(self.pos), quoted })
    }

    /// The source offset just past logical byte `i - 1`.
    fn src_end(&self, i: usize) -> usize {
        if i == 0 { self.src(0) } else { self.src(i - 1) + 1 }
    }

    fn push_char(&mut self, text: &mut String) {
        let len = self.text[self.pos..].chars().next().map_or(1, char::len_utf8);
        text.push_str(&self.text[self.pos..self.pos + len]);
        self.pos += len;
    }

    fn double_quoted(&mut self, text: &mut String, out: &mut Script) {
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    self.pos += 1;
                    return;
                }
                b'\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'\n') => self.pos += 1,
                        Some(b'"' | b'\\' | b'$' | b'`') => self.push_char(text),
                        Some(_) => text.push('\\'),
                        None => {}
                    }
                }
                b'$' => self.dollar(text, out),
                b'`' if self.backticks => {
                    let from = self.pos;
                    self.pos += 1;
                    self.nested(Stop::Backtick, out);
                    text.push_str(&self.text[from..self.pos]);
                }
                _ => self.push_char(text),
            }
        }
    }

    /// `$name`, `${…}`, `$(…)` or `$((…))`, kept as written.
    fn dollar(&mut self, text: &mut String, out: &mut Script) {
        let from = self.pos;
        self.pos += 1;
        if self.at("((") {
            self.skip_balanced(b'(', b')');
        } else if self.peek() == Some(b'(') {
            self.pos += 1;
            self.nested(Stop::Paren, out);
        } else if self.peek() == Some(b'{') {
            self.skip_balanced(b'{', b'}');
        }
        text.push_str(&self.text[from..self.pos]);
    }

    fn nested(&mut self, stop: Stop, out: &mut Script) {
        if self.depth >= MAX_DEPTH {
            let close = if stop == Stop::Paren { b')' } else { b'`' };
            while self.peek().is_some_and(|c| c != close) {
                self.pos += 1;
            }
            self.pos = (self.pos + 1).min(self.s.len());
            return;
        }
        self.depth += 1;
        let case_pattern = std::mem::take(&mut self.case_pattern);
        let in_backtick = std::mem::replace(&mut self.in_backtick, stop == Stop::Backtick);
        self.list(stop, true, out);
        self.in_backtick = in_backtick;
        self.case_pattern = case_pattern;
        self.depth -= 1;
    }

    /// Skips from an opening bracket to its match, quotes respected.
    fn skip_balanced(&mut self, open: u8, close: u8) {
        let mut level = 0usize;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                b'\\' => self.pos = (self.pos + 1).min(self.s.len()),
                b'\'' => {
                    while self.peek().is_some_and(|d| d != b'\'') {
                        self.pos += 1;
                    }
                    self.pos = (self.pos + 1).min(self.s.len());
                }
                c if c == open => level += 1,
                c if c == close => {
                    level = level.saturating_sub(1);
                    if level == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}

fn finish(out: &mut Script, words: &mut Vec<Word>, sep: Sep, subshell: bool) {
    if !words.is_empty() {
        out.commands.push(Command { words: std::mem::take(words), sep, subshell });
    } else if let Some(last) = out.commands.last_mut()
        && matches!(sep, Sep::And | Sep::Or | Sep::Pipe | Sep::Background)
        && last.sep == Sep::End
    {
        // `( … ) && next`: the operator follows the subshell.
        last.sep = sep;
    }
}

fn is_operator(c: u8) -> bool {
    matches!(c, b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>')
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(src: &str) -> Vec<(String, Sep, bool)> {
        Script::from_instruction(src, 0..src.len(), '\\')
            .commands
            .iter()
            .map(|c| {
                (
                    c.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "),
                    c.sep,
                    c.subshell,
                )
            })
            .collect()
    }

    #[test]
    fn operators_split_commands_but_quotes_do_not() {
        let got = programs(r#"apt-get update && echo "a && b; c" | tee x; ls 'd|e' || true &"#);
        assert_eq!(
            got,
            [
                ("apt-get update".into(), Sep::And, false),
                ("echo a && b; c".into(), Sep::Pipe, false),
                ("tee x".into(), Sep::Seq, false),
                ("ls d|e".into(), Sep::Or, false),
                ("true".into(), Sep::Background, false),
            ]
        );
    }

    #[test]
    fn continuations_and_their_comment_lines_are_removed_and_spans_kept() {
        let src = "cd /x \\\n  # note\n  && make \\\n\n  install";
        let script = Script::from_instruction(src, 0..src.len(), '\\');
        let make = &script.commands[1];
        assert_eq!(
            make.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(),
            ["make", "install"]
        );
        assert_eq!(&src[make.words[0].range.clone()], "make");
        assert_eq!(&src[make.words[1].range.clone()], "install");
    }

    #[test]
    fn subshells_and_substitutions_are_marked() {
        let got = programs("(cd /x && make) && V=$(cd /y; pwd) sh -c `id -u`");
        let flags: Vec<_> = got.iter().map(|(w, _, s)| (w.as_str(), *s)).collect();
        assert_eq!(
            flags,
            [
                ("cd /x", true),
                ("make", true),
                ("cd /y", true),
                ("pwd", true),
                ("id -u", true),
                ("V=$(cd /y; pwd) sh -c `id -u`", false)
            ]
        );
        assert_eq!(got[1].1, Sep::And);
    }

    #[test]
    fn redirections_are_not_words_and_heredoc_bodies_are_skipped() {
        let body =
            "cat > /etc/x <<'EOF'\ncd /nowhere && rm -rf /\nEOF\necho done 2>&1 >/dev/null\n";
        let script = Script::from_body(body, 100);
        let words: Vec<Vec<&str>> = script
            .commands
            .iter()
            .map(|c| c.words.iter().map(|w| w.text.as_str()).collect())
            .collect();
        assert_eq!(words, [vec!["cat"], vec!["echo", "done"]]);
        assert_eq!(script.commands[1].words[0].range, 100 + 49..100 + 53);
    }

    #[test]
    fn compound_commands_yield_their_simple_commands() {
        let got = programs(
            "if [ -n \"$x\" ]; then apk add foo; else echo no; fi; \
             case \"$a\" in amd64) x=1 ;; arm64|aarch64) cd /y ;; esac; for f in a b; do rm $f; done",
        );
        let names: Vec<_> = got.iter().map(|(w, _, _)| w.as_str()).collect();
        assert_eq!(
            names,
            [
                "[ -n $x ]",
                "apk add foo",
                "echo no",
                "case $a in",
                "x=1",
                "cd /y",
                "for f in a b",
                "rm $f"
            ]
        );
    }

    #[test]
    fn wrappers_and_assignments_are_looked_through() {
        let s =
            "DEBIAN_FRONTEND=noninteractive sudo -u root env A=1 /usr/bin/apt-get -qy install x";
        let script = Script::from_instruction(s, 0..s.len(), '\\');
        let c = &script.commands[0];
        assert_eq!(c.program(), Some("apt-get"));
        assert_eq!(c.subcommand(&["-o"]).map(|w| w.text.as_str()), Some("install"));
        assert!(c.has_option("yes", Some('y')));
        assert!(!c.has_option("no-install-recommends", None));
    }
}
