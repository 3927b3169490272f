//! The linter never panics and every finding points inside the text, on
//! character boundaries, whatever the input: truncated real files, and
//! random text built from the characters that matter to the shell reader.

use proptest::prelude::*;
use rbuild_lint::{FileReport, Format, Linter};

fn check(source: &str) {
    let diagnostics = Linter::new().lint(source);
    for d in &diagnostics {
        assert!(d.range.start <= d.range.end && d.range.end <= source.len(), "{d:?}");
        assert!(
            source.is_char_boundary(d.range.start) && source.is_char_boundary(d.range.end),
            "{d:?}"
        );
        assert!(d.location.line >= 1 && d.location.column >= 1, "{d:?}");
    }
    let reports = [FileReport { path: "Dockerfile".into(), source: source.into(), diagnostics }];
    for format in [Format::Human, Format::Json, Format::Sarif, Format::Checkstyle] {
        assert!(!rbuild_lint::render(&reports, format, false).is_empty());
    }
}

#[test]
fn truncated_real_world_files_lint_without_panicking() {
    let Some(root) = rbuild_test::conformance("real-world") else { return };
    let mut dirs: Vec<_> = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs.iter().filter(|d| d.join("Dockerfile").is_file()) {
        let source =
            String::from_utf8_lossy(&std::fs::read(dir.join("Dockerfile")).unwrap()).into_owned();
        let step = (source.len() / 7).max(1);
        for cut in (step..source.len()).step_by(step) {
            let mut cut = cut;
            while !source.is_char_boundary(cut) {
                cut -= 1;
            }
            check(&source[..cut]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_dockerfiles_lint_without_panicking(
        body in "[ a-z\\\\'\"`$(){}|&;<>#=\\-\n\té:/.*0-9]{0,120}",
        keyword in prop::sample::select(vec!["RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "ENV", "ARG", "FROM", "WORKDIR", "EXPOSE", "USER"]),
        json in any::<bool>(),
    ) {
        let args = if json { format!("[\"sh\", \"-c\", \"{}\"]", body.replace('"', "\\\"")) } else { body.clone() };
        check(&format!("FROM alpine:3.20 AS a\n{keyword} {args}\nRUN <<EOF\n{body}\nEOF\n"));
    }
}
