//! The parser never panics: arbitrary text, and text made of Dockerfile parts.

use proptest::prelude::*;

fn check(source: &str) {
    match rbuild_syntax::parse(source) {
        Ok(ast) => {
            let _ = rbuild_syntax::dump(&ast);
            for ins in &ast.instructions {
                assert!(ins.span.start <= ins.span.end && ins.span.end <= source.len());
                assert!(ins.start_line <= ins.end_line);
            }
        }
        Err(err) => {
            let span = err.span();
            assert!(span.start <= span.end && span.end <= source.len(), "{err:?}");
            let _ = err.render("Dockerfile", source, false);
        }
    }
}

/// Pieces that steer the parser into its corners.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("FROM ".to_owned()),
        Just("RUN ".to_owned()),
        Just("COPY ".to_owned()),
        Just("ENV ".to_owned()),
        Just("ONBUILD ".to_owned()),
        Just("HEALTHCHECK ".to_owned()),
        Just("# escape=`\n".to_owned()),
        Just("# syntax=x\n".to_owned()),
        Just("<<EOF".to_owned()),
        Just("<<-'E O'".to_owned()),
        Just("EOF\n".to_owned()),
        Just("\\\n".to_owned()),
        Just("`\n".to_owned()),
        Just("--flag=\"a b\" ".to_owned()),
        Just("[\"a\", 1]".to_owned()),
        Just("[\"\\ud800\"]".to_owned()),
        Just("a=b ".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("${a:-b}".to_owned()),
        Just("\r\n".to_owned()),
        Just("\n".to_owned()),
        Just("\u{feff}".to_owned()),
        Just("é ".to_owned()),
        "[ -~]{0,8}".prop_map(|s| s),
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(source in any::<String>()) {
        check(&source);
    }

    #[test]
    fn dockerfile_shaped_text_never_panics(pieces in prop::collection::vec(piece(), 0..40)) {
        check(&pieces.concat());
    }
}

#[test]
fn deep_onbuild_nesting_is_an_error_not_a_crash() {
    let source = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(5_000));
    let err = rbuild_syntax::parse(&source).unwrap_err();
    assert!(err.message().contains("ONBUILD"), "{err}");
}

#[test]
fn an_overlong_line_is_an_error() {
    let source = format!("FROM a\nRUN {}\n", "x".repeat(70_000));
    let err = rbuild_syntax::parse(&source).unwrap_err();
    assert_eq!(err.span().line, 2);
    assert!(err.message().contains("65535"), "{err}");
}

/// Inputs that would take quadratic time in a careless grammar; each is
/// parsed whole (a regression shows as a test that does not finish).
#[test]
fn long_runs_parse_in_linear_time() {
    let long = 60_000;
    let cases = [
        format!("RUN{}x\n", "\u{a0}".repeat(long / 2)),
        format!("# syntax=a{}b\nFROM a\n", " ".repeat(long)),
        format!("FROM a\nEXPOSE {}\n", "1 ".repeat(long / 2)),
        format!("FROM a\nRUN {}\n", "\\\\".repeat(long / 2)),
        format!("FROM a\nENV {}\n", "a=b ".repeat(long / 4)),
        format!("FROM a\nRUN {}\n", "<<".repeat(long / 2)),
        format!("FROM a\nCOPY {}\n", "--f ".repeat(long / 4)),
        format!("FROM a\nCMD [{}\"\"]\n", "\"\",".repeat(long / 3)),
        format!("FROM a\nRUN \\\n{}\n", " \\\n".repeat(long)),
    ];
    for source in &cases {
        check(source);
    }
}
