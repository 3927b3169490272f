//! Conformance of `ShellLexer` with BuildKit's own shell-lexer test data
//! (`shared/conformance/buildkit-shell/`, see its README for the formats),
//! plus a property test that no input makes the lexer panic.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rbuild_syntax::{ShellError, ShellLexer};
use serde_json::Value;

/// The shell conformance folder, or `None` (with a note on stderr) when
/// this checkout has no `shared/` beside it.
fn data_dir() -> Option<PathBuf> {
    rbuild_test::conformance("buildkit-shell")
}

fn read(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// `envVarTest`: `PLATFORM|INPUT|EXPECTED`, one word to one string.
#[test]
fn buildkit_env_var_test() {
    let Some(dir) = data_dir() else {
        return;
    };
    let text = read(&dir, "envVarTest");
    let env = [("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")];
    let lexer = ShellLexer::new('\\');

    let (mut cases, mut run, mut windows_only) = (0, 0, 0);
    let mut failures = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        assert_eq!(fields.len(), 3, "line {number}: {line:?}");
        let (platform, input, expected) = (fields[0], fields[1], fields[2]);
        cases += 1;
        match platform {
            "W" => {
                windows_only += 1;
                continue;
            }
            "A" | "U" => {}
            other => panic!("line {number}: unknown platform {other:?}"),
        }
        run += 1;
        let got = lexer.process_word(input, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(value), expected) => expected != "error" && value == expected,
            (Err(_), _) => false,
        };
        if !ok {
            failures.push(format!("line {number}: {input:?} gave {got:?}, want {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!((cases, windows_only), (230, 2));
    assert_eq!(run, 228);
}

/// `wordsTest`: `INPUT | WORD,WORD,...` with `ENV k=v` lines adding to the
/// environment as the file goes.
#[test]
fn buildkit_words_test() {
    let Some(dir) = data_dir() else {
        return;
    };
    let text = read(&dir, "wordsTest");
    let lexer = ShellLexer::new('\\');
    // "K=V" strings, later ones winning, as BuildKit's EnvsFromSlice.
    let mut env: Vec<String> = Vec::new();

    let mut run = 0;
    let mut failures = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        if line.starts_with('#') {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("ENV ") {
            env.push(assignment.trim_start_matches(' ').to_owned());
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(parts.len(), 2, "line {number}: {line:?}");
        let input = parts[0].trim();
        let expected: Vec<&str> = parts[1].trim_start_matches(' ').split(',').collect();
        run += 1;
        let got = match lexer.process_words(input, &env) {
            Ok(words) => words,
            Err(_) => vec!["error".to_owned()],
        };
        if got != expected {
            failures.push(format!("line {number}: {input:?} gave {got:?}, want {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(run, 24);
}

fn name_set(case: &Value, key: &str) -> Option<BTreeSet<String>> {
    let names = case.get(key)?.as_array()?;
    Some(names.iter().map(|n| n.as_str().expect("names are strings").to_owned()).collect())
}

/// `expansion_cases.json`: cases transcribed from `lex_test.go`, run through
/// `process_word_with_matches`.
#[test]
fn buildkit_expansion_cases() {
    let Some(dir) = data_dir() else {
        return;
    };
    let doc: Value = serde_json::from_str(&read(&dir, "expansion_cases.json")).expect("valid JSON");
    let cases = doc["cases"].as_array().expect("a `cases` list");
    let lexer = ShellLexer::new('\\');

    let (mut values, mut errors, mut name_checks) = (0, 0, 0);
    let mut failures = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let input = case["input"].as_str().expect("input");
        let env: BTreeMap<String, String> = case["env"]
            .as_object()
            .expect("env")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_owned()))
            .collect();
        let got = lexer.process_word_with_matches(input, &env);
        if case.get("expected_error").and_then(Value::as_bool) == Some(true) {
            errors += 1;
            if got.is_ok() {
                failures.push(format!("case {index} {input:?}: want an error, got {got:?}"));
            }
            continue;
        }
        values += 1;
        let expected = case["expected"].as_str().expect("expected");
        let expansion = match got {
            Ok(expansion) => expansion,
            Err(e) => {
                failures.push(format!("case {index} {input:?}: want {expected:?}, got error {e}"));
                continue;
            }
        };
        if expansion.value != expected {
            failures.push(format!(
                "case {index} {input:?}: want {expected:?}, got {:?}",
                expansion.value
            ));
        }
        for (key, actual) in [("matched", &expansion.matched), ("unmatched", &expansion.unmatched)]
        {
            if let Some(want) = name_set(case, key) {
                name_checks += 1;
                if &want != actual {
                    failures
                        .push(format!("case {index} {input:?}: {key} {actual:?}, want {want:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!((values + errors, errors), (56, 16));
    assert_eq!(name_checks, 68);
}

/// The BuildKit messages that must carry the user's text.
#[test]
fn mandatory_variable_message_carries_expanded_text() {
    let lexer = ShellLexer::new('\\');
    for env in [&[("VAR", ""), ("ARG", "x")][..], &[("ARG", "x")][..]] {
        let err: ShellError = lexer.process_word("${VAR:?message here$ARG}", env).unwrap_err();
        assert!(err.to_string().contains("message herex"), "{err}");
    }
    let err = lexer.process_word("${VAR?message here$ARG}", &[("ARG", "x")]).unwrap_err();
    assert_eq!(err.to_string(), "VAR: message herex");
}

/// Pieces that exercise every branch of the lexer when strung together.
fn tricky_word() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("$".to_owned()),
        Just("${".to_owned()),
        Just("}".to_owned()),
        Just("{".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("`".to_owned()),
        Just(":".to_owned()),
        Just("-".to_owned()),
        Just("+".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        Just("%".to_owned()),
        Just("/".to_owned()),
        Just("*".to_owned()),
        Just("=".to_owned()),
        Just("[".to_owned()),
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        Just("\u{FEFF}".to_owned()),
        Just("@".to_owned()),
        Just("0".to_owned()),
        Just("A".to_owned()),
        Just("GLOB".to_owned()),
        Just("EMPTY".to_owned()),
        Just("한".to_owned()),
        Just("🦀".to_owned()),
        Just("é\u{301}".to_owned()),
        "\\PC{0,3}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn lexer_never_panics(
        word in prop_oneof![tricky_word(), any::<String>()],
        backtick in any::<bool>(),
        raw_quotes in any::<bool>(),
        raw_escapes in any::<bool>(),
        skip_quotes in any::<bool>(),
        skip_unset in any::<bool>(),
    ) {
        let env = [
            ("A", "a b"),
            ("EMPTY", ""),
            ("GLOB", "*x?\\[ \n한🦀"),
            ("SLASH", "/a//b/"),
            ("DOLLAR", "$0 $$ ${0}"),
        ];
        let lexer = ShellLexer::new(if backtick { '`' } else { '\\' })
            .raw_quotes(raw_quotes)
            .raw_escapes(raw_escapes)
            .skip_process_quotes(skip_quotes)
            .skip_unset_env(skip_unset);

        let single = lexer.process_word(&word, &env);
        let fields = lexer.process_words(&word, &env);
        let with_matches = lexer.process_word_with_matches(&word, &env);

        // One walk serves all three entry points, as in BuildKit.
        prop_assert_eq!(single.is_ok(), fields.is_ok());
        prop_assert_eq!(single.clone().ok(), with_matches.clone().ok().map(|e| e.value));
        if let Err(err) = &single {
            prop_assert!(err.offset() <= word.len());
            prop_assert!(word.is_char_boundary(err.offset()));
            prop_assert!(!err.to_string().is_empty());
            prop_assert_eq!(Some(err.clone()), with_matches.err());
        }
    }
}
