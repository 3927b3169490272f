//! BuildKit's shell-word lexer: quote removal, escapes and `$VAR` expansion
//! for the words of a Dockerfile instruction, with the behaviour of BuildKit's
//! `frontend/dockerfile/shell/lex.go`, quirks included.
//!
//! The parts:
//! * `lexer`: the walk over one word (quotes, escapes, `$`).
//! * `glob`: the patterns of `#`, `%` and `/`, matched as Go's RE2 would
//!   match the regex BuildKit builds from them.
//! * `unicode`: Go's idea of a letter and a digit in names.

mod glob;
mod lexer;
mod unicode;

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash};

/// Variable lookup for expansion (BuildKit's `EnvGetter`), so callers can keep
/// their variables in whatever collection suits them.
///
/// Names are compared exactly (case-sensitively), as BuildKit does on every
/// platform but Windows.
pub trait Env {
    /// The value of `name`, or `None` when the variable is not set (which
    /// differs from set-but-empty for `${a-b}`, `${a+b}` and `${a?b}`).
    fn get(&self, name: &str) -> Option<&str>;
}

impl<E: Env + ?Sized> Env for &E {
    fn get(&self, name: &str) -> Option<&str> {
        E::get(self, name)
    }
}

impl<K, V, S> Env for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(AsRef::as_ref)
    }
}

impl<K, V> Env for BTreeMap<K, V>
where
    K: Borrow<str> + Ord,
    V: AsRef<str>,
{
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(AsRef::as_ref)
    }
}

/// Pairs in order: the last pair with the name wins, as in a Docker env list.
impl<K: AsRef<str>, V: AsRef<str>> Env for [(K, V)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(key, _)| key.as_ref() == name).map(|(_, value)| value.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Env for [(K, V); N] {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Env for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

/// Looks `name` up in `K=V` strings, the last one winning; a string without
/// `=` sets its whole text to the empty value (BuildKit's `EnvsFromSlice`).
fn get_from_assignments<'e, T: AsRef<str> + 'e>(list: &'e [T], name: &str) -> Option<&'e str> {
    list.iter().rev().find_map(|entry| {
        let entry = entry.as_ref();
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        (key == name).then_some(value)
    })
}

impl Env for [&str] {
    fn get(&self, name: &str) -> Option<&str> {
        get_from_assignments(self, name)
    }
}

impl Env for [String] {
    fn get(&self, name: &str) -> Option<&str> {
        get_from_assignments(self, name)
    }
}

impl<const N: usize> Env for [&str; N] {
    fn get(&self, name: &str) -> Option<&str> {
        get_from_assignments(self, name)
    }
}

impl<const N: usize> Env for [String; N] {
    fn get(&self, name: &str) -> Option<&str> {
        get_from_assignments(self, name)
    }
}

impl Env for Vec<&str> {
    fn get(&self, name: &str) -> Option<&str> {
        get_from_assignments(self, name)
    }
}

impl Env for Vec<String> {
    fn get(&self, name: &str) -> Option<&str> {
        get_from_assignments(self, name)
    }
}

/// Expands Dockerfile words exactly as BuildKit's shell lexer (`shell.Lex`)
/// does, so rbuild sees the same values BuildKit would build with.
///
/// A lexer is a small `Copy` value; it holds settings only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellLexer {
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    skip_process_quotes: bool,
    skip_unset_env: bool,
}

impl Default for ShellLexer {
    /// The lexer for a Dockerfile without an `# escape=` directive.
    fn default() -> Self {
        Self::new('\\')
    }
}

/// The result of [`ShellLexer::process_word_with_matches`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded word, quotes removed.
    pub value: String,
    /// Names the word looked up that were set, so unused build args can be
    /// reported (BuildKit's `Matched`).
    pub matched: BTreeSet<String>,
    /// Names the word looked up that were not set, for warnings about
    /// undefined variables (BuildKit's `Unmatched`).
    pub unmatched: BTreeSet<String>,
}

/// Why a word could not be expanded, with where, so a caller can point at it.
///
/// The message is BuildKit's, without its `failed to process "<word>": `
/// prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ShellError {
    kind: ErrorKind,
    offset: usize,
}

