//! Heredoc words on an instruction line: `<<EOF`, `<<-EOF`, `3<<'EOF'`.

use std::ops::Range;

use crate::ast::Heredoc;
use crate::shell::ShellLexer;
use crate::span::Span;

/// The heredocs a logical line opens, in order, each with the byte range of
/// its word in the line. The body is filled in by the caller.
///
/// As BuildKit: the line is split into words by the shell lexer with `\` as
/// escape whatever the directive says, keeping quotes and escapes and
/// leaving variables alone; a line the lexer rejects opens no heredoc. A
/// word `<<` or `<<-` takes the next word as its name (`RUN <<- EOF`).
pub(crate) fn find(line: &str) -> Result<Vec<(Range<usize>, Heredoc)>, String> {
    // Raw words are the line's own text, so no `<<` in the line means no heredoc.
    if !line.contains("<<") {
        return Ok(Vec::new());
    }
    let raw = ShellLexer::new('\\').raw_quotes(true).raw_escapes(true).skip_unset_env(true);
    let Ok(words) = raw.process_words(line, &[] as &[(&str, &str)]) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    let mut cursor = 0;
    let mut i = 0;
    while i < words.len() {
        let marker = &words[i];
        i += 1;
        if !marker.contains("<<") {
            continue;
        }
        let start = locate(line, marker, cursor);
        let mut end = start + marker.len();
        let mut word = marker.clone();
        if is_bare_marker(marker) && i < words.len() {
            end = locate(line, &words[i], end) + words[i].len();
            word = format!("{marker} {}", words[i]);
            i += 1;
        }
        cursor = end.min(line.len());
        if let Some(doc) = parse_word(&word)? {
            found.push((start..cursor, doc));
        }
    }
    Ok(found)
}

/// `\d*<<-?` with nothing after it.
fn is_bare_marker(word: &str) -> bool {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    rest == "<<" || rest == "<<-"
}

/// Where `word` starts in `line`, searching from `from`; the lexer keeps
/// words verbatim in raw mode, so they are found as written.
fn locate(line: &str, word: &str, from: usize) -> usize {
    let from = from.min(line.len());
    line.get(from..).and_then(|rest| rest.find(word)).map_or(from, |i| from + i)
}

/// `^(\d*)<<(-?)\s*([^<]*)$` on one raw word, then the name unquoted:
/// `ParseHeredoc`. `Ok(None)` when the word is no heredoc.
pub(crate) fn parse_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let chomp = after.starts_with('-');
    let after = if chomp { &after[1..] } else { after };
    let rest = after.trim_start_matches([' ', '\t', '\n', '\u{c}', '\r']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    // Go's ParseUint with the error ignored: too large gives the maximum.
    let fd = if digits == 0 { 0 } else { word[..digits].parse::<u64>().unwrap_or(u64::MAX) };
    let env: &[(&str, &str)] = &[];
    let lexer = ShellLexer::new('\\').skip_unset_env(true);
    let words = lexer.process_words(rest, env).map_err(|e| e.to_string())?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw_words = lexer.raw_quotes(true).process_words(rest, env).map_err(|e| e.to_string())?;
    let [raw_name] = raw_words.as_slice() else {
        return Err(format!("internal lexing of heredoc produced inconsistent results: {rest}"));
    };
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    Ok(Some(Heredoc {
        name: name.clone(),
        fd,
        expand: quotes(name) == quotes(raw_name),
        chomp,
        content: String::new(),
        word_span: Span::default(),
        body_span: Span::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `heredoc_word` from the conformance data: single words as
    /// BuildKit's `ParseHeredoc` sees them.
    #[test]
    fn words_match_buildkit_head() {
        let Some(dir) = rbuild_test::conformance("buildkit-parser/heredoc") else { return };
        let text = std::fs::read_to_string(dir.join("heredoc_words.json")).unwrap();
        let table: serde_json::Value = serde_json::from_str(&text).unwrap();
        let table = &table["heredoc_word"];
        let words = |key: &str| {
            table[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        for word in words("valid_name_EOF") {
            let doc = parse_word(&word).unwrap().unwrap_or_else(|| panic!("{word}"));
            assert_eq!(doc.name, "EOF", "{word}");
        }
        for word in words("invalid") {
            assert!(parse_word(&word).is_err(), "{word}");
        }
        for word in words("not_heredoc") {
            assert!(parse_word(&word).unwrap().is_none(), "{word}");
        }
    }

    #[test]
    fn quoting_any_part_disables_expansion() {
        assert!(parse_word("<<EOF").unwrap().unwrap().expand);
        assert!(!parse_word("<<'EOF'").unwrap().unwrap().expand);
        assert!(!parse_word("<<eo'f'").unwrap().unwrap().expand);
        let doc = parse_word("3<<-X").unwrap().unwrap();
        assert_eq!((doc.fd, doc.chomp, doc.name.as_str()), (3, true, "X"));
    }
}