impl ShellError {
    /// Byte offset in the word where the problem is: the opening quote or
    /// `$` of an unterminated quote or `${`, the `$` of a failed `${a?msg}`,
    /// the modifier character of an unsupported modifier, or the start of an
    /// invalid pattern.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// The kinds of [`ShellError`], with BuildKit's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ErrorKind {
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    #[error("{name}: {message}")]
    Mandatory { name: String, message: String },
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("substitutions and quotes nested more than {} deep", lexer::MAX_NESTING)]
    TooDeep,
}

impl ShellLexer {
    /// A lexer with the Dockerfile's escape token (`\` by default, or a
    /// backtick after an `# escape` directive), with BuildKit's default options.
    pub fn new(escape: char) -> Self {
        Self {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Keeps quote characters in the output (BuildKit's `RawQuotes`), for
    /// callers that expand a word but leave the quoting to a later stage.
    pub fn raw_quotes(self, yes: bool) -> Self {
        Self { raw_quotes: yes, ..self }
    }

    /// Keeps escape tokens in the output (BuildKit's `RawEscapes`), as
    /// BuildKit's parser does when it looks for heredoc markers in a line.
    pub fn raw_escapes(self, yes: bool) -> Self {
        Self { raw_escapes: yes, ..self }
    }

    /// Treats `'` and `"` as ordinary characters (BuildKit's
    /// `SkipProcessQuotes`), for text such as heredoc bodies where quotes
    /// belong to the content.
    pub fn skip_process_quotes(self, yes: bool) -> Self {
        Self { skip_process_quotes: yes, ..self }
    }

    /// Leaves references to unset variables as written (BuildKit's
    /// `SkipUnsetEnv`), for expanding in stages as more variables get known.
    pub fn skip_unset_env(self, yes: bool) -> Self {
        Self { skip_unset_env: yes, ..self }
    }

    /// Expands one word into one string, without field splitting
    /// (BuildKit's `ProcessWord`), as for `ENV`, `WORKDIR` or `FROM`.
    pub fn process_word(
        &self,
        word: &str,
        env: &(impl Env + ?Sized),
    ) -> Result<String, ShellError> {
        Ok(lexer::Machine::new(self, word, env).run()?.value)
    }

    /// Expands one word and also reports the variables it referenced
    /// (BuildKit's `ProcessWordWithMatches`), for unused-arg and
    /// undefined-variable checks.
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &(impl Env + ?Sized),
    ) -> Result<Expansion, ShellError> {
        let outcome = lexer::Machine::new(self, word, env).run()?;
        Ok(Expansion {
            value: outcome.value,
            matched: outcome.matched,
            unmatched: outcome.unmatched,
        })
    }

    /// Expands then splits into fields on unquoted white space (BuildKit's
    /// `ProcessWords`), as for the words of a shell-form command.
    ///
    /// Empty fields are dropped, even quoted ones (`""`). Like BuildKit, the
    /// part of a field before a `${VAR<op>word}` or `${VAR/a/b}` form is lost:
    /// `a${X:-b}` gives `["b"]`.
    pub fn process_words(
        &self,
        word: &str,
        env: &(impl Env + ?Sized),
    ) -> Result<Vec<String>, ShellError> {
        Ok(lexer::Machine::new(self, word, env).run()?.words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: [(&str, &str); 4] =
        [("PWD", "/home"), ("SHELL", "bash"), ("EMPTY", ""), ("SPACE", "a  b")];

    fn word(input: &str) -> Result<String, ShellError> {
        ShellLexer::default().process_word(input, &ENV)
    }

    fn words(input: &str) -> Vec<String> {
        ShellLexer::default().process_words(input, &ENV).unwrap()
    }

    fn err(input: &str) -> ShellError {
        word(input).unwrap_err()
    }

    #[test]
    fn backtick_escape_token_escapes_and_leaves_backslash_literal() {
        let lexer = ShellLexer::new('`');
        assert_eq!(lexer.process_word("C:\\dir\\$PWD", &ENV).unwrap(), "C:\\dir\\/home");
        assert_eq!(lexer.process_word("a`$PWD``", &ENV).unwrap(), "a$PWD`");
        assert_eq!(lexer.process_word("\"a`\"b\\c\"", &ENV).unwrap(), "a\"b\\c");
    }

    #[test]
    fn escape_token_inside_double_quotes_only_escapes_quote_dollar_and_itself() {
        assert_eq!(word(r#""a\tb\"\$\\""#).unwrap(), r#"a\tb"$\"#);
    }

    #[test]
    fn trailing_escape_token_is_dropped() {
        assert_eq!(word("abc\\").unwrap(), "abc");
    }

    #[test]
    fn error_offsets_point_at_the_unterminated_construct() {
        let e = err("ab\"cd");
        assert_eq!(e.offset(), 2);
        assert_eq!(
            e.to_string(),
            "unexpected end of statement while looking for matching double-quote"
        );
        let e = err("한'x");
        assert_eq!(e.offset(), "한".len());
        assert_eq!(
            e.to_string(),
            "unexpected end of statement while looking for matching single-quote"
        );
        let e = err("xy${PWD:-abc");
        assert_eq!((e.offset(), e.to_string().as_str()), (2, "syntax error: missing '}'"));
        let e = err("x${PWD");
        assert_eq!((e.offset(), e.to_string().as_str()), (1, "syntax error: missing '}'"));
        let e = err("${PWD/abc");
        assert_eq!((e.offset(), e.to_string().as_str()), (0, "syntax error: missing '/' in ${}"));
        let e = err("a${}");
        assert_eq!((e.offset(), e.to_string().as_str()), (3, "syntax error: bad substitution"));
        let e = err("${PWD:=x}");
        assert_eq!(
            (e.offset(), e.to_string().as_str()),
            (5, "unsupported modifier (:=) in substitution")
        );
        let e = err("${PWD=x}");
        assert_eq!(e.to_string(), "unsupported modifier (=) in substitution");
        let e = err("${PWD:#x}");
        assert_eq!(e.to_string(), "unsupported modifier (:#) in substitution");
    }

    #[test]
    fn mandatory_variables_report_name_and_message() {
        assert_eq!(err("${NOPE?}").to_string(), "NOPE: is not allowed to be unset");
        assert_eq!(err("${EMPTY:?}").to_string(), "EMPTY: is not allowed to be empty");
        let e = err("ab${NOPE:?set it ($SHELL)}");
        assert_eq!((e.offset(), e.to_string().as_str()), (2, "NOPE: set it (bash)"));
        assert_eq!(word("${EMPTY?}").unwrap(), "");
    }

    #[test]
    fn error_inside_unterminated_substitution_is_reported_as_missing_brace() {
        assert_eq!(err("${A:-${B?oops}").to_string(), "syntax error: missing '}'");
        assert_eq!(err("${A:-${B?oops}}").to_string(), "B: oops");
        assert_eq!(err("${A:-\"abc}").to_string(), "syntax error: missing '}'");
    }

    #[test]
    fn special_and_positional_parameters_are_looked_up_and_unset() {
        let expansion = ShellLexer::default()
            .process_word_with_matches("$1$@$$${#}$0x${10}${?:-q}", &ENV)
            .unwrap();
        // `$0x` is `$0` then `x`: a positional name is digits only.
        assert_eq!(expansion.value, "xq");
        let names: Vec<&str> = expansion.unmatched.iter().map(String::as_str).collect();
        assert_eq!(names, ["#", "$", "0", "1", "10", "?", "@"]);
        assert!(expansion.matched.is_empty());
    }

    #[test]
    fn dollar_before_non_name_character_is_literal() {
        assert_eq!(word("$.$/$ $").unwrap(), "$.$/$ $");
        assert_eq!(
            word("${#PWD}").unwrap_err().to_string(),
            "unsupported modifier (P) in substitution"
        );
    }

    #[test]
    fn names_use_go_letters_and_digits() {
        let env = [("é", "1"), ("x", "2")];
        // U+0301 (combining acute) is alphabetic in Rust but not a letter in Go.
        assert_eq!(ShellLexer::default().process_word("$é", &env).unwrap(), "1");
        assert_eq!(ShellLexer::default().process_word("$x\u{301}", &env).unwrap(), "2\u{301}");
        // U+00B2 (superscript two) is numeric in Rust but not a digit in Go.
        assert_eq!(ShellLexer::default().process_word("$²", &env).unwrap(), "$²");
        // U+0663 (Arabic-Indic three) is a Go digit: a positional parameter.
        assert_eq!(ShellLexer::default().process_word("$\u{663}x", &env).unwrap(), "x");
    }

    #[test]
    fn pattern_modifiers_match_like_buildkit() {
        let env = [("F", "a/b/c.tar.gz"), ("NL", "ab\ncd")];
        let w = |input: &str| ShellLexer::default().process_word(input, &env).unwrap();
        assert_eq!(w("${F#*/}"), "b/c.tar.gz");
        assert_eq!(w("${F##*/}"), "c.tar.gz");
        assert_eq!(w("${F%.*}"), "a/b/c.tar");
        assert_eq!(w("${F%%.*}"), "a/b/c");
        assert_eq!(w("${F/\\//-}"), "a-b/c.tar.gz");
        assert_eq!(w("${F//\\//-}"), "a-b-c.tar.gz");
        assert_eq!(w("${F//[a]/x}"), "a/b/c.tar.gz");
        // `*` stops at a newline, as Go's `.` does.
        assert_eq!(w("${NL#*}"), "ab\ncd");
        assert_eq!(w("${NL##*}"), "\ncd");
        assert_eq!(w("${NL//?/.}"), "..\n..");
        // Go's ReplaceAllString expands `$0` in the replacement.
        assert_eq!(w("${F//?/'<$0>'}"), "<a></><b></><c><.><t><a><r><.><g><z>");
    }

    #[test]
    fn invalid_pattern_is_an_error() {
        let e = err("${PWD#\\x}");
        assert_eq!(e.to_string(), "invalid pattern (\\x) in substitution: invalid escape '\\x'");
        assert_eq!(e.offset(), 5);
    }

    #[test]
    fn skip_unset_env_leaves_unset_references_as_written() {
        let lexer = ShellLexer::default().skip_unset_env(true);
        let w = |input: &str| lexer.process_word(input, &ENV).unwrap();
        assert_eq!(w("$NOPE-${NOPE}-$PWD"), "$NOPE-${NOPE}-/home");
        assert_eq!(w("${NOPE:-a b}"), "${NOPE:-a b}");
        assert_eq!(w("${NOPE?}"), "${NOPE?}");
        assert_eq!(w("${NOPE//a/b}"), "${NOPE/a/b}");
        // BuildKit only checks the modifier after the unset check.
        assert_eq!(w("${NOPE:xyz}"), "${NOPE:xyz}");
    }

    #[test]
    fn raw_quotes_keeps_quote_characters() {
        let lexer = ShellLexer::default().raw_quotes(true);
        assert_eq!(
            lexer.process_word(r#"a"b $PWD"'c $PWD'"#, &ENV).unwrap(),
            r#"a"b /home"'c $PWD'"#
        );
        assert_eq!(lexer.process_words(r#"a "b c""#, &ENV).unwrap(), ["a", "\"b c\""]);
    }

    #[test]
    fn raw_escapes_keeps_escape_tokens_as_buildkit_heredoc_scan_does() {
        let lexer = ShellLexer::default().raw_quotes(true).raw_escapes(true);
        let got = lexer.process_words(r#"a\ b "c\"d" 'e\f' $PWD"#, &ENV).unwrap();
        assert_eq!(got, [r#"a\ b"#, r#""c\"d""#, r#"'e\f'"#, "/home"]);
        // Before any other character inside double quotes the token is
        // written twice, as in BuildKit.
        assert_eq!(lexer.process_word(r#""a\tb""#, &ENV).unwrap(), r#""a\\tb""#);
        // The word of `${VAR:-word}` is read without raw escapes.
        assert_eq!(lexer.process_word(r"${NOPE:-\x}\y", &ENV).unwrap(), r"x\y");
    }

    #[test]
    fn skip_process_quotes_leaves_quotes_as_text() {
        let lexer = ShellLexer::default().skip_process_quotes(true);
        assert_eq!(lexer.process_word(r#"'$PWD' "a b""#, &ENV).unwrap(), r#"'/home' "a b""#);
        assert_eq!(
            lexer.process_words(r#"'$PWD' "a b""#, &ENV).unwrap(),
            ["'/home'", "\"a", "b\""]
        );
    }

    #[test]
    fn words_split_unquoted_expansions_only() {
        assert_eq!(words("x${SPACE}y \"${SPACE}\" '' \"\""), ["xa", "by", "a  b"]);
        assert_eq!(words("a\\ b  c"), ["a b", "c"]);
    }

    #[test]
    fn words_lose_the_prefix_before_a_nested_word_like_buildkit() {
        // BuildKit's shared word buffer is cleared by the nested word.
        assert_eq!(words("pre${NOPE:-mid}post"), ["midpost"]);
        assert_eq!(words("a b${PWD#/}"), ["a", "home"]);
        assert_eq!(words("pre\"${PWD:+x}\""), ["x"]);
        // The plain forms have no nested word and keep the prefix.
        assert_eq!(words("pre${PWD}post"), ["pre/homepost"]);
        // `process_word` is unaffected.
        assert_eq!(word("pre${NOPE:-mid}post").unwrap(), "premidpost");
    }

    #[test]
    fn leading_byte_order_mark_is_skipped() {
        assert_eq!(word("\u{FEFF}$PWD").unwrap(), "/home");
        assert_eq!(word("a\u{FEFF}").unwrap(), "a\u{FEFF}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let depth = lexer::MAX_NESTING + 5;
        let deep = format!("{}x{}", "${A:-".repeat(depth), "}".repeat(depth));
        assert_eq!(err(&deep).to_string(), "substitutions and quotes nested more than 64 deep");
        let ok = format!(
            "{}x{}",
            "${A:-".repeat(lexer::MAX_NESTING - 1),
            "}".repeat(lexer::MAX_NESTING - 1)
        );
        assert_eq!(word(&ok).unwrap(), "x");
        let quotes = format!("{}x{}", "\"${A:-".repeat(depth), "}\"".repeat(depth));
        assert!(word(&quotes).is_err());
    }

    #[test]
    fn env_lists_let_the_last_entry_win() {
        let pairs = vec![("A".to_owned(), "1".to_owned()), ("A".to_owned(), "2".to_owned())];
        assert_eq!(ShellLexer::default().process_word("$A", &pairs).unwrap(), "2");
        let assignments = ["A=1", "B", "A=x=y"];
        let lexer = ShellLexer::default();
        assert_eq!(
            lexer.process_word("$A|${B-unset}|${C-unset}", &assignments).unwrap(),
            "x=y||unset"
        );
        let map: HashMap<&str, &str> = HashMap::from([("A", "m")]);
        assert_eq!(lexer.process_word("$A", &map).unwrap(), "m");
        let tree: BTreeMap<String, String> = BTreeMap::from([("A".to_owned(), "t".to_owned())]);
        assert_eq!(lexer.process_word("$A", &tree).unwrap(), "t");
        let slice: &[(&str, &str)] = &[];
        assert_eq!(lexer.process_word("${A:-none}", slice).unwrap(), "none");
    }
}
